//! The snapshot diff: yesterday's baseline against today's inventory, per grant key.
//!
//! Classes (they partition the union of keys):
//! - **new**: only today has the key;
//! - **elevated**: any scope gained, or consent widened from one user to admin/org-wide;
//! - **reduced**: scopes only removed, or consent narrowed (recorded, not filed);
//! - **revoked**: only yesterday has the key (recorded, not filed);
//! - **unchanged**: same scopes and consent. An unchanged grant whose app name, publisher or
//!   verified flag changed yields a `metadata` change so the baseline stays exact (recorded,
//!   not filed).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::catalog::{self, Severity};
use super::grant::{ConsentType, Grant, GrantKey, GrantState};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    New,
    Elevated,
    Reduced,
    Revoked,
    Metadata,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 5] = [
        ChangeKind::New,
        ChangeKind::Elevated,
        ChangeKind::Reduced,
        ChangeKind::Revoked,
        ChangeKind::Metadata,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::New => "new",
            ChangeKind::Elevated => "elevated",
            ChangeKind::Reduced => "reduced",
            ChangeKind::Revoked => "revoked",
            ChangeKind::Metadata => "metadata",
        }
    }

    pub fn parse(s: &str) -> Option<ChangeKind> {
        ChangeKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// New and elevated grants are filed as Linear issues; the rest are only recorded.
    pub fn is_flagged(self) -> bool {
        matches!(self, ChangeKind::New | ChangeKind::Elevated)
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One grant's change between two snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub key: GrantKey,
    pub kind: ChangeKind,
    pub before: Option<GrantState>,
    pub after: Option<GrantState>,
}

impl Change {
    /// Scopes the grant has today that it did not have yesterday.
    pub fn gained_scopes(&self) -> Vec<&str> {
        match (&self.before, &self.after) {
            (Some(b), Some(a)) => a.scopes.gained_since(&b.scopes),
            (None, Some(a)) => a.scopes.as_slice().iter().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Scopes the grant had yesterday that it no longer has.
    pub fn lost_scopes(&self) -> Vec<&str> {
        match (&self.before, &self.after) {
            (Some(b), Some(a)) => a.scopes.lost_since(&b.scopes),
            (Some(b), None) => b.scopes.as_slice().iter().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }

    pub fn consent_widened(&self) -> bool {
        matches!(
            (&self.before, &self.after),
            (Some(b), Some(a)) if b.consent == ConsentType::User && a.consent == ConsentType::Admin
        )
    }

    /// The state that describes the grant now (today's, or yesterday's for a revoked grant).
    pub fn current(&self) -> &GrantState {
        self.after
            .as_ref()
            .or(self.before.as_ref())
            .expect("a change has a state on at least one side")
    }

    /// How much this change matters; sets the Linear priority.
    ///
    /// New: the riskiest scope held. Elevated: the riskiest scope gained (every scope held when
    /// consent widened to the organisation). Admin/org-wide consent is at least high. An app
    /// whose publisher is known to be unverified goes one level up. Changes that are only
    /// recorded (reduced, revoked, metadata) are low.
    pub fn severity(&self) -> Severity {
        let provider = self.key.provider;
        let current = self.current();
        let riskiest = |scopes: &mut dyn Iterator<Item = &str>| {
            scopes
                .map(|s| catalog::scope_risk(provider, s))
                .max()
                .unwrap_or(Severity::Low)
        };
        let mut severity = match self.kind {
            ChangeKind::New => {
                let mut s = riskiest(&mut current.scopes.as_slice().iter().map(String::as_str));
                if current.consent == ConsentType::Admin {
                    s = s.max(Severity::High);
                }
                s
            }
            ChangeKind::Elevated if self.consent_widened() => {
                riskiest(&mut current.scopes.as_slice().iter().map(String::as_str))
                    .max(Severity::High)
            }
            ChangeKind::Elevated => riskiest(&mut self.gained_scopes().into_iter()),
            ChangeKind::Reduced | ChangeKind::Revoked | ChangeKind::Metadata => {
                return Severity::Low;
            }
        };
        if current.verified == Some(false) {
            severity = bump(severity);
        }
        severity
    }
}

fn bump(s: Severity) -> Severity {
    match s {
        Severity::Low => Severity::Medium,
        Severity::Medium => Severity::High,
        Severity::High | Severity::Critical => Severity::Critical,
    }
}

/// Classify one key given its state on each side; `None` means unchanged.
pub fn classify(
    key: &GrantKey,
    before: Option<&GrantState>,
    after: Option<&GrantState>,
) -> Option<Change> {
    let kind = match (before, after) {
        (None, None) => return None,
        (None, Some(_)) => ChangeKind::New,
        (Some(_), None) => ChangeKind::Revoked,
        (Some(b), Some(a)) => {
            let gained = a.scopes.as_slice().iter().any(|s| !b.scopes.contains(s));
            let lost = b.scopes.as_slice().iter().any(|s| !a.scopes.contains(s));
            if gained || a.consent > b.consent {
                ChangeKind::Elevated
            } else if lost || a.consent < b.consent {
                ChangeKind::Reduced
            } else if a != b {
                ChangeKind::Metadata
            } else {
                return None;
            }
        }
    };
    Some(Change {
        key: key.clone(),
        kind,
        before: before.cloned(),
        after: after.cloned(),
    })
}

/// Which side(s) a merge step consumes, given the heads of two key-ordered streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeStep {
    /// Only the baseline has this key.
    BaselineOnly,
    /// Only today's inventory has this key.
    TodayOnly,
    /// Both sides have this key.
    Both,
    Done,
}

/// The step a streaming merge-join takes next. Both streams must be ordered by [`GrantKey`].
pub fn merge_step(baseline: Option<&GrantKey>, today: Option<&GrantKey>) -> MergeStep {
    match (baseline, today) {
        (None, None) => MergeStep::Done,
        (Some(_), None) => MergeStep::BaselineOnly,
        (None, Some(_)) => MergeStep::TodayOnly,
        (Some(b), Some(t)) => match b.cmp(t) {
            Ordering::Less => MergeStep::BaselineOnly,
            Ordering::Greater => MergeStep::TodayOnly,
            Ordering::Equal => MergeStep::Both,
        },
    }
}

/// An in-memory snapshot, ordered by key.
pub type Snapshot = BTreeMap<GrantKey, GrantState>;

/// The changes from `yesterday` to `today`, in key order.
pub fn diff(yesterday: &Snapshot, today: &Snapshot) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut b = yesterday.iter().peekable();
    let mut t = today.iter().peekable();
    loop {
        let step = merge_step(b.peek().map(|(k, _)| *k), t.peek().map(|(k, _)| *k));
        let change = match step {
            MergeStep::Done => break,
            MergeStep::BaselineOnly => {
                let (k, s) = b.next().expect("peeked");
                classify(k, Some(s), None)
            }
            MergeStep::TodayOnly => {
                let (k, s) = t.next().expect("peeked");
                classify(k, None, Some(s))
            }
            MergeStep::Both => {
                let (k, before) = b.next().expect("peeked");
                let (_, after) = t.next().expect("peeked");
                classify(k, Some(before), Some(after))
            }
        };
        changes.extend(change);
    }
    changes
}

/// Apply changes to a baseline: the result is the snapshot the changes were computed against.
pub fn apply(baseline: &mut Snapshot, changes: &[Change]) {
    for change in changes {
        match &change.after {
            Some(state) => {
                baseline.insert(change.key.clone(), state.clone());
            }
            None => {
                baseline.remove(&change.key);
            }
        }
    }
}

/// Build a snapshot from grants; a later duplicate key replaces an earlier one.
pub fn snapshot(grants: impl IntoIterator<Item = Grant>) -> Snapshot {
    grants.into_iter().map(|g| (g.key, g.state)).collect()
}
