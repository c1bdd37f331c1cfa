//! A whole privileged-grant review on a fresh database with fake Axiom, Slack and OpenAI:
//! `world.audit_event(..)`, `world.run_review()`, then assert on the cards and review events.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secops_shared::connectors::axiom::{AxiomClient, AxiomConfig};
use secops_shared::connectors::openai::{OpenAiClient, OpenAiConfig};
use secops_shared::drift::dry_run::NoModel;
use secops_shared::http;
use secops_shared::review::adapters::AxiomReviewLog;
use secops_shared::review::risk::RiskConfig;
use secops_shared::review::source::Preset;
use secops_shared::review::store::ReviewStore;
use secops_shared::review::workflow::{
    ReviewDeps, ReviewError, ReviewReport, ReviewSettings, run_review,
};
use secops_shared::secrets::{Credentials, SecretStore};
use secops_shared::slack::client::{SlackClient, SlackConfig};
use secops_shared::telemetry::MetricsSink;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::db::TestDb;
use crate::drift::{MODEL, fast_retry};
use crate::fake_axiom::FakeAxiom;
use crate::fake_openai::FakeOpenAi;
use crate::fake_slack::FakeSlack;

pub const AUDIT_DATASET: &str = "audit";
pub const REVIEW_DATASET: &str = "secops-reviews";
pub const REVIEW_CHANNEL: &str = "C0REVIEW";

pub fn settings() -> ReviewSettings {
    ReviewSettings {
        source: Preset::Generic.source(AUDIT_DATASET),
        risk: RiskConfig::default(),
        ingest_lag: chrono::Duration::minutes(10),
        query_delay: chrono::Duration::minutes(1),
        initial_lookback: chrono::Duration::hours(1),
        history: chrono::Duration::days(30),
        review_channel: REVIEW_CHANNEL.to_owned(),
        llm_concurrency: 4,
        max_tasks_per_run: 200,
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
}

impl ReviewWorld {
    pub async fn new() -> Self {
        let db = TestDb::create().await;
        let store = ReviewStore::new(db.client().await);
        let axiom = FakeAxiom::start().await;
        axiom.add_events(AUDIT_DATASET, vec![]);
        axiom.add_events(REVIEW_DATASET, vec![]);
        let slack = FakeSlack::start().await;
        slack.add_channel(REVIEW_CHANNEL);
        let openai = FakeOpenAi::start().await;
        let secrets = Arc::new(SecretStore::fixed(Credentials {
            axiom_token: Some(SecretString::from("xaat-test-token")),
            slack_bot_token: Some(SecretString::from("xoxb-test-token")),
            openai_api_key: Some(SecretString::from("sk-test-key")),
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
                api_base: slack.api_base(),
                retry: fast_retry(),
                ..SlackConfig::default()
            },
        );
        let llm = OpenAiClient::new(
            client,
            secrets,
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
            settings: &self.settings,
            deadline_margin: Duration::from_secs(1),
            metrics: MetricsSink::Off,
            metrics_namespace: "test",
        };
        run_review(&deps, now).await
    }

    pub async fn run_review_without_model_at(&self, now: DateTime<Utc>) -> ReviewReport {
        let deps = ReviewDeps::<_, _, _, NoModel> {
            store: &self.store,
            source: &self.source,
            log: &self.log,
            chat: &self.chat,
            llm: None,
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
