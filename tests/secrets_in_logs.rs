//! Secrets never reach the logs: a full drift run, with every service refusing the credentials,
//! is logged at TRACE level and the output is searched for each secret value.

use chrono::Utc;
use secops_shared::db;
use secops_shared::drift::pg_store::PgStore;
use secops_shared::drift::store::DriftStore;
use secops_tests::drift::DriftWorld;
use secops_tests::grants::*;
use secrecy::SecretString;

const DB_PASSWORD: &str = "Pg-S3cret-Passw0rd";
const LINEAR_KEY: &str = "lin_api_test_key";
const OPENAI_KEY: &str = "sk-test-key";

#[tokio::test]
async fn no_secret_appears_in_the_logs_of_a_failing_run() {
    let capture = secops_tests::logs::LogCapture::start();

    let world = DriftWorld::new().await;
    // Trust auth ignores the password, so the URL can carry one for the test to look for.
    let url = world.db.url.replacen(
        "postgres://postgres@",
        &format!("postgres://postgres:{DB_PASSWORD}@"),
        1,
    );
    assert_ne!(url, world.db.url);
    let store = PgStore::new(db::connect(&SecretString::from(url), None).await.unwrap());
    let bad = db::connect(
        &SecretString::from(format!("postgres://u:{DB_PASSWORD}@127.0.0.1:1/x?bogus=1")),
        None,
    )
    .await
    .unwrap_err();
    tracing::error!(error = %bad, debug = ?bad, "connect failed");

    world.linear.accept_only_key("some-other-key");
    world.openai.rejects_key(OPENAI_KEY).await;
    store
        .replace_inventory(&[google("a", "x@example.com", &[OPENID])])
        .await
        .unwrap();
    world
        .run_with(&store, Some(&world.llm), Utc::now())
        .await
        .unwrap();
    store
        .replace_inventory(&[
            google("a", "x@example.com", &[OPENID]),
            google("b", "y@example.com", &[MAIL]),
        ])
        .await
        .unwrap();
    let report = world
        .run_with(&store, Some(&world.llm), Utc::now())
        .await
        .unwrap();
    tracing::info!(report = ?report, "final report");

    assert_eq!(report.failed.len(), 1, "Linear refused the key");
    assert_eq!(report.drafted_by_template, 1, "OpenAI refused the key");
    let logs = capture.text();
    assert!(
        logs.contains("filing failed"),
        "the failure is logged:\n{logs}"
    );
    for secret in [DB_PASSWORD, LINEAR_KEY, OPENAI_KEY] {
        assert!(
            !logs.contains(secret),
            "{secret} leaked into the logs:\n{logs}"
        );
    }
}
