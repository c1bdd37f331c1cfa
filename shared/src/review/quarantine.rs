//! Events that match the privileged-grant filter but cannot be read (no event id, an id that is
//! not text, no time). One of them must never stop the review of the others, nor wedge the
//! checkpoint: it is kept aside in Postgres (keyed by a hash of its raw JSON, so the late
//! window's re-reads neither add nor report it twice), counted, and reported once to the review
//! channel, since an unreadable event where grants are expected is itself suspicious.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::event::MappingError;
use super::ports::{ReviewChat, Row};
use super::store::{ReviewStore, ReviewStoreError};
use crate::slack::blocks::{SECTION_TEXT, escape_within, fit_mrkdwn, verbatim};

/// Most of an unreadable event's JSON kept for the operator.
const RAW_CHARS: usize = 64 * 1024;
/// Most unreported events one run posts (the rest wait for the next run).
const REPORTS_PER_RUN: i64 = 20;

/// An event that could not be read, as it is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub raw_hash: String,
    pub source: String,
    /// The normalised field that could not be read (`event_id`, `time`).
    pub field: &'static str,
    /// Why, naming the setting to fix (one line, bounded: the row's keys are attacker-chosen).
    pub problem: String,
    /// The event's JSON, cut to [`RAW_CHARS`]; stored as text, never parsed again.
    pub raw: String,
}

impl Unreadable {
    pub fn new(source: &str, row: &Row, error: &MappingError) -> Self {
        // serde_json's maps are ordered by key, so one event always serialises (and hashes)
        // the same way, whatever order Axiom sent its fields in.
        let raw = Value::Object(row.clone()).to_string();
        let raw_hash = hex::encode(Sha256::digest(raw.as_bytes()));
        Self {
            raw_hash,
            source: source.to_owned(),
            field: error.field,
            problem: crate::text::one_line(&error.to_string(), 500),
            raw: crate::text::one_line(&raw, RAW_CHARS),
        }
    }
}

/// Keep these events aside; returns how many were not kept before (re-reads only count as
/// seen again).
pub async fn record(
    store: &ReviewStore,
    events: &[Unreadable],
    now: DateTime<Utc>,
) -> Result<usize, ReviewStoreError> {
    let mut new = 0;
    for e in events {
        let row = store
            .connection()
            .query_one(
                "INSERT INTO privileged_review_quarantine
                    (raw_hash, source, field, problem, raw, first_seen_at, last_seen_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $6)
                 ON CONFLICT (raw_hash) DO UPDATE
                    SET last_seen_at = EXCLUDED.last_seen_at,
                        times_seen = privileged_review_quarantine.times_seen + 1
                 RETURNING times_seen",
                &[&e.raw_hash, &e.source, &e.field, &e.problem, &e.raw, &now],
            )
            .await?;
        if row.get::<_, i32>(0) == 1 {
            new += 1;
            tracing::error!(
                raw_hash = %e.raw_hash,
                problem = %e.problem,
                "an event matching the privileged-grant filter could not be read; quarantined (privileged_review_quarantine) and reported to the review channel"
            );
        }
    }
    Ok(new)
}

/// Post every quarantined event not yet reported (a few per run); returns how many were
/// posted. A failed post stays unreported and is tried again by the next run.
pub async fn report<C: ReviewChat>(
    store: &ReviewStore,
    chat: &C,
    channel: &str,
    now: DateTime<Utc>,
) -> Result<(usize, Vec<String>), ReviewStoreError> {
    let pending = {
        store
            .connection()
            .query(
                "SELECT raw_hash, field, first_seen_at FROM privileged_review_quarantine
                  WHERE reported_at IS NULL ORDER BY first_seen_at, raw_hash LIMIT $1",
                &[&REPORTS_PER_RUN],
            )
            .await?
    };
    let (mut posted, mut failed) = (0, Vec::new());
    for row in pending {
        let (hash, field, first_seen): (String, String, DateTime<Utc>) =
            (row.get(0), row.get(1), row.get(2));
        let (text, blocks) = message(&hash, &field, first_seen);
        match chat.post(channel, &text, &blocks).await {
            Ok(_) => {
                store
                    .connection()
                    .execute(
                        "UPDATE privileged_review_quarantine SET reported_at = $2 WHERE raw_hash = $1",
                        &[&hash, &now],
                    )
                    .await?;
                posted += 1;
            }
            Err(e) => {
                tracing::warn!(error = %e, raw_hash = %hash, "could not report an unreadable event; the next run tries again");
                failed.push(format!("unreadable event {}: {e}", short(&hash)));
            }
        }
    }
    Ok((posted, failed))
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(16)]
}

/// The report: what could not be read and where to look, never the event's own text.
pub fn message(raw_hash: &str, field: &str, first_seen: DateTime<Utc>) -> (String, Value) {
    let headline = "An event matching the privileged-grant filter could not be read";
    let text = format!(
        ":warning: *{headline}*: its `{}` is missing, empty or not text, so it was not reviewed. \
         This is itself suspicious: someone who can write to the audit dataset may be hiding a \
         grant. Find it in `privileged_review_quarantine` (key `{}`, first seen {}) and in Axiom.",
        escape_within(field, 40),
        escape_within(short(raw_hash), 16),
        first_seen.format("%Y-%m-%d %H:%M UTC"),
    );
    let blocks = verbatim(json!([
        {"type": "section", "text": {"type": "mrkdwn", "text": fit_mrkdwn(&text, SECTION_TEXT)}}
    ]));
    (format!("{headline}."), blocks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::source::Preset;

    fn unreadable(row: Value) -> Unreadable {
        let row = row.as_object().unwrap().clone();
        let error = Preset::Generic
            .source("audit")
            .mapping
            .apply(&row)
            .unwrap_err();
        Unreadable::new("audit", &row, &error)
    }

    #[test]
    fn one_event_hashes_the_same_whatever_its_field_order() {
        let a = unreadable(json!({"event_id": {"x": 1}, "_time": "2026-11-18T10:00:00Z"}));
        let b = unreadable(json!({"_time": "2026-11-18T10:00:00Z", "event_id": {"x": 1}}));
        assert_eq!(a.raw_hash, b.raw_hash);
        assert_eq!(a.field, "event_id");
        let other = unreadable(json!({"event_id": {"x": 2}, "_time": "2026-11-18T10:00:00Z"}));
        assert_ne!(a.raw_hash, other.raw_hash);
    }

    #[test]
    fn the_problem_kept_is_one_bounded_line() {
        let key = format!("evil\n{}", "k".repeat(5_000));
        let e = unreadable(json!({key: "v"}));
        assert!(!e.problem.contains('\n'));
        assert!(e.problem.chars().count() <= 500);
    }
}
