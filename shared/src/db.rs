//! Postgres: connecting (TLS with rustls for remote hosts, plain on localhost) and the one
//! migration routine that tests, the local runner and every Lambda cold start share.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row, Socket};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL itself is never shown: it carries the password.
    #[error("DATABASE_URL is not a valid Postgres connection string")]
    BadUrl,
    /// The proxy endpoint replaces the host of a URL; the key=value form has no single host.
    #[error(
        "DATABASE_PROXY_ENDPOINT is set, so database_url in the secret must be a postgres:// URL (the key=value form is not supported with a proxy)"
    )]
    ProxyNeedsUrl,
    #[error("DATABASE_PROXY_ENDPOINT {0:?} is not host or host:port")]
    BadProxyEndpoint(String),
    #[error("cannot read the database CA bundle {path}: {message}")]
    CaBundle { path: String, message: String },
    #[error("cannot connect to Postgres at {target}: {source}")]
    Connect {
        target: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        version: i32,
        name: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error(
        "migration {version} ({name}) was changed after it was applied (checksum {applied} in the database, {bundled} bundled); add a new migration instead"
    )]
    MigrationChanged {
        version: i32,
        name: &'static str,
        applied: String,
        bundled: String,
    },
    /// Migrations are pending and this connection's role may not apply them (a workflow role).
    #[error(
        "database migrations are pending and this function's database role may not apply them: run `secops-local migrate` with the schema owner's database_url, then retry (docs/operations.md \"Database roles\")"
    )]
    MigrationNeedsOwner,
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
}

/// Versioned migrations, applied in order. Never edit one that has shipped: add the next.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "oauth_drift",
        include_str!("../../infra/migrations/0001_oauth_drift.sql"),
    ),
    (
        2,
        "privileged_review",
        include_str!("../../infra/migrations/0002_privileged_review.sql"),
    ),
    (
        3,
        "rotation_chaser",
        include_str!("../../infra/migrations/0003_rotation_chaser.sql"),
    ),
    (
        4,
        "mr_audit",
        include_str!("../../infra/migrations/0004_mr_audit.sql"),
    ),
    (
        5,
        "drift_first_seen",
        include_str!("../../infra/migrations/0005_drift_first_seen.sql"),
    ),
    (
        6,
        "inventory_scopes_without_nulls",
        include_str!("../../infra/migrations/0006_inventory_scopes_without_nulls.sql"),
    ),
    (
        7,
        "rotation_nudge_before_send",
        include_str!("../../infra/migrations/0007_rotation_nudge_before_send.sql"),
    ),
    (
        8,
        "review_outbox_given_up",
        include_str!("../../infra/migrations/0008_review_outbox_given_up.sql"),
    ),
    (
        9,
        "mr_audit_unmerged_and_label_history",
        include_str!("../../infra/migrations/0009_mr_audit_unmerged_and_label_history.sql"),
    ),
    (
        10,
        "review_quarantine_and_identity_map",
        include_str!("../../infra/migrations/0010_review_quarantine_and_identity_map.sql"),
    ),
];

/// The one Postgres connection a runtime holds. Every store is built from it (a clone shares
/// the same connection), so when `Foundation::reconnect_if_closed` replaces a connection the
/// server or a proxy closed, no store is left holding the dead one.
#[derive(Clone)]
pub struct Database(Arc<tokio::sync::Mutex<Client>>);

impl Database {
    pub fn new(client: Client) -> Self {
        Self(Arc::new(tokio::sync::Mutex::new(client)))
    }

    /// The connection, for one query or one transaction at a time.
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, Client> {
        self.0.lock().await
    }

    /// One statement, taking the connection for its duration.
    pub async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        self.lock().await.execute(sql, params).await
    }

    /// One query's rows, taking the connection for its duration.
    pub async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        self.lock().await.query(sql, params).await
    }

    /// One query's row, if any.
    pub async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, tokio_postgres::Error> {
        self.lock().await.query_opt(sql, params).await
    }

    /// One query's only row (an error when there is none).
    pub async fn query_one(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, tokio_postgres::Error> {
        self.lock().await.query_one(sql, params).await
    }

    /// Put `reopen`'s connection in place of a closed one; an open one is kept and `reopen`
    /// never runs. Returns whether it replaced the connection.
    pub async fn replace_if_closed<E>(
        &self,
        reopen: impl Future<Output = Result<Client, E>>,
    ) -> Result<bool, E> {
        let mut client = self.0.lock().await;
        if !client.is_closed() {
            return Ok(false);
        }
        *client = reopen.await?;
        Ok(true)
    }
}

/// Connect. Hosts other than localhost, 127.0.0.1, ::1 and Unix sockets require TLS (rustls,
/// certificates checked against the Mozilla roots plus an optional CA bundle such as the RDS
/// one) unless the URL says `sslmode=disable` explicitly.
pub async fn connect(url: &SecretString, ca_bundle: Option<&Path>) -> Result<Client, DbError> {
    connect_through(url, ca_bundle, None).await
}

/// Connect as [`connect`] does, through an RDS Proxy (or any other endpoint) when one is given:
/// the endpoint replaces the URL's host (and port, if it names one) and everything else in the
/// URL is kept, so one secret serves both direct and proxied connections.
pub async fn connect_through(
    url: &SecretString,
    ca_bundle: Option<&Path>,
    proxy_endpoint: Option<&str>,
) -> Result<Client, DbError> {
    let routed;
    let url = match proxy_endpoint {
        Some(endpoint) => {
            routed = through_endpoint(url, endpoint)?;
            &routed
        }
        None => url,
    };
    let (config, transport) = plan(url)?;
    let target = transport.target.clone();
    if !transport.tls {
        if !transport.local {
            tracing::warn!(%target, "connecting to a remote Postgres without TLS because the URL says sslmode=disable");
        }
        return connect_with(&config, NoTls, target).await;
    }
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(ca_bundle)?);
    connect_with(&config, tls, target).await
}

/// How [`connect_through`] reaches the server: where (without user or password) and whether
/// over TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    /// `host:port/db`.
    pub target: String,
    /// Every host is localhost, 127.0.0.1, ::1 or a Unix socket.
    pub local: bool,
    /// TLS (rustls) is required: any other host, unless the URL says `sslmode=disable`.
    pub tls: bool,
}

/// The transport [`connect_through`] would use for this URL and proxy endpoint, decided without
/// connecting.
pub fn transport(url: &SecretString, proxy_endpoint: Option<&str>) -> Result<Transport, DbError> {
    let routed = match proxy_endpoint {
        Some(endpoint) => through_endpoint(url, endpoint)?,
        None => url.clone(),
    };
    plan(&routed).map(|(_, transport)| transport)
}

/// The connection settings, with `prefer` raised to `require` for remote hosts, and the
/// transport they mean.
fn plan(url: &SecretString) -> Result<(Config, Transport), DbError> {
    let mut config = Config::from_str(url.expose_secret()).map_err(|_| DbError::BadUrl)?;
    let target = describe(&config);
    let local = config.get_hosts().iter().all(is_local);
    if !local && config.get_ssl_mode() == SslMode::Prefer {
        // `prefer` (the default) would fall back to plaintext if the server, or someone in the
        // path, declined TLS.
        config.ssl_mode(SslMode::Require);
    }
    let tls = !local && config.get_ssl_mode() != SslMode::Disable;
    Ok((config, Transport { target, local, tls }))
}

/// The URL with its host (and port, when the endpoint names one) replaced by `endpoint`.
fn through_endpoint(url: &SecretString, endpoint: &str) -> Result<SecretString, DbError> {
    let bad = || DbError::BadProxyEndpoint(endpoint.to_owned());
    let (host, port) = match endpoint.rsplit_once(':') {
        Some((host, port)) => (host, Some(port.parse::<u16>().map_err(|_| bad())?)),
        None => (endpoint, None),
    };
    if host.is_empty() || host.contains(['/', '@', ',', ' ']) {
        return Err(bad());
    }
    let mut parsed =
        reqwest::Url::parse(url.expose_secret()).map_err(|_| DbError::ProxyNeedsUrl)?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") || !parsed.has_host() {
        return Err(DbError::ProxyNeedsUrl);
    }
    parsed.set_host(Some(host)).map_err(|_| bad())?;
    if port.is_some() {
        parsed.set_port(port).map_err(|_| bad())?;
    }
    Ok(SecretString::from(String::from(parsed)))
}

/// Connect and drive the connection in the background.
async fn connect_with<T>(config: &Config, tls: T, target: String) -> Result<Client, DbError>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = config
        .connect(tls)
        .await
        .map_err(|source| DbError::Connect { target, source })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::error!(error = %e, "postgres connection closed with an error");
        }
    });
    Ok(client)
}

fn is_local(host: &Host) -> bool {
    match host {
        Host::Tcp(name) => matches!(name.as_str(), "localhost" | "127.0.0.1" | "::1"),
        #[cfg(unix)]
        Host::Unix(_) => true,
    }
}

/// `host:port/db` without user or password, for messages.
fn describe(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", config.get_dbname().unwrap_or(""))
}

fn tls_config(ca_bundle: Option<&Path>) -> Result<rustls::ClientConfig, DbError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_bundle {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
            .map_err(|e| DbError::CaBundle {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        let (added, _ignored) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(DbError::CaBundle {
                path: path.display().to_string(),
                message: "no usable certificate in the file".to_owned(),
            });
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the default protocol versions are supported")
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// An arbitrary, fixed key for the migration advisory lock.
const MIGRATION_LOCK_KEY: i64 = 0x5EC0_9500_0001;

/// Apply every bundled migration not yet applied. Safe when several processes start at once:
/// they queue on an advisory lock, and each migration runs in its own transaction.
pub async fn migrate(client: &mut Client) -> Result<Vec<i32>, DbError> {
    // Nearly every cold start finds the schema current: one round trip and no lock then, instead
    // of the seven round trips of the locked path (each is a network hop to RDS on Lambda).
    if schema_is_current(client).await? {
        return Ok(Vec::new());
    }
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
        .await?;
    let result = apply_pending(client).await;
    // Tables a migration added reach their workflow's role now (when the roles exist).
    let result = match result {
        Ok(applied) if !applied.is_empty() => crate::db_roles::grant(client)
            .await
            .map(|_| applied)
            .map_err(DbError::from),
        other => other,
    };
    // Unlock even when a migration failed; a dropped connection releases it too.
    let unlock = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
        .await;
    let applied = result.map_err(owner_needed)?;
    unlock?;
    Ok(applied)
}

/// A workflow role (decision 030) may not change the schema: say who must.
fn owner_needed(error: DbError) -> DbError {
    let denied = |e: &tokio_postgres::Error| {
        e.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    };
    match &error {
        DbError::Postgres(e) | DbError::Migration { source: e, .. } if denied(e) => {
            DbError::MigrationNeedsOwner
        }
        _ => error,
    }
}

/// Whether every bundled migration is recorded with its checksum, read with one simple query
/// (no prepare round trip). Anything else, a changed migration included, takes the locked path,
/// which applies or reports it. Rows appear only when their migration commits, so a migration
/// still running elsewhere reads as not current.
async fn schema_is_current(client: &Client) -> Result<bool, DbError> {
    Ok(pending_migrations(client).await?.is_current())
}

/// How the database's applied migrations compare with the bundled ones, read without
/// changing anything (no lock, no table created).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Bundled migrations not applied yet, as `(version, name)`.
    pub pending: Vec<(i32, &'static str)>,
    /// Applied migrations whose bundled text has changed since, as `(version, name)`.
    pub changed: Vec<(i32, &'static str)>,
}

impl MigrationStatus {
    pub fn is_current(&self) -> bool {
        self.pending.is_empty() && self.changed.is_empty()
    }
}

/// The read-only twin of [`migrate`]: which bundled migrations are missing from
/// `schema_migrations` (all of them when the table does not exist) and which were edited after
/// they were applied.
pub async fn pending_migrations(client: &Client) -> Result<MigrationStatus, DbError> {
    let messages = match client
        .simple_query("SELECT version::text, checksum FROM schema_migrations")
        .await
    {
        Ok(messages) => messages,
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => {
            return Ok(MigrationStatus {
                pending: MIGRATIONS.iter().map(|&(v, name, _)| (v, name)).collect(),
                changed: Vec::new(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let applied: std::collections::HashMap<String, String> = messages
        .iter()
        .filter_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => {
                Some((row.get(0)?.to_owned(), row.get(1)?.to_owned()))
            }
            _ => None,
        })
        .collect();
    let mut status = MigrationStatus::default();
    for &(version, name, sql) in MIGRATIONS {
        match applied.get(&version.to_string()) {
            None => status.pending.push((version, name)),
            Some(sum) if *sum != checksum(sql) => status.changed.push((version, name)),
            Some(_) => {}
        }
    }
    Ok(status)
}

/// The short checksum recorded with each migration.
fn checksum(sql: &str) -> String {
    hex::encode(&Sha256::digest(sql.as_bytes())[..8])
}

async fn apply_pending(client: &mut Client) -> Result<Vec<i32>, DbError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await?;
    let rows = client
        .query("SELECT version, checksum FROM schema_migrations", &[])
        .await?;
    let applied: std::collections::HashMap<i32, String> =
        rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let mut newly = Vec::new();
    for &(version, name, sql) in MIGRATIONS {
        let checksum = checksum(sql);
        if let Some(existing) = applied.get(&version) {
            if *existing != checksum {
                return Err(DbError::MigrationChanged {
                    version,
                    name,
                    applied: existing.clone(),
                    bundled: checksum,
                });
            }
            continue;
        }
        let tx = client.transaction().await?;
        tx.batch_execute(sql)
            .await
            .map_err(|source| DbError::Migration {
                version,
                name,
                source,
            })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            &[&version, &name, &checksum],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, name, "applied migration");
        newly.push(version);
    }
    Ok(newly)
}

/// A throwaway database on the server of an existing connection string: created, migrated,
/// and dropped (with its open connections) by [`ScratchDatabase::drop_now`].
pub struct ScratchDatabase {
    admin: Client,
    name: String,
    url: SecretString,
}

impl ScratchDatabase {
    /// Create and migrate `name` (lower-case letters, digits and `_` only) next to the database
    /// `admin_url` names. Needs the CREATEDB privilege.
    pub async fn create(
        admin_url: &SecretString,
        name: &str,
        ca_bundle: Option<&Path>,
    ) -> Result<Self, DbError> {
        assert!(
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "scratch database names are plain identifiers"
        );
        let admin = connect(admin_url, ca_bundle).await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
        let url = SecretString::from(with_database(admin_url.expose_secret(), name));
        let scratch = Self {
            admin,
            name: name.to_owned(),
            url,
        };
        let migrated = async {
            let mut client = scratch.connect(ca_bundle).await?;
            migrate(&mut client).await?;
            Ok::<_, DbError>(())
        }
        .await;
        match migrated {
            Ok(()) => Ok(scratch),
            Err(e) => {
                scratch.drop_now().await.ok();
                Err(e)
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A new connection to the scratch database.
    pub async fn connect(&self, ca_bundle: Option<&Path>) -> Result<Client, DbError> {
        connect(&self.url, ca_bundle).await
    }

    /// Drop the database. Connections already released get up to half a second to close on
    /// their own; whatever is still connected after that is closed by the server.
    pub async fn drop_now(self) -> Result<(), DbError> {
        for _ in 0..20 {
            let open: i64 = self
                .admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
                    &[&self.name],
                )
                .await?
                .get(0);
            if open == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await?;
        Ok(())
    }
}

/// The same connection string naming database `name` instead: a URL's path is replaced (its
/// query kept); a `key=value` string gets `dbname=name` appended, which wins over an earlier one.
pub fn with_database(url: &str, name: &str) -> String {
    let Some((scheme, rest)) = ["postgres://", "postgresql://"]
        .iter()
        .find_map(|s| url.strip_prefix(s).map(|rest| (*s, rest)))
    else {
        return format!("{url} dbname={name}");
    };
    let (location, query) = match rest.split_once('?') {
        Some((l, q)) => (l, Some(q)),
        None => (rest, None),
    };
    // The path starts at the first '/' after the user info (a password may hold '/').
    let host_from = location.rfind('@').map_or(0, |at| at + 1);
    let host_end = location[host_from..]
        .find('/')
        .map_or(location.len(), |i| host_from + i);
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    format!("{scheme}{}/{name}{query}", &location[..host_end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_in_either_form() {
        assert_eq!(
            with_database("postgres://u:p/w@db:5432/app?sslmode=require", "x"),
            "postgres://u:p/w@db:5432/x?sslmode=require"
        );
        assert_eq!(
            with_database("postgresql://postgres@127.0.0.1", "x"),
            "postgresql://postgres@127.0.0.1/x"
        );
        assert_eq!(
            with_database("host=db dbname=app", "x"),
            "host=db dbname=app dbname=x"
        );
    }

    fn routed(url: &str, endpoint: &str) -> Result<String, DbError> {
        through_endpoint(&SecretString::from(url.to_owned()), endpoint)
            .map(|u| u.expose_secret().to_owned())
    }

    #[test]
    fn a_proxy_endpoint_replaces_only_the_host_and_keeps_the_credentials() {
        assert_eq!(
            routed(
                "postgres://app:p%40ss@db.internal:5432/secops?sslmode=require",
                "proxy.example.rds.amazonaws.com"
            )
            .unwrap(),
            "postgres://app:p%40ss@proxy.example.rds.amazonaws.com:5432/secops?sslmode=require"
        );
        assert_eq!(
            routed("postgresql://app:pw@db/secops", "127.0.0.1:6432").unwrap(),
            "postgresql://app:pw@127.0.0.1:6432/secops"
        );
    }

    #[test]
    fn a_proxy_needs_a_url_and_a_plain_endpoint() {
        assert!(matches!(
            routed("host=db user=app password=pw", "proxy"),
            Err(DbError::ProxyNeedsUrl)
        ));
        for endpoint in ["", "proxy:notaport", "user@proxy", "a,b", "proxy/db"] {
            let err = routed("postgres://app:pw@db/secops", endpoint).unwrap_err();
            assert!(
                matches!(err, DbError::BadProxyEndpoint(_)),
                "{endpoint}: {err}"
            );
            assert!(!err.to_string().contains("pw@"), "{err}");
        }
    }
}
