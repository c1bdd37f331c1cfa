//! Prior grant history from the audit source, read once per run for the whole batch and
//! aggregated here, plus the review decisions already taken.

use std::collections::HashMap;

use super::event::PrivilegedGrant;
use super::risk::History;

/// Earlier grants, indexed for the lookups the features need.
#[derive(Debug, Default)]
pub struct HistoryIndex {
    by_grantee_role: HashMap<(String, String), u32>,
    by_grantee: HashMap<String, u32>,
    by_grantor: HashMap<String, u32>,
    decisions: HashMap<String, (u32, u32)>,
}

fn key(s: &str) -> String {
    s.to_lowercase()
}

impl HistoryIndex {
    /// Index earlier grants (events before the current window).
    pub fn from_grants<'a>(earlier: impl IntoIterator<Item = &'a PrivilegedGrant>) -> Self {
        let mut index = HistoryIndex::default();
        for g in earlier {
            *index
                .by_grantee_role
                .entry((key(&g.grantee), key(&g.role)))
                .or_default() += 1;
            *index.by_grantee.entry(key(&g.grantee)).or_default() += 1;
            *index.by_grantor.entry(key(&g.grantor)).or_default() += 1;
        }
        index
    }

    /// Add earlier review decisions: grantee → (approved, revoked).
    pub fn with_decisions(mut self, decisions: HashMap<String, (u32, u32)>) -> Self {
        self.decisions = decisions.into_iter().map(|(k, v)| (key(&k), v)).collect();
        self
    }

    pub fn history_for(&self, grant: &PrivilegedGrant) -> History {
        let grantee = key(&grant.grantee);
        let (approved_before, revoked_before) =
            self.decisions.get(&grantee).copied().unwrap_or_default();
        History {
            same_role_before: self
                .by_grantee_role
                .get(&(grantee.clone(), key(&grant.role)))
                .copied()
                .unwrap_or(0),
            any_role_before: self.by_grantee.get(&grantee).copied().unwrap_or(0),
            grantor_grants_before: self
                .by_grantor
                .get(&key(&grant.grantor))
                .copied()
                .unwrap_or(0),
            approved_before,
            revoked_before,
        }
    }
}

/// Grants per grantor within one batch (for burst detection).
pub fn grants_per_grantor(batch: &[PrivilegedGrant]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for g in batch {
        *counts.entry(key(&g.grantor)).or_default() += 1;
    }
    counts
}

pub fn grantor_count(counts: &HashMap<String, usize>, grant: &PrivilegedGrant) -> usize {
    counts.get(&key(&grant.grantor)).copied().unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn g(grantor: &str, grantee: &str, role: &str) -> PrivilegedGrant {
        PrivilegedGrant {
            event_id: format!("{grantor}-{grantee}-{role}"),
            time: Utc::now(),
            grantor: grantor.into(),
            grantee: grantee.into(),
            role: role.into(),
            target: "t".into(),
            source: "s".into(),
        }
    }

    #[test]
    fn history_counts_by_grantee_role_and_grantor_ignoring_case() {
        let earlier = [
            g("a@x", "b@x", "Admin"),
            g("A@x", "B@x", "admin"),
            g("c@x", "b@x", "Owner"),
        ];
        let index = HistoryIndex::from_grants(&earlier)
            .with_decisions(HashMap::from([("b@x".to_owned(), (1, 2))]));
        let h = index.history_for(&g("a@x", "b@x", "ADMIN"));
        assert_eq!(
            (
                h.same_role_before,
                h.any_role_before,
                h.grantor_grants_before,
                h.approved_before,
                h.revoked_before
            ),
            (2, 3, 2, 1, 2)
        );
        let fresh = index.history_for(&g("z@x", "new@x", "Admin"));
        assert_eq!(
            (fresh.same_role_before, fresh.grantor_grants_before),
            (0, 0)
        );
    }
}
