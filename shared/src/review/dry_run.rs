//! Stand-ins for the review workflow's outside services, for local dry runs and benchmarks:
//! grants read from a file, review events and Slack cards kept in memory, and two models that
//! answer without a network (a fixed "low" stand-in, and a slow one for timing). Also a scratch
//! Postgres database, since the review store is Postgres-only.
//!
//! Nothing here talks to Axiom, Slack or a model provider. The dry run against the real
//! services (`ReviewRuntime::dry_run`) uses the recording chat, log and webhook with the real
//! Axiom source and model.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::ports::{AuditLog, AuditSource, DecisionWebhook, ReviewChat, Row};
use crate::connectors::llm::{JsonRequest, LlmError, StructuredLlm};
use crate::dry_run::{WouldDo, WouldDoLog};
use crate::ports::{PortError, Posted};

/// Why a sample could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct SampleError {
    pub origin: String,
    pub message: String,
}

/// Audit rows from a JSON array (a file or a `Vec<Row>`), kept sorted by their `_time`.
///
/// [`AuditSource::rows_between`] returns the rows whose `_time` (RFC 3339) lies in
/// `[start, end)`, oldest first. It **ignores the APL query**: every row counts as selected, so
/// a sample should hold only what the configured filter would select.
pub struct FileAuditSource {
    rows: Vec<(DateTime<Utc>, Row)>,
}

impl FileAuditSource {
    /// Read a JSON array of objects.
    pub fn from_file(path: &Path) -> Result<Self, SampleError> {
        let origin = path.display().to_string();
        let error = |message: String| SampleError {
            origin: origin.clone(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        let rows: Vec<Row> = serde_json::from_str(&text)
            .map_err(|e| error(format!("not a JSON array of objects: {e}")))?;
        Self::from_rows(rows).map_err(|e| error(e.message))
    }

    /// Rows given directly; each needs an RFC 3339 `_time`.
    pub fn from_rows(rows: Vec<Row>) -> Result<Self, SampleError> {
        let mut timed = Vec::with_capacity(rows.len());
        for (i, row) in rows.into_iter().enumerate() {
            let time = row
                .get("_time")
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .ok_or_else(|| SampleError {
                    origin: "rows".to_owned(),
                    message: format!("row {} has no RFC 3339 `_time`", i + 1),
                })?;
            timed.push((time.to_utc(), row));
        }
        timed.sort_by_key(|(t, _)| *t);
        Ok(Self { rows: timed })
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The oldest and newest `_time`, if there are rows.
    pub fn span(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        Some((self.rows.first()?.0, self.rows.last()?.0))
    }
}

impl AuditSource for FileAuditSource {
    async fn rows_between(
        &self,
        _apl: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Row>, PortError> {
        let from = self.rows.partition_point(|(t, _)| *t < start);
        let to = self.rows.partition_point(|(t, _)| *t < end);
        Ok(self.rows[from..to.max(from)]
            .iter()
            .map(|(_, row)| row.clone())
            .collect())
    }
}

/// Keeps review events in memory instead of writing them to Axiom.
#[derive(Default)]
pub struct RecordingLog {
    events: Mutex<Vec<Value>>,
}

impl RecordingLog {
    /// Every event recorded so far, in order.
    pub fn events(&self) -> Vec<Value> {
        self.events.lock().expect("not poisoned").clone()
    }
}

impl AuditLog for RecordingLog {
    async fn record(&self, events: &[Value]) -> Result<(), PortError> {
        self.events
            .lock()
            .expect("not poisoned")
            .extend_from_slice(events);
        Ok(())
    }
}

/// A card as the chat stand-in received it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedCard {
    pub channel: String,
    /// Made up (`1700000000.000001`, `…002`, …), unique per post.
    pub ts: String,
    pub text: String,
    pub blocks: Value,
    /// How often the card was updated after it was posted.
    pub updates: u32,
}

/// Keeps posted cards (and their updates) in memory instead of sending them to Slack.
#[derive(Default)]
pub struct RecordingChat {
    cards: Mutex<Vec<RecordedCard>>,
}

impl RecordingChat {
    /// Every card posted so far, in order, as last updated.
    pub fn cards(&self) -> Vec<RecordedCard> {
        self.cards.lock().expect("not poisoned").clone()
    }
}

impl ReviewChat for RecordingChat {
    async fn post(&self, channel: &str, text: &str, blocks: &Value) -> Result<Posted, PortError> {
        let mut cards = self.cards.lock().expect("not poisoned");
        let ts = format!("1700000000.{:06}", cards.len() + 1);
        cards.push(RecordedCard {
            channel: channel.to_owned(),
            ts: ts.clone(),
            text: text.to_owned(),
            blocks: blocks.clone(),
            updates: 0,
        });
        Ok(Posted {
            channel: channel.to_owned(),
            ts,
        })
    }

    async fn update(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: &Value,
    ) -> Result<(), PortError> {
        let mut cards = self.cards.lock().expect("not poisoned");
        let card = cards
            .iter_mut()
            .find(|c| c.channel == channel && c.ts == ts)
            .ok_or_else(|| PortError::transient("slack", "message_not_found".to_owned()))?;
        card.text = text.to_owned();
        card.blocks = blocks.clone();
        card.updates += 1;
        Ok(())
    }
}

/// A model for dry runs without a model account: answers "low" to everything, so the rule floor
/// alone decides and a grant with no risk signal resolves itself. Its name,
/// `dry-run-stand-in`, is recorded with every assessment it took part in.
pub struct StandInModel;

/// [`StandInModel`]'s answer.
pub const STAND_IN_ANSWER: &str = r#"{"level":"low","score":10,"reasons":["dry-run stand-in: no model was consulted; the rule floor decides"]}"#;

impl StructuredLlm for StandInModel {
    fn model(&self) -> &str {
        "dry-run-stand-in"
    }

    async fn complete_json(&self, _: &JsonRequest<'_>) -> Result<String, LlmError> {
        Ok(STAND_IN_ANSWER.to_owned())
    }
}

/// A model for benchmarks: waits `latency` (without blocking a thread), then returns `answer`.
/// Its name is `bench-model`.
pub struct SlowModel {
    pub latency: Duration,
    pub answer: String,
}

impl StructuredLlm for SlowModel {
    fn model(&self) -> &str {
        "bench-model"
    }

    async fn complete_json(&self, _: &JsonRequest<'_>) -> Result<String, LlmError> {
        tokio::time::sleep(self.latency).await;
        Ok(self.answer.clone())
    }
}

/// The webhook of a dry run against the real services: records each delivery it would make.
pub struct RecordingWebhook<'a> {
    pub url: String,
    pub would: &'a WouldDoLog,
}

impl DecisionWebhook for RecordingWebhook<'_> {
    async fn deliver(&self, delivery_id: &str, body: &Value) -> Result<(), PortError> {
        self.would.record(WouldDo {
            service: "webhook",
            action: "deliver",
            target: self.url.clone(),
            content: serde_json::json!({"delivery_id": delivery_id, "body": body}),
        });
        Ok(())
    }
}

/// The chat of a dry run against the real services: cards it posts are kept (and their
/// updates applied) as by [`RecordingChat`]; an update of a real card it never posted (a
/// follow-up left pending in the real outbox) is recorded as a write it would make.
pub struct ShadowRunChat<'a> {
    pub cards: RecordingChat,
    pub would: &'a WouldDoLog,
}

impl ReviewChat for ShadowRunChat<'_> {
    async fn post(&self, channel: &str, text: &str, blocks: &Value) -> Result<Posted, PortError> {
        self.cards.post(channel, text, blocks).await
    }

    async fn update(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: &Value,
    ) -> Result<(), PortError> {
        let ours = self
            .cards
            .cards()
            .iter()
            .any(|c| c.channel == channel && c.ts == ts);
        if ours {
            return self.cards.update(channel, ts, text, blocks).await;
        }
        self.would.record(WouldDo {
            service: "slack",
            action: "update message",
            target: format!("{channel} {ts}"),
            content: serde_json::json!({"text": text, "blocks": blocks}),
        });
        Ok(())
    }
}

/// What a dry run's recording chat and log kept, as the writes they stand for: each card it
/// would post (as last updated) and each review event it would append to `events_dataset`.
pub fn would_have_written(
    chat: &RecordingChat,
    log: &RecordingLog,
    events_dataset: &str,
) -> Vec<WouldDo> {
    let cards = chat.cards().into_iter().map(|card| WouldDo {
        service: "slack",
        action: "post message",
        target: card.channel,
        content: serde_json::json!({"text": card.text, "blocks": card.blocks, "updates": card.updates}),
    });
    let events = log.events().into_iter().map(|event| WouldDo {
        service: "axiom",
        action: "append event",
        target: events_dataset.to_owned(),
        content: event,
    });
    cards.chain(events).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::source::Preset;
    use chrono::TimeZone;
    use serde_json::json;

    fn row(id: &str, time: &str) -> Row {
        json!({"event_id": id, "_time": time})
            .as_object()
            .unwrap()
            .clone()
    }

    #[tokio::test]
    async fn rows_come_back_in_time_order_within_a_half_open_window() {
        let source = FileAuditSource::from_rows(vec![
            row("c", "2026-11-18T10:00:00Z"),
            row("a", "2026-11-18T08:00:00Z"),
            row("b", "2026-11-18T09:00:00+00:00"),
        ])
        .unwrap();
        let at = |h| Utc.with_ymd_and_hms(2026, 11, 18, h, 0, 0).unwrap();
        let ids: Vec<String> = source
            .rows_between("ignored", at(8), at(10))
            .await
            .unwrap()
            .iter()
            .map(|r| r["event_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(source.span(), Some((at(8), at(10))));
        assert!(
            source
                .rows_between("", at(11), at(9))
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_row_without_a_time_is_refused_by_position() {
        let err = FileAuditSource::from_rows(vec![row("a", "2026-11-18T08:00:00Z"), row("b", "")])
            .err()
            .unwrap();
        assert!(err.message.contains("row 2"), "{err}");
    }

    #[tokio::test]
    async fn cards_get_made_up_ts_values_and_can_be_updated() {
        let chat = RecordingChat::default();
        let first = chat.post("C1", "one", &json!([])).await.unwrap();
        let second = chat.post("C1", "two", &json!([])).await.unwrap();
        assert_ne!(first.ts, second.ts);
        chat.update("C1", &first.ts, "one, decided", &json!([]))
            .await
            .unwrap();
        assert!(chat.update("C2", &first.ts, "x", &json!([])).await.is_err());
        let cards = chat.cards();
        assert_eq!(
            (cards[0].text.as_str(), cards[0].updates),
            ("one, decided", 1)
        );
    }

    #[test]
    fn the_stand_in_answer_is_a_valid_verdict() {
        assert!(crate::review::risk_scoring::validate(STAND_IN_ANSWER).is_ok());
    }

    #[test]
    fn the_bundled_sample_maps_with_the_generic_preset() {
        let rows: Vec<Row> = serde_json::from_str(include_str!(
            "../../../infra/sample/privileged-review/events.json"
        ))
        .unwrap();
        let mapping = Preset::Generic.source("audit").mapping;
        for r in &rows {
            assert_eq!(r["event_type"], "privileged_grant");
            mapping.apply(r).unwrap();
        }
        FileAuditSource::from_rows(rows).unwrap();
    }

    #[test]
    fn the_okta_sample_maps_with_the_okta_preset_after_its_extend() {
        let mut event: Row = serde_json::from_str(include_str!(
            "../../../infra/sample/privileged-review/okta-event.json"
        ))
        .unwrap();
        // What the preset's APL `extend` adds in Axiom.
        let grantee = event["target"][0]["alternateId"].clone();
        let role = event["target"][1]["displayName"].clone();
        event.insert("grantee".into(), grantee);
        event.insert("role".into(), role);
        let g = Preset::OktaAdminGroup
            .source("okta")
            .mapping
            .apply(&event)
            .unwrap();
        assert_eq!(event["eventType"], "group.user_membership.add");
        assert_eq!(g.role, "Okta Super Admins");
        assert_ne!(g.grantor, "unknown");
        assert_ne!(g.grantee, "unknown");
    }
}
