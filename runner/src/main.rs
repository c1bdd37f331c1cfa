//! Local runner: runs a workflow once on this machine. Dry-run by default (issues are printed
//! and written as JSON, nothing is sent) with an embedded file store; with `DATABASE_URL` it uses
//! Postgres, and with `--live` it files for real.

mod print;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use clap::{Parser, Subcommand};
use secops_shared::config::{CommonSettings, DriftSettings, Env};
use secops_shared::db;
use secops_shared::drift::dry_run::{DryRunTracker, NoModel};
use secops_shared::drift::file_store::FileStore;
use secops_shared::drift::import::{self, ImportFormat};
use secops_shared::drift::inventory::InventoryGrant;
use secops_shared::drift::pg_store::PgStore;
use secops_shared::drift::ports::{IssueTracker, StructuredLlm};
use secops_shared::drift::runtime::DriftRuntime;
use secops_shared::drift::store::DriftStore;
use secops_shared::drift::workflow::{DriftDeps, RunReport, run_drift};
use secops_shared::secrets::{Credentials, SecretStore};
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
    /// Apply the database migrations (needs DATABASE_URL or a credentials source).
    Migrate,
    /// The OAuth grant drift audit.
    Drift {
        #[command(subcommand)]
        command: DriftCommand,
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
    /// Run the audit once on the current inventory.
    Run {
        /// File for real: Postgres, Linear and (if configured) OpenAI from your settings.
        #[arg(long)]
        live: bool,
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
        Command::Migrate => migrate().await,
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
            DriftCommand::Run { live, out, state } => {
                if live {
                    let runtime = DriftRuntime::start(MetricsSink::Off).await?;
                    let report = runtime.run_once(None).await?;
                    print::report(&report, &[]);
                    Ok(())
                } else {
                    let LocalStore::File(store) = LocalStore::open(&state).await? else {
                        // A dry run records its changes and marks its filings done: against the
                        // real database that would swallow filings Linear never saw.
                        bail!(
                            "a dry run uses the embedded store, but a database is configured \
                             (DATABASE_URL or database_url in the credentials): unset it for a dry \
                             run, or pass --live to file for real"
                        );
                    };
                    dry_run(&store, &out).await.map(|_| ())
                }
            }
        },
    }
}

async fn migrate() -> Result<()> {
    let credentials = local_credentials().await?;
    let url = credentials
        .database_url
        .clone()
        .context("DATABASE_URL is not set (or database_url is missing from the credentials)")?;
    let common = CommonSettings::from_env(&Env::process())?;
    let mut client = db::connect(&url, common.database_ca_bundle.as_deref()).await?;
    let applied = db::migrate(&mut client).await?;
    println!("migrations applied: {applied:?} (already up to date if empty)");
    Ok(())
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
                Ok(LocalStore::Postgres(PgStore::new(client)))
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
