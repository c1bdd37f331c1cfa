//! Outbound review webhook: tells an organisation's own automation about a review decision
//! (e.g. remove the role on "revoke") with a signed JSON POST.
//!
//! Every delivery is signed twice over the same bytes:
//! - the Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`,
//!   see [`standard_webhooks`]): the signature covers the delivery id, the timestamp and the
//!   body, so a captured delivery cannot be replayed under a new id. Receivers should check
//!   these, with [`standard_webhooks::verify`] or any Standard Webhooks library.
//! - the original headers, kept so existing receivers keep working: [`TIMESTAMP_HEADER`],
//!   [`ID_HEADER`] (the same id) and [`SIGNATURE_HEADER`]:
//!   `v1=hex(HMAC_SHA256(review_webhook_secret, "{timestamp}.{raw body}"))`, checked with
//!   [`verify`]. It does not cover the id; it is deprecated.
//!
//! The body is serialized once and those exact bytes are signed and sent on every attempt.
//! 408, 429, 5xx and transport failures are retried by [`crate::http::send_with_retry`]; any
//! other non-2xx answer is final. The URL must be `https` (plain `http` only to a loopback
//! test server): the body says who lost which access, and the signature must not travel in
//! clear text. Neither the secret, the signature nor the URL (whose path or query may hold a
//! token) is logged or put in an error.
//!
//! Redirects are followed only within the receiver's own origin (the shared client's policy): a
//! redirect elsewhere is a refusal (3xx), and the signed request never reaches another host.

use std::sync::Arc;

use bytes::Bytes;
use hmac::Mac;
use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use super::standard_webhooks;
use crate::http::{self, HttpError, HttpResponse, RetryPolicy, Verdict};
use crate::ports::{FailureKind, PortError};
use crate::secrets::SecretStore;
use crate::signing::{HmacSha256, hmac_sha256};

/// `v1=` + hex HMAC-SHA256 of `"{timestamp}.{raw body}"` (deprecated: does not cover the id).
pub const SIGNATURE_HEADER: &str = "X-SecOps-Signature";
/// When the delivery was signed, in unix seconds.
pub const TIMESTAMP_HEADER: &str = "X-SecOps-Timestamp";
/// The delivery's id, stable across retries, for deduplication by the receiver.
pub const ID_HEADER: &str = "X-SecOps-Delivery";
/// How far (either way) a delivery's timestamp may be from the receiver's clock, in seconds.
pub const MAX_AGE_SECS: i64 = 300;

const SERVICE: &str = "webhook";
const JSON: &str = "application/json";
const SIGNATURE_VERSION: &str = "v1=";
/// Hosts that may be reached over plain `http` (a local fake in tests).
const LOOPBACK_HOSTS: &[&str] = &["127.0.0.1", "localhost"];

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// The receiver's endpoint; `https` outside tests.
    pub url: String,
    pub retry: RetryPolicy,
}

/// Why a delivery failed. No variant carries the secret, the signature or the URL.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook: no review_webhook_secret in the credentials")]
    MissingSecret,
    /// A final non-2xx answer (4xx other than 408 and 429, or an unfollowed 3xx): the receiver
    /// refused this delivery, and sending it again unchanged would not help.
    #[error("webhook: the receiver refused the delivery (HTTP {status})")]
    Rejected { status: u16 },
    /// 408, 429, 5xx, transport failure or the invocation deadline, after the retries.
    #[error("webhook unavailable: {0}")]
    Unavailable(String),
    /// The configured URL is not `https` (nor `http` to a loopback test host), or not a URL.
    #[error("webhook: the configured URL is not https; nothing was sent")]
    InsecureUrl,
    /// The delivery id cannot be sent in an HTTP header (control or non-ASCII characters).
    #[error("webhook: the delivery id is not a valid header value; nothing was sent")]
    InvalidDeliveryId,
}

impl WebhookError {
    /// The receiver's refusal is permanent. Everything else is transient, including our own
    /// configuration faults (secret, URL): once the operator fixes them, the same delivery
    /// goes through, so it is kept for then rather than given up.
    pub fn failure_kind(&self) -> FailureKind {
        match self {
            WebhookError::Rejected { .. } => FailureKind::Permanent,
            _ => FailureKind::Transient,
        }
    }
}

impl From<WebhookError> for PortError {
    fn from(error: WebhookError) -> Self {
        PortError::new(SERVICE, error.failure_kind(), error)
    }
}

/// Signs and POSTs review decisions to one receiver.
pub struct WebhookSender {
    http: reqwest::Client,
    secrets: Arc<SecretStore>,
    config: WebhookConfig,
    /// The parsed URL, or `None` when it is refused; checked once here, reported on delivery.
    target: Option<Url>,
}

/// One delivery's body and headers, built once and re-sent as is on every attempt.
struct Signed {
    body: Bytes,
    timestamp: HeaderValue,
    delivery_id: HeaderValue,
    signature: HeaderValue,
    /// The Standard Webhooks signature over id, timestamp and body.
    standard_signature: HeaderValue,
}

impl WebhookSender {
    pub fn new(http: reqwest::Client, secrets: Arc<SecretStore>, config: WebhookConfig) -> Self {
        let target = checked_url(&config.url);
        if target.is_none() {
            tracing::warn!("webhook URL refused: it must be https; deliveries will fail");
        }
        Self {
            http,
            secrets,
            config,
            target,
        }
    }

    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// POST the JSON body, signed; retried on 408/429/5xx/transport
    /// ([`crate::http::send_with_retry`], service "webhook"); 2xx = delivered.
    ///
    /// `now_unix` is the signing time; it stays the same on every retry of this call (the
    /// retries take seconds, well within the receiver's [`MAX_AGE_SECS`]).
    #[tracing::instrument(skip_all, fields(delivery_id = delivery_id))]
    pub async fn deliver(
        &self,
        delivery_id: &str,
        body: &serde_json::Value,
        now_unix: i64,
    ) -> Result<(), WebhookError> {
        let url = self.target.clone().ok_or(WebhookError::InsecureUrl)?;
        let secret = self.secret().await?;
        let signed = Signed::new(secret.expose_secret(), delivery_id, body, now_unix)?;
        let make = || {
            self.http
                .post(url.clone())
                .header(CONTENT_TYPE, JSON)
                .header(TIMESTAMP_HEADER, signed.timestamp.clone())
                .header(ID_HEADER, signed.delivery_id.clone())
                .header(SIGNATURE_HEADER, signed.signature.clone())
                .header(standard_webhooks::ID_HEADER, signed.delivery_id.clone())
                .header(
                    standard_webhooks::TIMESTAMP_HEADER,
                    signed.timestamp.clone(),
                )
                .header(
                    standard_webhooks::SIGNATURE_HEADER,
                    signed.standard_signature.clone(),
                )
                .body(signed.body.clone())
        };
        let policy = self.config.retry;
        let response = http::send_with_retry(SERVICE, policy, make, http::default_verdict)
            .await
            .map_err(give_up)?;
        self.outcome(&response).await?;
        // The host only: a path or query may carry the receiver's token.
        tracing::info!(
            host = url.host_str().unwrap_or_default(),
            status = response.status.as_u16(),
            "webhook delivered"
        );
        Ok(())
    }

    /// The signing key; an empty value counts as absent (anyone can sign with an empty key).
    async fn secret(&self) -> Result<SecretString, WebhookError> {
        // Boxed: fetching from Secrets Manager nests the AWS SDK's futures deeply.
        let credentials = Box::pin(self.secrets.current())
            .await
            .map_err(|e| WebhookError::Unavailable(format!("cannot read credentials: {e}")))?;
        credentials
            .review_webhook_secret
            .clone()
            .filter(|s| !s.expose_secret().trim().is_empty())
            .ok_or(WebhookError::MissingSecret)
    }

    /// The final answer (after retries) mapped to delivered or why not.
    async fn outcome(&self, response: &HttpResponse) -> Result<(), WebhookError> {
        let status = response.status;
        if status.is_success() {
            return Ok(());
        }
        if http::default_verdict(response) != Verdict::Done {
            // A retryable answer, only final when the receiver asked for a longer wait than the
            // policy allows.
            return Err(WebhookError::Unavailable(format!(
                "{SERVICE}: HTTP {status}; the receiver asked to wait longer than the retry policy allows"
            )));
        }
        if http::is_credentials_refusal(status) {
            // The secret may have been rotated: the next delivery re-reads it.
            self.secrets.invalidate().await;
        }
        tracing::warn!(status = status.as_u16(), "webhook delivery refused");
        Err(WebhookError::Rejected {
            status: status.as_u16(),
        })
    }
}

impl Signed {
    fn new(
        secret: &str,
        delivery_id: &str,
        body: &serde_json::Value,
        now_unix: i64,
    ) -> Result<Self, WebhookError> {
        // Serialized once: the receiver checks the signature against the exact bytes it got.
        let body = Bytes::from(body.to_string());
        let id_header =
            HeaderValue::from_str(delivery_id).map_err(|_| WebhookError::InvalidDeliveryId)?;
        let mut signature = HeaderValue::from_str(&sign(secret, now_unix, &body))
            .expect("v1= and hex digits are a valid header value");
        let mut standard_signature = HeaderValue::from_str(&standard_webhooks::sign(
            secret,
            delivery_id,
            now_unix,
            &body,
        ))
        .expect("v1, and base64 are a valid header value");
        // Kept out of reqwest's and hyper's debug output.
        signature.set_sensitive(true);
        standard_signature.set_sensitive(true);
        Ok(Self {
            body,
            timestamp: HeaderValue::from(now_unix),
            delivery_id: id_header,
            signature,
            standard_signature,
        })
    }
}

/// Verify a delivery: `signature` must be `v1=hex(HMAC_SHA256(secret, "{timestamp}.{body}"))`
/// (compared in constant time) and `timestamp` within [`MAX_AGE_SECS`] of `now_unix` either
/// way. An empty secret verifies nothing.
pub fn verify(
    secret: &str,
    timestamp: &str,
    signature: &str,
    raw_body: &[u8],
    now_unix: i64,
) -> bool {
    if secret.is_empty() {
        return false;
    }
    let Ok(sent_at) = timestamp.parse::<i64>() else {
        return false;
    };
    if now_unix.saturating_sub(sent_at).unsigned_abs() > MAX_AGE_SECS.unsigned_abs() {
        return false;
    }
    let Some(claimed) = signature
        .strip_prefix(SIGNATURE_VERSION)
        .and_then(|digest| hex::decode(digest).ok())
    else {
        return false;
    };
    // Signed over the timestamp as received, so a reformatted number ("+17…") does not verify.
    mac(secret.as_bytes(), timestamp, raw_body)
        .verify_slice(&claimed)
        .is_ok()
}

/// The [`SIGNATURE_HEADER`] value for this body signed at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, raw_body: &[u8]) -> String {
    let digest = mac(secret.as_bytes(), &timestamp.to_string(), raw_body)
        .finalize()
        .into_bytes();
    format!("{SIGNATURE_VERSION}{}", hex::encode(digest))
}

fn mac(key: &[u8], timestamp: &str, raw_body: &[u8]) -> HmacSha256 {
    hmac_sha256(key, &[timestamp.as_bytes(), b".", raw_body])
}

/// `https` anywhere; plain `http` only to a loopback host (a local fake in tests).
fn checked_url(url: &str) -> Option<Url> {
    let url = Url::parse(url).ok()?;
    let loopback = url
        .host_str()
        .is_some_and(|host| LOOPBACK_HOSTS.contains(&host));
    match url.scheme() {
        "https" => Some(url),
        "http" if loopback => Some(url),
        _ => None,
    }
}

/// Retries ran out, the transport failed or the deadline came. `HttpError` never quotes the
/// URL (transport errors are stripped of it) nor anything we sent.
fn give_up(error: HttpError) -> WebhookError {
    WebhookError::Unavailable(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec-test";
    const NOW: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"decision":"revoke","grant":"g-1"}"#;

    #[test]
    fn a_signature_is_v1_hex_hmac_of_timestamp_dot_body() {
        let signature = sign(SECRET, NOW, BODY);
        let mut expected = HmacSha256::new_from_slice(SECRET.as_bytes()).unwrap();
        expected.update(format!("{NOW}.").as_bytes());
        expected.update(BODY);
        let expected = hex::encode(expected.finalize().into_bytes());

        assert_eq!(signature, format!("v1={expected}"));
        assert!(verify(SECRET, &NOW.to_string(), &signature, BODY, NOW));
    }

    #[test]
    fn verify_refuses_what_was_not_signed_with_this_secret_just_now() {
        let ts = NOW.to_string();
        let signature = sign(SECRET, NOW, BODY);

        assert!(!verify("other", &ts, &signature, BODY, NOW));
        assert!(!verify(SECRET, &ts, &signature, b"{}", NOW));
        assert!(!verify(SECRET, &ts, &signature, BODY, NOW + 301));
        assert!(!verify(SECRET, &ts, &signature, BODY, NOW - 301), "future");
        assert!(verify(SECRET, &ts, &signature, BODY, NOW + 300));
        assert!(!verify(SECRET, "not-a-time", &signature, BODY, NOW));
        assert!(!verify(
            SECRET,
            &ts,
            &signature.replacen("v1=", "v0=", 1),
            BODY,
            NOW
        ));
        assert!(!verify(SECRET, &ts, "v1=zz", BODY, NOW));
        assert!(
            !verify("", &ts, &sign("", NOW, BODY), BODY, NOW),
            "empty key"
        );
    }

    #[test]
    fn only_https_or_loopback_http_urls_are_accepted() {
        for ok in [
            "https://automation.example.com/hooks/review?token=abc",
            "http://127.0.0.1:8080/hook",
            "http://localhost/hook",
        ] {
            assert!(checked_url(ok).is_some(), "{ok}");
        }
        for refused in [
            "http://automation.example.com/hook",
            "http://127.0.0.1.example.com/hook",
            "ftp://127.0.0.1/hook",
            "not a url",
            "",
        ] {
            assert!(checked_url(refused).is_none(), "{refused}");
        }
    }
}
