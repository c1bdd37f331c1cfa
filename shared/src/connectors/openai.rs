//! OpenAI Chat Completions connector: the [`StructuredLlm`] the drift workflow drafts with.
//!
//! One `POST {base_url}/chat/completions` per draft, with Structured Outputs
//! (`response_format.type = "json_schema"`, `strict: true`), so the model can only answer with
//! JSON of the caller's schema. Any OpenAI-compatible endpoint works: only the base URL changes.
//!
//! Failure handling, from the contract in `docs/contracts/openai.md`:
//! - 429 `rate_limit_exceeded` and 5xx are retried by the shared policy (honouring
//!   `Retry-After`); 429 `insufficient_quota` is not, because only a person topping up the
//!   account can fix it.
//! - 401/403 re-read the secret once (it may have been rotated) before giving up.
//! - A refusal, a truncated answer or content that is not JSON is reported, never returned.
//!
//! Neither the API key nor the prompt text is ever logged or put in an error.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::connectors::credentials::{ConnectorError, Service, sensitive_header};
use crate::connectors::llm::{JsonRequest, LlmError, StructuredLlm};
use crate::http::{self, HttpError, HttpResponse, RetryPolicy, Verdict};
use crate::secrets::{Credentials, SecretStore};

/// The public OpenAI endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// How long one attempt may take unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

const SERVICE: &str = "openai";

/// Longest piece of upstream text (refusal, error message, bad content) put in an error: enough
/// to recognise it, too short to flood a log line or an issue body.
const EXCERPT_CHARS: usize = 200;

/// Where and how to call the model.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// `https://api.openai.com/v1` or any OpenAI-compatible endpoint; a trailing `/` is ignored.
    pub base_url: String,
    /// The model id. Deliberately no default: which model drafts is the operator's decision.
    pub model: String,
    /// The limit for each attempt (retries get their own).
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl OpenAiConfig {
    /// The public endpoint, [`DEFAULT_TIMEOUT`] and the default retry policy for `model`.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            model: model.into(),
            timeout: DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }
}

/// A Chat Completions client that answers with schema-constrained JSON.
pub struct OpenAiClient {
    http: reqwest::Client,
    secrets: Arc<SecretStore>,
    config: OpenAiConfig,
    /// `{base_url}/chat/completions`, built once.
    endpoint: String,
}

/// The model client when both a model and a key are configured; otherwise `None` (the workflows
/// then use their rules and templates), with a log line saying why.
pub fn configured(
    settings: &crate::config::LlmSettings,
    http: reqwest::Client,
    secrets: Arc<SecretStore>,
    credentials: &Credentials,
    retry: RetryPolicy,
) -> Option<OpenAiClient> {
    match (&settings.model, &credentials.openai_api_key) {
        (Some(model), Some(_)) => Some(OpenAiClient::new(
            http,
            secrets,
            OpenAiConfig {
                base_url: settings.base_url.clone(),
                model: model.clone(),
                timeout: settings.timeout,
                retry,
            },
        )),
        (None, Some(_)) => {
            tracing::warn!("openai_api_key is set but OPENAI_MODEL is not: no model is used");
            None
        }
        _ => {
            tracing::info!("no model configured: rules and templates only");
            None
        }
    }
}

impl OpenAiClient {
    pub fn new(http: reqwest::Client, secrets: Arc<SecretStore>, config: OpenAiConfig) -> Self {
        let endpoint = format!("{}/chat/completions", config.base_url.trim_end_matches('/'));
        Self {
            http,
            secrets,
            config,
            endpoint,
        }
    }
}

impl StructuredLlm for OpenAiClient {
    fn model(&self) -> &str {
        &self.config.model
    }

    #[tracing::instrument(skip_all, fields(model = %self.config.model))]
    async fn complete_json(&self, request: &JsonRequest<'_>) -> Result<String, LlmError> {
        check_schema_name(request.schema_name)?;
        let body = ChatRequest::new(&self.config.model, request);
        let request = |authorization: &HeaderValue| {
            self.http
                .post(&self.endpoint)
                .header(AUTHORIZATION, authorization.clone())
                .timeout(self.config.timeout)
                .json(&body)
        };
        let response = Service::new(SERVICE, &self.secrets, self.config.retry)
            .send(bearer, request, classify)
            .await?;
        let request_id = response.header("x-request-id").unwrap_or("-");
        tracing::debug!(request_id, "openai answered");
        interpret(&response)
    }
}

/// The model's errors for a call without an answer: only a timeout and a rate limit that
/// outlasted the retries have their own kind; the workflows treat the rest as an outage.
impl ConnectorError for LlmError {
    fn rate_limited(_: Option<Duration>) -> Self {
        LlmError::RateLimited
    }

    fn unavailable(message: String) -> Self {
        LlmError::Unavailable(message)
    }

    fn gave_up(error: HttpError) -> Self {
        match &error {
            HttpError::Transport { source, .. } if source.is_timeout() => LlmError::Timeout,
            HttpError::Exhausted {
                status: StatusCode::TOO_MANY_REQUESTS,
                ..
            } => LlmError::RateLimited,
            _ => LlmError::Unavailable(error.with_causes()),
        }
    }
}

/// `Bearer <openai_api_key>`, marked sensitive so it is redacted from any debug output.
fn bearer(credentials: &Credentials) -> Result<HeaderValue, LlmError> {
    let key = credentials
        .openai_api_key
        .as_ref()
        .ok_or_else(|| LlmError::Rejected("no openai_api_key in the credentials".to_owned()))?;
    sensitive_header(&format!("Bearer {}", key.expose_secret())).ok_or_else(|| {
        LlmError::Rejected(
            "openai_api_key contains characters not allowed in an HTTP header".to_owned(),
        )
    })
}

/// OpenAI refuses other names with a 400; saying so here costs no request and names the cause.
fn check_schema_name(name: &str) -> Result<(), LlmError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
        return Err(LlmError::Rejected(format!(
            "schema name {:?} must be 1-64 characters of a-z A-Z 0-9 _ -",
            excerpt(name)
        )));
    }
    Ok(())
}

/// The request body (`CreateChatCompletionRequest`), borrowed from the caller's request.
#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: [ChatMessage<'a>; 2],
    response_format: ResponseFormat<'a>,
    max_completion_tokens: u32,
}

#[derive(Serialize)]
struct ChatMessage<'a> {
    role: &'static str,
    content: &'a str,
}

/// `ResponseFormatJsonSchema`.
#[derive(Serialize)]
struct ResponseFormat<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    json_schema: JsonSchemaFormat<'a>,
}

#[derive(Serialize)]
struct JsonSchemaFormat<'a> {
    name: &'a str,
    schema: &'a serde_json::Value,
    strict: bool,
}

impl<'a> ChatRequest<'a> {
    fn new(model: &'a str, request: &JsonRequest<'a>) -> Self {
        Self {
            model,
            messages: [
                ChatMessage {
                    role: "system",
                    content: request.system,
                },
                ChatMessage {
                    role: "user",
                    content: request.user,
                },
            ],
            response_format: ResponseFormat {
                kind: "json_schema",
                json_schema: JsonSchemaFormat {
                    name: request.schema_name,
                    schema: request.schema,
                    strict: true,
                },
            },
            max_completion_tokens: request.max_output_tokens,
        }
    }
}

/// The parts of `CreateChatCompletionResponse` we read; the rest is ignored so additions to
/// the API (or a compatible server's extras) do not break parsing.
#[derive(Deserialize)]
struct ChatResponse {
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: AssistantMessage,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct AssistantMessage {
    content: Option<String>,
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

/// `ErrorResponse`: `{"error": {"message", "type", "param", "code"}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ApiError,
}

#[derive(Deserialize)]
struct ApiError {
    message: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
}

impl ApiError {
    /// The error object, if the body is one (proxies and gateways answer with anything).
    fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice::<ErrorBody>(body)
            .ok()
            .map(|b| b.error)
    }

    fn is(&self, what: &str) -> bool {
        self.code.as_deref() == Some(what) || self.kind.as_deref() == Some(what)
    }
}

/// The shared retry rules, except that an exhausted quota is final: retrying only burns the
/// invocation's time.
fn classify(response: &HttpResponse) -> Verdict {
    if is_out_of_quota(response) {
        Verdict::Done
    } else {
        http::default_verdict(response)
    }
}

fn is_out_of_quota(response: &HttpResponse) -> bool {
    response.status == StatusCode::TOO_MANY_REQUESTS
        && ApiError::parse(&response.body).is_some_and(|e| e.is("insufficient_quota"))
}

/// Turn the final response into the answer or the error the caller acts on.
fn interpret(response: &HttpResponse) -> Result<String, LlmError> {
    let status = response.status;
    if status.is_success() {
        return answer_content(&response.body);
    }
    if is_out_of_quota(response) {
        return Err(LlmError::InsufficientQuota);
    }
    if http::is_credentials_refusal(status) {
        // Upstream messages about keys may quote part of the key: name the status only.
        return Err(LlmError::Rejected(format!(
            "the API key was not accepted (HTTP {})",
            status.as_u16()
        )));
    }
    if status.is_client_error() {
        return Err(LlmError::Rejected(format!(
            "HTTP {}: {}",
            status.as_u16(),
            error_message(response)
        )));
    }
    Err(LlmError::Unavailable(format!(
        "unexpected HTTP {}: {}",
        status.as_u16(),
        error_message(response)
    )))
}

/// `error.message` when the body is an OpenAI error, else the start of the body.
fn error_message(response: &HttpResponse) -> String {
    let message = ApiError::parse(&response.body).and_then(|e| e.message);
    response.error_text(message, EXCERPT_CHARS)
}

/// `choices[0].message.content`, only if the model finished normally and it is JSON.
fn answer_content(body: &[u8]) -> Result<String, LlmError> {
    let completion: ChatResponse = serde_json::from_slice(body)
        .map_err(|e| LlmError::Unusable(format!("not a chat completion: {e}")))?;
    if let Some(usage) = &completion.usage {
        tracing::debug!(
            prompt_tokens = usage.prompt_tokens,
            completion_tokens = usage.completion_tokens,
            "openai usage"
        );
    }
    let choice = completion
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| LlmError::Unusable("no choices in the answer".to_owned()))?;
    // A refusal comes with `finish_reason: "stop"`, so it is checked first.
    if let Some(refusal) = choice.message.refusal {
        return Err(LlmError::Refused(excerpt(&refusal)));
    }
    let finish = choice.finish_reason.as_deref().unwrap_or("none");
    if finish != "stop" {
        // `length` or `content_filter`: whatever content there is, it is incomplete.
        return Err(LlmError::Unusable(format!("finish_reason={finish}")));
    }
    let content = choice
        .message
        .content
        .ok_or_else(|| LlmError::Unusable("the answer has no content".to_owned()))?;
    // Only well-formedness here: the schema is the caller's to check.
    serde_json::from_str::<serde::de::IgnoredAny>(&content)
        .map_err(|e| LlmError::Unusable(format!("not JSON: {e}: {}", excerpt(&content))))?;
    Ok(content)
}

/// At most [`EXCERPT_CHARS`] characters of `text` on one line, marked when cut.
fn excerpt(text: &str) -> String {
    crate::text::one_line(text, EXCERPT_CHARS + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::test_support;

    fn response(status: u16, body: &str) -> HttpResponse {
        test_support::response(status, &[], body)
    }

    #[test]
    fn only_an_exhausted_quota_stops_a_429_from_being_retried() {
        let quota = r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        let rate = r#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
        assert_eq!(classify(&response(429, quota)), Verdict::Done);
        assert_eq!(classify(&response(429, rate)), Verdict::RateLimited(None));
        assert_eq!(classify(&response(429, "")), Verdict::RateLimited(None));
        assert_eq!(classify(&response(503, "")), Verdict::Retry(None));
        assert_eq!(classify(&response(400, "")), Verdict::Done);
    }

    #[test]
    fn the_request_body_has_the_structured_outputs_shape() {
        let schema = serde_json::json!({"type": "object"});
        let request = JsonRequest {
            system: "sys",
            user: "usr",
            schema_name: "draft",
            schema: &schema,
            max_output_tokens: 42,
        };
        let body = serde_json::to_value(ChatRequest::new("m", &request)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "model": "m",
                "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "usr"}],
                "response_format": {"type": "json_schema", "json_schema": {"name": "draft", "schema": {"type": "object"}, "strict": true}},
                "max_completion_tokens": 42
            })
        );
    }

    #[test]
    fn long_content_is_cut_in_errors() {
        let body = serde_json::json!({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "x".repeat(5000), "refusal": null}, "finish_reason": "stop"}]
        });
        let err = answer_content(body.to_string().as_bytes()).unwrap_err();
        let LlmError::Unusable(message) = err else {
            panic!("{err:?}")
        };
        assert!(message.starts_with("not JSON"), "{message}");
        assert!(message.len() < 400, "{}", message.len());
    }

    #[test]
    fn schema_names_openai_would_refuse_are_refused_here() {
        assert!(check_schema_name("access_justification-v1").is_ok());
        assert!(check_schema_name("").is_err());
        assert!(check_schema_name("has space").is_err());
        assert!(check_schema_name(&"a".repeat(65)).is_err());
    }
}
