//! The Slack interactivity endpoint's cold start and one request: no Axiom or model, just what
//! a click needs, for whichever of the privileged review and the rotation chaser is enabled.

use std::time::Instant;

use chrono::Utc;

use super::enabled::{RouterSettings, RouterWorkflows};
use super::{Handled, InteractionDeps, Reply, ReviewClicks, emf, handle_request};
use crate::config::Env;
use crate::connectors::eventbridge::{Bus, BusEvent};
use crate::credential_scope::Function;
use crate::db::Database;
use crate::http;
use crate::invocation::ColdStarted;
use crate::review::config::ReviewConfig;
use crate::review::runtime::slack_client;
use crate::review::store::ReviewStore;
use crate::rotation::clicks::RotationClicks;
use crate::rotation::config::RotationConfig;
use crate::rotation::store::RotationStore;
use crate::runtime::{Foundation, Mode, StartupError, StartupTimings};
use crate::slack::client::SlackClient;
use crate::slack::workspace::{HomeWorkspace, WorkspaceSource};
use crate::telemetry::{self, MetricsSink};

/// The Slack interactivity endpoint's cold start: no Axiom or model, just what a click needs.
pub struct InteractionsRuntime {
    foundation: Foundation,
    /// The review's settings, where the review is enabled here.
    review: Option<ReviewConfig>,
    /// The rotation chaser's buttons arrive at the same URL, where it is enabled here.
    rotation: Option<RotationConfig>,
    db: Database,
    slack: SlackClient,
    bus: Bus,
    metrics: MetricsSink,
    /// Our workspace: `SLACK_TEAM_ID` / `SLACK_ENTERPRISE_ID`, else `auth.test` (once).
    workspace: tokio::sync::OnceCell<HomeWorkspace>,
}

/// Slack wants an answer within 3 seconds; in-request calls stop in time to give one.
pub const ACK_BUDGET: std::time::Duration = std::time::Duration::from_millis(2_500);

impl InteractionsRuntime {
    /// Decisions handed over since the last call (in-process runs only).
    pub fn take_handed_over(&self) -> Vec<BusEvent> {
        match &self.bus {
            Bus::InProcess(p) => p.take(),
            Bus::EventBridge(_) => Vec::new(),
        }
    }

    /// In Lambda decisions go to the EventBridge bus; in a local run they are kept in memory
    /// (see [`Self::take_handed_over`]).
    pub async fn start(mode: Mode) -> Result<Self, StartupError> {
        let env = Env::process();
        let serves = RouterWorkflows::from_env(&env)?;
        let router = RouterSettings::from_env(&env)?;
        let review = match serves.review {
            true => Some(ReviewConfig::from_env(&env)?),
            false => None,
        };
        let rotation = match serves.rotation {
            true => Some(RotationConfig::from_env(&env)?),
            false => None,
        };
        let foundation = Foundation::start(Function::SlackInteractions, mode).await?;
        let db = foundation.database().await?;
        let slack = slack_client(&foundation, &router.slack_api_base);
        let bus = Bus::start(mode, &router.event_bus, foundation.common.retry).await;
        let metrics = mode.metrics();
        let workspace = tokio::sync::OnceCell::new();
        if !router.workspace.team_ids.is_empty() {
            workspace
                .set(router.workspace.clone())
                .expect("a new cell is empty");
        }
        tracing::info!(
            workflows = %serves,
            "slack interactivity endpoint serves these workflows"
        );
        Ok(Self {
            foundation,
            review,
            rotation,
            db,
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
        let handled = result.as_ref().map_or(Handled::Failed, |r| r.handled);
        let namespace = &self.foundation.common.metrics_namespace;
        telemetry::emit(self.metrics, &emf(namespace, handled));
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
        self.foundation.reconnect_if_closed(&self.db).await?;
        let store = ReviewStore::new(&self.db);
        let deps = InteractionDeps {
            secrets: &self.foundation.secrets,
            workspace: &workspace,
            replies: &self.slack,
            review: self.review.as_ref().map(|config| ReviewClicks {
                store: &store,
                directory: &self.slack,
                bus: &self.bus,
                policy: &config.policy,
                review_channel: &config.workflow.review_channel,
            }),
            rotation: self.rotation.as_ref().map(|config| RotationClicks {
                store: RotationStore::new(&self.db),
                slack: &self.slack,
                settings: &config.clicks,
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

impl ColdStarted for InteractionsRuntime {
    fn timings(&self) -> StartupTimings {
        self.foundation.timings()
    }
}
