//! A cold start without its configuration fails fast with one clear log line, not a panic.

use secops_tests::startup::{assert_refused_clearly, cold_start};

const BIN: &str = env!("CARGO_BIN_EXE_slack-interactions");

#[test]
fn a_missing_review_channel_stops_the_cold_start_with_a_clear_line() {
    let (ok, logs) = cold_start(BIN, &[]);
    assert_refused_clearly(
        ok,
        &logs,
        "slack-interactions cannot start",
        "REVIEW_SLACK_CHANNEL",
    );
}

#[test]
fn a_missing_credential_is_named_without_printing_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.json");
    std::fs::write(
        &secret,
        r#"{"database_url": "postgres://u:DO_NOT_PRINT@db.invalid/x"}"#,
    )
    .unwrap();
    let (ok, logs) = cold_start(
        BIN,
        &[
            ("REVIEW_SLACK_CHANNEL", "C1"),
            ("SECOPS_SECRETS_FILE", secret.to_str().unwrap()),
        ],
    );
    assert_refused_clearly(
        ok,
        &logs,
        "slack-interactions cannot start",
        "is missing from the secret",
    );
    assert!(!logs.contains("DO_NOT_PRINT"), "{logs}");
}
