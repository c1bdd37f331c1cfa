//! A fresh Postgres database per test: created, migrated with the product's own routine, and
//! dropped when the test ends. Tests never skip when Postgres is missing: they fail and say how
//! to start it.

use secops_shared::credential_scope::Function;
use secops_shared::db::Database;
use secops_shared::drift::pg_store::PgStore;
use secops_shared::{db, db_roles};
use secrecy::SecretString;
use tokio_postgres::{Client, NoTls};

/// Where the test server is: `TEST_DATABASE_URL` (a database the tests may connect to in order
/// to create others), by default the local trust-auth server.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A throwaway database.
pub struct TestDb {
    pub name: String,
    /// How the test connects: as the admin, or as a login user holding only the workflow
    /// roles it was created for ([`TestDb::create_for`]).
    pub url: String,
    /// The admin's URL to this database, for what a workflow role may not do.
    pub admin_url: String,
    /// The per-test login user, dropped with the database.
    login: Option<String>,
}

async fn connect_plain(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap_or_else(|e| {
        panic!(
            "cannot reach the test Postgres at {url}: {e}\n\
             Start one with `scripts/test.sh` (it finds or starts a server), or set TEST_DATABASE_URL."
        )
    });
    tokio::spawn(connection);
    client
}

/// The same URL logging in as `user` (trust authentication: no password).
fn with_user(url: &str, user: &str) -> String {
    let rest = url
        .strip_prefix("postgres://")
        .expect("TEST_DATABASE_URL must be a postgres:// URL");
    let host = rest.split_once('@').map_or(rest, |(_, host)| host);
    format!("postgres://{user}@{host}")
}

fn with_database(url: &str, name: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("TEST_DATABASE_URL must end in /<database>"),
    }
}

impl TestDb {
    /// Create and migrate a new database.
    pub async fn create() -> TestDb {
        let admin = admin_url();
        let name = format!("secops_test_{}", uuid::Uuid::new_v4().simple());
        connect_plain(&admin)
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create the test database");
        let url = with_database(&admin, &name);
        let db = TestDb {
            name,
            admin_url: url.clone(),
            url,
            login: None,
        };
        let mut client = db.client().await;
        db::migrate(&mut client).await.expect("migrations apply");
        db
    }

    /// Create and migrate a new database that the test then uses as a deployed function of
    /// `function` would: through a login user holding only that function's workflow roles
    /// (decision 030), so a query on another workflow's table fails the test.
    pub async fn create_for(function: Function) -> TestDb {
        let mut db = Self::create().await;
        let admin = db.admin_client().await;
        db_roles::create_roles(&admin)
            .await
            .expect("create the workflow roles");
        let login = format!("{}_login", db.name);
        let groups: Vec<&str> = db_roles::roles_for(function)
            .iter()
            .map(|r| r.role)
            .collect();
        admin
            .batch_execute(&format!(
                "CREATE ROLE {login} LOGIN IN ROLE {}; GRANT CONNECT ON DATABASE {} TO {login};",
                groups.join(", "),
                db.name
            ))
            .await
            .expect("create the test's login user");
        db.url = with_user(&db.admin_url, &login);
        db.login = Some(login);
        db
    }

    /// Make the test's login also a member of `function`'s roles, as a login that one
    /// function of two workflows uses (slack-interactions with the review and the chaser).
    pub async fn also_for(&self, function: Function) {
        let login = self
            .login
            .as_deref()
            .expect("a database created for a function has a login");
        let roles: Vec<&str> = db_roles::roles_for(function)
            .iter()
            .map(|r| r.role)
            .collect();
        self.admin_client()
            .await
            .batch_execute(&format!("GRANT {} TO {login}", roles.join(", ")))
            .await
            .expect("grant the function's roles");
    }

    /// A connection as the admin (superuser), whatever `url` logs in as.
    pub async fn admin_client(&self) -> Client {
        connect_plain(&self.admin_url).await
    }

    /// A new connection through the product's own connect routine.
    pub async fn client(&self) -> Client {
        db::connect(&SecretString::from(self.url.clone()), None)
            .await
            .expect("connect to the test database")
    }

    /// Each table's row count and a digest of its whole content (rows in a fixed order), and
    /// every sequence's last value: equal fingerprints before and after mean nothing was
    /// written. Read as the admin, so no role's grants hide a table.
    pub async fn fingerprint(&self, tables: &[&str]) -> Vec<String> {
        let client = self.admin_client().await;
        let mut found = Vec::new();
        for table in tables {
            let row = client
                .query_one(
                    &format!(
                        "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
                    ),
                    &[],
                )
                .await
                .unwrap_or_else(|e| panic!("fingerprint {table}: {e}"));
            let (rows, digest): (i64, String) = (row.get(0), row.get(1));
            found.push(format!("{table}: {rows} rows, {digest}"));
        }
        for row in client
            .query(
                "SELECT sequencename, coalesce(last_value, 0) FROM pg_sequences ORDER BY 1",
                &[],
            )
            .await
            .expect("read the sequences")
        {
            let (name, last): (String, i64) = (row.get(0), row.get(1));
            found.push(format!("sequence {name}: {last}"));
        }
        found
    }

    pub async fn store(&self) -> PgStore {
        PgStore::new(&Database::new(self.client().await))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let login = self.login.clone();
        // Drop runs outside async context guarantees: use a private runtime on a thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok((client, conn)) = tokio_postgres::connect(&admin_url(), NoTls).await {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    if let Some(login) = login {
                        let _ = client
                            .batch_execute(&format!("DROP ROLE IF EXISTS {login}"))
                            .await;
                    }
                }
            });
        })
        .join();
    }
}
