//! `secops-local rotation …`: import campaigns and consumers into the configured database, and
//! run one sweep, by default as a dry run on the bundled sample in a scratch database (nudges
//! and the digest are printed, nothing is sent to Slack).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, NaiveDate, Utc};
use clap::Subcommand;
use secops_shared::config::{CommonSettings, Env};
use secops_shared::db::Database;
use secops_shared::dry_run::{WouldDo, WouldDoLog};
use secops_shared::rotation::config::RotationConfig;
use secops_shared::rotation::consumer::{Campaign, Consumer, parse_campaigns, parse_consumers};
use secops_shared::rotation::dry_run::RecordingChat;
use secops_shared::rotation::message::counted;
use secops_shared::rotation::runtime::RotationRuntime;
use secops_shared::rotation::store::{self, ImportSummary, RotationStore};
use secops_shared::rotation::workflow::{SweepDeps, SweepReport, run_sweep_as_of};
use secops_shared::runtime::Mode;
use secops_shared::telemetry::MetricsSink;

use crate::print::block_lines;

const SAMPLE_CAMPAIGNS: &str = "infra/sample/rotation/campaigns.csv";
const SAMPLE_CONSUMERS: &str = "infra/sample/rotation/consumers.csv";
/// The moment the bundled sample is described at (a Monday), so its output does not drift.
const SAMPLE_NOW: &str = "2026-11-23T09:00:00Z";

#[derive(Subcommand)]
pub enum RotationCommand {
    /// Load campaigns and/or consumers from CSV into DATABASE_URL's database (migrated first).
    /// All or nothing: a file with a bad row imports nothing and names every bad row.
    Import {
        /// `campaign,retired_key,replacement_key,deadline`.
        #[arg(long)]
        campaigns: Option<PathBuf>,
        /// `campaign,consumer,team,channel,team_lead,deadline,status,exempt_reason,exempt_until`.
        #[arg(long)]
        consumers: Option<PathBuf>,
    },
    /// Run one sweep. By default a dry run: campaigns and consumers come from CSV files (the
    /// bundled sample unless given), live in a scratch database (`secops_rotation_dry_<pid>`)
    /// dropped at the end, and nudges and the digest are printed instead of sent.
    Run {
        /// Sweep the configured database and post to Slack for real.
        #[arg(long, conflicts_with_all = ["dry_run", "campaigns", "consumers", "now"])]
        live: bool,
        /// Sweep the configured database (your real campaigns and consumers) without posting
        /// or recording anything: prints the nudges and the digest it would send.
        #[arg(long, conflicts_with_all = ["campaigns", "consumers", "now"])]
        dry_run: bool,
        #[arg(long)]
        campaigns: Option<PathBuf>,
        #[arg(long)]
        consumers: Option<PathBuf>,
        /// The sweep's moment (RFC 3339) [default: 2026-11-23T09:00:00Z for the bundled
        /// sample, else now].
        #[arg(long)]
        now: Option<DateTime<Utc>>,
        /// Replay a missed day (YYYY-MM-DD, today or up to 7 days back): days overdue, tones
        /// and the digest as of that day, as the scheduled input's `as_of` does.
        #[arg(long)]
        as_of: Option<NaiveDate>,
    },
}

pub async fn command(command: RotationCommand) -> Result<()> {
    match command {
        RotationCommand::Import {
            campaigns,
            consumers,
        } => import(campaigns.as_deref(), consumers.as_deref()).await,
        RotationCommand::Run {
            live: true, as_of, ..
        } => {
            let runtime = RotationRuntime::start(Mode::Local).await?;
            let input = serde_json::json!({ "as_of": as_of.map(|d| d.to_string()) });
            let report = runtime.run_input(&input, None).await?;
            print_report(&report);
            Ok(())
        }
        RotationCommand::Run {
            dry_run: true,
            as_of,
            ..
        } => {
            let runtime = RotationRuntime::start(Mode::DryRun).await?;
            let input = serde_json::json!({ "as_of": as_of.map(|d| d.to_string()) });
            let dry = runtime.dry_run(&input, None).await?;
            print_posts(&dry.would, runtime.config.sweep.digest_to.as_deref());
            print_report(&dry.report);
            crate::print::dry_run_summary(dry.would.len(), &dry.shadowed);
            Ok(())
        }
        RotationCommand::Run {
            campaigns,
            consumers,
            now,
            as_of,
            ..
        } => {
            let bundled = campaigns.is_none() && consumers.is_none();
            let now = match now {
                Some(now) => now,
                None if bundled => SAMPLE_NOW.parse()?,
                None => Utc::now(),
            };
            let campaigns = campaigns.unwrap_or_else(|| SAMPLE_CAMPAIGNS.into());
            let consumers = consumers.unwrap_or_else(|| SAMPLE_CONSUMERS.into());
            dry_run(&campaigns, &consumers, now, as_of).await
        }
    }
}

fn read_files(
    campaigns: Option<&Path>,
    consumers: Option<&Path>,
) -> Result<(Vec<Campaign>, Vec<Consumer>)> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).with_context(|| {
            format!(
                "reading {} (run from the repository root for the bundled sample)",
                path.display()
            )
        })
    };
    let campaigns = match campaigns {
        Some(path) => parse_campaigns(&path.display().to_string(), &read(path)?)?,
        None => Vec::new(),
    };
    let consumers = match consumers {
        Some(path) => parse_consumers(&path.display().to_string(), &read(path)?)?,
        None => Vec::new(),
    };
    Ok((campaigns, consumers))
}

async fn import(campaigns: Option<&Path>, consumers: Option<&Path>) -> Result<()> {
    if campaigns.is_none() && consumers.is_none() {
        bail!("nothing to import: pass --campaigns FILE and/or --consumers FILE");
    }
    let (campaign_rows, consumer_rows) = read_files(campaigns, consumers)?;
    let mut client = crate::configured_database().await?;
    let origin = consumers.map_or_else(String::new, |p| p.display().to_string());
    let summary = store::import(
        &mut client,
        &origin,
        &campaign_rows,
        &consumer_rows,
        Utc::now(),
    )
    .await?;
    print_import(&summary);
    Ok(())
}

fn print_import(s: &ImportSummary) {
    println!(
        "imported {}; consumers: {} added, {} updated (nudge history kept)",
        counted(s.campaigns as u64, "campaign", "campaigns"),
        s.consumers_added,
        s.consumers_updated
    );
}

/// Dry-run settings: the environment's, with a made-up security lead when none is set.
fn dry_run_env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| (name == "ROTATION_SECURITY_LEAD").then(|| "U0SECLEAD".to_owned()))
}

async fn dry_run(
    campaigns: &Path,
    consumers: &Path,
    now: DateTime<Utc>,
    as_of: Option<NaiveDate>,
) -> Result<()> {
    let (campaign_rows, consumer_rows) = read_files(Some(campaigns), Some(consumers))?;
    let credentials = crate::local_credentials().await?;
    let Some(url) = credentials.database_url.clone() else {
        bail!(
            "a rotation dry run needs a Postgres server: set DATABASE_URL, e.g. \
             DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres. The dry run creates a \
             scratch database next to that one and drops it at the end; your own tables are not \
             touched."
        );
    };
    let mut config = RotationConfig::from_env(&Env(dry_run_env))?;
    config.sweep.channel_spacing = std::time::Duration::ZERO;
    let common = CommonSettings::from_env(&Env::process())?;
    let ca = common.database_ca_bundle.as_deref();
    let name = format!("secops_rotation_dry_{}", std::process::id());
    let scratch = crate::scratch_database(&url, &name, ca).await?;
    let would = WouldDoLog::default();
    let chat = RecordingChat::new(&would);
    let result = async {
        let mut client = scratch.connect(ca).await?;
        let imported = store::import(
            &mut client,
            &consumers.display().to_string(),
            &campaign_rows,
            &consumer_rows,
            now,
        )
        .await?;
        let client = Database::new(client);
        let deps = SweepDeps {
            store: RotationStore::new(&client),
            chat: &chat,
            settings: &config.sweep,
            metrics: MetricsSink::Off,
            metrics_namespace: &common.metrics_namespace,
        };
        let report = run_sweep_as_of(&deps, now, as_of).await?;
        anyhow::Ok((imported, report))
    }
    .await;
    // Printing waits until the database is gone: a closed pipe (`| head`) must not leave it.
    let dropped = scratch.drop_now().await;
    let (imported, report) = result?;
    dropped.with_context(|| format!("dropping the scratch database {name}; drop it by hand"))?;
    println!(
        "Rotation dry run: {} and {}, now {now} ({} in {}), in the scratch database {name}.",
        campaigns.display(),
        consumers.display(),
        report.date,
        config.sweep.timezone
    );
    print_import(&imported);
    print_posts(&would.take(), config.sweep.digest_to.as_deref());
    print_report(&report);
    println!("(dry run: nothing was sent to Slack; the scratch database {name} was dropped.)");
    Ok(())
}

/// Each message a dry run would have posted: the digest or a nudge, its channel, text and blocks.
fn print_posts(posted: &[WouldDo], digest_to: Option<&str>) {
    for (i, message) in posted.iter().enumerate() {
        let what = if digest_to == Some(message.target.as_str()) {
            "Digest"
        } else {
            "Nudge"
        };
        println!(
            "{}\n{what} {} of {} to {}\n{}\n",
            crate::print::RULE,
            i + 1,
            posted.len(),
            message.target,
            message.content["text"].as_str().unwrap_or_default()
        );
        for block in message.content["blocks"].as_array().into_iter().flatten() {
            for line in block_lines(block) {
                println!("  {line}");
            }
        }
    }
}

fn print_report(r: &SweepReport) {
    if let Some(why) = &r.skipped {
        println!("sweep skipped: {why}");
        return;
    }
    println!(
        "\nsweep {}: {} outstanding ({} snoozed), {} due, {} nudged in {}, {} deferred, digest: {:?}",
        r.date,
        r.outstanding,
        r.snoozed,
        r.due,
        r.nudged,
        counted(r.messages as u64, "message", "messages"),
        r.deferred,
        r.digest
    );
    for u in &r.undeliverable {
        println!(
            "  undeliverable: {} ({}): {}, {}; retried next run",
            u.team,
            u.channel.as_deref().unwrap_or("no channel"),
            u.reason,
            counted(u.consumers as u64, "consumer", "consumers"),
        );
    }
}
