//! A cold start without its configuration fails fast with one clear log line, not a panic.

use std::process::Command;

fn cold_start(envs: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oauth-drift"));
    cmd.env_clear()
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the function binary starts");
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), logs)
}

#[test]
fn a_missing_team_setting_stops_the_cold_start_with_a_clear_line() {
    let (ok, logs) = cold_start(&[]);
    assert!(!ok);
    assert!(logs.contains("oauth-drift cannot start"), "{logs}");
    assert!(logs.contains("LINEAR_TEAM_ID"), "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");
}

#[test]
fn a_malformed_secret_stops_the_cold_start_without_quoting_it() {
    let dir = std::env::temp_dir().join(format!("oauth-drift-startup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("secret.json");
    std::fs::write(
        &secret,
        r#"{"linear_api_key": "lin_api_DO_NOT_PRINT", oops"#,
    )
    .unwrap();
    let (ok, logs) = cold_start(&[
        ("LINEAR_TEAM_ID", "team"),
        ("SECOPS_SECRETS_FILE", secret.to_str().unwrap()),
    ]);
    std::fs::remove_dir_all(&dir).ok();
    assert!(!ok);
    assert!(
        logs.contains("is not a JSON object of credentials"),
        "{logs}"
    );
    assert!(!logs.contains("DO_NOT_PRINT"), "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");
}
