//! A fake OpenAI Chat Completions endpoint over wiremock, answering with the real response and
//! error shapes (`CreateChatCompletionResponse`, `ErrorResponse`).
//!
//! Two kinds of behaviour:
//! - standing ones (`answers_with`, `refuses`, `fails_with`, ...) answer every call; the most
//!   recently set one wins, so a test can change its mind halfway;
//! - passing ones (`rate_limited(n)`, `rejects_key`) take precedence while they last, then calls
//!   fall through to the standing behaviour.
//!
//! ```ignore
//! let openai = FakeOpenAi::start().await;
//! openai.rate_limited(1).await;
//! openai.answers_with(json!({"justification": "..."})).await;
//! let config = OpenAiConfig { base_url: openai.base_url(), ..OpenAiConfig::new("gpt-test") };
//! ```

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const ENDPOINT: &str = "/v1/chat/completions";

/// Passing behaviours outrank every standing one (wiremock: lower number first).
const PASSING_PRIORITY: u8 = 1;
/// Standing behaviours count down from here, so the newest outranks the older ones.
const FIRST_STANDING_PRIORITY: u8 = 250;

pub struct FakeOpenAi {
    server: MockServer,
    next_standing_priority: AtomicU8,
}

impl FakeOpenAi {
    pub async fn start() -> Self {
        Self {
            server: MockServer::start().await,
            next_standing_priority: AtomicU8::new(FIRST_STANDING_PRIORITY),
        }
    }

    /// What goes in `OpenAiConfig::base_url` (it ends in `/v1`, like the real one).
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.server.uri())
    }

    /// Every call answers with `content` (serialised) as the message content.
    pub async fn answers_with(&self, content: Value) {
        self.answers_raw(&content.to_string()).await;
    }

    /// Every call answers with this content string, JSON or not.
    pub async fn answers_raw(&self, content: &str) {
        self.standing(Completion::content(content, "stop")).await;
    }

    /// Every call answers with content cut off at the token limit (`finish_reason: "length"`).
    pub async fn cut_short(&self, partial_content: &str) {
        self.standing(Completion::content(partial_content, "length"))
            .await;
    }

    /// Every call is refused by the model (`message.refusal` set, `content` null).
    pub async fn refuses(&self, refusal: &str) {
        self.standing(Completion::refusal(refusal)).await;
    }

    /// The next `times` calls get 429 `rate_limit_exceeded` with `Retry-After: 0`.
    pub async fn rate_limited(&self, times: u64) {
        let response = error_response(
            429,
            "Rate limit reached for requests per min (RPM). Please try again in 0s.",
            "requests",
            Some("rate_limit_exceeded"),
        )
        .insert_header("retry-after", "0");
        self.passing(response, times).await;
    }

    /// Every call gets 429 `insufficient_quota` (no `Retry-After`: waiting does not help).
    pub async fn out_of_quota(&self) {
        self.standing(error_response(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            Some("insufficient_quota"),
        ))
        .await;
    }

    /// Every call fails with `status` and an error body of the kind OpenAI sends for it.
    pub async fn fails_with(&self, status: u16) {
        let (message, kind, code) = error_kind(status);
        self.standing(error_response(status, message, kind, code))
            .await;
    }

    /// Calls made with `Authorization: Bearer <key>` get 401 `invalid_api_key`; other keys fall
    /// through (a rotated secret).
    pub async fn rejects_key(&self, key: &str) {
        Mock::given(method("POST"))
            .and(path(ENDPOINT))
            .and(header("authorization", format!("Bearer {key}").as_str()))
            .respond_with(error_response(
                401,
                "Incorrect API key provided.",
                "invalid_request_error",
                Some("invalid_api_key"),
            ))
            .with_priority(PASSING_PRIORITY)
            .mount(&self.server)
            .await;
    }

    /// Every call waits `delay`, then answers `{}` (longer than the client's timeout, it never
    /// gets that far).
    pub async fn hangs_for(&self, delay: Duration) {
        self.standing(Completion::content("{}", "stop").delayed(delay))
            .await;
    }

    /// The JSON bodies received, oldest first.
    pub async fn requests(&self) -> Vec<Value> {
        self.received()
            .await
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
            .collect()
    }

    /// The `Authorization` header of each request received (`None` when absent), oldest first.
    pub async fn authorizations(&self) -> Vec<Option<String>> {
        self.received()
            .await
            .iter()
            .map(|r| {
                r.headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            })
            .collect()
    }

    async fn received(&self) -> Vec<Request> {
        self.server
            .received_requests()
            .await
            .expect("request recording is on by default")
    }

    async fn standing(&self, response: impl Respond + 'static) {
        let priority = self
            .next_standing_priority
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                Some(p.saturating_sub(1).max(PASSING_PRIORITY + 1))
            })
            .expect("the update never declines");
        Mock::given(method("POST"))
            .and(path(ENDPOINT))
            .respond_with(response)
            .with_priority(priority)
            .mount(&self.server)
            .await;
    }

    async fn passing(&self, response: impl Respond + 'static, times: u64) {
        Mock::given(method("POST"))
            .and(path(ENDPOINT))
            .respond_with(response)
            .up_to_n_times(times)
            .with_priority(PASSING_PRIORITY)
            .mount(&self.server)
            .await;
    }
}

/// A successful chat completion; echoes the requested model like the real service.
struct Completion {
    content: Option<String>,
    refusal: Option<String>,
    finish_reason: &'static str,
    delay: Duration,
}

impl Completion {
    fn content(content: &str, finish_reason: &'static str) -> Self {
        Self {
            content: Some(content.to_owned()),
            refusal: None,
            finish_reason,
            delay: Duration::ZERO,
        }
    }

    fn refusal(refusal: &str) -> Self {
        Self {
            content: None,
            refusal: Some(refusal.to_owned()),
            finish_reason: "stop",
            delay: Duration::ZERO,
        }
    }

    fn delayed(self, delay: Duration) -> Self {
        Self { delay, ..self }
    }
}

impl Respond for Completion {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let model = serde_json::from_slice::<Value>(&request.body)
            .ok()
            .and_then(|b| b.get("model").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| "gpt-fake".to_owned());
        let completion_tokens = self.content.as_deref().map_or(0, |c| c.len() / 4);
        let body = json!({
            "id": format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
            "object": "chat.completion",
            "created": chrono::Utc::now().timestamp(),
            "model": model,
            "choices": [{
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": self.content,
                    "refusal": self.refusal,
                    "annotations": []
                },
                "logprobs": null,
                "finish_reason": self.finish_reason
            }],
            "usage": {
                "prompt_tokens": request.body.len() / 4,
                "completion_tokens": completion_tokens,
                "total_tokens": request.body.len() / 4 + completion_tokens
            },
            "service_tier": "default",
            "system_fingerprint": "fp_fake"
        });
        ResponseTemplate::new(200)
            .insert_header(
                "x-request-id",
                format!("req_{}", uuid::Uuid::new_v4().simple()),
            )
            .set_body_json(body)
            .set_delay(self.delay)
    }
}

/// An `ErrorResponse` with the given status.
fn error_response(status: u16, message: &str, kind: &str, code: Option<&str>) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header(
            "x-request-id",
            format!("req_{}", uuid::Uuid::new_v4().simple()),
        )
        .set_body_json(json!({
            "error": { "message": message, "type": kind, "param": null, "code": code }
        }))
}

/// Message, type and code OpenAI sends with `status`.
fn error_kind(status: u16) -> (&'static str, &'static str, Option<&'static str>) {
    match status {
        400 => (
            "Invalid schema for response_format.",
            "invalid_request_error",
            None,
        ),
        401 => (
            "Incorrect API key provided.",
            "invalid_request_error",
            Some("invalid_api_key"),
        ),
        403 => (
            "You are not allowed to sample from this model.",
            "invalid_request_error",
            None,
        ),
        404 => (
            "The model does not exist or you do not have access to it.",
            "invalid_request_error",
            Some("model_not_found"),
        ),
        503 => (
            "The server is overloaded or not ready yet.",
            "server_error",
            Some("server_is_overloaded"),
        ),
        s if s >= 500 => (
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        ),
        _ => ("Request failed.", "invalid_request_error", None),
    }
}
