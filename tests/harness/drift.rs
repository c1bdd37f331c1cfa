//! A whole drift audit on a fresh database with fake Linear and OpenAI: `world.inventory(..)`,
//! `world.run_drift()`, then assert on the issues Linear holds.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secops_shared::config::LlmSettings;
use secops_shared::connectors::linear::{LinearClient, LinearConfig};
use secops_shared::connectors::openai::{OpenAiClient, OpenAiConfig};
use secops_shared::credential_scope::Function;
use secops_shared::drift::config::DriftSettings;
use secops_shared::drift::dry_run::NoModel;
use secops_shared::drift::inventory::InventoryGrant;
use secops_shared::drift::pg_store::PgStore;
use secops_shared::drift::store::DriftStore;
use secops_shared::drift::workflow::{DriftDeps, DriftError, RunReport, run_drift};
use secops_shared::http::{self, RetryPolicy};
use secops_shared::secrets::{Credentials, SecretStore};
use secops_shared::telemetry::MetricsSink;
use secrecy::SecretString;

use crate::db::TestDb;
use crate::fake_linear::FakeLinear;
use crate::fake_openai::FakeOpenAi;

pub const TEAM_ID: &str = "team-sec";
pub const MODEL: &str = "test-model";

/// Fast retries: tests exercise the policy, not the clock.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        // Also the longest server-requested wait accepted: the fake's reset is 20 ms away.
        max_delay: Duration::from_secs(1),
    }
}

pub fn settings() -> DriftSettings {
    DriftSettings {
        linear_api_url: String::new(),
        linear_team_id: Some(TEAM_ID.to_owned()),
        linear_project_id: None,
        llm: LlmSettings {
            base_url: String::new(),
            model: Some(MODEL.to_owned()),
            concurrency: 4,
            timeout: Duration::from_secs(2),
        },
        group_threshold: 10,
        max_revoked_percent: 50,
        max_inventory_age_hours: Some(36),
        max_filings_per_run: 200,
    }
}

pub struct DriftWorld {
    pub db: TestDb,
    pub store: PgStore,
    pub linear: FakeLinear,
    pub openai: FakeOpenAi,
    pub tracker: LinearClient,
    pub llm: OpenAiClient,
    pub settings: DriftSettings,
}

impl DriftWorld {
    pub async fn new() -> Self {
        let db = TestDb::create_for(Function::OAuthDrift).await;
        let store = db.store().await;
        let linear = FakeLinear::start().await;
        let openai = FakeOpenAi::start().await;
        let secrets = Arc::new(SecretStore::fixed(Credentials {
            database_url: Some(SecretString::from(db.url.clone())),
            linear_api_key: Some(SecretString::from("lin_api_test_key")),
            openai_api_key: Some(SecretString::from("sk-test-key")),
            ..Credentials::default()
        }));
        let client = http::build_client(Duration::from_secs(5));
        let tracker = LinearClient::new(
            client.clone(),
            secrets.clone(),
            LinearConfig {
                base_url: linear.url(),
                team_id: TEAM_ID.to_owned(),
                project_id: None,
                retry: fast_retry(),
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
            linear,
            openai,
            tracker,
            llm,
            settings: settings(),
        }
    }

    /// Today's inventory, as a sync job would leave it.
    pub async fn inventory(&self, grants: Vec<InventoryGrant>) {
        self.store
            .replace_inventory(&grants)
            .await
            .expect("inventory written");
    }

    /// One audit run with the model.
    pub async fn run_drift(&self) -> RunReport {
        self.try_run_drift().await.expect("the drift run succeeds")
    }

    pub async fn try_run_drift(&self) -> Result<RunReport, DriftError> {
        self.run_with(&self.store, Some(&self.llm), Utc::now())
            .await
    }

    /// One audit run without any model configured.
    pub async fn run_drift_without_model(&self) -> RunReport {
        self.run_with::<_, NoModel>(&self.store, None, Utc::now())
            .await
            .expect("the drift run succeeds")
    }

    /// A run with any store (for fault injection) and model.
    pub async fn run_with<S: DriftStore, L: secops_shared::connectors::llm::StructuredLlm>(
        &self,
        store: &S,
        llm: Option<&L>,
        now: DateTime<Utc>,
    ) -> Result<RunReport, DriftError> {
        let deps = DriftDeps {
            store,
            tracker: &self.tracker,
            llm,
            settings: &self.settings,
            deadline_margin: Duration::from_secs(1),
            metrics: MetricsSink::Off,
            metrics_namespace: "test",
        };
        run_drift(&deps, now).await
    }
}

/// A well-formed model answer.
pub fn model_answer() -> serde_json::Value {
    serde_json::json!({
        "capabilities": "The app can read and send all of the user's mail.",
        "questions": ["What is it for?", "Why full mail access?"],
        "consequence": "Without an answer the grant may be revoked."
    })
}
