//! The embedded store: the whole drift state in one JSON file, for local runs without Postgres.
//! Every operation reads the file, changes it in memory and replaces it atomically (write to a
//! temporary file, then rename), so a crash leaves either the old or the new state.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use uuid::Uuid;

use super::diff::{self, Change, ChangeKind, Snapshot};
use super::filing::{self, Filing};
use super::grant::{Grant, GrantKey, GrantState};
use super::inventory::{FieldError, RawGrant};
use super::scopes::Scopes;
use super::store::{
    DriftStore, FiledIssue, MAX_LISTED_REVOKED, RecordOutcome, RunStart, StoreError, check_guards,
    drain_order,
};
use crate::drift::justification::Draft;

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    inventory: Vec<RawGrant>,
    baseline: Vec<BaselineRow>,
    runs: Vec<RunRow>,
    changes: Vec<ChangeRow>,
    filings: Vec<FilingRow>,
}

#[derive(Debug, Serialize, Deserialize)]
struct BaselineRow {
    key: GrantKey,
    state: GrantState,
    first_seen: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize)]
struct RunRow {
    run_id: Uuid,
    started_at: DateTime<Utc>,
    bootstrap: bool,
    finished_at: Option<DateTime<Utc>>,
    report: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ChangeRow {
    run_id: Uuid,
    change: Change,
    filing_id: Option<Uuid>,
}

#[derive(Debug, Serialize, Deserialize)]
struct FilingRow {
    id: Uuid,
    run_id: Uuid,
    detected_at: DateTime<Utc>,
    #[serde(default)]
    first_seen: Option<DateTime<Utc>>,
    filed: Option<(FiledIssue, DateTime<Utc>)>,
    draft: Option<Draft>,
    attempts: i32,
    last_attempt_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

/// The drift state in a JSON file.
pub struct FileStore {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileStore {
    /// Open (or start) the store at `path`; the file is created on first write.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, message: impl ToString) -> StoreError {
        StoreError::File {
            path: self.path.display().to_string(),
            message: message.to_string(),
        }
    }

    async fn load(&self) -> Result<State, StoreError> {
        match tokio::fs::read(&self.path).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| self.err(e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(self.err(e)),
        }
    }

    async fn save(&self, state: &State) -> Result<(), StoreError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| self.err(e))?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| self.err(e))?;
        tokio::fs::write(&tmp, bytes)
            .await
            .map_err(|e| self.err(e))?;
        tokio::fs::rename(&tmp, &self.path)
            .await
            .map_err(|e| self.err(e))
    }

    /// Load, change, save; nothing is saved when `change` fails.
    async fn update<T>(
        &self,
        change: impl FnOnce(&mut State) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _guard = self.lock.lock().await;
        let mut state = self.load().await?;
        let out = change(&mut state)?;
        self.save(&state).await?;
        Ok(out)
    }

    async fn read<T>(&self, f: impl FnOnce(&State) -> T) -> Result<T, StoreError> {
        let _guard = self.lock.lock().await;
        Ok(f(&self.load().await?))
    }
}

fn filing_row(state: &mut State, id: Uuid) -> Result<&mut FilingRow, StoreError> {
    state
        .filings
        .iter_mut()
        .find(|f| f.id == id)
        .ok_or(StoreError::UnknownFiling(id))
}

fn record(state: &mut State, run: &RunStart) -> Result<RecordOutcome, StoreError> {
    let mut today = Snapshot::new();
    for raw in &state.inventory {
        let key = format!("{}/{}/{}", raw.provider, raw.client_id, raw.principal);
        let parsed = raw
            .clone()
            .parse()
            .map_err(|error| StoreError::MalformedRow {
                key: key.clone(),
                error,
            })?;
        if today.insert(parsed.grant.key, parsed.grant.state).is_some() {
            return Err(StoreError::MalformedRow {
                key,
                error: FieldError {
                    field: "principal",
                    message: "the same grant appears twice".to_owned(),
                },
            });
        }
    }
    let newest_seen = state.inventory.iter().filter_map(|r| r.last_seen).max();
    // Re-normalised on read, so a catalog update (canonical spellings) is not reported as drift.
    let mut yesterday: Snapshot = state
        .baseline
        .iter()
        .map(|b| {
            let mut s = b.state.clone();
            s.scopes = Scopes::normalise(b.key.provider, s.scopes.as_slice());
            (b.key.clone(), s)
        })
        .collect();
    let mut outcome = RecordOutcome {
        bootstrap: yesterday.is_empty(),
        inventory_size: today.len() as u64,
        baseline_size_before: yesterday.len() as u64,
        ..RecordOutcome::default()
    };
    let changes = if outcome.bootstrap {
        Vec::new()
    } else {
        diff::diff(&yesterday, &today)
    };
    for change in &changes {
        outcome.counts.add(change.kind);
        if change.kind == diff::ChangeKind::Revoked && outcome.revoked.len() < MAX_LISTED_REVOKED {
            outcome.revoked.push(change.key.clone());
        }
    }
    outcome.counts.unchanged = if outcome.bootstrap {
        0
    } else {
        (today.len() as u64)
            - outcome.counts.new
            - outcome.counts.elevated
            - outcome.counts.reduced
            - outcome.counts.metadata
    };
    check_guards(run, &outcome, newest_seen)?;

    let first_seen: std::collections::HashMap<&GrantKey, DateTime<Utc>> = state
        .baseline
        .iter()
        .map(|b| (&b.key, b.first_seen))
        .collect();
    if outcome.bootstrap {
        yesterday = today;
    } else {
        diff::apply(&mut yesterday, &changes);
    }
    let new_baseline: Vec<BaselineRow> = yesterday
        .into_iter()
        .map(|(key, state)| BaselineRow {
            first_seen: first_seen.get(&key).copied().unwrap_or(run.started_at),
            key,
            state,
        })
        .collect();

    let plan = filing::plan_for_changes(&changes, run.group_threshold);
    let mut filing_of = vec![None; changes.len()];
    for members in &plan {
        let id = Uuid::new_v4();
        for &m in members {
            filing_of[m] = Some(id);
        }
        let earliest = members
            .iter()
            .filter(|&&m| changes[m].kind == ChangeKind::Elevated)
            .filter_map(|&m| first_seen.get(&changes[m].key).copied())
            .min();
        state.filings.push(FilingRow {
            id,
            run_id: run.run_id,
            detected_at: run.started_at,
            first_seen: earliest,
            filed: None,
            draft: None,
            attempts: 0,
            last_attempt_at: None,
            last_error: None,
        });
    }
    outcome.filings_created = plan.len() as u64;
    state.baseline = new_baseline;
    state.runs.push(RunRow {
        run_id: run.run_id,
        started_at: run.started_at,
        bootstrap: outcome.bootstrap,
        finished_at: None,
        report: None,
    });
    state.changes.extend(
        changes
            .into_iter()
            .zip(filing_of)
            .map(|(change, filing_id)| ChangeRow {
                run_id: run.run_id,
                change,
                filing_id,
            }),
    );
    Ok(outcome)
}

fn to_filing(state: &State, row: &FilingRow) -> Filing {
    Filing {
        id: row.id,
        run_id: row.run_id,
        detected_at: row.detected_at,
        first_seen: row.first_seen,
        changes: state
            .changes
            .iter()
            .filter(|c| c.filing_id == Some(row.id))
            .map(|c| c.change.clone())
            .collect(),
        draft: row.draft.clone(),
        attempts: row.attempts,
        last_error: row.last_error.clone(),
    }
}

impl DriftStore for FileStore {
    async fn write_raw_inventory(&self, rows: &[RawGrant]) -> Result<u64, StoreError> {
        self.update(|state| {
            state.inventory = rows.to_vec();
            Ok(rows.len() as u64)
        })
        .await
    }

    async fn record_run(&self, run: &RunStart) -> Result<RecordOutcome, StoreError> {
        self.update(|state| record(state, run)).await
    }

    async fn pending_filings(&self, limit: usize) -> Result<Vec<Filing>, StoreError> {
        self.read(|state| {
            let mut pending: Vec<Filing> = state
                .filings
                .iter()
                .filter(|f| f.filed.is_none())
                .map(|row| to_filing(state, row))
                .collect();
            pending.sort_by(drain_order);
            pending.truncate(limit);
            pending
        })
        .await
    }

    async fn pending_count(&self) -> Result<u64, StoreError> {
        self.read(|state| state.filings.iter().filter(|f| f.filed.is_none()).count() as u64)
            .await
    }

    async fn save_draft(&self, filing: Uuid, draft: &Draft) -> Result<(), StoreError> {
        self.update(|state| {
            filing_row(state, filing)?.draft = Some(draft.clone());
            Ok(())
        })
        .await
    }

    async fn mark_attempt(&self, filing: Uuid, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.update(|state| {
            let row = filing_row(state, filing)?;
            row.attempts += 1;
            row.last_attempt_at = Some(at);
            Ok(())
        })
        .await
    }

    async fn mark_filed(
        &self,
        filing: Uuid,
        issue: &FiledIssue,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update(|state| {
            let row = filing_row(state, filing)?;
            row.filed = Some((issue.clone(), at));
            row.last_error = None;
            Ok(())
        })
        .await
    }

    async fn mark_failed(&self, filing: Uuid, error: &str) -> Result<(), StoreError> {
        self.update(|state| {
            filing_row(state, filing)?.last_error = Some(error.to_owned());
            Ok(())
        })
        .await
    }

    async fn finish_run(
        &self,
        run_id: Uuid,
        report: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update(|state| {
            if let Some(run) = state.runs.iter_mut().find(|r| r.run_id == run_id) {
                run.finished_at = Some(at);
                run.report = Some(report.clone());
            }
            Ok(())
        })
        .await
    }

    async fn baseline(&self) -> Result<Vec<Grant>, StoreError> {
        self.read(|state| {
            state
                .baseline
                .iter()
                .map(|b| Grant {
                    key: b.key.clone(),
                    state: b.state.clone(),
                })
                .collect()
        })
        .await
    }

    async fn run_changes(&self, run_id: Uuid) -> Result<Vec<Change>, StoreError> {
        self.read(|state| {
            let mut changes: Vec<Change> = state
                .changes
                .iter()
                .filter(|c| c.run_id == run_id)
                .map(|c| c.change.clone())
                .collect();
            changes.sort_by(|a, b| a.key.cmp(&b.key));
            changes
        })
        .await
    }
}
