//! What every dry run against the real services shares (decision 035): shadow state and the
//! list of what the run would have done.
//!
//! Shadow state: on one connection of its own, each table a workflow writes gets a temporary
//! copy that the workflow's unqualified SQL resolves to, then the session turns read-only. The
//! workflow runs its real code on today's real state, and nothing it writes outlives the
//! connection: a write that would reach a real table fails instead of landing.

use std::time::Instant;

use tokio_postgres::Client;

use crate::db::DbError;

/// One write the run would have made to an outside service, instead of making it.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct WouldDo {
    /// `linear`, `slack`, `axiom`, `confluence`, `webhook`.
    pub service: &'static str,
    /// What the call would do: `create issue`, `post message`, `append event`, ...
    pub action: &'static str,
    /// Where: a team, a channel, a dataset, a page, a URL.
    pub target: String,
    /// What would have been sent, as the service would have received it.
    pub content: serde_json::Value,
}

/// A dry run's answer: the workflow's own report, what it would have written, and what the
/// shadow state cost. Nothing in it was sent anywhere.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DryRunReport<R> {
    pub dry_run: bool,
    pub report: R,
    pub would: Vec<WouldDo>,
    pub shadowed: Shadowed,
}

impl<R> DryRunReport<R> {
    pub fn new(report: R, would: Vec<WouldDo>, shadowed: Shadowed) -> Self {
        DryRunReport {
            dry_run: true,
            report,
            would,
            shadowed,
        }
    }
}

/// Collects [`WouldDo`]s from the recording adapters of one dry run.
#[derive(Debug, Default)]
pub struct WouldDoLog(std::sync::Mutex<Vec<WouldDo>>);

impl WouldDoLog {
    pub fn record(&self, would: WouldDo) {
        self.0.lock().expect("not poisoned").push(would);
    }

    pub fn take(&self) -> Vec<WouldDo> {
        std::mem::take(&mut *self.0.lock().expect("not poisoned"))
    }
}

/// What shadowing cost, for the dry run's report.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct Shadowed {
    /// Each table and the rows copied into its shadow.
    pub tables: Vec<(String, u64)>,
    pub millis: u64,
}

/// Why the state could not be shadowed. The dry run stops: running without shadows would
/// write to the real tables.
#[derive(Debug, thiserror::Error)]
pub enum ShadowError {
    #[error("table {0} does not exist: run `secops-local migrate` first")]
    MissingTable(String),
    #[error(
        "cannot create temporary tables for the dry run ({0}); grant the role TEMPORARY on the database"
    )]
    NoTempPrivilege(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<tokio_postgres::Error> for ShadowError {
    fn from(e: tokio_postgres::Error) -> Self {
        ShadowError::Db(DbError::from(e))
    }
}

/// Shadow `tables` on `client` and make the session read-only. Call it on a fresh connection
/// that nothing else uses, and drop the connection at the end of the dry run: that is what
/// discards the shadows.
pub async fn shadow_tables(client: &Client, tables: &[&str]) -> Result<Shadowed, ShadowError> {
    let started = Instant::now();
    let mut copied = Vec::with_capacity(tables.len());
    client.batch_execute("BEGIN").await?;
    for table in tables {
        match shadow_one(client, table).await {
            Ok(rows) => copied.push(((*table).to_owned(), rows)),
            Err(e) => {
                let _ = client.batch_execute("ROLLBACK").await;
                return Err(e);
            }
        }
    }
    // From here on, a write to any real table is refused by Postgres itself ("cannot execute
    // INSERT in a read-only transaction"); writes to the temporary shadows are allowed.
    client
        .batch_execute("COMMIT; SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        .await?;
    Ok(Shadowed {
        tables: copied,
        millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// One table: a temporary copy with its data, defaults, constraints and indexes, and its own
/// sequences (a permanent sequence's `nextval` is refused in a read-only session, and would
/// move the real one).
async fn shadow_one(client: &Client, table: &str) -> Result<u64, ShadowError> {
    let real = client
        .query_opt(
            "SELECT format('%I.%I', n.nspname, c.relname)
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.oid = to_regclass($1)",
            &[&table],
        )
        .await?
        .map(|row| row.get::<_, String>(0))
        .ok_or_else(|| ShadowError::MissingTable(table.to_owned()))?;
    let shadow = format!("pg_temp.{}", quote_ident(table));
    let create = format!(
        "CREATE TEMPORARY TABLE {} (LIKE {real} INCLUDING ALL)",
        quote_ident(table)
    );
    client.batch_execute(&create).await.map_err(|e| {
        if e.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) {
            ShadowError::NoTempPrivilege(e.to_string())
        } else {
            e.into()
        }
    })?;
    let rows = client
        .execute(&format!("INSERT INTO {shadow} SELECT * FROM {real}"), &[])
        .await?;
    let serial_columns = client
        .query(
            "SELECT a.attname
               FROM pg_attrdef d
               JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
              WHERE d.adrelid = $1::text::regclass
                AND pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%'",
            &[&shadow],
        )
        .await?;
    for row in serial_columns {
        let column: String = row.get(0);
        let sequence = quote_ident(&format!("{table}_{column}_shadow_seq"));
        let column = quote_ident(&column);
        client
            .batch_execute(&format!(
                "CREATE TEMPORARY SEQUENCE {sequence};
                 SELECT setval('pg_temp.{sequence}', coalesce((SELECT max({column}) FROM {shadow}), 0) + 1, false);
                 ALTER TABLE {shadow} ALTER COLUMN {column} SET DEFAULT nextval('pg_temp.{sequence}')"
            ))
            .await?;
    }
    Ok(rows)
}

/// An identifier quoted for SQL. The names come from our own table list, but quoting costs
/// nothing and keeps any name literal.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::quote_ident;

    #[test]
    fn identifiers_are_quoted_whatever_they_hold() {
        assert_eq!(quote_ident("rotation_nudges"), "\"rotation_nudges\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
