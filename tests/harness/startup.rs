//! Cold-starting a function binary as Lambda would, with a chosen environment, to check that a
//! bad configuration stops it with one clear log line and no panic.

use std::process::Command;

/// Run `binary` with only `envs` (plus Lambda's log format); returns success and all output.
pub fn cold_start(binary: &str, envs: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(binary);
    cmd.env_clear()
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        // Nothing listens there: a function that got past its start-up would fail to poll.
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

/// The start-up failed cleanly, with a line naming what is wrong.
pub fn assert_refused_clearly(ok: bool, logs: &str, cannot_start: &str, names: &str) {
    assert!(!ok, "{logs}");
    assert!(logs.contains(cannot_start), "{logs}");
    assert!(logs.contains(names), "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");
}

/// The start-up tests every review function shares: `review_startup_tests!("name", BIN)`.
#[macro_export]
macro_rules! review_startup_tests {
    ($name:literal, $bin:expr) => {
        #[test]
        fn a_missing_review_channel_stops_the_cold_start_with_a_clear_line() {
            let (ok, logs) = $crate::startup::cold_start($bin, &[]);
            $crate::startup::assert_refused_clearly(
                ok,
                &logs,
                concat!($name, " cannot start"),
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
            let (ok, logs) = $crate::startup::cold_start(
                $bin,
                &[
                    ("REVIEW_SLACK_CHANNEL", "C1"),
                    ("SECOPS_SECRETS_FILE", secret.to_str().unwrap()),
                ],
            );
            $crate::startup::assert_refused_clearly(
                ok,
                &logs,
                concat!($name, " cannot start"),
                "is missing from the secret",
            );
            assert!(!logs.contains("DO_NOT_PRINT"), "{logs}");
        }
    };
}
