//! The drift audit's data contract at the edges: rows the inventory table should never hold,
//! and what the run reports about revoked grants.

use secops_shared::drift::store::{DriftStore, StoreError};
use secops_shared::drift::workflow::DriftError;
use secops_tests::drift::DriftWorld;
use secops_tests::grants::*;
use secops_tests::logs::LogCapture;

async fn baseline_of_two(world: &DriftWorld) {
    world
        .inventory(vec![
            google("notes", "alice@example.com", &[OPENID]),
            google("crm", "bob@example.com", &[OPENID, EMAIL]),
        ])
        .await;
    assert!(world.run_drift().await.bootstrap);
}

#[tokio::test]
async fn the_inventory_table_refuses_a_null_scope_element() {
    let world = DriftWorld::new().await;
    let client = world.db.client().await;
    let refused = client
        .execute(
            "INSERT INTO oauth_grant_inventory (provider, client_id, principal, scopes) \
             VALUES ('google', 'c1', 'eve@example.com', ARRAY['openid', NULL])",
            &[],
        )
        .await
        .unwrap_err();
    assert!(
        refused
            .as_db_error()
            .is_some_and(|e| e.constraint() == Some("oauth_grant_inventory_scopes_no_null")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_null_scope_element_written_before_the_constraint_is_refused_by_name_and_nothing_moves() {
    let world = DriftWorld::new().await;
    baseline_of_two(&world).await;
    let baseline_before = world.store.baseline().await.unwrap();
    // The schema owner: the workflow's role may not alter the table.
    let client = world.db.admin_client().await;
    // A row written before migration 0006 (or by a job that dropped the constraint).
    client
        .batch_execute(
            "ALTER TABLE oauth_grant_inventory DROP CONSTRAINT oauth_grant_inventory_scopes_no_null;
             UPDATE oauth_grant_inventory SET scopes = ARRAY['openid', NULL]
              WHERE principal = 'bob@example.com';",
        )
        .await
        .unwrap();

    let refused = world.try_run_drift().await.unwrap_err();

    match &refused {
        DriftError::Record(StoreError::MalformedRow { key, error }) => {
            assert!(key.contains("bob@example.com"), "{key}");
            assert_eq!(error.field, "scopes");
        }
        other => panic!("expected the row to be refused by name, got {other}"),
    }
    let text = refused.to_string();
    assert!(
        text.contains("bob@example.com") && text.contains("`scopes`"),
        "{text}"
    );
    assert_eq!(world.store.baseline().await.unwrap(), baseline_before);
    assert!(world.linear.issues().is_empty());
}

#[tokio::test]
async fn revoked_grants_are_logged_one_structured_line_each_and_the_cap_is_counted() {
    let world = DriftWorld::new().await;
    let everyone = |n: usize| -> Vec<_> {
        (0..n)
            .map(|i| google("notes", &format!("user{i:03}@example.com"), &[OPENID]))
            .collect()
    };
    world.inventory(everyone(300)).await;
    assert!(world.run_drift().await.bootstrap);
    // 130 of 300 revoked (43%, under the 50% guard).
    world.inventory(everyone(300).split_off(130)).await;
    let capture = LogCapture::start();

    let report = world.run_drift().await;

    assert_eq!(report.changes.revoked, 130);
    assert_eq!(report.revoked.len(), 100);
    assert_eq!(
        report.revoked_omitted, 30,
        "the report says how many were left out"
    );
    let logs = capture.text();
    let revoked_lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("grant revoked"))
        .collect();
    assert_eq!(revoked_lines.len(), 100, "{logs}");
    for line in &revoked_lines {
        assert!(
            line.contains("provider=google") && line.contains("client_id=notes"),
            "{line}"
        );
        assert!(line.contains("principal=user"), "{line}");
    }
    let summary = logs
        .lines()
        .find(|l| l.contains("drift run summary"))
        .expect("a summary line");
    assert!(summary.contains("revoked_omitted=30"), "{summary}");
    assert!(
        !summary.contains("revoked_grants"),
        "no list as one string: {summary}"
    );
    assert!(
        !summary.contains("stopped_early"),
        "absent when nothing stopped: {summary}"
    );
}
