//! `doctor` against the harness fakes: a correct set-up passes every check, and each broken
//! set-up fails with its own fix text, while no fake receives a write.

use std::collections::HashMap;

use secops_shared::config::Env;
use secops_shared::doctor::{self, Checklist, Scope, Status, Workflow};
use secops_shared::mr_audit::table::COLUMNS;
use secops_tests::db::TestDb;
use secops_tests::fake_axiom::FakeAxiom;
use secops_tests::fake_confluence::FakeConfluence;
use secops_tests::fake_gitlab::{FakeGitLab, approvals_json, merge_request_json};
use secops_tests::fake_linear::FakeLinear;
use secops_tests::fake_openai::FakeOpenAi;
use secops_tests::fake_slack::{FakeSlack, MANIFEST_SCOPES};
use serde_json::{Value, json};

const PAGE: &str = "100";

/// Every service of every workflow, set up as the docs say, and the settings and secret that
/// point at them.
struct Setup {
    db: TestDb,
    slack: FakeSlack,
    linear: FakeLinear,
    gitlab: FakeGitLab,
    confluence: FakeConfluence,
    axiom: FakeAxiom,
    openai: FakeOpenAi,
    dir: tempfile::TempDir,
    env: HashMap<String, String>,
    secret: serde_json::Map<String, Value>,
}

fn audit_page_body() -> String {
    let header: String = COLUMNS.iter().map(|c| format!("<th>{c}</th>")).collect();
    format!("<p>Evidence</p><table><tbody><tr>{header}</tr></tbody></table>")
}

impl Setup {
    async fn correct() -> Setup {
        let (slack, linear, gitlab, confluence, axiom, openai) = (
            FakeSlack::start().await,
            FakeLinear::start().await,
            FakeGitLab::start().await,
            FakeConfluence::start().await,
            FakeAxiom::start().await,
            FakeOpenAi::start().await,
        );
        for channel in ["C0REVIEW01", "C0DIGEST01", "C0AUDIT001", "C0SECURITY"] {
            slack.add_channel(channel);
        }
        slack.set_usergroup("S0REVIEWERS", &["U0ANN0001"]);
        slack.set_usergroup("S0SECURITY", &["U0BOB0001"]);
        linear.add_team("team-sec", "SEC");
        linear.add_workflow_state("team-sec", "state-todo", "Todo", "unstarted", 0.0);
        linear.add_workflow_state("team-sec", "state-done", "Done", "completed", 1.0);
        linear.add_team("team-ops", "OPS");
        linear.add_workflow_state("team-ops", "state-doing", "Doing", "started", 0.0);
        linear.add_project("proj-1", "OAuth grants");
        gitlab.add_project(42, "security/app");
        gitlab.add_project(43, "security/api");
        gitlab.add_merge_request(
            42,
            7,
            merge_request_json(42, 7, "Rotate keys", (1, "ann"), (2, "bob"), &[], &[]),
        );
        gitlab.set_approvals(42, 7, approvals_json(&[(2, "bob")], 1, 0));
        confluence.add_page(PAGE, "SEC", None, "Security MR audit", &audit_page_body());
        axiom.add_events("audit-events", vec![]);
        axiom.add_events("secops-reviews", vec![]);
        openai.answers_with(json!({ "ok": true })).await;
        let db = TestDb::create().await;
        let dir = tempfile::tempdir().unwrap();
        let env: HashMap<String, String> = [
            (
                "SECOPS_SECRETS_FILE",
                dir.path().join("secret.json").display().to_string(),
            ),
            ("HTTP_MAX_ATTEMPTS", "1".to_owned()),
            ("SLACK_API_BASE", slack.api_base()),
            ("LINEAR_API_URL", linear.url()),
            ("LINEAR_TEAM_ID", "team-sec".to_owned()),
            ("LINEAR_PROJECT_ID", "proj-1".to_owned()),
            ("OPENAI_BASE_URL", openai.base_url()),
            ("OPENAI_MODEL", "gpt-test".to_owned()),
            ("AXIOM_URL", axiom.url()),
            ("REVIEW_DATASET", "audit-events".to_owned()),
            ("REVIEW_SLACK_CHANNEL", "C0REVIEW01".to_owned()),
            ("REVIEW_REVIEWER_GROUPS", "S0REVIEWERS".to_owned()),
            ("ROTATION_DIGEST_TO", "C0DIGEST01".to_owned()),
            ("ROTATION_SECURITY_GROUP", "S0SECURITY".to_owned()),
            ("GITLAB_URL", gitlab.base_url()),
            ("MR_AUDIT_GITLAB_PROJECTS", "42, security/api".to_owned()),
            ("MR_AUDIT_SLACK_CHANNEL", "C0AUDIT001".to_owned()),
            ("MR_AUDIT_SECURITY_CHANNEL", "C0SECURITY".to_owned()),
            ("CONFLUENCE_URL", confluence.base_url()),
            ("CONFLUENCE_PAGE_ID", PAGE.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let secret = json!({
            "database_url": db.url,
            "linear_api_key": "lin_api_doctor",
            "openai_api_key": "sk-doctor",
            "axiom_token": "xaat-doctor",
            "slack_bot_token": "xoxb-doctor",
            "slack_signing_secret": "signing-doctor",
            "gitlab_token": "glpat-doctor",
            "gitlab_webhook_token": "hook-doctor",
            "confluence_email": "secops-bot@example.com",
            "confluence_api_token": "confluence-doctor",
        });
        Setup {
            db,
            slack,
            linear,
            gitlab,
            confluence,
            axiom,
            openai,
            dir,
            env,
            secret: secret.as_object().unwrap().clone(),
        }
    }

    fn set(&mut self, name: &str, value: &str) {
        self.env.insert(name.to_owned(), value.to_owned());
    }

    fn set_secret(&mut self, key: &str, value: Option<&str>) {
        match value {
            Some(v) => self.secret.insert(key.to_owned(), json!(v)),
            None => self.secret.remove(key),
        };
    }

    fn write_secret(&self) {
        let path = self.dir.path().join("secret.json");
        if !path.exists() {
            std::fs::write(&path, Value::Object(self.secret.clone()).to_string()).unwrap();
        }
    }

    async fn doctor(&self, workflows: &[Workflow]) -> Checklist {
        self.write_secret();
        let env = self.env.clone();
        let list = doctor::run_with(
            &Env(move |name: &str| env.get(name).cloned()),
            workflows,
            Scope::Local,
        )
        .await;
        self.assert_nothing_written().await;
        list
    }

    /// No fake received anything but a read.
    async fn assert_nothing_written(&self) {
        for method in self.slack.methods_called() {
            assert!(
                ["auth.test", "conversations.info", "usergroups.users.list"]
                    .contains(&method.as_str()),
                "Slack was called with {method}"
            );
        }
        for document in self.linear.documents() {
            assert!(!document.trim_start().starts_with("mutation"), "{document}");
        }
        assert!(self.gitlab.requests().iter().all(|r| r.method == "GET"));
        assert!(self.confluence.requests().iter().all(|(m, _)| m == "GET"));
        assert_eq!(self.axiom.ingest_calls(), 0);
        assert!(
            self.openai.requests().await.len() <= 2,
            "one test prompt per model-using workflow"
        );
    }
}

/// The check about `subject` failed with a fix saying `fix`, the checklist shows it under its
/// failure, and the whole run fails.
fn assert_fails_with(list: &Checklist, subject: &str, fix: &str) {
    let text = list.render();
    let found = list.checks.iter().any(|c| {
        c.status == Status::Fail
            && c.subject == subject
            && c.fix.as_deref().is_some_and(|f| f.contains(fix))
    });
    assert!(
        found,
        "no failed {subject} check with the fix {fix:?}:\n{text}"
    );
    assert!(text.contains("fix: ") && text.contains(fix), "{text}");
    assert!(!list.ok());
    assert_eq!(list.exit_code(), 1);
}

#[tokio::test]
async fn every_check_passes_on_a_correct_set_up_and_nothing_is_written() {
    let setup = Setup::correct().await;
    let list = setup.doctor(&Workflow::ALL).await;
    let text = list.render();
    assert!(list.ok(), "{text}");
    assert_eq!(list.exit_code(), 0);
    assert!(
        list.checks.iter().all(|c| c.status != Status::Fail),
        "{text}"
    );
    // Every service was proven, not skipped.
    for subject in [
        "postgres",
        "slack",
        "linear",
        "axiom",
        "gitlab",
        "confluence",
        "openai",
    ] {
        assert!(
            list.checks
                .iter()
                .any(|c| c.subject == subject && c.status == Status::Pass),
            "{subject} was not checked:\n{text}"
        );
    }
    assert!(text.contains("✓ confluence: page writable"), "{text}");
    assert!(text.contains("✓ postgres: migrations current"), "{text}");
    let json = serde_json::to_value(&list).unwrap();
    assert_eq!(json["ok"], true);
    assert_eq!(json["failed"], 0);
}

#[tokio::test]
async fn a_missing_slack_scope_names_the_scope_to_add() {
    let setup = Setup::correct().await;
    let without: Vec<&str> = MANIFEST_SCOPES
        .iter()
        .copied()
        .filter(|s| *s != "usergroups:read")
        .collect();
    setup.slack.set_scopes(&without);
    let list = setup.doctor(&[Workflow::PrivilegedReview]).await;
    assert_fails_with(
        &list,
        "slack",
        "add the scope usergroups:read to the Slack app (OAuth & Permissions",
    );
    assert_fails_with(&list, "slack", "and reinstall it");
}

#[tokio::test]
async fn a_channel_without_the_bot_says_how_to_invite_it() {
    let setup = Setup::correct().await;
    setup.slack.remove_bot_from("C0AUDIT001");
    let list = setup.doctor(&[Workflow::MrAudit]).await;
    assert_fails_with(
        &list,
        "slack",
        "invite the bot: /invite @secops-bot in #chan-c0audit001 (C0AUDIT001)",
    );
}

#[tokio::test]
async fn a_team_channel_without_the_bot_is_found_through_the_consumers() {
    let setup = Setup::correct().await;
    setup
        .db
        .admin_client()
        .await
        .batch_execute(
            "INSERT INTO rotation_campaigns VALUES ('db-2026', 'db-v1', 'db-v2', '2026-11-01', now(), now());
             INSERT INTO rotation_consumers
                 (campaign, name, team, channel, status, confirmed_at, created_at, updated_at)
             VALUES ('db-2026', 'billing-api', 'payments', 'C0PAYMENTS', 'pending', NULL, now(), now()),
                    ('db-2026', 'ledger', 'core', 'C0CORE001', 'confirmed', now(), now(), now());",
        )
        .await
        .unwrap();
    setup.slack.add_channel("C0PAYMENTS");
    setup.slack.remove_bot_from("C0PAYMENTS");
    let list = setup.doctor(&[Workflow::RotationChaser]).await;
    assert_fails_with(
        &list,
        "slack",
        "invite the bot: /invite @secops-bot in #chan-c0payments (C0PAYMENTS)",
    );
    assert!(
        list.render()
            .contains("the channel of team \"payments\" (rotation consumers)")
    );
    // A confirmed team is not chased: its channel is not checked.
    assert!(!list.render().contains("C0CORE001"));
}

#[tokio::test]
async fn a_wrong_linear_team_id_lists_the_teams_that_exist() {
    let mut setup = Setup::correct().await;
    setup.set("LINEAR_TEAM_ID", "team-nope");
    let list = setup.doctor(&[Workflow::OAuthDrift]).await;
    assert_fails_with(
        &list,
        "linear",
        "set LINEAR_TEAM_ID to the id of one of: SEC \"Team SEC\" (id team-sec)",
    );
}

#[tokio::test]
async fn a_team_without_a_completed_state_cannot_close_audited_issues() {
    let mut setup = Setup::correct().await;
    setup.set("MR_AUDIT_LINEAR_TEAM_KEYS", "SEC,OPS");
    let list = setup.doctor(&[Workflow::MrAudit]).await;
    assert_fails_with(
        &list,
        "linear",
        "add a completed workflow state (such as Done) to team OPS",
    );
    let sec = list
        .checks
        .iter()
        .find(|c| c.name == "MR_AUDIT_LINEAR_TEAM_KEYS SEC")
        .unwrap();
    assert_eq!(sec.status, Status::Pass);
}

#[tokio::test]
async fn a_page_the_account_cannot_edit_asks_for_edit_permission() {
    let setup = Setup::correct().await;
    setup.confluence.restrict_to_reading(PAGE);
    let list = setup.doctor(&[Workflow::MrAudit]).await;
    assert_fails_with(
        &list,
        "confluence",
        "give the Atlassian account in confluence_email edit permission on the page",
    );
    assert_eq!(setup.confluence.calls("GET", "/pages/100/operations"), 1);
}

#[tokio::test]
async fn a_page_without_the_audit_table_says_which_table_to_add() {
    let setup = Setup::correct().await;
    setup
        .confluence
        .add_page("101", "SEC", None, "Other page", "<p>No table here</p>");
    let mut setup = setup;
    setup.set("CONFLUENCE_PAGE_ID", "101");
    let list = setup.doctor(&[Workflow::MrAudit]).await;
    assert_fails_with(
        &list,
        "confluence",
        "add a table to the page whose first row reads MR | Title",
    );
}

#[tokio::test]
async fn a_personal_axiom_token_without_an_org_id_is_the_wrong_kind() {
    let mut setup = Setup::correct().await;
    setup.set_secret("axiom_token", Some("xapt-personal"));
    let list = setup.doctor(&[Workflow::PrivilegedReview]).await;
    assert_fails_with(
        &list,
        "axiom",
        "this is a personal token (xapt-): set AXIOM_ORG_ID",
    );
    assert_eq!(
        setup.axiom.requests(),
        0,
        "the connector refuses before any request"
    );
}

#[tokio::test]
async fn an_unknown_axiom_dataset_is_named_with_its_setting() {
    let mut setup = Setup::correct().await;
    setup.set("REVIEW_DATASET", "okta-logs");
    let list = setup.doctor(&[Workflow::PrivilegedReview]).await;
    assert_fails_with(
        &list,
        "axiom",
        "create the dataset okta-logs in Axiom, or set REVIEW_DATASET",
    );
}

#[tokio::test]
async fn a_gitlab_token_without_read_api_asks_for_the_scope() {
    let setup = Setup::correct().await;
    setup.gitlab.set_token_scopes(&["read_repository"]);
    let list = setup.doctor(&[Workflow::MrAudit]).await;
    assert_fails_with(&list, "gitlab", "the token needs the read_api scope");
}

#[tokio::test]
async fn a_project_the_token_cannot_see_asks_for_a_role() {
    let mut setup = Setup::correct().await;
    setup.set("MR_AUDIT_GITLAB_PROJECTS", "99");
    let list = setup.doctor(&[Workflow::MrAudit]).await;
    assert_fails_with(
        &list,
        "gitlab",
        "add @secops-bot to \"99\" with at least the Reporter role",
    );
}

#[tokio::test]
async fn migrations_behind_say_who_runs_them() {
    let setup = Setup::correct().await;
    setup
        .db
        .admin_client()
        .await
        .execute("DELETE FROM schema_migrations WHERE version = 10", &[])
        .await
        .unwrap();
    let list = setup.doctor(&[Workflow::RotationChaser]).await;
    assert_fails_with(
        &list,
        "postgres",
        "run `secops-local migrate` with the schema owner's database_url",
    );
    assert!(
        list.render()
            .contains("10 (review_quarantine_and_identity_map)")
    );
    // Read only: the migration is still missing afterwards.
    let rows = setup
        .db
        .admin_client()
        .await
        .query("SELECT 1 FROM schema_migrations WHERE version = 10", &[])
        .await
        .unwrap();
    assert!(rows.is_empty());
}

#[tokio::test]
async fn a_secret_that_does_not_parse_fails_without_quoting_it() {
    let setup = Setup::correct().await;
    std::fs::write(
        setup.dir.path().join("secret.json"),
        r#"{"slack_bot_token": "xoxb-LEAK", oops"#,
    )
    .unwrap();
    let list = setup.doctor(&Workflow::ALL).await;
    assert_fails_with(
        &list,
        "secret",
        "make the secret one JSON object whose values are strings",
    );
    assert!(!list.render().contains("xoxb-LEAK"));
    assert!(!serde_json::to_string(&list).unwrap().contains("xoxb-LEAK"));
}

#[tokio::test]
async fn a_malformed_setting_is_named_with_what_it_must_be() {
    let mut setup = Setup::correct().await;
    setup.set("ROTATION_TIMEZONE", "Mars/Base");
    let list = setup.doctor(&[Workflow::RotationChaser]).await;
    assert_fails_with(&list, "settings", "set ROTATION_TIMEZONE correctly");
    assert!(list.render().contains("IANA timezone"));
    let skipped = list
        .checks
        .iter()
        .find(|c| c.subject == "services")
        .unwrap();
    assert_eq!(skipped.status, Status::Skip);
}

#[tokio::test]
async fn an_unreachable_postgres_fails_its_check_and_skips_the_migrations() {
    let mut setup = Setup::correct().await;
    setup.set_secret(
        "database_url",
        Some("postgres://secops:DO_NOT_PRINT@127.0.0.1:1/secops"),
    );
    let list = setup.doctor(&[Workflow::RotationChaser]).await;
    assert_fails_with(&list, "postgres", "check database_url's host, port");
    let migrations = list
        .checks
        .iter()
        .find(|c| c.name == "migrations current")
        .unwrap();
    assert_eq!(migrations.status, Status::Skip);
    assert!(!list.render().contains("DO_NOT_PRINT"));
}

#[tokio::test]
async fn a_model_that_refuses_the_schema_asks_for_structured_outputs() {
    let setup = Setup::correct().await;
    setup.openai.refuses("I cannot answer in that format").await;
    let list = setup.doctor(&[Workflow::OAuthDrift]).await;
    assert_fails_with(&list, "openai", "a model that supports Structured Outputs");
}

#[tokio::test]
async fn a_missing_credential_names_the_key_and_where_to_add_it() {
    let mut setup = Setup::correct().await;
    setup.set_secret("gitlab_token", None);
    let list = setup.doctor(&[Workflow::MrAudit]).await;
    assert_fails_with(&list, "secret", "add gitlab_token to the credentials file");
    let gitlab = list.checks.iter().find(|c| c.subject == "gitlab").unwrap();
    assert_eq!(gitlab.status, Status::Skip, "no token, no GitLab call");
    assert!(setup.gitlab.requests().is_empty());
}

#[tokio::test]
async fn a_refused_linear_key_says_which_key_to_put_where() {
    let setup = Setup::correct().await;
    setup.linear.accept_only_key("lin_api_other");
    let list = setup.doctor(&[Workflow::OAuthDrift]).await;
    assert_fails_with(&list, "linear", "put a valid key in linear_api_key");
}

#[tokio::test]
async fn no_model_is_a_skip_not_a_failure() {
    let mut setup = Setup::correct().await;
    setup.env.remove("OPENAI_MODEL");
    let list = setup.doctor(&[Workflow::OAuthDrift]).await;
    assert!(list.ok(), "{}", list.render());
    let model = list.checks.iter().find(|c| c.subject == "openai").unwrap();
    assert_eq!(model.status, Status::Skip);
    assert!(setup.openai.requests().await.is_empty());
}

#[tokio::test]
async fn in_lambda_only_the_functions_own_credentials_are_looked_for() {
    let mut setup = Setup::correct().await;
    // The mr-audit function's own secret has no webhook token: that is the webhook function's.
    setup.set_secret("gitlab_webhook_token", None);
    setup.write_secret();
    let env = setup.env.clone();
    let list = doctor::run_with(
        &Env(move |name: &str| env.get(name).cloned()),
        &[Workflow::MrAudit],
        Scope::Function(secops_shared::credential_scope::Function::MrAudit),
    )
    .await;
    assert!(list.ok(), "{}", list.render());
    assert!(
        list.checks
            .iter()
            .all(|c| c.name != "credential gitlab_webhook_token")
    );
}

#[test]
fn a_scheduled_function_runs_the_doctor_only_when_asked() {
    assert!(doctor::asked(&json!({ "doctor": true })));
    assert!(!doctor::asked(&json!({ "doctor": "yes" })));
    assert!(!doctor::asked(&json!({ "workflow": "oauth-drift" })));
}
