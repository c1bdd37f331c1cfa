//! A cold start without its configuration fails fast with one clear log line, not a panic.

use secops_tests::startup::{assert_refused_clearly, cold_start};

const BIN: &str = env!("CARGO_BIN_EXE_mr-audit");

#[test]
fn a_missing_slack_channel_stops_the_cold_start_with_a_clear_line() {
    let (ok, logs) = cold_start(BIN, &[]);
    assert_refused_clearly(ok, &logs, "mr-audit cannot start", "MR_AUDIT_SLACK_CHANNEL");
}

#[test]
fn a_missing_confluence_page_is_named() {
    let (ok, logs) = cold_start(
        BIN,
        &[
            ("MR_AUDIT_SLACK_CHANNEL", "C0SECPOD0"),
            ("CONFLUENCE_URL", "https://acme.atlassian.net/wiki"),
        ],
    );
    assert_refused_clearly(ok, &logs, "mr-audit cannot start", "CONFLUENCE_PAGE_ID");
}

#[test]
fn a_missing_credential_is_named_without_printing_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.json");
    std::fs::write(
        &secret,
        r#"{"database_url": "postgres://u:DO_NOT_PRINT@db.invalid/x", "gitlab_token": "glpat-DO_NOT_PRINT"}"#,
    )
    .unwrap();
    let (ok, logs) = cold_start(
        BIN,
        &[
            ("MR_AUDIT_SLACK_CHANNEL", "C0SECPOD0"),
            ("CONFLUENCE_URL", "https://acme.atlassian.net/wiki"),
            ("CONFLUENCE_PAGE_ID", "12345"),
            ("SECOPS_SECRETS_FILE", secret.to_str().unwrap()),
        ],
    );
    assert_refused_clearly(ok, &logs, "mr-audit cannot start", "linear_api_key");
    assert!(!logs.contains("DO_NOT_PRINT"), "{logs}");
}
