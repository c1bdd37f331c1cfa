//! The drift audit's storage port: one call that diffs, records the changes, queues the filings
//! and moves the baseline atomically (the transactional outbox), and small calls that drain the
//! outbox. Implemented by Postgres ([`super::pg_store`]) and by an embedded file store
//! ([`super::file_store`]) for local runs; both pass the same contract tests.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::diff::{Change, ChangeKind};
use super::filing::Filing;
use super::grant::{Grant, GrantKey};
use super::inventory::{FieldError, InventoryGrant, RawGrant};
use crate::drift::justification::Draft;

/// Parameters of one run's recording step.
#[derive(Debug, Clone)]
pub struct RunStart {
    pub run_id: Uuid,
    pub started_at: DateTime<Utc>,
    /// More principals than this with the same app change make one grouped filing.
    pub group_threshold: usize,
    /// Refuse a run that would mark more than this share of the baseline revoked.
    pub max_revoked_percent: u8,
    /// Refuse a run whose newest inventory row was seen longer ago than this (a stalled sync
    /// job would otherwise look like a quiet day). `None` disables the check.
    pub max_inventory_age: Option<chrono::Duration>,
}

/// How many changes of each kind a run recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeCounts {
    pub new: u64,
    pub elevated: u64,
    pub reduced: u64,
    pub revoked: u64,
    pub metadata: u64,
    pub unchanged: u64,
}

impl ChangeCounts {
    pub fn add(&mut self, kind: ChangeKind) {
        match kind {
            ChangeKind::New => self.new += 1,
            ChangeKind::Elevated => self.elevated += 1,
            ChangeKind::Reduced => self.reduced += 1,
            ChangeKind::Revoked => self.revoked += 1,
            ChangeKind::Metadata => self.metadata += 1,
        }
    }
}

/// What the recording step did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordOutcome {
    /// The baseline was empty: today's inventory became the baseline and nothing was filed.
    pub bootstrap: bool,
    pub inventory_size: u64,
    pub baseline_size_before: u64,
    pub counts: ChangeCounts,
    /// Revoked grants (the first [`MAX_LISTED_REVOKED`]; the change log has all of them).
    pub revoked: Vec<GrantKey>,
    pub filings_created: u64,
}

pub const MAX_LISTED_REVOKED: usize = 100;

/// The issue a filing became.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiledIssue {
    pub id: String,
    pub identifier: String,
    pub url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "inventory row {key} is malformed, {error}; nothing was recorded and the baseline did not move"
    )]
    MalformedRow { key: String, error: FieldError },
    #[error(
        "today's inventory is empty but the baseline holds {baseline} grants; refusing to mark them all revoked (did the sync job fail?). Nothing was recorded"
    )]
    EmptyInventory { baseline: u64 },
    #[error(
        "{revoked} of {baseline} baseline grants ({percent}%) would be marked revoked, above DRIFT_MAX_REVOKED_PERCENT={max}; is the inventory complete? Nothing was recorded"
    )]
    TooManyRevoked {
        revoked: u64,
        baseline: u64,
        percent: u64,
        max: u8,
    },
    #[error(
        "today's inventory was last refreshed at {newest}, more than {max_hours} h before this run; is the sync job running? (DRIFT_MAX_INVENTORY_AGE_HOURS) Nothing was recorded"
    )]
    StaleInventory {
        newest: DateTime<Utc>,
        max_hours: i64,
    },
    #[error("inventory is not in key order at {key} (are the table's key constraints in place?)")]
    OutOfOrder { key: String },
    #[error("no filing {0} in the store")]
    UnknownFiling(Uuid),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("embedded store {path}: {message}")]
    File { path: String, message: String },
    #[error("database error: {0}")]
    Db(#[from] tokio_postgres::Error),
}

/// Baselines smaller than this are not held to the revoked-share guard (a small tenant can
/// legitimately lose half its grants in a day).
const GUARD_MIN_BASELINE: u64 = 20;

/// The sanity checks every store applies before committing a run: a broken or stalled sync job
/// must not look like a mass revocation or a quiet day.
pub fn check_guards(
    run: &RunStart,
    outcome: &RecordOutcome,
    newest_seen: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    let (baseline, revoked) = (outcome.baseline_size_before, outcome.counts.revoked);
    if outcome.inventory_size == 0 && baseline > 0 {
        return Err(StoreError::EmptyInventory { baseline });
    }
    if let (Some(max_age), Some(newest)) = (run.max_inventory_age, newest_seen)
        && run.started_at - newest > max_age
    {
        return Err(StoreError::StaleInventory {
            newest,
            max_hours: max_age.num_hours(),
        });
    }
    let max = run.max_revoked_percent;
    if baseline >= GUARD_MIN_BASELINE && revoked * 100 > baseline * u64::from(max) {
        return Err(StoreError::TooManyRevoked {
            revoked,
            baseline,
            percent: revoked * 100 / baseline,
            max,
        });
    }
    Ok(())
}

/// The order pending filings are drained in: never tried first (so filings that keep failing
/// cannot starve new ones), then the most severe, then the oldest.
pub fn drain_order(a: &Filing, b: &Filing) -> std::cmp::Ordering {
    a.attempts
        .cmp(&b.attempts)
        .then_with(|| b.severity().cmp(&a.severity()))
        .then_with(|| a.detected_at.cmp(&b.detected_at))
        .then_with(|| a.id.cmp(&b.id))
}

/// Storage for the drift audit.
pub trait DriftStore: Send + Sync {
    /// Replace today's inventory with rows as a sync job writes them, atomically. Only the
    /// storage's own constraints apply; the audit validates rows when it reads them.
    fn write_raw_inventory(
        &self,
        rows: &[RawGrant],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Replace today's inventory with validated grants (the import path), atomically.
    fn replace_inventory(
        &self,
        grants: &[InventoryGrant],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        let rows: Vec<RawGrant> = grants.iter().map(InventoryGrant::to_raw).collect();
        async move { self.write_raw_inventory(&rows).await }
    }

    /// Diff inventory against baseline; in one transaction record the changes, queue the
    /// filings and make the inventory the new baseline. On error nothing changes.
    fn record_run(
        &self,
        run: &RunStart,
    ) -> impl Future<Output = Result<RecordOutcome, StoreError>> + Send;

    /// Pending filings, oldest first.
    fn pending_filings(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Filing>, StoreError>> + Send;

    fn pending_count(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Keep the draft so a retry files the same text without asking the model again.
    fn save_draft(
        &self,
        filing: Uuid,
        draft: &Draft,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Note, before calling the tracker, that the issue may now exist there.
    fn mark_attempt(
        &self,
        filing: Uuid,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn mark_filed(
        &self,
        filing: Uuid,
        issue: &FiledIssue,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The filing stays pending with this error, for the next run.
    fn mark_failed(
        &self,
        filing: Uuid,
        error: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn finish_run(
        &self,
        run_id: Uuid,
        report: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The baseline, in key order.
    fn baseline(&self) -> impl Future<Output = Result<Vec<Grant>, StoreError>> + Send;

    /// Every change recorded by a run, in key order (for reports and tests).
    fn run_changes(
        &self,
        run_id: Uuid,
    ) -> impl Future<Output = Result<Vec<Change>, StoreError>> + Send;
}
