//! Secrets never reach the logs: whole runs of each workflow, with the services refusing the
//! credentials or failing so that every error path logs, are captured at TRACE level and the
//! output is searched for each secret value the run held.

use chrono::{Duration, Utc};
use secops_shared::db;
use secops_shared::drift::pg_store::PgStore;
use secops_shared::drift::store::DriftStore;
use secops_shared::invocation::{Request, Run, Summarised, Tally};
use secops_shared::review::card;
use secops_shared::rotation::message::CONFIRM;
use secops_shared::slack::interaction::click_body;
use secops_shared::slack::signature::sign;
use secops_tests::drift::DriftWorld;
use secops_tests::grants::*;
use secops_tests::logs::LogCapture;
use secops_tests::mr_audit::{
    Headers, MergedMr, MrAuditWorld, PREVIOUS_WEBHOOK_TOKEN, WEBHOOK_TOKEN,
};
use secops_tests::review::{DecisionWorld, REVIEW_CHANNEL, SIGNING_SECRET, WEBHOOK_SECRET};
use secops_tests::rotation::{RotationWorld, monday};
use secrecy::SecretString;

const DB_PASSWORD: &str = "Pg-S3cret-Passw0rd";
const LINEAR_KEY: &str = "lin_api_test_key";
const OPENAI_KEY: &str = "sk-test-key";
const AXIOM_TOKEN: &str = "xaat-test-token";
const SLACK_TOKEN: &str = "xoxb-test-token";
const GITLAB_TOKEN: &str = "glpat-test-token";
const CONFLUENCE_TOKEN: &str = "ATATT-test-token";

/// The logs hold none of `secrets`, and do hold `expected` (so the error paths did run).
fn assert_clean(capture: &LogCapture, secrets: &[&str], expected: &[&str]) {
    let logs = capture.text();
    for line in expected {
        assert!(logs.contains(line), "{line:?} is logged:\n{logs}");
    }
    for secret in secrets {
        assert!(
            !logs.contains(secret),
            "{secret} leaked into the logs:\n{logs}"
        );
    }
}

/// A connection refused for a URL carrying the password, logged as an operator would see it.
async fn log_a_refused_connection() {
    let bad = db::connect(
        &SecretString::from(format!("postgres://u:{DB_PASSWORD}@127.0.0.1:1/x?bogus=1")),
        None,
    )
    .await
    .unwrap_err();
    tracing::error!(error = %bad, debug = ?bad, "connect failed");
}

#[tokio::test]
async fn no_secret_appears_in_the_logs_of_a_failing_run() {
    let capture = LogCapture::start();

    let world = DriftWorld::new().await;
    // Trust auth ignores the password, so the URL can carry one for the test to look for.
    let url = world.db.url.replacen('@', &format!(":{DB_PASSWORD}@"), 1);
    assert_ne!(url, world.db.url);
    let store = PgStore::new(&db::Database::new(
        db::connect(&SecretString::from(url), None).await.unwrap(),
    ));
    log_a_refused_connection().await;

    world.linear.accept_only_key("some-other-key");
    world.openai.rejects_key(OPENAI_KEY).await;
    store
        .replace_inventory(&[google("a", "x@example.com", &[OPENID])])
        .await
        .unwrap();
    world
        .run_with(&store, Some(&world.llm), Utc::now())
        .await
        .unwrap();
    store
        .replace_inventory(&[
            google("a", "x@example.com", &[OPENID]),
            google("b", "y@example.com", &[MAIL]),
        ])
        .await
        .unwrap();
    let report = world
        .run_with(&store, Some(&world.llm), Utc::now())
        .await
        .unwrap();
    tracing::info!(report = ?report, "final report");

    assert_eq!(report.failed.len(), 1, "Linear refused the key");
    assert_eq!(report.drafted_by_template, 1, "OpenAI refused the key");
    assert_clean(
        &capture,
        &[DB_PASSWORD, LINEAR_KEY, OPENAI_KEY],
        &["filing failed", "connect failed"],
    );
}

#[tokio::test]
async fn no_secret_appears_in_the_logs_of_a_review_whose_services_refuse_it() {
    let capture = LogCapture::start();
    let world = DecisionWorld::new().await;
    log_a_refused_connection().await;
    let (review_id, ts) = world.card_awaiting_review("eve@example.com").await;

    // A forged click, then a real one whose follow-ups meet refusing services.
    let now = Utc::now();
    let body = click_body(
        "U0ANNA",
        card::APPROVE,
        &review_id.to_string(),
        REVIEW_CHANNEL,
        &ts,
        &world.review.slack.response_url("U0ANNA"),
    );
    let forged = sign("not-the-signing-secret", now.timestamp(), body.as_bytes());
    let refused = world
        .send(&now.timestamp().to_string(), &forged, body.as_bytes(), now)
        .await;
    assert_eq!(refused.status, 401);
    let status = world
        .click("U0ANNA", card::APPROVE, review_id, REVIEW_CHANNEL, &ts)
        .await;
    world.review.axiom.accept_only_token("some-other-token");
    world.review.slack.revoke_token();
    world.review.openai.rejects_key(OPENAI_KEY).await;
    let drained = world.run_worker().await;
    tracing::info!(report = ?drained, "worker report");
    let failed_run = world
        .review
        .run_review_at(Utc::now() + Duration::minutes(20))
        .await
        .unwrap_err();
    tracing::error!(error = %failed_run, debug = ?failed_run, "review run failed");

    assert_eq!(status, 200);
    assert!(!drained.failed.is_empty(), "{drained:?}");
    assert_clean(
        &capture,
        &[
            DB_PASSWORD,
            AXIOM_TOKEN,
            SLACK_TOKEN,
            OPENAI_KEY,
            SIGNING_SECRET,
            WEBHOOK_SECRET,
        ],
        &[
            "refused an unverified Slack request",
            "review side effect failed",
            "review run failed",
        ],
    );
}

#[tokio::test]
async fn no_secret_appears_in_the_logs_of_a_rotation_sweep_slack_refuses() {
    let capture = LogCapture::start();
    let world = RotationWorld::new().await;
    world.slack.add_channel("C0TEAM01");
    world
        .load(
            "stripe-2026,stripe-live-2024,stripe-live-2026,2026-11-10\n",
            "stripe-2026,billing,t1,C0TEAM01,U0LEAD01,2026-11-16,,,\n",
        )
        .await;
    let first = world.sweep(monday()).await;
    let nudge = world.nudges().pop().expect("a nudge was posted");

    world.slack.revoke_token();
    let forged = world
        .send_signed_with("not-the-signing-secret", "payload=%7B%7D", monday())
        .await;
    let click = world
        .click("U0LEAD01", CONFIRM, "billing", &nudge, monday())
        .await;
    let second = world.sweep(monday() + Duration::days(1)).await;
    tracing::info!(first = ?first, second = ?second, click = ?click, "sweep reports");

    assert_eq!(forged.status, 401);
    assert_clean(
        &capture,
        &[SLACK_TOKEN, SIGNING_SECRET],
        &[
            "refused an unverified Slack request",
            "digest not delivered",
            "sweep reports",
        ],
    );
}

#[tokio::test]
async fn no_secret_appears_in_the_logs_of_an_mr_audit_every_service_refuses() {
    let capture = LogCapture::start();
    let world = MrAuditWorld::new().await;
    world.tracking_issue(123);
    let mr = MergedMr::security(1, "Rotate the signing key").described("Closes SEC-123.");
    world.gitlab_has(&mr);

    // The hook: a wrong token, then the previous one (mid-rotation), then the current one.
    let wrong = world
        .deliver(&Headers::gitlab().token(Some("wrong")), &mr.webhook_body())
        .await;
    let previous = Headers::gitlab()
        .token(Some(PREVIOUS_WEBHOOK_TOKEN))
        .idempotency_key(&mr.delivery_id());
    let accepted = world.deliver(&previous, &mr.webhook_body()).await;
    let duplicate = world.deliver_merge(&mr).await;

    // The worker: each service in turn refuses the credentials, so each step fails, is given up
    // and logs; the operator fixes that credential and resets the audit (the runbook's step).
    world.gitlab_fake.accept_only_token("some-other-token");
    world.linear_fake.accept_only_key("some-other-key");
    world
        .confluence_fake
        .accept_only("someone@example.com", "some-other-token");
    world.slack_fake.revoke_token();
    let mut outcomes = world.run_worker().await;
    world.gitlab_fake.accept_only_token(GITLAB_TOKEN);
    world.reset_given_up(&mr.merge_key()).await;
    outcomes.extend(world.run_worker().await);
    world.linear_fake.accept_only_key(LINEAR_KEY);
    world.reset_given_up(&mr.merge_key()).await;
    outcomes.extend(world.run_worker().await);
    tracing::info!(outcomes = ?outcomes, "worker outcomes");

    assert_eq!(
        (wrong.status, accepted.status, duplicate.status),
        (401, 202, 200)
    );
    assert_clean(
        &capture,
        &[
            WEBHOOK_TOKEN,
            PREVIOUS_WEBHOOK_TOKEN,
            GITLAB_TOKEN,
            LINEAR_KEY,
            CONFLUENCE_TOKEN,
            SLACK_TOKEN,
        ],
        &[
            "refused a GitLab delivery with a wrong X-Gitlab-Token",
            "audit given up",
        ],
    );
}

#[tokio::test]
async fn a_failed_run_is_summarised_once_with_its_run_id_and_without_the_password() {
    let capture = LogCapture::start();

    let failed = Run::start("oauth-drift")
        .run(|_| async {
            tracing::warn!("inside the run");
            let url = format!("postgres://u:{DB_PASSWORD}@127.0.0.1:1/x");
            db::connect(&SecretString::from(url), None)
                .await
                .map(|_| Report)
        })
        .await;

    assert!(failed.is_err());
    let logs = capture.text();
    let summaries: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("invocation summary"))
        .collect();
    assert_eq!(summaries.len(), 1, "{logs}");
    for field in [
        "function=\"oauth-drift\"",
        "outcome=\"error\"",
        "duration_ms=",
        "run_id=",
    ] {
        assert!(summaries[0].contains(field), "{field} in {}", summaries[0]);
    }
    let inside = logs.lines().find(|l| l.contains("inside the run")).unwrap();
    assert!(
        inside.contains("run_id="),
        "the run's lines carry its id: {inside}"
    );
    assert_clean(&capture, &[DB_PASSWORD], &["invocation summary"]);
}

#[tokio::test]
async fn a_request_is_summarised_with_its_status_and_what_it_came_to() {
    let capture = LogCapture::start();

    let served = Request::start("gitlab-webhook")
        .serve(async { Ok::<_, std::convert::Infallible>(401) }, |status| {
            (*status, "refused")
        })
        .await;

    assert_eq!(served, Ok(401));
    let logs = capture.text();
    let summary = logs
        .lines()
        .find(|l| l.contains("invocation summary"))
        .unwrap_or_else(|| panic!("no summary:\n{logs}"));
    for field in ["outcome=\"ok\"", "status=401", "handled=\"refused\""] {
        assert!(summary.contains(field), "{field} in {summary}");
    }
    assert!(!summary.contains("run_id"), "{summary}");
}

/// A report with nothing to count.
struct Report;

impl Summarised for Report {
    fn tally(&self) -> Tally {
        Tally::default()
    }
}
