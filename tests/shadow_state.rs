//! The dry run's shadow state (decision 035) on a real Postgres: the workflow's SQL reaches
//! temporary copies with today's rows and their own sequences, every write to a real table is
//! refused, and closing the connection leaves the real tables as they were.

use secops_shared::credential_scope::Function;
use secops_shared::db;
use secops_shared::dry_run::{ShadowError, shadow_tables};
use secops_tests::db::TestDb;

/// A migrated database with one consumer row, so the copy has something to copy.
async fn seeded() -> TestDb {
    let test = TestDb::create().await;
    let mut client = test.client().await;
    db::migrate(&mut client).await.expect("migrate");
    client
        .batch_execute(
            "INSERT INTO rotation_campaigns
                 (campaign, retired_key, replacement_key, deadline, created_at, updated_at)
                 VALUES ('stripe-2026', 'old', 'new', '2026-11-20', now(), now());
             INSERT INTO rotation_consumers
                 (campaign, name, team, channel, status, created_at, updated_at)
                 VALUES ('stripe-2026', 'billing-api', 'payments', 'C0PAYMENTS', 'pending', now(), now());",
        )
        .await
        .expect("seed");
    test
}

const TABLES: &[&str] = &[
    "rotation_campaigns",
    "rotation_consumers",
    "rotation_nudges",
];

#[tokio::test]
async fn writes_reach_the_shadows_and_never_the_real_tables() {
    let test = seeded().await;
    let before = test.fingerprint(TABLES).await;
    let client = test.client().await;
    let shadowed = shadow_tables(&client, TABLES).await.expect("shadowed");
    assert_eq!(
        shadowed.tables,
        [
            ("rotation_campaigns".to_owned(), 1),
            ("rotation_consumers".to_owned(), 1),
            ("rotation_nudges".to_owned(), 0),
        ]
    );
    // The workflow's unqualified SQL: today's row is there, an update and a serial insert work.
    client
        .batch_execute(
            "UPDATE rotation_consumers SET nudge_count = nudge_count + 1 WHERE name = 'billing-api';
             INSERT INTO rotation_consumers
                 (campaign, name, team, channel, status, created_at, updated_at)
                 VALUES ('stripe-2026', 'refunds', 'payments', 'C0PAYMENTS', 'pending', now(), now());",
        )
        .await
        .expect("writes to the shadows");
    let ids: Vec<i64> = client
        .query(
            "SELECT consumer_id FROM rotation_consumers ORDER BY consumer_id",
            &[],
        )
        .await
        .expect("read the shadow")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(
        ids[1] > ids[0],
        "the shadow's own sequence continues: {ids:?}"
    );
    // A write that names a real table is refused by Postgres itself.
    let refused = client
        .batch_execute("UPDATE public.rotation_consumers SET nudge_count = 99")
        .await
        .expect_err("a read-only session");
    let message = refused.as_db_error().map(|e| e.message().to_owned());
    assert!(
        message
            .as_deref()
            .is_some_and(|m| m.contains("read-only transaction")),
        "{message:?}"
    );
    drop(client);
    assert_eq!(test.fingerprint(TABLES).await, before);
}

#[tokio::test]
async fn a_missing_table_stops_the_dry_run_before_anything_runs() {
    let test = seeded().await;
    let client = test.client().await;
    let e = shadow_tables(&client, &["rotation_consumers", "no_such_table"])
        .await
        .expect_err("no such table");
    assert!(
        matches!(e, ShadowError::MissingTable(ref t) if t == "no_such_table"),
        "{e}"
    );
    assert!(e.to_string().contains("secops-local migrate"), "{e}");
    // Nothing half-done stays behind: the first shadow was rolled back with the rest.
    let shadows: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relpersistence = 't' AND relkind = 'r'",
            &[],
        )
        .await
        .expect("count temporary tables")
        .get(0);
    assert_eq!(shadows, 0);
}

#[tokio::test]
async fn a_check_added_not_valid_copies_old_rows_and_still_holds_for_new_ones() {
    let test = seeded().await;
    // An inventory row from before migration 0006, which added its check NOT VALID.
    test.admin_client()
        .await
        .batch_execute(
            "ALTER TABLE oauth_grant_inventory DROP CONSTRAINT oauth_grant_inventory_scopes_no_null;
             INSERT INTO oauth_grant_inventory (provider, client_id, principal, scopes)
                 VALUES ('google', 'old-app', 'ann@example.com', ARRAY['openid', NULL]);
             ALTER TABLE oauth_grant_inventory ADD CONSTRAINT oauth_grant_inventory_scopes_no_null
                 CHECK (array_position(scopes, NULL) IS NULL) NOT VALID;",
        )
        .await
        .expect("an old row");
    let client = test.client().await;
    let shadowed = shadow_tables(&client, &["oauth_grant_inventory"])
        .await
        .expect("the old row is copied");
    assert_eq!(shadowed.tables, [("oauth_grant_inventory".to_owned(), 1)]);
    let refused = client
        .batch_execute(
            "INSERT INTO oauth_grant_inventory (provider, client_id, principal, scopes)
                 VALUES ('google', 'new-app', 'bob@example.com', ARRAY[NULL]::text[])",
        )
        .await
        .expect_err("the check holds in the shadow");
    let message = refused.as_db_error().map(|e| e.message().to_owned());
    assert!(
        message
            .as_deref()
            .is_some_and(|m| m.contains("oauth_grant_inventory_scopes_no_null")),
        "{message:?}"
    );
}

#[tokio::test]
async fn a_search_path_with_pg_temp_last_still_finds_the_shadows() {
    let test = seeded().await;
    let client = test.client().await;
    client
        .batch_execute("SET search_path = public, pg_temp")
        .await
        .expect("set the search path");
    shadow_tables(&client, TABLES)
        .await
        .expect("shadowed despite the search path");
    client
        .batch_execute("UPDATE rotation_consumers SET nudge_count = 5")
        .await
        .expect("the update reaches the shadow");
}

#[tokio::test]
async fn a_role_without_temporary_is_told_which_grant_it_needs() {
    let test = TestDb::create_for(Function::RotationChaser).await;
    let mut admin = test.admin_client().await;
    db::migrate(&mut admin).await.expect("migrate as the owner");
    admin
        .batch_execute(&format!(
            "REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC",
            test.name
        ))
        .await
        .expect("no TEMPORARY for the workflow's login");
    let client = test.client().await;
    let e = shadow_tables(&client, TABLES).await.expect_err("refused");
    assert!(matches!(e, ShadowError::NoTempPrivilege), "{e}");
    assert!(e.to_string().contains("GRANT TEMPORARY"), "{e}");
}

#[tokio::test]
async fn a_table_with_an_identity_column_is_refused_by_name_and_nothing_is_shadowed() {
    let test = seeded().await;
    test.admin_client()
        .await
        .batch_execute(
            "CREATE TABLE identity_rows (id bigint GENERATED ALWAYS AS IDENTITY, note text);
             GRANT ALL ON identity_rows TO PUBLIC;",
        )
        .await
        .expect("a table with an identity column");
    let client = test.client().await;
    let e = shadow_tables(&client, &["rotation_consumers", "identity_rows"])
        .await
        .expect_err("refused");
    assert!(
        matches!(e, ShadowError::Unsupported { ref table, .. } if table == "identity_rows"),
        "{e}"
    );
    let shadows: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relpersistence = 't' AND relkind = 'r'",
            &[],
        )
        .await
        .expect("count temporary tables")
        .get(0);
    assert_eq!(shadows, 0);
}

#[tokio::test]
async fn no_table_to_shadow_is_refused_rather_than_run_unshadowed() {
    let test = seeded().await;
    let client = test.client().await;
    let e = shadow_tables(&client, &[]).await.expect_err("refused");
    assert!(matches!(e, ShadowError::NothingToShadow), "{e}");
}
