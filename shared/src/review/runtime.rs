//! Composition for live review runs (the scheduled Lambda and the local runner's `--live`) and
//! for the review worker.

use std::time::Instant;

use chrono::Utc;

use super::adapters::AxiomReviewLog;
use super::config::ReviewConfig;
use super::dry_run::{
    RecordingChat, RecordingLog, RecordingWebhook, ShadowRunChat, would_have_written,
};
use super::store::ReviewStore;
use super::workflow::{
    self, DrainReport, Outbox, ReviewDeps, ReviewError, ReviewReport, WORKFLOW, run_review,
};
use crate::config::Env;
use crate::connectors::axiom::{AxiomClient, AxiomConfig};
use crate::connectors::openai::{self, OpenAiClient};
use crate::connectors::standard_webhooks;
use crate::connectors::webhook::{WebhookConfig, WebhookSender};
use crate::credential_scope::Function;
use crate::db::Database;
use crate::db_roles;
use crate::dry_run::{DryRunReport, WouldDoLog};
use crate::http;
use crate::invocation::ColdStarted;
use crate::runtime::{Foundation, Mode, StartupError, StartupTimings, millis_since};
use crate::slack::client::{SlackClient, SlackConfig};
use crate::telemetry::{self, MetricsSink};
use secrecy::ExposeSecret;

pub struct ReviewRuntime {
    foundation: Foundation,
    pub config: ReviewConfig,
    db: Database,
    source: AxiomClient,
    log: AxiomReviewLog,
    chat: SlackClient,
    openai: Option<OpenAiClient>,
    webhook: Option<WebhookSender>,
    metrics: MetricsSink,
}

impl ReviewRuntime {
    pub async fn start(mode: Mode) -> Result<Self, StartupError> {
        let metrics = mode.metrics();
        let (config, foundation) = review_foundation(Function::PrivilegedGrantReview, mode).await?;
        let db = foundation.database().await?;
        let chat = slack_client(&foundation, &config.slack_api_base);
        let openai = openai::configured(
            &config.llm,
            foundation.http.clone(),
            foundation.secrets.clone(),
            &foundation.credentials,
            foundation.common.retry,
        );
        let webhook = webhook_sender(&foundation, &config)?;
        Ok(Self {
            webhook,
            source: axiom_client(&foundation, &config),
            log: AxiomReviewLog {
                client: axiom_client(&foundation, &config),
                dataset: config.events_dataset.clone(),
            },
            foundation,
            config,
            db,
            chat,
            openai,
            metrics,
        })
    }

    pub async fn run(&self, deadline: Option<Instant>) -> Result<ReviewReport, RunError> {
        self.foundation
            .check_deadline_margin(WORKFLOW, deadline, self.metrics);
        self.foundation.reconnect_if_closed(&self.db).await?;
        let store = ReviewStore::new(&self.db);
        let common = &self.foundation.common;
        let deps = ReviewDeps {
            store: &store,
            source: &self.source,
            log: &self.log,
            chat: &self.chat,
            llm: self.openai.as_ref(),
            // The scheduled run only sends webhooks when the decision worker is behind.
            webhook: self.webhook.as_ref(),
            settings: &self.config.workflow,
            deadline_margin: common.deadline_margin,
            metrics: self.metrics,
            metrics_namespace: &common.metrics_namespace,
        };
        Ok(http::with_deadline(deadline, run_review(&deps, Utc::now())).await?)
    }

    /// A dry run against the real services (decision 035): grants read from Axiom since the
    /// real checkpoint, scored by the rules and the configured model, with the review state in
    /// shadow tables. The cards, review events and webhook deliveries it would make come back;
    /// the checkpoint, reviews and outbox stay as they were, and nothing reaches Slack, the
    /// events dataset or the webhook.
    pub async fn dry_run(
        &self,
        deadline: Option<Instant>,
    ) -> Result<DryRunReport<ReviewReport>, RunError> {
        let (db, shadowed) = self
            .foundation
            .shadow_database(db_roles::tables_of(WORKFLOW))
            .await?;
        let store = ReviewStore::new(&db);
        let would = WouldDoLog::default();
        let chat = ShadowRunChat {
            cards: RecordingChat::default(),
            would: &would,
        };
        let log = RecordingLog::default();
        let webhook = self
            .config
            .webhook_url
            .as_ref()
            .map(|url| RecordingWebhook {
                url: url.clone(),
                would: &would,
            });
        let common = &self.foundation.common;
        let deps = ReviewDeps {
            store: &store,
            source: &self.source,
            log: &log,
            chat: &chat,
            llm: self.openai.as_ref(),
            webhook: webhook.as_ref(),
            settings: &self.config.workflow,
            deadline_margin: common.deadline_margin,
            metrics: MetricsSink::Off,
            metrics_namespace: &common.metrics_namespace,
        };
        let report = http::with_deadline(deadline, run_review(&deps, Utc::now())).await?;
        let mut writes = would_have_written(&chat.cards, &log, &self.config.events_dataset);
        writes.extend(would.take());
        Ok(DryRunReport::new(report, writes, shadowed))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Review(#[from] ReviewError),
    #[error(transparent)]
    Startup(#[from] StartupError),
}

/// The review worker's cold start: performs the follow-up side effects of decisions.
pub struct WorkerRuntime {
    foundation: Foundation,
    db: Database,
    log: AxiomReviewLog,
    slack: SlackClient,
    webhook: Option<WebhookSender>,
    max_tasks: i64,
    metrics: MetricsSink,
}

impl WorkerRuntime {
    pub async fn start(mode: Mode) -> Result<Self, StartupError> {
        let metrics = mode.metrics();
        let (config, foundation) = review_foundation(Function::ReviewWorker, mode).await?;
        let webhook = webhook_sender(&foundation, &config)?;
        Ok(Self {
            db: foundation.database().await?,
            log: AxiomReviewLog {
                client: axiom_client(&foundation, &config),
                dataset: config.events_dataset.clone(),
            },
            slack: slack_client(&foundation, &config.slack_api_base),
            webhook,
            max_tasks: config.workflow.max_tasks_per_run,
            foundation,
            metrics,
        })
    }

    /// Drain every pending follow-up (not only the one that woke us: nothing waits for the
    /// next scheduled run that this invocation can do now).
    pub async fn run(&self, deadline: Option<Instant>) -> Result<DrainReport, RunError> {
        self.foundation
            .check_deadline_margin(WORKFLOW, deadline, self.metrics);
        self.foundation.reconnect_if_closed(&self.db).await?;
        let store = ReviewStore::new(&self.db);
        let outbox = Outbox {
            store: &store,
            log: &self.log,
            chat: &self.slack,
            webhook: self.webhook.as_ref(),
            max_tasks: self.max_tasks,
            deadline_margin: self.foundation.common.deadline_margin,
        };
        let started = Instant::now();
        let mut report = http::with_deadline(deadline, outbox.drain())
            .await
            .map_err(|e| RunError::Review(e.into()))?;
        report.pending = store
            .pending_count()
            .await
            .map_err(|e| RunError::Review(e.into()))?;
        let namespace = &self.foundation.common.metrics_namespace;
        let line = workflow::worker_emf(namespace, &report, millis_since(started));
        telemetry::emit(self.metrics, &line);
        Ok(report)
    }
}

impl ColdStarted for ReviewRuntime {
    fn timings(&self) -> StartupTimings {
        self.foundation.timings()
    }
}

impl ColdStarted for WorkerRuntime {
    fn timings(&self) -> StartupTimings {
        self.foundation.timings()
    }
}

/// What both review functions start from: their settings and the foundation (which refuses a
/// secret without the Axiom and Slack credentials neither can run without).
async fn review_foundation(
    function: Function,
    mode: Mode,
) -> Result<(ReviewConfig, Foundation), StartupError> {
    let config = ReviewConfig::from_env(&Env::process())?;
    let foundation = Foundation::start(function, mode).await?;
    Ok((config, foundation))
}

/// The signed webhook, when a URL is configured (its secret is then required).
fn webhook_sender(
    foundation: &Foundation,
    config: &ReviewConfig,
) -> Result<Option<WebhookSender>, StartupError> {
    let Some(url) = &config.webhook_url else {
        return Ok(None);
    };
    let secret = foundation.require("review_webhook_secret")?;
    if !standard_webhooks::is_standard_secret(secret.expose_secret()) {
        tracing::warn!(
            "review_webhook_secret is not base64: receivers using a Standard Webhooks library will read a different key and refuse every delivery; use `whsec_` + base64 (e.g. `openssl rand -base64 32`)"
        );
    }
    Ok(Some(WebhookSender::new(
        foundation.http.clone(),
        foundation.secrets.clone(),
        WebhookConfig {
            url: url.clone(),
            retry: foundation.common.retry,
        },
    )))
}

pub(crate) fn slack_client(foundation: &Foundation, base_url: &str) -> SlackClient {
    SlackClient::new(
        foundation.http.clone(),
        foundation.secrets.clone(),
        SlackConfig {
            base_url: base_url.to_owned(),
            retry: foundation.common.retry,
            ..SlackConfig::default()
        },
    )
}

fn axiom_client(foundation: &Foundation, config: &ReviewConfig) -> AxiomClient {
    AxiomClient::new(
        foundation.http.clone(),
        foundation.secrets.clone(),
        AxiomConfig {
            org_id: config.axiom_org_id.clone(),
            retry: foundation.common.retry,
            ..AxiomConfig::new(config.axiom_url.clone())
        },
    )
}

/// This workflow's errors by kind (the `errorType` an operator reads; see `crate::failure`).
mod failure_kinds {
    use crate::failure::{Classify, FailureKind};

    impl Classify for crate::review::workflow::ReviewError {
        fn failure_kind(&self) -> FailureKind {
            use crate::review::workflow::ReviewError;
            match self {
                ReviewError::Source(e) => e.failure_kind(),
                ReviewError::Store(e) => e.failure_kind(),
            }
        }
    }

    impl Classify for super::RunError {
        fn failure_kind(&self) -> FailureKind {
            use super::RunError;
            match self {
                RunError::Review(e) => e.failure_kind(),
                RunError::Startup(e) => e.failure_kind(),
            }
        }
    }

    impl Classify for crate::review::store::ReviewStoreError {
        fn failure_kind(&self) -> FailureKind {
            use crate::review::store::ReviewStoreError;
            match self {
                ReviewStoreError::Db(_) => FailureKind::UpstreamUnavailable,
                ReviewStoreError::Corrupt(_) => FailureKind::Internal,
            }
        }
    }
}
