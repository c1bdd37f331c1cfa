//! A cold start without its configuration fails fast with one clear log line, not a panic.

use secops_tests::startup::{assert_refused_clearly, cold_start};

const BIN: &str = env!("CARGO_BIN_EXE_oauth-drift");

#[test]
fn a_missing_team_setting_stops_the_cold_start_with_a_clear_line() {
    let (ok, logs) = cold_start(BIN, &[]);
    assert_refused_clearly(ok, &logs, "oauth-drift cannot start", "LINEAR_TEAM_ID");
}

#[test]
fn a_malformed_secret_stops_the_cold_start_without_quoting_it() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.json");
    std::fs::write(
        &secret,
        r#"{"linear_api_key": "lin_api_DO_NOT_PRINT", oops"#,
    )
    .unwrap();
    let (ok, logs) = cold_start(
        BIN,
        &[
            ("LINEAR_TEAM_ID", "team"),
            ("SECOPS_SECRETS_FILE", secret.to_str().unwrap()),
        ],
    );
    assert_refused_clearly(
        ok,
        &logs,
        "oauth-drift cannot start",
        "is not a JSON object of credentials",
    );
    assert!(!logs.contains("DO_NOT_PRINT"), "{logs}");
}
