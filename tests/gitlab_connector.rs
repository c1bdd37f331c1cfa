//! The GitLab connector against the stateful fake: what the MR audit trail gets back for a merge
//! request and its approvals, what GitLab was sent, and what the worker is told when GitLab
//! pushes back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use secops_shared::connectors::gitlab::{
    Approvals, GitLabClient, GitLabConfig, GitLabError, GitLabUser,
};
use secops_shared::http::{RetryPolicy, build_client};
use secops_shared::secrets::{Credentials, SecretSource, SecretStore};
use secops_tests::fake_gitlab::{FakeGitLab, approvals_json, merge_request_json};
use secrecy::SecretString;
use serde_json::{Value, json};

const TOKEN: &str = "glpat-test-token-5ecret";
const PROJECT: u64 = 4242;
const IID: u64 = 17;
const MR_PATH: &str = "/api/v4/projects/4242/merge_requests/17";

/// Retries that take milliseconds, but still wait out a `Retry-After` of up to 2 s.
fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_secs(2),
    }
}

fn token_store(token: Option<&str>) -> Arc<SecretStore> {
    Arc::new(SecretStore::fixed(Credentials {
        gitlab_token: token.map(SecretString::from),
        ..Credentials::default()
    }))
}

fn client_with(base_url: String, secrets: Arc<SecretStore>) -> GitLabClient {
    let config = GitLabConfig {
        retry: fast_retry(),
        ..GitLabConfig::new(base_url)
    };
    GitLabClient::new(build_client(Duration::from_secs(5)), secrets, config)
}

fn client(gitlab: &FakeGitLab) -> GitLabClient {
    client_with(gitlab.base_url(), token_store(Some(TOKEN)))
}

fn user(id: u64, username: &str, name: &str) -> GitLabUser {
    GitLabUser {
        id,
        username: username.to_owned(),
        name: name.to_owned(),
    }
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
}

/// The merged MR every test starts from: ann wrote it, bob merged it, cy and dee reviewed it.
fn merged_mr() -> Value {
    merge_request_json(
        PROJECT,
        IID,
        "Rotate the deploy key",
        (11, "ann"),
        (22, "bob"),
        &[(33, "cy"), (44, "dee.ray")],
        &["security", "audit::required"],
    )
}

async fn fake_with_mr() -> FakeGitLab {
    let gitlab = FakeGitLab::start().await;
    gitlab.add_merge_request(PROJECT, IID, merged_mr());
    gitlab
}

#[tokio::test]
async fn a_merged_request_comes_back_with_everything_the_audit_trail_records() {
    let gitlab = fake_with_mr().await;

    let mr = client(&gitlab).merge_request(PROJECT, IID).await.unwrap();

    assert_eq!(mr.id, PROJECT * 1000 + IID);
    assert_eq!(mr.iid, IID);
    assert_eq!(mr.project_id, PROJECT);
    assert_eq!(mr.title, "Rotate the deploy key");
    assert_eq!(
        mr.description.as_deref(),
        Some("Rotate the deploy key\n\nCloses #17.")
    );
    assert_eq!(mr.source_branch, "ann-17");
    assert_eq!(mr.target_branch, "main");
    assert_eq!(
        mr.web_url,
        "https://gitlab.example.com/security/app/-/merge_requests/17"
    );
    assert_eq!(mr.state, "merged");
    assert_eq!(mr.author, user(11, "ann", "Ann"));
    assert_eq!(mr.merged_by, Some(user(22, "bob", "Bob")));
    assert_eq!(mr.merged_at, Some(at("2026-03-02T14:30:04.876Z")));
    assert_eq!(
        mr.reviewers,
        [user(33, "cy", "Cy"), user(44, "dee.ray", "Dee Ray")]
    );
    assert_eq!(mr.labels, ["security", "audit::required"]);
}

#[tokio::test]
async fn merge_user_is_preferred_to_the_deprecated_merged_by() {
    let gitlab = FakeGitLab::start().await;
    let mut mr = merged_mr();
    mr["merge_user"] = json!({ "id": 99, "username": "release-bot", "name": "Release Bot" });
    gitlab.add_merge_request(PROJECT, IID, mr);
    let mut older = merged_mr();
    older.as_object_mut().unwrap().remove("merge_user");
    gitlab.add_merge_request(PROJECT, IID + 1, older);

    let gitlab_client = client(&gitlab);
    let newer = gitlab_client.merge_request(PROJECT, IID).await.unwrap();
    let older = gitlab_client.merge_request(PROJECT, IID + 1).await.unwrap();

    assert_eq!(
        newer.merged_by,
        Some(user(99, "release-bot", "Release Bot"))
    );
    assert_eq!(
        older.merged_by,
        Some(user(22, "bob", "Bob")),
        "older GitLab"
    );
}

#[tokio::test]
async fn an_open_request_with_nulls_and_missing_fields_has_no_merger_and_no_merge_time() {
    let gitlab = FakeGitLab::start().await;
    let mut mr = merged_mr();
    let fields = mr.as_object_mut().unwrap();
    fields.remove("merged_by");
    fields.remove("labels");
    fields.insert("merge_user".into(), Value::Null);
    fields.insert("merged_at".into(), Value::Null);
    fields.insert("description".into(), Value::Null);
    fields.insert("reviewers".into(), Value::Null);
    fields.insert("state".into(), json!("opened"));
    fields.insert("some_future_field".into(), json!({ "nested": [1, 2] }));
    gitlab.add_merge_request(PROJECT, IID, mr);

    let mr = client(&gitlab).merge_request(PROJECT, IID).await.unwrap();

    assert_eq!(mr.state, "opened");
    assert_eq!(mr.merged_by, None);
    assert_eq!(mr.merged_at, None);
    assert_eq!(mr.description, None);
    assert!(mr.reviewers.is_empty());
    assert!(mr.labels.is_empty());
    assert_eq!(mr.author, user(11, "ann", "Ann"));
}

#[tokio::test]
async fn approvals_list_every_approver_and_what_the_rules_still_need() {
    let gitlab = fake_with_mr().await;
    gitlab.set_approvals(
        PROJECT,
        IID,
        approvals_json(&[(33, "cy"), (44, "dee.ray")], 3, 1),
    );

    let approvals = client(&gitlab).approvals(PROJECT, IID).await.unwrap();

    assert_eq!(
        approvals,
        Approvals {
            approved_by: vec![user(33, "cy", "Cy"), user(44, "dee.ray", "Dee Ray")],
            approvals_required: Some(3),
            approvals_left: Some(1),
            approved: Some(false),
        }
    );
    assert_eq!(gitlab.calls("/merge_requests/17/approvals"), 1);
}

#[tokio::test]
async fn a_request_nobody_approved_has_no_approvers() {
    let gitlab = fake_with_mr().await;

    let approvals = client(&gitlab).approvals(PROJECT, IID).await.unwrap();

    assert!(approvals.approved_by.is_empty());
    assert_eq!(approvals.approvals_required, Some(0));
    assert_eq!(approvals.approvals_left, Some(0));
}

#[tokio::test]
async fn approvals_from_an_older_gitlab_without_the_newer_fields_still_parse() {
    let gitlab = fake_with_mr().await;
    gitlab.set_approvals(
        PROJECT,
        IID,
        json!({
            "approvals_required": null,
            "approved_by": [
                { "user": { "id": 33, "username": "cy", "name": "Cy" } },
                { "user": null },
            ],
        }),
    );

    let approvals = client(&gitlab).approvals(PROJECT, IID).await.unwrap();

    assert_eq!(approvals.approved_by, [user(33, "cy", "Cy")]);
    assert_eq!(approvals.approvals_required, None);
    assert_eq!(approvals.approvals_left, None);
    assert_eq!(approvals.approved, None);
}

#[tokio::test]
async fn the_token_goes_in_private_token_and_the_project_is_asked_by_its_numeric_id() {
    let gitlab = fake_with_mr().await;
    let gitlab_client = client(&gitlab);

    gitlab_client.merge_request(PROJECT, IID).await.unwrap();
    gitlab_client.approvals(PROJECT, IID).await.unwrap();

    let requests = gitlab.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, [MR_PATH.to_owned(), format!("{MR_PATH}/approvals")]);
    assert!(requests.iter().all(|r| r.method == "GET"));
    assert!(
        requests
            .iter()
            .all(|r| r.private_token.as_deref() == Some(TOKEN))
    );
}

#[tokio::test]
async fn an_unknown_merge_request_is_not_found_naming_it_without_retrying() {
    let gitlab = fake_with_mr().await;

    let err = client(&gitlab)
        .merge_request(PROJECT, 999)
        .await
        .unwrap_err();

    let GitLabError::NotFound { what } = &err else {
        panic!("expected NotFound, got {err}");
    };
    assert!(what.contains("!999") && what.contains("4242"), "{what}");
    assert!(!err.is_transient());
    assert_eq!(gitlab.requests().len(), 1);
}

#[tokio::test]
async fn a_rate_limit_with_a_short_retry_after_is_waited_out() {
    let gitlab = fake_with_mr().await;
    gitlab.rate_limit_next(1, 0);
    gitlab.rate_limit_next(1, 1);
    let started = Instant::now();

    let mr = client(&gitlab).merge_request(PROJECT, IID).await.unwrap();

    assert_eq!(mr.iid, IID);
    assert_eq!(gitlab.calls(MR_PATH), 3);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After: 1 was honoured"
    );
}

#[tokio::test]
async fn a_retry_after_longer_than_the_policy_allows_is_reported_at_once() {
    let gitlab = fake_with_mr().await;
    gitlab.rate_limit_next(1, 3600);
    let started = Instant::now();

    let err = client(&gitlab)
        .merge_request(PROJECT, IID)
        .await
        .unwrap_err();

    assert!(
        matches!(err, GitLabError::RateLimited { retry_after: Some(wait) } if wait == Duration::from_secs(3600)),
        "{err}"
    );
    assert!(err.is_transient());
    assert_eq!(gitlab.calls(MR_PATH), 1);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_rate_limit_that_outlasts_the_retries_is_reported_as_such() {
    let gitlab = fake_with_mr().await;
    gitlab.rate_limit_next(5, 0);

    let err = client(&gitlab)
        .merge_request(PROJECT, IID)
        .await
        .unwrap_err();

    assert!(matches!(err, GitLabError::RateLimited { .. }), "{err}");
    assert_eq!(gitlab.calls(MR_PATH), 3, "every attempt the policy allows");
}

#[tokio::test]
async fn server_errors_are_retried_until_gitlab_answers() {
    let gitlab = fake_with_mr().await;
    gitlab.fail_next(2, 502);

    let mr = client(&gitlab).merge_request(PROJECT, IID).await.unwrap();

    assert_eq!(mr.iid, IID);
    assert_eq!(gitlab.calls(MR_PATH), 3);
}

#[tokio::test]
async fn an_outage_that_outlasts_the_retries_is_unavailable_and_transient() {
    let gitlab = fake_with_mr().await;
    gitlab.fail_next(10, 503);

    let err = client(&gitlab).approvals(PROJECT, IID).await.unwrap_err();

    assert!(matches!(err, GitLabError::Unavailable(_)), "{err}");
    assert!(err.is_transient());
    assert_eq!(gitlab.calls("/approvals"), 3);
    assert!(!err.to_string().contains("127.0.0.1"), "no URL: {err}");
}

#[tokio::test]
async fn other_client_errors_are_refused_at_once_with_gitlabs_message() {
    let gitlab = fake_with_mr().await;
    gitlab.fail_next(1, 422);

    let err = client(&gitlab)
        .merge_request(PROJECT, IID)
        .await
        .unwrap_err();

    let GitLabError::Api { status, message } = &err else {
        panic!("expected Api, got {err}");
    };
    assert_eq!(
        (*status, message.as_str()),
        (422, "422 Unprocessable Entity")
    );
    assert!(!err.is_transient());
    assert_eq!(gitlab.requests().len(), 1);
}

#[tokio::test]
async fn a_rotated_token_is_picked_up_after_a_401_and_the_call_succeeds() {
    let gitlab = fake_with_mr().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    std::fs::write(&path, r#"{"gitlab_token":"glpat-old"}"#).unwrap();
    let secrets = Arc::new(SecretStore::new(
        SecretSource::File(path.clone()),
        Duration::from_secs(300),
    ));
    let gitlab_client = client_with(gitlab.base_url(), secrets);
    gitlab_client.merge_request(PROJECT, IID).await.unwrap();

    std::fs::write(&path, r#"{"gitlab_token":"glpat-new"}"#).unwrap();
    gitlab.accept_only_token("glpat-new");
    let mr = gitlab_client.merge_request(PROJECT, IID).await.unwrap();

    assert_eq!(mr.iid, IID);
    let sent: Vec<Option<String>> = gitlab
        .requests()
        .into_iter()
        .map(|r| r.private_token)
        .collect();
    assert_eq!(
        sent,
        [Some("glpat-old"), Some("glpat-old"), Some("glpat-new")].map(|t| t.map(str::to_owned)),
        "the second call was refused once (401), then resent with the re-read token"
    );
}

#[tokio::test]
async fn a_token_refused_and_unchanged_by_rereading_is_an_auth_error_sent_once_that_never_reveals_it()
 {
    let gitlab = fake_with_mr().await;
    gitlab.accept_only_token("glpat-some-other-token");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    std::fs::write(&path, format!(r#"{{"gitlab_token":"{TOKEN}"}}"#)).unwrap();
    let secrets = Arc::new(SecretStore::new(
        SecretSource::File(path),
        Duration::from_secs(300),
    ));

    let err = client_with(gitlab.base_url(), secrets)
        .merge_request(PROJECT, IID)
        .await
        .unwrap_err();

    assert!(matches!(err, GitLabError::Auth { status: 401 }), "{err}");
    assert!(!err.is_transient());
    assert_eq!(
        gitlab.calls(MR_PATH),
        1,
        "the secret re-read holds the same token: sending it again would be refused the same way"
    );
    assert!(!err.to_string().contains(TOKEN), "{err}");
    assert!(!format!("{err:?}").contains(TOKEN), "{err:?}");
}

#[tokio::test]
async fn fixed_credentials_refused_are_not_sent_twice() {
    let gitlab = fake_with_mr().await;
    gitlab.accept_only_token("glpat-some-other-token");

    let err = client(&gitlab).approvals(PROJECT, IID).await.unwrap_err();

    assert!(matches!(err, GitLabError::Auth { status: 401 }), "{err}");
    assert_eq!(gitlab.requests().len(), 1);
}

#[tokio::test]
async fn no_error_text_ever_holds_the_token() {
    let gitlab = fake_with_mr().await;
    let gitlab_client = client(&gitlab);
    let mut errors = Vec::new();
    for status in [400, 403, 404, 409, 500] {
        // Server errors are retried (three attempts); the others are answered at once.
        gitlab.fail_next(if status >= 500 { 3 } else { 1 }, status);
        errors.push(gitlab_client.merge_request(PROJECT, IID).await.unwrap_err());
    }
    gitlab.rate_limit_next(1, 3600);
    errors.push(gitlab_client.approvals(PROJECT, IID).await.unwrap_err());
    errors.push(gitlab_client.merge_request(PROJECT, 1).await.unwrap_err());

    for err in &errors {
        let shown = format!("{err} / {err:?}");
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(!shown.contains("http://"), "{shown}");
    }
}

#[tokio::test]
async fn a_missing_token_is_reported_before_calling_gitlab() {
    let gitlab = fake_with_mr().await;

    let err = client_with(gitlab.base_url(), token_store(None))
        .merge_request(PROJECT, IID)
        .await
        .unwrap_err();

    assert!(matches!(err, GitLabError::MissingToken), "{err}");
    assert!(gitlab.requests().is_empty());
}

#[tokio::test]
async fn a_self_managed_instance_under_a_relative_url_root_is_asked_there() {
    let gitlab = fake_with_mr().await;
    let server_root = gitlab.base_url();
    gitlab.serve_under("/gitlab");
    assert_eq!(gitlab.base_url(), format!("{server_root}/gitlab"));

    let mr = client(&gitlab).merge_request(PROJECT, IID).await.unwrap();
    let with_slash = client_with(format!("{server_root}/gitlab/"), token_store(Some(TOKEN)));
    with_slash.approvals(PROJECT, IID).await.unwrap();
    let without_root = client_with(server_root, token_store(Some(TOKEN)))
        .merge_request(PROJECT, IID)
        .await;

    assert_eq!(mr.iid, IID);
    let paths: Vec<String> = gitlab.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            format!("/gitlab{MR_PATH}"),
            format!("/gitlab{MR_PATH}/approvals"),
            MR_PATH.to_owned(),
        ]
    );
    assert!(
        matches!(without_root, Err(GitLabError::NotFound { .. })),
        "the fake serves only under its root"
    );
}

#[tokio::test]
async fn a_body_that_is_not_a_merge_request_is_malformed() {
    let gitlab = FakeGitLab::start().await;
    gitlab.add_merge_request(PROJECT, IID, json!({ "id": "seventeen" }));
    let mut authorless = merged_mr();
    authorless["author"] = Value::Null;
    gitlab.add_merge_request(PROJECT, IID + 1, authorless);
    let gitlab_client = client(&gitlab);

    let wrong = gitlab_client.merge_request(PROJECT, IID).await.unwrap_err();
    let authorless = gitlab_client
        .merge_request(PROJECT, IID + 1)
        .await
        .unwrap_err();

    assert!(matches!(wrong, GitLabError::Malformed(_)), "{wrong}");
    assert!(
        matches!(&authorless, GitLabError::Malformed(m) if m.contains("no author")),
        "{authorless}"
    );
    assert!(!wrong.is_transient());
}

#[tokio::test]
async fn a_plain_http_host_is_refused_before_the_token_is_sent() {
    let err = client_with(
        "http://gitlab.internal.example".to_owned(),
        token_store(Some(TOKEN)),
    )
    .merge_request(PROJECT, IID)
    .await
    .unwrap_err();

    assert!(matches!(err, GitLabError::Misconfigured(_)), "{err}");
}
