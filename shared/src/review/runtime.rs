//! Composition for live review runs (the scheduled Lambda and the local runner's `--live`).

use std::time::Instant;

use chrono::Utc;
use tokio::sync::Mutex;

use super::adapters::AxiomReviewLog;
use super::config::ReviewConfig;
use super::ports::NoWebhook;
use super::store::ReviewStore;
use super::workflow::{ReviewDeps, ReviewError, ReviewReport, run_review};
use crate::config::Env;
use crate::connectors::axiom::{AxiomClient, AxiomConfig};
use crate::connectors::openai::{self, OpenAiClient};
use crate::http;
use crate::runtime::{Foundation, StartupError};
use crate::slack::client::{SlackClient, SlackConfig};
use crate::telemetry::MetricsSink;

pub struct ReviewRuntime {
    foundation: Foundation,
    pub config: ReviewConfig,
    store: Mutex<ReviewStore>,
    source: AxiomClient,
    log: AxiomReviewLog,
    chat: SlackClient,
    openai: Option<OpenAiClient>,
    metrics: MetricsSink,
}

impl ReviewRuntime {
    pub async fn start(metrics: MetricsSink) -> Result<Self, StartupError> {
        let config = ReviewConfig::from_env(&Env::process())?;
        let foundation = Foundation::start().await?;
        foundation.require("axiom_token", |c| &c.axiom_token)?;
        foundation.require("slack_bot_token", |c| &c.slack_bot_token)?;
        let store = Mutex::new(ReviewStore::new(foundation.database().await?));
        let axiom = |()| {
            AxiomClient::new(
                foundation.http.clone(),
                foundation.secrets.clone(),
                AxiomConfig {
                    org_id: config.axiom_org_id.clone(),
                    retry: foundation.common.retry,
                    ..AxiomConfig::new(config.axiom_url.clone())
                },
            )
        };
        let chat = SlackClient::new(
            foundation.http.clone(),
            foundation.secrets.clone(),
            SlackConfig {
                api_base: config.slack_api_base.clone(),
                retry: foundation.common.retry,
                ..SlackConfig::default()
            },
        );
        let openai = openai::configured(
            &config.llm,
            foundation.http.clone(),
            foundation.secrets.clone(),
            &foundation.credentials,
            foundation.common.retry,
        );
        Ok(Self {
            source: axiom(()),
            log: AxiomReviewLog {
                client: axiom(()),
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
            webhook: None::<&NoWebhook>,
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
