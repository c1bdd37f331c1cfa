//! The README's first command and the import path, run as a user would run them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Run the local runner from the repository root with no credentials in the environment.
fn secops_local(args: &[&str]) -> Output {
    secops_local_with(args, &[]).0
}

/// The same with `env` set (and no `REVIEW_*` settings inherited); also the child's pid.
fn secops_local_with(args: &[&str], env: &[(&str, &str)]) -> (Output, u32) {
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
    for (var, _) in std::env::vars().filter(|(k, _)| k.starts_with("REVIEW_")) {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("the runner starts");
    let pid = child.id();
    (child.wait_with_output().expect("the runner finishes"), pid)
}

/// The test Postgres server (as the workspace's other tests find it).
fn test_database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The review dry runs' scratch databases that exist on the test server.
fn review_scratch_databases() -> Vec<String> {
    let url = test_database_url();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| {
                panic!("cannot reach the test Postgres at {url}: {e}; run scripts/test.sh or set TEST_DATABASE_URL")
            });
        tokio::spawn(connection);
        client
            .query(
                r"SELECT datname FROM pg_database WHERE datname LIKE 'secops\_review\_dry\_%'",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    })
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

#[test]
fn the_review_dry_run_prints_cards_and_review_events_and_drops_its_database() {
    let url = test_database_url();
    let (result, pid) = secops_local_with(
        &["review", "run", "--stand-in-model"],
        &[("DATABASE_URL", url.as_str())],
    );
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(
        result.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let scratch = format!("secops_review_dry_{pid}");
    assert!(stdout.contains(&scratch), "{stdout}");

    // The self-grant: a card, high.
    assert!(
        stdout.contains(
            "high risk: dana.whitfield@example.com got GitHub Organization Owner on github:acme-corp (granted by dana.whitfield@example.com)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("self-grant: the grantor gave the role to themselves"),
        "{stdout}"
    );
    // The injection did not talk the level down, and its mention is escaped.
    assert!(
        stdout.contains("medium risk: casey.morgan@example.com got Billing Viewer"),
        "{stdout}"
    );
    assert!(stdout.contains("notify &lt;!channel&gt;"), "{stdout}");
    // A routine grant resolved itself with a review event.
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("review event: auto_resolved by auto")
                && l.contains("pg-20261118-085210-6c01")
                && l.contains("tom.becker@example.com")),
        "{stdout}"
    );
    assert!(
        stdout.contains("Reviewed 12 grant(s): 3 resolved automatically, 9 sent for review (high 2, medium 7, low 3)"),
        "{stdout}"
    );

    let left = review_scratch_databases();
    assert!(
        !left.contains(&scratch),
        "{scratch} was left behind: {left:?}"
    );
}

#[test]
fn the_review_dry_run_without_a_database_says_what_to_set() {
    let result = secops_local(&["review", "run"]);
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("set DATABASE_URL"), "{stderr}");
    assert!(
        stderr.contains("DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres"),
        "{stderr}"
    );
}

#[test]
fn a_malformed_identity_map_names_the_row_before_touching_any_database() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("map.csv");
    std::fs::write(
        &bad,
        "slack_user_id,idp_login,cloud_principal\nU0ANNA,anna@corp.example,\nanna,,\n",
    )
    .unwrap();

    let refused = secops_local(&["review", "import-identities", bad.to_str().unwrap()]);

    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("row 2") && stderr.contains("slack_user_id"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("DATABASE_URL"),
        "refused before connecting: {stderr}"
    );
}
