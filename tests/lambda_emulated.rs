//! The built function binaries, run as Lambda runs them: a Runtime API emulator hands them the
//! real event shapes of `infra/events/`, the secret comes from a Secrets Manager fake through
//! `SECRET_ID`, bus hand-offs go through an EventBridge fake, and every external API is one of
//! the harness's stateful fakes on a fresh database. Needs the binaries built:
//! `scripts/lambda-e2e.sh` builds them and runs these tests.

use std::any::Any;
use std::time::Duration;

use base64::Engine as _;
use chrono::Utc;
use secops_shared::rotation::message::CONFIRM;
use secops_shared::slack::interaction::click_body;
use secops_shared::slack::signature::sign;
use secops_shared::slack_router::{NOT_ENABLED_REVIEW, NOT_ENABLED_ROTATION};
use secops_tests::drift::{DriftWorld, MODEL, TEAM_ID, model_answer};
use secops_tests::fake_aws::FakeAws;
use secops_tests::grants::{EMAIL, MAIL, OPENID, google};
use secops_tests::lambda_emulator::{
    ACCOUNT, FUNCTIONS, FunctionSpec, InitFailure, Invocation, LambdaEmulator, LogLine, Outcome,
    REGION, binary,
};
use secops_tests::mr_audit::{
    AUDIT_PAGE, CRYPTO_CHANNEL, DEFAULT_CHANNEL, MergedMr, MrAuditWorld, PROJECT_ID,
    SECURITY_CHANNEL, WEBHOOK_TOKEN,
};
use secops_tests::review::{
    AUDIT_DATASET, DecisionWorld, ESCALATION, ESCALATION_CHANNEL, REVIEW_CHANNEL, REVIEW_DATASET,
    REVIEWERS, SIGNING_SECRET, WEBHOOK_SECRET,
};
use secops_tests::rotation::{
    DIGEST_CHANNEL, RotationWorld, SECURITY_LEAD, SIGNING_SECRET as ROTATION_SIGNING_SECRET,
};
use serde_json::{Value, json};
use uuid::Uuid;

const INIT_TIMEOUT: Duration = Duration::from_secs(20);
const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);
/// A refused cold start must end this fast (no retry loop, no hanging connection).
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(5);
const BUS: &str = "secops-e2e-bus";

/// Every table of every workflow: a dry run must leave all of them as they were, not only its
/// own (its session cannot write any real table; this proves it).
fn every_table() -> Vec<&'static str> {
    secops_shared::db_roles::WORKFLOW_ROLES
        .iter()
        .flat_map(|role| role.tables.iter().copied())
        .collect()
}

/// Every check of the checklist `list` about `subject` passed (and there is one).
fn doctor_passed(list: &Value, subject: &str) -> bool {
    let checks: Vec<&Value> = list["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["subject"] == subject)
        .collect();
    !checks.is_empty() && checks.iter().all(|c| c["status"] == "pass")
}

/// The fixture `infra/events/<name>`, parsed.
fn fixture(name: &str) -> Value {
    let path = format!("{}/../infra/events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
}

fn secret_id(function: &str) -> String {
    format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:secops/e2e/{function}-Xy12Zw")
}

/// The test database's URL with a password in it, so the logs can be searched for it (the test
/// server trusts local connections and never asks for it).
fn url_with_password(url: &str, password: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        panic!("TEST_DATABASE_URL is not a URL");
    };
    match rest.split_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or(user);
            format!("{scheme}://{user}:{password}@{host}")
        }
        None => format!("{scheme}://postgres:{password}@{rest}"),
    }
}

/// One function cold-started under the emulator, with the secret values it was given.
struct Run {
    name: &'static str,
    emulator: LambdaEmulator,
    secrets: Vec<String>,
    /// A scheduled workflow run (drift, review, rotation): its lines carry a `run_id`.
    scheduled: bool,
}

impl Run {
    async fn invoke(&self, event: &Value) -> Invocation {
        let invocation = self
            .emulator
            .invoke(event, INVOKE_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", self.name, self.emulator.log_text()));
        self.emulator.settle().await;
        invocation
    }

    /// The HTTP status and JSON-or-text body of an API Gateway (payload 2.0) invocation.
    async fn http(&self, event: &Value) -> (u16, String) {
        let invocation = self.invoke(event).await;
        let response = match &invocation.outcome {
            Outcome::Response(r) => r.clone(),
            Outcome::Error(e) => panic!("{} failed: {e}\n{}", self.name, self.emulator.log_text()),
        };
        let status = response["statusCode"]
            .as_u64()
            .unwrap_or_else(|| panic!("not an HTTP response: {response}"));
        let body = response["body"].as_str().unwrap_or_default().to_owned();
        (status as u16, body)
    }
}

/// Serve `secret` under the function's own id, start the binary and wait for its init: the
/// config and the secret loaded (exactly one `GetSecretValue`), Postgres connected.
async fn cold_start(
    aws: &FakeAws,
    name: &'static str,
    secret: &Value,
    settings: &[(&str, String)],
) -> Run {
    let id = secret_id(name);
    aws.serve_secret(&id, &secret.to_string());
    let spec = FunctionSpec::new(binary(name), name)
        .aws_endpoint(aws.endpoint())
        .env("SECRET_ID", &id)
        // Fake APIs answer at once; a failure should not wait out production backoff.
        .env("HTTP_MAX_ATTEMPTS", "2")
        .envs(settings);
    let emulator = LambdaEmulator::start(spec)
        .await
        .expect("the binary starts");
    if let Err(failure) = emulator.wait_for_init(INIT_TIMEOUT).await {
        panic!(
            "{name} did not complete init: {failure:?}\n{}",
            emulator.log_text()
        );
    }
    assert_eq!(
        aws.secret_reads(&id),
        1,
        "{name} reads its secret once per cold start"
    );
    Run {
        name,
        emulator,
        secrets: secret_values(secret),
        scheduled: matches!(
            name,
            "oauth-drift" | "privileged-grant-review" | "rotation-chaser"
        ),
    }
}

/// Every credential in a secret, and the password inside `database_url`.
fn secret_values(secret: &Value) -> Vec<String> {
    let mut values = Vec::new();
    for (key, value) in secret.as_object().into_iter().flatten() {
        let Some(text) = value.as_str() else { continue };
        if key == "database_url" {
            if let Some(password) = text
                .split_once("://")
                .and_then(|(_, rest)| rest.split_once('@'))
                .and_then(|(user, _)| user.split_once(':'))
                .map(|(_, password)| password.to_owned())
            {
                values.push(password);
            }
        } else if key != "confluence_email" {
            // The Confluence account's email is an identifier, not a credential.
            values.push(text.to_owned());
        }
    }
    values
}

/// Everything a scenario ran, plus the worlds whose fakes and databases must outlive it.
struct Finished {
    runs: Vec<Run>,
    _worlds: Vec<Box<dyn Any>>,
}

/// An API Gateway HTTP API (payload 2.0) event based on `template`, with this body and headers.
fn http_event(template: &Value, body: &[u8], headers: &[(&str, String)]) -> Value {
    let mut event = template.clone();
    event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
    event["isBase64Encoded"] = json!(true);
    event["headers"]["content-length"] = json!(body.len().to_string());
    for (name, value) in headers {
        event["headers"][*name] = json!(value);
    }
    event["requestContext"]["timeEpoch"] = json!(Utc::now().timestamp_millis());
    event["requestContext"]["requestId"] = json!(Uuid::new_v4().simple().to_string());
    event
}

/// `slack-interaction.json` carrying `body`, signed now with `secret`.
fn slack_event(body: &[u8], secret: &str) -> Value {
    let now = Utc::now().timestamp();
    http_event(
        &fixture("slack-interaction.json"),
        body,
        &[
            ("x-slack-request-timestamp", now.to_string()),
            ("x-slack-signature", sign(secret, now, body)),
        ],
    )
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-e2e-{}", Uuid::new_v4().simple())
}

// --- Scenarios ------------------------------------------------------------------------------------

/// The daily drift audit: yesterday's baseline in the database, today's inventory with one new
/// and one elevated grant; the scheduler's input files two Linear issues.
async fn drift_scenario() -> Finished {
    let world = DriftWorld::new().await;
    world.openai.answers_with(model_answer()).await;
    world
        .inventory(vec![
            google("notes", "alice@example.com", &[OPENID]),
            google("crm", "bob@example.com", &[OPENID, EMAIL]),
        ])
        .await;
    assert!(world.run_drift().await.bootstrap);
    world
        .inventory(vec![
            google("notes", "alice@example.com", &[OPENID]),
            google("crm", "bob@example.com", &[OPENID, EMAIL, MAIL]),
            google("mailer", "erin@example.com", &[MAIL]),
        ])
        .await;
    let issues_before = world.linear.issues().len();

    let aws = FakeAws::start().await;
    let secret = json!({
        "database_url": url_with_password(&world.db.url, &unique("pg")),
        "linear_api_key": unique("lin_api"),
        "openai_api_key": unique("sk"),
    });
    let drift = cold_start(
        &aws,
        "oauth-drift",
        &secret,
        &[
            ("LINEAR_TEAM_ID", TEAM_ID.to_owned()),
            ("LINEAR_API_URL", world.linear.url()),
            ("OPENAI_BASE_URL", world.openai.base_url()),
            ("OPENAI_MODEL", MODEL.to_owned()),
        ],
    )
    .await;

    // The quick start's order: the doctor first (read-only), then the dry run, then the run.
    world.linear.add_team(TEAM_ID, "SEC");
    let doctor = drift.invoke(&json!({ "doctor": true })).await;
    let list = doctor.response();
    // The model check is left out here: this world's scripted model answers every prompt with
    // the drift draft, so the doctor's probe (another schema) is rightly refused; the doctor's
    // own tests cover that check.
    for subject in ["secrets manager", "postgres", "linear"] {
        assert!(doctor_passed(list, subject), "{subject}: {list}");
    }
    assert_eq!(
        world.linear.mutations().await,
        0,
        "the doctor wrote to Linear"
    );

    // First the dry run a team starts with: the real inventory, baseline and Linear, and the
    // issues it would file come back; no table, sequence or Linear issue changes.
    let tables = &every_table();
    let state_before = world.db.fingerprint(tables).await;
    let mutations_before = world.linear.mutations().await;
    let dry = drift
        .invoke(&json!({"workflow": "oauth-drift", "dry_run": true}))
        .await;
    let dry = dry.response();
    assert_eq!(dry["dry_run"], json!(true), "{dry}");
    assert_eq!(dry["report"]["filings_created"], json!(2), "{dry}");
    let mut would: Vec<&str> = dry["would"]
        .as_array()
        .expect("a would list")
        .iter()
        .filter(|w| w["action"] == "create issue")
        .map(|w| w["content"]["title"].as_str().unwrap_or_default())
        .collect();
    would.sort_unstable();
    assert_eq!(
        would,
        [
            "Elevated OAuth grant: crm app gained 1 scope",
            "New OAuth grant: mailer app for erin@example.com",
        ]
    );
    assert_eq!(world.db.fingerprint(tables).await, state_before);
    assert_eq!(world.linear.issues().len(), issues_before);
    assert_eq!(world.linear.mutations().await, mutations_before);
    let typo = drift
        .invoke(&json!({"workflow": "oauth-drift", "dry_run": "yes"}))
        .await;
    assert!(
        matches!(&typo.outcome, Outcome::Error(e) if e["errorType"] == "BadInput"),
        "{:?}",
        typo.outcome
    );
    assert_eq!(world.db.fingerprint(tables).await, state_before);

    // Then the real run finds the same drift: the dry run moved nothing.
    let invocation = drift.invoke(&fixture("oauth-drift-schedule.json")).await;

    let report = invocation.response();
    assert_eq!(report["bootstrap"], json!(false), "{report}");
    assert_eq!(report["filings_created"], json!(2), "{report}");
    let mut titles: Vec<String> = world.linear.issues()[issues_before..]
        .iter()
        .map(|i| i.title.clone())
        .collect();
    titles.sort();
    assert_eq!(
        titles,
        [
            "Elevated OAuth grant: crm app gained 1 scope",
            "New OAuth grant: mailer app for erin@example.com",
        ]
    );

    // A refused run fails with a kind an operator can filter on, not a Rust type name.
    world.inventory(vec![]).await;
    let refused = drift.invoke(&fixture("oauth-drift-schedule.json")).await;
    match &refused.outcome {
        Outcome::Error(error) => {
            assert_eq!(error["errorType"], "BadInput", "{error}");
            let message = error["errorMessage"].as_str().unwrap_or_default();
            assert!(message.contains("inventory is empty"), "{message}");
        }
        Outcome::Response(r) => panic!("an empty inventory must be refused: {r}"),
    }
    Finished {
        runs: vec![drift],
        _worlds: vec![Box::new(world), Box::new(aws)],
    }
}

/// The review chain: the scheduled review posts a card for a privileged grant; a reviewer's
/// click reaches slack-interactions (forged, stale and malformed requests are refused); its
/// `ReviewDecided`, captured from `PutEvents` and delivered as the rule's envelope, wakes the
/// review worker, which performs the follow-ups.
/// Which workflows the stack runs around the review: the review alone (its Slack endpoint
/// serves only its buttons, with only its settings), or all four (the endpoint serves the
/// rotation chaser's buttons too, as every stack did before `SLACK_ROUTER_WORKFLOWS`: unset).
#[derive(Clone, Copy, PartialEq)]
enum Stack {
    ReviewAlone,
    AllFour,
}

async fn review_scenario(stack: Stack) -> Finished {
    let world = DecisionWorld::new().await;
    let review = &world.review;
    review.audit_event(
        "evt-e2e-1",
        Utc::now() - chrono::Duration::minutes(5),
        "alice@example.com",
        "mallory@example.com",
        "Break-Glass Admin",
    );
    review.model_says("medium", 60, "break-glass").await;

    let aws = FakeAws::start().await;
    let database_url = url_with_password(&review.db.url, &unique("pg"));
    let axiom_token = unique("xaat");
    let bot_token = unique("xoxb");
    let webhook_url = format!("{}/hooks/review", world.receiver.uri());
    let shared = [
        ("REVIEW_SLACK_CHANNEL", REVIEW_CHANNEL.to_owned()),
        ("REVIEW_DATASET", AUDIT_DATASET.to_owned()),
        ("REVIEW_EVENTS_DATASET", REVIEW_DATASET.to_owned()),
        ("AXIOM_URL", review.axiom.url()),
        ("SLACK_API_BASE", review.slack.api_base()),
        ("REVIEW_REVIEWER_GROUPS", REVIEWERS.to_owned()),
        ("REVIEW_ESCALATION_GROUPS", ESCALATION.to_owned()),
        ("REVIEW_ESCALATION_CHANNEL", ESCALATION_CHANNEL.to_owned()),
        ("REVIEW_WEBHOOK_URL", webhook_url),
        ("REVIEW_INGEST_LAG_MINUTES", "0".to_owned()),
        ("REVIEW_QUERY_DELAY_SECS", "0".to_owned()),
        ("EVENT_BUS_NAME", BUS.to_owned()),
    ];
    let with = |extra: &[(&'static str, String)]| -> Vec<(&'static str, String)> {
        shared
            .iter()
            .cloned()
            .chain(extra.iter().cloned())
            .collect()
    };

    let reviewer = cold_start(
        &aws,
        "privileged-grant-review",
        &json!({
            "database_url": database_url,
            "axiom_token": axiom_token,
            "slack_bot_token": bot_token,
            "openai_api_key": unique("sk"),
            "review_webhook_secret": WEBHOOK_SECRET,
        }),
        &with(&[
            ("OPENAI_BASE_URL", review.openai.base_url()),
            ("OPENAI_MODEL", MODEL.to_owned()),
        ]),
    )
    .await;
    // The dry run first: the card and the review event it would write come back; no card is
    // posted, no event written, and the checkpoint and reviews stay as they were.
    let tables = &every_table();
    let state_before = review.db.fingerprint(tables).await;
    let dry = reviewer
        .invoke(&json!({"workflow": "privileged-review", "dry_run": true}))
        .await
        .response()
        .clone();
    assert_eq!(dry["dry_run"], json!(true), "{dry}");
    assert_eq!(dry["report"]["sent_for_review"], json!(1), "{dry}");
    let posts: Vec<&Value> = dry["would"]
        .as_array()
        .expect("a would list")
        .iter()
        .filter(|w| w["service"] == "slack")
        .collect();
    assert_eq!(posts.len(), 1, "{dry}");
    assert_eq!(posts[0]["target"], REVIEW_CHANNEL, "{dry}");
    assert!(review.cards().is_empty(), "the dry run posted a card");
    assert!(
        review.review_events().is_empty(),
        "the dry run wrote to Axiom"
    );
    assert_eq!(review.db.fingerprint(tables).await, state_before);

    let report = reviewer
        .invoke(&fixture("privileged-review-schedule.json"))
        .await
        .response()
        .clone();
    assert_eq!(report["sent_for_review"], json!(1), "{report}");
    let card = review.cards().pop().expect("a card was posted");
    let blocks = card.blocks.to_string();
    let start = blocks.find("\"value\":\"").expect("the card has buttons") + 9;
    let review_id = Uuid::parse_str(&blocks[start..start + 36]).expect("a review id");

    let router_settings = match stack {
        Stack::ReviewAlone => with(&[("SLACK_ROUTER_WORKFLOWS", "privileged-review".to_owned())]),
        Stack::AllFour => {
            // Its login reaches both workflows' tables, as slack-interactions' does.
            review
                .db
                .also_for(secops_shared::credential_scope::Function::SlackInteractions)
                .await;
            with(&[("ROTATION_SECURITY_LEAD", SECURITY_LEAD.to_owned())])
        }
    };
    let interactions = cold_start(
        &aws,
        "slack-interactions",
        &json!({
            "database_url": database_url,
            "slack_bot_token": bot_token,
            "slack_signing_secret": SIGNING_SECRET,
        }),
        &router_settings,
    )
    .await;
    let worker = cold_start(
        &aws,
        "review-worker",
        &json!({
            "database_url": database_url,
            "axiom_token": axiom_token,
            "slack_bot_token": bot_token,
            "review_webhook_secret": WEBHOOK_SECRET,
        }),
        &with(&[]),
    )
    .await;

    // The fixture's own review is unknown here, and nothing is pending yet.
    let idle = worker.invoke(&fixture("review-decided.json")).await;
    assert_eq!(idle.response()["done"], json!(0), "{:?}", idle.outcome);

    let click = click_body(
        "U0ANNA",
        // Revoke: its follow-ups include the outbound webhook (approvals do not send one).
        "review_revoke",
        &review_id.to_string(),
        REVIEW_CHANNEL,
        &card.ts,
        &review.slack.response_url("U0ANNA"),
    );
    let forged = interactions
        .http(&slack_event(click.as_bytes(), "not-the-signing-secret"))
        .await;
    assert_eq!(forged.0, 401, "a forged signature: {}", forged.1);
    let stale = interactions.http(&fixture("slack-interaction.json")).await;
    assert_eq!(
        stale.0, 401,
        "the fixture's 2026-11-23 timestamp is stale: {}",
        stale.1
    );
    let malformed = interactions
        .http(&slack_event(b"payload=%7Bnot-json", SIGNING_SECRET))
        .await;
    assert_eq!(malformed.0, 400, "a malformed payload: {}", malformed.1);
    assert!(
        aws.put_events().is_empty(),
        "refused requests put nothing on the bus"
    );

    let accepted = interactions
        .http(&slack_event(click.as_bytes(), SIGNING_SECRET))
        .await;
    assert_eq!(accepted.0, 200, "{}", accepted.1);

    // One endpoint for both workflows' buttons: a rotation button reaches the chaser (which
    // no longer tracks consumer 999999), not the note for a workflow it does not serve.
    let rotation_click = click_body(
        "U0BOB0",
        CONFIRM,
        "999999",
        REVIEW_CHANNEL,
        &card.ts,
        &review.slack.response_url("U0BOB0"),
    );
    let routed = interactions
        .http(&slack_event(rotation_click.as_bytes(), SIGNING_SECRET))
        .await;
    assert_eq!(routed.0, 200, "{}", routed.1);
    let told = world.told("U0BOB0");
    match stack {
        Stack::AllFour => assert_eq!(told, ["This consumer is no longer tracked."]),
        Stack::ReviewAlone => assert_eq!(told, [NOT_ENABLED_ROTATION]),
    }

    let decided: Vec<_> = aws
        .put_events()
        .into_iter()
        .filter(|e| e.detail_type == "ReviewDecided")
        .collect();
    assert_eq!(decided.len(), 1, "{decided:?}");
    let envelope = decided[0].rule_envelope();
    assert_eq!(decided[0].event_bus_name.as_deref(), Some(BUS));
    assert_eq!(envelope["source"], "secops.review");
    assert_eq!(
        envelope["detail"]["review_id"],
        json!(review_id.to_string())
    );

    let drained = worker.invoke(&envelope).await;
    let report = drained.response();
    assert!(report["done"].as_u64() >= Some(1), "{report}");
    assert_eq!(report["failed"], json!([]), "{report}");
    assert_eq!(envelope["detail"]["decision"], "revoked");
    assert_eq!(
        world.webhook_deliveries().await.len(),
        1,
        "the decision webhook was delivered by the worker\n{}",
        worker.emulator.log_text()
    );
    assert!(
        review
            .review_events()
            .iter()
            .any(|e| e.to_string().contains(&review_id.to_string())),
        "the decision was logged to Axiom: {:?}",
        review.review_events()
    );
    Finished {
        runs: vec![reviewer, interactions, worker],
        _worlds: vec![Box::new(world), Box::new(aws)],
    }
}

/// The working-day rotation sweep: one consumer four days past its deadline is nudged in its
/// team's channel, and the security lead's digest is sent.
async fn rotation_scenario() -> Finished {
    let world = RotationWorld::new().await;
    world.slack.add_channel("C0TEAM04");
    let today = Utc::now().date_naive();
    let late = today - chrono::Duration::days(4);
    world
        .load(
            &format!("stripe-2026,stripe-live-2024,stripe-live-2026,{late}\n"),
            &format!("stripe-2026,billing-api,payments,C0TEAM04,U0LEAD04,{late},,,\n"),
        )
        .await;

    let aws = FakeAws::start().await;
    let chaser = cold_start(
        &aws,
        "rotation-chaser",
        &json!({
            "database_url": url_with_password(&world.db.url, &unique("pg")),
            "slack_bot_token": unique("xoxb"),
        }),
        &[
            ("ROTATION_DIGEST_TO", DIGEST_CHANNEL.to_owned()),
            ("ROTATION_SECURITY_LEAD", SECURITY_LEAD.to_owned()),
            ("ROTATION_SKIP_WEEKENDS", "false".to_owned()),
            ("ROTATION_CHANNEL_SPACING_MS", "0".to_owned()),
            ("SLACK_API_BASE", world.slack.api_base()),
        ],
    )
    .await;

    // The dry run first: the nudge and the digest come back, nothing is posted or counted.
    let tables = &every_table();
    let state_before = world.db.fingerprint(tables).await;
    let dry = chaser
        .invoke(&json!({"workflow": "rotation-chaser", "dry_run": true}))
        .await;
    let dry = dry.response();
    assert_eq!(dry["dry_run"], json!(true), "{dry}");
    assert_eq!(dry["report"]["nudged"], json!(1), "{dry}");
    let targets: Vec<&str> = dry["would"]
        .as_array()
        .expect("a would list")
        .iter()
        .map(|w| w["target"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(targets, ["C0TEAM04", DIGEST_CHANNEL], "{dry}");
    assert!(world.slack.messages().is_empty(), "the dry run posted");
    assert_eq!(world.db.fingerprint(tables).await, state_before);

    let invocation = chaser.invoke(&fixture("rotation-schedule.json")).await;

    let report = invocation.response();
    assert_eq!(report["nudged"], json!(1), "{report}");
    let nudges = world.nudges();
    assert_eq!(nudges.len(), 1, "{nudges:?}");
    assert_eq!(nudges[0].channel, "C0TEAM04");
    assert_eq!(world.digests().len(), 1, "the digest was sent");

    // The same function asked for its doctor: the checklist as it sees its own set-up (its
    // secret from Secrets Manager, its database, Slack), and nothing swept or sent.
    let doctor = chaser.invoke(&json!({ "doctor": true })).await;
    let list = doctor.response();
    assert_eq!(list["ok"], json!(true), "{list}");
    let passed = |subject: &str| {
        list["checks"].as_array().is_some_and(|checks| {
            checks
                .iter()
                .any(|c| c["subject"] == subject && c["status"] == "pass")
        })
    };
    for subject in ["secrets manager", "postgres", "slack"] {
        assert!(passed(subject), "{subject}: {list}");
    }
    assert_eq!(world.nudges().len(), 1, "the doctor nudged nobody");
    assert_eq!(world.digests().len(), 1, "the doctor sent no digest");

    // The Slack endpoint of a deployment with only the chaser: no review setting, no Axiom or
    // model key; a review button is answered, not failed.
    world.slack.set_channel_members("C0TEAM04", &["U0ANNA00"]);
    let interactions = cold_start(
        &aws,
        "slack-interactions",
        &json!({
            "database_url": url_with_password(&world.db.url, &unique("pg")),
            "slack_bot_token": unique("xoxb"),
            "slack_signing_secret": ROTATION_SIGNING_SECRET,
        }),
        &[
            ("SLACK_ROUTER_WORKFLOWS", "rotation-chaser".to_owned()),
            ("SLACK_API_BASE", world.slack.api_base()),
        ],
    )
    .await;
    let confirm = world
        .click_request("U0ANNA00", CONFIRM, "billing-api", &nudges[0])
        .await;
    let (status, body) = interactions
        .http(&slack_event(confirm.as_bytes(), ROTATION_SIGNING_SECRET))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(world.state("billing-api").await.0, "confirmed");
    let review_click = click_body(
        "U0ANNA00",
        "review_approve",
        &Uuid::new_v4().to_string(),
        "C0TEAM04",
        &nudges[0].ts,
        &world.slack.response_url("U0ANNA00"),
    );
    let (status, body) = interactions
        .http(&slack_event(
            review_click.as_bytes(),
            ROTATION_SIGNING_SECRET,
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(world.told("U0ANNA00"), [NOT_ENABLED_REVIEW]);
    Finished {
        runs: vec![chaser, interactions],
        _worlds: vec![Box::new(world), Box::new(aws)],
    }
}

/// The MR audit hand-off: GitLab's merge hook (`gitlab-webhook-merge.json`) reaches
/// gitlab-webhook (a wrong token and a malformed body are refused); its `MergeRecorded`,
/// captured from `PutEvents` and delivered as the rule's envelope, wakes mr-audit, which
/// closes the Linear issue, writes the audit page row and confirms in Slack.
async fn mr_audit_scenario() -> Finished {
    let world = MrAuditWorld::new().await;
    let hook = fixture("gitlab-webhook-merge.json");
    let delivered: Value =
        serde_json::from_str(hook["body"].as_str().expect("a JSON body")).expect("JSON");
    let mr = MergedMr::security(
        delivered["object_attributes"]["iid"]
            .as_u64()
            .expect("an iid"),
        delivered["object_attributes"]["title"]
            .as_str()
            .expect("a title"),
    )
    .described("Closes SEC-123.");
    world.gitlab_has(&mr);
    let issue = world.tracking_issue(123);

    let aws = FakeAws::start().await;
    let database_url = url_with_password(&world.db.url, &unique("pg"));
    let endpoint = cold_start(
        &aws,
        "gitlab-webhook",
        &json!({
            "database_url": database_url,
            "gitlab_webhook_token": WEBHOOK_TOKEN,
        }),
        &[("EVENT_BUS_NAME", BUS.to_owned())],
    )
    .await;
    let auditor = cold_start(
        &aws,
        "mr-audit",
        &json!({
            "database_url": database_url,
            "gitlab_token": unique("glpat"),
            "linear_api_key": unique("lin_api"),
            "confluence_email": "secops-bot@acme.example",
            "confluence_api_token": unique("ATATT"),
            "slack_bot_token": unique("xoxb"),
        }),
        &[
            ("GITLAB_URL", world.gitlab_fake.base_url()),
            ("LINEAR_API_URL", world.linear_fake.url()),
            ("CONFLUENCE_URL", world.confluence_fake.base_url()),
            ("CONFLUENCE_PAGE_ID", AUDIT_PAGE.to_owned()),
            ("SLACK_API_BASE", world.slack_fake.api_base()),
            ("MR_AUDIT_SLACK_CHANNEL", DEFAULT_CHANNEL.to_owned()),
            ("MR_AUDIT_SECURITY_CHANNEL", SECURITY_CHANNEL.to_owned()),
            (
                "MR_AUDIT_CHANNEL_MAP",
                format!("security::crypto={CRYPTO_CHANNEL}"),
            ),
            ("EVENT_BUS_NAME", BUS.to_owned()),
        ],
    )
    .await;

    // The quick start's order: the doctor first (read-only), then the dry run.
    let doctor = auditor.invoke(&json!({ "doctor": true })).await;
    let list = doctor.response();
    assert_eq!(list["ok"], json!(true), "{list}");
    for subject in ["postgres", "linear", "confluence", "slack"] {
        assert!(doctor_passed(list, subject), "{subject}: {list}");
    }
    assert_eq!(world.page_rows(), 0, "the doctor wrote to Confluence");

    // The dry run a team starts with: one merged MR audited against the real GitLab and
    // Linear; the close, the evidence row and the confirmation come back, nothing is written.
    let tables = &every_table();
    let state_before = world.db.fingerprint(tables).await;
    let dry = auditor
        .invoke(&json!({"dry_run": true, "project_id": PROJECT_ID, "mr_iid": mr.iid}))
        .await;
    let dry = dry.response();
    assert_eq!(dry["report"]["outcome"], "done", "{dry}");
    let would: Vec<(&str, &str)> = dry["would"]
        .as_array()
        .expect("a would list")
        .iter()
        .map(|w| {
            (
                w["action"].as_str().unwrap_or_default(),
                w["target"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        would.contains(&("close issue as audited", "SEC-123")),
        "{dry}"
    );
    assert!(
        would.contains(&("append evidence row", AUDIT_PAGE)),
        "{dry}"
    );
    assert!(
        would.iter().any(|(action, _)| *action == "post message"),
        "{dry}"
    );
    assert_eq!(world.db.fingerprint(tables).await, state_before);
    assert_eq!(world.page_rows(), 0, "the dry run wrote to Confluence");
    assert!(world.linear_fake.comments(&issue).is_empty());
    assert_eq!(world.linear_fake.mutations().await, 0);
    assert!(world.slack_fake.messages().is_empty(), "the dry run posted");
    let no_target = auditor.invoke(&json!({"dry_run": true})).await;
    assert!(
        matches!(&no_target.outcome, Outcome::Error(e) if e["errorType"] == "BadInput"),
        "{:?}",
        no_target.outcome
    );

    let body = hook["body"]
        .as_str()
        .unwrap_or_default()
        .as_bytes()
        .to_vec();
    let wrong_token = endpoint
        .http(&http_event(
            &hook,
            &body,
            &[("x-gitlab-token", "not-the-token".to_owned())],
        ))
        .await;
    assert_eq!(wrong_token.0, 401, "{}", wrong_token.1);
    let malformed = endpoint
        .http(&http_event(&hook, b"{\"object_kind\": ", &[]))
        .await;
    assert_eq!(malformed.0, 400, "{}", malformed.1);
    let token = [("x-gitlab-token", WEBHOOK_TOKEN.to_owned())];
    let mut not_base64 = http_event(&hook, &body, &token);
    not_base64["body"] = json!("%%% not base64 %%%");
    let refused = endpoint.http(&not_base64).await;
    assert_eq!(
        refused.0, 400,
        "a body flagged base64 that is not: {}",
        refused.1
    );
    let mut get = http_event(&hook, &body, &token);
    get["requestContext"]["http"]["method"] = json!("GET");
    assert_eq!(endpoint.http(&get).await.0, 405, "only POST is served");
    let mut elsewhere = http_event(&hook, &body, &token);
    elsewhere["rawPath"] = json!("/gitlab/other");
    elsewhere["requestContext"]["http"]["path"] = json!("/gitlab/other");
    assert_eq!(endpoint.http(&elsewhere).await.0, 404, "only its own route");
    assert!(
        aws.put_events().is_empty(),
        "refused deliveries put nothing on the bus"
    );
    let who = endpoint
        .emulator
        .logs()
        .into_iter()
        .filter(|l| {
            l.text
                .contains("refused a GitLab delivery with a wrong X-Gitlab-Token")
        })
        .collect::<Vec<_>>();
    assert_eq!(who.len(), 1, "{}", endpoint.emulator.log_text());
    let source_ip = hook["requestContext"]["http"]["sourceIp"]
        .as_str()
        .expect("the fixture names a source IP");
    assert!(who[0].text.contains(source_ip), "{}", who[0].text);

    let accepted = endpoint.http(&hook).await;
    assert_eq!(accepted.0, 202, "{}", accepted.1);
    let recorded = aws.put_events();
    assert_eq!(recorded.len(), 1, "one merge, one event: {recorded:?}");
    let envelope = recorded[0].rule_envelope();
    assert_eq!(recorded[0].event_bus_name.as_deref(), Some(BUS));
    assert_eq!(envelope["detail-type"], "MergeRecorded");
    assert_eq!(envelope["source"], "secops.mr-audit");
    assert_eq!(envelope["detail"]["merge_key"], json!(mr.merge_key()));

    // GitLab's redelivery of a merge still pending wakes the worker again.
    let again = endpoint.http(&hook).await;
    assert_eq!(again.0, 200, "a redelivery is a duplicate: {}", again.1);
    let rewoken = aws.put_events();
    assert_eq!(rewoken.len(), 2, "{rewoken:?}");
    assert_eq!(rewoken[1].detail, recorded[0].detail);

    let audited = auditor.invoke(&envelope).await;
    let report = audited.response();
    assert_eq!(report["named_failed"], json!(false), "{report}");
    assert_eq!(report["failed"], json!(0), "{report}");
    assert_eq!(world.linear_fake.issue_state(&issue), "Done");
    assert_eq!(world.linear_fake.comments(&issue).len(), 1);
    assert_eq!(world.page_rows(), 1);
    assert_eq!(world.rows_for(&mr.reference()).len(), 1);
    assert_eq!(world.messages_in(CRYPTO_CHANNEL).len(), 1);
    assert_eq!(world.audit_state(&mr.merge_key()).await.0, "done");

    // The second wake-up, and the fixture envelope naming the same merge: already done,
    // nothing written twice.
    for event in [rewoken[1].rule_envelope(), fixture("merge-recorded.json")] {
        let replay = auditor.invoke(&event).await;
        assert_eq!(replay.response()["named_failed"], json!(false));
    }
    assert_eq!(world.page_rows(), 1);
    assert_eq!(world.linear_fake.comments(&issue).len(), 1);
    assert_eq!(world.messages_in(CRYPTO_CHANNEL).len(), 1);

    // A dry run of the MR now audited still shows the whole audit (from the start, in the
    // shadows), and still changes nothing.
    let state_before = world.db.fingerprint(tables).await;
    let again = auditor
        .invoke(&json!({"dry_run": true, "project_id": PROJECT_ID, "mr_iid": mr.iid}))
        .await;
    let again = again.response();
    assert_eq!(again["report"]["outcome"], "done", "{again}");
    assert!(
        again["would"]
            .as_array()
            .is_some_and(|w| w.iter().any(|w| w["action"] == "append evidence row")),
        "{again}"
    );
    assert_eq!(world.db.fingerprint(tables).await, state_before);
    assert_eq!(world.page_rows(), 1);
    assert_eq!(world.messages_in(CRYPTO_CHANNEL).len(), 1);
    Finished {
        runs: vec![endpoint, auditor],
        _worlds: vec![Box::new(world), Box::new(aws)],
    }
}

async fn all_scenarios() -> Vec<Finished> {
    vec![
        drift_scenario().await,
        review_scenario(Stack::AllFour).await,
        rotation_scenario().await,
        mr_audit_scenario().await,
    ]
}

// --- What every run must show --------------------------------------------------------------------

/// EMF records are metrics printed to stdout for CloudWatch to extract, not log lines.
fn is_metric(line: &LogLine) -> bool {
    line.json().is_some_and(|v| v.get("_aws").is_some())
}

/// lambda_runtime's own line reporting a failed invocation: logged after the handler returned,
/// so inside no span of ours (the invocation summary before it carries the run id).
fn is_runtime_error_report(line: &LogLine) -> bool {
    line.json().is_some_and(|v| {
        v["level"] == "ERROR"
            && v["spans"].as_array().is_some_and(|spans| {
                spans.len() == 1 && spans[0]["name"] == "Lambda runtime invoke"
            })
    })
}

/// No secret value appears anywhere in what the processes wrote.
fn assert_no_secret_printed(finished: &Finished) {
    for run in &finished.runs {
        let text = run.emulator.log_text();
        for secret in &run.secrets {
            // The assertion names the function, never the value.
            assert!(
                !text.contains(secret.as_str()),
                "{} printed one of its secret values",
                run.name
            );
        }
    }
}

/// Every log line written during an invocation carries its request id (lambda_runtime's
/// `Lambda runtime invoke` span, printed with each JSON line).
fn assert_lines_carry_request_id(finished: &Finished) {
    for run in &finished.runs {
        let invocations = run.emulator.invocations();
        assert!(
            invocations
                .iter()
                .any(|i| !run.emulator.lines_during(i).is_empty()),
            "{}: no line was captured during its invocations",
            run.name
        );
        for invocation in invocations {
            for line in run.emulator.lines_during(&invocation) {
                if is_metric(&line) {
                    continue;
                }
                assert!(
                    line.text.contains(&invocation.request_id),
                    "{}: a line of invocation {} lacks its request id: {}",
                    run.name,
                    invocation.request_id,
                    line.text
                );
            }
        }
    }
}

fn check(finished: &Finished) {
    assert_no_secret_printed(finished);
    assert_lines_carry_request_id(finished);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs built function binaries: scripts/lambda-e2e.sh"]
async fn the_scheduled_drift_audit_files_issues_as_lambda_runs_it() {
    check(&drift_scenario().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs built function binaries: scripts/lambda-e2e.sh"]
async fn a_review_card_click_reaches_the_review_worker_through_the_bus() {
    check(&review_scenario(Stack::ReviewAlone).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs built function binaries: scripts/lambda-e2e.sh"]
async fn the_scheduled_rotation_sweep_nudges_and_sends_the_digest() {
    check(&rotation_scenario().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs built function binaries: scripts/lambda-e2e.sh"]
async fn a_gitlab_merge_hook_is_audited_by_mr_audit_through_the_bus() {
    check(&mr_audit_scenario().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs built function binaries: scripts/lambda-e2e.sh"]
async fn a_deadline_margin_above_the_time_left_warns_and_counts() {
    let world = DriftWorld::new().await;
    world
        .inventory(vec![google("notes", "alice@example.com", &[OPENID])])
        .await;
    let aws = FakeAws::start().await;
    let secret = json!({
        "database_url": url_with_password(&world.db.url, &unique("pg")),
        "linear_api_key": unique("lin_api"),
    });
    let drift = cold_start(
        &aws,
        "oauth-drift",
        &secret,
        &[
            ("LINEAR_TEAM_ID", TEAM_ID.to_owned()),
            ("LINEAR_API_URL", world.linear.url()),
            // Far above the emulated function's timeout: nothing can be done.
            ("DEADLINE_MARGIN_SECS", "300".to_owned()),
        ],
    )
    .await;

    let invocation = drift.invoke(&fixture("oauth-drift-schedule.json")).await;

    let lines = drift.emulator.lines_during(&invocation);
    let warnings: Vec<&LogLine> = lines
        .iter()
        .filter(|l| {
            l.json().is_some_and(|v| {
                v["level"] == "WARN"
                    && v["fields"]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("DEADLINE_MARGIN_SECS"))
            })
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{}", drift.emulator.log_text());
    let metric = lines
        .iter()
        .filter_map(LogLine::json)
        .find(|v| v.get("DeadlineMarginExceedsTime").is_some())
        .unwrap_or_else(|| panic!("no metric\n{}", drift.emulator.log_text()));
    assert_eq!(metric["DeadlineMarginExceedsTime"], 1.0);
    assert_eq!(metric["Workflow"], "oauth-drift");
}

// --- Refused cold starts -----------------------------------------------------------------------

/// Start `function` with its required settings and this secret (`None`: not in Secrets
/// Manager); it must exit non-zero within a few seconds, without ever polling for an event,
/// with exactly one line saying it cannot start and naming `problem`, and no panic.
async fn assert_refused(function: &'static str, secret: Option<&str>, problem: &str) {
    let spec = FUNCTIONS
        .iter()
        .find(|f| f.name == function)
        .expect("a project function");
    let aws = FakeAws::start().await;
    let id = secret_id(function);
    if let Some(secret) = secret {
        aws.serve_secret(&id, secret);
    }
    let emulator = LambdaEmulator::start(
        FunctionSpec::new(binary(function), function)
            .aws_endpoint(aws.endpoint())
            .env("SECRET_ID", &id)
            .envs(spec.required_settings),
    )
    .await
    .expect("the binary starts");
    let failure = emulator.wait_for_init(REFUSAL_TIMEOUT).await;
    let logs = emulator.log_text();
    let exit = match failure {
        Err(InitFailure::Exited(exit)) => exit,
        // The init error is reported first, then the process exits.
        Err(InitFailure::Reported(_)) => emulator
            .wait_for_exit(REFUSAL_TIMEOUT)
            .await
            .unwrap_or_else(|| panic!("{function} reported an init error but did not exit")),
        other => panic!("{function} should have exited, got {other:?}\n{logs}"),
    };
    let reported = emulator
        .init_error()
        .unwrap_or_else(|| panic!("{function} reports why it cannot start to /init/error\n{logs}"));
    assert_eq!(
        reported["errorType"], "Configuration",
        "{function}: a kind, not a Rust type name"
    );
    let message = reported["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains(problem), "{function}: {message}");
    assert!(!message.contains('\n'), "{function}: one line: {message}");
    emulator.settle().await;
    let logs = emulator.log_text();
    assert!(!exit.status.success(), "{function} exits non-zero\n{logs}");
    assert!(exit.after < REFUSAL_TIMEOUT, "{function}: {exit:?}");
    assert_eq!(
        emulator.polls(),
        0,
        "{function} never reaches /next\n{logs}"
    );
    assert_eq!(
        aws.secret_reads(&id),
        1,
        "{function}: read once, no retry loop"
    );
    let refusals: Vec<LogLine> = emulator
        .logs()
        .into_iter()
        .filter(|l| l.text.contains("cannot start"))
        .collect();
    assert_eq!(refusals.len(), 1, "{function}: one clear line\n{logs}");
    let line = &refusals[0];
    assert!(
        line.message()
            .is_some_and(|m| m == format!("{function} cannot start")),
        "{function}: a JSON log line with the message\n{logs}"
    );
    assert!(
        line.text.contains(problem),
        "{function}: names {problem:?}\n{logs}"
    );
    assert!(
        line.text.len() < 600,
        "{function}: one short line, not an SDK error dump ({} bytes)\n{logs}",
        line.text.len()
    );
    assert!(!logs.contains("panicked"), "{function}\n{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs built function binaries: scripts/lambda-e2e.sh"]
async fn a_missing_secret_stops_every_cold_start_with_one_clear_line() {
    for function in FUNCTIONS {
        assert_refused(function.name, None, "ResourceNotFoundException").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs built function binaries: scripts/lambda-e2e.sh"]
async fn a_malformed_secret_stops_every_cold_start_without_quoting_it() {
    let leaked = "lin_api_MALFORMED_DO_NOT_PRINT";
    let secret = format!(r#"{{"linear_api_key": "{leaked}", oops"#);
    for function in FUNCTIONS {
        assert_refused(
            function.name,
            Some(&secret),
            "is not a JSON object of credentials",
        )
        .await;
    }
    // Checked separately so a failure above prints the logs, and this one never does.
    for function in FUNCTIONS {
        let aws = FakeAws::start().await;
        let id = secret_id(function.name);
        aws.serve_secret(&id, &secret);
        let emulator = LambdaEmulator::start(
            FunctionSpec::new(binary(function.name), function.name)
                .aws_endpoint(aws.endpoint())
                .env("SECRET_ID", &id)
                .envs(function.required_settings),
        )
        .await
        .expect("the binary starts");
        let _ = emulator.wait_for_exit(REFUSAL_TIMEOUT).await;
        emulator.settle().await;
        assert!(
            !emulator.log_text().contains(leaked),
            "{} quoted the malformed secret",
            function.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs built function binaries: scripts/lambda-e2e.sh"]
async fn a_secret_without_a_required_credential_stops_every_cold_start() {
    let password = "pg-password-DO_NOT_PRINT";
    let secret = json!({"database_url": format!("postgres://u:{password}@127.0.0.1:1/x")});
    for function in FUNCTIONS {
        let missing = format!(
            "credential {} is missing from the secret",
            function.required_credential
        );
        assert_refused(function.name, Some(&secret.to_string()), &missing).await;
    }
}

/// Stricter than [`assert_refused`]: the refusal line is all the process writes. CloudWatch
/// keeps stderr too, so any other line (say Rust's `Error: ...` from `main`) is a second,
/// unstructured log line for the same failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs built function binaries: scripts/lambda-e2e.sh"]
async fn a_refused_cold_start_writes_nothing_but_its_one_line() {
    for function in FUNCTIONS {
        let aws = FakeAws::start().await;
        let emulator = LambdaEmulator::start(
            FunctionSpec::new(binary(function.name), function.name)
                .aws_endpoint(aws.endpoint())
                .env("SECRET_ID", secret_id(function.name))
                .envs(function.required_settings),
        )
        .await
        .expect("the binary starts");
        assert!(emulator.wait_for_exit(REFUSAL_TIMEOUT).await.is_some());
        emulator.settle().await;
        let lines = emulator.logs();
        assert_eq!(
            lines.len(),
            1,
            "{}: one line only\n{}",
            function.name,
            emulator.log_text()
        );
    }
}

// --- Logging: request ids, run ids, one summary per invocation (decision 011) --------------------

/// The JSON lines of a run with this message.
fn lines_with_message(lines: &[LogLine], message: &str) -> Vec<Value> {
    lines
        .iter()
        .filter(|l| l.message().as_deref() == Some(message))
        .filter_map(LogLine::json)
        .collect()
}

fn number(value: &Value) -> Option<f64> {
    value
        .as_f64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs built function binaries: scripts/lambda-e2e.sh"]
async fn every_invocation_logs_one_summary_line() {
    for finished in all_scenarios().await {
        for run in &finished.runs {
            for invocation in run.emulator.invocations() {
                let lines = run.emulator.lines_during(&invocation);
                let summaries = lines_with_message(&lines, "invocation summary");
                let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
                assert_eq!(
                    summaries.len(),
                    1,
                    "{}: invocation {}\n{texts:#?}",
                    run.name,
                    invocation.request_id
                );
                let summary = &summaries[0];
                assert_eq!(summary["level"], "INFO", "{summary}");
                let fields = &summary["fields"];
                assert!(fields["outcome"].is_string(), "{}: {summary}", run.name);
                assert!(
                    number(&fields["duration_ms"]).is_some(),
                    "{}: {summary}",
                    run.name
                );
                if run.scheduled {
                    assert!(fields["run_id"].is_string(), "{}: {summary}", run.name);
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs built function binaries: scripts/lambda-e2e.sh"]
async fn every_line_of_a_scheduled_run_carries_its_run_id() {
    for finished in all_scenarios().await {
        for run in finished.runs.iter().filter(|r| r.scheduled) {
            for invocation in run.emulator.invocations() {
                let run_ids: Vec<String> = run
                    .emulator
                    .lines_during(&invocation)
                    .iter()
                    .filter(|l| !is_metric(l) && !is_runtime_error_report(l))
                    .map(|l| {
                        let v = l.json().unwrap_or(Value::Null);
                        // On the event, or on any span it was logged in.
                        let found = std::iter::once(&v["fields"]["run_id"])
                            .chain(
                                v["spans"]
                                    .as_array()
                                    .into_iter()
                                    .flatten()
                                    .map(|s| &s["run_id"]),
                            )
                            .chain(std::iter::once(&v["span"]["run_id"]))
                            .find_map(|id| id.as_str().map(str::to_owned));
                        found.unwrap_or_else(|| {
                            panic!("{}: a line without run_id: {}", run.name, l.text)
                        })
                    })
                    .collect();
                assert!(!run_ids.is_empty(), "{} logged nothing", run.name);
                assert!(
                    run_ids.iter().all(|id| *id == run_ids[0]),
                    "{}: one run_id per run: {run_ids:?}",
                    run.name
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs built function binaries: scripts/lambda-e2e.sh"]
async fn every_cold_start_logs_one_cold_start_complete_line() {
    for finished in all_scenarios().await {
        for run in &finished.runs {
            let lines = run.emulator.logs();
            let complete = lines_with_message(&lines, "cold start complete");
            assert_eq!(
                complete.len(),
                1,
                "{}\n{}",
                run.name,
                run.emulator.log_text()
            );
            let line = &complete[0];
            assert_eq!(line["level"], "INFO", "{line}");
            let total = number(&line["fields"]["total_ms"])
                .unwrap_or_else(|| panic!("{}: total_ms: {line}", run.name));
            let init_ms = run
                .emulator
                .init_time()
                .expect("init completed")
                .as_secs_f64()
                * 1000.0;
            // Measured inside the process, so never longer than spawn → first poll.
            assert!(
                total <= init_ms + 1.0,
                "{}: {total} ms > {init_ms} ms",
                run.name
            );
            for phase in ["secret_ms", "database_ms"] {
                if let Some(ms) = line["fields"].get(phase) {
                    assert!(
                        number(ms).is_some_and(|ms| ms <= total),
                        "{}: {line}",
                        run.name
                    );
                }
            }
        }
    }
}
