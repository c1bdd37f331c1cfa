//! The Axiom connector against the stateful fake: what a workflow gets back from a query or an
//! ingest, what Axiom was sent, and what the workflow is told when Axiom pushes back.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use secops_shared::connectors::axiom::{AxiomClient, AxiomConfig, AxiomError, IngestStatus, Row};
use secops_shared::http::{RetryPolicy, build_client};
use secops_shared::secrets::{Credentials, SecretSource, SecretStore};
use secops_tests::fake_axiom::FakeAxiom;
use secrecy::SecretString;
use serde_json::{Value, json};

const TOKEN: &str = "xaat-test-token-5ecret";
const PERSONAL: &str = "xapt-personal-token-5ecret";
const DATASET: &str = "sec-logs";
const APL: &str = "['sec-logs'] | where action == 'login'";

/// Retries that take milliseconds, so failing tests stay fast.
fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    }
}

/// The legacy paths (the fake's host is not an edge host, but say so anyway).
fn config(axiom: &FakeAxiom) -> AxiomConfig {
    AxiomConfig {
        base_url: axiom.url(),
        org_id: None,
        edge: Some(false),
        retry: fast_retry(),
    }
}

fn edge_config(axiom: &FakeAxiom) -> AxiomConfig {
    AxiomConfig {
        edge: Some(true),
        ..config(axiom)
    }
}

fn token_store(token: Option<&str>) -> Arc<SecretStore> {
    Arc::new(SecretStore::fixed(Credentials {
        axiom_token: token.map(SecretString::from),
        ..Credentials::default()
    }))
}

fn client_with(config: AxiomConfig, secrets: Arc<SecretStore>) -> AxiomClient {
    AxiomClient::new(build_client(Duration::from_secs(5)), secrets, config)
}

fn client(axiom: &FakeAxiom) -> AxiomClient {
    client_with(config(axiom), token_store(Some(TOKEN)))
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .to_utc()
}

fn at_minutes(minutes: i64) -> DateTime<Utc> {
    t0() + TimeDelta::minutes(minutes)
}

fn stamp(minutes: i64) -> String {
    at_minutes(minutes).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One login event every `step` minutes over `[0, span)`, each with its own `n`.
fn logins(span: i64, step: i64) -> Vec<Value> {
    (0..span / step)
        .map(|i| json!({ "_time": stamp(i * step), "action": "login", "n": i }))
        .collect()
}

fn times(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .map(|r| r["_time"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn fake_with(events: Vec<Value>) -> FakeAxiom {
    let axiom = FakeAxiom::start().await;
    axiom.add_events(DATASET, events);
    axiom
}

#[tokio::test]
async fn rows_come_back_with_every_field_and_null_where_an_event_lacks_one() {
    let axiom = fake_with(vec![
        json!({ "_time": stamp(0), "action": "login", "user": "ann", "ok": true }),
        json!({ "_time": stamp(1), "action": "login", "ip": "10.0.0.7", "ok": false }),
        json!({ "_time": stamp(2), "action": "login", "user": null, "ok": true }),
    ])
    .await;

    let result = client(&axiom)
        .query(APL, at_minutes(0), at_minutes(60))
        .await
        .unwrap();

    assert!(!result.is_partial);
    let rows: Vec<Value> = result.rows.into_iter().map(Value::Object).collect();
    assert_eq!(
        rows,
        [
            json!({ "_time": stamp(0), "action": "login", "ip": null, "ok": true, "user": "ann" }),
            json!({ "_time": stamp(1), "action": "login", "ip": "10.0.0.7", "ok": false, "user": null }),
            json!({ "_time": stamp(2), "action": "login", "ip": null, "ok": true, "user": null }),
        ]
    );
}

#[tokio::test]
async fn only_events_inside_the_window_are_returned_in_time_order() {
    let axiom = fake_with(vec![
        json!({ "_time": stamp(30), "n": 3 }),
        json!({ "_time": stamp(10), "n": 1 }),
        json!({ "_time": stamp(60), "n": 6 }),
        json!({ "_time": stamp(0), "n": 0 }),
    ])
    .await;

    let result = client(&axiom)
        .query(APL, at_minutes(10), at_minutes(60))
        .await
        .unwrap();

    assert_eq!(times(&result.rows), [stamp(10), stamp(30)]);
}

#[tokio::test]
async fn an_empty_window_gives_no_rows() {
    let axiom = fake_with(logins(60, 10)).await;

    let result = client(&axiom)
        .query(APL, at_minutes(120), at_minutes(180))
        .await
        .unwrap();

    assert!(result.rows.is_empty());
}

#[tokio::test]
async fn the_query_body_holds_the_apl_and_the_window_in_rfc3339() {
    let axiom = fake_with(vec![]).await;

    client(&axiom)
        .query(APL, at_minutes(0), at_minutes(90))
        .await
        .unwrap();

    assert_eq!(
        axiom.bodies().await,
        [
            json!({ "apl": APL, "startTime": "2026-01-01T00:00:00Z", "endTime": "2026-01-01T01:30:00Z" })
        ]
    );
    assert_eq!(
        axiom.queries(),
        [(at_minutes(0), at_minutes(90), APL.to_owned())]
    );
}

#[tokio::test]
async fn the_legacy_host_is_asked_on_the_legacy_paths() {
    let axiom = fake_with(vec![]).await;
    let legacy = client(&axiom);
    assert!(!legacy.is_edge());

    legacy
        .query(APL, at_minutes(0), at_minutes(1))
        .await
        .unwrap();
    legacy
        .ingest(DATASET, &[json!({ "_time": stamp(0) })])
        .await
        .unwrap();

    assert_eq!(
        axiom.paths(),
        [
            "/v1/datasets/_apl?format=tabular",
            "/v1/datasets/sec-logs/ingest"
        ]
    );
}

#[tokio::test]
async fn an_edge_deployment_is_asked_on_the_edge_paths_with_the_dataset_name_encoded() {
    let axiom = FakeAxiom::start().await;
    axiom.add_events("sec logs/eu", vec![]);
    let edge = client_with(edge_config(&axiom), token_store(Some(TOKEN)));
    assert!(edge.is_edge());

    edge.ingest("sec logs/eu", &[json!({ "_time": stamp(5), "n": 1 })])
        .await
        .unwrap();
    let result = edge
        .query("['sec logs/eu']", at_minutes(0), at_minutes(10))
        .await
        .unwrap();

    assert_eq!(
        axiom.paths(),
        [
            "/v1/ingest/sec%20logs%2Feu",
            "/v1/query/_apl?format=tabular"
        ]
    );
    assert_eq!(times(&result.rows), [stamp(5)]);
}

#[tokio::test]
async fn a_single_query_reports_a_partial_answer_as_partial() {
    let axiom = fake_with(logins(240, 30)).await;
    axiom.partial_when_wider_than(Duration::from_secs(3600));

    let result = client(&axiom)
        .query(APL, at_minutes(0), at_minutes(240))
        .await
        .unwrap();

    assert!(result.is_partial);
    assert_eq!(result.rows.len(), 4, "the fake keeps the first half");
}

#[tokio::test]
async fn a_partial_answer_is_narrowed_until_every_row_comes_back_exactly_once_in_order() {
    let events = logins(480, 20);
    let axiom = fake_with(events.clone()).await;
    axiom.partial_when_wider_than(Duration::from_secs(3600));

    let rows = client(&axiom)
        .query_complete(
            APL,
            at_minutes(0),
            at_minutes(480),
            Duration::from_secs(600),
        )
        .await
        .unwrap();

    let expected: Vec<String> = events
        .iter()
        .map(|e| e["_time"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(times(&rows), expected);
    let ns: Vec<i64> = rows.iter().map(|r| r["n"].as_i64().unwrap()).collect();
    assert_eq!(ns, (0..24).collect::<Vec<_>>());
    let windows: Vec<(i64, i64)> = axiom
        .queries()
        .iter()
        .map(|(s, e, _)| ((*s - t0()).num_minutes(), (*e - t0()).num_minutes()))
        .collect();
    assert_eq!(
        windows,
        [
            (0, 480),
            (0, 240),
            (0, 120),
            (0, 60),
            (60, 120),
            (120, 240),
            (120, 180),
            (180, 240),
            (240, 480),
            (240, 360),
            (240, 300),
            (300, 360),
            (360, 480),
            (360, 420),
            (420, 480),
        ],
        "halves, earliest first, and only where the answer was partial"
    );
}

#[tokio::test]
async fn a_window_still_partial_at_the_minimum_width_is_an_error_naming_it() {
    let axiom = fake_with(logins(480, 5)).await;
    axiom.partial_when_wider_than(Duration::from_secs(60));

    let err = client(&axiom)
        .query_complete(
            APL,
            at_minutes(0),
            at_minutes(480),
            Duration::from_secs(3600),
        )
        .await
        .unwrap_err();

    let AxiomError::Partial { start, end } = err else {
        panic!("expected Partial, got {err}");
    };
    assert_eq!((start, end), (at_minutes(0), at_minutes(60)));
    let narrowest = axiom
        .queries()
        .iter()
        .map(|(s, e, _)| *e - *s)
        .min()
        .unwrap();
    assert_eq!(narrowest, TimeDelta::hours(1), "never below min_window");
}

#[tokio::test]
async fn the_trace_id_comes_back_with_the_result() {
    let axiom = fake_with(vec![]).await;

    let result = client(&axiom)
        .query(APL, at_minutes(0), at_minutes(1))
        .await
        .unwrap();

    assert_eq!(result.trace_id.as_deref(), Some("trace-1"));
}

#[tokio::test]
async fn a_rate_limit_is_waited_out_and_the_query_succeeds() {
    let axiom = fake_with(logins(60, 10)).await;
    axiom.rate_limit_next(1);

    let result = client(&axiom)
        .query(APL, at_minutes(0), at_minutes(60))
        .await
        .unwrap();

    assert_eq!(result.rows.len(), 6);
    assert_eq!(axiom.queries().len(), 2);
}

#[tokio::test]
async fn a_rate_limit_outlasting_the_retries_is_reported_as_rate_limited() {
    let axiom = fake_with(vec![]).await;
    axiom.rate_limit_next(10);

    let err = client(&axiom)
        .query(APL, at_minutes(0), at_minutes(1))
        .await
        .unwrap_err();

    assert!(
        matches!(err, AxiomError::RateLimited { retry_after: Some(wait) } if wait.is_zero()),
        "{err}"
    );
    assert_eq!(
        axiom.queries().len(),
        3,
        "gave up after the policy's attempts"
    );
}

#[tokio::test]
async fn an_exhausted_query_budget_is_reported_without_retrying() {
    let axiom = fake_with(vec![]).await;
    axiom.query_limit();

    let err = client(&axiom)
        .query(APL, at_minutes(0), at_minutes(1))
        .await
        .unwrap_err();

    assert!(matches!(err, AxiomError::QueryLimit), "{err}");
    assert_eq!(axiom.queries().len(), 1);
}

#[tokio::test]
async fn an_exhausted_ingest_budget_is_reported_as_the_ingest_limit() {
    let axiom = fake_with(vec![]).await;
    axiom.ingest_limit();

    let err = client(&axiom)
        .ingest(DATASET, &[json!({ "n": 1 })])
        .await
        .unwrap_err();

    assert!(matches!(err, AxiomError::IngestLimit), "{err}");
    assert_eq!(axiom.ingest_calls(), 1);
    assert!(axiom.events(DATASET).is_empty());
}

#[tokio::test]
async fn a_server_error_is_retried_and_the_query_succeeds() {
    let axiom = fake_with(logins(60, 10)).await;
    axiom.fail_next(2, 502);

    let result = client(&axiom)
        .query(APL, at_minutes(0), at_minutes(60))
        .await
        .unwrap();

    assert_eq!(result.rows.len(), 6);
    assert_eq!(axiom.queries().len(), 3);
}

#[tokio::test]
async fn a_persistent_server_error_is_reported_as_unavailable() {
    let axiom = fake_with(vec![]).await;
    axiom.fail_next(10, 500);

    let err = client(&axiom)
        .query(APL, at_minutes(0), at_minutes(1))
        .await
        .unwrap_err();

    assert!(matches!(err, AxiomError::Unavailable(_)), "{err}");
    assert_eq!(axiom.queries().len(), 3);
}

#[tokio::test]
async fn calls_fail_as_unavailable_while_axiom_is_down_and_succeed_once_it_is_up() {
    let axiom = fake_with(logins(60, 10)).await;
    let client = client(&axiom);
    axiom.down();

    let err = client
        .query(APL, at_minutes(0), at_minutes(60))
        .await
        .unwrap_err();
    assert!(matches!(err, AxiomError::Unavailable(_)), "{err}");

    axiom.up();
    let result = client
        .query(APL, at_minutes(0), at_minutes(60))
        .await
        .unwrap();
    assert_eq!(result.rows.len(), 6);
}

#[tokio::test]
async fn an_unknown_dataset_is_refused_with_axioms_message() {
    let axiom = FakeAxiom::start().await;

    let err = client(&axiom)
        .query("['nope']", at_minutes(0), at_minutes(1))
        .await
        .unwrap_err();

    let AxiomError::Rejected { status, message } = &err else {
        panic!("expected Rejected, got {err}");
    };
    assert_eq!(*status, 404);
    assert_eq!(message, "dataset nope not found");
}

#[tokio::test]
async fn ingested_events_are_stored_counted_and_queryable() {
    let axiom = fake_with(vec![]).await;
    let client = client(&axiom);
    let events = vec![
        json!({ "_time": stamp(1), "action": "login", "user": "ann" }),
        json!({ "_time": stamp(2), "action": "login", "user": "bob" }),
    ];

    let status = client.ingest(DATASET, &events).await.unwrap();

    assert_eq!(
        status,
        IngestStatus {
            ingested: 2,
            failed: 0,
            failures: vec![]
        }
    );
    assert_eq!(axiom.events(DATASET), events);
    assert_eq!(axiom.bodies().await, [Value::Array(events)]);
    let rows = client
        .query(APL, at_minutes(0), at_minutes(10))
        .await
        .unwrap()
        .rows;
    assert_eq!(rows[1]["user"], json!("bob"));
}

#[tokio::test]
async fn nothing_to_ingest_makes_no_request() {
    let axiom = fake_with(vec![]).await;

    let status = client(&axiom).ingest(DATASET, &[]).await.unwrap();

    assert_eq!(status, IngestStatus::default());
    assert_eq!(axiom.requests(), 0);
}

#[tokio::test]
async fn an_ingest_with_failed_events_is_an_error_although_axiom_answered_200() {
    let axiom = fake_with(vec![]).await;
    axiom.ingest_rejects_next(1);
    let events = [json!({ "n": 1 }), json!({ "n": 2 }), json!({ "n": 3 })];

    let err = client(&axiom).ingest(DATASET, &events).await.unwrap_err();

    let AxiomError::IngestFailed {
        failed,
        ingested,
        first_error,
    } = &err
    else {
        panic!("expected IngestFailed, got {err}");
    };
    assert_eq!((*failed, *ingested), (1, 2));
    assert_eq!(first_error, "event 0: field limit exceeded");
    assert_eq!(axiom.events(DATASET).len(), 2);
    assert_eq!(axiom.ingest_calls(), 1, "a 200 is not retried");
}

#[tokio::test]
async fn a_personal_token_is_sent_with_the_org_id() {
    let axiom = fake_with(logins(60, 10)).await;
    axiom.require_org("acme");
    let config = AxiomConfig {
        org_id: Some("acme".to_owned()),
        ..config(&axiom)
    };
    let client = client_with(config, token_store(Some(PERSONAL)));

    let result = client
        .query(APL, at_minutes(0), at_minutes(60))
        .await
        .unwrap();

    assert_eq!(result.rows.len(), 6);
    assert_eq!(axiom.header_values("x-axiom-org-id").await, ["acme"]);
    assert_eq!(
        axiom.header_values("authorization").await,
        [format!("Bearer {PERSONAL}")]
    );
}

#[tokio::test]
async fn an_api_token_is_sent_as_a_bearer_token() {
    let axiom = fake_with(vec![]).await;

    client(&axiom)
        .query(APL, at_minutes(0), at_minutes(1))
        .await
        .unwrap();

    assert_eq!(
        axiom.header_values("authorization").await,
        [format!("Bearer {TOKEN}")]
    );
    assert_eq!(axiom.header_values("x-axiom-org-id").await, [""]);
}

#[tokio::test]
async fn a_personal_token_without_an_org_id_fails_before_any_request() {
    let axiom = fake_with(vec![]).await;
    let client = client_with(config(&axiom), token_store(Some(PERSONAL)));

    let query = client.query(APL, at_minutes(0), at_minutes(1)).await;
    let ingest = client.ingest(DATASET, &[json!({ "n": 1 })]).await;

    assert!(
        matches!(query, Err(AxiomError::PersonalTokenNeedsOrg)),
        "{query:?}"
    );
    assert!(
        matches!(ingest, Err(AxiomError::PersonalTokenNeedsOrg)),
        "{ingest:?}"
    );
    assert_eq!(axiom.requests(), 0);
}

#[tokio::test]
async fn a_personal_token_is_refused_for_an_edge_deployment_before_any_request() {
    let axiom = fake_with(vec![]).await;
    let config = AxiomConfig {
        org_id: Some("acme".to_owned()),
        ..edge_config(&axiom)
    };
    let client = client_with(config, token_store(Some(PERSONAL)));

    let query = client.query(APL, at_minutes(0), at_minutes(1)).await;
    let ingest = client.ingest(DATASET, &[json!({ "n": 1 })]).await;

    assert!(
        matches!(query, Err(AxiomError::PersonalTokenOnEdge)),
        "{query:?}"
    );
    assert!(
        matches!(ingest, Err(AxiomError::PersonalTokenOnEdge)),
        "{ingest:?}"
    );
    assert_eq!(axiom.requests(), 0);
}

#[tokio::test]
async fn a_missing_token_fails_before_any_request() {
    let axiom = fake_with(vec![]).await;
    let client = client_with(config(&axiom), token_store(None));

    let err = client
        .query(APL, at_minutes(0), at_minutes(1))
        .await
        .unwrap_err();

    assert!(matches!(err, AxiomError::MissingToken), "{err}");
    assert_eq!(axiom.requests(), 0);
}

#[tokio::test]
async fn a_rotated_token_is_picked_up_after_a_401_and_the_ingest_succeeds() {
    let axiom = fake_with(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    std::fs::write(&path, r#"{"axiom_token":"xaat-old"}"#).unwrap();
    let secrets = Arc::new(SecretStore::new(
        SecretSource::File(path.clone()),
        Duration::from_secs(300),
    ));
    let client = client_with(config(&axiom), secrets);
    client.ingest(DATASET, &[json!({ "n": 1 })]).await.unwrap();

    std::fs::write(&path, r#"{"axiom_token":"xaat-new"}"#).unwrap();
    axiom.accept_only_token("xaat-new");
    let status = client.ingest(DATASET, &[json!({ "n": 2 })]).await.unwrap();

    assert_eq!(status.ingested, 1);
    assert_eq!(axiom.events(DATASET).len(), 2);
    assert_eq!(
        axiom.header_values("authorization").await,
        ["Bearer xaat-old", "Bearer xaat-old", "Bearer xaat-new"],
        "the second call was refused once (401), then resent with the re-read token"
    );
}

#[tokio::test]
async fn a_token_refused_and_unchanged_by_rereading_is_rejected_without_being_sent_again() {
    let axiom = fake_with(vec![]).await;
    axiom.accept_only_token("xaat-some-other-token");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    std::fs::write(&path, format!(r#"{{"axiom_token":"{TOKEN}"}}"#)).unwrap();
    let secrets = Arc::new(SecretStore::new(
        SecretSource::File(path),
        Duration::from_secs(300),
    ));

    let err = client_with(config(&axiom), secrets)
        .query(APL, at_minutes(0), at_minutes(1))
        .await
        .unwrap_err();

    assert!(
        matches!(err, AxiomError::Rejected { status: 403, .. }),
        "{err}"
    );
    assert!(!err.to_string().contains(TOKEN), "{err}");
    assert_eq!(
        axiom.queries().len(),
        1,
        "the secret re-read holds the same token: sending it again would be refused the same way"
    );
}

#[tokio::test]
async fn the_token_never_appears_in_any_error() {
    let mut errors = Vec::new();
    let refused = fake_with(vec![]).await;
    refused.accept_only_token("xaat-other");
    errors.push(client(&refused).query(APL, t0(), t0()).await.unwrap_err());
    errors.push(
        client(&refused)
            .ingest(DATASET, &[json!({})])
            .await
            .unwrap_err(),
    );
    let down = fake_with(vec![]).await;
    down.down();
    errors.push(client(&down).query(APL, t0(), t0()).await.unwrap_err());
    let limited = fake_with(vec![]).await;
    limited.rate_limit_next(10);
    errors.push(client(&limited).query(APL, t0(), t0()).await.unwrap_err());
    let failing = fake_with(vec![]).await;
    failing.ingest_rejects_next(1);
    errors.push(
        client(&failing)
            .ingest(DATASET, &[json!({})])
            .await
            .unwrap_err(),
    );
    let personal = client_with(config(&down), token_store(Some(PERSONAL)));
    errors.push(personal.query(APL, t0(), t0()).await.unwrap_err());
    let personal_edge = client_with(edge_config(&down), token_store(Some(PERSONAL)));
    errors.push(personal_edge.query(APL, t0(), t0()).await.unwrap_err());
    let unusable = client_with(config(&down), token_store(Some("xaat-bad\ntoken-5ecret")));
    errors.push(unusable.query(APL, t0(), t0()).await.unwrap_err());

    for err in &errors {
        let shown = format!("{err} / {err:?}");
        for secret in [TOKEN, PERSONAL, "5ecret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
    assert_eq!(errors.len(), 8);
}
