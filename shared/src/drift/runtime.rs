//! Composition for live drift runs (the Lambda function and the local runner's `--live` mode):
//! settings and credentials are read once, Postgres is connected and migrated, the connectors
//! are built; each invocation then runs the workflow within its deadline.

use std::time::Instant;

use chrono::Utc;
use uuid::Uuid;

use super::config::DriftSettings;
use super::dry_run::RecordingTracker;
use super::pg_store::PgStore;
use super::workflow::{DriftDeps, DriftError, RunReport, WORKFLOW, run_drift_as};
use crate::config::Env;
use crate::connectors::linear::{LinearClient, LinearConfig};
use crate::connectors::openai::{self, OpenAiClient};
use crate::credential_scope::Function;
use crate::db::Database;
use crate::db_roles;
use crate::dry_run::{DryRunReport, WouldDoLog};
use crate::http;
use crate::invocation::ColdStarted;
use crate::runtime::{Foundation, Mode, StartupError, StartupTimings};
use crate::telemetry::MetricsSink;

/// Everything a live drift run needs, built once per cold start.
pub struct DriftRuntime {
    foundation: Foundation,
    pub settings: DriftSettings,
    db: Database,
    linear: LinearClient,
    openai: Option<OpenAiClient>,
    metrics: MetricsSink,
}

impl DriftRuntime {
    /// Read settings and credentials, connect and migrate. Fails fast, naming what is missing.
    pub async fn start(mode: Mode) -> Result<Self, StartupError> {
        let metrics = mode.metrics();
        let settings = DriftSettings::from_env(&Env::process())?;
        let team_id = settings.linear_team_id.clone().ok_or_else(|| {
            StartupError::Missing(
                "setting LINEAR_TEAM_ID: required to file Linear issues".to_owned(),
            )
        })?;
        let foundation = Foundation::start(Function::OAuthDrift, mode).await?;
        let db = foundation.database().await?;
        let linear = LinearClient::new(
            foundation.http.clone(),
            foundation.secrets.clone(),
            LinearConfig {
                base_url: settings.linear_api_url.clone(),
                team_id,
                project_id: settings.linear_project_id.clone(),
                retry: foundation.common.retry,
            },
        );
        let openai = openai::configured(
            &settings.llm,
            foundation.http.clone(),
            foundation.secrets.clone(),
            &foundation.credentials,
            foundation.common.retry,
        );
        Ok(Self {
            foundation,
            settings,
            db,
            linear,
            openai,
            metrics,
        })
    }

    /// One run, finishing before `deadline`.
    pub async fn run(&self, deadline: Option<Instant>) -> Result<RunReport, RunError> {
        self.run_as(Uuid::new_v4(), deadline).await
    }

    /// One run recorded as `run_id` (the id the invocation logs under).
    pub async fn run_as(
        &self,
        run_id: Uuid,
        deadline: Option<Instant>,
    ) -> Result<RunReport, RunError> {
        self.foundation
            .check_deadline_margin(WORKFLOW, deadline, self.metrics);
        self.foundation.reconnect_if_closed(&self.db).await?;
        let store = PgStore::new(&self.db);
        let common = &self.foundation.common;
        let deps = DriftDeps {
            store: &store,
            tracker: &self.linear,
            llm: self.openai.as_ref(),
            settings: &self.settings,
            deadline_margin: common.deadline_margin,
            metrics: self.metrics,
            metrics_namespace: &common.metrics_namespace,
        };
        Ok(http::with_deadline(deadline, run_drift_as(&deps, run_id, Utc::now())).await?)
    }

    /// A dry run against the real services (decision 035): the real inventory and baseline in
    /// shadow tables, Linear read but never written, the model drafting as configured. The
    /// issues it would file come back; the baseline, runs and filings stay as they were.
    pub async fn dry_run(
        &self,
        deadline: Option<Instant>,
    ) -> Result<DryRunReport<RunReport>, RunError> {
        self.dry_run_as(Uuid::new_v4(), deadline).await
    }

    /// [`Self::dry_run`] under `run_id` (the id the invocation logs under).
    pub async fn dry_run_as(
        &self,
        run_id: Uuid,
        deadline: Option<Instant>,
    ) -> Result<DryRunReport<RunReport>, RunError> {
        let (db, shadowed) = self
            .foundation
            .shadow_database(db_roles::tables_of(WORKFLOW))
            .await?;
        let store = PgStore::new(&db);
        let would = WouldDoLog::default();
        let tracker = RecordingTracker::new(&self.linear, &self.linear.config().team_id, &would);
        let common = &self.foundation.common;
        let deps = DriftDeps {
            store: &store,
            tracker: &tracker,
            llm: self.openai.as_ref(),
            settings: &self.settings,
            deadline_margin: common.deadline_margin,
            // A dry run counts nothing: its filings are not the workflow's.
            metrics: MetricsSink::Off,
            metrics_namespace: &common.metrics_namespace,
        };
        let report = http::with_deadline(deadline, run_drift_as(&deps, run_id, Utc::now())).await?;
        Ok(DryRunReport::new(report, would.take(), shadowed))
    }
}

impl ColdStarted for DriftRuntime {
    fn timings(&self) -> StartupTimings {
        self.foundation.timings()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Drift(#[from] DriftError),
    #[error(transparent)]
    Startup(#[from] StartupError),
}

/// This workflow's errors by kind (the `errorType` an operator reads; see `crate::failure`).
mod failure_kinds {
    use super::RunError;
    use crate::drift::store::StoreError;
    use crate::drift::workflow::DriftError;
    use crate::failure::{Classify, FailureKind};

    impl Classify for StoreError {
        fn failure_kind(&self) -> FailureKind {
            match self {
                StoreError::MalformedRow { .. }
                | StoreError::EmptyInventory { .. }
                | StoreError::TooManyRevoked { .. }
                | StoreError::StaleInventory { .. }
                | StoreError::OutOfOrder { .. } => FailureKind::BadInput,
                StoreError::Db(_) => FailureKind::UpstreamUnavailable,
                StoreError::UnknownFiling(_) | StoreError::Corrupt(_) | StoreError::File { .. } => {
                    FailureKind::Internal
                }
            }
        }
    }

    impl Classify for DriftError {
        fn failure_kind(&self) -> FailureKind {
            match self {
                DriftError::Record(e) | DriftError::Store(e) => e.failure_kind(),
            }
        }
    }

    impl Classify for RunError {
        fn failure_kind(&self) -> FailureKind {
            match self {
                RunError::Drift(e) => e.failure_kind(),
                RunError::Startup(e) => e.failure_kind(),
            }
        }
    }
}
