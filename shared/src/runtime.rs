//! What every function does at a cold start: read settings and credentials, connect and
//! migrate Postgres, build the one HTTP client. Start-up failures name what is missing.

use std::sync::Arc;

use secrecy::SecretString;
use tokio_postgres::Client;

use crate::config::{CommonSettings, ConfigError, Env};
use crate::db::{self, DbError};
use crate::http;
use crate::secrets::{Credentials, SecretError, SecretStore};

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

/// The parts every function shares, built once per cold start.
pub struct Foundation {
    pub common: CommonSettings,
    pub secrets: Arc<SecretStore>,
    pub credentials: Arc<Credentials>,
    pub http: reqwest::Client,
}

impl Foundation {
    pub async fn start() -> Result<Self, StartupError> {
        let common = CommonSettings::from_env(&Env::process())?;
        let secrets = Arc::new(SecretStore::new(
            common.secret_source.clone(),
            common.secrets_ttl,
        ));
        let credentials = secrets.current().await?;
        let http = http::build_client(common.http_timeout);
        Ok(Self {
            common,
            secrets,
            credentials,
            http,
        })
    }

    /// A credential the function cannot run without.
    pub fn require<'a>(
        &'a self,
        name: &str,
        pick: impl Fn(&'a Credentials) -> &'a Option<SecretString>,
    ) -> Result<&'a SecretString, StartupError> {
        pick(&self.credentials).as_ref().ok_or_else(|| {
            StartupError::Missing(format!("credential {name} is missing from the secret"))
        })
    }

    /// Replace a connection the server or a proxy closed (a warm container's connection may
    /// not outlive an idle period).
    pub async fn reconnect_if_closed(
        &self,
        db: &tokio::sync::Mutex<Client>,
    ) -> Result<(), StartupError> {
        let mut client = db.lock().await;
        if client.is_closed() {
            tracing::info!("postgres connection was closed; reconnecting");
            *client = self.database().await?;
        }
        Ok(())
    }

    /// Connect to Postgres (re-reading the secret, so a rotated password is picked up) and
    /// apply migrations.
    pub async fn database(&self) -> Result<Client, StartupError> {
        let credentials = self.secrets.current().await?;
        let url = credentials.database_url.as_ref().ok_or_else(|| {
            StartupError::Missing("credential database_url is missing from the secret".to_owned())
        })?;
        let mut client = db::connect(url, self.common.database_ca_bundle.as_deref()).await?;
        db::migrate(&mut client).await?;
        Ok(client)
    }
}
