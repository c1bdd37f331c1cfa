//! The daily drift audit, end to end: record (diff + outbox + baseline, atomically), draft a
//! justification request per pending filing (bounded concurrency, template fallback), file each
//! as an issue (idempotent by client-chosen id), report.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::config::DriftSettings;
use super::filing::Filing;
use super::ports::IssueTracker;
use super::render::{self, NewIssue};
use super::store::{ChangeCounts, DriftStore, RunStart, StoreError};
use crate::connectors::llm::{JsonRequest, LlmError, StructuredLlm};
use crate::drift::justification::{self as prompt, Draft};
use crate::http;
use crate::invocation::{Summarised, Tally};
use crate::ports::TrackerError;
use crate::telemetry::{self, Metric, MetricsSink};

/// The workflow's name in logs, metrics, roles and settings.
pub const WORKFLOW: &str = "oauth-drift";

/// What the workflow needs, built once per cold start (or per local run).
pub struct DriftDeps<'a, S, T, L> {
    pub store: &'a S,
    pub tracker: &'a T,
    /// `None` when no model is configured: every draft comes from the template.
    pub llm: Option<&'a L>,
    pub settings: &'a DriftSettings,
    /// Stop starting new calls this long before the invocation's deadline.
    pub deadline_margin: Duration,
    pub metrics: MetricsSink,
    pub metrics_namespace: &'a str,
}

/// An issue filed during this run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiledSummary {
    pub filing_id: Uuid,
    pub identifier: String,
    pub url: String,
    pub title: String,
    /// Found already filed by an earlier attempt rather than created now.
    pub recovered: bool,
}

/// A filing that stays pending, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedFiling {
    pub filing_id: Uuid,
    pub error: String,
}

/// What one run did: returned by the Lambda, printed by the local runner, stored with the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    pub run_id: Uuid,
    pub started_at: DateTime<Utc>,
    pub bootstrap: bool,
    pub inventory_size: u64,
    pub baseline_size_before: u64,
    pub changes: ChangeCounts,
    /// Revoked grants as `provider/client_id/principal` (capped; the change log has all).
    pub revoked: Vec<String>,
    /// Revoked grants left out of `revoked` by the cap.
    #[serde(default)]
    pub revoked_omitted: u64,
    pub filings_created: u64,
    pub filed: Vec<FiledSummary>,
    pub failed: Vec<FailedFiling>,
    pub drafted_by_model: u64,
    pub drafted_by_template: u64,
    /// Filings still waiting after this run (they are picked up by the next one).
    pub pending: u64,
    /// Why the run stopped filing before the queue was empty, if it did.
    pub stopped_early: Option<String>,
    pub record_ms: u64,
    pub draft_ms: u64,
    pub file_ms: u64,
    pub total_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    /// Nothing was recorded and the baseline did not move.
    #[error("drift audit refused to record this run: {0}")]
    Record(#[source] StoreError),
    #[error("drift audit storage failed: {0}")]
    Store(#[from] StoreError),
}

/// Run the audit once.
pub async fn run_drift<S, T, L>(
    deps: &DriftDeps<'_, S, T, L>,
    now: DateTime<Utc>,
) -> Result<RunReport, DriftError>
where
    S: DriftStore,
    T: IssueTracker,
    L: StructuredLlm,
{
    run_drift_as(deps, Uuid::new_v4(), now).await
}

/// Run the audit once as `run_id` (the Lambda function's invocation logs under the same id).
#[tracing::instrument(name = "run_drift", skip_all, fields(run_id = %run_id))]
pub async fn run_drift_as<S, T, L>(
    deps: &DriftDeps<'_, S, T, L>,
    run_id: Uuid,
    now: DateTime<Utc>,
) -> Result<RunReport, DriftError>
where
    S: DriftStore,
    T: IssueTracker,
    L: StructuredLlm,
{
    let started = Instant::now();
    let run = RunStart {
        run_id,
        started_at: now,
        group_threshold: deps.settings.group_threshold,
        max_revoked_percent: deps.settings.max_revoked_percent,
        max_inventory_age: deps
            .settings
            .max_inventory_age_hours
            .map(|h| chrono::Duration::hours(i64::from(h))),
    };
    let outcome = deps
        .store
        .record_run(&run)
        .await
        .map_err(DriftError::Record)?;
    let revoked_omitted = outcome
        .counts
        .revoked
        .saturating_sub(outcome.revoked.len() as u64);
    let mut report = RunReport {
        run_id: run.run_id,
        started_at: now,
        bootstrap: outcome.bootstrap,
        inventory_size: outcome.inventory_size,
        baseline_size_before: outcome.baseline_size_before,
        changes: outcome.counts,
        revoked: outcome.revoked.iter().map(ToString::to_string).collect(),
        revoked_omitted,
        filings_created: outcome.filings_created,
        record_ms: started.elapsed().as_millis() as u64,
        ..RunReport::default()
    };
    tracing::info!(
        bootstrap = report.bootstrap,
        inventory = report.inventory_size,
        new = report.changes.new,
        elevated = report.changes.elevated,
        reduced = report.changes.reduced,
        revoked = report.changes.revoked,
        filings = report.filings_created,
        "changes recorded"
    );
    // One line per revoked grant, its key as separate fields, so Logs Insights can filter and
    // count them (`fields.provider`, `fields.client_id`, `fields.principal`).
    for key in &outcome.revoked {
        tracing::info!(
            provider = %key.provider,
            client_id = %key.client_id,
            principal = %key.principal,
            "grant revoked"
        );
    }
    if report.revoked_omitted > 0 {
        tracing::info!(
            listed = outcome.revoked.len(),
            omitted = report.revoked_omitted,
            "more grants were revoked than are listed; oauth_grant_changes holds them all"
        );
    }

    let mut pending = deps
        .store
        .pending_filings(deps.settings.max_filings_per_run)
        .await?;

    let drafting = Instant::now();
    draft_all(deps, &mut pending, &mut report).await?;
    report.draft_ms = drafting.elapsed().as_millis() as u64;

    let filing = Instant::now();
    file_all(deps, &pending, &mut report).await?;
    report.file_ms = filing.elapsed().as_millis() as u64;

    report.pending = deps.store.pending_count().await?;
    report.total_ms = started.elapsed().as_millis() as u64;
    let report_json = serde_json::to_value(&report).unwrap_or_default();
    deps.store
        .finish_run(run.run_id, &report_json, Utc::now())
        .await?;
    summarise(deps, &report);
    Ok(report)
}

/// Draft every filing that has no draft yet, a few at a time; each draft is stored as soon as
/// it exists so a later retry files the same words.
async fn draft_all<S, T, L>(
    deps: &DriftDeps<'_, S, T, L>,
    pending: &mut [Filing],
    report: &mut RunReport,
) -> Result<(), DriftError>
where
    S: DriftStore,
    T: IssueTracker,
    L: StructuredLlm,
{
    // One "out of quota" answer is enough: the rest of the run uses the template.
    let quota_gone = AtomicBool::new(false);
    let jobs = pending
        .iter()
        .enumerate()
        .filter(|(_, f)| f.draft.is_none())
        .map(|(i, f)| {
            let quota_gone = &quota_gone;
            async move {
                (
                    i,
                    draft_one(deps.llm, f, deps.deadline_margin, quota_gone).await,
                )
            }
        });
    let mut drafts = stream::iter(jobs).buffer_unordered(deps.settings.llm.concurrency);
    let mut drafted: Vec<(usize, Draft)> = Vec::new();
    while let Some((i, draft)) = drafts.next().await {
        deps.store.save_draft(pending[i].id, &draft).await?;
        match draft.source {
            prompt::DraftSource::Model { .. } => report.drafted_by_model += 1,
            prompt::DraftSource::Template { .. } => report.drafted_by_template += 1,
        }
        drafted.push((i, draft));
    }
    drop(drafts);
    for (i, draft) in drafted {
        pending[i].draft = Some(draft);
    }
    Ok(())
}

async fn draft_one<L: StructuredLlm>(
    llm: Option<&L>,
    filing: &Filing,
    margin: Duration,
    quota_gone: &AtomicBool,
) -> Draft {
    let Some(llm) = llm else {
        return prompt::template_draft(&filing.changes, "no model configured");
    };
    if quota_gone.load(Ordering::Relaxed) {
        return prompt::template_draft(&filing.changes, "model account out of quota");
    }
    if http::out_of_time(margin) {
        return prompt::template_draft(&filing.changes, "no time left for the model");
    }
    let user = prompt::user_message(&filing.changes);
    let request = JsonRequest {
        system: prompt::SYSTEM_PROMPT,
        user: &user,
        schema_name: prompt::SCHEMA_NAME,
        schema: &prompt::SCHEMA,
        max_output_tokens: 600,
    };
    match llm.complete_json(&request).await {
        Ok(raw) => match prompt::validate(&raw) {
            Ok(text) => Draft::from_model(text, llm.model()),
            Err(invalid) => {
                tracing::warn!(filing = %filing.id, error = %crate::text::one_line(&invalid.to_string(), 300), "model draft rejected; using the template");
                prompt::template_draft(&filing.changes, &invalid.to_string())
            }
        },
        Err(e) => {
            if e == LlmError::InsufficientQuota {
                quota_gone.store(true, Ordering::Relaxed);
                tracing::error!(
                    "model account has insufficient quota: drafts fall back to the template until someone tops it up"
                );
            } else {
                tracing::warn!(filing = %filing.id, error = %e, "model unavailable; using the template");
            }
            prompt::template_draft(&filing.changes, &e.to_string())
        }
    }
}

/// File drafted filings one by one (the tracker's rate limit is the bottleneck, not us).
async fn file_all<S, T, L>(
    deps: &DriftDeps<'_, S, T, L>,
    pending: &[Filing],
    report: &mut RunReport,
) -> Result<(), DriftError>
where
    S: DriftStore,
    T: IssueTracker,
    L: StructuredLlm,
{
    for filing in pending {
        let Some(draft) = &filing.draft else { continue };
        if http::out_of_time(deps.deadline_margin) {
            report.stopped_early =
                Some("invocation deadline near; the rest stays pending".to_owned());
            break;
        }
        let issue = render::issue_for(filing, draft);
        match file_one(deps, filing, &issue).await? {
            Ok(summary) => report.filed.push(summary),
            Err(error) => {
                let stop = matches!(error, TrackerError::RateLimited { .. });
                let message = error.to_string();
                tracing::warn!(filing = %filing.id, error = %message, "filing failed; it stays pending");
                deps.store.mark_failed(filing.id, &message).await?;
                report.failed.push(FailedFiling {
                    filing_id: filing.id,
                    error: message.clone(),
                });
                if stop {
                    report.stopped_early = Some(format!("{message}; the rest stays pending"));
                    break;
                }
            }
        }
    }
    Ok(())
}

/// One filing. A filing tried before may already exist in the tracker (the reply was lost, or
/// the process died before recording it): look it up by its id before creating.
async fn file_one<S, T, L>(
    deps: &DriftDeps<'_, S, T, L>,
    filing: &Filing,
    issue: &NewIssue,
) -> Result<Result<FiledSummary, TrackerError>, DriftError>
where
    S: DriftStore,
    T: IssueTracker,
    L: StructuredLlm,
{
    let summary = |filed: super::store::FiledIssue, recovered: bool| FiledSummary {
        filing_id: filing.id,
        identifier: filed.identifier,
        url: filed.url,
        title: issue.title.clone(),
        recovered,
    };
    if filing.attempts > 0 {
        match deps.tracker.find_issue(filing.id).await {
            Ok(Some(existing)) => {
                if let Err(e) = post_comments(deps.tracker, &existing, issue).await {
                    return Ok(Err(e));
                }
                deps.store
                    .mark_filed(filing.id, &existing, Utc::now())
                    .await?;
                tracing::info!(filing = %filing.id, issue = %existing.identifier, "found the issue an earlier attempt created");
                return Ok(Ok(summary(existing, true)));
            }
            Ok(None) => {}
            Err(e) => return Ok(Err(e)),
        }
    }
    deps.store.mark_attempt(filing.id, Utc::now()).await?;
    match deps.tracker.create_issue(issue).await {
        Ok(filed) => {
            // Comments before `mark_filed`: if one fails, the filing stays pending and the next
            // run finds the issue and posts the rest (each comment id is stable).
            if let Err(e) = post_comments(deps.tracker, &filed, issue).await {
                return Ok(Err(e));
            }
            deps.store.mark_filed(filing.id, &filed, Utc::now()).await?;
            tracing::info!(filing = %filing.id, issue = %filed.identifier, "issue filed");
            Ok(Ok(summary(filed, false)))
        }
        Err(e) => Ok(Err(e)),
    }
}

/// The issue's comments (the principals its description has no room for), in order.
async fn post_comments<T: IssueTracker>(
    tracker: &T,
    filed: &super::store::FiledIssue,
    issue: &NewIssue,
) -> Result<(), TrackerError> {
    for comment in &issue.comments {
        tracker.add_comment(filed, comment).await?;
    }
    Ok(())
}

/// The run's summary line and its metrics.
fn summarise<S, T, L>(deps: &DriftDeps<'_, S, T, L>, report: &RunReport) {
    tracing::info!(
        run_id = %report.run_id,
        bootstrap = report.bootstrap,
        inventory = report.inventory_size,
        new = report.changes.new,
        elevated = report.changes.elevated,
        reduced = report.changes.reduced,
        revoked = report.changes.revoked,
        metadata = report.changes.metadata,
        unchanged = report.changes.unchanged,
        filed = report.filed.len(),
        failed = report.failed.len(),
        pending = report.pending,
        drafted_by_model = report.drafted_by_model,
        drafted_by_template = report.drafted_by_template,
        revoked_omitted = report.revoked_omitted,
        stopped_early = report.stopped_early.as_deref(),
        record_ms = report.record_ms,
        draft_ms = report.draft_ms,
        file_ms = report.file_ms,
        total_ms = report.total_ms,
        "drift run summary"
    );
    telemetry::emit(deps.metrics, &emf(deps.metrics_namespace, report));
}

/// The run's EMF line: runs, grants flagged, issues filed, filing failures, filings pending and
/// duration (plus revoked grants and template fallbacks).
pub fn emf(namespace: &str, report: &RunReport) -> serde_json::Value {
    let t = report.tally();
    telemetry::emf_line(
        namespace,
        WORKFLOW,
        &[
            Metric::count("Runs", 1),
            Metric::count("GrantsFlagged", t.flagged),
            Metric::count("GrantsRevoked", report.changes.revoked),
            Metric::count("IssuesFiled", t.side_effects),
            Metric::count("FilingFailures", t.failures),
            Metric::count("FilingsPending", t.pending),
            Metric::count("DraftFallbacks", report.drafted_by_template),
            Metric::millis("Duration", u128::from(report.total_ms)),
        ],
        &[("run_id", serde_json::Value::from(report.run_id.to_string()))],
    )
}

impl Summarised for RunReport {
    fn tally(&self) -> Tally {
        Tally {
            flagged: self.changes.new + self.changes.elevated,
            side_effects: self.filed.len() as u64,
            failures: self.failed.len() as u64,
            pending: self.pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::assert_six_categories;

    #[test]
    fn the_drift_metrics_cover_the_six_categories() {
        let report = RunReport {
            changes: ChangeCounts {
                new: 2,
                elevated: 1,
                ..ChangeCounts::default()
            },
            pending: 4,
            total_ms: 900,
            ..RunReport::default()
        };
        let line = emf("SecOps/Workflows", &report);
        assert_six_categories(
            &line,
            WORKFLOW,
            [
                "Runs",
                "GrantsFlagged",
                "IssuesFiled",
                "FilingFailures",
                "FilingsPending",
                "Duration",
            ],
        );
        assert_eq!(line["GrantsFlagged"], 3.0);
        assert_eq!(line["FilingsPending"], 4.0);
        assert_eq!(line["run_id"], report.run_id.to_string());
    }
}
