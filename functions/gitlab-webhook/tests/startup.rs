//! A cold start without its configuration fails fast with one clear log line, not a panic.

use secops_tests::startup::{assert_refused_clearly, cold_start};

const BIN: &str = env!("CARGO_BIN_EXE_gitlab-webhook");

#[test]
fn a_missing_webhook_token_is_named_without_printing_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.json");
    std::fs::write(
        &secret,
        r#"{"database_url": "postgres://u:DO_NOT_PRINT@db.invalid/x", "gitlab_token": "glpat-DO_NOT_PRINT"}"#,
    )
    .unwrap();
    let (ok, logs) = cold_start(BIN, &[("SECOPS_SECRETS_FILE", secret.to_str().unwrap())]);
    assert_refused_clearly(
        ok,
        &logs,
        "gitlab-webhook cannot start",
        "gitlab_webhook_token",
    );
    assert!(!logs.contains("DO_NOT_PRINT"), "{logs}");
}

#[test]
fn a_bad_label_pattern_names_its_variable() {
    let (ok, logs) = cold_start(BIN, &[("MR_AUDIT_LABEL_PATTERN", "*")]);
    assert_refused_clearly(
        ok,
        &logs,
        "gitlab-webhook cannot start",
        "MR_AUDIT_LABEL_PATTERN",
    );
}
