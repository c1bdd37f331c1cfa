//! One sweep: read the outstanding consumers, post each owning team one nudge listing those
//! due, record every delivered nudge, then send the security lead the digest.
//!
//! At most one nudge per consumer per interval, whatever happens: each team's consumers are
//! claimed (re-checked and stamped) just before their message is sent, and the stamp counts as
//! a nudge until the interval has passed. The nudge itself is recorded (state `sending`, with its
//! consumers) before it is posted, so a sweep that dies between Slack's answer and the record
//! never nudges twice, still counts the nudge, and leaves a message whose clicks work; a message
//! Slack refused releases the claim so the next run tries again.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use chrono_tz::Tz;
use futures_util::{StreamExt, stream};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Mutex;

use super::bucket::{Bucket, Thresholds};
use super::digest::{DigestFacts, Undeliverable, render_digest};
use super::input::{InputError, SweepInput, check_as_of};
use super::message::{Escalation, LineState, MAX_LINES_PER_MESSAGE, NudgeLine, NudgeMessage};
use super::ports::RotationChat;
use super::store::{DigestClaim, Outstanding, RotationStore, RotationStoreError};
use crate::http;
use crate::invocation::{Summarised, Tally};
use crate::telemetry::{self, Metric, MetricsSink};

/// A send begun this long ago by a sweep that never recorded Slack's answer is settled as
/// delivered: Lambda stops every invocation within 15 minutes, so its sweep is gone.
pub const SETTLE_AFTER: chrono::Duration = chrono::Duration::minutes(15);

pub use super::WORKFLOW;

/// How the sweep behaves.
#[derive(Debug, Clone)]
pub struct SweepSettings {
    /// Days overdue and weekends are counted in this timezone.
    pub timezone: Tz,
    pub thresholds: Thresholds,
    /// A consumer is nudged at most once per interval.
    pub nudge_interval: chrono::Duration,
    /// Do nothing on Saturdays and Sundays (in `timezone`).
    pub skip_weekends: bool,
    /// Mentioned in critical nudges.
    pub security_lead: Option<String>,
    /// Where the digest goes: a channel id, or a user id for a direct message.
    pub digest_to: Option<String>,
    /// Consumers nudged this many times or more are listed in the digest.
    pub repeat_threshold: u32,
    /// Teams messaged at once.
    pub concurrency: usize,
    /// The least time between two messages to one channel (Slack allows about one a second).
    pub channel_spacing: Duration,
    /// Stop starting teams when less than this is left before the invocation deadline.
    pub deadline_margin: Duration,
}

impl Default for SweepSettings {
    fn default() -> Self {
        Self {
            timezone: Tz::UTC,
            thresholds: Thresholds::default(),
            nudge_interval: chrono::Duration::hours(20),
            skip_weekends: true,
            security_lead: None,
            digest_to: None,
            repeat_threshold: 3,
            concurrency: 4,
            channel_spacing: Duration::from_secs(1),
            deadline_margin: Duration::from_secs(20),
        }
    }
}

/// What happened to the digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DigestOutcome {
    Sent {
        channel: String,
        ts: String,
    },
    /// Today's digest went out in an earlier run.
    AlreadySent,
    /// Another sweep is sending it right now (or died doing so: a retry takes it over after
    /// two minutes).
    InProgress,
    NothingToReport,
    NotConfigured,
    /// Not sent; the next run tries again.
    Failed {
        error: String,
    },
}

impl DigestOutcome {
    /// What happened to today's digest, as the summary line logs it.
    pub fn as_str(&self) -> &'static str {
        match self {
            DigestOutcome::Sent { .. } => "sent",
            DigestOutcome::AlreadySent => "already_sent",
            DigestOutcome::InProgress => "in_progress",
            DigestOutcome::NothingToReport => "nothing_to_report",
            DigestOutcome::NotConfigured => "not_configured",
            DigestOutcome::Failed { .. } => "failed",
        }
    }
}

/// What one sweep did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub date: NaiveDate,
    /// Why nothing was done (a weekend), if so.
    pub skipped: Option<String>,
    pub outstanding: usize,
    pub snoozed: usize,
    /// Outstanding, awake and not nudged within the interval.
    pub due: usize,
    pub nudged: usize,
    pub messages: usize,
    pub undeliverable: Vec<Undeliverable>,
    /// Consumers left for the next run because the invocation ran out of time.
    pub deferred: usize,
    pub digest: DigestOutcome,
    pub total_ms: u64,
}

/// What the sweep needs.
pub struct SweepDeps<'a, C> {
    pub store: RotationStore<'a>,
    pub chat: &'a C,
    pub settings: &'a SweepSettings,
    pub metrics: MetricsSink,
    pub metrics_namespace: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Store(#[from] RotationStoreError),
    #[error(transparent)]
    Input(#[from] InputError),
}

/// Spaces messages to one channel.
struct Pacer {
    spacing: Duration,
    next_free: Mutex<HashMap<String, Instant>>,
}

impl Pacer {
    async fn wait_turn(&self, channel: &str) {
        let at = {
            let mut next = self.next_free.lock().await;
            let now = Instant::now();
            let at = next
                .get(channel)
                .copied()
                .filter(|t| *t > now)
                .unwrap_or(now);
            next.insert(channel.to_owned(), at + self.spacing);
            at
        };
        tokio::time::sleep_until(at.into()).await;
    }
}

/// One team's due consumers, as found before claiming.
struct TeamJob {
    team: String,
    channel: String,
    ids: Vec<i64>,
}

#[derive(Default)]
struct TeamResult {
    nudged: usize,
    messages: usize,
    undeliverable: Option<Undeliverable>,
    deferred: usize,
}

/// The local date and whether the sweep should act on it.
pub fn local_day(now: DateTime<Utc>, settings: &SweepSettings) -> (NaiveDate, Option<String>) {
    day_of(now.with_timezone(&settings.timezone).date_naive(), settings)
}

/// Whether the sweep should act on `today`.
fn day_of(today: NaiveDate, settings: &SweepSettings) -> (NaiveDate, Option<String>) {
    let weekend = matches!(today.weekday(), Weekday::Sat | Weekday::Sun);
    let skipped = (settings.skip_weekends && weekend).then(|| {
        format!(
            "{} is a {} in {}: weekends are skipped",
            today,
            today.weekday(),
            settings.timezone
        )
    });
    (today, skipped)
}

/// Run one sweep as of `now`.
pub async fn run_sweep<C: RotationChat>(
    deps: &SweepDeps<'_, C>,
    now: DateTime<Utc>,
) -> Result<SweepReport, SweepError> {
    run_sweep_as_of(deps, now, None).await
}

/// Run the sweep an invocation's input asks for (see [`SweepInput`]): today's, or a replayed
/// day's. An input that cannot be honoured is refused before anything is read or sent.
pub async fn run_for_input<C: RotationChat>(
    deps: &SweepDeps<'_, C>,
    now: DateTime<Utc>,
    input: &Value,
) -> Result<SweepReport, SweepError> {
    let (today, _) = local_day(now, deps.settings);
    let parsed = SweepInput::parse(input, today).inspect_err(|e| {
        tracing::error!(error = %e, "rotation sweep input refused");
    })?;
    tracing::info!(
        as_of = %parsed.as_of.unwrap_or(today),
        replay = parsed.as_of.is_some_and(|d| d != today),
        "rotation sweep input accepted"
    );
    run_sweep_as_of(deps, now, parsed.as_of).await
}

/// Run one sweep at `now`, for the local day `as_of` when an operator replays a missed one
/// (today when `None`). Days overdue, tones, the weekend rule and the digest's date follow the
/// replayed day; the nudge interval stays in real time, so a replay never nudges anyone sooner
/// than a normal sweep would. `as_of` must be today or one of the
/// [`MAX_REPLAY_DAYS`](super::input::MAX_REPLAY_DAYS) before; otherwise nothing is done.
#[tracing::instrument(skip_all, fields(now = %now))]
pub async fn run_sweep_as_of<C: RotationChat>(
    deps: &SweepDeps<'_, C>,
    now: DateTime<Utc>,
    as_of: Option<NaiveDate>,
) -> Result<SweepReport, SweepError> {
    let started = Instant::now();
    let settings = deps.settings;
    let (actual, _) = local_day(now, settings);
    check_as_of(as_of, actual)?;
    if let Some(day) = as_of.filter(|d| *d != actual) {
        tracing::info!(as_of = %day, today = %actual, "replaying a missed day");
    }
    let (today, skipped) = day_of(as_of.unwrap_or(actual), settings);
    let mut report = SweepReport {
        date: today,
        skipped: skipped.clone(),
        outstanding: 0,
        snoozed: 0,
        due: 0,
        nudged: 0,
        messages: 0,
        undeliverable: Vec::new(),
        deferred: 0,
        digest: DigestOutcome::NothingToReport,
        total_ms: 0,
    };
    if let Some(why) = skipped {
        tracing::info!(%why, "sweep skipped");
        // Still a run: the metrics show the schedule fired.
        summarise(deps, &report);
        return Ok(report);
    }
    // Sends a dead sweep began long enough ago count as nudges from now on (see
    // `RotationStore::settle_unfinished`); no invocation lives longer than `SETTLE_AFTER`.
    let settled = deps.store.settle_unfinished(now - SETTLE_AFTER).await?;
    if settled > 0 {
        tracing::warn!(
            settled,
            "nudges whose sweep died before Slack's answer was recorded are counted as delivered"
        );
    }
    let cutoff = now - settings.nudge_interval;
    let outstanding = deps.store.outstanding(today, cutoff).await?;
    report.outstanding = outstanding.len();
    report.snoozed = outstanding
        .iter()
        .filter(|c| c.snoozed_until.is_some())
        .count();
    let (jobs, no_channel) = plan(&outstanding);
    report.due = jobs.iter().map(|j| j.ids.len()).sum::<usize>()
        + no_channel.iter().map(|u| u.consumers).sum::<usize>();
    report.undeliverable.extend(no_channel);
    tracing::info!(
        outstanding = report.outstanding,
        due = report.due,
        teams = jobs.len(),
        "sweep planned"
    );
    let pacer = Pacer {
        spacing: settings.channel_spacing,
        next_free: Mutex::new(HashMap::new()),
    };
    let results: Vec<Result<TeamResult, SweepError>> = stream::iter(jobs)
        .map(|job| nudge_team(deps, &pacer, job, today, cutoff, now))
        .buffer_unordered(settings.concurrency.max(1))
        .collect()
        .await;
    for result in results {
        let r = result?;
        report.nudged += r.nudged;
        report.messages += r.messages;
        report.deferred += r.deferred;
        report.undeliverable.extend(r.undeliverable);
    }
    report.undeliverable.sort_by(|a, b| a.team.cmp(&b.team));
    report.digest = send_digest(deps, &report, today, now).await?;
    report.total_ms = started.elapsed().as_millis() as u64;
    summarise(deps, &report);
    Ok(report)
}

/// Group the due, awake consumers by (team, channel); a team without a channel is
/// undeliverable as it stands.
fn plan(outstanding: &[Outstanding]) -> (Vec<TeamJob>, Vec<Undeliverable>) {
    let mut groups: BTreeMap<(&str, Option<&str>), Vec<i64>> = BTreeMap::new();
    for c in outstanding
        .iter()
        .filter(|c| c.due && c.snoozed_until.is_none())
    {
        groups
            .entry((c.team.as_str(), c.channel.as_deref()))
            .or_default()
            .push(c.consumer_id);
    }
    let mut jobs = Vec::new();
    let mut undeliverable = Vec::new();
    for ((team, channel), ids) in groups {
        match channel {
            Some(channel) => jobs.push(TeamJob {
                team: team.to_owned(),
                channel: channel.to_owned(),
                ids,
            }),
            None => undeliverable.push(Undeliverable {
                team: team.to_owned(),
                channel: None,
                reason: "no channel on record".to_owned(),
                consumers: ids.len(),
            }),
        }
    }
    (jobs, undeliverable)
}

async fn nudge_team<C: RotationChat>(
    deps: &SweepDeps<'_, C>,
    pacer: &Pacer,
    job: TeamJob,
    today: NaiveDate,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<TeamResult, SweepError> {
    let settings = deps.settings;
    let mut result = TeamResult::default();
    if http::out_of_time(settings.deadline_margin) {
        result.deferred = job.ids.len();
        return Ok(result);
    }
    let claimed = deps.store.claim(&job.ids, today, cutoff, now).await?;
    if claimed.is_empty() {
        return Ok(result);
    }
    let escalation = Escalation {
        team_lead: claimed.iter().find_map(|c| c.team_lead.clone()),
        security_lead: settings.security_lead.clone(),
    };
    let lines: Vec<NudgeLine> = claimed
        .iter()
        .map(|c| NudgeLine {
            consumer_ref: c.consumer_id.to_string(),
            name: c.name.clone(),
            retired_key: c.retired_key.clone(),
            deadline: c.deadline,
            days_overdue: c.days_overdue,
            nudges_so_far: c.nudge_count,
            bucket: settings
                .thresholds
                .bucket(c.days_overdue)
                .unwrap_or(Bucket::Gentle),
            state: LineState::Open,
        })
        .collect();
    // Every part speaks in the tone of the team's latest consumer (and mentions whom it calls
    // for), not only the part that happens to list it.
    let tone = lines
        .iter()
        .map(|l| l.bucket)
        .max()
        .unwrap_or(Bucket::Gentle);
    let parts: Vec<&[NudgeLine]> = lines.chunks(MAX_LINES_PER_MESSAGE).collect();
    let of = parts.len();
    for (index, chunk) in parts.iter().enumerate() {
        let ids: Vec<i64> = claimed[index * MAX_LINES_PER_MESSAGE..][..chunk.len()]
            .iter()
            .map(|c| c.consumer_id)
            .collect();
        let rest: Vec<i64> = claimed[index * MAX_LINES_PER_MESSAGE..]
            .iter()
            .map(|c| c.consumer_id)
            .collect();
        if index > 0 && http::out_of_time(settings.deadline_margin) {
            deps.store.release(&rest, now).await?;
            result.deferred += rest.len();
            break;
        }
        let mut message = NudgeMessage {
            team: job.team.clone(),
            lines: chunk.to_vec(),
            escalation: escalation.clone(),
            part: (of > 1).then_some((index + 1, of)),
            tone: Some(tone),
            nudge_id: None,
        };
        // Recorded before it is sent: if this sweep dies once Slack has the message, a click
        // on it still finds it (its buttons name the row) and the next sweep counts it.
        let nudge_id = deps
            .store
            .begin_nudge(&job.channel, &message, &ids, now)
            .await?;
        message.nudge_id = Some(nudge_id);
        let (text, blocks) = message.render();
        pacer.wait_turn(&job.channel).await;
        match deps.chat.post(&job.channel, &text, &blocks).await {
            Ok(posted) => {
                deps.store
                    .mark_sent(nudge_id, &posted.channel, &posted.ts, Some(now))
                    .await?;
                result.nudged += ids.len();
                result.messages += 1;
            }
            Err(e) => {
                tracing::warn!(team = %job.team, channel = %job.channel, error = %e.message, "nudge not delivered; retried next run");
                deps.store.abandon_nudge(nudge_id, &rest, now).await?;
                result.undeliverable = Some(Undeliverable {
                    team: job.team.clone(),
                    channel: Some(job.channel.clone()),
                    reason: e.message.chars().take(120).collect(),
                    consumers: rest.len(),
                });
                break;
            }
        }
    }
    Ok(result)
}

async fn send_digest<C: RotationChat>(
    deps: &SweepDeps<'_, C>,
    report: &SweepReport,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<DigestOutcome, SweepError> {
    let settings = deps.settings;
    let Some(target) = settings.digest_to.as_deref() else {
        return Ok(DigestOutcome::NotConfigured);
    };
    // Claimed first, so a rerun after today's digest does not read every consumer again.
    // The claim's age is real time (the sweep's `now` is when it started): a sweep that died
    // holding it is taken over by the invocation's retry two minutes on.
    let claimed_at = Utc::now();
    match deps
        .store
        .claim_digest(today, claimed_at, claimed_at - chrono::Duration::minutes(2))
        .await?
    {
        DigestClaim::Claimed => {}
        DigestClaim::AlreadySent => return Ok(DigestOutcome::AlreadySent),
        DigestClaim::InProgress => return Ok(DigestOutcome::InProgress),
    }
    // Read again: the nudge counts have just moved.
    let outstanding = deps
        .store
        .outstanding(today, now - settings.nudge_interval)
        .await?;
    let since = deps.store.last_digest_sent(today).await?;
    let confirmations = deps.store.confirmations_since(since).await?;
    let facts = DigestFacts {
        date: today,
        timezone: settings.timezone,
        deferred: report.deferred,
        thresholds: settings.thresholds,
        outstanding: &outstanding,
        confirmations: &confirmations,
        undeliverable: &report.undeliverable,
        repeat_threshold: settings.repeat_threshold,
    };
    if facts.is_empty() {
        deps.store.release_digest(today).await?;
        return Ok(DigestOutcome::NothingToReport);
    }
    let (text, blocks, summary) = render_digest(&facts);
    match deps.chat.post(target, &text, &blocks).await {
        Ok(posted) => {
            deps.store
                .complete_digest(today, &posted.channel, &posted.ts, &summary, now)
                .await?;
            Ok(DigestOutcome::Sent {
                channel: posted.channel,
                ts: posted.ts,
            })
        }
        Err(e) => {
            // Slack's own words, as the report and the function's error have always shown them.
            tracing::error!(error = %e.message, "digest not delivered; the next run tries again");
            deps.store.release_digest(today).await?;
            Ok(DigestOutcome::Failed { error: e.message })
        }
    }
}

fn summarise<C>(deps: &SweepDeps<'_, C>, r: &SweepReport) {
    tracing::info!(
        date = %r.date,
        outstanding = r.outstanding,
        snoozed = r.snoozed,
        due = r.due,
        nudged = r.nudged,
        messages = r.messages,
        undeliverable_teams = r.undeliverable.len(),
        deferred = r.deferred,
        digest = r.digest.as_str(),
        digest_error = match &r.digest {
            DigestOutcome::Failed { error } => Some(error.as_str()),
            _ => None,
        },
        total_ms = r.total_ms,
        "rotation sweep summary"
    );
    telemetry::emit(deps.metrics, &emf(deps.metrics_namespace, r));
}

/// The sweep's EMF line: runs, consumers outstanding (flagged), nudges sent, nudge failures
/// (teams whose message could not go out), consumers pending (due but not nudged: retried next
/// run), duration; plus consumers nudged and undeliverable, deferrals and digest failures.
pub fn emf(namespace: &str, r: &SweepReport) -> Value {
    let undelivered: usize = r.undeliverable.iter().map(|u| u.consumers).sum();
    telemetry::emf_line(
        namespace,
        WORKFLOW,
        &[
            Metric::count("Runs", 1),
            Metric::count("ConsumersOutstanding", r.outstanding as u64),
            Metric::count("ConsumersNudged", r.nudged as u64),
            Metric::count("NudgesSent", r.messages as u64),
            Metric::count("NudgeFailures", r.undeliverable.len() as u64),
            Metric::count("Undeliverable", undelivered as u64),
            Metric::count("Deferred", r.deferred as u64),
            Metric::count("ConsumersPending", r.due.saturating_sub(r.nudged) as u64),
            Metric::count("DigestFailures", u64::from(r.digest_failed())),
            Metric::millis("Duration", u128::from(r.total_ms)),
        ],
        &[],
    )
}

impl SweepReport {
    fn digest_failed(&self) -> bool {
        matches!(self.digest, DigestOutcome::Failed { .. })
    }
}

impl Summarised for SweepReport {
    fn tally(&self) -> Tally {
        Tally {
            flagged: self.outstanding as u64,
            side_effects: self.messages as u64,
            failures: self.undeliverable.len() as u64 + u64::from(self.digest_failed()),
            pending: self.due.saturating_sub(self.nudged) as u64,
        }
    }
}

#[cfg(test)]
mod metric_tests {
    use super::*;
    use crate::telemetry::assert_six_categories;

    #[test]
    fn the_sweep_metrics_cover_the_six_categories() {
        let report = SweepReport {
            date: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
            skipped: None,
            outstanding: 9,
            snoozed: 1,
            due: 7,
            nudged: 4,
            messages: 2,
            undeliverable: vec![Undeliverable {
                team: "payments".to_owned(),
                channel: Some("C1".to_owned()),
                reason: "channel_not_found".to_owned(),
                consumers: 3,
            }],
            deferred: 0,
            digest: DigestOutcome::Failed {
                error: "timeout".to_owned(),
            },
            total_ms: 70,
        };
        let line = emf("SecOps/Workflows", &report);
        assert_six_categories(
            &line,
            WORKFLOW,
            [
                "Runs",
                "ConsumersOutstanding",
                "NudgesSent",
                "NudgeFailures",
                "ConsumersPending",
                "Duration",
            ],
        );
        assert_eq!(line["ConsumersPending"], 3.0);
        assert_eq!(line["Undeliverable"], 3.0);
        assert_eq!(line["DigestFailures"], 1.0);
        assert_eq!(report.tally().failures, 2, "one team and the digest");
    }
}
