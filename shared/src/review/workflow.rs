//! The scheduled review run: read new privileged grants since the checkpoint, score them, record
//! them with their first side effect and the new checkpoint (one transaction), then drain the
//! outbox: post cards, write review events.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::card;
use super::event::PrivilegedGrant;
use super::history::{self, HistoryIndex};
use super::ports::{AuditLog, AuditSource, DecisionWebhook, ReviewChat};
use super::quarantine::{self, Unreadable};
use super::risk::{self, Assessment, Features, RiskConfig, RiskLevel};
use super::source::GrantSource;
use super::store::{
    CardMessage, NewReview, NewTask, ReviewStatus, ReviewStore, ReviewStoreError, Task, TaskKind,
};
use crate::connectors::llm::{JsonRequest, StructuredLlm};
use crate::http;
use crate::invocation::{Summarised, Tally};
use crate::ports::PortError;
use crate::review::risk_scoring as prompt;
use crate::telemetry::{self, Metric, MetricsSink};

/// Settings of the review workflow.
#[derive(Debug, Clone)]
pub struct ReviewSettings {
    pub source: GrantSource,
    pub risk: RiskConfig,
    /// Events can reach Axiom this long after their time: each run re-reads this far behind
    /// the checkpoint (deduplicated by event id), so late events are still reviewed.
    pub ingest_lag: chrono::Duration,
    /// Once a checkpoint exists, each run also re-reads this far behind it (deduplicated by
    /// event id), so an event that reached Axiom later than `ingest_lag` is still reviewed,
    /// and reported as late (decision 019).
    pub late_window: chrono::Duration,
    /// The newest events are left for the next run, so a window never ends at a moving edge.
    pub query_delay: chrono::Duration,
    /// How far back the very first run reads.
    pub initial_lookback: chrono::Duration,
    /// How much earlier history the features draw on.
    pub history: chrono::Duration,
    pub review_channel: String,
    pub llm_concurrency: usize,
    pub max_tasks_per_run: i64,
    /// `REVIEW_DOMAIN_ALIASES`: domains that are one organisation (identity map look-ups).
    pub domain_aliases: super::identity::DomainAliases,
}

pub struct ReviewDeps<'a, A, L, C, M, W> {
    pub store: &'a ReviewStore,
    pub source: &'a A,
    pub log: &'a L,
    pub chat: &'a C,
    pub llm: Option<&'a M>,
    pub webhook: Option<&'a W>,
    pub settings: &'a ReviewSettings,
    pub deadline_margin: Duration,
    pub metrics: MetricsSink,
    pub metrics_namespace: &'a str,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewReport {
    pub window_start: Option<DateTime<Utc>>,
    pub window_end: Option<DateTime<Utc>>,
    pub events_read: usize,
    pub already_reviewed: usize,
    pub reviewed: usize,
    pub auto_resolved: usize,
    pub sent_for_review: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub model_fallbacks: usize,
    /// Events reviewed this run that arrived later than `REVIEW_INGEST_LAG_MINUTES` allows.
    #[serde(default)]
    pub late_events: usize,
    /// Events matching the filter that could not be read, first seen this run: quarantined
    /// and reported to the review channel, the others reviewed as usual.
    #[serde(default)]
    pub unreadable_events: usize,
    /// Unreadable events reported to the review channel this run.
    #[serde(default)]
    pub unreadable_reported: usize,
    /// History rows (earlier grants) that could not be read, left out of the features.
    #[serde(default)]
    pub history_unreadable: usize,
    pub tasks_done: usize,
    pub tasks_failed: Vec<String>,
    /// Webhook deliveries given up this run (refused by the receiver too often).
    #[serde(default)]
    pub tasks_given_up: Vec<String>,
    pub pending: u64,
    pub total_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("reading the audit source failed: {0}; the checkpoint did not move")]
    Source(PortError),
    #[error(transparent)]
    Store(#[from] ReviewStoreError),
}

/// The structured event written to the audit store for every decision.
pub fn review_event(
    review_id: Uuid,
    grant: &PrivilegedGrant,
    assessment: &Assessment,
    decision: &str,
    reviewer: &str,
    decided_at: DateTime<Utc>,
    note: &str,
) -> Value {
    json!({
        "_time": decided_at.to_rfc3339(),
        "type": "privileged_grant_review",
        // Stable across redeliveries: Axiom's ingest is not idempotent, so a reply lost after
        // Axiom stored the event means it is sent again; consumers dedupe on this id.
        "review_event_id": format!("{review_id}:{decision}"),
        "review_id": review_id.to_string(),
        "event_id": grant.event_id,
        "decision": decision,
        "reviewer": reviewer,
        "decided_at": decided_at.to_rfc3339(),
        "note": note,
        "level": assessment.level.as_str(),
        "score": assessment.score,
        "reasons": assessment.reasons,
        "model": assessment.model,
        "prompt_hash": assessment.prompt_hash,
        "grantor": grant.grantor,
        "grantee": grant.grantee,
        "role": grant.role,
        "target": grant.target,
        "source": grant.source,
    })
}

/// One scheduled run.
#[tracing::instrument(skip_all)]
pub async fn run_review<A, L, C, M, W>(
    deps: &ReviewDeps<'_, A, L, C, M, W>,
    now: DateTime<Utc>,
) -> Result<ReviewReport, ReviewError>
where
    A: AuditSource,
    L: AuditLog,
    C: ReviewChat,
    M: StructuredLlm,
    W: DecisionWebhook,
{
    let started = Instant::now();
    let s = deps.settings;
    let dataset = s.source.dataset.clone();
    let mut report = ReviewReport::default();
    let stored_checkpoint = deps.store.checkpoint(&dataset).await?;
    let checkpoint = stored_checkpoint.unwrap_or(now - s.initial_lookback);
    // Events dated before this were expected in an earlier run: one found now arrived late.
    let late_before = stored_checkpoint.map(|c| c - s.ingest_lag);
    let reread = match stored_checkpoint {
        Some(_) => s.ingest_lag.max(s.late_window),
        None => s.ingest_lag,
    };
    let (start, end) = (checkpoint - reread, now - s.query_delay);
    if end > start {
        report.window_start = Some(start);
        report.window_end = Some(end);
        let apl = s.source.apl();
        let rows = deps
            .source
            .rows_between(&apl, start, end)
            .await
            .map_err(ReviewError::Source)?;
        report.events_read = rows.len();
        let mut seen = HashSet::new();
        let mut batch = Vec::new();
        let mut unreadable = Vec::new();
        for row in &rows {
            // One unreadable event must not stop the review of the others (nor hold the
            // checkpoint): it is kept aside and reported.
            match s.source.mapping.apply(row) {
                Ok(grant) => {
                    if seen.insert(grant.event_id.clone()) {
                        batch.push(grant);
                    }
                }
                Err(e) => unreadable.push(Unreadable::new(&dataset, row, &e)),
            }
        }
        report.unreadable_events = quarantine::record(deps.store, &unreadable, now).await?;
        let ids: Vec<String> = batch.iter().map(|g| g.event_id.clone()).collect();
        let known = deps.store.known_events(&ids).await?;
        report.already_reviewed = known.len();
        batch.retain(|g| !known.contains(&g.event_id));
        report.late_events = report_late_events(&batch, late_before, now);

        let (reviews, tasks) = if batch.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let history = history_for(deps, &batch, start, &mut report).await?;
            let self_grants = mapped_self_grants(deps.store, &batch, &s.domain_aliases).await?;
            assess_batch(deps, &batch, &history, &self_grants, now, &mut report).await
        };
        report.reviewed = deps
            .store
            .record_batch(&dataset, &reviews, &tasks, end, now)
            .await?;
    }
    let (reported, report_failures) =
        quarantine::report(deps.store, deps.chat, &s.review_channel, now).await?;
    report.unreadable_reported = reported;
    let drained = Outbox {
        store: deps.store,
        log: deps.log,
        chat: deps.chat,
        webhook: deps.webhook,
        max_tasks: s.max_tasks_per_run,
        deadline_margin: deps.deadline_margin,
    }
    .drain()
    .await?;
    report.tasks_done = drained.done;
    report.tasks_failed = drained.failed;
    report.tasks_failed.extend(report_failures);
    report.tasks_given_up = drained.given_up;
    report.pending = deps.store.pending_count().await?;
    report.total_ms = started.elapsed().as_millis() as u64;
    summarise(deps, &report);
    Ok(report)
}

/// Count (and log, one WARN line each) the new events dated before `late_before`: they
/// reached Axiom later than the ingest lag allows, and only the late window caught them.
fn report_late_events(
    batch: &[PrivilegedGrant],
    late_before: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> usize {
    let Some(late_before) = late_before else {
        return 0;
    };
    let late: Vec<&PrivilegedGrant> = batch.iter().filter(|g| g.time < late_before).collect();
    for grant in &late {
        tracing::warn!(
            event_id = %crate::text::excerpt(&grant.event_id),
            event_time = %grant.time.to_rfc3339(),
            minutes_old = (now - grant.time).num_minutes(),
            "a privileged grant event arrived later than REVIEW_INGEST_LAG_MINUTES; reviewed now"
        );
    }
    late.len()
}

/// Earlier grants (one query for the whole batch) and earlier decisions.
async fn history_for<A, L, C, M, W>(
    deps: &ReviewDeps<'_, A, L, C, M, W>,
    batch: &[PrivilegedGrant],
    window_start: DateTime<Utc>,
    report: &mut ReviewReport,
) -> Result<HistoryIndex, ReviewError>
where
    A: AuditSource,
{
    let s = deps.settings;
    let rows = deps
        .source
        .rows_between(&s.source.apl(), window_start - s.history, window_start)
        .await
        .map_err(ReviewError::Source)?;
    // History only shapes the features: an unreadable earlier event is skipped and counted
    // (it was quarantined, or will be, when its own window was read).
    let earlier: Vec<PrivilegedGrant> = rows
        .iter()
        .filter_map(|r| s.source.mapping.apply(r).ok())
        .collect();
    report.history_unreadable = rows.len() - earlier.len();
    if report.history_unreadable > 0 {
        tracing::warn!(
            skipped = report.history_unreadable,
            "history rows that could not be read were left out of the features"
        );
    }
    let grantees: Vec<String> = batch.iter().map(|g| g.grantee.clone()).collect();
    let decisions = deps.store.decision_counts(&grantees).await?;
    Ok(HistoryIndex::from_grants(&earlier).with_decisions(decisions))
}

/// The event ids of grants whose grantor and grantee the team's identity map makes one person
/// (beyond what their text shows).
async fn mapped_self_grants(
    store: &ReviewStore,
    batch: &[PrivilegedGrant],
    aliases: &super::identity::DomainAliases,
) -> Result<HashSet<String>, ReviewStoreError> {
    let mut out = HashSet::new();
    for grant in batch {
        if super::identity_map::same_person(store, &grant.grantor, &grant.grantee, aliases).await? {
            out.insert(grant.event_id.clone());
        }
    }
    Ok(out)
}

/// Score every grant (model calls a few at a time) and build the reviews and first tasks.
async fn assess_batch<A, L, C, M, W>(
    deps: &ReviewDeps<'_, A, L, C, M, W>,
    batch: &[PrivilegedGrant],
    history: &HistoryIndex,
    self_grants: &HashSet<String>,
    now: DateTime<Utc>,
    report: &mut ReviewReport,
) -> (Vec<NewReview>, Vec<NewTask>)
where
    M: StructuredLlm,
{
    let s = deps.settings;
    let per_grantor = history::grants_per_grantor(batch);
    let jobs = batch.iter().map(|grant| {
        let mut features = risk::features(
            grant,
            &history.history_for(grant),
            history::grantor_count(&per_grantor, grant),
            &s.risk,
        );
        features.self_grant |= self_grants.contains(&grant.event_id);
        async move {
            let verdict = ask_model(deps.llm, grant, &features, deps.deadline_margin).await;
            let assessment = risk::assess(&features, verdict, &prompt::PROMPT_HASH);
            (grant, features, assessment)
        }
    });
    let assessed: Vec<(&PrivilegedGrant, Features, Assessment)> = stream::iter(jobs)
        .buffered(s.llm_concurrency.max(1))
        .collect()
        .await;

    let mut reviews = Vec::with_capacity(assessed.len());
    let mut tasks = Vec::with_capacity(assessed.len());
    for (grant, features, assessment) in assessed {
        let review_id = Uuid::new_v4();
        match assessment.level {
            RiskLevel::Low => report.low += 1,
            RiskLevel::Medium => report.medium += 1,
            RiskLevel::High => report.high += 1,
        }
        if assessment.model.is_none() {
            report.model_fallbacks += 1;
        }
        let status = if assessment.auto_resolves() {
            report.auto_resolved += 1;
            let note = format!(
                "auto-resolved: low risk (score {}) by rules and model",
                assessment.score
            );
            tasks.push(NewTask {
                review_id,
                kind: TaskKind::AxiomEvent,
                dedupe_key: format!("{review_id}:axiom_event:auto_resolved"),
                payload: review_event(
                    review_id,
                    grant,
                    &assessment,
                    "auto_resolved",
                    "auto",
                    now,
                    &note,
                ),
            });
            tracing::info!(event_id = %grant.event_id, grantee = %grant.grantee, role = %grant.role, %note);
            ReviewStatus::AutoResolved
        } else {
            report.sent_for_review += 1;
            tasks.push(NewTask {
                review_id,
                kind: TaskKind::SlackCard,
                dedupe_key: format!("{review_id}:slack_card"),
                payload: CardMessage {
                    channel: s.review_channel.clone(),
                    ts: None,
                    text: card::card_text(grant, &assessment),
                    blocks: card::review_card(review_id, grant, &features, &assessment),
                }
                .to_payload(),
            });
            ReviewStatus::AwaitingReview
        };
        reviews.push(NewReview {
            review_id,
            grant: grant.clone(),
            features,
            assessment,
            status,
        });
    }
    (reviews, tasks)
}

async fn ask_model<M: StructuredLlm>(
    llm: Option<&M>,
    grant: &PrivilegedGrant,
    features: &Features,
    margin: Duration,
) -> Result<(risk::ModelVerdict, String), String> {
    let Some(llm) = llm else {
        return Err("no model configured".to_owned());
    };
    if http::out_of_time(margin) {
        return Err("no time left for the model".to_owned());
    }
    let user = prompt::user_message(grant, features);
    let request = JsonRequest {
        system: prompt::SYSTEM_PROMPT,
        user: &user,
        schema_name: prompt::SCHEMA_NAME,
        schema: &prompt::SCHEMA,
        max_output_tokens: 400,
    };
    let raw = llm
        .complete_json(&request)
        .await
        .map_err(|e| e.to_string())?;
    let verdict = prompt::validate(&raw).map_err(|e| format!("invalid answer: {e}"))?;
    Ok((verdict, llm.model().to_owned()))
}

/// How long a drain owns the tasks it took: longer than any function runs (the review run's
/// timeout is 5 minutes), so only a drain that died loses its tasks, for this long.
const TASK_LEASE: Duration = Duration::from_secs(6 * 60);

/// The outbox drain: performs pending side effects; failures stay pending for the next run
/// (or the decision worker). Used by the scheduled run and by the worker alike.
pub struct Outbox<'a, L, C, W> {
    pub store: &'a ReviewStore,
    pub log: &'a L,
    pub chat: &'a C,
    pub webhook: Option<&'a W>,
    pub max_tasks: i64,
    pub deadline_margin: Duration,
}

/// What one drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainReport {
    pub done: usize,
    pub failed: Vec<String>,
    /// Webhook deliveries given up: refused by the receiver [`MAX_WEBHOOK_REFUSALS`] times.
    #[serde(default)]
    pub given_up: Vec<String>,
    /// Follow-ups still pending afterwards (counted by the review worker; 0 where not).
    #[serde(default)]
    pub pending: u64,
}

impl<L: AuditLog, C: ReviewChat, W: DecisionWebhook> Outbox<'_, L, C, W> {
    pub async fn drain(&self) -> Result<DrainReport, ReviewStoreError> {
        let mut report = DrainReport::default();
        let tasks = self.store.claim_tasks(self.max_tasks, TASK_LEASE).await?;
        for (i, task) in tasks.iter().enumerate() {
            if http::out_of_time(self.deadline_margin) {
                // Give the rest back now rather than when the lease runs out.
                let rest: Vec<i64> = tasks[i..].iter().map(|t| t.task_id).collect();
                self.store.release_tasks(&rest).await?;
                break;
            }
            let task = task.clone();
            match self.perform(&task).await {
                Ok(posted) => {
                    let posted = posted.as_ref().map(|p| (p.channel.as_str(), p.ts.as_str()));
                    self.store.complete_task(&task, posted, Utc::now()).await?;
                    report.done += 1;
                }
                // `attempts` counts this one (it is counted when claimed).
                Err(e)
                    if e.is_permanent()
                        && task.kind.gives_up_when_refused()
                        && task.attempts >= MAX_WEBHOOK_REFUSALS =>
                {
                    let message = e.to_string();
                    tracing::error!(
                        task = task.task_id,
                        review = %task.review_id,
                        attempts = task.attempts,
                        error = %message,
                        "the webhook receiver keeps refusing this delivery; given up (see privileged_review_outbox)"
                    );
                    self.store.give_up_task(&task, &message).await?;
                    report
                        .given_up
                        .push(format!("{} {}: {message}", task.kind, task.review_id));
                }
                Err(e) => {
                    let message = e.to_string();
                    tracing::warn!(task = task.task_id, kind = %task.kind, error = %message, "review side effect failed; it stays pending");
                    self.store.fail_task(&task, &message).await?;
                    report
                        .failed
                        .push(format!("{} {}: {message}", task.kind, task.review_id));
                }
            }
        }
        Ok(report)
    }

    /// One side effect. A posted card (or its escalation re-post) is remembered with the
    /// review, so later decisions update the card people see.
    async fn perform(&self, task: &Task) -> Result<Option<crate::ports::Posted>, PortError> {
        let p = &task.payload;
        match task.kind {
            TaskKind::AxiomEvent => self.log.record(std::slice::from_ref(p)).await.map(|_| None),
            TaskKind::SlackCard | TaskKind::EscalationPost => {
                let card = card_message(p)?;
                self.chat
                    .post(&card.channel, &card.text, &card.blocks)
                    .await
                    .map(Some)
            }
            TaskKind::CardUpdate => {
                let card = card_message(p)?;
                let ts = card.ts.as_deref().ok_or_else(|| {
                    PortError::transient("outbox", "card update task has no `ts`".to_owned())
                })?;
                self.chat
                    .update(&card.channel, ts, &card.text, &card.blocks)
                    .await
                    .map(|_| None)
            }
            TaskKind::Webhook => {
                let webhook = self.webhook.ok_or_else(|| {
                    PortError::transient(
                        "webhook",
                        "no webhook is configured in this function".to_owned(),
                    )
                })?;
                // Stable across retries: the receiver dedupes on it.
                let delivery_id = format!("{}-{}", task.review_id, task.task_id);
                webhook.deliver(&delivery_id, p).await.map(|_| None)
            }
        }
    }
}

/// Attempts of one webhook delivery after which a refusal (4xx) gives it up: a receiver's
/// answer, unlike an outage, does not change by itself, but a fix on its side within a few
/// runs is let in. Attempts that died (counted when claimed) count too.
pub const MAX_WEBHOOK_REFUSALS: i32 = 3;

fn card_message(payload: &Value) -> Result<CardMessage, PortError> {
    CardMessage::from_payload(payload).map_err(|message| PortError::transient("outbox", message))
}

fn summarise<A, L, C, M, W>(deps: &ReviewDeps<'_, A, L, C, M, W>, r: &ReviewReport) {
    tracing::info!(
        window_start = r.window_start.map(|t| t.to_rfc3339()).as_deref(),
        window_end = r.window_end.map(|t| t.to_rfc3339()).as_deref(),
        events_read = r.events_read,
        already_reviewed = r.already_reviewed,
        reviewed = r.reviewed,
        auto_resolved = r.auto_resolved,
        sent_for_review = r.sent_for_review,
        high = r.high,
        medium = r.medium,
        low = r.low,
        model_fallbacks = r.model_fallbacks,
        late_events = r.late_events,
        unreadable_events = r.unreadable_events,
        unreadable_reported = r.unreadable_reported,
        history_unreadable = r.history_unreadable,
        tasks_done = r.tasks_done,
        tasks_failed = r.tasks_failed.len(),
        pending = r.pending,
        total_ms = r.total_ms,
        "review run summary"
    );
    telemetry::emit(deps.metrics, &emf(deps.metrics_namespace, r));
}

/// The scheduled run's EMF line: runs, grants sent for review (flagged), side effects done and
/// failed, side effects pending, duration (plus grants reviewed, auto-resolved, model fallbacks).
pub fn emf(namespace: &str, r: &ReviewReport) -> Value {
    let t = r.tally();
    telemetry::emf_line(
        namespace,
        WORKFLOW,
        &[
            Metric::count("Runs", 1),
            Metric::count("GrantsReviewed", r.reviewed as u64),
            Metric::count("AutoResolved", r.auto_resolved as u64),
            Metric::count("SentForReview", t.flagged),
            Metric::count("ModelFallbacks", r.model_fallbacks as u64),
            Metric::count("LateEvents", r.late_events as u64),
            Metric::count("UnreadableEvents", r.unreadable_events as u64),
            Metric::count("SideEffectsDone", t.side_effects),
            Metric::count("SideEffectFailures", t.failures),
            Metric::count("WebhooksGivenUp", r.tasks_given_up.len() as u64),
            Metric::count("SideEffectsPending", t.pending),
            Metric::millis("Duration", u128::from(r.total_ms)),
        ],
        &[],
    )
}

/// The `Workflow` dimension of every privileged-review metric.
pub const WORKFLOW: &str = "privileged-review";

/// The review worker's EMF line: follow-ups done and failed, the outbox left pending (the same
/// gauge the scheduled run reports), and its own run count and duration.
pub fn worker_emf(namespace: &str, r: &DrainReport, duration_ms: u64) -> Value {
    telemetry::emf_line(
        namespace,
        WORKFLOW,
        &[
            Metric::count("WorkerRuns", 1),
            Metric::count("FollowUpsDone", r.done as u64),
            Metric::count("FollowUpsFailed", r.failed.len() as u64),
            Metric::count("WebhooksGivenUp", r.given_up.len() as u64),
            Metric::count("SideEffectsPending", r.pending),
            Metric::millis("WorkerDuration", u128::from(duration_ms)),
        ],
        &[],
    )
}

impl Summarised for ReviewReport {
    fn tally(&self) -> Tally {
        Tally {
            flagged: self.sent_for_review as u64,
            side_effects: self.tasks_done as u64,
            failures: self.tasks_failed.len() as u64,
            pending: self.pending,
        }
    }
}

impl Summarised for DrainReport {
    fn tally(&self) -> Tally {
        Tally {
            flagged: 0,
            side_effects: self.done as u64,
            failures: self.failed.len() as u64,
            pending: self.pending,
        }
    }
}

#[cfg(test)]
mod metric_tests {
    use super::*;
    use crate::telemetry::assert_six_categories;

    #[test]
    fn the_review_run_metrics_cover_the_six_categories() {
        let report = ReviewReport {
            sent_for_review: 2,
            tasks_done: 5,
            tasks_failed: vec!["slack_card r1: timeout".to_owned()],
            pending: 1,
            total_ms: 40,
            ..ReviewReport::default()
        };
        let line = emf("SecOps/Workflows", &report);
        assert_six_categories(
            &line,
            WORKFLOW,
            [
                "Runs",
                "SentForReview",
                "SideEffectsDone",
                "SideEffectFailures",
                "SideEffectsPending",
                "Duration",
            ],
        );
        assert_eq!(line["SideEffectsDone"], 5.0);
        assert_eq!(line["SideEffectFailures"], 1.0);
    }

    #[test]
    fn the_review_worker_reports_follow_ups_done_failed_and_pending() {
        let report = DrainReport {
            done: 3,
            failed: vec!["webhook r1: 503".to_owned()],
            given_up: vec!["webhook r2: HTTP 400".to_owned()],
            pending: 2,
        };
        let line = worker_emf("SecOps/Workflows", &report, 12);
        assert_eq!(line["Workflow"], WORKFLOW);
        for (name, value) in [
            ("WorkerRuns", 1.0),
            ("FollowUpsDone", 3.0),
            ("FollowUpsFailed", 1.0),
            ("WebhooksGivenUp", 1.0),
            ("SideEffectsPending", 2.0),
            ("WorkerDuration", 12.0),
        ] {
            assert_eq!(line[name], value, "{name}");
        }
    }
}
