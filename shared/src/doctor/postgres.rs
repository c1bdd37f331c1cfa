//! Postgres, checked once for every workflow: the URL parses, TLS is used as configured, the
//! server answers, and the migrations are current, all without migrating or writing.

use std::time::Duration;

use tokio_postgres::Client;

use super::Context;
use super::checklist::{Checklist, quoted};
use crate::db::{self, DbError};

const COMMON: &str = "common";
const SUBJECT: &str = "postgres";
/// How long the connection may take before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Whoever may change the schema; every fix about migrations names it.
const MIGRATE_FIX: &str = "run `secops-local migrate` with the schema owner's database_url";

/// The connection, when Postgres was reached (workflows read their configured data through it).
pub(super) async fn check(list: &mut Checklist, context: &Context) -> Option<Client> {
    let mut record = list.record(COMMON, SUBJECT);
    let Some(url) = context.credential("database_url") else {
        record.skip(
            "reachable",
            "no database_url in the credentials (each workflow's credential check says so)",
        );
        return None;
    };
    let proxy = context.common.database_proxy_endpoint.as_deref();
    let transport = match db::transport(url, proxy) {
        Ok(transport) => transport,
        Err(e) => {
            record.fail("database_url parses", e.to_string(), url_fix(&e));
            return None;
        }
    };
    let ca_bundle = context.common.database_ca_bundle.as_deref();
    let tls = match (transport.local, transport.tls, ca_bundle) {
        (true, _, _) => {
            "plain TCP to a local server (TLS is required for any other host)".to_owned()
        }
        (false, false, _) => format!(
            "WITHOUT TLS to {}: the URL says sslmode=disable",
            transport.target
        ),
        (false, true, None) => "TLS (rustls, Mozilla roots)".to_owned(),
        (false, true, Some(path)) => format!(
            "TLS (rustls, Mozilla roots and DATABASE_CA_BUNDLE {})",
            quoted(&path.display().to_string())
        ),
    };
    record.pass("TLS as configured", tls);
    let connecting = db::connect_through(url, ca_bundle, proxy);
    let client = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => {
            record.fail("reachable", e.to_string(), connect_fix(&e));
            record.skip("migrations current", "Postgres could not be reached");
            return None;
        }
        Err(_) => {
            record.fail(
                "reachable",
                format!(
                    "no answer from {} within {} s",
                    transport.target,
                    CONNECT_TIMEOUT.as_secs()
                ),
                "check database_url's host and port, DATABASE_PROXY_ENDPOINT, and the network path (security group, VPC subnets) from here to the database",
            );
            record.skip("migrations current", "Postgres could not be reached");
            return None;
        }
    };
    record.pass("reachable", format!("connected to {}", transport.target));
    match db::pending_migrations(&client).await {
        Ok(status) if status.is_current() => record.pass(
            "migrations current",
            format!("all {} bundled migrations applied", db::MIGRATIONS.len()),
        ),
        Ok(status) if !status.changed.is_empty() => record.fail(
            "migrations current",
            format!(
                "applied migration(s) changed since: {}",
                listed(&status.changed)
            ),
            "deploy the shipped migration files unchanged (an applied migration is never edited; add a new one)",
        ),
        Ok(status) => record.fail(
            "migrations current",
            format!("not applied yet: {}", listed(&status.pending)),
            MIGRATE_FIX,
        ),
        Err(e) => record.fail(
            "migrations current",
            format!("cannot read schema_migrations: {e}"),
            format!("{MIGRATE_FIX} (it also grants the workflow roles their tables)"),
        ),
    }
    Some(client)
}

fn listed(migrations: &[(i32, &str)]) -> String {
    migrations
        .iter()
        .map(|(version, name)| format!("{version} ({name})"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn url_fix(error: &DbError) -> String {
    match error {
        DbError::ProxyNeedsUrl | DbError::BadProxyEndpoint(_) => {
            "set DATABASE_PROXY_ENDPOINT to host or host:port, with database_url a postgres:// URL"
                .to_owned()
        }
        _ => "set database_url in the secret to postgres://user:password@host:5432/database"
            .to_owned(),
    }
}

fn connect_fix(error: &DbError) -> String {
    match error {
        DbError::CaBundle { .. } => {
            "set DATABASE_CA_BUNDLE to a readable PEM file (for RDS, the region's CA bundle)"
                .to_owned()
        }
        DbError::Connect { .. } => "check database_url's host, port, user and password, the network path from here (security group, VPC), and, for a certificate error, DATABASE_CA_BUNDLE".to_owned(),
        _ => url_fix(error),
    }
}
