//! Least privilege (decision 030): each function logs in as a database role that may use its
//! workflow's tables and no other, and may not change the schema. The workflow suites run
//! through such roles too (`TestDb::create_for`), which proves each role has what it needs.

use secops_shared::credential_scope::Function;
use secops_shared::db::{self, DbError};
use secops_shared::db_roles::{self, WORKFLOW_ROLES};
use secops_tests::db::TestDb;
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

/// Whether `sql` is refused for lack of privilege (and not for another reason).
async fn denied(client: &Client, sql: &str) -> bool {
    match client.batch_execute(sql).await {
        Ok(()) => false,
        Err(e) => {
            assert_eq!(
                e.code(),
                Some(&SqlState::INSUFFICIENT_PRIVILEGE),
                "{sql}: {e}"
            );
            true
        }
    }
}

#[tokio::test]
async fn the_slack_endpoints_role_cannot_read_the_grant_inventory_or_the_mr_audit() {
    let db = TestDb::create_for(Function::SlackInteractions).await;
    let client = db.client().await;

    // What it serves: review decisions and rotation confirmations.
    for table in [
        "privileged_reviews",
        "privileged_review_outbox",
        "rotation_consumers",
    ] {
        client
            .batch_execute(&format!("SELECT * FROM {table} LIMIT 1"))
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"));
    }
    // What a leaked credential of the internet-facing function must not reach.
    for sql in [
        "SELECT * FROM oauth_grant_inventory",
        "DELETE FROM oauth_grant_baseline",
        "SELECT * FROM mr_audit_merges",
        "DELETE FROM mr_audit_steps",
        "CREATE TABLE exfil (x text)",
        "DROP TABLE privileged_reviews",
    ] {
        assert!(denied(&client, sql).await, "{sql} was allowed");
    }
}

#[tokio::test]
async fn the_gitlab_endpoints_role_reaches_only_the_mr_audit_tables() {
    let db = TestDb::create_for(Function::GitLabWebhook).await;
    let client = db.client().await;
    client
        .batch_execute("SELECT * FROM mr_audit_merges LIMIT 1")
        .await
        .unwrap();
    for table in [
        "privileged_reviews",
        "rotation_consumers",
        "oauth_grant_filings",
    ] {
        assert!(
            denied(&client, &format!("SELECT * FROM {table}")).await,
            "{table} was readable"
        );
    }
}

#[tokio::test]
async fn every_table_belongs_to_one_workflow_role() {
    let db = TestDb::create().await;
    let rows = db
        .client()
        .await
        .query(
            "SELECT table_name::text FROM information_schema.tables
              WHERE table_schema = 'public' AND table_name <> 'schema_migrations'",
            &[],
        )
        .await
        .unwrap();
    for row in rows {
        let table: String = row.get(0);
        let owners = WORKFLOW_ROLES
            .iter()
            .filter(|r| r.tables.contains(&table.as_str()))
            .count();
        assert_eq!(
            owners, 1,
            "table {table} must be in exactly one of db_roles::WORKFLOW_ROLES"
        );
    }
}

#[tokio::test]
async fn a_workflow_role_cannot_apply_a_pending_migration_and_says_who_can() {
    let db = TestDb::create_for(Function::RotationChaser).await;
    // The latest migration forgotten, as if a new release brought it.
    db.admin_client()
        .await
        .batch_execute("DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)")
        .await
        .unwrap();

    let mut client = db.client().await;
    let refused = db::migrate(&mut client).await.unwrap_err();

    assert!(
        matches!(refused, DbError::MigrationNeedsOwner),
        "{refused:?}"
    );
    assert!(
        refused.to_string().contains("secops-local migrate"),
        "{refused}"
    );
}

#[tokio::test]
async fn granting_again_restores_a_revoked_table_and_is_idempotent() {
    let db = TestDb::create_for(Function::RotationChaser).await;
    let admin = db.admin_client().await;
    admin
        .batch_execute("REVOKE ALL ON rotation_nudges FROM secops_rotation_chaser")
        .await
        .unwrap();
    let client = db.client().await;
    assert!(denied(&client, "SELECT * FROM rotation_nudges").await);

    db_roles::grant(&admin).await.unwrap();
    db_roles::grant(&admin).await.unwrap();

    client
        .batch_execute("SELECT * FROM rotation_nudges LIMIT 1")
        .await
        .unwrap();
}

/// Each workflow's example secret (`infra/secret-examples/<workflow>.json`, the one its quick
/// start creates) holds exactly the keys its functions read: none missing, none of another's.
#[test]
fn each_workflows_example_secret_holds_exactly_its_functions_keys() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for workflow in [
        "oauth-drift",
        "privileged-review",
        "rotation-chaser",
        "mr-audit",
    ] {
        let path = root.join(format!("infra/secret-examples/{workflow}.json"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let example: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&text).expect("a JSON object");
        let mut in_file: Vec<&str> = example.keys().map(String::as_str).collect();
        let mut needed = secops_shared::credential_scope::workflow_keys(workflow);
        in_file.sort_unstable();
        needed.sort_unstable();
        assert_eq!(in_file, needed, "{workflow}");
    }
}
