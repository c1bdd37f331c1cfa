//! A whole MR audit on a fresh database with fake GitLab, Linear, Confluence and Slack:
//! `world.deliver_merge(&mr)` through the real webhook logic, `world.run_worker()` as the audit
//! Lambda would, then assert on the Linear issue, the rows on the audit page and the messages.

use std::sync::{Arc, Mutex as SyncMutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use secops_shared::connectors::confluence::{ConfluenceClient, ConfluenceConfig};
use secops_shared::connectors::eventbridge::{BusEvent, InMemoryPublisher};
use secops_shared::connectors::gitlab::{GitLabClient, GitLabConfig};
use secops_shared::connectors::linear::{LinearClient, LinearConfig};
use secops_shared::credential_scope::Function;
use secops_shared::db::Database;
use secops_shared::http;
use secops_shared::mr_audit::adapters::{ConfluenceEvidence, LinearAudit};
use secops_shared::mr_audit::event::{LabelPattern, MERGE_REQUEST_HOOK};
use secops_shared::mr_audit::evidence::{AuditRow, header_row};
use secops_shared::mr_audit::hook::{HookDeps, HookReply, HookRequest, handle_hook};
use secops_shared::mr_audit::ports::EvidencePage;
use secops_shared::mr_audit::store::AuditStore;
use secops_shared::mr_audit::table::find_audit_table;
use secops_shared::mr_audit::workflow::{
    AuditDeps, AuditOutcome, AuditSettings, ChannelMap, audit_merge,
};
use secops_shared::ports::PortError;
use secops_shared::secrets::{Credentials, SecretStore};
use secops_shared::slack::client::{SlackClient, SlackConfig};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::Barrier;

use crate::db::TestDb;
use crate::drift::fast_retry;
use crate::fake_confluence::FakeConfluence;
use crate::fake_gitlab::{FakeGitLab, approvals_json, merge_request_json, user_json};
use crate::fake_linear::FakeLinear;
use crate::fake_slack::FakeSlack;

/// GitLab's own example merge request event (webhook_events.md, "Merge request events").
pub const DOCS_EXAMPLE: &str =
    include_str!("../../infra/events/gitlab-merge-request-docs-example.json");

pub const WEBHOOK_TOKEN: &str = "gitlab-webhook-token-current";
pub const PREVIOUS_WEBHOOK_TOKEN: &str = "gitlab-webhook-token-previous";

/// The documentation example's project.
pub const PROJECT_ID: u64 = 1;
pub const PROJECT_PATH: &str = "gitlabhq/gitlab-test";

pub const AUTHOR: (u64, &str) = (11, "alice");
pub const MERGER: (u64, &str) = (12, "bob");
pub const REVIEWER: (u64, &str) = (13, "carol");

pub const TEAM_ID: &str = "team-sec";
pub const TEAM_KEY: &str = "SEC";
pub const STATE_TODO: &str = "state-todo";
pub const STATE_IN_PROGRESS: &str = "state-in-progress";
pub const STATE_DONE: &str = "state-done";
/// A label tracking issues carry before the audit (it must survive the close).
pub const EXISTING_LABEL: &str = "security-review";
pub const AUDITED_LABEL: &str = "audited";

pub const SPACE: &str = "65537";
pub const HOME_PAGE: &str = "100";
pub const AUDIT_PAGE: &str = "200";
pub const AUDIT_TITLE: &str = "Security review audit";
pub const AUDIT_INTRO: &str =
    "<p>Evidence that every security change was reviewed before it shipped.</p>";

/// The reviewer pod's channel for `security::crypto` MRs.
pub const CRYPTO_CHANNEL: &str = "C0CRYPTOPOD";
pub const DEFAULT_CHANNEL: &str = "C0SECREVIEW";
pub const SECURITY_CHANNEL: &str = "C0SECALERTS";

/// A merged MR as both the webhook delivery and GitLab's REST API describe it.
#[derive(Debug, Clone)]
pub struct MergedMr {
    pub iid: u64,
    pub title: String,
    pub description: String,
    pub labels: Vec<String>,
    pub author: (u64, &'static str),
    pub merged_by: (u64, &'static str),
    pub approvers: Vec<(u64, &'static str)>,
    pub approvals_required: u32,
    pub approvals_left: u32,
    /// The source branch (GitLab's fake names one after the author when unset).
    pub source_branch: Option<String>,
}

impl MergedMr {
    /// A `security::crypto` MR by alice, approved by carol, merged by bob.
    pub fn security(iid: u64, title: &str) -> Self {
        Self {
            iid,
            title: title.to_owned(),
            description: String::new(),
            labels: vec!["security::crypto".to_owned()],
            author: AUTHOR,
            merged_by: MERGER,
            approvers: vec![REVIEWER],
            approvals_required: 1,
            approvals_left: 0,
            source_branch: None,
        }
    }

    pub fn on_branch(mut self, branch: &str) -> Self {
        self.source_branch = Some(branch.to_owned());
        self
    }

    pub fn described(mut self, description: &str) -> Self {
        self.description = description.to_owned();
        self
    }

    pub fn labelled(mut self, labels: &[&str]) -> Self {
        self.labels = labels.iter().map(|l| (*l).to_owned()).collect();
        self
    }

    pub fn approved_by(
        mut self,
        approvers: &[(u64, &'static str)],
        required: u32,
        left: u32,
    ) -> Self {
        self.approvers = approvers.to_vec();
        self.approvals_required = required;
        self.approvals_left = left;
        self
    }

    /// `gitlabhq/gitlab-test!7`: the row's key on the audit page.
    pub fn reference(&self) -> String {
        format!("{PROJECT_PATH}!{}", self.iid)
    }

    pub fn merge_key(&self) -> String {
        format!("{PROJECT_ID}:{}", self.iid)
    }

    /// The `Idempotency-Key` GitLab sends with this delivery (and with its retries).
    pub fn delivery_id(&self) -> String {
        format!("delivery-{}-{}", PROJECT_ID, self.iid)
    }

    /// The documentation example turned into this MR's merge: action `merge`, state `merged`,
    /// this MR's iid, title, description and labels.
    pub fn webhook_body(&self) -> Vec<u8> {
        let mut event = docs_example();
        let template = event["object_attributes"]["labels"][0].clone();
        let labels: Vec<Value> = self
            .labels
            .iter()
            .enumerate()
            .map(|(i, title)| {
                let mut label = template.clone();
                label["id"] = json!(300 + i);
                label["title"] = json!(title);
                label
            })
            .collect();
        let attrs = &mut event["object_attributes"];
        attrs["id"] = json!(1000 + self.iid);
        attrs["iid"] = json!(self.iid);
        attrs["title"] = json!(self.title);
        attrs["description"] = json!(self.description);
        attrs["author_id"] = json!(self.author.0);
        attrs["state"] = json!("merged");
        attrs["action"] = json!("merge");
        attrs["merge_status"] = json!("can_be_merged");
        attrs["url"] = json!(format!(
            "http://example.com/{PROJECT_PATH}/-/merge_requests/{}",
            self.iid
        ));
        attrs["labels"] = json!(labels);
        if let Some(branch) = &self.source_branch {
            attrs["source_branch"] = json!(branch);
        }
        event["labels"] = json!(labels);
        event["user"] = user_json(self.merged_by);
        serde_json::to_vec(&event).expect("the event serialises")
    }

    /// An edit of this MR after it merged that changed its labels from `previous` to this MR's
    /// labels, as GitLab delivers it: action `update`, state `merged`, the new set in
    /// `object_attributes.labels` and `labels`, both sets in `changes.labels`, the editor in
    /// `user`.
    pub fn label_update_body(&self, previous: &[&str], editor: (u64, &str)) -> Vec<u8> {
        let mut event: Value =
            serde_json::from_slice(&self.webhook_body()).expect("the merge event is JSON");
        let template = docs_example()["object_attributes"]["labels"][0].clone();
        let before: Vec<Value> = previous
            .iter()
            .enumerate()
            .map(|(i, title)| {
                let mut label = template.clone();
                label["id"] = json!(500 + i);
                label["title"] = json!(title);
                label
            })
            .collect();
        event["object_attributes"]["action"] = json!("update");
        event["changes"] = json!({
            "labels": { "previous": before, "current": event["labels"].clone() },
            "updated_at": { "previous": "2026-03-02 14:30:00 UTC", "current": "2026-03-03 09:00:00 UTC" },
        });
        event["user"] = user_json(editor);
        serde_json::to_vec(&event).expect("the event serialises")
    }

    /// `GET /projects/:id/merge_requests/:iid` for this MR.
    pub fn api_json(&self) -> Value {
        let labels: Vec<&str> = self.labels.iter().map(String::as_str).collect();
        let mut mr = merge_request_json(
            PROJECT_ID,
            self.iid,
            &self.title,
            self.author,
            self.merged_by,
            &[REVIEWER],
            &labels,
        );
        mr["description"] = json!(self.description);
        if let Some(branch) = &self.source_branch {
            mr["source_branch"] = json!(branch);
        }
        // How GitLab names the MR: the documentation example's project.
        mr["references"]["full"] = json!(self.reference());
        mr["web_url"] = json!(format!(
            "https://gitlab.example.com/{PROJECT_PATH}/-/merge_requests/{}",
            self.iid
        ));
        mr
    }
}

/// The documentation example, parsed.
pub fn docs_example() -> Value {
    serde_json::from_str(DOCS_EXAMPLE).expect("the documentation example is JSON")
}

/// The headers of a delivery.
#[derive(Debug, Clone, Default)]
pub struct Headers {
    pub token: Option<String>,
    pub event: Option<String>,
    pub idempotency_key: Option<String>,
    pub event_uuid: Option<String>,
}

impl Headers {
    /// What GitLab sends for a merge request event: the current token, no delivery ids.
    pub fn gitlab() -> Self {
        Self {
            token: Some(WEBHOOK_TOKEN.to_owned()),
            event: Some(MERGE_REQUEST_HOOK.to_owned()),
            ..Self::default()
        }
    }

    pub fn token(mut self, token: Option<&str>) -> Self {
        self.token = token.map(str::to_owned);
        self
    }

    pub fn event(mut self, event: Option<&str>) -> Self {
        self.event = event.map(str::to_owned);
        self
    }

    pub fn idempotency_key(mut self, key: &str) -> Self {
        self.idempotency_key = Some(key.to_owned());
        self
    }

    pub fn event_uuid(mut self, uuid: &str) -> Self {
        self.event_uuid = Some(uuid.to_owned());
        self
    }
}

/// The reply's JSON body.
pub fn reply_json(reply: &HookReply) -> Value {
    serde_json::from_str(&reply.body).expect("the reply body is JSON")
}

pub fn audit_settings() -> AuditSettings {
    AuditSettings {
        team_keys: vec![TEAM_KEY.to_owned()],
        channels: ChannelMap {
            by_label: vec![(
                LabelPattern::new("security::crypto").expect("a valid pattern"),
                CRYPTO_CHANNEL.to_owned(),
            )],
            default_channel: DEFAULT_CHANNEL.to_owned(),
            security_channel: Some(SECURITY_CHANNEL.to_owned()),
        },
        lease: chrono::Duration::minutes(5),
        projects: None,
        max_closes: 10,
    }
}

pub struct MrAuditWorld {
    pub db: TestDb,
    /// The one connection the endpoint and the worker share, as in each Lambda.
    pub connection: Database,
    pub gitlab_fake: FakeGitLab,
    pub linear_fake: FakeLinear,
    pub confluence_fake: FakeConfluence,
    pub slack_fake: FakeSlack,
    pub secrets: Arc<SecretStore>,
    pub gitlab: GitLabClient,
    pub linear: LinearAudit,
    pub page: ConfluenceEvidence,
    pub slack: SlackClient,
    /// Where the endpoint hands merges over (EventBridge in Lambda).
    pub bus: InMemoryPublisher,
    pub labels: LabelPattern,
    pub settings: AuditSettings,
    /// Every bus event ever published, and how many of them the worker was given.
    woken: SyncMutex<(Vec<BusEvent>, usize)>,
}

impl MrAuditWorld {
    pub async fn new() -> Self {
        let db = TestDb::create_for(Function::MrAudit).await;
        let connection = Database::new(db.client().await);
        let gitlab_fake = FakeGitLab::start().await;
        let linear_fake = FakeLinear::start().await;
        let confluence_fake = FakeConfluence::start().await;
        let slack_fake = FakeSlack::start().await;

        linear_fake.add_team(TEAM_ID, TEAM_KEY);
        linear_fake.add_workflow_state(TEAM_ID, STATE_TODO, "Todo", "unstarted", 0.0);
        linear_fake.add_workflow_state(TEAM_ID, STATE_IN_PROGRESS, "In Progress", "started", 1.0);
        linear_fake.add_workflow_state(TEAM_ID, STATE_DONE, "Done", "completed", 2.0);
        linear_fake.add_label(EXISTING_LABEL, Some(TEAM_ID));

        confluence_fake.add_page(HOME_PAGE, SPACE, None, "Security", "<p>Security space</p>");
        confluence_fake.add_page(
            AUDIT_PAGE,
            SPACE,
            Some(HOME_PAGE),
            AUDIT_TITLE,
            &format!(
                "{AUDIT_INTRO}<table><tbody>{}</tbody></table>",
                header_row()
            ),
        );

        for channel in [CRYPTO_CHANNEL, DEFAULT_CHANNEL, SECURITY_CHANNEL] {
            slack_fake.add_channel(channel);
        }

        let secrets = Arc::new(SecretStore::fixed(Credentials {
            database_url: Some(SecretString::from(db.url.clone())),
            gitlab_token: Some(SecretString::from("glpat-test-token")),
            gitlab_webhook_token: Some(SecretString::from(WEBHOOK_TOKEN)),
            gitlab_webhook_token_previous: Some(SecretString::from(PREVIOUS_WEBHOOK_TOKEN)),
            linear_api_key: Some(SecretString::from("lin_api_test_key")),
            confluence_email: Some(SecretString::from("secops-bot@acme.example")),
            confluence_api_token: Some(SecretString::from("ATATT-test-token")),
            slack_bot_token: Some(SecretString::from("xoxb-test-token")),
            ..Credentials::default()
        }));
        let client = http::build_client(Duration::from_secs(5));
        let gitlab = GitLabClient::new(
            client.clone(),
            secrets.clone(),
            GitLabConfig {
                retry: fast_retry(),
                ..GitLabConfig::new(gitlab_fake.base_url())
            },
        );
        let linear = LinearAudit::new(
            LinearClient::new(
                client.clone(),
                secrets.clone(),
                LinearConfig {
                    base_url: linear_fake.url(),
                    team_id: TEAM_ID.to_owned(),
                    project_id: None,
                    retry: fast_retry(),
                },
            ),
            AUDITED_LABEL,
        );
        let page = ConfluenceEvidence {
            client: ConfluenceClient::new(
                client.clone(),
                secrets.clone(),
                ConfluenceConfig {
                    base_url: confluence_fake.base_url(),
                    retry: fast_retry(),
                },
            ),
            page_id: AUDIT_PAGE.to_owned(),
            max_page_chars: 400_000,
            max_attempts: 30,
        };
        let slack = SlackClient::new(
            client,
            secrets.clone(),
            SlackConfig {
                base_url: slack_fake.api_base(),
                retry: fast_retry(),
                ..SlackConfig::default()
            },
        );
        Self {
            db,
            connection,
            gitlab_fake,
            linear_fake,
            confluence_fake,
            slack_fake,
            secrets,
            gitlab,
            linear,
            page,
            slack,
            bus: InMemoryPublisher::new(),
            labels: LabelPattern::new("security::*").expect("a valid pattern"),
            settings: audit_settings(),
            woken: SyncMutex::new((Vec::new(), 0)),
        }
    }

    // --- GitLab and Linear as they are before the merge -------------------------------------

    /// GitLab knows this MR and its approvals.
    pub fn gitlab_has(&self, mr: &MergedMr) {
        self.gitlab_fake
            .add_merge_request(PROJECT_ID, mr.iid, mr.api_json());
        let approvals = approvals_json(&mr.approvers, mr.approvals_required, mr.approvals_left);
        self.gitlab_fake
            .set_approvals(PROJECT_ID, mr.iid, approvals);
    }

    /// `SEC-<number>`, in progress, carrying [`EXISTING_LABEL`]; returns its id.
    pub fn tracking_issue(&self, number: u64) -> String {
        let existing = self
            .linear_fake
            .labels()
            .into_iter()
            .find(|(_, name, _)| name == EXISTING_LABEL)
            .map(|(id, _, _)| id)
            .expect("the existing label was added");
        self.linear_fake.add_issue(
            TEAM_ID,
            number,
            &format!("Security review {number}"),
            STATE_IN_PROGRESS,
            &[&existing],
        )
    }

    // --- The webhook endpoint -----------------------------------------------------------------

    /// One delivery through the endpoint's logic.
    pub async fn deliver(&self, headers: &Headers, body: &[u8]) -> HookReply {
        let deps = HookDeps {
            secrets: &self.secrets,
            store: AuditStore::new(&self.connection),
            bus: &self.bus,
            labels: &self.labels,
            projects: self.settings.projects.as_ref(),
        };
        let request = HookRequest {
            token: headers.token.as_deref(),
            event: headers.event.as_deref(),
            idempotency_key: headers.idempotency_key.as_deref(),
            event_uuid: headers.event_uuid.as_deref(),
            body,
        };
        handle_hook(&deps, &request, Utc::now()).await
    }

    /// GitLab merges the MR and delivers the event (with its `Idempotency-Key`).
    pub async fn deliver_merge(&self, mr: &MergedMr) -> HookReply {
        self.gitlab_has(mr);
        let headers = Headers::gitlab().idempotency_key(&mr.delivery_id());
        self.deliver(&headers, &mr.webhook_body()).await
    }

    /// Someone changes the labels of this (merged) MR from `previous` to its labels; GitLab
    /// delivers the update with this `Idempotency-Key`.
    pub async fn deliver_label_update(
        &self,
        mr: &MergedMr,
        previous: &[&str],
        delivery: &str,
    ) -> HookReply {
        self.gitlab_has(mr);
        let headers = Headers::gitlab().idempotency_key(delivery);
        self.deliver(&headers, &mr.label_update_body(previous, REVIEWER))
            .await
    }

    /// Each MR merged and delivered at the same time, on tasks of their own.
    pub async fn deliver_concurrently(self: &Arc<Self>, mrs: &[MergedMr]) -> Vec<HookReply> {
        let tasks: Vec<_> = mrs
            .iter()
            .cloned()
            .map(|mr| {
                let world = Arc::clone(self);
                tokio::spawn(async move { world.deliver_merge(&mr).await })
            })
            .collect();
        let mut replies = Vec::new();
        for task in tasks {
            replies.push(task.await.expect("the delivery task finished"));
        }
        replies
    }

    /// Every event the endpoint has put on the bus so far.
    pub fn bus_events(&self) -> Vec<BusEvent> {
        let mut woken = self.woken();
        woken.0.extend(self.bus.take());
        woken.0.clone()
    }

    /// Merge keys put on the bus since the worker last ran.
    fn new_wakes(&self) -> Vec<String> {
        let mut woken = self.woken();
        woken.0.extend(self.bus.take());
        let fresh = woken.0[woken.1..]
            .iter()
            .filter_map(|e| e.detail["merge_key"].as_str().map(str::to_owned))
            .collect();
        woken.1 = woken.0.len();
        fresh
    }

    fn woken(&self) -> std::sync::MutexGuard<'_, (Vec<BusEvent>, usize)> {
        self.woken.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // --- The audit worker ---------------------------------------------------------------------

    /// Audit one merge.
    pub async fn audit(&self, merge_key: &str) -> AuditOutcome {
        self.audit_with(&self.page, merge_key).await
    }

    /// Audit one merge, writing its row through `page`.
    pub async fn audit_with<E: EvidencePage>(&self, page: &E, merge_key: &str) -> AuditOutcome {
        let deps = AuditDeps {
            store: AuditStore::new(&self.connection),
            gitlab: &self.gitlab,
            linear: &self.linear,
            page,
            chat: &self.slack,
            settings: &self.settings,
        };
        audit_merge(&deps, merge_key, Utc::now())
            .await
            .expect("the audit store works")
    }

    /// One worker invocation, as the Lambda runs it: the merges the bus handed over, then every
    /// other pending one, one after the other.
    /// Run the worker as its last allowed attempt at `merge_key` (the attempts before it spent).
    pub async fn run_last_attempt(&self, merge_key: &str) -> Vec<(String, AuditOutcome)> {
        self.connection
            .lock()
            .await
            .execute(
                "UPDATE mr_audit_merges SET attempts = $2 WHERE merge_key = $1",
                &[
                    &merge_key,
                    &(secops_shared::mr_audit::workflow::MAX_ATTEMPTS - 1),
                ],
            )
            .await
            .unwrap();
        self.run_worker().await
    }

    pub async fn run_worker(&self) -> Vec<(String, AuditOutcome)> {
        let mut keys = self.new_wakes();
        let pending = AuditStore::new(&self.connection)
            .pending(Utc::now(), 50)
            .await
            .expect("pending audits are listed");
        for key in pending {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        let mut outcomes = Vec::new();
        for key in keys {
            let outcome = self.audit(&key).await;
            outcomes.push((key, outcome));
        }
        outcomes
    }

    /// The merges the bus handed over, each audited on a task of its own at the same time (as
    /// concurrent Lambda invocations would). The audits start writing their rows together, so
    /// they really do race for the page.
    pub async fn run_workers_concurrently(self: &Arc<Self>) -> Vec<(String, AuditOutcome)> {
        let keys = self.new_wakes();
        let start = Arc::new(Barrier::new(keys.len()));
        let tasks: Vec<_> = keys
            .into_iter()
            .map(|key| {
                let world = Arc::clone(self);
                let start = Arc::clone(&start);
                tokio::spawn(async move {
                    let page = Together {
                        page: &world.page,
                        start,
                    };
                    let outcome = world.audit_with(&page, &key).await;
                    (key, outcome)
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.expect("the audit task finished"));
        }
        outcomes
    }

    /// A person edits the audit page in Confluence: its body becomes `body` (next version).
    pub async fn person_saves_audit_page(&self, body: &str) {
        let version = self.confluence_fake.page_version(AUDIT_PAGE);
        self.page
            .client
            .update_page(
                AUDIT_PAGE,
                AUDIT_TITLE,
                body,
                version + 1,
                "edited by a person",
            )
            .await
            .expect("the person's edit is saved");
    }

    // --- What the database holds --------------------------------------------------------------

    /// `(merge_key, status)` of every recorded merge.
    pub async fn merges(&self) -> Vec<(String, String)> {
        self.connection
            .lock()
            .await
            .query(
                "SELECT merge_key, status FROM mr_audit_merges ORDER BY merge_key",
                &[],
            )
            .await
            .expect("merges are listed")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }

    /// Every delivery key recorded, sorted.
    pub async fn delivery_keys(&self) -> Vec<String> {
        self.connection
            .lock()
            .await
            .query(
                "SELECT delivery_key FROM mr_audit_deliveries ORDER BY delivery_key",
                &[],
            )
            .await
            .expect("deliveries are listed")
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// What the runbook has an operator do once the cause of a given-up audit is fixed: put it
    /// back to pending with its attempts reset, for the next re-drive.
    pub async fn reset_given_up(&self, merge_key: &str) {
        self.connection
            .lock()
            .await
            .execute(
                "UPDATE mr_audit_merges SET status = 'pending', attempts = 0 WHERE merge_key = $1",
                &[&merge_key],
            )
            .await
            .expect("the audit is reset");
    }

    /// `(status, last_error)` of a merge's audit.
    pub async fn audit_state(&self, merge_key: &str) -> (String, Option<String>) {
        let row = self
            .connection
            .lock()
            .await
            .query_one(
                "SELECT status, last_error FROM mr_audit_merges WHERE merge_key = $1",
                &[&merge_key],
            )
            .await
            .expect("the merge is recorded");
        (row.get(0), row.get(1))
    }

    /// The steps recorded for a merge's audit, as `(step, detail)` ordered by step.
    pub async fn recorded_steps(&self, merge_key: &str) -> Vec<(String, Value)> {
        self.connection
            .lock()
            .await
            .query(
                "SELECT step, detail FROM mr_audit_steps WHERE merge_key = $1
                  ORDER BY step COLLATE \"C\"",
                &[&merge_key],
            )
            .await
            .expect("the steps are read")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }

    // --- What people see -------------------------------------------------------------------

    /// The audit page and its continuation pages, as `(id, title, body)`.
    pub fn audit_pages(&self) -> Vec<(String, String, String)> {
        self.confluence_fake
            .pages()
            .into_iter()
            .filter(|(id, parent, _, _)| id == AUDIT_PAGE || parent.as_deref() == Some(AUDIT_PAGE))
            .map(|(id, _, title, _)| {
                let body = self.confluence_fake.page_body(&id);
                (id, title, body)
            })
            .collect()
    }

    /// Evidence rows in the audit tables of the audit page and its continuation pages, as the
    /// product finds them (a page without exactly one audit table counts none).
    pub fn page_rows(&self) -> usize {
        self.audit_pages()
            .iter()
            .map(|(_, _, body)| audit_rows(body).len())
            .sum()
    }

    /// Every evidence row naming this MR, across the audit pages.
    pub fn rows_for(&self, reference: &str) -> Vec<String> {
        let cell = format!(">{reference}<");
        self.audit_pages()
            .iter()
            .flat_map(|(_, _, body)| data_rows(body))
            .filter(|row| row.contains(&cell))
            .collect()
    }

    /// The one evidence row of this MR.
    pub fn row_for(&self, reference: &str) -> String {
        let rows = self.rows_for(reference);
        assert_eq!(rows.len(), 1, "rows for {reference}: {rows:#?}");
        rows.into_iter().next().unwrap_or_default()
    }

    /// What people read in a Slack channel, in order: each message's blocks' texts (its
    /// `text` when it has no blocks).
    pub fn messages_in(&self, channel: &str) -> Vec<String> {
        self.slack_fake
            .messages()
            .into_iter()
            .filter(|m| m.channel == channel)
            .map(|m| match m.blocks.as_array() {
                Some(blocks) => blocks
                    .iter()
                    .filter_map(|b| b["text"]["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                None => m.text,
            })
            .collect()
    }
}

/// The audit page, reached by every concurrent audit at once: each waits (a bounded while, in
/// case one never gets there) until all are ready to write their row.
struct Together<'a> {
    page: &'a ConfluenceEvidence,
    start: Arc<Barrier>,
}

impl EvidencePage for Together<'_> {
    async fn append(&self, row: &AuditRow) -> Result<(String, bool), PortError> {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.start.wait()).await;
        self.page.append(row).await
    }
}

/// The rows of a page's audit table, each as its cells' texts (none when the page has no single
/// audit table).
pub fn audit_rows(body: &str) -> Vec<Vec<String>> {
    find_audit_table(body)
        .map(|t| t.rows().map(<[String]>::to_vec).collect())
        .unwrap_or_default()
}

/// The `<tr>…</tr>` rows of a storage body that hold data cells.
pub fn data_rows(body: &str) -> Vec<String> {
    body.split("<tr>")
        .skip(1)
        .filter(|rest| !rest.starts_with("<th"))
        .map(|rest| {
            let end = rest.find("</tr>").unwrap_or(rest.len());
            format!("<tr>{}</tr>", &rest[..end])
        })
        .collect()
}
