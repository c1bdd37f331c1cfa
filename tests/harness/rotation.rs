//! A rotation campaign on a fresh database with a fake Slack: load consumers from CSV text,
//! run sweeps at chosen moments, click the nudges' buttons as signed Slack requests through the
//! real interactivity endpoint, and read back messages, digests and rows.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use secops_shared::connectors::eventbridge::InMemoryPublisher;
use secops_shared::credential_scope::Function;
use secops_shared::db::Database;
use secops_shared::http;
use secops_shared::review::decision::ReviewerPolicy;
use secops_shared::review::store::ReviewStore;
use secops_shared::rotation::clicks::{
    ClickSettings, ConfirmPolicy, RotationClicks, SNOOZE_FORM, snooze_form_context,
    snooze_form_values,
};
use secops_shared::rotation::consumer::{parse_campaigns, parse_consumers};
use secops_shared::rotation::ports::RotationChat;
use secops_shared::rotation::store::{self, ImportSummary, RotationStore};
use secops_shared::rotation::workflow::{
    SweepDeps, SweepReport, SweepSettings, run_for_input, run_sweep,
};
use secops_shared::secrets::{Credentials, SecretStore};
use secops_shared::slack::client::{SlackClient, SlackConfig};
use secops_shared::slack::interaction::click_body;
use secops_shared::slack::interaction::view_submission_body;
use secops_shared::slack::signature::sign;
use secops_shared::slack_router::{
    InteractionDeps, Reply, ReviewClicks, RouterWorkflows, handle_request,
};
use secops_shared::telemetry::MetricsSink;
use secrecy::SecretString;

use crate::db::TestDb;
use crate::drift::fast_retry;
use crate::fake_slack::{FakeMessage, FakeSlack};

pub const SIGNING_SECRET: &str = "slack-signing-secret-for-tests";
pub const SECURITY_LEAD: &str = "U0SECLEAD";
pub const SECURITY_GROUP: &str = "S0SECURITY";
pub const DIGEST_CHANNEL: &str = "C0SECDIGEST";
pub const CAMPAIGNS_HEADER: &str = "campaign,retired_key,replacement_key,deadline\n";
pub const CONSUMERS_HEADER: &str =
    "campaign,consumer,team,channel,team_lead,deadline,status,exempt_reason,exempt_until\n";

/// 09:00 UTC on a date (2026-11-23 is a Monday).
pub fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

pub fn monday() -> DateTime<Utc> {
    at(2026, 11, 23, 9)
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub struct RotationWorld {
    pub db: TestDb,
    /// Owns the connection both stores share, as in the interactivity function.
    pub review_store: ReviewStore,
    pub slack: FakeSlack,
    pub chat: SlackClient,
    pub secrets: Arc<SecretStore>,
    pub settings: SweepSettings,
    pub clicks: ClickSettings,
}

impl RotationWorld {
    pub async fn new() -> Self {
        let db = TestDb::create_for(Function::RotationChaser).await;
        let review_store = ReviewStore::new(&Database::new(db.client().await));
        let slack = FakeSlack::start().await;
        slack.add_channel(DIGEST_CHANNEL);
        let secrets = Arc::new(SecretStore::fixed(Credentials {
            slack_bot_token: Some(SecretString::from("xoxb-test-token")),
            slack_signing_secret: Some(SecretString::from(SIGNING_SECRET)),
            ..Credentials::default()
        }));
        let chat = SlackClient::new(
            http::build_client(Duration::from_secs(5)),
            secrets.clone(),
            SlackConfig {
                base_url: slack.api_base(),
                retry: fast_retry(),
                ..SlackConfig::default()
            },
        );
        Self {
            db,
            review_store,
            slack,
            chat,
            secrets,
            settings: SweepSettings {
                security_lead: Some(SECURITY_LEAD.to_owned()),
                digest_to: Some(DIGEST_CHANNEL.to_owned()),
                channel_spacing: Duration::ZERO,
                ..SweepSettings::default()
            },
            clicks: ClickSettings {
                policy: ConfirmPolicy {
                    team_channel: true,
                    security_groups: vec![SECURITY_GROUP.to_owned()],
                },
                ..ClickSettings::default()
            },
        }
    }

    pub fn store(&self) -> RotationStore<'_> {
        RotationStore::new(self.review_store.connection())
    }

    /// Import campaign and consumer rows (headers added here).
    pub async fn try_load(
        &self,
        campaigns: &str,
        consumers: &str,
        now: DateTime<Utc>,
    ) -> Result<ImportSummary, String> {
        let campaigns = parse_campaigns("campaigns.csv", &format!("{CAMPAIGNS_HEADER}{campaigns}"))
            .map_err(|e| e.to_string())?;
        let consumers = parse_consumers("consumers.csv", &format!("{CONSUMERS_HEADER}{consumers}"))
            .map_err(|e| e.to_string())?;
        let mut client = self.review_store.connection().lock().await;
        store::import(&mut client, "consumers.csv", &campaigns, &consumers, now)
            .await
            .map_err(|e| e.to_string())
    }

    pub async fn load(&self, campaigns: &str, consumers: &str) -> ImportSummary {
        self.try_load(campaigns, consumers, monday()).await.unwrap()
    }

    pub async fn sweep(&self, now: DateTime<Utc>) -> SweepReport {
        self.sweep_with(&self.chat, now).await
    }

    pub async fn sweep_with<C: RotationChat>(&self, chat: &C, now: DateTime<Utc>) -> SweepReport {
        let deps = SweepDeps {
            store: self.store(),
            chat,
            settings: &self.settings,
            metrics: MetricsSink::Off,
            metrics_namespace: "test",
        };
        run_sweep(&deps, now).await.expect("the sweep runs")
    }

    /// A sweep killed once Slack has taken `answered` + 1 messages: the last one is posted but
    /// its answer never comes back, as when Lambda times out or the process dies right then.
    pub async fn sweep_killed_after(&self, answered: usize, now: DateTime<Utc>) {
        let chat = CutOffChat {
            chat: &self.chat,
            answered,
            posts: std::sync::Mutex::new(0),
        };
        let cut =
            tokio::time::timeout(Duration::from_millis(500), self.sweep_with(&chat, now)).await;
        assert!(cut.is_err(), "the sweep was cut off");
    }

    /// A sweep as the scheduled function runs it for an invocation's input (`as_of` replays a
    /// day); the refusal's text when the input is refused.
    pub async fn sweep_input(
        &self,
        input: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<SweepReport, String> {
        let deps = SweepDeps {
            store: self.store(),
            chat: &self.chat,
            settings: &self.settings,
            metrics: MetricsSink::Off,
            metrics_namespace: "test",
        };
        run_for_input(&deps, now, input)
            .await
            .map_err(|e| e.to_string())
    }

    /// Team nudges (every message outside the digest channel), in posting order.
    pub fn nudges(&self) -> Vec<FakeMessage> {
        self.slack
            .messages()
            .into_iter()
            .filter(|m| m.channel != DIGEST_CHANNEL)
            .collect()
    }

    pub fn digests(&self) -> Vec<FakeMessage> {
        self.slack
            .messages()
            .into_iter()
            .filter(|m| m.channel == DIGEST_CHANNEL)
            .collect()
    }

    pub async fn consumer_id(&self, name: &str) -> i64 {
        let client = self.review_store.connection().lock().await;
        client
            .query_one(
                "SELECT consumer_id FROM rotation_consumers WHERE name = $1",
                &[&name],
            )
            .await
            .expect("the consumer exists")
            .get(0)
    }

    /// `(status, nudge_count)` of a consumer.
    pub async fn state(&self, name: &str) -> (String, i32) {
        let client = self.review_store.connection().lock().await;
        let row = client
            .query_one(
                "SELECT status, nudge_count FROM rotation_consumers WHERE name = $1",
                &[&name],
            )
            .await
            .expect("the consumer exists");
        (row.get(0), row.get(1))
    }

    /// Send a signed interactivity request through the real endpoint logic.
    pub async fn send(&self, body: &str, now: DateTime<Utc>) -> Reply {
        self.send_signed_with(SIGNING_SECRET, body, now).await
    }

    /// Send a request signed with `secret` (the right one or not).
    pub async fn send_signed_with(&self, secret: &str, body: &str, now: DateTime<Utc>) -> Reply {
        self.send_to(BOTH_WORKFLOWS, secret, body, now).await
    }

    /// Send a request to an endpoint serving only `serves` (`SLACK_ROUTER_WORKFLOWS`).
    pub async fn send_to(
        &self,
        serves: RouterWorkflows,
        secret: &str,
        body: &str,
        now: DateTime<Utc>,
    ) -> Reply {
        let timestamp = now.timestamp().to_string();
        let signature = sign(secret, now.timestamp(), body.as_bytes());
        let bus = InMemoryPublisher::new();
        let policy = ReviewerPolicy::default();
        let workspace = crate::review::home_workspace();
        let deps = InteractionDeps {
            secrets: &self.secrets,
            workspace: &workspace,
            replies: &self.chat,
            review: serves.review.then_some(ReviewClicks {
                store: &self.review_store,
                directory: &self.chat,
                bus: &bus,
                policy: &policy,
                review_channel: "C0REVIEW",
            }),
            rotation: serves.rotation.then(|| RotationClicks {
                store: self.store(),
                slack: &self.chat,
                settings: &self.clicks,
            }),
        };
        handle_request(
            &deps,
            Some(&timestamp),
            Some(&signature),
            body.as_bytes(),
            now,
        )
        .await
    }

    /// A click on a button of a posted nudge; the reply URL is named after the user.
    pub async fn click(
        &self,
        user: &str,
        action_id: &str,
        consumer: &str,
        message: &FakeMessage,
        now: DateTime<Utc>,
    ) -> Reply {
        self.click_on(BOTH_WORKFLOWS, user, action_id, consumer, message, now)
            .await
    }

    /// [`Self::click`] on an endpoint serving only `serves`.
    pub async fn click_on(
        &self,
        serves: RouterWorkflows,
        user: &str,
        action_id: &str,
        consumer: &str,
        message: &FakeMessage,
        now: DateTime<Utc>,
    ) -> Reply {
        let body = self.click_request(user, action_id, consumer, message).await;
        self.send_to(serves, SIGNING_SECRET, &body, now).await
    }

    /// The form body Slack sends for a click on a consumer's button of a posted nudge (the
    /// reply URL is named after the user).
    pub async fn click_request(
        &self,
        user: &str,
        action_id: &str,
        consumer: &str,
        message: &FakeMessage,
    ) -> String {
        let id = self.consumer_id(consumer).await.to_string();
        let body = click_body(
            user,
            action_id,
            &id,
            &message.channel,
            &message.ts,
            &self.slack.response_url(user),
        );
        // Slack sends the block id of the clicked block: the consumer's buttons as shown now.
        let block_id = block_of(message, &id);
        with_block_id(&body, &block_id)
    }

    /// Submit the snooze form for a consumer of a posted nudge.
    pub async fn submit_snooze(
        &self,
        user: &str,
        consumer: &str,
        message: &FakeMessage,
        reason: Option<&str>,
        days: Option<&str>,
        now: DateTime<Utc>,
    ) -> Reply {
        let id = self.consumer_id(consumer).await;
        let context = snooze_form_context(id, &message.channel, &message.ts);
        let body = view_submission_body(
            user,
            SNOOZE_FORM,
            &context,
            &snooze_form_values(reason, days),
        );
        self.send(&body, now).await
    }

    /// Ephemeral replies Slack received for a user.
    pub fn told(&self, user: &str) -> Vec<String> {
        self.slack
            .responses()
            .into_iter()
            .filter(|(path, _)| path.ends_with(user))
            .map(|(_, body)| body["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// The endpoint as deployed with both workflows (and as before `SLACK_ROUTER_WORKFLOWS`).
pub const BOTH_WORKFLOWS: RouterWorkflows = RouterWorkflows {
    review: true,
    rotation: true,
};

/// Posts through the fake Slack, then never answers after `answered` posts.
struct CutOffChat<'a> {
    chat: &'a SlackClient,
    answered: usize,
    posts: std::sync::Mutex<usize>,
}

impl RotationChat for CutOffChat<'_> {
    async fn post(
        &self,
        channel: &str,
        text: &str,
        blocks: &serde_json::Value,
    ) -> Result<secops_shared::ports::Posted, secops_shared::ports::PortError> {
        let result = RotationChat::post(self.chat, channel, text, blocks).await;
        let n = {
            let mut posts = self.posts.lock().unwrap_or_else(|e| e.into_inner());
            *posts += 1;
            *posts
        };
        if n > self.answered {
            std::future::pending::<()>().await;
        }
        result
    }
}

/// The block id of a consumer's buttons (or note) in a message as shown now; `rotation:<id>`
/// when the message does not list the consumer.
pub fn block_of(message: &FakeMessage, consumer_id: &str) -> String {
    let (_, blocks) = message.shown();
    let exact = format!("rotation:{consumer_id}");
    blocks
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["block_id"].as_str())
        .find(|id| *id == exact || id.starts_with(&format!("{exact}:")))
        .map_or(exact.clone(), str::to_owned)
}

/// A click body with the clicked action's `block_id` replaced.
fn with_block_id(body: &str, block_id: &str) -> String {
    let form: Vec<(String, String)> = serde_urlencoded::from_str(body).expect("a form body");
    let mut payload: serde_json::Value = serde_json::from_str(&form[0].1).expect("a JSON payload");
    payload["actions"][0]["block_id"] = serde_json::Value::from(block_id);
    serde_urlencoded::to_string([("payload", payload.to_string())]).expect("form-encodable")
}

/// All the text of a message as shown now.
pub fn shown_text(message: &FakeMessage) -> String {
    let (text, blocks) = message.shown();
    format!("{text}\n{blocks}")
}
