//! The Postgres drift store. The daily pass streams inventory and baseline side by side in key
//! order (two cursors in one repeatable-read transaction), so memory stays flat however large
//! the inventory; it writes only the changes (binary COPY) and applies only those to the
//! baseline, in the same transaction that queues the filings.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use futures_util::pin_mut;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, IsolationLevel, Portal, Row, Transaction};
use uuid::Uuid;

use super::catalog::Severity;
use super::diff::{self, Change, ChangeKind, MergeStep};
use super::filing::{self, Filing};
use super::grant::{ConsentType, Grant, GrantKey, GrantState, Provider};
use super::inventory::{FieldError, RawGrant};
use super::scopes::Scopes;
use super::store::{
    ChangeCounts, DriftStore, FiledIssue, MAX_LISTED_REVOKED, RecordOutcome, RunStart, StoreError,
    check_guards,
};
use crate::db::Database;
use crate::drift::justification::Draft;

/// Rows fetched per cursor round trip.
const FETCH_ROWS: i32 = 5_000;
/// Changes buffered before a COPY.
const COPY_BATCH: usize = 5_000;
/// An arbitrary, fixed key: one drift run records at a time.
const DRIFT_LOCK_KEY: i64 = 0x5EC0_9500_0002;

/// Drift storage in Postgres, on the runtime's one database handle.
pub struct PgStore {
    client: Database,
}

impl PgStore {
    pub fn new(db: &Database) -> Self {
        Self { client: db.clone() }
    }
}

/// A cursor over a bound portal, fetched in chunks.
struct Cursor<'a> {
    tx: &'a Transaction<'a>,
    portal: Portal,
    buffer: VecDeque<Row>,
    exhausted: bool,
}

impl<'a> Cursor<'a> {
    async fn open(tx: &'a Transaction<'a>, sql: &str) -> Result<Cursor<'a>, StoreError> {
        let statement = tx.prepare(sql).await?;
        let portal = tx.bind(&statement, &[]).await?;
        Ok(Cursor {
            tx,
            portal,
            buffer: VecDeque::new(),
            exhausted: false,
        })
    }

    async fn next(&mut self) -> Result<Option<Row>, StoreError> {
        if self.buffer.is_empty() && !self.exhausted {
            let rows = self.tx.query_portal(&self.portal, FETCH_ROWS).await?;
            self.exhausted = rows.len() < FETCH_ROWS as usize;
            self.buffer.extend(rows);
        }
        Ok(self.buffer.pop_front())
    }
}

const INVENTORY_SQL: &str = "SELECT provider, client_id, principal, app_name, scopes, consent_type, \
     publisher, verified, last_seen FROM oauth_grant_inventory ORDER BY provider, client_id, principal";
const BASELINE_SQL: &str = "SELECT provider, client_id, principal, app_name, scopes, consent_type, \
     publisher, verified FROM oauth_grant_baseline ORDER BY provider, client_id, principal";

fn inventory_grant(row: &Row) -> Result<Grant, StoreError> {
    let (provider, client_id, principal): (String, String, String) =
        (row.get(0), row.get(1), row.get(2));
    let key = format!("{provider}/{client_id}/{principal}");
    // The table's constraints may predate a contract change (a NULL scope element, say): read
    // the column as it may be and refuse the row by name, never panic on it.
    let scopes: Vec<Option<String>> = row.try_get(4).map_err(|e| StoreError::MalformedRow {
        key: key.clone(),
        error: FieldError {
            field: "scopes",
            message: format!("cannot be read ({e})"),
        },
    })?;
    let scopes = scopes
        .into_iter()
        .collect::<Option<Vec<String>>>()
        .ok_or_else(|| StoreError::MalformedRow {
            key: key.clone(),
            error: FieldError {
                field: "scopes",
                message: "holds a NULL element".to_owned(),
            },
        })?;
    let raw = RawGrant {
        provider,
        client_id,
        principal,
        app_name: row.get(3),
        scopes,
        consent_type: row.get(5),
        publisher: row.get(6),
        verified: row.get(7),
        last_seen: row.get(8),
    };
    let (client_id, principal) = (raw.client_id.clone(), raw.principal.clone());
    let grant = raw
        .parse()
        .map(|g| g.grant)
        .map_err(|error| StoreError::MalformedRow {
            key: key.clone(),
            error,
        })?;
    // The merge relies on rows arriving in the order of their parsed keys, so a stored key must
    // already be in the form parsing gives it.
    for (field, stored, canonical) in [
        ("client_id", &client_id, &grant.key.client_id),
        ("principal", &principal, &grant.key.principal),
    ] {
        if stored != canonical {
            return Err(StoreError::MalformedRow {
                key,
                error: FieldError {
                    field,
                    message: format!("is not in canonical form (store it as {canonical:?})"),
                },
            });
        }
    }
    Ok(grant)
}

fn baseline_grant(row: &Row) -> Result<Grant, StoreError> {
    let provider: &str = row.get(0);
    let consent: &str = row.get(5);
    let corrupt = |what: String| StoreError::Corrupt(format!("baseline: {what}"));
    let provider = provider.parse::<Provider>().map_err(corrupt)?;
    Ok(Grant {
        key: GrantKey {
            provider,
            client_id: row.get(1),
            principal: row.get(2),
        },
        state: GrantState {
            app_name: row.get(3),
            // Re-normalised, so a catalog update (canonical spellings) is not reported as drift.
            scopes: Scopes::normalise(provider, row.get::<_, Vec<String>>(4)),
            consent: consent.parse::<ConsentType>().map_err(corrupt)?,
            publisher: row.get(6),
            verified: row.get(7),
        },
    })
}

/// Reads one side of the merge, checking that keys strictly increase.
struct Side<'a> {
    cursor: Cursor<'a>,
    parse: fn(&Row) -> Result<Grant, StoreError>,
    head: Option<Grant>,
}

impl<'a> Side<'a> {
    async fn open(
        tx: &'a Transaction<'a>,
        sql: &str,
        parse: fn(&Row) -> Result<Grant, StoreError>,
    ) -> Result<Side<'a>, StoreError> {
        let mut side = Side {
            cursor: Cursor::open(tx, sql).await?,
            parse,
            head: None,
        };
        side.head = side.fetch().await?;
        Ok(side)
    }

    async fn fetch(&mut self) -> Result<Option<Grant>, StoreError> {
        match self.cursor.next().await? {
            Some(row) => (self.parse)(&row).map(Some),
            None => Ok(None),
        }
    }

    /// Take the head and read the next one.
    async fn advance(&mut self) -> Result<Grant, StoreError> {
        let next = self.fetch().await?;
        if let (Some(n), Some(h)) = (&next, &self.head)
            && n.key <= h.key
        {
            return Err(StoreError::OutOfOrder {
                key: n.key.to_string(),
            });
        }
        Ok(std::mem::replace(&mut self.head, next).expect("advance is only called with a head"))
    }
}

const CHANGE_COLUMNS: &[Type] = &[
    Type::UUID,
    Type::TIMESTAMPTZ,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::JSONB,
    Type::JSONB,
];

/// Buffers changes and writes them with binary COPY.
struct ChangeWriter {
    run_id: Uuid,
    detected_at: DateTime<Utc>,
    buffer: Vec<Change>,
}

impl ChangeWriter {
    async fn push(&mut self, tx: &Transaction<'_>, change: Change) -> Result<(), StoreError> {
        self.buffer.push(change);
        if self.buffer.len() >= COPY_BATCH {
            self.flush(tx).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let sink = tx
            .copy_in(
                "COPY oauth_grant_changes (run_id, detected_at, provider, client_id, principal, \
                 kind, severity, group_signature, before, after) FROM STDIN BINARY",
            )
            .await?;
        let writer = BinaryCopyInWriter::new(sink, CHANGE_COLUMNS);
        pin_mut!(writer);
        for change in self.buffer.drain(..) {
            let signature = change
                .kind
                .is_flagged()
                .then(|| filing::group_signature(&change));
            let before = state_json(change.before.as_ref())?;
            let after = state_json(change.after.as_ref())?;
            let row: [&(dyn ToSql + Sync); 10] = [
                &self.run_id,
                &self.detected_at,
                &change.key.provider.as_str(),
                &change.key.client_id,
                &change.key.principal,
                &change.kind.as_str(),
                &change.severity().as_str(),
                &signature,
                &before,
                &after,
            ];
            writer.as_mut().write(&row).await?;
        }
        writer.finish().await?;
        Ok(())
    }
}

fn state_json(state: Option<&GrantState>) -> Result<Option<serde_json::Value>, StoreError> {
    state
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

const BASELINE_COLUMNS: &[Type] = &[
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT_ARRAY,
    Type::TEXT,
    Type::TEXT,
    Type::BOOL,
    Type::TIMESTAMPTZ,
    Type::TIMESTAMPTZ,
];

/// First run: the validated inventory becomes the baseline; nothing is recorded as a change.
async fn bootstrap(
    tx: &Transaction<'_>,
    run: &RunStart,
    outcome: &mut RecordOutcome,
) -> Result<(), StoreError> {
    let mut inventory = Side::open(tx, INVENTORY_SQL, inventory_grant).await?;
    let mut batch: Vec<Grant> = Vec::with_capacity(COPY_BATCH);
    while inventory.head.is_some() {
        batch.push(inventory.advance().await?);
        outcome.inventory_size += 1;
        if batch.len() >= COPY_BATCH {
            copy_baseline(tx, &batch, run.started_at).await?;
            batch.clear();
        }
    }
    copy_baseline(tx, &batch, run.started_at).await
}

async fn copy_baseline(
    tx: &Transaction<'_>,
    grants: &[Grant],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    if grants.is_empty() {
        return Ok(());
    }
    let sink = tx
        .copy_in(
            "COPY oauth_grant_baseline (provider, client_id, principal, app_name, scopes, \
             consent_type, publisher, verified, first_seen, updated_at) FROM STDIN BINARY",
        )
        .await?;
    let writer = BinaryCopyInWriter::new(sink, BASELINE_COLUMNS);
    pin_mut!(writer);
    for g in grants {
        let row: [&(dyn ToSql + Sync); 10] = [
            &g.key.provider.as_str(),
            &g.key.client_id,
            &g.key.principal,
            &g.state.app_name,
            &g.state.scopes.as_slice(),
            &g.state.consent.as_str(),
            &g.state.publisher,
            &g.state.verified,
            &at,
            &at,
        ];
        writer.as_mut().write(&row).await?;
    }
    writer.finish().await?;
    Ok(())
}

/// The daily pass: merge both sides, write the changes, count, list the revoked.
async fn merge(
    tx: &Transaction<'_>,
    run: &RunStart,
    outcome: &mut RecordOutcome,
) -> Result<(), StoreError> {
    let mut baseline = Side::open(tx, BASELINE_SQL, baseline_grant).await?;
    let mut inventory = Side::open(tx, INVENTORY_SQL, inventory_grant).await?;
    let mut writer = ChangeWriter {
        run_id: run.run_id,
        detected_at: run.started_at,
        buffer: Vec::with_capacity(COPY_BATCH),
    };
    let counts: &mut ChangeCounts = &mut outcome.counts;
    loop {
        let step = diff::merge_step(
            baseline.head.as_ref().map(|g| &g.key),
            inventory.head.as_ref().map(|g| &g.key),
        );
        let change = match step {
            MergeStep::Done => break,
            MergeStep::BaselineOnly => {
                let before = baseline.advance().await?;
                diff::classify(&before.key, Some(&before.state), None)
            }
            MergeStep::TodayOnly => {
                let after = inventory.advance().await?;
                outcome.inventory_size += 1;
                diff::classify(&after.key, None, Some(&after.state))
            }
            MergeStep::Both => {
                let before = baseline.advance().await?;
                let after = inventory.advance().await?;
                outcome.inventory_size += 1;
                diff::classify(&after.key, Some(&before.state), Some(&after.state))
            }
        };
        match change {
            None => counts.unchanged += 1,
            Some(change) => {
                counts.add(change.kind);
                if change.kind == ChangeKind::Revoked && outcome.revoked.len() < MAX_LISTED_REVOKED
                {
                    outcome.revoked.push(change.key.clone());
                }
                writer.push(tx, change).await?;
            }
        }
    }
    writer.flush(tx).await
}

/// Apply this run's recorded changes to the baseline.
async fn apply_changes(tx: &Transaction<'_>, run: &RunStart) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM oauth_grant_baseline b USING oauth_grant_changes c
          WHERE c.run_id = $1 AND c.kind = 'revoked'
            AND b.provider = c.provider AND b.client_id = c.client_id AND b.principal = c.principal",
        &[&run.run_id],
    )
    .await?;
    tx.execute(
        "INSERT INTO oauth_grant_baseline AS b (provider, client_id, principal, app_name, scopes,
                consent_type, publisher, verified, first_seen, updated_at)
         SELECT c.provider, c.client_id, c.principal, c.after->>'app_name',
                ARRAY(SELECT s FROM jsonb_array_elements_text(c.after->'scopes') WITH ORDINALITY AS e(s, n) ORDER BY n),
                c.after->>'consent', c.after->>'publisher', (c.after->>'verified')::boolean, $2, $2
           FROM oauth_grant_changes c
          WHERE c.run_id = $1 AND c.kind <> 'revoked'
         ON CONFLICT (provider, client_id, principal) DO UPDATE
            SET app_name = EXCLUDED.app_name, scopes = EXCLUDED.scopes,
                consent_type = EXCLUDED.consent_type, publisher = EXCLUDED.publisher,
                verified = EXCLUDED.verified, updated_at = EXCLUDED.updated_at",
        &[&run.run_id, &run.started_at],
    )
    .await?;
    Ok(())
}

/// Group this run's flagged changes into filings (noise control) and queue them.
async fn queue_filings(tx: &Transaction<'_>, run: &RunStart) -> Result<u64, StoreError> {
    let rows = tx
        .query(
            "SELECT change_id, provider, client_id, kind, group_signature, severity
               FROM oauth_grant_changes
              WHERE run_id = $1 AND kind IN ('new', 'elevated')
              ORDER BY change_id",
            &[&run.run_id],
        )
        .await?;
    let parse_err = |what: &str| StoreError::Corrupt(format!("change log: bad {what}"));
    let mut flagged = Vec::with_capacity(rows.len());
    for row in &rows {
        let provider: &str = row.get(1);
        let kind: &str = row.get(3);
        flagged.push((
            provider
                .parse::<Provider>()
                .map_err(|_| parse_err("provider"))?,
            row.get::<_, &str>(2),
            ChangeKind::parse(kind).ok_or_else(|| parse_err("kind"))?,
            row.get::<_, Option<String>>(4).unwrap_or_default(),
        ));
    }
    let plan = filing::plan_filings(flagged, run.group_threshold);
    let mut filing_ids = Vec::with_capacity(plan.len());
    let mut severities = Vec::with_capacity(plan.len());
    let mut change_ids: Vec<i64> = Vec::with_capacity(rows.len());
    let mut change_filings = Vec::with_capacity(rows.len());
    for members in &plan {
        let id = Uuid::new_v4();
        let mut severity = Severity::Low;
        for &m in members {
            let s: &str = rows[m].get(5);
            severity = severity.max(Severity::parse(s).ok_or_else(|| parse_err("severity"))?);
            change_ids.push(rows[m].get(0));
            change_filings.push(id);
        }
        filing_ids.push(id);
        severities.push(severity.as_str());
    }
    tx.execute(
        "INSERT INTO oauth_grant_filings (filing_id, run_id, detected_at, severity)
         SELECT f, $2, $3, s FROM unnest($1::uuid[], $4::text[]) AS u(f, s)",
        &[&filing_ids, &run.run_id, &run.started_at, &severities],
    )
    .await?;
    tx.execute(
        "UPDATE oauth_grant_changes c SET filing_id = u.f
           FROM unnest($1::bigint[], $2::uuid[]) AS u(id, f)
          WHERE c.change_id = u.id",
        &[&change_ids, &change_filings],
    )
    .await?;
    // The baseline keeps `first_seen` when a grant is elevated (the upsert leaves it alone), so
    // it can be read after `apply_changes`; kept with the filing because the baseline moves on.
    tx.execute(
        "UPDATE oauth_grant_filings f SET first_seen = s.first_seen
           FROM (SELECT c.filing_id, min(b.first_seen) AS first_seen
                   FROM oauth_grant_changes c
                   JOIN oauth_grant_baseline b
                     ON b.provider = c.provider AND b.client_id = c.client_id
                    AND b.principal = c.principal
                  WHERE c.run_id = $1 AND c.kind = 'elevated' AND c.filing_id IS NOT NULL
                  GROUP BY c.filing_id) s
          WHERE f.filing_id = s.filing_id",
        &[&run.run_id],
    )
    .await?;
    Ok(plan.len() as u64)
}

fn change_from_row(row: &Row, offset: usize) -> Result<Change, StoreError> {
    let provider: &str = row.get(offset);
    let kind: &str = row.get(offset + 3);
    let state = |i: usize| -> Result<Option<GrantState>, StoreError> {
        row.get::<_, Option<serde_json::Value>>(i)
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("change log state: {e}")))
    };
    Ok(Change {
        key: GrantKey {
            provider: provider
                .parse()
                .map_err(|e: String| StoreError::Corrupt(e))?,
            client_id: row.get(offset + 1),
            principal: row.get(offset + 2),
        },
        kind: ChangeKind::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("change kind {kind:?}")))?,
        before: state(offset + 4)?,
        after: state(offset + 5)?,
    })
}

impl DriftStore for PgStore {
    async fn write_raw_inventory(&self, rows: &[RawGrant]) -> Result<u64, StoreError> {
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        tx.execute("DELETE FROM oauth_grant_inventory", &[]).await?;
        let sink = tx
            .copy_in(
                "COPY oauth_grant_inventory (provider, client_id, principal, app_name, scopes, \
                 consent_type, publisher, verified, last_seen) FROM STDIN BINARY",
            )
            .await?;
        let types = &[
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT_ARRAY,
            Type::TEXT,
            Type::TEXT,
            Type::BOOL,
            Type::TIMESTAMPTZ,
        ];
        let writer = BinaryCopyInWriter::new(sink, types);
        pin_mut!(writer);
        let now = Utc::now();
        for r in rows {
            let last_seen = r.last_seen.unwrap_or(now);
            let row: [&(dyn ToSql + Sync); 9] = [
                &r.provider,
                &r.client_id,
                &r.principal,
                &r.app_name,
                &r.scopes,
                &r.consent_type,
                &r.publisher,
                &r.verified,
                &last_seen,
            ];
            writer.as_mut().write(&row).await?;
        }
        let written = writer.finish().await?;
        tx.commit().await?;
        Ok(written)
    }

    #[tracing::instrument(skip_all, fields(run_id = %run.run_id))]
    async fn record_run(&self, run: &RunStart) -> Result<RecordOutcome, StoreError> {
        let mut client = self.client.lock().await;
        // A session lock taken before the transaction starts, so a run that waited for another
        // sees that run's baseline in its snapshot.
        client
            .execute("SELECT pg_advisory_lock($1)", &[&DRIFT_LOCK_KEY])
            .await?;
        let result = record_in_transaction(&mut client, run).await;
        let unlock = client
            .execute("SELECT pg_advisory_unlock($1)", &[&DRIFT_LOCK_KEY])
            .await;
        let outcome = result?;
        unlock?;
        Ok(outcome)
    }

    async fn pending_filings(&self, limit: usize) -> Result<Vec<Filing>, StoreError> {
        let client = self.client.lock().await;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .query(
                "SELECT filing_id, run_id, detected_at, draft, attempts, last_error, first_seen
                   FROM oauth_grant_filings WHERE status = 'pending'
                  -- the same order as store::drain_order
                  ORDER BY attempts,
                           CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1
                                         WHEN 'medium' THEN 2 ELSE 3 END,
                           detected_at, filing_id
                  LIMIT $1",
                &[&limit],
            )
            .await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.get(0)).collect();
        let change_rows = client
            .query(
                "SELECT filing_id, provider, client_id, principal, kind, before, after
                   FROM oauth_grant_changes WHERE filing_id = ANY($1) ORDER BY change_id",
                &[&ids],
            )
            .await?;
        let mut filings = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: Uuid = row.get(0);
            let changes = change_rows
                .iter()
                .filter(|c| c.get::<_, Uuid>(0) == id)
                .map(|c| change_from_row(c, 1))
                .collect::<Result<Vec<_>, _>>()?;
            if changes.is_empty() {
                return Err(StoreError::Corrupt(format!("filing {id} has no changes")));
            }
            let draft = row
                .get::<_, Option<serde_json::Value>>(3)
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("filing {id} draft: {e}")))?;
            filings.push(Filing {
                id,
                run_id: row.get(1),
                detected_at: row.get(2),
                first_seen: row.get(6),
                changes,
                draft,
                attempts: row.get(4),
                last_error: row.get(5),
            });
        }
        Ok(filings)
    }

    async fn pending_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .client
            .query_one(
                "SELECT count(*) FROM oauth_grant_filings WHERE status = 'pending'",
                &[],
            )
            .await?
            .get(0);
        Ok(n as u64)
    }

    async fn save_draft(&self, filing: Uuid, draft: &Draft) -> Result<(), StoreError> {
        let value = serde_json::to_value(draft).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let n = self
            .client
            .execute(
                "UPDATE oauth_grant_filings SET draft = $2, prompt_hash = $3 WHERE filing_id = $1",
                &[&filing, &value, &draft.prompt_hash],
            )
            .await?;
        found(n, filing)
    }

    async fn mark_attempt(&self, filing: Uuid, at: DateTime<Utc>) -> Result<(), StoreError> {
        let n = self
            .client
            .execute(
                "UPDATE oauth_grant_filings SET attempts = attempts + 1, last_attempt_at = $2
                  WHERE filing_id = $1",
                &[&filing, &at],
            )
            .await?;
        found(n, filing)
    }

    async fn mark_filed(
        &self,
        filing: Uuid,
        issue: &FiledIssue,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let n = self
            .client
            .execute(
                "UPDATE oauth_grant_filings
                    SET status = 'filed', issue_identifier = $2, issue_url = $3, filed_at = $4,
                        last_error = NULL
                  WHERE filing_id = $1",
                &[&filing, &issue.identifier, &issue.url, &at],
            )
            .await?;
        found(n, filing)
    }

    async fn mark_failed(&self, filing: Uuid, error: &str) -> Result<(), StoreError> {
        let n = self
            .client
            .execute(
                "UPDATE oauth_grant_filings SET last_error = $2 WHERE filing_id = $1",
                &[&filing, &error],
            )
            .await?;
        found(n, filing)
    }

    async fn finish_run(
        &self,
        run_id: Uuid,
        report: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.client
            .execute(
                "UPDATE oauth_drift_runs SET finished_at = $2, report = $3 WHERE run_id = $1",
                &[&run_id, &at, report],
            )
            .await?;
        Ok(())
    }

    async fn baseline(&self) -> Result<Vec<Grant>, StoreError> {
        let rows = self.client.query(BASELINE_SQL, &[]).await?;
        rows.iter().map(baseline_grant).collect()
    }

    async fn run_changes(&self, run_id: Uuid) -> Result<Vec<Change>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT provider, client_id, principal, kind, before, after
                   FROM oauth_grant_changes WHERE run_id = $1
                  ORDER BY provider, client_id, principal",
                &[&run_id],
            )
            .await?;
        rows.iter().map(|r| change_from_row(r, 0)).collect()
    }
}

/// Diff, record, queue and move the baseline in one repeatable-read transaction.
async fn record_in_transaction(
    client: &mut Client,
    run: &RunStart,
) -> Result<RecordOutcome, StoreError> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .start()
        .await?;
    tx.execute(
        "INSERT INTO oauth_drift_runs (run_id, started_at) VALUES ($1, $2)",
        &[&run.run_id, &run.started_at],
    )
    .await?;
    let sizes = tx
        .query_one(
            "SELECT (SELECT count(*) FROM oauth_grant_baseline),
                    (SELECT max(last_seen) FROM oauth_grant_inventory)",
            &[],
        )
        .await?;
    let baseline_size: i64 = sizes.get(0);
    let newest_seen: Option<DateTime<Utc>> = sizes.get(1);
    let mut outcome = RecordOutcome {
        bootstrap: baseline_size == 0,
        baseline_size_before: baseline_size as u64,
        ..RecordOutcome::default()
    };
    if outcome.bootstrap {
        bootstrap(&tx, run, &mut outcome).await?;
    } else {
        merge(&tx, run, &mut outcome).await?;
    }
    check_guards(run, &outcome, newest_seen)?;
    if !outcome.bootstrap {
        apply_changes(&tx, run).await?;
        outcome.filings_created = queue_filings(&tx, run).await?;
    }
    tx.execute(
        "UPDATE oauth_drift_runs SET recorded_at = now(), bootstrap = $2 WHERE run_id = $1",
        &[&run.run_id, &outcome.bootstrap],
    )
    .await?;
    tx.commit().await?;
    Ok(outcome)
}

fn found(updated: u64, filing: Uuid) -> Result<(), StoreError> {
    if updated == 0 {
        Err(StoreError::UnknownFiling(filing))
    } else {
        Ok(())
    }
}
