//! The OpenAI connector against a fake Chat Completions endpoint: what a workflow gets back for
//! each thing the service can do, and what the service was sent.

use std::sync::Arc;
use std::time::Duration;

use secops_shared::connectors::llm::{JsonRequest, LlmError, StructuredLlm};
use secops_shared::connectors::openai::{OpenAiClient, OpenAiConfig};
use secops_shared::http::{RetryPolicy, build_client};
use secops_shared::secrets::{Credentials, SecretSource, SecretStore};
use secops_tests::fake_openai::FakeOpenAi;
use secrecy::SecretString;
use serde_json::{Value, json};

const SYSTEM: &str = "You explain access grants.";
const USER: &str = "Grant: repo:write to ci-bot.";

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": { "justification": { "type": "string" } },
        "required": ["justification"],
        "additionalProperties": false
    })
}

/// Retries that take milliseconds, so failing tests stay fast.
fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    }
}

fn config(openai: &FakeOpenAi) -> OpenAiConfig {
    OpenAiConfig {
        base_url: openai.base_url(),
        model: "gpt-test".to_owned(),
        timeout: Duration::from_secs(5),
        retry: fast_retries(),
    }
}

fn store_with_key(key: Option<&str>) -> Arc<SecretStore> {
    Arc::new(SecretStore::fixed(Credentials {
        openai_api_key: key.map(SecretString::from),
        ..Default::default()
    }))
}

fn client(openai: &FakeOpenAi) -> OpenAiClient {
    client_with(config(openai), store_with_key(Some("sk-test")))
}

fn client_with(config: OpenAiConfig, secrets: Arc<SecretStore>) -> OpenAiClient {
    OpenAiClient::new(build_client(Duration::from_secs(30)), secrets, config)
}

async fn ask(client: &OpenAiClient) -> Result<String, LlmError> {
    let schema = schema();
    let request = JsonRequest {
        system: SYSTEM,
        user: USER,
        schema_name: "access_justification",
        schema: &schema,
        max_output_tokens: 600,
    };
    client.complete_json(&request).await
}

#[tokio::test]
async fn a_structured_answer_is_returned_as_the_model_wrote_it() {
    let openai = FakeOpenAi::start().await;
    openai
        .answers_with(json!({"justification": "CI needs to push tags."}))
        .await;

    let answer = ask(&client(&openai)).await.unwrap();

    let parsed: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(parsed, json!({"justification": "CI needs to push tags."}));
}

#[tokio::test]
async fn the_request_asks_for_strict_json_of_the_callers_schema_with_the_key() {
    let openai = FakeOpenAi::start().await;
    openai.answers_with(json!({"justification": "ok"})).await;

    ask(&client(&openai)).await.unwrap();

    let requests = openai.requests().await;
    assert_eq!(requests.len(), 1);
    let body = &requests[0];
    assert_eq!(body["model"], "gpt-test");
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": USER}
        ])
    );
    let format = &body["response_format"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(format["json_schema"]["name"], "access_justification");
    assert_eq!(format["json_schema"]["strict"], true);
    assert_eq!(format["json_schema"]["schema"], schema());
    assert_eq!(body["max_completion_tokens"], 600);
    assert_eq!(
        openai.authorizations().await,
        vec![Some("Bearer sk-test".to_owned())]
    );
}

#[tokio::test]
async fn a_trailing_slash_on_the_base_url_is_ignored() {
    let openai = FakeOpenAi::start().await;
    openai.answers_with(json!({"justification": "ok"})).await;
    let config = OpenAiConfig {
        base_url: format!("{}/", openai.base_url()),
        ..config(&openai)
    };

    let answer = ask(&client_with(config, store_with_key(Some("sk-test")))).await;

    assert!(answer.is_ok(), "{answer:?}");
}

#[tokio::test]
async fn a_refusal_is_reported_as_refused_with_the_models_words() {
    let openai = FakeOpenAi::start().await;
    openai.refuses("I can't help with that.").await;

    let err = ask(&client(&openai)).await.unwrap_err();

    assert_eq!(err, LlmError::Refused("I can't help with that.".to_owned()));
}

#[tokio::test]
async fn content_that_is_not_json_is_unusable() {
    let openai = FakeOpenAi::start().await;
    openai
        .answers_raw("Sure! Here is the justification: {")
        .await;

    let err = ask(&client(&openai)).await.unwrap_err();

    assert!(
        matches!(&err, LlmError::Unusable(m) if m.starts_with("not JSON")),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_answer_cut_off_at_the_token_limit_is_unusable() {
    let openai = FakeOpenAi::start().await;
    openai.cut_short(r#"{"justification": "CI needs to"#).await;

    let err = ask(&client(&openai)).await.unwrap_err();

    assert_eq!(err, LlmError::Unusable("finish_reason=length".to_owned()));
}

#[tokio::test]
async fn a_passing_rate_limit_is_waited_out() {
    let openai = FakeOpenAi::start().await;
    openai.rate_limited(1).await;
    openai.answers_with(json!({"justification": "ok"})).await;

    let answer = ask(&client(&openai)).await;

    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!(openai.requests().await.len(), 2);
}

#[tokio::test]
async fn a_rate_limit_that_outlasts_the_retries_is_reported_as_rate_limited() {
    let openai = FakeOpenAi::start().await;
    openai.rate_limited(10).await;
    openai.answers_with(json!({"justification": "ok"})).await;

    let err = ask(&client(&openai)).await.unwrap_err();

    assert_eq!(err, LlmError::RateLimited);
    assert_eq!(openai.requests().await.len(), 3);
}

#[tokio::test]
async fn an_exhausted_quota_is_reported_at_once_without_retrying() {
    let openai = FakeOpenAi::start().await;
    openai.out_of_quota().await;

    let err = ask(&client(&openai)).await.unwrap_err();

    assert_eq!(err, LlmError::InsufficientQuota);
    assert_eq!(openai.requests().await.len(), 1);
}

#[tokio::test]
async fn a_server_error_that_persists_is_reported_as_unavailable() {
    let openai = FakeOpenAi::start().await;
    openai.fails_with(500).await;

    let err = ask(&client(&openai)).await.unwrap_err();

    assert!(matches!(err, LlmError::Unavailable(_)), "{err:?}");
    assert_eq!(openai.requests().await.len(), 3);
}

#[tokio::test]
async fn a_model_that_takes_longer_than_the_timeout_is_reported_as_timed_out() {
    let openai = FakeOpenAi::start().await;
    openai.hangs_for(Duration::from_secs(3)).await;
    let config = OpenAiConfig {
        timeout: Duration::from_millis(200),
        ..config(&openai)
    };
    let started = std::time::Instant::now();

    let err = ask(&client_with(config, store_with_key(Some("sk-test"))))
        .await
        .unwrap_err();

    assert_eq!(err, LlmError::Timeout);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn without_an_api_key_nothing_is_sent_and_the_call_is_rejected() {
    let openai = FakeOpenAi::start().await;
    openai.answers_with(json!({"justification": "ok"})).await;

    let err = ask(&client_with(config(&openai), store_with_key(None)))
        .await
        .unwrap_err();

    assert_eq!(
        err,
        LlmError::Rejected("no openai_api_key in the credentials".to_owned())
    );
    assert!(openai.requests().await.is_empty());
}

#[tokio::test]
async fn a_rejected_key_that_cannot_be_re_read_is_rejected_after_one_request() {
    let openai = FakeOpenAi::start().await;
    openai.fails_with(401).await;

    let err = ask(&client(&openai)).await.unwrap_err();

    assert!(
        matches!(&err, LlmError::Rejected(m) if m.contains("401")),
        "{err:?}"
    );
    assert_eq!(openai.requests().await.len(), 1);
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_after_a_401() {
    let openai = FakeOpenAi::start().await;
    openai.rejects_key("sk-old").await;
    openai.answers_with(json!({"justification": "ok"})).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials.json");
    std::fs::write(&file, r#"{"openai_api_key": "sk-old"}"#).unwrap();
    let secrets = Arc::new(SecretStore::new(
        SecretSource::File(file.clone()),
        Duration::from_secs(300),
    ));
    secrets.current().await.unwrap(); // cached: the old key is what the client starts with
    std::fs::write(&file, r#"{"openai_api_key": "sk-new"}"#).unwrap();

    let answer = ask(&client_with(config(&openai), secrets)).await;

    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!(
        openai.authorizations().await,
        vec![
            Some("Bearer sk-old".to_owned()),
            Some("Bearer sk-new".to_owned())
        ]
    );
}

#[tokio::test]
async fn a_bad_request_is_rejected_with_openais_message_and_not_retried() {
    let openai = FakeOpenAi::start().await;
    openai.fails_with(400).await;

    let err = ask(&client(&openai)).await.unwrap_err();

    assert_eq!(
        err,
        LlmError::Rejected("HTTP 400: Invalid schema for response_format.".to_owned())
    );
    assert_eq!(openai.requests().await.len(), 1);
}

#[tokio::test]
async fn the_latest_standing_behaviour_wins() {
    let openai = FakeOpenAi::start().await;
    openai.fails_with(500).await;
    openai
        .answers_with(json!({"justification": "recovered"}))
        .await;

    let answer = ask(&client(&openai)).await.unwrap();

    assert_eq!(answer, json!({"justification": "recovered"}).to_string());
}
