//! `secops-local mr-audit replay`: a GitLab merge request payload through the whole audit trail.
//! By default a dry run: the webhook logic and the worker run in a scratch database next to
//! `DATABASE_URL`'s (dropped at the end); GitLab's answer comes from a facts file, and what
//! would be done in Linear, Confluence and Slack is printed. With `--live`, the payload goes
//! through the same code as the Lambda functions against the configured services.

use std::path::{Path, PathBuf};
use std::sync::Mutex as StdMutex;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use clap::Subcommand;
use secops_shared::config::{CommonSettings, Env};
use secops_shared::connectors::eventbridge::InMemoryPublisher;
use secops_shared::db::Database;
use secops_shared::mr_audit::config::MrAuditConfig;
use secops_shared::mr_audit::event::{MERGE_REQUEST_HOOK, MergeEvent};
use secops_shared::mr_audit::evidence::{AuditRow, render_row};
use secops_shared::mr_audit::facts::MergeFacts;
use secops_shared::mr_audit::hook::{HookDeps, HookRequest, handle_hook};
use secops_shared::mr_audit::ports::{
    AuditChat, ChatMessage, EvidencePage, Fetched, LinkedIssues, MergeSource, TrackedIssue,
};
use secops_shared::mr_audit::runtime::{AuditRuntime, HookRuntime};
use secops_shared::mr_audit::store::AuditStore;
use secops_shared::mr_audit::workflow::{AuditDeps, audit_merge};
use secops_shared::ports::PortError;
use secops_shared::runtime::Mode;
use secops_shared::secrets::{Credentials, SecretStore, SecretString};

const SAMPLE_HOOK: &str = "infra/sample/mr-audit/merge-hook.json";
const SAMPLE_FACTS: &str = "infra/sample/mr-audit/gitlab-facts.json";
/// The token a dry run's delivery carries (and accepts).
const DRY_RUN_TOKEN: &str = "dry-run-token";

#[derive(Subcommand)]
pub enum MrAuditCommand {
    /// Replay a webhook payload (GitLab's `Merge Request Hook` JSON) through the audit trail.
    Replay {
        /// The payload [default: infra/sample/mr-audit/merge-hook.json].
        file: Option<PathBuf>,
        /// GitLab's answer for the dry run, in the evidence format
        /// [default: infra/sample/mr-audit/gitlab-facts.json].
        #[arg(long)]
        facts: Option<PathBuf>,
        /// Through the Lambda code against the configured database, GitLab, Linear, Confluence
        /// and Slack (the payload must carry your gitlab_webhook_token to pass: use --token).
        #[arg(long)]
        live: bool,
        /// The X-Gitlab-Token to send with --live.
        #[arg(long)]
        token: Option<String>,
    },
    /// Audit one merged MR against your real settings (GitLab, Linear, Postgres) without
    /// writing anything: prints the issues it would close, the evidence row it would append and
    /// the Slack messages it would post.
    Run {
        /// Required: the audit itself runs when GitLab's webhook delivers a merge.
        #[arg(long, required = true)]
        dry_run: bool,
        /// The GitLab project id (Settings > General).
        #[arg(long)]
        project: u64,
        /// The merge request's iid (the number after `!`).
        #[arg(long)]
        mr: u64,
    },
}

async fn dry_run(project: u64, mr: u64) -> Result<()> {
    let runtime = AuditRuntime::start(Mode::DryRun).await?;
    let dry = runtime.dry_run(project, mr, None).await?;
    println!(
        "{}",
        serde_json::to_string_pretty(&dry.report).expect("reports serialise")
    );
    crate::print::would_do(&dry.would, &dry.shadowed);
    Ok(())
}

pub async fn command(command: MrAuditCommand) -> Result<()> {
    let (file, facts, live, token) = match command {
        MrAuditCommand::Replay {
            file,
            facts,
            live,
            token,
        } => (file, facts, live, token),
        MrAuditCommand::Run { project, mr, .. } => return dry_run(project, mr).await,
    };
    let file = file.unwrap_or_else(|| SAMPLE_HOOK.into());
    let body = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    if live {
        let token = token.context("--live needs --token (the webhook's secret token)")?;
        return replay_live(&body, &token).await;
    }
    let facts = facts.unwrap_or_else(|| SAMPLE_FACTS.into());
    replay_dry(&file, &body, &facts).await
}

async fn replay_live(body: &[u8], token: &str) -> Result<()> {
    let hook = HookRuntime::start(Mode::Local).await?;
    let request = HookRequest {
        token: Some(token),
        event: Some(MERGE_REQUEST_HOOK),
        body,
        ..HookRequest::default()
    };
    let reply = hook.handle(&request).await?;
    println!("webhook answered {}: {}", reply.status, reply.body);
    let keys = hook.take_handed_over();
    if keys.is_empty() {
        return Ok(());
    }
    let worker = AuditRuntime::start(Mode::Local).await?;
    let report = worker.run(&keys, None).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// GitLab's answer from a file.
struct FileFacts(MergeFacts);

impl MergeSource for FileFacts {
    async fn facts(&self, _: &MergeEvent) -> Result<Fetched, PortError> {
        Ok(Fetched::Merged(Box::new(self.0.clone())))
    }
}

/// Prints what would happen in Linear; every identifier is "found".
struct PrintingTracker;

impl LinkedIssues for PrintingTracker {
    async fn find(&self, identifier: &str) -> Result<Option<TrackedIssue>, PortError> {
        Ok(Some(TrackedIssue {
            id: format!("dry-run-{identifier}"),
            identifier: identifier.to_owned(),
            url: format!("https://linear.app/issue/{identifier}"),
            team_id: "dry-run-team".to_owned(),
            branch_name: String::new(),
            attachments: Vec::new(),
        }))
    }

    async fn close_as_audited(&self, issue: &TrackedIssue) -> Result<(), PortError> {
        println!(
            "Linear {}: would move to the team's completed state and add the label `audited`",
            issue.identifier
        );
        Ok(())
    }

    async fn comment_once(
        &self,
        issue: &TrackedIssue,
        id: &str,
        body: &str,
    ) -> Result<(), PortError> {
        println!(
            "Linear {}: would comment (id {id}):\n  {body}",
            issue.identifier
        );
        Ok(())
    }
}

/// Keeps the audit page in memory and prints the row.
#[derive(Default)]
struct PrintingPage {
    rows: StdMutex<Vec<String>>,
}

impl EvidencePage for PrintingPage {
    async fn append(&self, row: &AuditRow) -> Result<(String, bool), PortError> {
        let rendered = render_row(row);
        println!("Confluence: would append to the audit table:\n  {rendered}");
        self.rows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(rendered);
        Ok(("dry-run-page".to_owned(), false))
    }
}

struct PrintingChat;

impl AuditChat for PrintingChat {
    async fn post(&self, channel: &str, message: &ChatMessage) -> Result<(), PortError> {
        let text = message.blocks[0]["text"]["text"]
            .as_str()
            .unwrap_or(&message.text);
        println!("Slack {channel}: would post:\n  {text}");
        Ok(())
    }
}

/// Settings for a dry run: the environment's, with a made-up channel when none is set.
fn dry_run_env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| (name == "MR_AUDIT_SLACK_CHANNEL").then(|| "C0DRYRUN".to_owned()))
}

async fn replay_dry(file: &Path, body: &[u8], facts_file: &Path) -> Result<()> {
    let facts: MergeFacts = serde_json::from_slice(
        &std::fs::read(facts_file).with_context(|| format!("reading {}", facts_file.display()))?,
    )
    .with_context(|| format!("{} is not in the evidence format", facts_file.display()))?;
    let credentials = crate::local_credentials().await?;
    let Some(url) = credentials.database_url.clone() else {
        bail!(
            "an MR audit dry run needs a Postgres server: set DATABASE_URL, e.g. \
             DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres. The dry run creates a \
             scratch database next to that one and drops it at the end."
        );
    };
    let config = MrAuditConfig::from_env(&Env(dry_run_env))?;
    let common = CommonSettings::from_env(&Env::process())?;
    let ca = common.database_ca_bundle.as_deref();
    let name = format!("secops_mr_audit_dry_{}", std::process::id());
    let scratch = crate::scratch_database(&url, &name, ca).await?;
    let secrets = SecretStore::fixed(Credentials {
        gitlab_webhook_token: Some(SecretString::from(DRY_RUN_TOKEN)),
        ..Credentials::default()
    });
    println!(
        "MR audit dry run: {} (token checked, merge recorded and audited in the scratch database {name}).",
        file.display()
    );
    let result = async {
        let db = Database::new(scratch.connect(ca).await?);
        let bus = InMemoryPublisher::new();
        let hook = HookDeps {
            secrets: &secrets,
            store: AuditStore::new(&db),
            bus: &bus,
            labels: &config.labels,
            projects: config.audit.projects.as_ref(),
        };
        let request = HookRequest {
            token: Some(DRY_RUN_TOKEN),
            event: Some(MERGE_REQUEST_HOOK),
            body,
            ..HookRequest::default()
        };
        let reply = handle_hook(&hook, &request, Utc::now()).await;
        println!("webhook would answer {}: {}", reply.status, reply.body);
        let source = FileFacts(facts);
        let page = PrintingPage::default();
        let deps = AuditDeps {
            store: AuditStore::new(&db),
            gitlab: &source,
            linear: &PrintingTracker,
            page: &page,
            chat: &PrintingChat,
            settings: &config.audit,
        };
        let mut outcomes = Vec::new();
        for event in bus.take() {
            if let Some(key) = event.detail["merge_key"].as_str() {
                outcomes.push(audit_merge(&deps, key, Utc::now()).await?);
            }
        }
        anyhow::Ok(outcomes)
    }
    .await;
    let dropped = scratch.drop_now().await;
    let outcomes = result?;
    dropped.with_context(|| format!("dropping the scratch database {name}; drop it by hand"))?;
    for outcome in outcomes {
        println!("audit: {}", serde_json::to_string(&outcome)?);
    }
    println!("(dry run: nothing was sent; the scratch database {name} was dropped.)");
    Ok(())
}
