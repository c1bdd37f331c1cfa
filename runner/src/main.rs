//! Local runner: runs a workflow once on this machine. Dry-run by default (issues are printed
//! and written as JSON, nothing is sent) with an embedded file store; with `DATABASE_URL` it uses
//! Postgres, and with `--live` it files for real.
//!
//! The privileged-grant review's dry run reads a sample file, prints the cards and review events
//! instead of sending them, and keeps its state in a scratch database next to `DATABASE_URL`'s
//! (the review store is Postgres-only), dropped at the end.

mod doctor;
mod least_privilege;
mod mr_audit;
mod print;
mod rotation;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use secops_shared::config::{CommonSettings, Env};
use secops_shared::connectors::llm::StructuredLlm;
use secops_shared::db;
use secops_shared::db::{Database, ScratchDatabase};
use secops_shared::drift::config::DriftSettings;
use secops_shared::drift::dry_run::{DryRunTracker, NoModel};
use secops_shared::drift::file_store::FileStore;
use secops_shared::drift::import::{self, ImportFormat};
use secops_shared::drift::inventory::InventoryGrant;
use secops_shared::drift::pg_store::PgStore;
use secops_shared::drift::ports::IssueTracker;
use secops_shared::drift::runtime::DriftRuntime;
use secops_shared::drift::store::DriftStore;
use secops_shared::drift::workflow::{DriftDeps, RunReport, run_drift};
use secops_shared::review::config::ReviewConfig;
use secops_shared::review::dry_run::{
    FileAuditSource, RecordedCard, RecordingChat, RecordingLog, StandInModel,
};
use secops_shared::review::ports::NoWebhook;
use secops_shared::review::runtime::{ReviewRuntime, WorkerRuntime};
use secops_shared::review::store::ReviewStore;
use secops_shared::review::workflow::{ReviewDeps, ReviewReport, run_review};
use secops_shared::runtime::Mode;
use secops_shared::secrets::{Credentials, SecretStore};
use secops_shared::slack::interaction;
use secops_shared::slack_router::InteractionsRuntime;
use secops_shared::telemetry::MetricsSink;
use secops_shared::{connectors, http};

#[derive(Parser)]
#[command(
    name = "secops-local",
    about = "Run secops-workflows once on this machine",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check, read-only, everything the workflows need: settings, credentials, Postgres and one
    /// call per service; prints a checklist with the fix for each failure, exits 1 on any.
    Doctor(doctor::DoctorArgs),
    /// Apply the database migrations (needs DATABASE_URL or a credentials source).
    Migrate,
    /// Create the per-workflow database roles and grant them their tables (as the schema
    /// owner), and print the statements creating each function's login user.
    DbRoles,
    /// Credentials: cut a shared secret into one secret per function.
    Secrets {
        #[command(subcommand)]
        command: least_privilege::SecretsCommand,
    },
    /// The OAuth grant drift audit.
    Drift {
        #[command(subcommand)]
        command: DriftCommand,
    },
    /// The security MR audit trail.
    MrAudit {
        #[command(subcommand)]
        command: mr_audit::MrAuditCommand,
    },
    /// The stale-consumer rotation chaser.
    Rotation {
        #[command(subcommand)]
        command: rotation::RotationCommand,
    },
    /// The privileged-grant review.
    Review {
        #[command(subcommand)]
        command: ReviewCommand,
    },
}

/// The bundled review sample.
const REVIEW_SAMPLE: &str = "infra/sample/privileged-review/events.json";

#[derive(Subcommand)]
enum ReviewCommand {
    /// Run the scheduled review once. By default a dry run: grants come from a sample file,
    /// cards and review events are printed instead of sent, and the state lives in a scratch
    /// database (`secops_review_dry_<pid>`) created next to DATABASE_URL's and dropped at the end.
    Run {
        /// Run for real: Postgres, Axiom, Slack and (if configured) the model from your settings.
        #[arg(long, conflicts_with_all = ["sample", "now", "stand_in_model", "dry_run"])]
        live: bool,
        /// Run against your real settings (Postgres, Axiom, the model) without writing
        /// anything: prints the cards, review events and webhook calls it would make.
        #[arg(long, conflicts_with_all = ["sample", "now", "stand_in_model"])]
        dry_run: bool,
        /// Audit rows to review: a JSON array in the configured preset's shape, each with an
        /// RFC 3339 `_time` [default: infra/sample/privileged-review/events.json].
        #[arg(long)]
        sample: Option<PathBuf>,
        /// The run's clock (RFC 3339) [default: the sample's newest row plus five minutes].
        #[arg(long)]
        now: Option<DateTime<Utc>>,
        /// Instead of a configured model, a stand-in that answers "low" to everything, so the
        /// rules alone decide and routine grants resolve themselves (and get a review event).
        #[arg(long)]
        stand_in_model: bool,
    },
    /// Replay a Slack button click through the interactivity endpoint's code, as the Lambda
    /// runs it, then run the review worker in-process on the decision (unless
    /// --via-event-bus). This talks to the configured services: it records the decision in the
    /// DATABASE_URL database, answers the clicker through Slack, and the worker writes to
    /// Axiom, updates the card and calls the webhook.
    /// Slack's signature must verify with the configured signing secret, and its timestamp must
    /// be within five minutes of now, as in production.
    ReplayClick {
        /// An API Gateway HTTP API (v2) event: `headers` with x-slack-request-timestamp and
        /// x-slack-signature, `body`, and `isBase64Encoded`.
        file: PathBuf,
        /// Publish the decision to EventBridge (EVENT_BUS_NAME) as the Lambda does, instead of
        /// running the worker here.
        #[arg(long)]
        via_event_bus: bool,
    },
    /// Replace the identity map (`review_identity_map`) in DATABASE_URL's database with a CSV
    /// file: header `slack_user_id,idp_login,cloud_principal,note`, each row naming at least two
    /// identities of one person. Any bad row: nothing is imported.
    ImportIdentities {
        /// The CSV file (the whole map: people left out of it are no longer linked).
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum DriftCommand {
    /// The bundled two-day sample, from a fresh embedded store: day 1 sets the baseline, day 2
    /// shows the issues that would be filed. Nothing is sent anywhere.
    Demo {
        /// Where the would-be issues are written as JSON.
        #[arg(long, default_value = "out/drift-demo")]
        out: PathBuf,
        /// The sample data folder (with day1/ and day2/).
        #[arg(long, default_value = "infra/sample/oauth-drift")]
        sample: PathBuf,
    },
    /// Replace today's inventory with the grants in these files, all or nothing.
    Import {
        /// GAM `print tokens` CSV, generic CSV or JSON files; their grants are combined.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Force a format instead of detecting it (gam, csv, json).
        #[arg(long)]
        format: Option<ImportFormat>,
        /// The embedded store file (ignored with DATABASE_URL).
        #[arg(long, default_value = ".secops-local/drift-state.json")]
        state: PathBuf,
    },
    /// Run the audit once on the current inventory. Without --live or --dry-run: the embedded
    /// store, issues written as JSON.
    Run {
        /// File for real: Postgres, Linear and (if configured) OpenAI from your settings.
        #[arg(long, conflicts_with = "dry_run")]
        live: bool,
        /// Run against your real settings (Postgres, Linear, the model) without writing
        /// anything: the inventory and baseline are read into temporary shadow tables, Linear
        /// is only read, and the issues it would file are printed (and written to --out).
        #[arg(long)]
        dry_run: bool,
        /// Where dry-run issues are written as JSON.
        #[arg(long, default_value = "out/drift")]
        out: PathBuf,
        /// The embedded store file (ignored with DATABASE_URL).
        #[arg(long, default_value = ".secops-local/drift-state.json")]
        state: PathBuf,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,secops_shared=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Doctor(args) => {
            let code = doctor::doctor(args).await?;
            std::process::exit(code);
        }
        Command::Migrate => migrate().await,
        Command::DbRoles => least_privilege::db_roles().await,
        Command::Secrets { command } => least_privilege::secrets(command),
        Command::Drift { command } => match command {
            DriftCommand::Demo { out, sample } => demo(&out, &sample).await,
            DriftCommand::Import {
                files,
                format,
                state,
            } => {
                let store = LocalStore::open(&state).await?;
                let n = store.import(&files, format).await?;
                println!("imported {n} grants into {}", store.describe());
                Ok(())
            }
            DriftCommand::Run {
                dry_run: true, out, ..
            } => {
                let runtime = DriftRuntime::start(Mode::DryRun).await?;
                let dry = runtime.dry_run(None).await?;
                print::report(&dry.report, &[]);
                print::would_do(&dry.would, &dry.shadowed);
                let json = serde_json::to_value(&dry).expect("reports serialise");
                print::save_json(&out.join("dry-run.json"), &json)
            }
            DriftCommand::Run {
                live, out, state, ..
            } => {
                if live {
                    let runtime = DriftRuntime::start(Mode::Local).await?;
                    let report = runtime.run(None).await?;
                    print::report(&report, &[]);
                    Ok(())
                } else {
                    let LocalStore::File(store) = LocalStore::open(&state).await? else {
                        // A dry run records its changes and marks its filings done: against the
                        // real database that would swallow filings Linear never saw.
                        bail!(
                            "a database is configured (DATABASE_URL or database_url in the \
                             credentials): pass --dry-run to run against it without writing \
                             anything, or --live to file for real"
                        );
                    };
                    dry_run(&store, &out).await.map(|_| ())
                }
            }
        },
        Command::Rotation { command } => rotation::command(command).await,
        Command::MrAudit { command } => mr_audit::command(command).await,
        Command::Review { command } => match command {
            ReviewCommand::Run { dry_run: true, .. } => {
                let runtime = ReviewRuntime::start(Mode::DryRun).await?;
                let dry = runtime.dry_run(None).await?;
                print::review_report(&dry.report);
                print::would_do(&dry.would, &dry.shadowed);
                Ok(())
            }
            ReviewCommand::Run { live: true, .. } => {
                let runtime = ReviewRuntime::start(Mode::Local).await?;
                let report = runtime.run(None).await?;
                print::review_report(&report);
                Ok(())
            }
            ReviewCommand::Run {
                sample,
                now,
                stand_in_model,
                ..
            } => {
                let sample = sample.unwrap_or_else(|| REVIEW_SAMPLE.into());
                review_dry_run(&sample, now, stand_in_model).await
            }
            ReviewCommand::ReplayClick {
                file,
                via_event_bus,
            } => replay_click(&file, via_event_bus).await,
            ReviewCommand::ImportIdentities { file } => import_identities(&file).await,
        },
    }
}

async fn import_identities(file: &Path) -> Result<()> {
    use secops_shared::review::identity_map;
    let content =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let rows = identity_map::parse_csv(&file.display().to_string(), &content)?;
    let client = configured_database().await?;
    let n = identity_map::replace(&ReviewStore::new(&Database::new(client)), &rows).await?;
    println!("identity map replaced: {n} rows");
    Ok(())
}

async fn migrate() -> Result<()> {
    let mut client = connect_configured().await?;
    let applied = db::migrate(&mut client).await?;
    println!("migrations applied: {applied:?} (already up to date if empty)");
    Ok(())
}

/// The configured database (DATABASE_URL or the credentials' database_url), not migrated.
async fn connect_configured() -> Result<tokio_postgres::Client> {
    let credentials = local_credentials().await?;
    let url = credentials
        .database_url
        .clone()
        .context("DATABASE_URL is not set (or database_url is missing from the credentials)")?;
    let common = CommonSettings::from_env(&Env::process())?;
    Ok(db::connect(&url, common.database_ca_bundle.as_deref()).await?)
}

/// The configured database, migrated.
pub(crate) async fn configured_database() -> Result<tokio_postgres::Client> {
    let mut client = connect_configured().await?;
    db::migrate(&mut client).await?;
    Ok(client)
}

async fn local_credentials() -> Result<std::sync::Arc<Credentials>> {
    let common = CommonSettings::from_env(&Env::process())?;
    let secrets = SecretStore::new(common.secret_source, common.secrets_ttl);
    Ok(secrets.current().await?)
}

/// The embedded file store, or Postgres when credentials name a database.
enum LocalStore {
    File(FileStore),
    Postgres(PgStore),
}

impl LocalStore {
    async fn open(state: &std::path::Path) -> Result<Self> {
        match local_credentials().await?.database_url.clone() {
            Some(url) => {
                let common = CommonSettings::from_env(&Env::process())?;
                let mut client = db::connect(&url, common.database_ca_bundle.as_deref()).await?;
                db::migrate(&mut client).await?;
                Ok(LocalStore::Postgres(PgStore::new(&Database::new(client))))
            }
            None => Ok(LocalStore::File(FileStore::new(state))),
        }
    }

    fn describe(&self) -> String {
        match self {
            LocalStore::File(f) => format!("the embedded store {}", f.path().display()),
            LocalStore::Postgres(_) => "Postgres".to_owned(),
        }
    }

    async fn import(&self, files: &[PathBuf], format: Option<ImportFormat>) -> Result<u64> {
        let grants = read_inventory_files(files, format)?;
        Ok(match self {
            LocalStore::File(s) => s.replace_inventory(&grants).await?,
            LocalStore::Postgres(s) => s.replace_inventory(&grants).await?,
        })
    }
}

/// Validate every file before anything is written; across files a grant may appear only once.
fn read_inventory_files(
    files: &[PathBuf],
    format: Option<ImportFormat>,
) -> Result<Vec<InventoryGrant>> {
    let mut grants = Vec::new();
    for file in files {
        grants.extend(import::import_file(file, format)?);
    }
    let mut seen = std::collections::HashSet::new();
    for g in &grants {
        if !seen.insert(&g.grant.key) {
            bail!(
                "grant {} appears in more than one file; nothing imported",
                g.grant.key
            );
        }
    }
    Ok(grants)
}

/// A dry run on the embedded store: the real workflow with the dry-run tracker, and the model
/// when one is configured.
async fn dry_run(store: &FileStore, out: &std::path::Path) -> Result<RunReport> {
    let env = Env::process();
    let common = CommonSettings::from_env(&env)?;
    let settings = DriftSettings::from_env(&env)?;
    let tracker = DryRunTracker::new(out);
    let credentials = local_credentials().await?;
    let openai = connectors::openai::configured(
        &settings.llm,
        http::build_client(common.http_timeout),
        std::sync::Arc::new(SecretStore::fixed((*credentials).clone())),
        &credentials,
        common.retry,
    );
    let report = match openai {
        Some(llm) => run_local(store, &tracker, Some(&llm), &settings, &common).await?,
        None => run_local::<_, _, NoModel>(store, &tracker, None, &settings, &common).await?,
    };
    print::report(&report, &tracker.filed());
    println!(
        "(dry run: nothing was sent; issues written to {})",
        out.display()
    );
    Ok(report)
}

async fn run_local<S: DriftStore, T: IssueTracker, L: StructuredLlm>(
    store: &S,
    tracker: &T,
    llm: Option<&L>,
    settings: &DriftSettings,
    common: &CommonSettings,
) -> Result<RunReport> {
    let deps = DriftDeps {
        store,
        tracker,
        llm,
        settings,
        deadline_margin: common.deadline_margin,
        metrics: MetricsSink::Off,
        metrics_namespace: &common.metrics_namespace,
    };
    Ok(run_drift(&deps, Utc::now()).await?)
}

async fn demo(out: &std::path::Path, sample: &std::path::Path) -> Result<()> {
    let state_dir = tempdir_for_demo()?;
    let state = state_dir.join("drift-state.json");
    let store = FileStore::new(&state);
    if out.exists() {
        std::fs::remove_dir_all(out).with_context(|| format!("clearing {}", out.display()))?;
    }
    for day in ["day1", "day2"] {
        let dir = sample.join(day);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| {
                format!(
                    "reading the sample folder {} (run from the repository root)",
                    dir.display()
                )
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        let n = store
            .replace_inventory(&read_inventory_files(&files, None)?)
            .await?;
        println!(
            "\n=== {day}: imported {n} grants from {} ===",
            dir.display()
        );
        dry_run(&store, out).await?;
    }
    std::fs::remove_dir_all(&state_dir).ok();
    Ok(())
}

fn tempdir_for_demo() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("secops-demo-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Review settings for a dry run: the environment's, with what a demo lacks filled in (a made-up
/// channel, and a first run reading the last day so the bundled sample is in the window).
fn dry_run_env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| match name {
            "REVIEW_SLACK_CHANNEL" => Some("C0DRYRUN".to_owned()),
            "REVIEW_INITIAL_LOOKBACK_HOURS" => Some("24".to_owned()),
            _ => None,
        })
}

/// A dry run's scratch database next to `url`'s (the caller drops it).
async fn scratch_database(
    url: &secops_shared::secrets::SecretString,
    name: &str,
    ca: Option<&Path>,
) -> Result<ScratchDatabase> {
    ScratchDatabase::create(url, name, ca)
        .await
        .with_context(|| {
            format!(
                "creating the scratch database {name} on DATABASE_URL's server (the dry run needs \
             the CREATEDB privilege there)"
            )
        })
}

/// The review once on a sample, in a scratch database that is dropped whatever happens.
async fn review_dry_run(sample: &Path, now: Option<DateTime<Utc>>, stand_in: bool) -> Result<()> {
    let credentials = local_credentials().await?;
    let Some(url) = credentials.database_url.clone() else {
        bail!(
            "a review dry run needs a Postgres server (the review store is Postgres-only): set \
             DATABASE_URL, e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres. The dry \
             run creates a scratch database next to that one and drops it at the end; your own \
             tables are not touched."
        );
    };
    let source = FileAuditSource::from_file(sample)
        .context("reading the review sample (run from the repository root, or pass --sample)")?;
    let now = match (now, source.span()) {
        (Some(now), _) => now,
        (None, Some((_, newest))) => newest + chrono::Duration::minutes(5),
        (None, None) => Utc::now(),
    };
    let config = ReviewConfig::from_env(&Env(dry_run_env))?;
    let common = CommonSettings::from_env(&Env::process())?;
    let ca = common.database_ca_bundle.as_deref();
    let name = format!("secops_review_dry_{}", std::process::id());
    let scratch = scratch_database(&url, &name, ca).await?;
    // Printing waits until the database is gone: a closed pipe (`| head`) must not leave it.
    let result = review_in(
        &scratch,
        &source,
        &config,
        &common,
        &credentials,
        now,
        stand_in,
    )
    .await;
    let dropped = scratch.drop_now().await;
    let run = result?;
    dropped.with_context(|| format!("dropping the scratch database {name}; drop it by hand"))?;
    println!(
        "Review dry run: {} ({} rows), now {now}, in the scratch database {name}.\n{}",
        sample.display(),
        source.len(),
        run.model
    );
    print::review_cards(&run.cards);
    print::review_events(&run.events);
    print::review_report(&run.report);
    println!(
        "(dry run: nothing was sent; the scratch database {name} was dropped. Cards would go to \
         channel {} and review events to the Axiom dataset {}.)",
        config.workflow.review_channel, config.events_dataset
    );
    Ok(())
}

/// What a dry run produced.
struct DryRun {
    model: String,
    cards: Vec<RecordedCard>,
    events: Vec<serde_json::Value>,
    report: ReviewReport,
}

/// What a dry run's review reads from and writes to.
struct DryRunParts<'a> {
    store: ReviewStore,
    source: &'a FileAuditSource,
    log: RecordingLog,
    chat: RecordingChat,
    config: &'a ReviewConfig,
    common: &'a CommonSettings,
}

impl DryRunParts<'_> {
    fn deps<'a, M>(
        &'a self,
        llm: Option<&'a M>,
    ) -> ReviewDeps<'a, FileAuditSource, RecordingLog, RecordingChat, M, NoWebhook> {
        ReviewDeps {
            store: &self.store,
            source: self.source,
            log: &self.log,
            chat: &self.chat,
            llm,
            webhook: None,
            settings: &self.config.workflow,
            deadline_margin: self.common.deadline_margin,
            metrics: MetricsSink::Off,
            metrics_namespace: &self.common.metrics_namespace,
        }
    }
}

async fn review_in(
    scratch: &ScratchDatabase,
    source: &FileAuditSource,
    config: &ReviewConfig,
    common: &CommonSettings,
    credentials: &Credentials,
    now: DateTime<Utc>,
    stand_in: bool,
) -> Result<DryRun> {
    let parts = DryRunParts {
        store: ReviewStore::new(&Database::new(
            scratch
                .connect(common.database_ca_bundle.as_deref())
                .await?,
        )),
        source,
        log: RecordingLog::default(),
        chat: RecordingChat::default(),
        config,
        common,
    };
    let openai = if stand_in {
        None
    } else {
        connectors::openai::configured(
            &config.llm,
            http::build_client(common.http_timeout),
            Arc::new(SecretStore::fixed(credentials.clone())),
            credentials,
            common.retry,
        )
    };
    let (model, report) = if stand_in {
        let model = "Model: the dry-run stand-in (answers \"low\"; the rules alone decide).";
        (
            model.to_owned(),
            run_review(&parts.deps(Some(&StandInModel)), now).await?,
        )
    } else if let Some(llm) = &openai {
        let model = format!(
            "Model: {} (the sample's grants were sent to it).",
            llm.model()
        );
        (model, run_review(&parts.deps(Some(llm)), now).await?)
    } else {
        let model = "Model: none configured, so the rules decide and every grant gets a card \
                     (set OPENAI_MODEL and OPENAI_API_KEY, or pass --stand-in-model).";
        (
            model.to_owned(),
            run_review(&parts.deps::<NoModel>(None), now).await?,
        )
    };
    Ok(DryRun {
        model,
        cards: parts.chat.cards(),
        events: parts.log.events(),
        report,
    })
}

/// One recorded API Gateway event through the interactivity endpoint's code.
async fn replay_click(file: &Path, via_event_bus: bool) -> Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let event: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not an API Gateway event (JSON)", file.display()))?;
    // API Gateway HTTP APIs lower-case header names; accept any case all the same.
    let header = |name: &str| {
        event["headers"].as_object().and_then(|headers| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.as_str())
        })
    };
    let body = event["body"].as_str().unwrap_or_default();
    let is_base64 = event["isBase64Encoded"].as_bool().unwrap_or(false);
    let raw = interaction::raw_body(body.as_bytes(), is_base64)?;
    let runtime = if via_event_bus {
        InteractionsRuntime::start(Mode::Lambda).await?
    } else {
        InteractionsRuntime::start(Mode::Local).await?
    };
    let reply = runtime
        .handle(
            header("x-slack-request-timestamp"),
            header("x-slack-signature"),
            &raw,
        )
        .await?;
    println!("status {}", reply.status);
    if !reply.body.is_empty() {
        println!("{}", reply.body);
    }
    if reply.status == 401 {
        println!(
            "(the signature did not verify: it must match the configured signing secret, and \
             x-slack-request-timestamp must be within five minutes of now)"
        );
    }
    if reply.status >= 400 {
        bail!("the endpoint answered {}", reply.status);
    }
    let handed_over = runtime.take_handed_over();
    if !handed_over.is_empty() {
        println!("decision recorded; running the review worker in-process…");
        let report = WorkerRuntime::start(Mode::Local).await?.run(None).await?;
        println!(
            "worker: {} follow-up(s) done, {} failed (they stay pending for the next run)",
            report.done,
            report.failed.len()
        );
        for failure in &report.failed {
            println!("  {failure}");
        }
    }
    Ok(())
}
