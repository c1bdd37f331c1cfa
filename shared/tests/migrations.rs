//! Migrations at cold start: applied once, then recognised as current in one round trip
//! without queueing on the migration lock; a changed migration is still refused.

use secops_shared::db::{self, DbError, ScratchDatabase};
use secrecy::SecretString;
use std::time::Duration;

fn admin_url() -> SecretString {
    SecretString::from(std::env::var("TEST_DATABASE_URL").expect(
        "TEST_DATABASE_URL is not set: run scripts/test.sh (it finds or starts a Postgres server)",
    ))
}

fn scratch_name(test: &str) -> String {
    format!("secops_mig_{test}_{}", std::process::id())
}

#[tokio::test]
async fn a_current_schema_is_recognised_without_waiting_for_the_migration_lock() {
    let scratch = ScratchDatabase::create(&admin_url(), &scratch_name("current"), None)
        .await
        .unwrap();
    // Another process holds the migration lock (as a cold start applying a migration would).
    let holder = scratch.connect(None).await.unwrap();
    holder
        .execute("SELECT pg_advisory_lock(x'5EC095000001'::bigint)", &[])
        .await
        .unwrap();

    let mut client = scratch.connect(None).await.unwrap();
    let applied = tokio::time::timeout(Duration::from_secs(5), db::migrate(&mut client))
        .await
        .expect("a current schema must not wait for the lock")
        .unwrap();
    assert!(applied.is_empty(), "{applied:?}");

    drop(holder);
    drop(client);
    scratch.drop_now().await.unwrap();
}

#[tokio::test]
async fn a_changed_migration_is_still_refused() {
    let scratch = ScratchDatabase::create(&admin_url(), &scratch_name("changed"), None)
        .await
        .unwrap();
    let mut client = scratch.connect(None).await.unwrap();
    client
        .execute(
            "UPDATE schema_migrations SET checksum = 'deadbeef' WHERE version = 1",
            &[],
        )
        .await
        .unwrap();
    let err = db::migrate(&mut client).await.unwrap_err();
    assert!(
        matches!(err, DbError::MigrationChanged { version: 1, .. }),
        "{err}"
    );
    drop(client);
    scratch.drop_now().await.unwrap();
}

#[tokio::test]
async fn an_empty_database_gets_every_migration_once() {
    let admin = db::connect(&admin_url(), None).await.unwrap();
    let name = scratch_name("empty");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let url = SecretString::from(db::with_database(
        secrecy::ExposeSecret::expose_secret(&admin_url()),
        &name,
    ));
    let mut client = db::connect(&url, None).await.unwrap();
    let all: Vec<i32> = db::MIGRATIONS.iter().map(|m| m.0).collect();
    assert_eq!(db::migrate(&mut client).await.unwrap(), all);
    assert_eq!(db::migrate(&mut client).await.unwrap(), Vec::<i32>::new());
    drop(client);
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
}
