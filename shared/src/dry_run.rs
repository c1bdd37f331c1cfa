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
    #[error(
        "table {0} does not exist: the database schema is behind this version (run `secops-local migrate` as the schema owner)"
    )]
    MissingTable(String),
    #[error(
        "the database role may not create temporary tables; grant it TEMPORARY on the database (GRANT TEMPORARY ON DATABASE … TO …)"
    )]
    NoTempPrivilege,
    #[error("table {table}: {what}; the dry run cannot shadow it")]
    Unsupported { table: String, what: &'static str },
    /// The session does not see its shadows (a search_path without `pg_temp` first, or a
    /// transaction-pooling proxy running statements on other server sessions).
    #[error(
        "after shadowing, {0}: the dry run needs one server session of its own (a session-pinning proxy such as RDS Proxy is fine, transaction pooling is not)"
    )]
    NotIsolated(String),
    #[error("no table to shadow: a dry run of an unknown workflow")]
    NothingToShadow,
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
    if tables.is_empty() {
        return Err(ShadowError::NothingToShadow);
    }
    let started = Instant::now();
    let may_create: bool = client
        .query_one(
            "SELECT has_database_privilege(current_database(), 'TEMPORARY')",
            &[],
        )
        .await?
        .get(0);
    if !may_create {
        return Err(ShadowError::NoTempPrivilege);
    }
    let mut copied = Vec::with_capacity(tables.len());
    client.batch_execute("BEGIN").await?;
    for (n, table) in tables.iter().enumerate() {
        match shadow_one(client, table, n).await {
            Ok(rows) => copied.push(((*table).to_owned(), rows)),
            Err(e) => {
                let _ = client.batch_execute("ROLLBACK").await;
                return Err(e);
            }
        }
    }
    // Unqualified names must find the shadows whatever the role's search_path says; then, from
    // here on, a write to any real table is refused by Postgres itself ("cannot execute INSERT
    // in a read-only transaction"), while writes to the temporary shadows are allowed.
    client
        .batch_execute(
            "COMMIT;
             SELECT set_config('search_path', 'pg_temp, ' || current_setting('search_path'), false);
             SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
        )
        .await?;
    check_isolated(client, tables).await?;
    Ok(Shadowed {
        tables: copied,
        millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// Each statement from here on sees the shadows and may not write anything else: asked in
/// statements of their own, so a proxy that moved them to another server session is caught.
async fn check_isolated(client: &Client, tables: &[&str]) -> Result<(), ShadowError> {
    let read_only: String = client
        .query_one("SELECT current_setting('transaction_read_only')", &[])
        .await?
        .get(0);
    if read_only != "on" {
        return Err(ShadowError::NotIsolated(
            "the session is not read-only".to_owned(),
        ));
    }
    for table in tables {
        let shadowed: bool = client
            .query_one(
                "SELECT coalesce((SELECT relnamespace = pg_my_temp_schema() FROM pg_class
                                   WHERE oid = to_regclass($1)), false)",
                &[table],
            )
            .await?
            .get(0);
        if !shadowed {
            return Err(ShadowError::NotIsolated(format!(
                "{table} still names the real table"
            )));
        }
    }
    Ok(())
}

/// One table, the `n`th: a temporary copy with its data, defaults, indexes and checks, and its
/// own sequences (a permanent sequence's `nextval` is refused in a read-only session, and would
/// move the real one).
async fn shadow_one(client: &Client, table: &str, n: usize) -> Result<u64, ShadowError> {
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
    let unusual: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_attribute
              WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped
                AND (attidentity <> '' OR attgenerated <> '')",
            &[&real],
        )
        .await?
        .get(0);
    if unusual > 0 {
        // A copy by `SELECT *` cannot fill a generated column, and an identity column's new
        // sequence would start at 1: both need code here before such a table ships.
        return Err(ShadowError::Unsupported {
            table: table.to_owned(),
            what: "it has an identity or generated column",
        });
    }
    let shadow = format!("pg_temp.{}", quote_ident(table));
    // Checks are added after the rows, as the real table has them: a check added NOT VALID
    // (migration 0006) holds for new rows only, and a copy must not refuse the old ones.
    client
        .batch_execute(&format!(
            "CREATE TEMPORARY TABLE {} (LIKE {real} INCLUDING ALL EXCLUDING CONSTRAINTS)",
            quote_ident(table)
        ))
        .await?;
    let rows = client
        .execute(&format!("INSERT INTO {shadow} SELECT * FROM {real}"), &[])
        .await?;
    let checks = client
        .query(
            "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint
              WHERE conrelid = $1::text::regclass AND contype = 'c' ORDER BY conname",
            &[&real],
        )
        .await?;
    for check in checks {
        let (name, definition): (String, String) = (check.get(0), check.get(1));
        // The definition is Postgres's own rendering of our migration's check (with NOT VALID
        // when the real one is), not outside input.
        client
            .batch_execute(&format!(
                "ALTER TABLE {shadow} ADD CONSTRAINT {} {definition}",
                quote_ident(&name)
            ))
            .await?;
    }
    let serial_columns = client
        .query(
            "SELECT a.attname::text
               FROM pg_attrdef d
               JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
              WHERE d.adrelid = $1::text::regclass
                AND pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%'
              ORDER BY a.attnum",
            &[&shadow],
        )
        .await?;
    for (i, row) in serial_columns.into_iter().enumerate() {
        let column = quote_ident(&row.get::<_, String>(0));
        let sequence = format!("pg_temp.shadow_seq_{n}_{i}");
        client
            .batch_execute(&format!(
                "CREATE TEMPORARY SEQUENCE {sequence};
                 SELECT setval('{sequence}', coalesce((SELECT max({column}) FROM {shadow}), 0) + 1, false);
                 ALTER TABLE {shadow} ALTER COLUMN {column} SET DEFAULT nextval('{sequence}')"
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
