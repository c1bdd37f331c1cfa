//! A whole privileged-grant review on a fresh database with fake Axiom, Slack and OpenAI:
//! `world.audit_event(..)`, `world.run_review()`, then assert on the cards and review events.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use secops_shared::connectors::axiom::{AxiomClient, AxiomConfig};
use secops_shared::connectors::eventbridge::InMemoryPublisher;
use secops_shared::connectors::openai::{OpenAiClient, OpenAiConfig};
use secops_shared::connectors::webhook::{WebhookConfig, WebhookSender};
use secops_shared::credential_scope::Function;
use secops_shared::db::Database;
use secops_shared::drift::dry_run::NoModel;
use secops_shared::http;
use secops_shared::review::adapters::AxiomReviewLog;
use secops_shared::review::decision::ReviewerPolicy;
use secops_shared::review::ports::NoWebhook;
use secops_shared::review::risk::RiskConfig;
use secops_shared::review::source::Preset;
use secops_shared::review::store::ReviewStore;
use secops_shared::review::workflow::{DrainReport, Outbox};
use secops_shared::review::workflow::{
    ReviewDeps, ReviewError, ReviewReport, ReviewSettings, run_review,
};
use secops_shared::rotation::clicks::RotationClicks;
use secops_shared::secrets::{Credentials, SecretStore};
use secops_shared::slack::client::{SlackClient, SlackConfig};
use secops_shared::slack::interaction::click_body;
use secops_shared::slack::signature::sign;
use secops_shared::slack::workspace::HomeWorkspace;
use secops_shared::slack_router::{InteractionDeps, Reply, ReviewClicks, handle_request};
use secops_shared::telemetry::MetricsSink;
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db::TestDb;
use crate::drift::{MODEL, fast_retry};
use crate::fake_axiom::FakeAxiom;
use crate::fake_openai::FakeOpenAi;
use crate::fake_slack::FakeSlack;

pub const AUDIT_DATASET: &str = "audit";
pub const REVIEW_DATASET: &str = "secops-reviews";
pub const REVIEW_CHANNEL: &str = "C0REVIEW";
pub const ESCALATION_CHANNEL: &str = "C0ESCALATE";
pub const SIGNING_SECRET: &str = "slack-signing-secret-for-tests";
pub const WEBHOOK_SECRET: &str = "webhook-secret-for-tests";
pub const REVIEWERS: &str = "S0REVIEWERS";
pub const ESCALATION: &str = "S0ESCALATION";

pub fn settings() -> ReviewSettings {
    ReviewSettings {
        source: Preset::Generic.source(AUDIT_DATASET),
        risk: RiskConfig::default(),
        ingest_lag: chrono::Duration::minutes(10),
        late_window: chrono::Duration::hours(24),
        query_delay: chrono::Duration::minutes(1),
        initial_lookback: chrono::Duration::hours(1),
        history: chrono::Duration::days(30),
        review_channel: REVIEW_CHANNEL.to_owned(),
        llm_concurrency: 4,
        max_tasks_per_run: 200,
        domain_aliases: Default::default(),
    }
}

pub struct ReviewWorld {
    pub db: TestDb,
    pub store: ReviewStore,
    pub axiom: FakeAxiom,
    pub slack: FakeSlack,
    pub openai: FakeOpenAi,
    pub source: AxiomClient,
    pub log: AxiomReviewLog,
    pub chat: SlackClient,
    pub llm: OpenAiClient,
    pub settings: ReviewSettings,
    pub secrets: Arc<SecretStore>,
}

impl ReviewWorld {
    pub async fn new() -> Self {
        let db = TestDb::create_for(Function::PrivilegedGrantReview).await;
        let store = ReviewStore::new(&Database::new(db.client().await));
        let axiom = FakeAxiom::start().await;
        axiom.add_events(AUDIT_DATASET, vec![]);
        axiom.add_events(REVIEW_DATASET, vec![]);
        let slack = FakeSlack::start().await;
        slack.add_channel(REVIEW_CHANNEL);
        slack.add_channel(ESCALATION_CHANNEL);
        let openai = FakeOpenAi::start().await;
        let secrets = Arc::new(SecretStore::fixed(Credentials {
            axiom_token: Some(SecretString::from("xaat-test-token")),
            slack_bot_token: Some(SecretString::from("xoxb-test-token")),
            openai_api_key: Some(SecretString::from("sk-test-key")),
            slack_signing_secret: Some(SecretString::from(SIGNING_SECRET)),
            review_webhook_secret: Some(SecretString::from(WEBHOOK_SECRET)),
            ..Credentials::default()
        }));
        let client = http::build_client(Duration::from_secs(5));
        let axiom_config = AxiomConfig {
            edge: Some(false),
            retry: fast_retry(),
            ..AxiomConfig::new(axiom.url())
        };
        let source = AxiomClient::new(client.clone(), secrets.clone(), axiom_config.clone());
        let log = AxiomReviewLog {
            client: AxiomClient::new(client.clone(), secrets.clone(), axiom_config),
            dataset: REVIEW_DATASET.to_owned(),
        };
        let chat = SlackClient::new(
            client.clone(),
            secrets.clone(),
            SlackConfig {
                base_url: slack.api_base(),
                retry: fast_retry(),
                ..SlackConfig::default()
            },
        );
        let llm = OpenAiClient::new(
            client,
            secrets.clone(),
            OpenAiConfig {
                base_url: openai.base_url(),
                model: MODEL.to_owned(),
                timeout: Duration::from_secs(2),
                retry: fast_retry(),
            },
        );
        Self {
            db,
            store,
            axiom,
            slack,
            openai,
            source,
            log,
            chat,
            llm,
            settings: settings(),
            secrets,
        }
    }

    /// A privileged grant lands in the audit dataset.
    pub fn audit_event(
        &self,
        id: &str,
        time: DateTime<Utc>,
        grantor: &str,
        grantee: &str,
        role: &str,
    ) {
        self.axiom.add_events(
            AUDIT_DATASET,
            vec![json!({
                "_time": time.to_rfc3339(),
                "event_type": "privileged_grant",
                "event_id": id,
                "grantor": grantor,
                "grantee": grantee,
                "role": role,
                "target": "okta",
                "source": "okta",
            })],
        );
    }

    /// The model's next answers.
    pub async fn model_says(&self, level: &str, score: u8, reason: &str) {
        self.openai
            .answers_with(json!({"level": level, "score": score, "reasons": [reason]}))
            .await;
    }

    pub async fn run_review_at(&self, now: DateTime<Utc>) -> Result<ReviewReport, ReviewError> {
        let deps = ReviewDeps {
            store: &self.store,
            source: &self.source,
            log: &self.log,
            chat: &self.chat,
            llm: Some(&self.llm),
            webhook: None::<&NoWebhook>,
            settings: &self.settings,
            deadline_margin: Duration::from_secs(1),
            metrics: MetricsSink::Off,
            metrics_namespace: "test",
        };
        run_review(&deps, now).await
    }

    pub async fn run_review_without_model_at(&self, now: DateTime<Utc>) -> ReviewReport {
        let deps = ReviewDeps::<_, _, _, NoModel, NoWebhook> {
            store: &self.store,
            source: &self.source,
            log: &self.log,
            chat: &self.chat,
            llm: None,
            webhook: None,
            settings: &self.settings,
            deadline_margin: Duration::from_secs(1),
            metrics: MetricsSink::Off,
            metrics_namespace: "test",
        };
        run_review(&deps, now)
            .await
            .expect("the review run succeeds")
    }

    /// Review events written back to Axiom.
    pub fn review_events(&self) -> Vec<Value> {
        self.axiom.events(REVIEW_DATASET)
    }

    /// Cards posted in the review channel.
    pub fn cards(&self) -> Vec<crate::fake_slack::FakeMessage> {
        self.slack
            .messages()
            .into_iter()
            .filter(|m| m.channel == REVIEW_CHANNEL)
            .collect()
    }
}

/// Everything a reviewer's click touches: the interactivity endpoint, the event bus, the
/// worker and the webhook receiver.
pub struct DecisionWorld {
    pub review: ReviewWorld,
    pub bus: InMemoryPublisher,
    pub receiver: wiremock::MockServer,
    pub webhook: WebhookSender,
    pub policy: ReviewerPolicy,
    /// The workspace the endpoint serves (the fake Slack's).
    pub workspace: HomeWorkspace,
}

/// The fake Slack's workspace, as `SLACK_TEAM_ID` would name it.
pub fn home_workspace() -> HomeWorkspace {
    HomeWorkspace {
        team_ids: vec![crate::fake_slack::HOME_TEAM.to_owned()],
        enterprise_id: None,
    }
}

impl DecisionWorld {
    pub async fn new() -> Self {
        Self::in_timezone(chrono_tz::UTC).await
    }

    /// Reviewers who read times in `timezone` (`REVIEW_TIMEZONE`).
    pub async fn in_timezone(timezone: chrono_tz::Tz) -> Self {
        let mut review = ReviewWorld::new().await;
        review.settings.risk.timezone = timezone;
        review.slack.set_usergroup(REVIEWERS, &["U0ANNA", "U0BOB"]);
        review.slack.set_usergroup(ESCALATION, &["U0CISO"]);
        review
            .slack
            .set_user("U0ANNA", "anna", Some("anna@example.com"));
        review
            .slack
            .set_user("U0BOB", "bob", Some("bob@example.com"));
        review
            .slack
            .set_user("U0CISO", "ciso", Some("ciso@example.com"));
        review
            .slack
            .set_user("U0EVE", "eve", Some("eve@example.com"));
        let receiver = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .respond_with(wiremock::ResponseTemplate::new(204))
            .mount(&receiver)
            .await;
        let webhook = WebhookSender::new(
            http::build_client(Duration::from_secs(5)),
            review.secrets.clone(),
            WebhookConfig {
                url: format!("{}/hooks/review", receiver.uri()),
                retry: fast_retry(),
            },
        );
        Self {
            review,
            bus: InMemoryPublisher::new(),
            receiver,
            webhook,
            policy: ReviewerPolicy {
                reviewer_groups: vec![REVIEWERS.to_owned()],
                reviewer_allowlist: vec![],
                escalation_groups: vec![ESCALATION.to_owned()],
                escalation_channel: Some(ESCALATION_CHANNEL.to_owned()),
                webhook_enabled: true,
                timezone,
                domain_aliases: Default::default(),
            },
            workspace: home_workspace(),
        }
    }

    /// A medium-risk grant to `grantee`, reviewed: its card is in the review channel.
    pub async fn card_awaiting_review(&self, grantee: &str) -> (Uuid, String) {
        self.card_awaiting_review_from("alice@example.com", grantee)
            .await
    }

    /// A medium-risk grant by `grantor` to `grantee`, reviewed: its card is in the review channel.
    pub async fn card_awaiting_review_from(&self, grantor: &str, grantee: &str) -> (Uuid, String) {
        // A Wednesday morning: business hours, so the level does not depend on when tests run.
        let t = Utc.with_ymd_and_hms(2026, 11, 18, 10, 0, 0).unwrap();
        self.review
            .audit_event("e1", t, grantor, grantee, "Break-Glass Admin");
        self.review.model_says("medium", 60, "break-glass").await;
        let report = self
            .review
            .run_review_at(t + chrono::Duration::minutes(10))
            .await
            .unwrap();
        assert_eq!(report.sent_for_review, 1);
        let card = self.review.cards().pop().expect("a card was posted");
        let blocks = card.blocks.to_string();
        let start = blocks.find("\"value\":\"").unwrap() + 9;
        let id = Uuid::parse_str(&blocks[start..start + 36]).unwrap();
        (id, card.ts)
    }

    /// A signed click as Slack would send it; returns the HTTP status.
    pub async fn click(
        &self,
        user: &str,
        action_id: &str,
        review_id: Uuid,
        channel: &str,
        ts: &str,
    ) -> u16 {
        self.click_signed_with(SIGNING_SECRET, user, action_id, review_id, channel, ts)
            .await
    }

    /// A click signed with `signing_secret` (Slack's, which may not be the one we hold).
    pub async fn click_signed_with(
        &self,
        signing_secret: &str,
        user: &str,
        action_id: &str,
        review_id: Uuid,
        channel: &str,
        ts: &str,
    ) -> u16 {
        let body = click_body(
            user,
            action_id,
            &review_id.to_string(),
            channel,
            ts,
            &self.review.slack.response_url(user),
        );
        let now = Utc::now();
        let signature = sign(signing_secret, now.timestamp(), body.as_bytes());
        self.send(
            &now.timestamp().to_string(),
            &signature,
            body.as_bytes(),
            now,
        )
        .await
        .status
    }

    pub async fn send(
        &self,
        timestamp: &str,
        signature: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Reply {
        let deps = InteractionDeps {
            secrets: &self.review.secrets,
            workspace: &self.workspace,
            replies: &self.review.chat,
            review: Some(ReviewClicks {
                store: &self.review.store,
                directory: &self.review.chat,
                bus: &self.bus,
                policy: &self.policy,
                review_channel: REVIEW_CHANNEL,
            }),
            rotation: None::<RotationClicks<'_, SlackClient>>,
        };
        handle_request(&deps, Some(timestamp), Some(signature), body, now).await
    }

    /// The worker, woken by the bus: performs every pending follow-up.
    pub async fn run_worker(&self) -> DrainReport {
        self.run_worker_with(&self.review.store).await
    }

    /// The worker on its own database connection (as a second Lambda instance would be).
    pub async fn run_worker_with(&self, store: &ReviewStore) -> DrainReport {
        Outbox {
            store,
            log: &self.review.log,
            chat: &self.review.chat,
            webhook: Some(&self.webhook),
            max_tasks: 100,
            deadline_margin: Duration::from_secs(1),
        }
        .drain()
        .await
        .expect("the outbox drains")
    }

    /// Ephemeral replies Slack received for a user.
    pub fn told(&self, user: &str) -> Vec<String> {
        self.review
            .slack
            .responses()
            .into_iter()
            .filter(|(path, _)| path.ends_with(user))
            .map(|(_, body)| body["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    pub async fn webhook_deliveries(&self) -> Vec<wiremock::Request> {
        self.receiver.received_requests().await.unwrap_or_default()
    }
}
