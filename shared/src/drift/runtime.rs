//! Composition for live runs (the Lambda function and the local runner's `--live` mode):
//! settings and credentials are read once, Postgres is connected and migrated, the connectors
//! are built; each invocation then runs the workflow within its deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use secrecy::SecretString;
use tokio::sync::Mutex;

use super::pg_store::PgStore;
use super::workflow::{DriftDeps, DriftError, RunReport, run_drift};
use crate::config::{CommonSettings, ConfigError, DriftSettings, Env};
use crate::connectors::linear::{LinearClient, LinearConfig};
use crate::connectors::openai::{OpenAiClient, OpenAiConfig};
use crate::db::{self, DbError};
use crate::http;
use crate::secrets::{SecretError, SecretStore};
use crate::telemetry::MetricsSink;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Missing(String),
}

/// Everything a live drift run needs, built once per cold start.
pub struct DriftRuntime {
    pub common: CommonSettings,
    pub settings: DriftSettings,
    secrets: Arc<SecretStore>,
    store: Mutex<PgStore>,
    linear: LinearClient,
    openai: Option<OpenAiClient>,
    metrics: MetricsSink,
}

impl DriftRuntime {
    /// Read settings and credentials, connect and migrate. Fails fast, naming what is missing.
    pub async fn start(metrics: MetricsSink) -> Result<Self, StartupError> {
        let env = Env::process();
        let common = CommonSettings::from_env(&env)?;
        let settings = DriftSettings::from_env(&env)?;
        let team_id = settings.linear_team_id.clone().ok_or_else(|| {
            StartupError::Missing(
                "setting LINEAR_TEAM_ID: required to file Linear issues".to_owned(),
            )
        })?;
        let secrets = Arc::new(SecretStore::new(
            common.secret_source.clone(),
            common.secrets_ttl,
        ));
        let credentials = secrets.current().await?;
        let database_url = credentials.database_url.clone().ok_or_else(|| {
            StartupError::Missing("credential database_url is missing from the secret".to_owned())
        })?;
        if credentials.linear_api_key.is_none() {
            return Err(StartupError::Missing(
                "credential linear_api_key is missing from the secret".to_owned(),
            ));
        }
        let store = Mutex::new(connect_store(&database_url, &common).await?);
        let client = http::build_client(common.http_timeout);
        let linear = LinearClient::new(
            client.clone(),
            secrets.clone(),
            LinearConfig {
                api_url: settings.linear_api_url.clone(),
                team_id,
                project_id: settings.linear_project_id.clone(),
                retry: common.retry,
            },
        );
        let openai = match (&settings.openai_model, &credentials.openai_api_key) {
            (Some(model), Some(_)) => Some(OpenAiClient::new(
                client,
                secrets.clone(),
                OpenAiConfig {
                    base_url: settings.openai_base_url.clone(),
                    model: model.clone(),
                    timeout: settings.llm_timeout,
                    retry: common.retry,
                },
            )),
            (None, Some(_)) => {
                tracing::warn!(
                    "openai_api_key is set but OPENAI_MODEL is not: drafts use the template"
                );
                None
            }
            _ => {
                tracing::info!("no model configured: drafts use the template");
                None
            }
        };
        Ok(Self {
            common,
            settings,
            secrets,
            store,
            linear,
            openai,
            metrics,
        })
    }

    /// One run, finishing `deadline_margin` before `deadline`.
    pub async fn run_once(&self, deadline: Option<Instant>) -> Result<RunReport, RunError> {
        let mut store = self.store.lock().await;
        if store.is_closed().await {
            // A frozen Lambda's idle connection may have been closed by the server or a proxy.
            tracing::info!("postgres connection was closed; reconnecting");
            let credentials = self.secrets.current().await?;
            let url = credentials.database_url.clone().ok_or_else(|| {
                RunError::Startup(StartupError::Missing("database_url".to_owned()))
            })?;
            *store = connect_store(&url, &self.common).await?;
        }
        let deps = DriftDeps {
            store: &*store,
            tracker: &self.linear,
            llm: self.openai.as_ref(),
            settings: &self.settings,
            deadline_margin: self.common.deadline_margin,
            metrics: self.metrics,
            metrics_namespace: &self.common.metrics_namespace,
        };
        Ok(http::with_deadline(deadline, run_drift(&deps, Utc::now())).await?)
    }

    pub fn deadline_margin(&self) -> Duration {
        self.common.deadline_margin
    }
}

async fn connect_store(url: &SecretString, common: &CommonSettings) -> Result<PgStore, DbError> {
    let mut client = db::connect(url, common.database_ca_bundle.as_deref()).await?;
    db::migrate(&mut client).await?;
    Ok(PgStore::new(client))
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Drift(#[from] DriftError),
    #[error(transparent)]
    Startup(#[from] StartupError),
}

impl From<SecretError> for RunError {
    fn from(e: SecretError) -> Self {
        RunError::Startup(e.into())
    }
}

impl From<DbError> for RunError {
    fn from(e: DbError) -> Self {
        RunError::Startup(e.into())
    }
}
