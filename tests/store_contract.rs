//! The embedded store and the Postgres store pass the same contract: each test below runs
//! against both.

use chrono::{TimeZone, Utc};
use secops_shared::drift::diff::ChangeKind;
use secops_shared::drift::file_store::FileStore;
use secops_shared::drift::justification::template_draft;
use secops_shared::drift::store::{DriftStore, FiledIssue, RunStart, StoreError};
use secops_tests::db::TestDb;
use secops_tests::grants::*;
use uuid::Uuid;

fn run(day: u32) -> RunStart {
    RunStart {
        run_id: Uuid::new_v4(),
        started_at: Utc.with_ymd_and_hms(2026, 11, day, 6, 0, 0).unwrap(),
        group_threshold: 10,
        max_revoked_percent: 50,
        max_inventory_age: Some(chrono::Duration::hours(36)),
    }
}

fn day1() -> Vec<secops_shared::drift::inventory::InventoryGrant> {
    vec![
        google("notes", "alice@example.com", &[OPENID]),
        google("crm", "bob@example.com", &[OPENID, EMAIL]),
        google("backup", "carol@example.com", &[DRIVE_READ, EMAIL]),
        google("old", "dave@example.com", &[OPENID]),
        user_grant("slack", "B1", "*", &["chat:write"]),
    ]
}

fn day2() -> Vec<secops_shared::drift::inventory::InventoryGrant> {
    let mut renamed = user_grant("slack", "B1", "*", &["chat:write"]);
    renamed.grant.state.app_name = "Renamed bot".to_owned();
    vec![
        google("notes", "alice@example.com", &[OPENID]), // unchanged
        google("crm", "bob@example.com", &[OPENID, EMAIL, MAIL]), // elevated
        google("backup", "carol@example.com", &[EMAIL]), // reduced
        // old/dave revoked
        google("mailer", "erin@example.com", &[MAIL]), // new
        renamed,                                       // metadata
    ]
}

async fn first_run_bootstraps_the_baseline_and_files_nothing<S: DriftStore>(store: &S) {
    store.replace_inventory(&day1()).await.unwrap();
    let outcome = store.record_run(&run(1)).await.unwrap();
    assert!(outcome.bootstrap);
    assert_eq!(outcome.inventory_size, 5);
    assert_eq!(outcome.filings_created, 0);
    assert_eq!(store.baseline().await.unwrap().len(), 5);
    assert_eq!(store.pending_count().await.unwrap(), 0);
}

async fn second_day_records_every_class_and_moves_the_baseline<S: DriftStore>(store: &S) {
    store.replace_inventory(&day1()).await.unwrap();
    store.record_run(&run(1)).await.unwrap();
    store.replace_inventory(&day2()).await.unwrap();
    let r = run(2);
    let outcome = store.record_run(&r).await.unwrap();
    assert!(!outcome.bootstrap);
    let c = &outcome.counts;
    assert_eq!(
        (
            c.new,
            c.elevated,
            c.reduced,
            c.revoked,
            c.metadata,
            c.unchanged
        ),
        (1, 1, 1, 1, 1, 1)
    );
    assert_eq!(outcome.revoked.len(), 1);
    assert_eq!(outcome.revoked[0].principal, "dave@example.com");
    assert_eq!(outcome.filings_created, 2);

    let changes = store.run_changes(r.run_id).await.unwrap();
    let kinds: Vec<(String, ChangeKind)> = changes
        .iter()
        .map(|c| (c.key.client_id.clone(), c.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("backup".to_owned(), ChangeKind::Reduced),
            ("crm".to_owned(), ChangeKind::Elevated),
            ("mailer".to_owned(), ChangeKind::New),
            ("old".to_owned(), ChangeKind::Revoked),
            ("B1".to_owned(), ChangeKind::Metadata),
        ]
    );
    let baseline = store.baseline().await.unwrap();
    let today: Vec<_> = {
        let mut g: Vec<_> = day2().into_iter().map(|g| g.grant).collect();
        g.sort_by(|a, b| a.key.cmp(&b.key));
        g
    };
    assert_eq!(baseline, today, "the baseline is today's inventory");

    let pending = store.pending_filings(10).await.unwrap();
    let mut flagged: Vec<_> = pending
        .iter()
        .map(|f| f.first().key.client_id.clone())
        .collect();
    flagged.sort();
    assert_eq!(flagged, ["crm", "mailer"]);
}

async fn a_rerun_the_same_day_records_nothing<S: DriftStore>(store: &S) {
    store.replace_inventory(&day1()).await.unwrap();
    store.record_run(&run(1)).await.unwrap();
    store.replace_inventory(&day2()).await.unwrap();
    store.record_run(&run(2)).await.unwrap();
    let again = store.record_run(&run(2)).await.unwrap();
    assert_eq!(again.filings_created, 0);
    assert_eq!(again.counts.unchanged, 5);
    assert_eq!(
        store.pending_count().await.unwrap(),
        2,
        "still the two from the first run"
    );
}

async fn a_malformed_inventory_row_changes_nothing<S: DriftStore>(store: &S) {
    store.replace_inventory(&day1()).await.unwrap();
    store.record_run(&run(1)).await.unwrap();
    let before = store.baseline().await.unwrap();
    let mut rows: Vec<_> = day2().iter().map(|g| g.to_raw()).collect();
    rows.push(raw(
        "google",
        "weird",
        "zed@example.com",
        &[OPENID],
        "superuser",
    ));
    store.write_raw_inventory(&rows).await.unwrap();
    let err = store.record_run(&run(2)).await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, StoreError::MalformedRow { .. }), "{message}");
    assert!(
        message.contains("google/weird/zed@example.com"),
        "{message}"
    );
    assert!(message.contains("consent_type"), "{message}");
    assert_eq!(store.baseline().await.unwrap(), before);
    assert_eq!(store.pending_count().await.unwrap(), 0);
}

async fn an_empty_inventory_is_refused<S: DriftStore>(store: &S) {
    store.replace_inventory(&day1()).await.unwrap();
    store.record_run(&run(1)).await.unwrap();
    store.replace_inventory(&[]).await.unwrap();
    let err = store.record_run(&run(2)).await.unwrap_err();
    assert!(
        matches!(err, StoreError::EmptyInventory { baseline: 5 }),
        "{err}"
    );
    assert_eq!(store.baseline().await.unwrap().len(), 5);
}

async fn mass_revocation_is_refused<S: DriftStore>(store: &S) {
    let many: Vec<_> = (0..40)
        .map(|i| google("app", &format!("u{i}@example.com"), &[OPENID]))
        .collect();
    store.replace_inventory(&many).await.unwrap();
    store.record_run(&run(1)).await.unwrap();
    store.replace_inventory(&many[..10]).await.unwrap();
    let err = store.record_run(&run(2)).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::TooManyRevoked {
                revoked: 30,
                baseline: 40,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(store.baseline().await.unwrap().len(), 40);
}

async fn a_stale_inventory_is_refused<S: DriftStore>(store: &S) {
    store.replace_inventory(&day1()).await.unwrap();
    store.record_run(&run(1)).await.unwrap();
    let mut stale: Vec<_> = day2().iter().map(|g| g.to_raw()).collect();
    let three_days_before = run(2).started_at - chrono::Duration::hours(72);
    for row in &mut stale {
        row.last_seen = Some(three_days_before);
    }
    store.write_raw_inventory(&stale).await.unwrap();
    let err = store.record_run(&run(2)).await.unwrap_err();
    assert!(
        matches!(err, StoreError::StaleInventory { max_hours: 36, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("is the sync job running?"));
    assert_eq!(store.baseline().await.unwrap().len(), 5);
}

async fn a_grant_failing_repeatedly_does_not_starve_new_ones<S: DriftStore>(store: &S) {
    store.replace_inventory(&day1()).await.unwrap();
    store.record_run(&run(1)).await.unwrap();
    store.replace_inventory(&day2()).await.unwrap();
    store.record_run(&run(2)).await.unwrap();
    let first = store.pending_filings(10).await.unwrap();
    assert_eq!(first.len(), 2);
    assert!(
        first[0].severity() >= first[1].severity(),
        "most severe first"
    );
    store.mark_attempt(first[0].id, Utc::now()).await.unwrap();
    store.mark_failed(first[0].id, "rejected").await.unwrap();
    let next = store.pending_filings(1).await.unwrap();
    assert_eq!(
        next[0].id, first[1].id,
        "the never-tried filing comes before the failing one"
    );
}

async fn one_app_across_many_principals_is_one_filing<S: DriftStore>(store: &S) {
    store.replace_inventory(&day1()).await.unwrap();
    store.record_run(&run(1)).await.unwrap();
    let mut inventory = day1();
    inventory.extend((0..12).map(|i| google("spreader", &format!("u{i:02}@example.com"), &[MAIL])));
    inventory.push(google("lonely", "x@example.com", &[OPENID]));
    store.replace_inventory(&inventory).await.unwrap();
    let outcome = store.record_run(&run(2)).await.unwrap();
    assert_eq!(outcome.counts.new, 13);
    assert_eq!(outcome.filings_created, 2);
    let pending = store.pending_filings(10).await.unwrap();
    let sizes: Vec<usize> = {
        let mut s: Vec<usize> = pending.iter().map(|f| f.changes.len()).collect();
        s.sort();
        s
    };
    assert_eq!(sizes, [1, 12]);
}

async fn a_filing_moves_from_pending_to_filed<S: DriftStore>(store: &S) {
    store.replace_inventory(&day1()).await.unwrap();
    store.record_run(&run(1)).await.unwrap();
    store.replace_inventory(&day2()).await.unwrap();
    store.record_run(&run(2)).await.unwrap();
    let pending = store.pending_filings(10).await.unwrap();
    let filing = &pending[0];
    assert_eq!(filing.attempts, 0);
    let draft = template_draft(&filing.changes, "test");
    store.save_draft(filing.id, &draft).await.unwrap();
    store.mark_attempt(filing.id, Utc::now()).await.unwrap();
    store.mark_failed(filing.id, "linear down").await.unwrap();
    let again = store.pending_filings(10).await.unwrap();
    let same = again.iter().find(|f| f.id == filing.id).unwrap();
    assert_eq!(same.attempts, 1);
    assert_eq!(same.draft.as_ref(), Some(&draft));
    assert_eq!(same.last_error.as_deref(), Some("linear down"));
    let issue = FiledIssue {
        id: filing.id.to_string(),
        identifier: "SEC-1".into(),
        url: "u".into(),
    };
    store
        .mark_filed(filing.id, &issue, Utc::now())
        .await
        .unwrap();
    assert_eq!(store.pending_count().await.unwrap(), 1);
    assert!(
        store
            .pending_filings(10)
            .await
            .unwrap()
            .iter()
            .all(|f| f.id != filing.id)
    );
    let unknown = store
        .mark_filed(Uuid::new_v4(), &issue, Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(unknown, StoreError::UnknownFiling(_)));
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn postgres() {
                let db = super::TestDb::create().await;
                super::$name(&db.store().await).await;
            }

            #[tokio::test]
            async fn embedded() {
                let dir = tempfile::tempdir().unwrap();
                super::$name(&super::FileStore::new(dir.path().join("state.json"))).await;
            }
        }
    )*};
}

contract!(
    first_run_bootstraps_the_baseline_and_files_nothing,
    second_day_records_every_class_and_moves_the_baseline,
    a_rerun_the_same_day_records_nothing,
    a_malformed_inventory_row_changes_nothing,
    an_empty_inventory_is_refused,
    a_stale_inventory_is_refused,
    a_grant_failing_repeatedly_does_not_starve_new_ones,
    mass_revocation_is_refused,
    one_app_across_many_principals_is_one_filing,
    a_filing_moves_from_pending_to_filed,
);

#[tokio::test]
async fn postgres_refuses_a_key_that_is_not_in_canonical_form() {
    let db = TestDb::create().await;
    let store = db.store().await;
    store.replace_inventory(&day1()).await.unwrap();
    store.record_run(&run(1)).await.unwrap();
    // A non-breaking space passes the table's ASCII checks but would be trimmed by parsing,
    // which would put the row out of key order; it must be refused by name instead.
    let mut rows: Vec<_> = day1().iter().map(|g| g.to_raw()).collect();
    rows.push(raw(
        "google",
        "odd\u{a0}",
        "x@example.com",
        &[OPENID],
        "user",
    ));
    store.write_raw_inventory(&rows).await.unwrap();
    let err = store.record_run(&run(2)).await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, StoreError::MalformedRow { .. }), "{message}");
    assert!(
        message.contains("`client_id`: is not in canonical form"),
        "{message}"
    );
}
