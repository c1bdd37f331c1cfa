//! What every function does at a cold start: read settings and credentials, connect and
//! migrate Postgres, build the one HTTP client. Start-up failures name what is missing.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::Client;

use crate::config::{CommonSettings, ConfigError, Env};
use crate::credential_scope::{self, Function};
use crate::db::{self, Database, DbError};
use crate::dry_run::{self, ShadowError, Shadowed};
use crate::http;
use crate::secrets::{Credentials, SecretError, SecretSource, SecretStore};
use crate::telemetry::{self, Metric, MetricsSink};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("dry run: {0}")]
    Shadow(#[from] ShadowError),
    #[error("{0}")]
    Missing(String),
}

/// Where a runtime runs. Every workflow's runtime starts with one: `start(Mode::Lambda)` in the
/// functions, `start(Mode::Local)` in the local runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// In Lambda: metrics as EMF on stdout; hand-overs go through the EventBridge bus.
    Lambda,
    /// In a local run: stdout is for people (no metrics); hand-overs are kept in memory and the
    /// runner does the receiving work itself.
    Local,
    /// A local dry run against the real services (`secops-local <workflow> run --dry-run`):
    /// as `Local`, and the database is never migrated (pending migrations stop the run).
    DryRun,
}

impl Mode {
    /// Where this mode's metrics go.
    pub fn metrics(self) -> MetricsSink {
        match self {
            Mode::Lambda => MetricsSink::Stdout,
            Mode::Local | Mode::DryRun => MetricsSink::Off,
        }
    }
}

/// The parts every function shares, built once per cold start.
pub struct Foundation {
    pub common: CommonSettings,
    pub secrets: Arc<SecretStore>,
    pub credentials: Arc<Credentials>,
    pub http: reqwest::Client,
    /// What the cold start spent its time on, for the `cold start complete` line.
    timings: Timings,
    /// A dry run's foundation never migrates the database.
    mode: Mode,
}

/// Where a cold start's time went, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StartupTimings {
    /// Fetching the secret.
    pub secret_ms: u64,
    /// Connecting to Postgres and migrating (0 for functions without a database).
    pub database_ms: u64,
}

#[derive(Debug, Default)]
struct Timings {
    secret_ms: u64,
    /// Only the first connection counts: later ones are warm reconnects, not the cold start.
    database_ms: OnceLock<u64>,
}

pub(crate) fn millis_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl Foundation {
    /// Settings, credentials and the HTTP client for `function`, which also names (by key)
    /// any credential its secret holds that it never uses.
    pub async fn start(function: Function, mode: Mode) -> Result<Self, StartupError> {
        let common = CommonSettings::from_env(&Env::process())?;
        let secrets = Arc::new(SecretStore::new(
            common.secret_source.clone(),
            common.secrets_ttl,
        ));
        let fetching = Instant::now();
        let credentials = secrets.current().await?;
        // Only a deployed function's secret is its own to trim; a workstation's credentials
        // file serves every command.
        if matches!(common.secret_source, SecretSource::SecretsManager { .. }) {
            credential_scope::warn_unused(function, &credentials);
        }
        let timings = Timings {
            secret_ms: millis_since(fetching),
            database_ms: OnceLock::new(),
        };
        let http = http::build_client(common.http_timeout);
        let foundation = Self {
            common,
            secrets,
            credentials,
            http,
            timings,
            mode,
        };
        for key in function.required_keys() {
            foundation.require(key)?;
        }
        Ok(foundation)
    }

    /// Where the cold start's time went so far.
    pub fn timings(&self) -> StartupTimings {
        StartupTimings {
            secret_ms: self.timings.secret_ms,
            database_ms: self.timings.database_ms.get().copied().unwrap_or(0),
        }
    }

    /// A credential the function cannot run without: present and not blank.
    pub fn require(&self, key: &str) -> Result<&SecretString, StartupError> {
        // An empty value is as unusable as a missing one; refuse it now, not at the first call.
        self.credentials
            .get(key)
            .filter(|value| !value.expose_secret().trim().is_empty())
            .ok_or_else(|| {
                StartupError::Missing(format!(
                    "credential {key} is missing from the secret (or empty)"
                ))
            })
    }

    /// Warn loudly when an invocation starts with no more time than `DEADLINE_MARGIN_SECS`
    /// (a WARN line and the `DeadlineMarginExceedsTime` metric): every run would stop before
    /// doing any work, which looks like a quiet day unless someone says so.
    pub fn check_deadline_margin(
        &self,
        workflow: &'static str,
        deadline: Option<Instant>,
        metrics: MetricsSink,
    ) {
        let Some(deadline) = deadline else {
            return;
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let margin = self.common.deadline_margin;
        if left > margin {
            return;
        }
        tracing::warn!(
            workflow,
            time_left_ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX),
            margin_secs = margin.as_secs(),
            "the invocation started with less time than DEADLINE_MARGIN_SECS: nothing can be done; lower the margin or raise the function's timeout"
        );
        telemetry::emit(
            metrics,
            &telemetry::emf_line(
                &self.common.metrics_namespace,
                workflow,
                &[Metric::count("DeadlineMarginExceedsTime", 1)],
                &[],
            ),
        );
    }

    /// Replace the connection if the server or a proxy closed it (a warm container's
    /// connection may not outlive an idle period). Every run starts with this.
    pub async fn reconnect_if_closed(&self, db: &Database) -> Result<(), StartupError> {
        let reopen = async {
            tracing::info!("postgres connection was closed; reconnecting");
            self.connect().await
        };
        db.replace_if_closed(reopen).await?;
        Ok(())
    }

    /// The runtime's one database handle: connected (re-reading the secret) and migrated.
    pub async fn database(&self) -> Result<Database, StartupError> {
        Ok(Database::new(self.connect().await?))
    }

    /// A connection of its own for a dry run (decision 035): `tables` shadowed by temporary
    /// copies and the session read-only. Dropping the handle discards all the run wrote.
    pub async fn shadow_database(
        &self,
        tables: &[&str],
    ) -> Result<(Database, Shadowed), StartupError> {
        let client = self.open().await?;
        require_current_schema(&client).await?;
        let shadowed = dry_run::shadow_tables(&client, tables).await?;
        Ok((Database::new(client), shadowed))
    }

    /// Connect to Postgres (re-reading the secret, so a rotated password is picked up) and
    /// apply migrations; a dry run's foundation only checks that none is pending.
    async fn connect(&self) -> Result<Client, StartupError> {
        let connecting = Instant::now();
        let mut client = self.open().await?;
        match self.mode {
            Mode::DryRun => require_current_schema(&client).await?,
            Mode::Lambda | Mode::Local => {
                db::migrate(&mut client).await?;
            }
        }
        let _ = self.timings.database_ms.set(millis_since(connecting));
        Ok(client)
    }

    async fn open(&self) -> Result<Client, StartupError> {
        let credentials = self.secrets.current().await?;
        let url = credentials.database_url.as_ref().ok_or_else(|| {
            StartupError::Missing("credential database_url is missing from the secret".to_owned())
        })?;
        Ok(db::connect_through(
            url,
            self.common.database_ca_bundle.as_deref(),
            self.common.database_proxy_endpoint.as_deref(),
        )
        .await?)
    }
}

/// A dry run reads today's schema as it is and changes nothing, migrations included.
async fn require_current_schema(client: &Client) -> Result<(), StartupError> {
    if db::pending_migrations(client).await?.is_current() {
        Ok(())
    } else {
        Err(StartupError::Missing(
            "database migrations are pending: a dry run does not apply them; run `secops-local migrate` with the schema owner's database_url first".to_owned(),
        ))
    }
}
