//! Filings: the unit of work in the outbox. One filing becomes one Linear issue; it holds one
//! flagged change, or (noise control) the same app change across many principals.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::catalog::Severity;
use super::diff::{Change, ChangeKind};
use super::grant::Provider;
use crate::drift::justification::Draft;

/// A pending or filed Linear issue and the changes it reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filing {
    /// Chosen by us and stored before the tracker is called; becomes the Linear issue id, so a
    /// retry finds the issue instead of creating a second one.
    pub id: Uuid,
    pub run_id: Uuid,
    pub detected_at: DateTime<Utc>,
    /// When the grant first appeared, from the baseline as it was when the change was recorded:
    /// for elevated grants the earliest `first_seen` among them; `None` for new grants (first
    /// seen when detected) and for filings recorded before this was kept.
    #[serde(default)]
    pub first_seen: Option<DateTime<Utc>>,
    /// Never empty; all share provider, client id, kind and the scopes gained.
    pub changes: Vec<Change>,
    pub draft: Option<Draft>,
    pub attempts: i32,
    pub last_error: Option<String>,
}

impl Filing {
    pub fn first(&self) -> &Change {
        &self.changes[0]
    }

    pub fn is_group(&self) -> bool {
        self.changes.len() > 1
    }

    pub fn severity(&self) -> Severity {
        self.changes
            .iter()
            .map(Change::severity)
            .max()
            .unwrap_or(Severity::Low)
    }

    pub fn kind(&self) -> ChangeKind {
        self.first().kind
    }
}

/// What makes two changes "the same app change": provider, app, kind, scopes gained and
/// whether consent widened. Principals differ.
pub fn group_signature(change: &Change) -> String {
    let gained = change.gained_scopes().join(" ");
    format!(
        "{}|{}|{}|{}|{}",
        change.key.provider,
        change.key.client_id,
        change.kind,
        u8::from(change.consent_widened()),
        gained
    )
}

/// Split flagged changes into filings. A signature shared by more than `group_threshold`
/// changes becomes one filing; every other change is filed alone. Input order is kept inside
/// each filing, and filings come out in order of their first change.
pub fn plan_filings<'a>(
    flagged: impl IntoIterator<Item = (Provider, &'a str, ChangeKind, String)>,
    group_threshold: usize,
) -> Vec<Vec<usize>> {
    let mut by_signature: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut order = Vec::new();
    for (index, (_, _, kind, signature)) in flagged.into_iter().enumerate() {
        debug_assert!(kind.is_flagged());
        let members = by_signature.entry(signature.clone()).or_default();
        if members.is_empty() {
            order.push(signature);
        }
        members.push(index);
    }
    let mut plan = Vec::new();
    for signature in order {
        let members = by_signature.remove(&signature).unwrap_or_default();
        if members.len() > group_threshold {
            plan.push(members);
        } else {
            plan.extend(members.into_iter().map(|m| vec![m]));
        }
    }
    plan.sort_by_key(|members| members[0]);
    plan
}

/// Plan filings for full changes (the in-memory path); indices refer to `changes`.
pub fn plan_for_changes(changes: &[Change], group_threshold: usize) -> Vec<Vec<usize>> {
    let flagged: Vec<usize> = (0..changes.len())
        .filter(|&i| changes[i].kind.is_flagged())
        .collect();
    plan_filings(
        flagged.iter().map(|&i| {
            let c = &changes[i];
            (
                c.key.provider,
                c.key.client_id.as_str(),
                c.kind,
                group_signature(c),
            )
        }),
        group_threshold,
    )
    .into_iter()
    .map(|members| members.into_iter().map(|m| flagged[m]).collect())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::grant::{ConsentType, GrantKey, GrantState};
    use crate::drift::scopes::Scopes;

    fn new_grant(client: &str, principal: &str, scopes: &[&str]) -> Change {
        Change {
            key: GrantKey {
                provider: Provider::Google,
                client_id: client.into(),
                principal: principal.into(),
            },
            kind: ChangeKind::New,
            before: None,
            after: Some(GrantState {
                app_name: client.into(),
                scopes: Scopes::normalise(Provider::Google, scopes),
                consent: ConsentType::User,
                publisher: None,
                verified: None,
            }),
        }
    }

    #[test]
    fn an_app_hitting_many_principals_becomes_one_filing() {
        let mut changes: Vec<Change> = (0..5)
            .map(|i| new_grant("app-a", &format!("u{i}@x.com"), &["openid"]))
            .collect();
        changes.push(new_grant("app-b", "solo@x.com", &["openid"]));
        let plan = plan_for_changes(&changes, 3);
        assert_eq!(plan, vec![vec![0, 1, 2, 3, 4], vec![5]]);
    }

    #[test]
    fn below_the_threshold_every_change_is_filed_alone() {
        let changes: Vec<Change> = (0..3)
            .map(|i| new_grant("app-a", &format!("u{i}@x.com"), &["openid"]))
            .collect();
        assert_eq!(
            plan_for_changes(&changes, 3),
            vec![vec![0], vec![1], vec![2]]
        );
    }

    #[test]
    fn different_scope_sets_are_not_grouped_together() {
        let changes = vec![
            new_grant("app-a", "a@x.com", &["openid"]),
            new_grant("app-a", "b@x.com", &["https://mail.google.com/"]),
        ];
        assert_eq!(plan_for_changes(&changes, 1).len(), 2);
    }
}
