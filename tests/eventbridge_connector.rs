//! The EventBridge publisher against a fake `PutEvents` endpoint speaking the AWS JSON 1.1
//! protocol the SDK uses: what the SDK really sends (read back from the fake's received
//! requests) and what a workflow gets back for each thing the service can do.

use std::time::{Duration, Instant};

use aws_sdk_eventbridge::config::{Credentials, Region};
use secops_shared::connectors::eventbridge::{
    BusError, BusEvent, EventBridgePublisher, EventBusConfig, EventPublisher, InMemoryPublisher,
    MAX_REQUEST_BYTES,
};
use secops_shared::http::{RetryPolicy, with_deadline};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const BUS: &str = "secops-test-bus";
const SECRET_KEY: &str = "SECRET";

/// Retries that take milliseconds, so failing tests stay fast.
fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    }
}

/// An SDK client pointed at the fake. Its retry settings are left at the SDK's defaults on
/// purpose: the publisher must switch them off itself.
fn sdk_client(server: &MockServer) -> aws_sdk_eventbridge::Client {
    let config = aws_sdk_eventbridge::config::Builder::new()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .endpoint_url(server.uri())
        .credentials_provider(Credentials::new("AKIDTEST", SECRET_KEY, None, None, "test"))
        .build();
    aws_sdk_eventbridge::Client::from_conf(config)
}

fn publisher(server: &MockServer) -> EventBridgePublisher {
    publisher_with(server, fast_retries())
}

fn publisher_with(server: &MockServer, retry: RetryPolicy) -> EventBridgePublisher {
    EventBridgePublisher::new(
        sdk_client(server),
        EventBusConfig {
            bus_name: BUS.to_owned(),
            retry,
        },
    )
}

fn event(n: usize) -> BusEvent {
    BusEvent::new(
        "secops.review",
        "ReviewDecided",
        json!({"review_id": format!("r-{n}"), "n": n}),
    )
}

fn events(count: usize) -> Vec<BusEvent> {
    (0..count).map(event).collect()
}

/// Every `PutEvents` request; anything else reaching the fake is a bug in the test or the SDK.
fn put_events() -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path("/"))
        .and(header("x-amz-target", "AWSEvents.PutEvents"))
}

fn json_response(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("content-type", "application/x-amz-json-1.1")
        .set_body_string(body.to_string())
}

/// The `Entries` of a request the fake received.
fn entries_of(request: &Request) -> Vec<Value> {
    let body: Value = serde_json::from_slice(&request.body).expect("the SDK sends JSON");
    body["Entries"]
        .as_array()
        .expect("PutEvents carries Entries")
        .clone()
}

/// The `detail` of an entry the fake received, parsed back.
fn detail_of(entry: &Value) -> Value {
    serde_json::from_str(entry["Detail"].as_str().expect("Detail is a JSON string"))
        .expect("Detail is JSON")
}

/// The `n` of each entry of each request the fake received, in order.
async fn sent_numbers(server: &MockServer) -> Vec<Vec<u64>> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            entries_of(r)
                .iter()
                .map(|e| detail_of(e)["n"].as_u64().unwrap())
                .collect()
        })
        .collect()
}

/// Accepts every entry, except those whose detail says `"poison": true`.
struct Answer;

impl Respond for Answer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let results: Vec<Value> = entries_of(request)
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                if detail_of(entry)["poison"] == json!(true) {
                    json!({"ErrorCode": "InternalFailure", "ErrorMessage": "Internal service error."})
                } else {
                    json!({"EventId": format!("id-{i}")})
                }
            })
            .collect();
        let failed = results
            .iter()
            .filter(|r| r.get("ErrorCode").is_some())
            .count();
        json_response(200, json!({"FailedEntryCount": failed, "Entries": results}))
    }
}

#[tokio::test]
async fn twenty_three_events_go_out_in_three_calls_of_ten_ten_and_three_with_the_bus_name_set() {
    let server = MockServer::start().await;
    put_events().respond_with(Answer).mount(&server).await;
    let published = events(23);

    publisher(&server).publish(&published).await.unwrap();

    let requests = server.received_requests().await.unwrap();
    let sizes: Vec<usize> = requests.iter().map(|r| entries_of(r).len()).collect();
    assert_eq!(sizes, vec![10, 10, 3]);
    let mut n = 0;
    for request in &requests {
        assert_eq!(
            request.headers.get("content-type").unwrap(),
            "application/x-amz-json-1.1"
        );
        for entry in entries_of(request) {
            assert_eq!(entry["EventBusName"], BUS);
            assert_eq!(entry["Source"], "secops.review");
            assert_eq!(entry["DetailType"], "ReviewDecided");
            assert_eq!(detail_of(&entry), published[n].detail, "entry {n} in order");
            n += 1;
        }
    }
    assert_eq!(n, 23);
}

#[tokio::test]
async fn a_partially_failed_call_resends_only_the_failed_entries_and_then_succeeds() {
    let server = MockServer::start().await;
    put_events()
        .respond_with(json_response(
            200,
            json!({"FailedEntryCount": 2, "Entries": [
                {"EventId": "a"},
                {"ErrorCode": "InternalFailure", "ErrorMessage": "Internal service error."},
                {"EventId": "c"},
                {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"},
                {"EventId": "e"}
            ]}),
        ))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    put_events().respond_with(Answer).mount(&server).await;

    publisher(&server).publish(&events(5)).await.unwrap();

    assert_eq!(
        sent_numbers(&server).await,
        vec![vec![0, 1, 2, 3, 4], vec![1, 3]]
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(entries_of(&requests[1])[0]["EventBusName"], BUS);
}

#[tokio::test]
async fn entries_still_failing_after_the_policys_attempts_are_reported_as_failed_with_their_code() {
    let server = MockServer::start().await;
    put_events().respond_with(Answer).mount(&server).await;
    let mut published = events(3);
    published[1].detail["poison"] = json!(true);

    let err = publisher(&server).publish(&published).await.unwrap_err();

    let BusError::Failed {
        failed,
        first_code,
        first_message,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*failed, 1);
    assert_eq!(first_code, "InternalFailure");
    assert_eq!(first_message, "Internal service error.");
    // Three attempts in all; after the first, only the refused entry.
    assert_eq!(
        sent_numbers(&server).await,
        vec![vec![0, 1, 2], vec![1], vec![1]]
    );
}

#[tokio::test]
async fn a_throttled_call_is_retried_as_a_whole() {
    let server = MockServer::start().await;
    put_events()
        .respond_with(json_response(
            400,
            json!({"__type": "ThrottlingException", "message": "Rate exceeded"}),
        ))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    put_events().respond_with(Answer).mount(&server).await;

    publisher(&server).publish(&events(4)).await.unwrap();

    assert_eq!(
        sent_numbers(&server).await,
        vec![vec![0, 1, 2, 3], vec![0, 1, 2, 3]]
    );
}

#[tokio::test]
async fn a_server_error_is_retried_as_a_whole() {
    let server = MockServer::start().await;
    put_events()
        .respond_with(json_response(
            500,
            json!({"__type": "InternalException", "message": "Internal error"}),
        ))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    put_events().respond_with(Answer).mount(&server).await;

    publisher(&server).publish(&events(2)).await.unwrap();

    assert_eq!(sent_numbers(&server).await, vec![vec![0, 1], vec![0, 1]]);
}

#[tokio::test]
async fn a_call_throttled_every_time_is_tried_only_as_often_as_the_policy_says_not_also_by_the_sdk()
{
    let server = MockServer::start().await;
    put_events()
        .respond_with(json_response(
            400,
            json!({"__type": "ThrottlingException", "message": "Rate exceeded"}),
        ))
        .mount(&server)
        .await;
    let started = Instant::now();

    let err = publisher(&server).publish(&events(2)).await.unwrap_err();

    let BusError::Unavailable(message) = &err else {
        panic!("{err:?}")
    };
    assert!(message.contains("ThrottlingException"), "{message}");
    assert!(message.contains("3 attempt(s)"), "{message}");
    // The SDK's standard mode would make 3 attempts per call, with backoffs of up to seconds.
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn an_error_that_retrying_cannot_fix_is_returned_at_once_with_its_code_and_no_secret() {
    let server = MockServer::start().await;
    put_events()
        .respond_with(json_response(
            400,
            json!({"__type": "AccessDeniedException", "message": "User is not authorized to perform: events:PutEvents"}),
        ))
        .mount(&server)
        .await;

    let err = publisher(&server).publish(&events(2)).await.unwrap_err();

    let BusError::Unavailable(message) = &err else {
        panic!("{err:?}")
    };
    assert!(message.contains("AccessDeniedException"), "{message}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(SECRET_KEY), "{shown}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_event_over_256_kb_is_refused_as_too_large_before_any_request() {
    let server = MockServer::start().await;
    put_events().respond_with(Answer).mount(&server).await;
    let mut published = events(3);
    published[2].detail["blob"] = json!("x".repeat(MAX_REQUEST_BYTES));

    let err = publisher(&server).publish(&published).await.unwrap_err();

    let BusError::TooLarge { index, bytes } = err else {
        panic!("{err:?}")
    };
    assert_eq!(index, 2);
    assert!(bytes > MAX_REQUEST_BYTES, "{bytes}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn events_are_split_so_that_each_request_stays_within_256_kb() {
    let server = MockServer::start().await;
    put_events().respond_with(Answer).mount(&server).await;
    let mut published = events(3);
    for e in &mut published {
        e.detail["blob"] = json!("x".repeat(100 * 1024));
    }

    publisher(&server).publish(&published).await.unwrap();

    assert_eq!(sent_numbers(&server).await, vec![vec![0, 1], vec![2]]);
    for request in server.received_requests().await.unwrap() {
        let size: usize = entries_of(&request)
            .iter()
            .map(|e| {
                14 + e["Source"].as_str().unwrap().len()
                    + e["DetailType"].as_str().unwrap().len()
                    + e["Detail"].as_str().unwrap().len()
            })
            .sum();
        assert!(size <= MAX_REQUEST_BYTES, "{size}");
    }
}

#[tokio::test]
async fn a_retry_that_would_end_past_the_deadline_is_not_waited_for() {
    let server = MockServer::start().await;
    put_events()
        .respond_with(json_response(
            503,
            json!({"__type": "ServiceUnavailable", "message": "try later"}),
        ))
        .mount(&server)
        .await;
    let slow = RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_secs(10),
        max_delay: Duration::from_secs(10),
    };
    let started = Instant::now();
    let deadline = Some(Instant::now() + Duration::from_millis(500));

    let err = with_deadline(deadline, publisher_with(&server, slow).publish(&events(2)))
        .await
        .unwrap_err();

    let BusError::Unavailable(message) = &err else {
        panic!("{err:?}")
    };
    assert!(message.contains("deadline"), "{message}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[tokio::test]
async fn entries_refused_when_the_deadline_is_near_are_reported_with_the_ones_not_sent() {
    let server = MockServer::start().await;
    put_events().respond_with(Answer).mount(&server).await;
    let mut published = events(13);
    published[0].detail["poison"] = json!(true);
    let slow = RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_secs(10),
        max_delay: Duration::from_secs(10),
    };
    let deadline = Some(Instant::now() + Duration::from_millis(500));

    let err = with_deadline(deadline, publisher_with(&server, slow).publish(&published))
        .await
        .unwrap_err();

    let BusError::Failed {
        failed, first_code, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    // The refused entry of the first call, and the three of the second call never made.
    assert_eq!(*failed, 4);
    assert_eq!(first_code, "InternalFailure");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn publishing_nothing_makes_no_request() {
    let server = MockServer::start().await;
    put_events().respond_with(Answer).mount(&server).await;

    publisher(&server).publish(&[]).await.unwrap();

    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_in_memory_publisher_keeps_events_in_order() {
    let bus = InMemoryPublisher::new();
    let all = events(5);

    bus.publish(&all[..3]).await.unwrap();
    bus.publish(&all[3..]).await.unwrap();

    assert_eq!(bus.take(), all);
    assert!(bus.take().is_empty(), "take empties the list");
}

#[tokio::test]
async fn the_in_memory_publisher_refuses_what_eventbridge_would() {
    let bus = InMemoryPublisher::new();
    let mut published = events(2);
    published[0].detail["blob"] = json!("x".repeat(MAX_REQUEST_BYTES));

    let err = bus.publish(&published).await.unwrap_err();

    assert!(
        matches!(err, BusError::TooLarge { index: 0, .. }),
        "{err:?}"
    );
    assert!(
        bus.take().is_empty(),
        "nothing is kept from a refused batch"
    );
}

/// Set only in the child process [`from_env_reads_the_region_credentials_and_endpoint_from_the_environment`] starts.
const CHILD_MARKER: &str = "SECOPS_EVENTBRIDGE_FROM_ENV_CHILD";

#[tokio::test]
async fn from_env_reads_the_region_credentials_and_endpoint_from_the_environment() {
    let server = MockServer::start().await;
    put_events().respond_with(Answer).mount(&server).await;

    // The environment is process-wide: the publisher is built in a child process of this test
    // binary, so no other test sees these variables.
    // Blocking on the child from the blocking pool keeps this test's runtime free to serve it.
    let endpoint = server.uri();
    let child_test = child_test_name();
    let child = tokio::task::spawn_blocking(move || {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", &child_test, "--test-threads=1"])
            .env(CHILD_MARKER, "1")
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/aws-credentials",
            )
            .output()
    })
    .await
    .unwrap()
    .unwrap();

    assert!(
        child.status.success(),
        "the child run failed: {}\n{}{}",
        child.status,
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );
    assert_eq!(sent_numbers(&server).await, vec![vec![0, 1]]);
    let requests = server.received_requests().await.unwrap();
    let authorization = requests[0].headers.get("authorization").unwrap();
    let authorization = authorization.to_str().unwrap();
    assert!(
        authorization.contains("Credential=AKIDTEST/")
            && authorization.contains("/us-east-1/events/"),
        "{authorization}"
    );
}

/// The full name the test harness knows [`from_env_child`] by: its module path without the
/// crate (`eventbridge_connector::from_env_child` in the shared test binary).
fn child_test_name() -> String {
    match module_path!().split_once("::") {
        Some((_crate, module)) => format!("{module}::from_env_child"),
        None => "from_env_child".to_owned(),
    }
}

/// Run by the test above, in a child process.
#[tokio::test]
#[ignore = "run by from_env_reads_the_region_credentials_and_endpoint_from_the_environment"]
async fn from_env_child() {
    if std::env::var_os(CHILD_MARKER).is_none() {
        return;
    }
    let publisher = EventBridgePublisher::from_env(EventBusConfig {
        bus_name: BUS.to_owned(),
        retry: fast_retries(),
    })
    .await;
    publisher.publish(&events(2)).await.unwrap();
}
