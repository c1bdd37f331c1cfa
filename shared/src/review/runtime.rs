//! Composition for live review runs (the scheduled Lambda and the local runner's `--live`).

use std::time::Instant;

use chrono::Utc;
use tokio::sync::Mutex;

use super::adapters::AxiomReviewLog;
use super::config::ReviewConfig;
use super::interactions::{
    self, HomeWorkspace, InteractionDeps, Reply, WorkspaceSource, handle_request,
};
use super::store::ReviewStore;
use super::workflow::{
    self, DrainReport, Outbox, ReviewDeps, ReviewError, ReviewReport, run_review,
};
use crate::config::Env;
use crate::connectors::axiom::{AxiomClient, AxiomConfig};
use crate::connectors::eventbridge::{
    BusError, BusEvent, EventBridgePublisher, EventBusConfig, EventPublisher, InMemoryPublisher,
};
use crate::connectors::openai::{self, OpenAiClient};
use crate::connectors::standard_webhooks;
use crate::connectors::webhook::{WebhookConfig, WebhookSender};
use crate::credential_scope::Function;
use crate::http::{self, RetryPolicy};
use crate::invocation::ColdStarted;
use crate::rotation::clicks::RotationClicks;
use crate::rotation::config::RotationConfig;
use crate::rotation::store::RotationStore;
use crate::runtime::{Foundation, StartupError, StartupTimings, millis_since};
use crate::slack::client::{SlackClient, SlackConfig};
use crate::telemetry::{self, MetricsSink};
use secrecy::ExposeSecret;

pub struct ReviewRuntime {
    foundation: Foundation,
    pub config: ReviewConfig,
    store: Mutex<ReviewStore>,
    source: AxiomClient,
    log: AxiomReviewLog,
    chat: SlackClient,
    openai: Option<OpenAiClient>,
    webhook: Option<WebhookSender>,
    metrics: MetricsSink,
}

impl ReviewRuntime {
    pub async fn start(metrics: MetricsSink) -> Result<Self, StartupError> {
        let config = ReviewConfig::from_env(&Env::process())?;
        let foundation = Foundation::start(Function::PrivilegedGrantReview).await?;
        foundation.require("axiom_token", |c| &c.axiom_token)?;
        foundation.require("slack_bot_token", |c| &c.slack_bot_token)?;
        let store = Mutex::new(ReviewStore::new(foundation.database().await?));
        let chat = slack_client(&foundation, &config);
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
            store,
            chat,
            openai,
            metrics,
        })
    }

    pub async fn run_once(&self, deadline: Option<Instant>) -> Result<ReviewReport, RunError> {
        self.foundation
            .check_deadline_margin("privileged-review", deadline, self.metrics);
        let mut store = self.store.lock().await;
        if store.is_closed().await {
            tracing::info!("postgres connection was closed; reconnecting");
            *store = ReviewStore::new(self.foundation.database().await?);
        }
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
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Review(#[from] ReviewError),
    #[error(transparent)]
    Startup(#[from] StartupError),
}

/// The Slack interactivity endpoint's cold start: no Axiom or model, just what a click needs.
pub struct InteractionsRuntime {
    foundation: Foundation,
    pub config: ReviewConfig,
    /// The rotation chaser's buttons arrive at the same URL.
    pub rotation: RotationConfig,
    store: Mutex<ReviewStore>,
    slack: SlackClient,
    bus: Bus,
    metrics: MetricsSink,
    /// Our workspace: `SLACK_TEAM_ID` / `SLACK_ENTERPRISE_ID`, else `auth.test` (once).
    workspace: tokio::sync::OnceCell<HomeWorkspace>,
}

/// Where decisions are handed over: the project's EventBridge bus in AWS, or memory in a local
/// run (which then runs the worker itself).
pub enum Bus {
    EventBridge(EventBridgePublisher),
    InProcess(InMemoryPublisher),
}

impl Bus {
    /// EventBridge in Lambda; in memory for a local run, which hands events over itself.
    pub async fn start(in_process: bool, bus_name: &str, retry: RetryPolicy) -> Self {
        if in_process {
            Bus::InProcess(InMemoryPublisher::new())
        } else {
            Bus::EventBridge(
                EventBridgePublisher::from_env(EventBusConfig {
                    bus_name: bus_name.to_owned(),
                    retry,
                })
                .await,
            )
        }
    }
}

impl EventPublisher for Bus {
    async fn publish(&self, events: &[BusEvent]) -> Result<(), BusError> {
        match self {
            Bus::EventBridge(p) => p.publish(events).await,
            Bus::InProcess(p) => p.publish(events).await,
        }
    }
}

/// Slack wants an answer within 3 seconds; in-request calls stop in time to give one.
pub const ACK_BUDGET: std::time::Duration = std::time::Duration::from_millis(2_500);

impl InteractionsRuntime {
    /// In Lambda: decisions go to the EventBridge bus, metrics to stdout.
    pub async fn start() -> Result<Self, StartupError> {
        Self::start_with(false).await
    }

    /// In a local run: decisions are kept in memory; see [`Self::take_handed_over`].
    pub async fn start_in_process() -> Result<Self, StartupError> {
        Self::start_with(true).await
    }

    /// Decisions handed over since the last call (in-process runs only).
    pub fn take_handed_over(&self) -> Vec<BusEvent> {
        match &self.bus {
            Bus::InProcess(p) => p.take(),
            Bus::EventBridge(_) => Vec::new(),
        }
    }

    async fn start_with(in_process: bool) -> Result<Self, StartupError> {
        let config = ReviewConfig::from_env(&Env::process())?;
        let rotation = RotationConfig::from_env(&Env::process())?;
        let foundation = Foundation::start(Function::SlackInteractions).await?;
        foundation.require("slack_signing_secret", |c| &c.slack_signing_secret)?;
        foundation.require("slack_bot_token", |c| &c.slack_bot_token)?;
        let store = Mutex::new(ReviewStore::new(foundation.database().await?));
        let slack = slack_client(&foundation, &config);
        let bus = Bus::start(in_process, &config.event_bus, foundation.common.retry).await;
        // A local run's stdout is for people.
        let metrics = if in_process {
            MetricsSink::Off
        } else {
            MetricsSink::Stdout
        };
        let workspace = tokio::sync::OnceCell::new();
        if !config.workspace.team_ids.is_empty() {
            workspace
                .set(config.workspace.clone())
                .expect("a new cell is empty");
        }
        Ok(Self {
            foundation,
            config,
            rotation,
            store,
            slack,
            bus,
            metrics,
            workspace,
        })
    }

    /// One request: Slack's signature headers and the exact body bytes. Emits the request's
    /// metrics; a lost database connection that cannot be replaced is an error (answer 500).
    pub async fn handle(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        raw_body: &[u8],
    ) -> Result<Reply, StartupError> {
        let result = self.answer(timestamp, signature, raw_body).await;
        let handled = result
            .as_ref()
            .map_or(interactions::Handled::Failed, |r| r.handled);
        let namespace = &self.foundation.common.metrics_namespace;
        telemetry::emit(self.metrics, &interactions::emf(namespace, handled));
        result
    }

    async fn answer(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        raw_body: &[u8],
    ) -> Result<Reply, StartupError> {
        let workspace = LearnedWorkspace {
            cell: &self.workspace,
            slack: &self.slack,
        };
        let mut store = self.store.lock().await;
        if store.is_closed().await {
            *store = ReviewStore::new(self.foundation.database().await?);
        }
        let deps = InteractionDeps {
            secrets: &self.foundation.secrets,
            workspace: &workspace,
            store: &store,
            directory: &self.slack,
            replies: &self.slack,
            bus: &self.bus,
            policy: &self.config.policy,
            review_channel: &self.config.workflow.review_channel,
            rotation: Some(RotationClicks {
                store: RotationStore::new(store.connection()),
                slack: &self.slack,
                settings: &self.rotation.clicks,
            }),
        };
        let deadline = Some(Instant::now() + ACK_BUDGET);
        Ok(http::with_deadline(
            deadline,
            handle_request(&deps, timestamp, signature, raw_body, Utc::now()),
        )
        .await)
    }
}

/// Our workspace as configured, else asked of Slack (`auth.test`) the first time a verified
/// request needs it, and kept for the instance. Without it no click can be checked, so none
/// is taken.
struct LearnedWorkspace<'a> {
    cell: &'a tokio::sync::OnceCell<HomeWorkspace>,
    slack: &'a SlackClient,
}

impl WorkspaceSource for LearnedWorkspace<'_> {
    async fn ours(&self) -> Option<HomeWorkspace> {
        let learned = self
            .cell
            .get_or_try_init(|| async {
                let found = self.slack.workspace().await?;
                tracing::info!(team = %found.team_id, "learned the Slack workspace from auth.test");
                Ok::<_, crate::slack::client::SlackError>(HomeWorkspace {
                    team_ids: vec![found.team_id],
                    enterprise_id: found.enterprise_id,
                })
            })
            .await;
        match learned {
            Ok(workspace) => Some(workspace.clone()),
            Err(e) => {
                tracing::error!(error = %e, "auth.test failed: cannot learn our Slack workspace");
                None
            }
        }
    }
}

/// The review worker's cold start: performs the follow-up side effects of decisions.
pub struct WorkerRuntime {
    foundation: Foundation,
    store: Mutex<ReviewStore>,
    log: AxiomReviewLog,
    slack: SlackClient,
    webhook: Option<WebhookSender>,
    max_tasks: i64,
    metrics: MetricsSink,
}

impl WorkerRuntime {
    /// Without metrics (a local run).
    pub async fn start() -> Result<Self, StartupError> {
        Self::start_with(MetricsSink::Off).await
    }

    pub async fn start_with(metrics: MetricsSink) -> Result<Self, StartupError> {
        let config = ReviewConfig::from_env(&Env::process())?;
        let foundation = Foundation::start(Function::ReviewWorker).await?;
        foundation.require("axiom_token", |c| &c.axiom_token)?;
        foundation.require("slack_bot_token", |c| &c.slack_bot_token)?;
        let webhook = webhook_sender(&foundation, &config)?;
        Ok(Self {
            store: Mutex::new(ReviewStore::new(foundation.database().await?)),
            log: AxiomReviewLog {
                client: axiom_client(&foundation, &config),
                dataset: config.events_dataset.clone(),
            },
            slack: slack_client(&foundation, &config),
            webhook,
            max_tasks: config.workflow.max_tasks_per_run,
            foundation,
            metrics,
        })
    }

    /// Drain every pending follow-up (not only the one that woke us: nothing waits for the
    /// next scheduled run that this invocation can do now).
    pub async fn drain(&self, deadline: Option<Instant>) -> Result<DrainReport, RunError> {
        self.foundation
            .check_deadline_margin("privileged-review", deadline, self.metrics);
        let mut store = self.store.lock().await;
        if store.is_closed().await {
            *store = ReviewStore::new(self.foundation.database().await?);
        }
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

impl ColdStarted for InteractionsRuntime {
    fn timings(&self) -> StartupTimings {
        self.foundation.timings()
    }
}

impl ColdStarted for WorkerRuntime {
    fn timings(&self) -> StartupTimings {
        self.foundation.timings()
    }
}

/// The signed webhook, when a URL is configured (its secret is then required).
fn webhook_sender(
    foundation: &Foundation,
    config: &ReviewConfig,
) -> Result<Option<WebhookSender>, StartupError> {
    let Some(url) = &config.webhook_url else {
        return Ok(None);
    };
    let secret = foundation.require("review_webhook_secret", |c| &c.review_webhook_secret)?;
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

fn slack_client(foundation: &Foundation, config: &ReviewConfig) -> SlackClient {
    SlackClient::new(
        foundation.http.clone(),
        foundation.secrets.clone(),
        SlackConfig {
            api_base: config.slack_api_base.clone(),
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
