//! Composition for the two MR audit functions: the GitLab webhook endpoint (records merges and
//! wakes the worker) and the audit worker (woken by the bus, or by its schedule to re-drive
//! audits left pending).

use std::time::{Duration, Instant};

use chrono::Utc;
use serde::Serialize;

use super::WORKFLOW;
use super::adapters::{ConfluenceEvidence, LinearAudit};
use super::config::MrAuditConfig;
use super::dry_run::{RecordingChat, RecordingIssues, RecordingPage};
use super::event::MergeEvent;
use super::hook::{self, Delivery, HookDeps, HookReply, HookRequest, handle_hook};
use super::store::AuditStore;
use super::workflow::{AuditDeps, AuditOutcome, audit_merge};
use crate::config::Env;
use crate::connectors::confluence::{ConfluenceClient, ConfluenceConfig};
use crate::connectors::eventbridge::Bus;
use crate::connectors::gitlab::{GitLabClient, GitLabConfig, MergeRequest};
use crate::connectors::linear::{LinearClient, LinearConfig};
use crate::credential_scope::Function;
use crate::db::Database;
use crate::db_roles;
use crate::dry_run::{DryRunReport, WouldDoLog};
use crate::http;
use crate::invocation::{ColdStarted, Summarised, Tally};
use crate::runtime::{Foundation, Mode, StartupError, StartupTimings, millis_since};
use crate::slack::client::{SlackClient, SlackConfig};
use crate::telemetry::{self, Metric, MetricsSink};

/// GitLab waits about 10 seconds; the endpoint answers well before.
pub const HOOK_BUDGET: Duration = Duration::from_secs(5);

/// The webhook endpoint's cold start.
pub struct HookRuntime {
    foundation: Foundation,
    pub config: MrAuditConfig,
    db: Database,
    bus: Bus,
    metrics: MetricsSink,
}

impl HookRuntime {
    /// In Lambda merges are handed over on the EventBridge bus; in a local run they are kept
    /// in memory (see [`Self::take_handed_over`]).
    pub async fn start(mode: Mode) -> Result<Self, StartupError> {
        let config = MrAuditConfig::from_env(&Env::process())?;
        let foundation = Foundation::start(Function::GitLabWebhook, mode).await?;
        let db = foundation.database().await?;
        let bus = Bus::start(mode, &config.event_bus, foundation.common.retry).await;
        let metrics = mode.metrics();
        Ok(Self {
            foundation,
            config,
            db,
            bus,
            metrics,
        })
    }

    /// Merge keys handed over since the last call (in-process runs only).
    pub fn take_handed_over(&self) -> Vec<String> {
        match &self.bus {
            Bus::InProcess(p) => p
                .take()
                .into_iter()
                .filter_map(|e| e.detail["merge_key"].as_str().map(str::to_owned))
                .collect(),
            Bus::EventBridge(_) => Vec::new(),
        }
    }

    /// One delivery, and its metrics. A lost database connection that cannot be replaced is an
    /// error (answer 500).
    pub async fn handle(&self, request: &HookRequest<'_>) -> Result<HookReply, StartupError> {
        let result = self.answer(request).await;
        let handled = result.as_ref().map_or(Delivery::Failed, |r| r.handled);
        let namespace = &self.foundation.common.metrics_namespace;
        telemetry::emit(self.metrics, &hook::emf(namespace, handled));
        result
    }

    async fn answer(&self, request: &HookRequest<'_>) -> Result<HookReply, StartupError> {
        self.foundation.reconnect_if_closed(&self.db).await?;
        let deps = HookDeps {
            secrets: &self.foundation.secrets,
            store: AuditStore::new(&self.db),
            bus: &self.bus,
            labels: &self.config.labels,
            projects: self.config.audit.projects.as_ref(),
        };
        Ok(http::with_deadline(
            Some(Instant::now() + HOOK_BUDGET),
            handle_hook(&deps, request, Utc::now()),
        )
        .await)
    }
}

/// The audit worker's cold start.
pub struct AuditRuntime {
    foundation: Foundation,
    pub config: MrAuditConfig,
    db: Database,
    gitlab: GitLabClient,
    linear: LinearAudit,
    page: ConfluenceEvidence,
    slack: SlackClient,
    metrics: MetricsSink,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Startup(#[from] StartupError),
    /// A dry run that cannot audit what it was asked to (no such MR, not a security MR).
    #[error("dry run: {0}")]
    DryRun(String),
    #[error(transparent)]
    Audit(#[from] super::workflow::AuditError),
}

/// What one invocation of the worker did.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerReport {
    pub audits: Vec<(String, AuditOutcome)>,
    /// Audits still pending after this invocation (failed steps, or no time left).
    pub failed: usize,
    /// Whether an audit the invocation was asked for by name failed (the invocation then
    /// fails, so its event is retried). Other pending audits failing again do not fail it:
    /// they show in the `AuditsFailed` metric and, once given up, in `AuditsAbandoned`.
    pub named_failed: bool,
    /// Every audit still pending in the store afterwards, this invocation's or not.
    pub pending: u64,
}

impl AuditRuntime {
    pub async fn start(mode: Mode) -> Result<Self, StartupError> {
        let metrics = mode.metrics();
        let config = MrAuditConfig::from_env(&Env::process())?;
        let (confluence_url, page_id) = config.require_worker_settings()?;
        let foundation = Foundation::start(Function::MrAudit, mode).await?;
        let retry = foundation.common.retry;
        let http = foundation.http.clone();
        let secrets = foundation.secrets.clone();
        let db = foundation.database().await?;
        Ok(Self {
            gitlab: GitLabClient::new(
                http.clone(),
                secrets.clone(),
                GitLabConfig {
                    retry,
                    ..GitLabConfig::new(config.gitlab_url.clone())
                },
            ),
            linear: linear_audit(&foundation, &config),
            page: ConfluenceEvidence {
                client: ConfluenceClient::new(
                    http.clone(),
                    secrets.clone(),
                    ConfluenceConfig {
                        retry,
                        ..ConfluenceConfig::new(confluence_url)
                    },
                ),
                page_id,
                max_page_chars: config.max_page_chars,
                max_attempts: 30,
            },
            slack: SlackClient::new(
                http,
                secrets,
                SlackConfig {
                    base_url: config.slack_api_base.clone(),
                    retry,
                    ..SlackConfig::default()
                },
            ),
            db,
            config,
            foundation,
            metrics,
        })
    }

    /// Audit these merges, then any other pending ones while time allows.
    pub async fn run(
        &self,
        merge_keys: &[String],
        deadline: Option<Instant>,
    ) -> Result<WorkerReport, WorkerError> {
        self.foundation
            .check_deadline_margin(WORKFLOW, deadline, self.metrics);
        self.foundation.reconnect_if_closed(&self.db).await?;
        let deps = AuditDeps {
            store: AuditStore::new(&self.db),
            gitlab: &self.gitlab,
            linear: &self.linear,
            page: &self.page,
            chat: &self.slack,
            settings: &self.config.audit,
        };
        let margin = self.foundation.common.deadline_margin;
        let work = async {
            let mut keys: Vec<String> = merge_keys.to_vec();
            for key in deps.store.pending(Utc::now(), 50).await? {
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
            let mut report = WorkerReport {
                audits: Vec::new(),
                failed: 0,
                named_failed: false,
                pending: 0,
            };
            for key in keys {
                let named = merge_keys.contains(&key);
                if http::out_of_time(margin) {
                    report.failed += 1;
                    report.named_failed |= named;
                    continue;
                }
                let outcome = audit_merge(&deps, &key, Utc::now()).await?;
                if matches!(outcome, AuditOutcome::Failed { .. }) {
                    report.failed += 1;
                    report.named_failed |= named;
                }
                report.audits.push((key, outcome));
            }
            Ok::<_, super::workflow::AuditError>(report)
        };
        let started = Instant::now();
        // Stop short of Lambda's own deadline, so a failed step is still recorded.
        let deadline = deadline.map(|d| d.checked_sub(margin).unwrap_or(d));
        let mut report = http::with_deadline(deadline, work).await?;
        report.pending = count_pending(&deps.store).await?;
        let line = worker_emf(
            &self.foundation.common.metrics_namespace,
            &report,
            millis_since(started),
        );
        telemetry::emit(self.metrics, &line);
        Ok(report)
    }
}

impl AuditRuntime {
    /// The audit of merge request `iid` of project `project_id` as a dry run against the real
    /// services (decision 035): the MR and its approvals read from GitLab, its linked issues
    /// found in Linear, and the closes, comments, evidence row and Slack messages it would
    /// make come back. The audit tables are shadowed: no merge, step or label is recorded.
    pub async fn dry_run(
        &self,
        project_id: u64,
        iid: u64,
        deadline: Option<Instant>,
    ) -> Result<DryRunReport<AuditOutcome>, WorkerError> {
        let (db, shadowed) = self
            .foundation
            .shadow_database(db_roles::tables_of(WORKFLOW))
            .await?;
        let mr = self
            .gitlab
            .merge_request(project_id, iid)
            .await
            .map_err(|e| WorkerError::DryRun(e.to_string()))?;
        if !mr.labels.iter().any(|l| self.config.labels.matches(l)) {
            return Err(WorkerError::DryRun(format!(
                "merge request !{iid} of project {project_id} carries no label matching MR_AUDIT_LABEL_PATTERN ({}): the webhook would not audit it",
                self.config.labels.as_str()
            )));
        }
        if mr.state != "merged" {
            return Err(WorkerError::DryRun(format!(
                "merge request !{iid} of project {project_id} is {}, not merged: only a merge is audited",
                crate::text::excerpt(&mr.state)
            )));
        }
        let event = merge_event_of(&mr);
        let now = Utc::now();
        // In the shadows only (the session refuses any write to a real table): forget what an
        // earlier real audit of this MR recorded, so the dry run audits it from the start
        // instead of finding it done.
        for table in ["mr_audit_steps", "mr_audit_deliveries", "mr_audit_merges"] {
            db.execute(
                &format!("DELETE FROM {table} WHERE merge_key = $1"),
                &[&event.merge_key()],
            )
            .await
            .map_err(|e| WorkerError::DryRun(crate::db::DbError::from(e).to_string()))?;
        }
        let store = AuditStore::new(&db);
        store
            .record_delivery("dry-run", &event, now)
            .await
            .map_err(super::workflow::AuditError::from)?;
        let would = WouldDoLog::default();
        let linear = linear_audit(&self.foundation, &self.config);
        let deps = AuditDeps {
            store,
            gitlab: &self.gitlab,
            linear: &RecordingIssues {
                real: &linear,
                would: &would,
            },
            page: &RecordingPage {
                page_id: self.page.page_id.clone(),
                would: &would,
            },
            chat: &RecordingChat { would: &would },
            settings: &self.config.audit,
        };
        let outcome =
            http::with_deadline(deadline, audit_merge(&deps, &event.merge_key(), now)).await?;
        Ok(DryRunReport::new(outcome, would.take(), shadowed))
    }
}

impl Summarised for AuditOutcome {
    /// One audit: flagged when it found a separation-of-duties violation, failed when a step
    /// failed.
    fn tally(&self) -> Tally {
        match self {
            AuditOutcome::Done { findings, .. } => Tally {
                flagged: u64::from(!findings.is_empty()),
                ..Tally::default()
            },
            AuditOutcome::Failed { .. } => Tally {
                failures: 1,
                ..Tally::default()
            },
            _ => Tally::default(),
        }
    }
}

/// Linear for the audit, with its own memory of the issues it found (so a dry run's look-ups
/// never stand in for a real audit's).
fn linear_audit(foundation: &Foundation, config: &MrAuditConfig) -> LinearAudit {
    LinearAudit::new(
        LinearClient::new(
            foundation.http.clone(),
            foundation.secrets.clone(),
            LinearConfig {
                base_url: config.linear_api_url.clone(),
                retry: foundation.common.retry,
                ..LinearConfig::new(String::new())
            },
        ),
        config.linear_label.clone(),
    )
}

/// The merge delivery GitLab would have sent for `mr`, rebuilt from the REST API's answer.
fn merge_event_of(mr: &MergeRequest) -> MergeEvent {
    let project_path = mr
        .reference
        .as_deref()
        .and_then(|r| r.rsplit_once('!'))
        .map_or_else(|| mr.project_id.to_string(), |(path, _)| path.to_owned());
    MergeEvent {
        project_id: mr.project_id,
        project_path,
        iid: mr.iid,
        title: mr.title.clone(),
        description: mr.description.clone().unwrap_or_default(),
        source_branch: mr.source_branch.clone(),
        target_branch: mr.target_branch.clone(),
        url: mr.web_url.clone(),
        action: "merge".to_owned(),
        state: mr.state.clone(),
        labels: mr.labels.clone(),
        labels_before: None,
        actor: mr.merged_by.as_ref().map(|u| u.username.clone()),
        updated_at: None,
    }
}

/// Every pending audit, including those waiting out a claim or a back-off (a far-future "now"
/// makes every claim look expired). Capped: past that many the alarm has long fired.
async fn count_pending(store: &AuditStore<'_>) -> Result<u64, super::workflow::AuditError> {
    let later = Utc::now() + chrono::Duration::days(3650);
    Ok(store.pending(later, 10_000).await?.len() as u64)
}

impl WorkerReport {
    fn done(&self, violation: bool) -> u64 {
        self.audits
            .iter()
            .filter(|(_, o)| matches!(o, AuditOutcome::Done { findings, .. } if findings.is_empty() != violation))
            .count() as u64
    }

    fn abandoned(&self) -> u64 {
        self.audits
            .iter()
            .filter(|(_, o)| {
                matches!(
                    o,
                    AuditOutcome::Failed {
                        abandoned: true,
                        ..
                    }
                )
            })
            .count() as u64
    }
}

/// The worker's EMF line: runs, violations (flagged), audits completed (each closed an issue,
/// wrote a page row and posted a confirmation), audits failed, audits pending, duration; plus
/// merges audited clean and audits abandoned.
pub fn worker_emf(namespace: &str, report: &WorkerReport, duration_ms: u64) -> serde_json::Value {
    let t = report.tally();
    telemetry::emf_line(
        namespace,
        WORKFLOW,
        &[
            Metric::count("Runs", 1),
            Metric::count("MergesAudited", report.done(false)),
            Metric::count("Violations", t.flagged),
            Metric::count("AuditsCompleted", t.side_effects),
            Metric::count("AuditsFailed", t.failures),
            Metric::count("AuditsAbandoned", report.abandoned()),
            Metric::count("AuditsPending", t.pending),
            Metric::millis("Duration", u128::from(duration_ms)),
        ],
        &[],
    )
}

impl Summarised for WorkerReport {
    fn tally(&self) -> Tally {
        Tally {
            flagged: self.done(true),
            side_effects: self.done(false) + self.done(true),
            failures: self.failed as u64,
            pending: self.pending,
        }
    }
}

impl ColdStarted for HookRuntime {
    fn timings(&self) -> StartupTimings {
        self.foundation.timings()
    }
}

impl ColdStarted for AuditRuntime {
    fn timings(&self) -> StartupTimings {
        self.foundation.timings()
    }
}

/// This workflow's errors by kind (the `errorType` an operator reads; see `crate::failure`).
mod failure_kinds {
    use crate::failure::{Classify, FailureKind};

    impl Classify for super::WorkerError {
        fn failure_kind(&self) -> FailureKind {
            use super::WorkerError;
            use crate::mr_audit::store::AuditStoreError;
            use crate::mr_audit::workflow::AuditError;
            match self {
                WorkerError::Startup(e) => e.failure_kind(),
                WorkerError::DryRun(_) => FailureKind::BadInput,
                WorkerError::Audit(AuditError::Store(AuditStoreError::Postgres(_))) => {
                    FailureKind::UpstreamUnavailable
                }
                WorkerError::Audit(AuditError::Store(AuditStoreError::Corrupt(_))) => {
                    FailureKind::Internal
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::assert_six_categories;

    fn done(findings: Vec<crate::mr_audit::duties::Finding>) -> AuditOutcome {
        AuditOutcome::Done {
            reference: "group/app!7".to_owned(),
            findings,
            linked: Vec::new(),
            resolved: Vec::new(),
            mentioned: Vec::new(),
            over_cap: false,
            not_found: Vec::new(),
            links_ignored: 0,
        }
    }

    #[test]
    fn the_worker_metrics_cover_the_six_categories() {
        let report = WorkerReport {
            audits: vec![
                ("1:7".to_owned(), done(Vec::new())),
                (
                    "1:8".to_owned(),
                    AuditOutcome::Failed {
                        step: "linear".to_owned(),
                        error: "503".to_owned(),
                        abandoned: true,
                    },
                ),
            ],
            failed: 1,
            named_failed: false,
            pending: 4,
        };
        let line = worker_emf("SecOps/Workflows", &report, 30);
        assert_six_categories(
            &line,
            "mr-audit",
            [
                "Runs",
                "Violations",
                "AuditsCompleted",
                "AuditsFailed",
                "AuditsPending",
                "Duration",
            ],
        );
        assert_eq!(line["MergesAudited"], 1.0);
        assert_eq!(line["AuditsCompleted"], 1.0);
        assert_eq!(line["AuditsAbandoned"], 1.0);
        assert_eq!(line["AuditsPending"], 4.0);
    }
}
