//! Composition for live rotation sweeps (the scheduled Lambda and the local runner's `--live`).

use std::time::Instant;

use chrono::Utc;
use serde_json::Value;

use super::WORKFLOW;
use super::config::RotationConfig;
use super::dry_run::RecordingChat;
use super::store::RotationStore;
use super::workflow::{SweepDeps, SweepError, SweepReport, SweepSettings, run_for_input};
use crate::config::Env;
use crate::credential_scope::Function;
use crate::db::Database;
use crate::db_roles;
use crate::dry_run::{DryRunReport, WouldDoLog};
use crate::http;
use crate::invocation::ColdStarted;
use crate::runtime::{Foundation, Mode, StartupError, StartupTimings};
use crate::slack::client::{SlackClient, SlackConfig};
use crate::telemetry::MetricsSink;

pub struct RotationRuntime {
    foundation: Foundation,
    pub config: RotationConfig,
    db: Database,
    slack: SlackClient,
    metrics: MetricsSink,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Sweep(#[from] SweepError),
    #[error(transparent)]
    Startup(#[from] StartupError),
}

impl RotationRuntime {
    pub async fn start(mode: Mode) -> Result<Self, StartupError> {
        let metrics = mode.metrics();
        let config = RotationConfig::from_env(&Env::process())?;
        config.require_digest_target()?;
        let foundation = Foundation::start(Function::RotationChaser, mode).await?;
        let db = foundation.database().await?;
        let slack = SlackClient::new(
            foundation.http.clone(),
            foundation.secrets.clone(),
            SlackConfig {
                base_url: config.slack_api_base.clone(),
                retry: foundation.common.retry,
                ..SlackConfig::default()
            },
        );
        Ok(Self {
            foundation,
            config,
            db,
            slack,
            metrics,
        })
    }

    /// One sweep, stopping new teams in time for `deadline`.
    pub async fn run(&self, deadline: Option<Instant>) -> Result<SweepReport, RunError> {
        self.run_input(&Value::Null, deadline).await
    }

    /// The sweep an invocation's input asks for: `{"workflow":"rotation-chaser"}` sweeps today,
    /// `"as_of":"YYYY-MM-DD"` replays a recent day; a refused input does nothing.
    pub async fn run_input(
        &self,
        input: &Value,
        deadline: Option<Instant>,
    ) -> Result<SweepReport, RunError> {
        self.foundation
            .check_deadline_margin(WORKFLOW, deadline, self.metrics);
        self.foundation.reconnect_if_closed(&self.db).await?;
        let settings = self.sweep_settings();
        let deps = SweepDeps {
            store: RotationStore::new(&self.db),
            chat: &self.slack,
            settings: &settings,
            metrics: self.metrics,
            metrics_namespace: &self.foundation.common.metrics_namespace,
        };
        Ok(http::with_deadline(deadline, run_for_input(&deps, Utc::now(), input)).await?)
    }

    /// The sweep `input` asks for, as a dry run against the real services (decision 035): the
    /// real campaigns and consumers in shadow tables, the nudges and the digest it would post
    /// come back; nudge counts, nudge records and digests stay as they were.
    pub async fn dry_run(
        &self,
        input: &Value,
        deadline: Option<Instant>,
    ) -> Result<DryRunReport<SweepReport>, RunError> {
        let (db, shadowed) = self
            .foundation
            .shadow_database(db_roles::tables_of(WORKFLOW))
            .await?;
        let would = WouldDoLog::default();
        let chat = RecordingChat::new(&would);
        let mut settings = self.sweep_settings();
        // Nothing is posted, so Slack's per-channel pace does not apply.
        settings.channel_spacing = std::time::Duration::ZERO;
        let deps = SweepDeps {
            store: RotationStore::new(&db),
            chat: &chat,
            settings: &settings,
            metrics: MetricsSink::Off,
            metrics_namespace: &self.foundation.common.metrics_namespace,
        };
        let report = http::with_deadline(deadline, run_for_input(&deps, Utc::now(), input)).await?;
        Ok(DryRunReport::new(report, would.take(), shadowed))
    }

    fn sweep_settings(&self) -> SweepSettings {
        let mut settings = self.config.sweep.clone();
        settings.deadline_margin = settings
            .deadline_margin
            .max(self.foundation.common.deadline_margin);
        settings
    }
}

impl ColdStarted for RotationRuntime {
    fn timings(&self) -> StartupTimings {
        self.foundation.timings()
    }
}

/// This workflow's errors by kind (the `errorType` an operator reads; see `crate::failure`).
mod failure_kinds {
    use crate::failure::{Classify, FailureKind};

    impl Classify for super::RunError {
        fn failure_kind(&self) -> FailureKind {
            use super::RunError;
            use crate::rotation::store::RotationStoreError;
            use crate::rotation::workflow::SweepError;
            match self {
                RunError::Sweep(SweepError::Store(RotationStoreError::Postgres(_))) => {
                    FailureKind::UpstreamUnavailable
                }
                RunError::Sweep(SweepError::Store(RotationStoreError::Import(_))) => {
                    FailureKind::BadInput
                }
                RunError::Sweep(SweepError::Store(RotationStoreError::Corrupt(_))) => {
                    FailureKind::Internal
                }
                RunError::Sweep(SweepError::Input(_)) => FailureKind::BadInput,
                RunError::Startup(e) => e.failure_kind(),
            }
        }
    }
}
