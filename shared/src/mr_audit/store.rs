//! MR audit storage in Postgres: a delivery is recorded (and deduplicated) in one transaction;
//! a worker claims an audit for a lease, records each step as it succeeds, and marks the audit
//! done at the end.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::duties::Finding;
use super::event::MergeEvent;
use super::facts::MergeFacts;
use super::steps::Step;
use crate::db::Database;

#[derive(Debug, thiserror::Error)]
pub enum AuditStoreError {
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("stored audit data is unreadable: {0}")]
    Corrupt(String),
}

/// Where an audit stands (`mr_audit_merges.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditStatus {
    Pending,
    /// Every step done, the evidence row written.
    Done,
    /// Given up after repeated failures; a person looks at it (a new delivery re-opens it).
    Failed,
    /// GitLab kept saying the MR is not merged; the MR's next delivery re-opens it.
    Unmerged,
}

impl AuditStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditStatus::Pending => "pending",
            AuditStatus::Done => "done",
            AuditStatus::Failed => "failed",
            AuditStatus::Unmerged => "unmerged",
        }
    }
}

/// What recording a delivery found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// A merge not seen before.
    New,
    /// A merge whose audit had ended without evidence (`unmerged` or `failed`): pending again,
    /// its attempts counted from zero, the delivery's event kept for it.
    Reopened,
    /// This merge is known (a retried, resent or duplicate delivery); `done` says whether its
    /// audit has finished with its evidence written (status `done`, nothing else).
    Known { done: bool },
}

/// A claimed audit.
#[derive(Debug, Clone)]
pub struct ClaimedAudit {
    pub merge_key: String,
    pub event: MergeEvent,
    pub facts: Option<MergeFacts>,
    pub findings: Option<Vec<Finding>>,
    /// Steps already done, with their detail.
    pub steps: HashMap<String, Value>,
    pub attempts: i32,
}

fn json<T: serde::Serialize>(value: &T) -> Result<Value, AuditStoreError> {
    serde_json::to_value(value).map_err(|e| AuditStoreError::Corrupt(e.to_string()))
}

fn from_json<T: for<'de> serde::Deserialize<'de>>(value: Value) -> Result<T, AuditStoreError> {
    serde_json::from_value(value).map_err(|e| AuditStoreError::Corrupt(e.to_string()))
}

/// MR audit storage over a shared connection.
pub struct AuditStore<'c> {
    client: &'c Database,
}

impl<'c> AuditStore<'c> {
    pub fn new(client: &'c Database) -> Self {
        Self { client }
    }

    /// Record a delivery of a merge: the merge once, the delivery key once. A merge whose audit
    /// was given up (`unmerged`, `failed`) is re-opened: a forged "merge" delivery for an open
    /// MR must not stand in the way of the audit of its real merge.
    pub async fn record_delivery(
        &self,
        delivery_key: &str,
        event: &MergeEvent,
        now: DateTime<Utc>,
    ) -> Result<Recorded, AuditStoreError> {
        let merge_key = event.merge_key();
        let body = json(event)?;
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        let inserted = tx
            .execute(
                "INSERT INTO mr_audit_merges (merge_key, project_id, iid, reference, event, received_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (merge_key) DO NOTHING",
                &[
                    &merge_key,
                    &(event.project_id as i64),
                    &(event.iid as i64),
                    &event.reference(),
                    &body,
                    &now,
                ],
            )
            .await?;
        tx.execute(
            "INSERT INTO mr_audit_deliveries (delivery_key, merge_key, received_at)
             VALUES ($1, $2, $3) ON CONFLICT (delivery_key) DO NOTHING",
            &[&delivery_key, &merge_key, &now],
        )
        .await?;
        let reopened = tx
            .execute(
                "UPDATE mr_audit_merges
                    SET status = 'pending', attempts = 0, last_error = NULL, claimed_until = NULL,
                        event = $2, updated_at = $3
                  WHERE merge_key = $1 AND status IN ('unmerged', 'failed')",
                &[&merge_key, &body, &now],
            )
            .await?;
        let status: String = tx
            .query_one(
                "SELECT status FROM mr_audit_merges WHERE merge_key = $1",
                &[&merge_key],
            )
            .await?
            .get(0);
        tx.commit().await?;
        Ok(if inserted == 1 {
            Recorded::New
        } else if reopened == 1 {
            Recorded::Reopened
        } else {
            Recorded::Known {
                done: status == AuditStatus::Done.as_str(),
            }
        })
    }

    /// Remember that the MR carried these (security) labels, so its merge is audited even once
    /// they are removed.
    pub async fn remember_labels(
        &self,
        project_id: u64,
        iid: u64,
        labels: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), AuditStoreError> {
        for label in labels {
            self.client
                .execute(
                    "INSERT INTO mr_audit_label_history (project_id, iid, label, first_seen_at)
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    &[&(project_id as i64), &(iid as i64), label, &now],
                )
                .await?;
        }
        Ok(())
    }

    /// The security labels the MR was seen carrying before, in the order first seen.
    pub async fn labels_carried(
        &self,
        project_id: u64,
        iid: u64,
    ) -> Result<Vec<String>, AuditStoreError> {
        Ok(self
            .client
            .query(
                "SELECT label FROM mr_audit_label_history WHERE project_id = $1 AND iid = $2
                  ORDER BY first_seen_at, label",
                &[&(project_id as i64), &(iid as i64)],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    /// Take a pending audit for `lease`; `None` when it is done, unknown or another worker
    /// holds it.
    pub async fn claim(
        &self,
        merge_key: &str,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Option<ClaimedAudit>, AuditStoreError> {
        let client = self.client.lock().await;
        let Some(row) = client
            .query_opt(
                "UPDATE mr_audit_merges SET claimed_until = $2, attempts = attempts + 1, updated_at = $3
                  WHERE merge_key = $1 AND status = 'pending'
                    AND (claimed_until IS NULL OR claimed_until < $3)
              RETURNING event, facts, findings, attempts",
                &[&merge_key, &(now + lease), &now],
            )
            .await?
        else {
            return Ok(None);
        };
        let steps = client
            .query(
                "SELECT step, detail FROM mr_audit_steps WHERE merge_key = $1",
                &[&merge_key],
            )
            .await?
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, Value>(1)))
            .collect();
        Ok(Some(ClaimedAudit {
            merge_key: merge_key.to_owned(),
            event: from_json(row.get(0))?,
            facts: row.get::<_, Option<Value>>(1).map(from_json).transpose()?,
            findings: row.get::<_, Option<Value>>(2).map(from_json).transpose()?,
            steps,
            attempts: row.get(3),
        }))
    }

    /// Keep GitLab's answer and the verdict ([`Step::FetchApprovals`]).
    pub async fn record_facts(
        &self,
        merge_key: &str,
        facts: &MergeFacts,
        findings: &[Finding],
        now: DateTime<Utc>,
    ) -> Result<(), AuditStoreError> {
        let (facts, findings) = (json(facts)?, json(&findings)?);
        let step = Step::FetchApprovals.key();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        tx.execute(
            "UPDATE mr_audit_merges SET facts = $2, findings = $3, updated_at = $4 WHERE merge_key = $1",
            &[&merge_key, &facts, &findings, &now],
        )
        .await?;
        tx.execute(
            "INSERT INTO mr_audit_steps (merge_key, step, done_at) VALUES ($1, $3, $2)
             ON CONFLICT DO NOTHING",
            &[&merge_key, &now, &step],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A step succeeded: recorded under its key, with its detail ([`super::steps`]).
    pub async fn step_done(
        &self,
        merge_key: &str,
        step: &Step,
        detail: &impl serde::Serialize,
        now: DateTime<Utc>,
    ) -> Result<(), AuditStoreError> {
        let (step, detail) = (step.key(), &json(detail)?);
        self.client
            .execute(
                "INSERT INTO mr_audit_steps (merge_key, step, done_at, detail) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[&merge_key, &step, &now, detail],
            )
            .await?;
        Ok(())
    }

    /// The audit finished: every step done. Only with its evidence row recorded
    /// ([`Step::AppendEvidence`]); `false` when it is not, and nothing changes.
    pub async fn complete(
        &self,
        merge_key: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, AuditStoreError> {
        let evidence = Step::AppendEvidence.key();
        let updated = self
            .client
            .execute(
                "UPDATE mr_audit_merges SET status = 'done', completed_at = $2, updated_at = $2,
                        claimed_until = NULL, last_error = NULL
                  WHERE merge_key = $1
                    AND EXISTS (SELECT 1 FROM mr_audit_steps
                                 WHERE merge_key = $1 AND step = $3)",
                &[&merge_key, &now, &evidence],
            )
            .await?;
        Ok(updated == 1)
    }

    /// A step failed: keep the error and give the claim back so a retry can start at once
    /// (`Pending`), or end the audit as `Failed` or `Unmerged`.
    pub async fn fail(
        &self,
        merge_key: &str,
        error: &str,
        status: AuditStatus,
        now: DateTime<Utc>,
    ) -> Result<(), AuditStoreError> {
        let status = status.as_str();
        self.client
            .execute(
                "UPDATE mr_audit_merges SET last_error = $2, claimed_until = NULL, updated_at = $3,
                        status = $4
                  WHERE merge_key = $1",
                &[&merge_key, &error, &now, &status],
            )
            .await?;
        Ok(())
    }

    /// Audits still pending and not claimed, oldest first (for a sweep that re-drives them).
    pub async fn pending(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<String>, AuditStoreError> {
        Ok(self
            .client
            .query(
                "SELECT merge_key FROM mr_audit_merges
                  WHERE status = 'pending' AND (claimed_until IS NULL OR claimed_until < $1)
                  ORDER BY received_at LIMIT $2",
                &[&now, &limit],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }
}
