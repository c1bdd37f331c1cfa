//! The outbound review webhook against a local receiver: what the organisation's automation
//! gets (a signed JSON body it can verify and dedupe), and what the workflow is told when the
//! receiver pushes back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use secops_shared::connectors::standard_webhooks;
use secops_shared::connectors::webhook::{
    self, ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookConfig, WebhookError, WebhookSender,
};
use secops_shared::http::{RetryPolicy, build_client};
use secops_shared::ports::FailureKind;
use secops_shared::secrets::{Credentials, SecretStore};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SECRET: &str = "whsec-review-test-secret";
const NOW: i64 = 1_700_000_000;
const DELIVERY: &str = "rev-42-task-7";
const HOOK: &str = "/hooks/review";

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    }
}

fn secret_store(secret: Option<&str>) -> Arc<SecretStore> {
    Arc::new(SecretStore::fixed(Credentials {
        review_webhook_secret: secret.map(SecretString::from),
        ..Credentials::default()
    }))
}

fn sender_to(url: String, secrets: Arc<SecretStore>) -> WebhookSender {
    WebhookSender::new(
        build_client(Duration::from_secs(5)),
        secrets,
        WebhookConfig {
            url,
            retry: fast_retry(),
        },
    )
}

fn sender(receiver: &MockServer) -> WebhookSender {
    sender_to(
        format!("{}{HOOK}", receiver.uri()),
        secret_store(Some(SECRET)),
    )
}

fn decision() -> Value {
    json!({
        "type": "review.decided",
        "decision": "revoke",
        "grant": { "user": "dana@acme.test", "role": "org-admin", "system": "github" },
        "decided_by": "U0REVIEWER",
        "note": "Révoqué — not needed any more"
    })
}

/// A receiver answering `statuses` in order, then 200 to anything after.
async fn receiver(statuses: &[u16]) -> MockServer {
    let server = MockServer::start().await;
    for status in statuses {
        Mock::given(method("POST"))
            .and(path(HOOK))
            .respond_with(ResponseTemplate::new(*status))
            .up_to_n_times(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path(HOOK))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

async fn received(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap()
}

fn header<'a>(request: &'a Request, name: &str) -> &'a str {
    request
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// What a receiver does with a delivery: check its signature on the raw body it got.
fn receiver_verifies(request: &Request, secret: &str, now: i64) -> bool {
    webhook::verify(
        secret,
        header(request, TIMESTAMP_HEADER),
        header(request, SIGNATURE_HEADER),
        &request.body,
        now,
    )
}

#[tokio::test]
async fn a_delivery_is_signed_json_with_an_id_the_receiver_can_verify() {
    let server = receiver(&[]).await;

    sender(&server)
        .deliver(DELIVERY, &decision(), NOW)
        .await
        .unwrap();

    let requests = received(&server).await;
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(header(request, "content-type"), "application/json");
    assert_eq!(header(request, ID_HEADER), DELIVERY);
    assert_eq!(header(request, TIMESTAMP_HEADER), NOW.to_string());
    assert!(header(request, SIGNATURE_HEADER).starts_with("v1="));
    assert!(receiver_verifies(request, SECRET, NOW + 2));
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body, decision());
}

/// What a receiver following Standard Webhooks does: id, timestamp and body under one signature.
fn receiver_verifies_standard(request: &Request, id: &str, secret: &str, now: i64) -> bool {
    standard_webhooks::verify(
        secret,
        id,
        header(request, standard_webhooks::TIMESTAMP_HEADER),
        header(request, standard_webhooks::SIGNATURE_HEADER),
        &request.body,
        now,
    )
}

#[tokio::test]
async fn a_delivery_carries_standard_webhooks_headers_that_sign_its_id() {
    let server = receiver(&[]).await;

    sender(&server)
        .deliver(DELIVERY, &decision(), NOW)
        .await
        .unwrap();

    let request = &received(&server).await[0];
    assert_eq!(header(request, standard_webhooks::ID_HEADER), DELIVERY);
    assert_eq!(
        header(request, standard_webhooks::TIMESTAMP_HEADER),
        NOW.to_string()
    );
    assert!(header(request, standard_webhooks::SIGNATURE_HEADER).starts_with("v1,"));
    assert!(receiver_verifies_standard(
        request,
        DELIVERY,
        SECRET,
        NOW + 2
    ));
    // Someone who captured the delivery replays it under a fresh id, hoping the receiver's
    // dedupe lets it through: the signature covers the id, so it does not verify.
    assert!(!receiver_verifies_standard(
        request,
        "rev-42-task-7-replayed",
        SECRET,
        NOW + 2
    ));
}

#[tokio::test]
async fn a_retry_after_a_server_error_resends_the_same_id_body_and_signature() {
    let server = receiver(&[500]).await;

    sender(&server)
        .deliver(DELIVERY, &decision(), NOW)
        .await
        .unwrap();

    let requests = received(&server).await;
    assert_eq!(requests.len(), 2);
    let (first, retry) = (&requests[0], &requests[1]);
    assert_eq!(header(retry, ID_HEADER), DELIVERY);
    assert_eq!(retry.body, first.body, "the body is byte for byte the same");
    for name in [
        ID_HEADER,
        TIMESTAMP_HEADER,
        SIGNATURE_HEADER,
        standard_webhooks::ID_HEADER,
        standard_webhooks::TIMESTAMP_HEADER,
        standard_webhooks::SIGNATURE_HEADER,
    ] {
        assert_eq!(header(retry, name), header(first, name), "{name}");
    }
    assert!(receiver_verifies(retry, SECRET, NOW));
}

#[tokio::test]
async fn a_client_error_is_rejected_without_a_retry() {
    let server = receiver(&[400]).await;

    let err = sender(&server)
        .deliver(DELIVERY, &decision(), NOW)
        .await
        .unwrap_err();

    assert!(
        matches!(err, WebhookError::Rejected { status: 400 }),
        "{err}"
    );
    assert_eq!(err.failure_kind(), FailureKind::Permanent);
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn a_receiver_down_for_good_is_unavailable_after_the_policys_attempts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;

    let err = sender(&server)
        .deliver(DELIVERY, &decision(), NOW)
        .await
        .unwrap_err();

    let WebhookError::Unavailable(message) = &err else {
        panic!("expected Unavailable, got {err}");
    };
    assert!(message.contains("3 attempt(s)"), "{message}");
    assert_eq!(err.failure_kind(), FailureKind::Transient);
    assert_eq!(received(&server).await.len(), 3);
}

#[tokio::test]
async fn a_retry_after_longer_than_the_policy_allows_is_not_waited_for() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
        .mount(&server)
        .await;
    let started = Instant::now();

    let err = sender(&server)
        .deliver(DELIVERY, &decision(), NOW)
        .await
        .unwrap_err();

    assert!(matches!(err, WebhookError::Unavailable(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn without_a_secret_nothing_is_sent() {
    let server = receiver(&[]).await;
    let url = format!("{}{HOOK}", server.uri());

    for secret in [None, Some("")] {
        let err = sender_to(url.clone(), secret_store(secret))
            .deliver(DELIVERY, &decision(), NOW)
            .await
            .unwrap_err();
        assert!(matches!(err, WebhookError::MissingSecret), "{err}");
    }
    assert!(received(&server).await.is_empty());
}

#[tokio::test]
async fn a_plain_http_url_to_another_host_is_refused_without_a_request() {
    let url = "http://automation.example.test/hooks/review?token=query-secret";

    let err = sender_to(url.to_owned(), secret_store(Some(SECRET)))
        .deliver(DELIVERY, &decision(), NOW)
        .await
        .unwrap_err();

    assert!(matches!(err, WebhookError::InsecureUrl), "{err}");
    assert!(!format!("{err} {err:?}").contains("query-secret"));
}

#[tokio::test]
async fn a_delivery_id_that_cannot_be_a_header_is_refused_without_a_request() {
    let server = receiver(&[]).await;

    let err = sender(&server)
        .deliver("rev-1\nX-Injected: yes", &decision(), NOW)
        .await
        .unwrap_err();

    assert!(matches!(err, WebhookError::InvalidDeliveryId), "{err}");
    assert!(received(&server).await.is_empty());
}

#[tokio::test]
async fn a_receiver_refuses_a_wrong_secret_a_tampered_body_and_a_stale_timestamp() {
    let server = receiver(&[]).await;
    sender(&server)
        .deliver(DELIVERY, &decision(), NOW)
        .await
        .unwrap();
    let request = &received(&server).await[0];
    let (timestamp, signature) = (
        header(request, TIMESTAMP_HEADER),
        header(request, SIGNATURE_HEADER),
    );
    let tampered = String::from_utf8(request.body.clone())
        .unwrap()
        .replace("revoke", "keep");

    assert!(receiver_verifies(request, SECRET, NOW + 300));
    assert!(!receiver_verifies(request, "someone-elses-secret", NOW));
    assert!(!webhook::verify(
        SECRET,
        timestamp,
        signature,
        tampered.as_bytes(),
        NOW
    ));
    assert!(!receiver_verifies(request, SECRET, NOW + 301), "a replay");
    assert!(!webhook::verify(
        SECRET,
        &(NOW + 60).to_string(),
        signature,
        &request.body,
        NOW + 60
    ));
}

#[tokio::test]
async fn neither_the_secret_the_signature_nor_the_urls_query_reaches_the_logs() {
    let capture = secops_tests::logs::LogCapture::start();
    let server = receiver(&[500, 401]).await;
    let url = format!("{}{HOOK}?token=query-secret-xyz", server.uri());
    let webhook = sender_to(url, secret_store(Some(SECRET)));

    let refused = webhook
        .deliver(DELIVERY, &decision(), NOW)
        .await
        .unwrap_err();
    webhook.deliver(DELIVERY, &decision(), NOW).await.unwrap();

    assert!(
        matches!(refused, WebhookError::Rejected { status: 401 }),
        "{refused}"
    );
    let signature = header(&received(&server).await[0], SIGNATURE_HEADER).to_owned();
    let logs = capture.text();
    assert!(
        logs.contains("webhook delivered"),
        "the capture works: {logs}"
    );
    assert!(!logs.contains(SECRET), "{logs}");
    assert!(!logs.contains(&signature[3..]), "{logs}");
    assert!(!logs.contains("query-secret-xyz"), "{logs}");
}
