//! A cold start without its configuration fails fast with one clear log line, not a panic.

use secops_tests::startup::{assert_refused_clearly, cold_start};

const BIN: &str = env!("CARGO_BIN_EXE_rotation-chaser");

#[test]
fn a_missing_digest_target_stops_the_cold_start_with_a_clear_line() {
    let (ok, logs) = cold_start(BIN, &[]);
    assert_refused_clearly(
        ok,
        &logs,
        "rotation-chaser cannot start",
        "ROTATION_DIGEST_TO",
    );
}

#[test]
fn a_bad_threshold_names_its_variable() {
    let (ok, logs) = cold_start(
        BIN,
        &[
            ("ROTATION_SECURITY_LEAD", "U0SECLEAD"),
            ("ROTATION_THRESHOLDS", "8,4,15"),
        ],
    );
    assert_refused_clearly(
        ok,
        &logs,
        "rotation-chaser cannot start",
        "ROTATION_THRESHOLDS",
    );
}

#[test]
fn a_missing_bot_token_is_named_without_printing_the_others() {
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
            ("ROTATION_SECURITY_LEAD", "U0SECLEAD"),
            ("SECOPS_SECRETS_FILE", secret.to_str().unwrap()),
        ],
    );
    assert_refused_clearly(ok, &logs, "rotation-chaser cannot start", "slack_bot_token");
    assert!(!logs.contains("DO_NOT_PRINT"), "{logs}");
}
