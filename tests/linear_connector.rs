//! The Linear connector against the stateful fake: what ends up in Linear, and what the
//! workflow is told when Linear pushes back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use secops_shared::connectors::linear::{LinearClient, LinearConfig, LinearIssue};
use secops_shared::drift::ports::IssueTracker;
use secops_shared::drift::render::{NewComment, NewIssue};
use secops_shared::http::{RetryPolicy, build_client};
use secops_shared::ports::TrackerError;
use secops_shared::secrets::{Credentials, SecretSource, SecretStore};
use secops_tests::fake_linear::{FakeLinear, RateLimitStyle};
use secrecy::SecretString;
use uuid::Uuid;

const TEAM: &str = "team-sec";
const KEY: &str = "lin_api_test_key";

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        // Also the longest server-requested wait accepted: the fake's reset is 20 ms away.
        max_delay: Duration::from_secs(1),
    }
}

fn config(fake: &FakeLinear) -> LinearConfig {
    LinearConfig {
        base_url: fake.url(),
        team_id: TEAM.to_owned(),
        project_id: None,
        retry: fast_retry(),
    }
}

fn key_store(key: &str) -> Arc<SecretStore> {
    Arc::new(SecretStore::fixed(Credentials {
        linear_api_key: Some(SecretString::from(key)),
        ..Credentials::default()
    }))
}

fn client_with(config: LinearConfig, secrets: Arc<SecretStore>) -> LinearClient {
    LinearClient::new(build_client(Duration::from_secs(5)), secrets, config)
}

fn client(fake: &FakeLinear) -> LinearClient {
    client_with(config(fake), key_store(KEY))
}

fn issue(title: &str) -> NewIssue {
    NewIssue {
        id: Uuid::new_v4(),
        title: title.to_owned(),
        description: format!("## {title}\n\nDetails."),
        priority: 2,
        labels: vec!["oauth-drift".to_owned(), "severity:high".to_owned()],
        comments: Vec::new(),
    }
}

#[tokio::test]
async fn an_issue_gets_an_existing_workspace_label_and_a_missing_label_created_once() {
    let fake = FakeLinear::start().await;
    let workspace_label = fake.add_label("oauth-drift", None);
    let linear = client(&fake);

    let first = linear
        .create_issue(&issue("New OAuth grant: A"))
        .await
        .unwrap();
    let second = linear
        .create_issue(&issue("New OAuth grant: B"))
        .await
        .unwrap();

    assert_eq!(
        (first.identifier.as_str(), second.identifier.as_str()),
        ("SEC-1", "SEC-2")
    );
    let labels = fake.labels();
    assert_eq!(
        labels.len(),
        2,
        "only severity:high was created: {labels:?}"
    );
    assert_eq!(labels[0].0, workspace_label);
    assert_eq!(
        (labels[1].1.as_str(), labels[1].2.as_deref()),
        ("severity:high", Some(TEAM))
    );
    for filed in fake.issues() {
        assert_eq!(filed.label_names, ["oauth-drift", "severity:high"]);
    }
    let lookups_and_creates = fake.requests() - 2;
    assert_eq!(
        lookups_and_creates, 3,
        "two lookups and one label create, then the cache"
    );
}

#[tokio::test]
async fn title_description_priority_and_project_reach_linear_unchanged() {
    let fake = FakeLinear::start().await;
    let mut config = config(&fake);
    config.project_id = Some("project-oauth".to_owned());
    let linear = client_with(config, key_store(KEY));
    let mut wanted = issue("Elevated OAuth grant: Mailer gained 3 scopes");
    wanted.priority = 1;

    let filed = linear.create_issue(&wanted).await.unwrap();

    let stored = &fake.issues()[0];
    assert_eq!(stored.id, wanted.id.to_string());
    assert_eq!(stored.title, wanted.title);
    assert_eq!(stored.description, wanted.description);
    assert_eq!(stored.priority, 1);
    assert_eq!(stored.team_id, TEAM);
    assert_eq!(stored.project_id.as_deref(), Some("project-oauth"));
    assert_eq!(filed.id, wanted.id.to_string());
    assert_eq!(filed.url, "https://linear.app/acme/issue/SEC-1");
}

#[tokio::test]
async fn no_project_is_sent_when_none_is_configured() {
    let fake = FakeLinear::start().await;
    client(&fake).create_issue(&issue("t")).await.unwrap();
    assert_eq!(fake.issues()[0].project_id, None);
}

#[tokio::test]
async fn an_http_429_rate_limit_is_waited_out_and_the_issue_is_created() {
    let fake = FakeLinear::start().await;
    fake.rate_limit_next(2, RateLimitStyle::Http429);

    let filed = client(&fake).create_issue(&issue("t")).await.unwrap();

    assert_eq!(filed.identifier, "SEC-1");
    assert_eq!(fake.issues().len(), 1);
}

#[tokio::test]
async fn an_http_400_ratelimited_error_is_waited_out_and_the_issue_is_created() {
    let fake = FakeLinear::start().await;
    fake.rate_limit_next(2, RateLimitStyle::Http400Ratelimited);

    let filed = client(&fake).create_issue(&issue("t")).await.unwrap();

    assert_eq!(filed.identifier, "SEC-1");
    assert_eq!(fake.issues().len(), 1);
}

#[tokio::test]
async fn a_ratelimited_error_inside_an_http_200_reply_is_waited_out() {
    let fake = FakeLinear::start().await;
    fake.rate_limit_next(2, RateLimitStyle::Http200ErrorsRatelimited);

    let found = client(&fake).find_issue(Uuid::new_v4()).await.unwrap();

    assert_eq!(found, None);
    assert_eq!(fake.requests(), 3);
}

#[tokio::test]
async fn a_rate_limit_longer_than_the_policy_waits_is_reported_at_once_never_cut_short() {
    let fake = FakeLinear::start().await;
    fake.rate_limit_next(10, RateLimitStyle::Http400Ratelimited);
    fake.rate_limit_resets_after(Duration::from_secs(30));

    let err = client(&fake).create_issue(&issue("t")).await.unwrap_err();

    let TrackerError::RateLimited {
        service,
        retry_after,
    } = err
    else {
        panic!("expected RateLimited, got {err}");
    };
    assert_eq!(service, "linear");
    let wait = retry_after.expect("the reset header gives the wait");
    assert!(
        wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
        "{wait:?}"
    );
    assert_eq!(
        fake.requests(),
        1,
        "no request before Linear's 30 s, and the policy waits at most 5 ms"
    );
    assert!(fake.issues().is_empty());
}

#[tokio::test]
async fn the_client_waits_until_the_reset_time_linear_announces() {
    let fake = FakeLinear::start().await;
    fake.rate_limit_next(1, RateLimitStyle::Http429);
    fake.rate_limit_resets_after(Duration::from_millis(300));
    let mut config = config(&fake);
    config.retry.max_delay = Duration::from_secs(2);
    let linear = client_with(config, key_store(KEY));

    let started = Instant::now();
    linear.find_issue(Uuid::new_v4()).await.unwrap();

    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn graphql_errors_in_an_http_200_reply_are_rejections_carrying_linears_message() {
    let fake = FakeLinear::start().await;
    fake.reject_creates_with_graphql_error("Project is archived");

    let err = client(&fake).create_issue(&issue("t")).await.unwrap_err();

    let TrackerError::Rejected { message, .. } = &err else {
        panic!("expected Rejected, got {err}");
    };
    assert_eq!(message, "Project is archived");
    assert_eq!(fake.create_attempts(), 1, "a refusal is not retried");
    assert!(fake.issues().is_empty());
}

#[tokio::test]
async fn a_server_error_is_retried_and_the_issue_is_created_once() {
    let fake = FakeLinear::start().await;
    fake.fail_next_creates(1, 500);

    let filed = client(&fake).create_issue(&issue("t")).await.unwrap();

    assert_eq!(filed.identifier, "SEC-1");
    assert_eq!(fake.create_attempts(), 2);
    assert_eq!(fake.issues().len(), 1);
}

#[tokio::test]
async fn a_persistent_server_error_is_reported_as_unavailable() {
    let fake = FakeLinear::start().await;
    fake.fail_next_creates(10, 500);

    let err = client(&fake).create_issue(&issue("t")).await.unwrap_err();

    assert!(
        matches!(
            err,
            TrackerError::Unavailable {
                service: "linear",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(fake.create_attempts(), 3);
    assert!(fake.issues().is_empty());
}

#[tokio::test]
async fn an_issue_whose_create_reply_was_lost_is_not_filed_twice() {
    let fake = FakeLinear::start().await;
    fake.lose_next_create_response();
    let linear = client(&fake);
    let wanted = issue("t");

    let first = linear.create_issue(&wanted).await.unwrap();
    let again = linear.create_issue(&wanted).await.unwrap();

    assert_eq!(first, again);
    assert_eq!(first.id, wanted.id.to_string());
    let issues = fake.issues();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].identifier, first.identifier);
}

#[tokio::test]
async fn a_created_issue_is_found_by_its_id() {
    let fake = FakeLinear::start().await;
    let linear = client(&fake);
    let wanted = issue("t");
    let filed = linear.create_issue(&wanted).await.unwrap();

    assert_eq!(linear.find_issue(wanted.id).await.unwrap(), Some(filed));
}

#[tokio::test]
async fn finding_an_unknown_issue_returns_none() {
    let fake = FakeLinear::start().await;

    assert_eq!(
        client(&fake).find_issue(Uuid::new_v4()).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_personal_api_key_is_sent_raw_and_an_oauth_token_as_bearer() {
    let fake = FakeLinear::start().await;
    let id = Uuid::new_v4();
    client_with(config(&fake), key_store("lin_api_personal"))
        .find_issue(id)
        .await
        .unwrap();
    client_with(config(&fake), key_store("oauth-access-token"))
        .find_issue(id)
        .await
        .unwrap();

    assert_eq!(
        fake.authorization_headers().await,
        ["lin_api_personal", "Bearer oauth-access-token"]
    );
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_after_a_401_and_the_call_succeeds() {
    let fake = FakeLinear::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    std::fs::write(&path, r#"{"linear_api_key":"lin_api_old"}"#).unwrap();
    let secrets = Arc::new(SecretStore::new(
        SecretSource::File(path.clone()),
        Duration::from_secs(300),
    ));
    let linear = client_with(config(&fake), secrets);
    linear.find_issue(Uuid::new_v4()).await.unwrap();

    std::fs::write(&path, r#"{"linear_api_key":"lin_api_new"}"#).unwrap();
    fake.accept_only_key("lin_api_new");
    let filed = linear.create_issue(&issue("t")).await.unwrap();

    assert_eq!(filed.identifier, "SEC-1");
    let sent = fake.authorization_headers().await;
    assert_eq!(sent[..3], ["lin_api_old", "lin_api_old", "lin_api_new"]);
    assert!(sent[3..].iter().all(|h| h == "lin_api_new"), "{sent:?}");
}

#[tokio::test]
async fn a_key_refused_and_unchanged_by_rereading_is_rejected_without_being_sent_again_or_revealed()
{
    let fake = FakeLinear::start().await;
    fake.accept_only_key("lin_api_other");

    let err = client(&fake).find_issue(Uuid::new_v4()).await.unwrap_err();

    assert!(matches!(err, TrackerError::Rejected { .. }), "{err}");
    assert!(!err.to_string().contains(KEY), "{err}");
    assert_eq!(
        fake.requests(),
        1,
        "the secret re-read holds the same key: sending it again would be refused the same way"
    );
}

#[tokio::test]
async fn a_missing_api_key_is_rejected_before_calling_linear() {
    let fake = FakeLinear::start().await;
    let no_key = Arc::new(SecretStore::fixed(Credentials::default()));

    let err = client_with(config(&fake), no_key)
        .create_issue(&issue("t"))
        .await
        .unwrap_err();

    let TrackerError::Rejected { message, .. } = &err else {
        panic!("expected Rejected, got {err}");
    };
    assert_eq!(message, "no linear_api_key in the credentials");
    assert_eq!(fake.requests(), 0);
}

#[tokio::test]
async fn another_teams_label_is_not_used_and_a_team_label_is_created_instead() {
    let fake = FakeLinear::start().await;
    let foreign = fake.add_label("oauth-drift", Some("team-other"));

    let id = client(&fake).ensure_label("oauth-drift").await.unwrap();

    assert_ne!(id, foreign);
    assert!(
        fake.labels()
            .contains(&(id, "oauth-drift".to_owned(), Some(TEAM.to_owned())))
    );
}

#[tokio::test]
async fn label_names_match_case_insensitively() {
    let fake = FakeLinear::start().await;
    let existing = fake.add_label("OAuth-Drift", None);

    assert_eq!(
        client(&fake).ensure_label("oauth-drift").await.unwrap(),
        existing
    );
    assert_eq!(fake.labels().len(), 1);
}

#[tokio::test]
async fn a_label_created_by_someone_else_meanwhile_is_looked_up_again() {
    let fake = FakeLinear::start().await;
    let theirs = fake.add_label_behind_next_lookup("oauth-drift", Some(TEAM));

    let id = client(&fake).ensure_label("oauth-drift").await.unwrap();

    assert_eq!(id, theirs);
    assert_eq!(fake.labels().len(), 1);
}

/// A SEC team with Todo, two completed states (Done first by position, added second) and a
/// canceled one, and issue SEC-123 in Todo carrying a `bug` label.
struct Audited {
    fake: FakeLinear,
    issue_id: String,
    bug: String,
}

async fn sec_team_with_an_open_issue() -> Audited {
    let fake = FakeLinear::start().await;
    fake.add_team(TEAM, "SEC");
    fake.add_workflow_state(TEAM, "state-todo", "Todo", "unstarted", 1.0);
    fake.add_workflow_state(TEAM, "state-shipped", "Shipped", "completed", 5.0);
    fake.add_workflow_state(TEAM, "state-done", "Done", "completed", 3.0);
    fake.add_workflow_state(TEAM, "state-canceled", "Canceled", "canceled", 0.0);
    let bug = fake.add_label("bug", Some(TEAM));
    let issue_id = fake.add_issue(TEAM, 123, "Rotate the deploy key", "state-todo", &[&bug]);
    Audited {
        fake,
        issue_id,
        bug,
    }
}

#[tokio::test]
async fn an_issue_is_found_by_its_human_identifier() {
    let Audited {
        fake,
        issue_id,
        bug,
    } = sec_team_with_an_open_issue().await;
    fake.add_issue(TEAM, 12, "Another", "state-todo", &[]);

    let found = client(&fake).issue_by_identifier("SEC-123").await.unwrap();

    assert_eq!(
        found,
        Some(LinearIssue {
            id: issue_id,
            identifier: "SEC-123".to_owned(),
            url: "https://linear.app/acme/issue/SEC-123".to_owned(),
            title: "Rotate the deploy key".to_owned(),
            team_id: TEAM.to_owned(),
            team_key: "SEC".to_owned(),
            state_type: "unstarted".to_owned(),
            state_name: "Todo".to_owned(),
            label_ids: vec![bug],
            branch_name: "sec-123-rotate-the-deploy-key".to_owned(),
            attachments: vec![],
        })
    );
}

#[tokio::test]
async fn an_unknown_identifier_finds_nothing() {
    let Audited { fake, .. } = sec_team_with_an_open_issue().await;
    fake.add_team("team-ops", "OPS");
    fake.add_workflow_state("team-ops", "state-ops", "Todo", "unstarted", 1.0);
    fake.add_issue("team-ops", 7, "Elsewhere", "state-ops", &[]);
    let linear = client(&fake);

    assert_eq!(linear.issue_by_identifier("SEC-7").await.unwrap(), None);
    assert_eq!(linear.issue_by_identifier("ENG-123").await.unwrap(), None);
}

#[tokio::test]
async fn a_malformed_identifier_is_refused_without_calling_linear() {
    let fake = FakeLinear::start().await;
    let linear = client(&fake);

    for bad in [
        "SEC123", "SEC-", "-123", "SEC-0", "SEC-12a", "SEC 12", "SEC-1-2", "",
    ] {
        let err = linear.issue_by_identifier(bad).await.unwrap_err();
        let TrackerError::Rejected { message, .. } = &err else {
            panic!("expected Rejected for {bad:?}, got {err}");
        };
        assert!(
            message.contains("not a Linear issue identifier"),
            "{message}"
        );
    }
    assert_eq!(fake.requests(), 0);
}

#[tokio::test]
async fn the_completed_state_with_the_lowest_position_is_chosen_and_remembered() {
    let Audited { fake, .. } = sec_team_with_an_open_issue().await;
    let linear = client(&fake);

    let first = linear.completed_state(TEAM).await.unwrap();
    let second = linear.completed_state(TEAM).await.unwrap();

    assert_eq!(
        (first.as_str(), second.as_str()),
        ("state-done", "state-done")
    );
    assert_eq!(fake.requests(), 1, "the second answer came from the cache");
}

#[tokio::test]
async fn a_team_without_a_completed_state_is_a_clear_error() {
    let fake = FakeLinear::start().await;
    fake.add_team(TEAM, "SEC");
    fake.add_workflow_state(TEAM, "state-todo", "Todo", "unstarted", 1.0);

    let err = client(&fake).completed_state(TEAM).await.unwrap_err();

    let TrackerError::Rejected { message, .. } = &err else {
        panic!("expected Rejected, got {err}");
    };
    assert!(
        message.contains("no workflow state of type \"completed\""),
        "{message}"
    );
}

#[tokio::test]
async fn closing_as_audited_moves_to_done_and_adds_the_label_beside_the_others() {
    let Audited { fake, issue_id, .. } = sec_team_with_an_open_issue().await;
    let linear = client(&fake);
    let issue = linear
        .issue_by_identifier("SEC-123")
        .await
        .unwrap()
        .unwrap();
    let done = linear.completed_state(&issue.team_id).await.unwrap();
    let audited = linear
        .label_id("audited", Some(&issue.team_id))
        .await
        .unwrap();

    linear
        .close_as_audited(&issue, &done, &audited)
        .await
        .unwrap();
    linear
        .close_as_audited(&issue, &done, &audited)
        .await
        .unwrap();

    assert_eq!(fake.issue_state(&issue_id), "Done");
    assert_eq!(fake.issue_labels(&issue_id), ["bug", "audited"]);
}

#[tokio::test]
async fn a_workspace_label_is_found_and_created_without_a_team() {
    let fake = FakeLinear::start().await;
    fake.add_label("audited", Some("team-other"));
    let linear = client(&fake);

    let created = linear.label_id("audited", None).await.unwrap();
    let again = linear.label_id("Audited", None).await.unwrap();

    assert_eq!(created, again);
    assert!(
        fake.labels()
            .contains(&(created, "audited".to_owned(), None))
    );
}

#[tokio::test]
async fn commenting_twice_with_the_same_id_leaves_one_comment() {
    let Audited { fake, issue_id, .. } = sec_team_with_an_open_issue().await;
    let linear = client(&fake);
    let comment_id = Uuid::new_v4().to_string();
    let body = "Audited: merged in https://gitlab.example/sec/app/-/merge_requests/42 (approved by alice, bob)";

    linear
        .comment_once(&issue_id, &comment_id, body)
        .await
        .unwrap();
    linear
        .comment_once(&issue_id, &comment_id, body)
        .await
        .unwrap();

    assert_eq!(fake.comments(&issue_id), [body]);
}

#[tokio::test]
async fn a_drift_comment_added_through_the_tracker_port_is_posted_once_under_its_id() {
    let fake = FakeLinear::start().await;
    let linear = client(&fake);
    let filed = linear.create_issue(&issue("Grouped")).await.unwrap();
    let comment = NewComment {
        id: Uuid::new_v4(),
        body: "### Principals, part 1 of 1\n\n- a\n".to_owned(),
    };
    fake.lose_next_comment_response();

    linear.add_comment(&filed, &comment).await.unwrap();
    linear.add_comment(&filed, &comment).await.unwrap();

    assert_eq!(fake.comments(&filed.id), [comment.body.as_str()]);
}

#[tokio::test]
async fn a_comment_whose_reply_was_lost_is_not_posted_twice() {
    let Audited { fake, issue_id, .. } = sec_team_with_an_open_issue().await;
    fake.lose_next_comment_response();
    let linear = client(&fake);
    let comment_id = Uuid::new_v4().to_string();

    linear
        .comment_once("SEC-123", &comment_id, "Audited.")
        .await
        .unwrap();
    linear
        .comment_once("SEC-123", &comment_id, "Audited.")
        .await
        .unwrap();

    assert_eq!(fake.comments(&issue_id), ["Audited."]);
}

#[tokio::test]
async fn a_comment_id_already_used_on_another_issue_is_refused() {
    let Audited { fake, issue_id, .. } = sec_team_with_an_open_issue().await;
    let other = fake.add_issue(TEAM, 124, "Other", "state-todo", &[]);
    let linear = client(&fake);
    let comment_id = Uuid::new_v4().to_string();
    linear
        .comment_once(&other, &comment_id, "first")
        .await
        .unwrap();

    let err = linear
        .comment_once(&issue_id, &comment_id, "second")
        .await
        .unwrap_err();

    assert!(matches!(err, TrackerError::Rejected { .. }), "{err}");
    assert!(fake.comments(&issue_id).is_empty());
    assert_eq!(fake.comments(&other), ["first"]);
}

#[tokio::test]
async fn a_comment_id_that_is_not_a_uuid_is_refused_without_calling_linear() {
    let Audited { fake, issue_id, .. } = sec_team_with_an_open_issue().await;

    let err = client(&fake)
        .comment_once(&issue_id, "retry-1", "Audited.")
        .await
        .unwrap_err();

    assert!(matches!(err, TrackerError::Rejected { .. }), "{err}");
    assert_eq!(fake.requests(), 0);
}

#[tokio::test]
async fn the_audit_calls_wait_out_rate_limits() {
    let Audited { fake, issue_id, .. } = sec_team_with_an_open_issue().await;
    let linear = client(&fake);

    fake.rate_limit_next(2, RateLimitStyle::Http400Ratelimited);
    let issue = linear
        .issue_by_identifier("SEC-123")
        .await
        .unwrap()
        .unwrap();
    fake.rate_limit_next(2, RateLimitStyle::Http429);
    let done = linear.completed_state(TEAM).await.unwrap();
    let audited = fake.add_label("audited", None);
    fake.rate_limit_next(2, RateLimitStyle::Http200ErrorsRatelimited);
    linear
        .close_as_audited(&issue, &done, &audited)
        .await
        .unwrap();
    fake.rate_limit_next(2, RateLimitStyle::Http429);
    linear
        .comment_once(&issue.id, &Uuid::new_v4().to_string(), "Audited.")
        .await
        .unwrap();

    assert_eq!(fake.issue_state(&issue_id), "Done");
    assert_eq!(fake.issue_labels(&issue_id), ["bug", "audited"]);
    assert_eq!(fake.comments(&issue_id), ["Audited."]);
}

#[tokio::test]
async fn a_rate_limited_comment_reports_rate_limited() {
    let Audited { fake, issue_id, .. } = sec_team_with_an_open_issue().await;
    fake.rate_limit_next(10, RateLimitStyle::Http429);

    let err = client(&fake)
        .comment_once(&issue_id, &Uuid::new_v4().to_string(), "Audited.")
        .await
        .unwrap_err();

    assert!(matches!(err, TrackerError::RateLimited { .. }), "{err}");
    assert_eq!(fake.requests(), 3, "no lookup after a rate limit");
    assert!(fake.comments(&issue_id).is_empty());
}
