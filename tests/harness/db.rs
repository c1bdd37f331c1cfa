//! A fresh Postgres database per test: created, migrated with the product's own routine, and
//! dropped when the test ends. Tests never skip when Postgres is missing: they fail and say how
//! to start it.

use secops_shared::db;
use secops_shared::drift::pg_store::PgStore;
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
    pub url: String,
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
        let db = TestDb { name, url };
        let mut client = db.client().await;
        db::migrate(&mut client).await.expect("migrations apply");
        db
    }

    /// A new connection through the product's own connect routine.
    pub async fn client(&self) -> Client {
        db::connect(&SecretString::from(self.url.clone()), None)
            .await
            .expect("connect to the test database")
    }

    pub async fn store(&self) -> PgStore {
        PgStore::new(self.client().await)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
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
                }
            });
        })
        .join();
    }
}
