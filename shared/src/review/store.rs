//! Review storage: the checkpoint, one review per audit event, and the outbox of side effects.
//! Recording a batch (reviews, their first tasks, the new checkpoint) is one transaction.

use std::collections::{HashMap, HashSet};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::event::PrivilegedGrant;
use super::risk::{Assessment, Features, RiskLevel};
use crate::db::Database;

/// Where a review stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    AutoResolved,
    AwaitingReview,
    Escalated,
    Approved,
    Revoked,
}

impl ReviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::AutoResolved => "auto_resolved",
            ReviewStatus::AwaitingReview => "awaiting_review",
            ReviewStatus::Escalated => "escalated",
            ReviewStatus::Approved => "approved",
            ReviewStatus::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            ReviewStatus::AutoResolved,
            ReviewStatus::AwaitingReview,
            ReviewStatus::Escalated,
            ReviewStatus::Approved,
            ReviewStatus::Revoked,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// The side effects the outbox performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    SlackCard,
    AxiomEvent,
    CardUpdate,
    Webhook,
    EscalationPost,
}

impl TaskKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::SlackCard => "slack_card",
            TaskKind::AxiomEvent => "axiom_event",
            TaskKind::CardUpdate => "card_update",
            TaskKind::Webhook => "webhook",
            TaskKind::EscalationPost => "escalation_post",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            TaskKind::SlackCard,
            TaskKind::AxiomEvent,
            TaskKind::CardUpdate,
            TaskKind::Webhook,
            TaskKind::EscalationPost,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// Whether a permanent failure of this side effect is given up after
    /// `MAX_WEBHOOK_REFUSALS` attempts. Only the webhook: its receiver is someone else's, and
    /// its refusal of one delivery does not change by itself. A card or an event in the team's
    /// own Slack and Axiom stays pending instead, so the fix (a token, a channel) delivers it.
    pub fn gives_up_when_refused(self) -> bool {
        matches!(self, TaskKind::Webhook)
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A review about to be recorded.
#[derive(Debug, Clone)]
pub struct NewReview {
    pub review_id: Uuid,
    pub grant: PrivilegedGrant,
    pub features: Features,
    pub assessment: Assessment,
    pub status: ReviewStatus,
}

/// A side effect to perform once. `dedupe_key` is unique: queuing the same effect twice keeps
/// the first.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub review_id: Uuid,
    pub kind: TaskKind,
    pub dedupe_key: String,
    pub payload: Value,
}

/// The payload of a Slack task (a card posted, re-posted to the escalation channel, or
/// updated in place): what the worker sends, stored as it is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardMessage {
    pub channel: String,
    /// The posted message to update; `None` for a new post.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
    /// Slack's notification fallback.
    pub text: String,
    pub blocks: Value,
}

impl CardMessage {
    pub fn to_payload(&self) -> Value {
        serde_json::to_value(self).expect("a card message is plain JSON")
    }

    /// Read back from a task; a payload that is not a card message is named, not guessed at.
    pub fn from_payload(payload: &Value) -> Result<Self, String> {
        CardMessage::deserialize(payload)
            .map_err(|e| format!("task payload is not a card message: {e}"))
    }
}

/// A pending side effect.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub task_id: i64,
    pub review_id: Uuid,
    pub kind: TaskKind,
    pub payload: Value,
    pub attempts: i32,
}

/// A recorded review, as the decision path needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReview {
    pub review_id: Uuid,
    pub grant: PrivilegedGrant,
    pub features: Features,
    pub assessment: Assessment,
    pub status: ReviewStatus,
    pub slack_channel: Option<String>,
    pub slack_ts: Option<String>,
    pub decided_by: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReviewStoreError {
    #[error("database error: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("stored review data is corrupt: {0}")]
    Corrupt(String),
}

/// The outcome of trying to record a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecideOutcome {
    Decided,
    /// Someone decided first (or the review was never open to this decision).
    AlreadyDecided {
        by: Option<String>,
        status: ReviewStatus,
    },
    Unknown,
}

/// Review storage in Postgres, on the runtime's one database handle.
pub struct ReviewStore {
    client: Database,
}

fn json<T: Serialize>(value: &T) -> Result<Value, ReviewStoreError> {
    serde_json::to_value(value).map_err(|e| ReviewStoreError::Corrupt(e.to_string()))
}

fn from_json<T: for<'de> Deserialize<'de>>(value: Value) -> Result<T, ReviewStoreError> {
    serde_json::from_value(value).map_err(|e| ReviewStoreError::Corrupt(e.to_string()))
}

impl ReviewStore {
    pub fn new(db: &Database) -> Self {
        Self { client: db.clone() }
    }

    /// The database handle, for other stores sharing it (each statement takes it in turn).
    pub fn connection(&self) -> &Database {
        &self.client
    }

    pub async fn checkpoint(
        &self,
        source: &str,
    ) -> Result<Option<DateTime<Utc>>, ReviewStoreError> {
        let row = self
            .client
            .query_opt(
                "SELECT checkpoint FROM privileged_review_checkpoint WHERE source = $1",
                &[&source],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Which of these event ids already have a review.
    pub async fn known_events(&self, ids: &[String]) -> Result<HashSet<String>, ReviewStoreError> {
        let rows = self
            .client
            .query(
                "SELECT event_id FROM privileged_reviews WHERE event_id = ANY($1)",
                &[&ids],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Earlier decisions per grantee (lower case): (approved, revoked).
    pub async fn decision_counts(
        &self,
        grantees: &[String],
    ) -> Result<HashMap<String, (u32, u32)>, ReviewStoreError> {
        let lower: Vec<String> = grantees.iter().map(|g| g.to_lowercase()).collect();
        let rows = self
            .client
            .query(
                "SELECT lower(grantee),
                        count(*) FILTER (WHERE status = 'approved'),
                        count(*) FILTER (WHERE status = 'revoked')
                   FROM privileged_reviews WHERE lower(grantee) = ANY($1) GROUP BY 1",
                &[&lower],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let approved: i64 = r.get(1);
                let revoked: i64 = r.get(2);
                (r.get(0), (approved as u32, revoked as u32))
            })
            .collect())
    }

    /// Record reviews and their first tasks, and move the checkpoint, in one transaction.
    /// A review whose event is already recorded is skipped with its tasks.
    pub async fn record_batch(
        &self,
        source: &str,
        reviews: &[NewReview],
        tasks: &[NewTask],
        checkpoint: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<usize, ReviewStoreError> {
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        let mut recorded = HashSet::new();
        for r in reviews {
            let a = &r.assessment;
            let n = tx
                .execute(
                    "INSERT INTO privileged_reviews (review_id, event_id, source, event_time, grantor,
                        grantee, role, target, features, level, score, reasons, rule_floor, model,
                        model_problem, prompt_hash, status, created_at)
                     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)
                     ON CONFLICT (event_id) DO NOTHING",
                    &[
                        &r.review_id,
                        &r.grant.event_id,
                        &r.grant.source,
                        &r.grant.time,
                        &r.grant.grantor,
                        &r.grant.grantee,
                        &r.grant.role,
                        &r.grant.target,
                        &json(&r.features)?,
                        &a.level.as_str(),
                        &i16::from(a.score),
                        &json(&a.reasons)?,
                        &a.floor.as_str(),
                        &a.model,
                        &a.model_problem,
                        &a.prompt_hash,
                        &r.status.as_str(),
                        &now,
                    ],
                )
                .await?;
            if n == 1 {
                recorded.insert(r.review_id);
            }
        }
        for t in tasks.iter().filter(|t| recorded.contains(&t.review_id)) {
            insert_task(&tx, t, now).await?;
        }
        tx.execute(
            "INSERT INTO privileged_review_checkpoint (source, checkpoint, updated_at)
             VALUES ($1, $2, $3)
             ON CONFLICT (source) DO UPDATE
                SET checkpoint = greatest(privileged_review_checkpoint.checkpoint, EXCLUDED.checkpoint),
                    updated_at = EXCLUDED.updated_at",
            &[&source, &checkpoint, &now],
        )
        .await?;
        tx.commit().await?;
        Ok(recorded.len())
    }

    /// Take up to `limit` pending tasks for `lease`: a worker and a scheduled run draining at
    /// the same moment never get the same task, and a drain that dies gives its tasks back
    /// when the lease runs out. The attempt is counted here, before it is made: an attempt
    /// that dies (a panic, a timeout) still counts, so its task moves behind the others
    /// instead of staying first and killing every drain. `Task::attempts` includes this one.
    pub async fn claim_tasks(
        &self,
        limit: i64,
        lease: std::time::Duration,
    ) -> Result<Vec<Task>, ReviewStoreError> {
        let lease_secs = lease.as_secs_f64();
        let rows = self
            .client
            .query(
                "UPDATE privileged_review_outbox o
                    SET claimed_until = now() + make_interval(secs => $2),
                        attempts = o.attempts + 1
                  WHERE o.task_id IN (
                        SELECT task_id FROM privileged_review_outbox
                         WHERE status = 'pending'
                           AND (claimed_until IS NULL OR claimed_until < now())
                         ORDER BY attempts, task_id
                         LIMIT $1
                           FOR UPDATE SKIP LOCKED)
              RETURNING o.task_id, o.review_id, o.kind, o.payload, o.attempts",
                &[&limit, &lease_secs],
            )
            .await?;
        let mut rows = rows;
        rows.sort_by_key(|r| (r.get::<_, i32>(4), r.get::<_, i64>(0)));
        rows.iter()
            .map(|r| {
                let kind: &str = r.get(2);
                Ok(Task {
                    task_id: r.get(0),
                    review_id: r.get(1),
                    kind: TaskKind::parse(kind)
                        .ok_or_else(|| ReviewStoreError::Corrupt(format!("task kind {kind}")))?,
                    payload: r.get(3),
                    attempts: r.get(4),
                })
            })
            .collect()
    }

    /// Give back tasks taken but not attempted (their claimed attempt is taken back too).
    pub async fn release_tasks(&self, task_ids: &[i64]) -> Result<(), ReviewStoreError> {
        self.client
            .execute(
                "UPDATE privileged_review_outbox
                    SET claimed_until = NULL, attempts = greatest(attempts - 1, 0)
                  WHERE task_id = ANY($1)",
                &[&task_ids],
            )
            .await?;
        Ok(())
    }

    pub async fn pending_count(&self) -> Result<u64, ReviewStoreError> {
        let n: i64 = self
            .client
            .query_one(
                "SELECT count(*) FROM privileged_review_outbox WHERE status = 'pending'",
                &[],
            )
            .await?
            .get(0);
        Ok(n as u64)
    }

    /// Mark a task done; a posted card's channel and ts are kept with its review.
    pub async fn complete_task(
        &self,
        task: &Task,
        posted: Option<(&str, &str)>,
        now: DateTime<Utc>,
    ) -> Result<(), ReviewStoreError> {
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        tx.execute(
            "UPDATE privileged_review_outbox
                SET status = 'done', done_at = $2, last_error = NULL, claimed_until = NULL
              WHERE task_id = $1",
            &[&task.task_id, &now],
        )
        .await?;
        if let Some((channel, ts)) = posted {
            tx.execute(
                "UPDATE privileged_reviews SET slack_channel = $2, slack_ts = $3 WHERE review_id = $1",
                &[&task.review_id, &channel, &ts],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Leave a task pending with its error (its attempt was counted when it was claimed).
    pub async fn fail_task(&self, task: &Task, error: &str) -> Result<(), ReviewStoreError> {
        self.client
            .execute(
                "UPDATE privileged_review_outbox
                    SET last_error = $2, claimed_until = NULL
                  WHERE task_id = $1",
                &[&task.task_id, &error],
            )
            .await?;
        Ok(())
    }

    /// Every card shown for a review so far (the original, an escalation copy), as
    /// `(channel, ts)`: from its card updates and the card it is posted as now.
    pub async fn card_locations(
        &self,
        review_id: Uuid,
    ) -> Result<Vec<(String, String)>, ReviewStoreError> {
        let rows = self
            .client
            .query(
                "SELECT payload->>'channel', payload->>'ts' FROM privileged_review_outbox
                  WHERE review_id = $1 AND kind = 'card_update'
                    AND payload->>'channel' IS NOT NULL AND payload->>'ts' IS NOT NULL
                 UNION
                 SELECT slack_channel, slack_ts FROM privileged_reviews
                  WHERE review_id = $1 AND slack_channel IS NOT NULL AND slack_ts IS NOT NULL",
                &[&review_id],
            )
            .await?;
        let mut cards: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        cards.sort();
        Ok(cards)
    }

    /// Stop retrying a task whose receiver keeps refusing it (status `failed`, kept with its
    /// last error for the operator).
    pub async fn give_up_task(&self, task: &Task, error: &str) -> Result<(), ReviewStoreError> {
        self.client
            .execute(
                "UPDATE privileged_review_outbox
                    SET status = 'failed', last_error = $2,
                        claimed_until = NULL
                  WHERE task_id = $1",
                &[&task.task_id, &error],
            )
            .await?;
        Ok(())
    }

    pub async fn review(&self, review_id: Uuid) -> Result<Option<StoredReview>, ReviewStoreError> {
        let row = self
            .client
            .query_opt(
                "SELECT review_id, event_id, source, event_time, grantor, grantee, role, target,
                        features, level, score, reasons, rule_floor, model, model_problem,
                        prompt_hash, status, slack_channel, slack_ts, decided_by
                   FROM privileged_reviews WHERE review_id = $1",
                &[&review_id],
            )
            .await?;
        let Some(r) = row else { return Ok(None) };
        let level = |i: usize| -> Result<RiskLevel, ReviewStoreError> {
            let s: &str = r.get(i);
            RiskLevel::parse(s).ok_or_else(|| ReviewStoreError::Corrupt(format!("level {s}")))
        };
        let status: &str = r.get(16);
        let score: i16 = r.get(10);
        Ok(Some(StoredReview {
            review_id: r.get(0),
            grant: PrivilegedGrant {
                event_id: r.get(1),
                source: r.get(2),
                time: r.get(3),
                grantor: r.get(4),
                grantee: r.get(5),
                role: r.get(6),
                target: r.get(7),
            },
            features: from_json(r.get(8))?,
            assessment: Assessment {
                level: level(9)?,
                score: score as u8,
                reasons: from_json(r.get(11))?,
                floor: level(12)?,
                model: r.get(13),
                model_problem: r.get(14),
                prompt_hash: r.get(15),
            },
            status: ReviewStatus::parse(status)
                .ok_or_else(|| ReviewStoreError::Corrupt(format!("status {status}")))?,
            slack_channel: r.get(17),
            slack_ts: r.get(18),
            decided_by: r.get(19),
        }))
    }

    /// Record a decision if the review is still open to it (first decision wins: one
    /// conditional update), queuing its follow-up tasks in the same transaction.
    pub async fn decide(
        &self,
        review_id: Uuid,
        decision: ReviewStatus,
        open_states: &[ReviewStatus],
        reviewer: &str,
        tasks: &[NewTask],
        now: DateTime<Utc>,
    ) -> Result<DecideOutcome, ReviewStoreError> {
        let open: Vec<&str> = open_states.iter().map(|s| s.as_str()).collect();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        let updated = tx
            .execute(
                "UPDATE privileged_reviews
                    SET status = $2, decided_by = $3, decided_at = $4
                  WHERE review_id = $1 AND status = ANY($5)",
                &[&review_id, &decision.as_str(), &reviewer, &now, &open],
            )
            .await?;
        if updated == 0 {
            let row = tx
                .query_opt(
                    "SELECT status, decided_by FROM privileged_reviews WHERE review_id = $1",
                    &[&review_id],
                )
                .await?;
            tx.rollback().await?;
            return Ok(match row {
                None => DecideOutcome::Unknown,
                Some(r) => {
                    let status: &str = r.get(0);
                    DecideOutcome::AlreadyDecided {
                        by: r.get(1),
                        status: ReviewStatus::parse(status)
                            .ok_or_else(|| ReviewStoreError::Corrupt(format!("status {status}")))?,
                    }
                }
            });
        }
        for t in tasks {
            insert_task(&tx, t, now).await?;
        }
        tx.commit().await?;
        Ok(DecideOutcome::Decided)
    }
}

async fn insert_task(
    tx: &tokio_postgres::Transaction<'_>,
    t: &NewTask,
    now: DateTime<Utc>,
) -> Result<(), ReviewStoreError> {
    tx.execute(
        "INSERT INTO privileged_review_outbox (review_id, kind, dedupe_key, payload, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dedupe_key) DO NOTHING",
        &[
            &t.review_id,
            &t.kind.as_str(),
            &t.dedupe_key,
            &t.payload,
            &now,
        ],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::CardMessage;
    use serde_json::json;

    #[test]
    fn a_card_message_is_stored_in_the_outbox_shape_the_worker_has_always_read() {
        let post = CardMessage {
            channel: "C1".to_owned(),
            ts: None,
            text: "high risk".to_owned(),
            blocks: json!([{"type": "section"}]),
        };
        assert_eq!(
            post.to_payload(),
            json!({"channel": "C1", "text": "high risk", "blocks": [{"type": "section"}]})
        );
        let stored_update = json!({"channel": "C1", "ts": "1.2", "text": "t", "blocks": []});
        let update = CardMessage::from_payload(&stored_update).unwrap();
        assert_eq!(update.ts.as_deref(), Some("1.2"));
        assert_eq!(update.to_payload(), stored_update);
    }

    #[test]
    fn a_payload_without_a_channel_is_named_not_guessed_at() {
        let err = CardMessage::from_payload(&json!({"text": "t", "blocks": []})).unwrap_err();
        assert!(err.contains("channel"), "{err}");
    }
}
