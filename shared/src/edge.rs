//! The HTTP edge: API Gateway HTTP API events (payload format 2.0) decoded here, before any
//! handler runs, so that a malformed event is answered like any other bad request (a 4xx and
//! an invocation summary) instead of failing inside the runtime. Only `POST` on the function's
//! own route is served: anything else is 404 or 405. See docs/decisions/018.

use std::collections::HashMap;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::text;

/// A request as the handlers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeRequest {
    /// Header names are lower-case, as API Gateway's payload 2.0 gives them.
    headers: HashMap<String, String>,
    /// The exact bytes the caller sent (what Slack signed).
    pub body: Vec<u8>,
    /// Who sent it, for the log lines of refused requests.
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

impl EdgeRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// An answer to API Gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    /// `Allow`, on a 405.
    pub allow: Option<&'static str>,
    /// What the request came to, for the summary line.
    pub handled: &'static str,
}

impl EdgeResponse {
    /// The handler's answer.
    pub fn answered(
        status: u16,
        content_type: &'static str,
        body: String,
        handled: &'static str,
    ) -> EdgeResponse {
        EdgeResponse {
            status,
            content_type,
            body,
            allow: None,
            handled,
        }
    }

    fn refusal(status: u16, message: &str, handled: &'static str) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: json!({ "error": message }).to_string(),
            allow: None,
            handled,
        }
    }

    /// The payload-2.0 response object API Gateway expects back.
    pub fn into_event(self) -> Value {
        let mut headers = serde_json::Map::new();
        headers.insert("content-type".to_owned(), self.content_type.into());
        if let Some(allow) = self.allow {
            headers.insert("allow".to_owned(), allow.into());
        }
        json!({
            "statusCode": self.status,
            "headers": headers,
            "body": self.body,
            "isBase64Encoded": false,
        })
    }
}

/// The fields of a payload-2.0 event this project reads; everything else is ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpApiEvent {
    #[serde(default)]
    raw_path: Option<String>,
    #[serde(default)]
    headers: HashMap<String, String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    is_base64_encoded: bool,
    request_context: RequestContext,
}

#[derive(Debug, Deserialize)]
struct RequestContext {
    #[serde(default)]
    stage: Option<String>,
    http: HttpDescription,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpDescription {
    method: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    source_ip: Option<String>,
    #[serde(default)]
    user_agent: Option<String>,
}

/// Decode an event for `route` (e.g. `/slack/interactions`), or the answer refusing it.
pub fn decode(event: Value, route: &str) -> Result<EdgeRequest, EdgeResponse> {
    let event: HttpApiEvent = serde_json::from_value(event).map_err(|e| {
        tracing::warn!(
            reason = %text::excerpt(&e.to_string()),
            "refused: not an API Gateway HTTP API event"
        );
        EdgeResponse::refusal(400, "not an HTTP API request", "malformed")
    })?;
    let http = &event.request_context.http;
    let source_ip = http.source_ip.as_deref().map(text::excerpt);
    let user_agent = http.user_agent.as_deref().map(text::excerpt);
    // On the request's span (`invocation::Request`), so every line logged while answering,
    // a refusal's included, names the caller.
    let span = tracing::Span::current();
    span.record("source_ip", source_ip.as_deref());
    span.record("user_agent", user_agent.as_deref());
    let path = event
        .raw_path
        .as_deref()
        .or(http.path.as_deref())
        .unwrap_or_default();
    if !is_route(path, event.request_context.stage.as_deref(), route) {
        tracing::warn!(
            path = %text::excerpt(path),
            source_ip, user_agent, "refused: not this function's route"
        );
        return Err(EdgeResponse::refusal(404, "not found", "not_found"));
    }
    if !http.method.eq_ignore_ascii_case("POST") {
        tracing::warn!(
            method = %text::excerpt(&http.method),
            source_ip, user_agent, "refused: only POST is served"
        );
        let mut refusal = EdgeResponse::refusal(405, "method not allowed", "method_not_allowed");
        refusal.allow = Some("POST");
        return Err(refusal);
    }
    let raw = event.body.unwrap_or_default();
    let body = if event.is_base64_encoded {
        base64::engine::general_purpose::STANDARD
            .decode(raw.as_bytes())
            .map_err(|e| {
                tracing::warn!(
                    reason = %e, source_ip, user_agent,
                    "refused: the body is flagged base64 but is not valid base64"
                );
                EdgeResponse::refusal(400, "the body is not valid base64", "malformed")
            })?
    } else {
        raw.into_bytes()
    };
    let headers = event
        .headers
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .collect();
    Ok(EdgeRequest {
        headers,
        body,
        source_ip,
        user_agent,
    })
}

/// `path` is `route`, or `route` under the stage's prefix (a named stage puts `/<stage>` in
/// `rawPath`; the `$default` stage does not).
fn is_route(path: &str, stage: Option<&str>, route: &str) -> bool {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    if path == route {
        return true;
    }
    match stage {
        Some(stage) if stage != "$default" => path
            .strip_prefix('/')
            .and_then(|p| p.strip_prefix(stage))
            .is_some_and(|rest| rest == route),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(method: &str, path: &str, body: &str, base64: bool) -> Value {
        json!({
            "version": "2.0",
            "rawPath": path,
            "headers": {"X-Slack-Signature": "v0=ab", "content-type": "application/json"},
            "body": body,
            "isBase64Encoded": base64,
            "requestContext": {
                "stage": "$default",
                "http": {"method": method, "path": path, "sourceIp": "203.0.113.10", "userAgent": "curl/8"}
            }
        })
    }

    #[test]
    fn a_post_on_the_route_is_decoded_with_its_headers_and_body() {
        let request = decode(event("POST", "/hook", "aGVsbG8=", true), "/hook").unwrap();
        assert_eq!(request.body, b"hello");
        assert_eq!(request.header("x-slack-signature"), Some("v0=ab"));
        assert_eq!(request.source_ip.as_deref(), Some("203.0.113.10"));
    }

    #[test]
    fn a_body_flagged_base64_that_is_not_base64_is_a_400() {
        let refusal = decode(event("POST", "/hook", "not base64!!", true), "/hook").unwrap_err();
        assert_eq!(refusal.status, 400);
        assert_eq!(refusal.handled, "malformed");
    }

    #[test]
    fn other_methods_are_405_with_allow_post() {
        for method in ["GET", "DELETE", "PUT"] {
            let refusal = decode(event(method, "/hook", "", false), "/hook").unwrap_err();
            assert_eq!(refusal.status, 405, "{method}");
            assert_eq!(refusal.allow, Some("POST"));
            let response = refusal.into_event();
            assert_eq!(response["headers"]["allow"], "POST");
        }
    }

    #[test]
    fn other_paths_are_404() {
        let refusal = decode(event("POST", "/other", "", false), "/hook").unwrap_err();
        assert_eq!(refusal.status, 404);
    }

    #[test]
    fn a_named_stage_prefix_is_accepted() {
        let mut e = event("POST", "/prod/hook", "", false);
        e["requestContext"]["stage"] = json!("prod");
        assert!(decode(e, "/hook").is_ok());
        let mut e = event("POST", "/dev/hook", "", false);
        e["requestContext"]["stage"] = json!("prod");
        assert_eq!(decode(e, "/hook").unwrap_err().status, 404);
    }

    #[test]
    fn something_that_is_not_an_http_event_is_a_400() {
        assert_eq!(
            decode(json!({"detail": {}}), "/hook").unwrap_err().status,
            400
        );
    }
}
