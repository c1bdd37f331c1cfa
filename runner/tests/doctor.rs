//! `secops-local doctor` run as a user runs it: the checklist on stdout, the fix under each
//! failure, and exit code 1 when a check failed (0 only when none did, checked against the
//! harness fakes in tests/doctor.rs).

use std::process::{Command, Output};

/// The doctor with only `env` set (no credentials or settings inherited from this machine).
fn doctor(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_secops-local"));
    cmd.arg("doctor").args(args).env_clear();
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.output().expect("secops-local runs")
}

#[test]
fn a_broken_set_up_prints_its_fixes_and_exits_with_1() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.json");
    std::fs::write(&secret, "{}").unwrap();
    let out = doctor(
        &["--workflow", "rotation-chaser"],
        &[
            ("SECOPS_SECRETS_FILE", secret.to_str().unwrap()),
            ("ROTATION_TIMEZONE", "Mars/Base"),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.starts_with("secops doctor: "), "{text}");
    assert!(text.contains("✗ settings: settings parse"), "{text}");
    assert!(
        text.contains("      fix: set ROTATION_TIMEZONE correctly"),
        "{text}"
    );
    assert!(
        text.contains("fix: add slack_bot_token to the credentials file"),
        "{text}"
    );
    assert!(
        !text.contains("oauth-drift"),
        "only the workflow asked for: {text}"
    );
}

#[test]
fn the_json_checklist_says_not_ok() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.json");
    std::fs::write(&secret, "not json").unwrap();
    let out = doctor(
        &["--json"],
        &[("SECOPS_SECRETS_FILE", secret.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(1));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(list["ok"], false);
    let secret_check = list["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["subject"] == "secret" && c["workflow"] == "common")
        .expect("the secret's check");
    assert_eq!(secret_check["status"], "fail");
    assert!(
        secret_check["fix"]
            .as_str()
            .unwrap()
            .contains("JSON object")
    );
}

#[test]
fn an_unknown_workflow_is_refused_by_name() {
    let out = doctor(&["--workflow", "drift"], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown workflow \"drift\""), "{err}");
    assert!(err.contains("oauth-drift"), "{err}");
}
