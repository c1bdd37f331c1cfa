//! The Slack connector against the stateful fake: the cards people see in their channels, the
//! members of the reviewer group, the replies to a click, and what the workflow is told when
//! Slack pushes back. Then a signed click, verified and parsed as the HTTP function will.

use std::sync::Arc;
use std::time::Duration;

use secops_shared::http::{RetryPolicy, build_client};
use secops_shared::secrets::{Credentials, SecretSource, SecretStore};
use secops_shared::slack::client::{RESPONSE_URL, SlackClient, SlackConfig, SlackError, SlackUser};
use secops_shared::slack::interaction::{self, Action, BlockAction};
use secops_shared::slack::signature::{self, SignatureError};
use secops_tests::fake_slack::FakeSlack;
use secrecy::SecretString;
use serde_json::{Value, json};

const TOKEN: &str = "xoxb-test-bot-token";
const CHANNEL: &str = "C0SECREVIEW";

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    }
}

fn config(fake: &FakeSlack) -> SlackConfig {
    SlackConfig {
        base_url: fake.api_base(),
        retry: fast_retry(),
        group_cache_ttl: Duration::from_secs(300),
    }
}

fn token_store(token: &str) -> Arc<SecretStore> {
    Arc::new(SecretStore::fixed(Credentials {
        slack_bot_token: Some(SecretString::from(token)),
        ..Credentials::default()
    }))
}

fn client_with(config: SlackConfig, secrets: Arc<SecretStore>) -> SlackClient {
    SlackClient::new(build_client(Duration::from_secs(5)), secrets, config)
}

fn client(fake: &FakeSlack) -> SlackClient {
    client_with(config(fake), token_store(TOKEN))
}

async fn fake_with_channel() -> FakeSlack {
    let fake = FakeSlack::start().await;
    fake.add_channel(CHANNEL);
    fake
}

fn card(finding: &str) -> Value {
    json!([
        { "type": "section", "text": { "type": "mrkdwn", "text": format!("*Finding {finding}*") } },
        { "type": "actions", "block_id": "decision", "elements": [
            { "type": "button", "action_id": "approve", "value": format!("{finding}|run42"),
              "style": "primary", "text": { "type": "plain_text", "text": "Approve" } },
            { "type": "button", "action_id": "reject", "value": format!("{finding}|run42"),
              "style": "danger", "text": { "type": "plain_text", "text": "Reject" } }
        ] }
    ])
}

fn decided(by: &str) -> Value {
    json!([{ "type": "section", "text": { "type": "mrkdwn", "text": format!("Approved by <@{by}>") } }])
}

#[tokio::test]
async fn a_posted_card_shows_its_text_and_blocks_and_an_update_replaces_them() {
    let fake = fake_with_channel().await;
    let slack = client(&fake);

    let posted = slack
        .post_message(CHANNEL, "Finding SEC-123 needs review", &card("SEC-123"))
        .await
        .unwrap();
    slack
        .update_message(CHANNEL, &posted.ts, "SEC-123 approved", &decided("U1"))
        .await
        .unwrap();

    assert_eq!(posted.channel, CHANNEL);
    assert_eq!(posted.ts, "1700000000.000100");
    let messages = fake.messages();
    assert_eq!(messages.len(), 1, "an update posts nothing new");
    let message = &messages[0];
    assert_eq!(
        (message.channel.as_str(), message.ts.as_str()),
        (CHANNEL, posted.ts.as_str())
    );
    assert_eq!(message.text, "Finding SEC-123 needs review");
    assert_eq!(message.blocks, card("SEC-123"));
    assert_eq!(
        message.updates,
        [("SEC-123 approved".to_owned(), decided("U1"))]
    );
    assert_eq!(message.shown(), ("SEC-123 approved", &decided("U1")));
}

#[tokio::test]
async fn each_posted_message_gets_a_later_ts() {
    let fake = fake_with_channel().await;
    let slack = client(&fake);

    let first = slack
        .post_message(CHANNEL, "one", &Value::Null)
        .await
        .unwrap();
    let second = slack
        .post_message(CHANNEL, "two", &Value::Null)
        .await
        .unwrap();

    assert_eq!(first.ts, "1700000000.000100");
    assert_eq!(second.ts, "1700000000.000200");
    assert_eq!(fake.messages()[1].blocks, Value::Null, "text only");
}

#[tokio::test]
async fn the_fallback_text_is_sent_with_the_blocks_as_utf8_json_with_the_bot_token() {
    let fake = fake_with_channel().await;
    let slack = client(&fake);
    let posted = slack
        .post_message(CHANNEL, "Finding SEC-9 — révision", &card("SEC-9"))
        .await
        .unwrap();
    slack
        .update_message(CHANNEL, &posted.ts, "SEC-9 rejected", &json!([]))
        .await
        .unwrap();

    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        let body: Value = serde_json::from_str(&request.body).unwrap();
        assert!(
            body["text"].as_str().is_some_and(|t| !t.is_empty()),
            "{body}"
        );
        assert!(body["blocks"].is_array(), "{body}");
        assert_eq!(
            request.content_type.as_deref(),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(
            request.authorization.as_deref(),
            Some("Bearer xoxb-test-bot-token")
        );
    }
    assert_eq!(fake.messages()[0].text, "Finding SEC-9 — révision");
    assert_eq!(
        fake.messages()[0].shown(),
        ("SEC-9 rejected", &json!([])),
        "an empty blocks array clears the buttons"
    );
}

#[tokio::test]
async fn an_update_without_blocks_keeps_the_buttons_shown() {
    let fake = fake_with_channel().await;
    let slack = client(&fake);
    let posted = slack
        .post_message(CHANNEL, "card", &card("SEC-1"))
        .await
        .unwrap();

    slack
        .update_message(CHANNEL, &posted.ts, "card (edited)", &Value::Null)
        .await
        .unwrap();

    let sent: Value = serde_json::from_str(&fake.requests()[1].body).unwrap();
    assert!(sent.get("blocks").is_none(), "{sent}");
    assert_eq!(
        fake.messages()[0].shown(),
        ("card (edited)", &card("SEC-1"))
    );
}

#[tokio::test]
async fn posting_to_an_unknown_channel_reports_it_unusable_with_channel_not_found() {
    let fake = fake_with_channel().await;

    let err = client(&fake)
        .post_message("C0GONE", "hello", &card("SEC-1"))
        .await
        .unwrap_err();

    let SlackError::ChannelUnusable { channel, code } = &err else {
        panic!("expected ChannelUnusable, got {err}");
    };
    assert_eq!(
        (channel.as_str(), code.as_str()),
        ("C0GONE", "channel_not_found")
    );
    assert!(!err.is_transient());
    assert!(fake.messages().is_empty());
    assert_eq!(fake.calls("chat.postMessage"), 1, "not retried");
}

#[tokio::test]
async fn posting_to_a_channel_the_bot_was_removed_from_reports_not_in_channel() {
    let fake = fake_with_channel().await;
    fake.remove_bot_from(CHANNEL);

    let err = client(&fake)
        .post_message(CHANNEL, "hello", &card("SEC-1"))
        .await
        .unwrap_err();

    assert!(
        matches!(&err, SlackError::ChannelUnusable { channel, code }
            if channel == CHANNEL && code == "not_in_channel"),
        "{err}"
    );
    assert!(fake.messages().is_empty());
}

#[tokio::test]
async fn posting_to_an_archived_channel_reports_is_archived() {
    let fake = fake_with_channel().await;
    fake.archive(CHANNEL);

    let err = client(&fake)
        .post_message(CHANNEL, "hello", &card("SEC-1"))
        .await
        .unwrap_err();

    assert!(
        matches!(&err, SlackError::ChannelUnusable { channel, code }
            if channel == CHANNEL && code == "is_archived"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("slack: channel {CHANNEL} cannot take messages: is_archived")
    );
}

#[tokio::test]
async fn updating_a_card_in_a_channel_archived_since_reports_it_unusable() {
    let fake = fake_with_channel().await;
    let slack = client(&fake);
    let posted = slack
        .post_message(CHANNEL, "card", &card("SEC-1"))
        .await
        .unwrap();
    fake.archive(CHANNEL);

    let err = slack
        .update_message(CHANNEL, &posted.ts, "decided", &decided("U1"))
        .await
        .unwrap_err();

    assert!(
        matches!(&err, SlackError::ChannelUnusable { code, .. } if code == "is_archived"),
        "{err}"
    );
    assert!(fake.messages()[0].updates.is_empty());
}

#[tokio::test]
async fn updating_a_message_that_does_not_exist_is_an_api_error_naming_the_code() {
    let fake = fake_with_channel().await;

    let err = client(&fake)
        .update_message(CHANNEL, "1699999999.000001", "x", &decided("U1"))
        .await
        .unwrap_err();

    assert!(
        matches!(&err, SlackError::Api { method: "chat.update", code } if code == "message_not_found"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "slack: chat.update failed: message_not_found"
    );
}

#[tokio::test]
async fn a_rate_limited_post_is_retried_and_the_card_is_posted_once() {
    let fake = fake_with_channel().await;
    fake.rate_limit_next(2);

    let posted = client(&fake)
        .post_message(CHANNEL, "card", &card("SEC-1"))
        .await
        .unwrap();

    assert_eq!(fake.calls("chat.postMessage"), 3);
    let messages = fake.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].ts, posted.ts);
}

#[tokio::test]
async fn a_rate_limit_outlasting_the_retries_is_reported_as_rate_limited() {
    let fake = fake_with_channel().await;
    fake.rate_limit_next(10);

    let err = client(&fake)
        .post_message(CHANNEL, "card", &card("SEC-1"))
        .await
        .unwrap_err();

    assert!(
        matches!(err, SlackError::RateLimited { retry_after: Some(d) } if d.is_zero()),
        "{err}"
    );
    assert!(err.is_transient());
    assert_eq!(fake.calls("chat.postMessage"), 3, "the policy's attempts");
    assert!(fake.messages().is_empty());
}

#[tokio::test]
async fn a_retry_after_longer_than_the_policy_allows_is_handed_back_at_once() {
    let fake = fake_with_channel().await;
    fake.rate_limit_next_with_retry_after(1, 30);

    let err = client(&fake)
        .post_message(CHANNEL, "card", &card("SEC-1"))
        .await
        .unwrap_err();

    assert!(
        matches!(err, SlackError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(30)),
        "{err}"
    );
    assert_eq!(fake.calls("chat.postMessage"), 1);
}

#[tokio::test]
async fn a_server_error_is_retried_and_the_card_is_posted() {
    let fake = fake_with_channel().await;
    fake.fail_next(1, 503);

    client(&fake)
        .post_message(CHANNEL, "card", &card("SEC-1"))
        .await
        .unwrap();

    assert_eq!(fake.calls("chat.postMessage"), 2);
    assert_eq!(fake.messages().len(), 1);
}

#[tokio::test]
async fn a_persistent_server_error_is_reported_as_unavailable_after_three_attempts() {
    let fake = fake_with_channel().await;
    fake.fail_next(10, 500);

    let err = client(&fake)
        .post_message(CHANNEL, "card", &card("SEC-1"))
        .await
        .unwrap_err();

    let SlackError::Unavailable(message) = &err else {
        panic!("expected Unavailable, got {err}");
    };
    assert!(message.contains("500"), "{message}");
    assert!(err.is_transient());
    assert_eq!(fake.calls("chat.postMessage"), 3);
    assert!(fake.messages().is_empty());
}

#[tokio::test]
async fn an_unreachable_slack_is_reported_as_unavailable() {
    let config = SlackConfig {
        base_url: "http://127.0.0.1:1/api".to_owned(),
        retry: fast_retry(),
        group_cache_ttl: Duration::from_secs(300),
    };

    let err = client_with(config, token_store(TOKEN))
        .post_message(CHANNEL, "card", &card("SEC-1"))
        .await
        .unwrap_err();

    assert!(matches!(err, SlackError::Unavailable(_)), "{err}");
}

#[tokio::test]
async fn a_rotated_token_is_picked_up_after_invalid_auth_and_the_post_succeeds() {
    let fake = fake_with_channel().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    std::fs::write(&path, r#"{"slack_bot_token":"xoxb-old"}"#).unwrap();
    let secrets = Arc::new(SecretStore::new(
        SecretSource::File(path.clone()),
        Duration::from_secs(300),
    ));
    let slack = client_with(config(&fake), secrets);
    slack
        .post_message(CHANNEL, "first", &Value::Null)
        .await
        .unwrap();

    fake.revoke_token();
    std::fs::write(&path, r#"{"slack_bot_token":"xoxb-new"}"#).unwrap();
    fake.accept_only_token("xoxb-new");
    slack
        .post_message(CHANNEL, "second", &Value::Null)
        .await
        .unwrap();

    let sent: Vec<Option<String>> = fake
        .requests()
        .into_iter()
        .map(|r| r.authorization)
        .collect();
    assert_eq!(
        sent,
        [
            Some("Bearer xoxb-old".to_owned()),
            Some("Bearer xoxb-old".to_owned()),
            Some("Bearer xoxb-new".to_owned()),
        ]
    );
    let texts: Vec<String> = fake.messages().into_iter().map(|m| m.text).collect();
    assert_eq!(texts, ["first", "second"]);
}

#[tokio::test]
async fn a_token_refused_and_unchanged_by_rereading_is_an_auth_error_sent_once_that_does_not_show_it()
 {
    let fake = fake_with_channel().await;
    fake.revoke_token();

    let err = client(&fake)
        .post_message(CHANNEL, "card", &card("SEC-1"))
        .await
        .unwrap_err();

    assert!(
        matches!(&err, SlackError::Auth { code } if code == "invalid_auth"),
        "{err}"
    );
    assert_eq!(
        fake.calls("chat.postMessage"),
        1,
        "the secret re-read holds the same token: sending it again would be refused the same way"
    );
    assert!(!format!("{err} {err:?}").contains(TOKEN));
}

#[tokio::test]
async fn a_missing_token_is_reported_before_calling_slack() {
    let fake = fake_with_channel().await;
    let no_token = Arc::new(SecretStore::fixed(Credentials::default()));

    let err = client_with(config(&fake), no_token)
        .post_message(CHANNEL, "card", &card("SEC-1"))
        .await
        .unwrap_err();

    assert!(matches!(err, SlackError::MissingToken), "{err}");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn no_error_ever_shows_the_bot_token() {
    let fake = fake_with_channel().await;
    fake.remove_bot_from(CHANNEL);
    let slack = client(&fake);
    let mut errors = Vec::new();

    errors.push(
        slack
            .post_message("C0GONE", "x", &Value::Null)
            .await
            .unwrap_err(),
    );
    errors.push(
        slack
            .post_message(CHANNEL, "x", &Value::Null)
            .await
            .unwrap_err(),
    );
    errors.push(slack.usergroup_members("S0NONE").await.unwrap_err());
    fake.fail_next(3, 502);
    errors.push(
        slack
            .post_message(CHANNEL, "x", &Value::Null)
            .await
            .unwrap_err(),
    );
    fake.rate_limit_next(3);
    errors.push(
        slack
            .update_message(CHANNEL, "1.2", "x", &Value::Null)
            .await
            .unwrap_err(),
    );
    fake.revoke_token();
    errors.push(
        slack
            .post_message(CHANNEL, "x", &Value::Null)
            .await
            .unwrap_err(),
    );
    let bad = "xoxb-with\nnewline";
    errors.push(
        client_with(config(&fake), token_store(bad))
            .post_message(CHANNEL, "x", &Value::Null)
            .await
            .unwrap_err(),
    );

    assert_eq!(errors.len(), 7);
    for err in &errors {
        let shown = format!("{err} | {err:?}");
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(!shown.contains("xoxb-with"), "{shown}");
    }
}

#[tokio::test]
async fn usergroup_members_are_fetched_once_within_the_cache_ttl_and_again_after_it() {
    let fake = FakeSlack::start().await;
    fake.set_usergroup("S0REVIEWERS", &["U1", "U2"]);
    let ttl = Duration::from_millis(200);
    let slack = client_with(
        SlackConfig {
            group_cache_ttl: ttl,
            ..config(&fake)
        },
        token_store(TOKEN),
    );

    let first = slack.usergroup_members("S0REVIEWERS").await.unwrap();
    fake.set_usergroup("S0REVIEWERS", &["U1", "U2", "U3"]);
    let cached = slack.usergroup_members("S0REVIEWERS").await.unwrap();
    tokio::time::sleep(ttl + Duration::from_millis(50)).await;
    let fresh = slack.usergroup_members("S0REVIEWERS").await.unwrap();

    assert_eq!(first, ["U1", "U2"]);
    assert_eq!(cached, first, "within the TTL the cached list is used");
    assert_eq!(fresh, ["U1", "U2", "U3"]);
    assert_eq!(fake.calls("usergroups.users.list"), 2);
    let request = &fake.requests()[0];
    assert_eq!(request.body, "usergroup=S0REVIEWERS");
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
}

#[tokio::test]
async fn each_usergroup_is_cached_separately() {
    let fake = FakeSlack::start().await;
    fake.set_usergroup("S0A", &["U1"]);
    fake.set_usergroup("S0B", &["U2"]);
    let slack = client(&fake);

    assert_eq!(slack.usergroup_members("S0A").await.unwrap(), ["U1"]);
    assert_eq!(slack.usergroup_members("S0B").await.unwrap(), ["U2"]);
    assert_eq!(slack.usergroup_members("S0A").await.unwrap(), ["U1"]);

    assert_eq!(fake.calls("usergroups.users.list"), 2);
}

#[tokio::test]
async fn an_unknown_usergroup_is_an_api_error_and_is_not_cached() {
    let fake = FakeSlack::start().await;
    let slack = client(&fake);

    let err = slack.usergroup_members("S0NONE").await.unwrap_err();
    fake.set_usergroup("S0NONE", &["U9"]);
    let later = slack.usergroup_members("S0NONE").await.unwrap();

    assert!(
        matches!(&err, SlackError::Api { method: "usergroups.users.list", code } if code == "no_such_subteam"),
        "{err}"
    );
    assert_eq!(later, ["U9"]);
}

#[tokio::test]
async fn a_users_identity_gives_their_profile_email_and_name() {
    let fake = FakeSlack::start().await;
    fake.set_user("U0REVIEWER", "dana", Some("dana@acme.test"));

    let user = client(&fake).user_identity("U0REVIEWER").await.unwrap();

    assert_eq!(
        user,
        SlackUser {
            id: "U0REVIEWER".into(),
            name: "dana".into(),
            email: Some("dana@acme.test".into()),
            team_id: Some("T1".into()),
            enterprise_id: None,
            external: false,
        }
    );
    let request = &fake.requests()[0];
    assert_eq!(request.path, "/api/users.info");
    assert_eq!(request.body, "user=U0REVIEWER");
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
}

#[tokio::test]
async fn a_user_without_a_visible_email_has_none() {
    let fake = FakeSlack::start().await;
    fake.set_user("U0NOSCOPE", "eve", None);

    let user = client(&fake).user_identity("U0NOSCOPE").await.unwrap();

    assert_eq!((user.name.as_str(), user.email), ("eve", None));
}

#[tokio::test]
async fn a_users_identity_is_fetched_once_within_the_cache_ttl_and_again_after_it() {
    let fake = FakeSlack::start().await;
    fake.set_user("U1", "dana", Some("dana@acme.test"));
    let ttl = Duration::from_millis(200);
    let slack = client_with(
        SlackConfig {
            group_cache_ttl: ttl,
            ..config(&fake)
        },
        token_store(TOKEN),
    );

    let first = slack.user_identity("U1").await.unwrap();
    fake.set_user("U1", "dana", Some("dana@new.acme.test"));
    let cached = slack.user_identity("U1").await.unwrap();
    tokio::time::sleep(ttl + Duration::from_millis(50)).await;
    let fresh = slack.user_identity("U1").await.unwrap();

    assert_eq!(cached, first, "within the TTL the cached identity is used");
    assert_eq!(fresh.email.as_deref(), Some("dana@new.acme.test"));
    assert_eq!(fake.calls("users.info"), 2);
}

#[tokio::test]
async fn an_unknown_user_is_an_api_error_and_is_not_cached() {
    let fake = FakeSlack::start().await;
    let slack = client(&fake);

    let err = slack.user_identity("U0NOBODY").await.unwrap_err();
    fake.set_user("U0NOBODY", "late", None);
    let later = slack.user_identity("U0NOBODY").await.unwrap();

    assert!(
        matches!(&err, SlackError::Api { method: "users.info", code } if code == "user_not_found"),
        "{err}"
    );
    assert_eq!(later.name, "late");
}

#[tokio::test]
async fn channel_members_over_several_pages_are_all_returned_in_order() {
    let fake = FakeSlack::start().await;
    let members: Vec<String> = (0..450).map(|n| format!("U{n:04}")).collect();
    let names: Vec<&str> = members.iter().map(String::as_str).collect();
    fake.set_channel_members(CHANNEL, &names);

    let got = client(&fake).channel_members(CHANNEL).await.unwrap();

    assert_eq!(got, members);
    assert_eq!(fake.calls("conversations.members"), 3, "200 + 200 + 50");
    let requests = fake.requests();
    assert_eq!(requests[0].body, format!("channel={CHANNEL}&limit=200"));
    assert_eq!(
        requests[0].content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        requests[1].body,
        format!("channel={CHANNEL}&limit=200&cursor=offset%3A200")
    );
    assert_eq!(
        requests[2].body,
        format!("channel={CHANNEL}&limit=200&cursor=offset%3A400")
    );
}

#[tokio::test]
async fn a_channel_needing_more_than_fifty_pages_is_an_api_error_not_an_endless_loop() {
    let fake = FakeSlack::start().await;
    let members: Vec<String> = (0..10_001).map(|n| format!("U{n:05}")).collect();
    let names: Vec<&str> = members.iter().map(String::as_str).collect();
    fake.set_channel_members(CHANNEL, &names);

    let err = client(&fake).channel_members(CHANNEL).await.unwrap_err();

    assert!(
        matches!(&err, SlackError::Api { method: "conversations.members", code }
            if code == "too_many_members"),
        "{err}"
    );
    assert_eq!(fake.calls("conversations.members"), 50);
}

#[tokio::test]
async fn channel_members_are_fetched_once_within_the_cache_ttl_and_again_after_it() {
    let fake = FakeSlack::start().await;
    fake.set_channel_members(CHANNEL, &["U1", "U2"]);
    let ttl = Duration::from_millis(200);
    let slack = client_with(
        SlackConfig {
            group_cache_ttl: ttl,
            ..config(&fake)
        },
        token_store(TOKEN),
    );

    let first = slack.channel_members(CHANNEL).await.unwrap();
    fake.set_channel_members(CHANNEL, &["U1", "U2", "U3"]);
    let cached = slack.channel_members(CHANNEL).await.unwrap();
    let calls_while_cached = fake.calls("conversations.members");
    tokio::time::sleep(ttl + Duration::from_millis(50)).await;
    let fresh = slack.channel_members(CHANNEL).await.unwrap();

    assert_eq!(first, ["U1", "U2"]);
    assert_eq!(cached, first, "within the TTL the cached list is used");
    assert_eq!(calls_while_cached, 1, "the second call asked Slack nothing");
    assert_eq!(fresh, ["U1", "U2", "U3"]);
    assert_eq!(fake.calls("conversations.members"), 2);
}

#[tokio::test]
async fn the_members_of_an_unknown_channel_report_it_unusable_and_are_not_cached() {
    let fake = FakeSlack::start().await;
    let slack = client(&fake);

    let err = slack.channel_members("C0GONE").await.unwrap_err();
    fake.set_channel_members("C0GONE", &["U9"]);
    let later = slack.channel_members("C0GONE").await.unwrap();

    assert!(
        matches!(&err, SlackError::ChannelUnusable { channel, code }
            if channel == "C0GONE" && code == "channel_not_found"),
        "{err}"
    );
    assert!(!err.is_transient());
    assert_eq!(later, ["U9"]);
    assert_eq!(fake.calls("conversations.members"), 2, "not retried");
}

#[tokio::test]
async fn opening_a_view_sends_the_trigger_id_and_the_view_as_json_with_the_bot_token() {
    let fake = FakeSlack::start().await;
    let view = json!({
        "type": "modal",
        "callback_id": "rotation_snooze",
        "title": { "type": "plain_text", "text": "Snooze the reminder" },
        "blocks": []
    });

    client(&fake).open_view("123.456.abc", &view).await.unwrap();

    assert_eq!(
        fake.opened_views(),
        [("123.456.abc".to_owned(), view.clone())]
    );
    let request = &fake.requests()[0];
    assert_eq!(request.path, "/api/views.open");
    let body: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(body, json!({ "trigger_id": "123.456.abc", "view": view }));
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
}

#[tokio::test]
async fn opening_a_view_with_an_expired_trigger_is_an_api_error_naming_the_code() {
    let fake = FakeSlack::start().await;

    let err = client(&fake)
        .open_view("expired.123.abc", &json!({ "type": "modal", "blocks": [] }))
        .await
        .unwrap_err();

    assert!(
        matches!(&err, SlackError::Api { method: "views.open", code } if code == "expired_trigger_id"),
        "{err}"
    );
    assert!(!err.is_transient());
    assert!(fake.opened_views().is_empty());
    assert_eq!(fake.calls("views.open"), 1, "not retried");
}

#[tokio::test]
async fn each_post_to_a_channel_is_timed_as_received_rate_limited_ones_included() {
    let fake = fake_with_channel().await;
    fake.add_channel("C0OTHER");
    let slack = client(&fake);
    fake.rate_limit_next(1);

    let before = std::time::Instant::now();
    slack
        .post_message(CHANNEL, "one", &Value::Null)
        .await
        .unwrap();
    slack
        .post_message("C0OTHER", "other", &Value::Null)
        .await
        .unwrap();
    slack
        .post_message(CHANNEL, "two", &Value::Null)
        .await
        .unwrap();

    let times = fake.post_times(CHANNEL);
    assert_eq!(times.len(), 3, "the rate-limited try, then two posts");
    assert!(times[0] >= before);
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_eq!(fake.post_times("C0OTHER").len(), 1);
    assert!(fake.post_times("C0NEVER").is_empty());
}

#[tokio::test]
async fn respond_posts_the_reply_to_the_response_url_without_the_bot_token() {
    let fake = FakeSlack::start().await;
    let reply = json!({
        "response_type": "ephemeral",
        "replace_original": false,
        "text": "You cannot approve your own grant."
    });

    client(&fake)
        .respond(&fake.response_url("T0CAG-1234-abcd"), &reply)
        .await
        .unwrap();

    assert_eq!(
        fake.responses(),
        [("/response/T0CAG-1234-abcd".to_owned(), reply)]
    );
    let request = &fake.requests()[0];
    assert_eq!(request.authorization, None);
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/json; charset=utf-8")
    );
    assert!(!request.body.contains(TOKEN));
}

#[tokio::test]
async fn a_response_url_reply_is_retried_through_a_server_error() {
    let fake = FakeSlack::start().await;
    fake.fail_next(1, 500);

    client(&fake)
        .respond(&fake.response_url("r1"), &json!({ "text": "Approved" }))
        .await
        .unwrap();

    assert_eq!(fake.responses().len(), 1);
}

#[tokio::test]
async fn a_plain_http_response_url_elsewhere_is_refused_without_being_called() {
    let fake = FakeSlack::start().await;

    let err = client(&fake)
        .respond(
            "http://hooks.example.test/actions/1",
            &json!({ "text": "x" }),
        )
        .await
        .unwrap_err();

    assert!(
        matches!(&err, SlackError::Api { method: RESPONSE_URL, code } if code == "insecure_response_url"),
        "{err}"
    );
    assert!(!err.to_string().contains("hooks.example.test"), "{err}");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn neither_the_token_nor_a_response_url_reaches_the_logs() {
    let capture = secops_tests::logs::LogCapture::start();
    let fake = fake_with_channel().await;
    let slack = client(&fake);

    slack
        .post_message(CHANNEL, "card", &card("SEC-1"))
        .await
        .unwrap();
    fake.fail_next(2, 500);
    slack
        .respond(
            &fake.response_url("secret-path-xyz"),
            &json!({ "text": "ok" }),
        )
        .await
        .unwrap();
    fake.revoke_token();
    slack
        .post_message(CHANNEL, "card", &Value::Null)
        .await
        .unwrap_err();

    let logs = capture.text();
    assert!(
        logs.contains("posted Slack message"),
        "the capture works: {logs}"
    );
    assert!(!logs.contains(TOKEN), "{logs}");
    assert!(!logs.contains("secret-path-xyz"), "{logs}");
}

/// `application/x-www-form-urlencoded`, as Slack encodes `payload=`.
fn form_encode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(byte as char);
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn signed_click(secret: &str, now: i64) -> (Vec<u8>, String, String) {
    let payload = json!({
        "type": "block_actions",
        "token": "deprecated-verification-token",
        "user": { "id": "U0REVIEWER", "username": "dana", "name": "dana", "team_id": "T0CAG" },
        "team": { "id": "T0CAG", "domain": "acme" },
        "container": { "type": "message", "message_ts": "1700000000.000100",
                       "channel_id": CHANNEL, "is_ephemeral": false },
        "channel": { "id": CHANNEL, "name": "sec-reviews" },
        "message": { "ts": "1700000000.000100", "text": "Finding SEC-123" },
        "trigger_id": "123.456.abc",
        "response_url": "https://hooks.slack.com/actions/T0CAG/1/xyz",
        "actions": [{ "type": "button", "action_id": "approve", "block_id": "decision",
                      "value": "SEC-123|run42", "action_ts": "1700000042.000001",
                      "text": { "type": "plain_text", "text": "Approve" } }]
    });
    let body = format!("payload={}", form_encode(&payload.to_string())).into_bytes();
    let signature = signature::sign(secret, now, &body);
    (body, now.to_string(), signature)
}

#[test]
fn a_signed_click_is_verified_on_its_raw_bytes_and_parsed_into_the_decision() {
    let now = 1_700_000_050;
    let current = SecretString::from("current-signing-secret");
    let previous = SecretString::from("previous-signing-secret");
    let (body, timestamp, sig) = signed_click("previous-signing-secret", now - 8);

    let raw = interaction::raw_body(&body, false).unwrap();
    signature::verify(
        &[&current, &previous],
        Some(&timestamp),
        Some(&sig),
        &raw,
        now,
    )
    .unwrap();
    let click = interaction::parse_block_actions(&raw).unwrap();

    assert_eq!(
        click,
        BlockAction {
            user_id: "U0REVIEWER".into(),
            user_name: "dana".into(),
            team_id: Some("T0CAG".into()),
            user_team_id: Some("T0CAG".into()),
            enterprise_id: None,
            channel_id: Some(CHANNEL.into()),
            message_ts: Some("1700000000.000100".into()),
            response_url: Some("https://hooks.slack.com/actions/T0CAG/1/xyz".into()),
            trigger_id: Some("123.456.abc".into()),
            action: Action {
                action_id: "approve".into(),
                block_id: Some("decision".into()),
                value: Some("SEC-123|run42".into()),
                action_ts: Some("1700000042.000001".into()),
            },
        }
    );
}

#[test]
fn a_click_replayed_after_five_minutes_or_signed_by_someone_else_is_refused() {
    let now = 1_700_000_000;
    let secret = SecretString::from("current-signing-secret");
    let (body, timestamp, sig) = signed_click("current-signing-secret", now - 301);
    assert_eq!(
        signature::verify(&[&secret], Some(&timestamp), Some(&sig), &body, now),
        Err(SignatureError::Stale { age_secs: 301 })
    );
    let (body, timestamp, sig) = signed_click("attacker-secret", now);
    assert_eq!(
        signature::verify(&[&secret], Some(&timestamp), Some(&sig), &body, now),
        Err(SignatureError::Mismatch)
    );
}

#[tokio::test]
async fn an_unreachable_response_url_is_unavailable_without_the_url_in_the_error() {
    let config = SlackConfig {
        base_url: "http://127.0.0.1:1/api".to_owned(),
        retry: fast_retry(),
        group_cache_ttl: Duration::from_secs(300),
    };

    let err = client_with(config, token_store(TOKEN))
        .respond(
            "http://127.0.0.1:1/response/secret-path-xyz",
            &json!({ "text": "x" }),
        )
        .await
        .unwrap_err();

    let SlackError::Unavailable(message) = &err else {
        panic!("expected Unavailable, got {err}");
    };
    assert!(!message.contains("secret-path-xyz"), "{message}");
    assert!(message.contains("attempt"), "{message}");
}

#[tokio::test]
async fn auth_test_names_our_workspace_and_its_grid_organisation() {
    let fake = FakeSlack::start().await;

    let plain = client(&fake).workspace().await.unwrap();
    fake.set_enterprise("E0ORG");
    let grid = client(&fake).workspace().await.unwrap();

    assert_eq!(plain.team_id, secops_tests::fake_slack::HOME_TEAM);
    assert_eq!(plain.enterprise_id, None);
    assert_eq!(grid.enterprise_id.as_deref(), Some("E0ORG"));
    assert_eq!(fake.requests()[0].path, "/api/auth.test");
}

#[tokio::test]
async fn users_info_tells_a_slack_connect_member_and_a_guest_from_a_member() {
    let fake = FakeSlack::start().await;
    fake.set_user("U0MEMBER", "member", None);
    fake.set_external_user("U0VENDOR", "vendor", "T0VENDOR");
    fake.set_guest("U0GUEST", "guest");
    let slack = client(&fake);

    let member = slack.user_identity("U0MEMBER").await.unwrap();
    let vendor = slack.user_identity("U0VENDOR").await.unwrap();
    let guest = slack.user_identity("U0GUEST").await.unwrap();

    assert_eq!(
        (member.team_id.as_deref(), member.external),
        (Some("T1"), false)
    );
    assert_eq!(
        (vendor.team_id.as_deref(), vendor.external),
        (Some("T0VENDOR"), true)
    );
    assert!(guest.external);
}
