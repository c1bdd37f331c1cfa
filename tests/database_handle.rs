//! The one database handle every store is built from: a connection the server closed is
//! replaced in the handle, so stores built before the reconnect use the new connection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use secops_shared::db::Database;
use secops_shared::review::store::ReviewStore;
use secops_shared::rotation::store::RotationStore;
use secops_tests::db::TestDb;

/// Close every other session on the test database from the server's side, as an idle
/// timeout or a proxy would, and wait until the handle's connection has noticed.
async fn close_from_the_server(db: &TestDb, handle: &Database) {
    db.admin_client()
        .await
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db.name],
        )
        .await
        .expect("terminate the handle's session");
    for _ in 0..100 {
        if handle.lock().await.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the terminated connection never reported itself closed");
}

#[tokio::test]
async fn stores_built_before_a_reconnect_use_the_new_connection() {
    let db = TestDb::create().await;
    let handle = Database::new(db.client().await);
    let review = ReviewStore::new(&handle);
    let rotation = RotationStore::new(&handle);
    close_from_the_server(&db, &handle).await;
    assert!(
        review.checkpoint("axiom").await.is_err(),
        "a query on the closed connection fails"
    );

    let replaced = handle
        .replace_if_closed(async { Ok::<_, std::convert::Infallible>(db.client().await) })
        .await
        .unwrap();

    assert!(replaced);
    assert_eq!(review.checkpoint("axiom").await.unwrap(), None);
    assert!(
        rotation.consumer(1).await.is_ok(),
        "the rotation store shares the replaced connection"
    );
}

#[tokio::test]
async fn an_open_connection_is_kept_and_nothing_reconnects() {
    let db = TestDb::create().await;
    let handle = Database::new(db.client().await);
    let reopened = AtomicBool::new(false);

    let replaced = handle
        .replace_if_closed(async {
            reopened.store(true, Ordering::SeqCst);
            Ok::<_, std::convert::Infallible>(db.client().await)
        })
        .await
        .unwrap();

    assert!(!replaced);
    assert!(
        !reopened.load(Ordering::SeqCst),
        "no new connection was made"
    );
}

#[tokio::test]
async fn a_failed_reconnect_is_reported_and_leaves_the_handle_closed() {
    let db = TestDb::create().await;
    let handle = Database::new(db.client().await);
    close_from_the_server(&db, &handle).await;

    let result = handle
        .replace_if_closed(async { Err::<tokio_postgres::Client, _>("postgres is down") })
        .await;

    assert_eq!(result.err(), Some("postgres is down"));
    assert!(handle.lock().await.is_closed());
}
