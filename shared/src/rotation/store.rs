//! Rotation storage in Postgres: importing campaigns and consumers, the sweep's reads, the
//! claim that makes a nudge happen at most once per interval, and the clicks' writes. Every
//! write that must not half-happen is one statement or one transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::Value;
use tokio_postgres::{Client, Row};

use super::consumer::{Campaign, Consumer, ConsumerStatus};
use super::message::{LineState, NudgeMessage};
use crate::db::Database;
use crate::rows::{ImportError, RowError};

#[derive(Debug, thiserror::Error)]
pub enum RotationStoreError {
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("stored rotation data is unreadable: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Import(#[from] ImportError),
}

/// What an import changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub campaigns: usize,
    pub consumers_added: usize,
    pub consumers_updated: usize,
}

/// A consumer still to chase: overdue, pending (or its exemption lapsed), possibly snoozed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outstanding {
    pub consumer_id: i64,
    pub campaign: String,
    pub name: String,
    pub team: String,
    pub channel: Option<String>,
    pub team_lead: Option<String>,
    pub retired_key: String,
    pub deadline: NaiveDate,
    pub days_overdue: i64,
    pub nudge_count: u32,
    /// Snoozed until a date after today: not nudged, still counted.
    pub snoozed_until: Option<NaiveDate>,
    /// Not nudged within the cadence interval, and no nudge of it in flight.
    pub due: bool,
}

/// A consumer as a click needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    pub consumer_id: i64,
    pub campaign: String,
    pub name: String,
    pub team: String,
    pub channel: Option<String>,
    pub status: String,
    pub confirmed_by: Option<String>,
    pub confirmed_at: Option<DateTime<Utc>>,
}

/// A confirmation, for the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    pub name: String,
    pub team: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// Whether this sweep may send today's digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestClaim {
    Claimed,
    AlreadySent,
    /// Another sweep claimed it moments ago and has not sent it yet.
    InProgress,
}

/// The result of a confirm or snooze write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClickWrite {
    Done,
    AlreadyConfirmed {
        by: Option<String>,
        at: Option<DateTime<Utc>>,
    },
    Unknown,
}

/// The conditions under which a consumer is chased today (`$1` is today's date): pending, or
/// exempt until a date now past; deadline (its own, else the campaign's) before today.
const CHASEABLE: &str = "(c.status = 'pending' OR (c.status = 'exempt' AND c.exempt_until < $1))
     AND coalesce(c.deadline, k.deadline) < $1";

/// Not snoozed past today.
const AWAKE: &str = "(c.snoozed_until IS NULL OR c.snoozed_until <= $1)";

/// Due for a nudge (`$2` is the cadence cutoff: now minus the interval): not nudged since, and
/// no nudge started since (a sweep that died mid-send counts as having nudged).
const DUE: &str = "(c.last_nudged_at IS NULL OR c.last_nudged_at <= $2)
     AND (c.nudge_started_at IS NULL OR c.nudge_started_at <= $2)";

/// A consumer's nudges: those recorded, plus any whose send began and has not been settled
/// (a sweep may have died after Slack took the message: it counts as delivered).
const NUDGES: &str = "(c.nudge_count + (SELECT count(*) FROM rotation_nudges n
      WHERE n.state = 'sending' AND c.consumer_id = ANY(n.consumer_ids))::int)";

/// A nudge as recorded: its row id, where it was (or is being) posted, and what it listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNudge {
    pub nudge_id: i64,
    pub channel: String,
    /// Slack's ts; `None` while unknown (the sweep died before Slack's answer was recorded).
    pub ts: Option<String>,
    /// `sending`, `sent` or `unconfirmed`.
    pub state: String,
    pub message: NudgeMessage,
}

/// Rotation storage over one connection, shared (each statement takes the connection in
/// turn, so the privileged-review store can use the same one); cheap to create per use.
pub struct RotationStore<'c> {
    client: &'c Database,
}

fn stored_nudge(r: &Row) -> Result<StoredNudge, RotationStoreError> {
    let nudge_id: i64 = r.get(0);
    let mut message: NudgeMessage = serde_json::from_value(r.get::<_, Value>(4))
        .map_err(|e| RotationStoreError::Corrupt(e.to_string()))?;
    message.nudge_id = Some(nudge_id);
    Ok(StoredNudge {
        nudge_id,
        channel: r.get(1),
        ts: r.get(2),
        state: r.get(3),
        message,
    })
}

fn count(value: i32) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

/// A row of the columns [`RotationStore::outstanding`] and [`RotationStore::claim`] select.
fn outstanding_row(r: &Row) -> Outstanding {
    Outstanding {
        consumer_id: r.get(0),
        campaign: r.get(1),
        name: r.get(2),
        team: r.get(3),
        channel: r.get(4),
        team_lead: r.get(5),
        retired_key: r.get(6),
        deadline: r.get(7),
        days_overdue: r.get(8),
        nudge_count: count(r.get(9)),
        snoozed_until: r.get(10),
        due: r.get(11),
    }
}

impl<'c> RotationStore<'c> {
    pub fn new(client: &'c Database) -> Self {
        Self { client }
    }

    /// Every outstanding consumer as of `today`, latest first within each team; `due` uses
    /// `cutoff` (now minus the nudge interval).
    pub async fn outstanding(
        &self,
        today: NaiveDate,
        cutoff: DateTime<Utc>,
    ) -> Result<Vec<Outstanding>, RotationStoreError> {
        let sql = format!(
            "SELECT c.consumer_id, c.campaign, c.name, c.team, c.channel, c.team_lead,
                    k.retired_key, coalesce(c.deadline, k.deadline),
                    ($1::date - coalesce(c.deadline, k.deadline))::bigint, {NUDGES},
                    CASE WHEN c.snoozed_until > $1 THEN c.snoozed_until END,
                    ({DUE})
               FROM rotation_consumers c JOIN rotation_campaigns k USING (campaign)
              WHERE {CHASEABLE}
              ORDER BY c.team, c.channel, coalesce(c.deadline, k.deadline), lower(c.name)"
        );
        let rows = self.client.query(&sql, &[&today, &cutoff]).await?;
        Ok(rows.iter().map(outstanding_row).collect())
    }

    /// Take these consumers for a nudge: only those still chaseable, awake and due at this
    /// moment come back (the re-check just before sending), with their current facts.
    pub async fn claim(
        &self,
        ids: &[i64],
        today: NaiveDate,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Outstanding>, RotationStoreError> {
        let sql = format!(
            "UPDATE rotation_consumers c SET nudge_started_at = $4
               FROM rotation_campaigns k
              WHERE k.campaign = c.campaign AND c.consumer_id = ANY($3)
                AND {CHASEABLE} AND {AWAKE} AND {DUE}
          RETURNING c.consumer_id, c.campaign, c.name, c.team, c.channel, c.team_lead,
                    k.retired_key, coalesce(c.deadline, k.deadline),
                    ($1::date - coalesce(c.deadline, k.deadline))::bigint, {NUDGES},
                    NULL::date, true"
        );
        let rows = self
            .client
            .query(&sql, &[&today, &cutoff, &ids, &now])
            .await?;
        let mut claimed: Vec<Outstanding> = rows.iter().map(outstanding_row).collect();
        claimed.sort_by(|a, b| {
            (a.deadline, a.name.to_lowercase()).cmp(&(b.deadline, b.name.to_lowercase()))
        });
        Ok(claimed)
    }

    /// Give back a claim whose message was not delivered, so the next run tries again.
    pub async fn release(
        &self,
        ids: &[i64],
        claimed_at: DateTime<Utc>,
    ) -> Result<(), RotationStoreError> {
        self.client
            .execute(
                "UPDATE rotation_consumers SET nudge_started_at = NULL
                  WHERE consumer_id = ANY($1) AND nudge_started_at = $2",
                &[&ids, &claimed_at],
            )
            .await?;
        Ok(())
    }

    /// Record a nudge about to be sent, with the consumers it lists, before anything is posted:
    /// a sweep killed once Slack has the message still leaves this behind, so a click on the
    /// message finds it and the nudge is counted. Returns the nudge's id.
    pub async fn begin_nudge(
        &self,
        channel: &str,
        message: &NudgeMessage,
        ids: &[i64],
        started_at: DateTime<Utc>,
    ) -> Result<i64, RotationStoreError> {
        let body = serde_json::to_value(message)
            .map_err(|e| RotationStoreError::Corrupt(e.to_string()))?;
        let row = self
            .client
            .query_one(
                "INSERT INTO rotation_nudges (team, channel, bucket, message, consumer_ids, state, started_at)
                 VALUES ($1, $2, $3, $4, $5, 'sending', $6)
                 RETURNING nudge_id",
                &[
                    &message.team,
                    &channel,
                    &message.bucket().as_str(),
                    &body,
                    &ids,
                    &started_at,
                ],
            )
            .await?;
        Ok(row.get(0))
    }

    /// Slack has the nudge as `(channel, ts)`: told by Slack's answer, or by a click on a
    /// message whose sweep died first. The first of the two counts the nudge against its
    /// consumers (a settled one was counted already); the second changes nothing. `sent_at`
    /// defaults to when the send began. `false` when there is no such nudge.
    pub async fn mark_sent(
        &self,
        nudge_id: i64,
        channel: &str,
        ts: &str,
        sent_at: Option<DateTime<Utc>>,
    ) -> Result<bool, RotationStoreError> {
        // One statement: the row lock makes a click and the sweep's own record (or two
        // clicks) agree on which of them counts the nudge.
        let row = self
            .client
            .query_one(
                "WITH before AS (
                     SELECT nudge_id, state, started_at FROM rotation_nudges
                      WHERE nudge_id = $1 FOR UPDATE),
                 sent AS (
                     UPDATE rotation_nudges n
                        SET state = 'sent', channel = $2, slack_ts = $3,
                            sent_at = coalesce($4::timestamptz, b.started_at)
                       FROM before b
                      WHERE n.nudge_id = b.nudge_id AND b.state <> 'sent'
                  RETURNING b.state AS was, n.consumer_ids, n.sent_at, b.started_at),
                 counted AS (
                     UPDATE rotation_consumers c
                        SET nudge_count = c.nudge_count + 1,
                            last_nudged_at = greatest(c.last_nudged_at, s.sent_at),
                            nudge_started_at = CASE WHEN c.nudge_started_at = s.started_at THEN NULL
                                                    ELSE c.nudge_started_at END,
                            updated_at = s.sent_at
                       FROM sent s
                      WHERE s.was = 'sending' AND c.consumer_id = ANY(s.consumer_ids))
                 SELECT count(*) FROM before",
                &[&nudge_id, &channel, &ts, &sent_at],
            )
            .await?;
        Ok(row.get::<_, i64>(0) > 0)
    }

    /// Slack refused the nudge: forget it (it was never delivered) and give back the claim on
    /// `ids` (this part's consumers and the parts after it) so the next run tries again.
    pub async fn abandon_nudge(
        &self,
        nudge_id: i64,
        ids: &[i64],
        claimed_at: DateTime<Utc>,
    ) -> Result<(), RotationStoreError> {
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        tx.execute(
            "DELETE FROM rotation_nudges WHERE nudge_id = $1 AND state = 'sending'",
            &[&nudge_id],
        )
        .await?;
        tx.execute(
            "UPDATE rotation_consumers SET nudge_started_at = NULL
              WHERE consumer_id = ANY($1) AND nudge_started_at = $2",
            &[&ids, &claimed_at],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Settle the sends begun before `before` that never heard from Slack (their sweep died):
    /// each becomes `unconfirmed` and counts as a nudge, since Slack may well have delivered
    /// it. Returns how many were settled.
    pub async fn settle_unfinished(
        &self,
        before: DateTime<Utc>,
    ) -> Result<u64, RotationStoreError> {
        let rows = self
            .client
            .query(
                "WITH settled AS (
                     UPDATE rotation_nudges SET state = 'unconfirmed'
                      WHERE state = 'sending' AND started_at <= $1
                  RETURNING consumer_ids, started_at),
                 per_consumer AS (
                     SELECT id, count(*)::int AS n, max(started_at) AS last
                       FROM settled, unnest(consumer_ids) AS id GROUP BY id),
                 counted AS (
                     UPDATE rotation_consumers c
                        SET nudge_count = c.nudge_count + p.n,
                            last_nudged_at = greatest(c.last_nudged_at, p.last),
                            nudge_started_at = CASE WHEN c.nudge_started_at <= p.last THEN NULL
                                                    ELSE c.nudge_started_at END
                       FROM per_consumer p WHERE c.consumer_id = p.id)
                 SELECT count(*) FROM settled",
                &[&before],
            )
            .await?;
        Ok(rows
            .first()
            .map_or(0, |r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0)))
    }

    /// The nudge posted as `(channel, ts)`, to redraw it after a click.
    pub async fn nudge_at(
        &self,
        channel: &str,
        ts: &str,
    ) -> Result<Option<StoredNudge>, RotationStoreError> {
        let row = self
            .client
            .query_opt(
                "SELECT nudge_id, channel, slack_ts, state, message FROM rotation_nudges
                  WHERE channel = $1 AND slack_ts = $2",
                &[&channel, &ts],
            )
            .await?;
        row.map(|r| stored_nudge(&r)).transpose()
    }

    /// The nudge with this id (named by the buttons of the message that shows it).
    pub async fn nudge_by_id(&self, id: i64) -> Result<Option<StoredNudge>, RotationStoreError> {
        let row = self
            .client
            .query_opt(
                "SELECT nudge_id, channel, slack_ts, state, message FROM rotation_nudges
                  WHERE nudge_id = $1",
                &[&id],
            )
            .await?;
        row.map(|r| stored_nudge(&r)).transpose()
    }

    /// What became of these consumers (confirmed, snoozed or still open), by id.
    pub async fn line_states(
        &self,
        ids: &[i64],
        today: NaiveDate,
        tz: Tz,
    ) -> Result<HashMap<i64, LineState>, RotationStoreError> {
        let rows = self
            .client
            .query(
                "SELECT consumer_id, status, confirmed_by, confirmed_at, snoozed_until, snoozed_by, snooze_reason
                   FROM rotation_consumers WHERE consumer_id = ANY($1)",
                &[&ids],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let status: &str = r.get(1);
                let snoozed_until: Option<NaiveDate> = r.get(4);
                let state = match (status, snoozed_until) {
                    ("confirmed", _) => LineState::Confirmed {
                        by: r.get::<_, Option<String>>(2).unwrap_or_default(),
                        on: r
                            .get::<_, Option<DateTime<Utc>>>(3)
                            .map_or(today, |t| t.with_timezone(&tz).date_naive()),
                    },
                    (_, Some(until)) if until > today => LineState::Snoozed {
                        by: r.get::<_, Option<String>>(5).unwrap_or_default(),
                        until,
                        reason: r.get::<_, Option<String>>(6).unwrap_or_default(),
                    },
                    _ => LineState::Open,
                };
                (r.get(0), state)
            })
            .collect())
    }

    pub async fn consumer(&self, id: i64) -> Result<Option<ConsumerRecord>, RotationStoreError> {
        let row = self
            .client
            .query_opt(
                "SELECT consumer_id, campaign, name, team, channel, status, confirmed_by, confirmed_at
                   FROM rotation_consumers WHERE consumer_id = $1",
                &[&id],
            )
            .await?;
        Ok(row.map(|r| ConsumerRecord {
            consumer_id: r.get(0),
            campaign: r.get(1),
            name: r.get(2),
            team: r.get(3),
            channel: r.get(4),
            status: r.get(5),
            confirmed_by: r.get(6),
            confirmed_at: r.get(7),
        }))
    }

    /// Mark a consumer confirmed; the first confirmation wins.
    pub async fn confirm(
        &self,
        id: i64,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<ClickWrite, RotationStoreError> {
        let changed = self
            .client
            .execute(
                "UPDATE rotation_consumers
                    SET status = 'confirmed', confirmed_by = $2, confirmed_at = $3,
                        snoozed_until = NULL, updated_at = $3
                  WHERE consumer_id = $1 AND status <> 'confirmed'",
                &[&id, &by, &at],
            )
            .await?;
        self.settled(id, changed).await
    }

    /// Pause chasing a consumer until `until` (chasing resumes on that date).
    pub async fn snooze(
        &self,
        id: i64,
        by: &str,
        until: NaiveDate,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<ClickWrite, RotationStoreError> {
        let changed = self
            .client
            .execute(
                "UPDATE rotation_consumers
                    SET snoozed_until = $2, snooze_reason = $3, snoozed_by = $4, updated_at = $5
                  WHERE consumer_id = $1 AND status <> 'confirmed'",
                &[&id, &until, &reason, &by, &at],
            )
            .await?;
        self.settled(id, changed).await
    }

    async fn settled(&self, id: i64, changed: u64) -> Result<ClickWrite, RotationStoreError> {
        if changed == 1 {
            return Ok(ClickWrite::Done);
        }
        Ok(match self.consumer(id).await? {
            Some(c) => ClickWrite::AlreadyConfirmed {
                by: c.confirmed_by,
                at: c.confirmed_at,
            },
            None => ClickWrite::Unknown,
        })
    }

    /// Confirmations recorded after `since` (all of them when `None`), oldest first.
    pub async fn confirmations_since(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<Confirmation>, RotationStoreError> {
        let rows = self
            .client
            .query(
                "SELECT name, team, coalesce(confirmed_by, ''), confirmed_at FROM rotation_consumers
                  WHERE status = 'confirmed' AND ($1::timestamptz IS NULL OR confirmed_at > $1)
                  ORDER BY confirmed_at, lower(name)",
                &[&since],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Confirmation {
                name: r.get(0),
                team: r.get(1),
                by: r.get(2),
                at: r.get(3),
            })
            .collect())
    }

    /// When the last digest for a day before `date` went out (a replayed day's digest lists
    /// the confirmations since the digest before it, not since a later one).
    pub async fn last_digest_sent(
        &self,
        date: NaiveDate,
    ) -> Result<Option<DateTime<Utc>>, RotationStoreError> {
        let row = self
            .client
            .query_one(
                "SELECT max(sent_at) FROM rotation_digests WHERE digest_date < $1",
                &[&date],
            )
            .await?;
        Ok(row.get(0))
    }

    /// Take the digest of `date`. A claim older than `stale_before` (its sweep died) is taken
    /// over.
    pub async fn claim_digest(
        &self,
        date: NaiveDate,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<DigestClaim, RotationStoreError> {
        let client = self.client.lock().await;
        let changed = client
            .execute(
                "INSERT INTO rotation_digests (digest_date, claimed_at) VALUES ($1, $2)
                 ON CONFLICT (digest_date) DO UPDATE SET claimed_at = $2
                  WHERE rotation_digests.sent_at IS NULL AND rotation_digests.claimed_at <= $3",
                &[&date, &now, &stale_before],
            )
            .await?;
        if changed == 1 {
            return Ok(DigestClaim::Claimed);
        }
        let sent: Option<DateTime<Utc>> = client
            .query_one(
                "SELECT sent_at FROM rotation_digests WHERE digest_date = $1",
                &[&date],
            )
            .await?
            .get(0);
        Ok(if sent.is_some() {
            DigestClaim::AlreadySent
        } else {
            DigestClaim::InProgress
        })
    }

    pub async fn complete_digest(
        &self,
        date: NaiveDate,
        channel: &str,
        ts: &str,
        summary: &Value,
        sent_at: DateTime<Utc>,
    ) -> Result<(), RotationStoreError> {
        self
            .client
            .execute(
                "UPDATE rotation_digests SET sent_at = $2, channel = $3, slack_ts = $4, summary = $5
                  WHERE digest_date = $1",
                &[&date, &sent_at, &channel, &ts, summary],
            )
            .await?;
        Ok(())
    }

    /// Give the digest back after a failed send, so a rerun sends it.
    pub async fn release_digest(&self, date: NaiveDate) -> Result<(), RotationStoreError> {
        self.client
            .execute(
                "DELETE FROM rotation_digests WHERE digest_date = $1 AND sent_at IS NULL",
                &[&date],
            )
            .await?;
        Ok(())
    }
}

/// Load campaigns and consumers in one transaction. Consumers are matched on (campaign,
/// name, case-insensitively): known ones are updated, keeping their nudge history; a blank
/// status keeps the current one, an explicit status replaces it, and nothing an import says
/// undoes a confirmation (that takes a deliberate `UPDATE`). A consumer whose campaign is
/// neither in `campaigns` nor already stored is a row error, and nothing is written.
pub async fn import(
    client: &mut Client,
    origin: &str,
    campaigns: &[Campaign],
    consumers: &[Consumer],
    now: DateTime<Utc>,
) -> Result<ImportSummary, RotationStoreError> {
    let tx = client.transaction().await?;
    for c in campaigns {
        tx.execute(
            "INSERT INTO rotation_campaigns (campaign, retired_key, replacement_key, deadline, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (campaign) DO UPDATE SET retired_key = $2, replacement_key = $3,
                 deadline = $4, updated_at = $5",
            &[&c.campaign, &c.retired_key, &c.replacement_key, &c.deadline, &now],
        )
        .await?;
    }
    let known: HashSet<String> = tx
        .query("SELECT campaign FROM rotation_campaigns", &[])
        .await?
        .iter()
        .map(|r: &Row| r.get(0))
        .collect();
    let unknown: Vec<RowError> = consumers
        .iter()
        .enumerate()
        .filter(|(_, c)| !known.contains(&c.campaign))
        .map(|(i, c)| RowError {
            row: i + 1,
            line: None,
            field: "campaign".to_owned(),
            message: format!(
                "{:?} is not a known campaign: import it first (`rotation import --campaigns`)",
                c.campaign
            ),
        })
        .take(crate::rows::MAX_REPORTED_ERRORS)
        .collect();
    if !unknown.is_empty() {
        return Err(ImportError::Rows {
            path: origin.to_owned(),
            errors: unknown,
        }
        .into());
    }
    let mut summary = ImportSummary {
        campaigns: campaigns.len(),
        ..ImportSummary::default()
    };
    let upsert = tx
        .prepare(
            "INSERT INTO rotation_consumers AS c (campaign, name, team, channel, team_lead, deadline,
                 status, exempt_reason, exempt_until, confirmed_by, confirmed_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
             ON CONFLICT (campaign, lower(name)) DO UPDATE SET
                 name = $2, team = $3, channel = $4, team_lead = $5, deadline = $6,
                 status = CASE WHEN $13 AND c.status <> 'confirmed' THEN $7 ELSE c.status END,
                 exempt_reason = CASE WHEN $13 AND c.status <> 'confirmed' THEN $8 ELSE c.exempt_reason END,
                 exempt_until = CASE WHEN $13 AND c.status <> 'confirmed' THEN $9 ELSE c.exempt_until END,
                 confirmed_by = CASE WHEN $13 AND $7 = 'confirmed' AND c.status <> 'confirmed' THEN $10
                                     ELSE c.confirmed_by END,
                 confirmed_at = CASE WHEN $13 AND $7 = 'confirmed' AND c.status <> 'confirmed' THEN $11
                                     ELSE c.confirmed_at END,
                 updated_at = $12
             RETURNING (xmax = 0)",
        )
        .await?;
    for c in consumers {
        let explicit_status = c.status.is_some();
        let (status, reason, until) = match &c.status {
            None | Some(ConsumerStatus::Pending) => ("pending", None, None),
            Some(ConsumerStatus::Confirmed) => ("confirmed", None, None),
            Some(ConsumerStatus::Exempt { reason, until }) => {
                ("exempt", Some(reason.as_str()), *until)
            }
        };
        let (confirmed_by, confirmed_at) = if status == "confirmed" {
            (Some("import"), Some(now))
        } else {
            (None, None)
        };
        let inserted: bool = tx
            .query_one(
                &upsert,
                &[
                    &c.campaign,
                    &c.name,
                    &c.team,
                    &c.channel,
                    &c.team_lead,
                    &c.deadline,
                    &status,
                    &reason,
                    &until,
                    &confirmed_by,
                    &confirmed_at,
                    &now,
                    &explicit_status,
                ],
            )
            .await?
            .get(0);
        if inserted {
            summary.consumers_added += 1;
        } else {
            summary.consumers_updated += 1;
        }
    }
    tx.commit().await?;
    Ok(summary)
}
