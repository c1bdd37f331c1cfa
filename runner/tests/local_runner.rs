//! The README's first command and the import path, run as a user would run them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Run the local runner from the repository root with no credentials in the environment.
fn secops_local(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_secops-local"));
    cmd.args(args).current_dir(repo_root());
    for var in [
        "DATABASE_URL",
        "LINEAR_API_KEY",
        "OPENAI_API_KEY",
        "OPENAI_MODEL",
        "SECRET_ID",
        "SECOPS_SECRETS_FILE",
    ] {
        cmd.env_remove(var);
    }
    cmd.output().expect("the runner starts")
}

#[test]
fn the_demo_shows_the_issues_day_two_would_file() {
    let out = tempfile::tempdir().unwrap();
    let result = secops_local(&["drift", "demo", "--out", out.path().to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(
        result.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&result.stderr)
    );

    assert!(
        stdout.contains("First run: 8 grants recorded as the baseline; nothing filed."),
        "{stdout}"
    );
    for title in [
        "Elevated OAuth grant: Acme CRM gained 1 scope",
        "Elevated OAuth grant: CI Helper gained 2 scopes",
        "New OAuth grant: Free PDF Tools for erin@example.com",
        "New OAuth grant: MeetingNotes AI for 12 principals",
    ] {
        assert!(stdout.contains(title), "missing {title:?} in:\n{stdout}");
    }
    assert!(stdout.contains("1 reduced, 1 revoked"), "{stdout}");
    assert!(
        stdout.contains("revoked: google/1004-legacy.apps.googleusercontent.com/dave@example.com")
    );
    assert!(stdout.contains("Filed 5 issue(s)"), "{stdout}");
    let written = std::fs::read_dir(out.path()).unwrap().count();
    assert_eq!(written, 5, "one JSON file per would-be issue");
}

#[test]
fn a_malformed_import_names_the_row_and_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        "provider,client_id,principal,scopes\ngithub,app,a@example.com,repo\n",
    )
    .unwrap();
    let ok = secops_local(&[
        "drift",
        "import",
        good.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let before = std::fs::read(&state).unwrap();

    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "provider,client_id,principal,scopes,consent_type\ngithub,app2,b@example.com,repo,user\nmyspace,app3,c@example.com,x,user\n",
    )
    .unwrap();
    let refused = secops_local(&[
        "drift",
        "import",
        bad.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]);

    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("row 2"), "{stderr}");
    assert!(stderr.contains("`provider`"), "{stderr}");
    assert!(stderr.contains("nothing imported"), "{stderr}");
    assert_eq!(
        std::fs::read(&state).unwrap(),
        before,
        "the store is untouched"
    );
}
