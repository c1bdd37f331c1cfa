//! Benchmark of one scheduled review run with a slow model: how much the bounded concurrency of
//! model calls saves over calling the model one grant at a time. Everything but Postgres is in
//! memory (grants from a generated sample, cards and review events recorded), and the model is a
//! stand-in that waits a fixed latency, so the figures show the workflow's own cost plus the
//! model's waiting, not a provider's variance.
//!
//! `cargo run --release -p secops-local --bin review-bench -- [--events 2000] [--latency-ms 300]
//! [--concurrency 16] [--serial-sample 100]`
//!
//! Each run gets a fresh scratch database (created, migrated, dropped) on `BENCH_DATABASE_URL`'s
//! server (or `TEST_DATABASE_URL`'s, or the local trust server). The serial run is measured on
//! `--serial-sample` events and scaled linearly: a serial run over all events would take
//! events × latency and tell nothing more.

mod measure;

use measure::{peak_rss_mib, reset_peak_rss};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, TimeZone, Utc};
use clap::Parser;
use secops_shared::connectors::llm::StructuredLlm;
use secops_shared::db::{Database, ScratchDatabase};
use secops_shared::review::dry_run::{FileAuditSource, RecordingChat, RecordingLog, SlowModel};
use secops_shared::review::ports::{NoWebhook, Row};
use secops_shared::review::risk::RiskConfig;
use secops_shared::review::source::Preset;
use secops_shared::review::store::ReviewStore;
use secops_shared::review::workflow::{ReviewDeps, ReviewReport, ReviewSettings, run_review};
use secops_shared::telemetry::MetricsSink;
use serde_json::json;

/// A valid verdict (see `review::risk_scoring`): routine grants resolve themselves, the others
/// keep their rule floor.
const ANSWER: &str =
    r#"{"level":"low","score":12,"reasons":["routine grant by a regular grantor"]}"#;

const ROLES: &[(&str, &str, &str)] = &[
    (
        "Salesforce System Administrator",
        "salesforce:acme-prod",
        "salesforce",
    ),
    ("Jira Administrators", "atlassian:acme", "atlassian"),
    (
        "Google Workspace Groups Admin",
        "google-workspace:example.com",
        "google-workspace",
    ),
    ("Okta Help Desk Administrator", "okta:acme", "okta"),
    ("AWS PowerUserAccess", "aws:123456789012", "aws"),
    ("GitHub Repository Admin", "github:acme-corp", "github"),
];

struct Args {
    events: usize,
    latency: Duration,
    concurrency: usize,
    serial_sample: usize,
}

#[derive(Parser)]
#[command(
    name = "review-bench",
    about = "Benchmark one scheduled review run with a slow model: bounded concurrency against one call at a time"
)]
struct Cli {
    /// Privileged-access events in the run.
    #[arg(long, default_value_t = 2_000)]
    events: usize,
    /// The stand-in model's fixed latency per call, in milliseconds.
    #[arg(long, default_value_t = 300)]
    latency_ms: u64,
    /// Model calls in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Events the serial run is measured on (scaled linearly to all events).
    #[arg(long, default_value_t = 100)]
    serial_sample: usize,
}

fn args() -> Result<Args> {
    let cli = Cli::parse();
    if cli.events == 0 || cli.concurrency == 0 || cli.serial_sample == 0 {
        bail!("--events, --concurrency and --serial-sample must be at least 1");
    }
    Ok(Args {
        events: cli.events,
        latency: Duration::from_millis(cli.latency_ms),
        concurrency: cli.concurrency,
        serial_sample: cli.serial_sample.min(cli.events),
    })
}

/// The run's clock: a Wednesday noon (UTC), so the generated grants fall in business hours.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 18, 12, 0, 0).unwrap()
}

fn row(id: String, time: DateTime<Utc>, grantor: &str, grantee: &str, role: usize) -> Row {
    let (role, target, source) = ROLES[role % ROLES.len()];
    json!({
        "_time": time.to_rfc3339(),
        "event_type": "privileged_grant",
        "event_id": id,
        "grantor": grantor,
        "grantee": grantee,
        "role": role,
        "target": target,
        "source": source,
    })
    .as_object()
    .expect("an object")
    .clone()
}

/// `n` grants between 10:00 and 11:55, plus history a week earlier. Two in three are routine
/// (a regular grantor re-granting a role the grantee held before); one in three comes from a
/// grantor with no history (a card); about one in a hundred is a self-grant (a high card).
/// Grantors make about three grants each, below the burst threshold.
fn generate(n: usize) -> Vec<Row> {
    let start = Utc.with_ymd_and_hms(2026, 11, 18, 10, 0, 0).unwrap();
    let step = chrono::Duration::milliseconds((115 * 60 * 1000 / n as i64).max(1));
    let grantors = (n / 3).max(1);
    let mut rows = Vec::with_capacity(n * 2);
    for i in 0..n {
        let time = start + step * i as i32;
        let grantee = format!("user{i:06}@example.com");
        if i % 3 == 0 {
            let grantor = format!("contractor{:05}@example.com", i % grantors);
            rows.push(row(format!("bench-{i:06}"), time, &grantor, &grantee, i));
            continue;
        }
        let grantor = format!("admin{:05}@example.com", i % grantors);
        let grantee = if i % 97 == 1 {
            grantor.clone()
        } else {
            grantee
        };
        rows.push(row(
            format!("bench-h-{i:06}"),
            time - chrono::Duration::days(7),
            &grantor,
            &grantee,
            i,
        ));
        rows.push(row(format!("bench-{i:06}"), time, &grantor, &grantee, i));
    }
    rows
}

fn settings(concurrency: usize, n: usize) -> ReviewSettings {
    ReviewSettings {
        source: Preset::Generic.source("bench"),
        risk: RiskConfig::default(),
        ingest_lag: chrono::Duration::minutes(10),
        late_window: chrono::Duration::hours(24),
        query_delay: chrono::Duration::seconds(60),
        initial_lookback: chrono::Duration::hours(2),
        history: chrono::Duration::days(30),
        review_channel: "C0BENCH".to_owned(),
        llm_concurrency: concurrency,
        // Every review queues one side effect: the run drains them all.
        max_tasks_per_run: n as i64 + 1,
        domain_aliases: Default::default(),
    }
}

struct Timed {
    wall: Duration,
    report: ReviewReport,
    cards: usize,
    events: usize,
    peak_rss_mib: f64,
}

/// One full `run_review` over `n` generated grants, in a database created for it and dropped
/// after it.
async fn timed_run(
    admin_url: &str,
    name: &str,
    n: usize,
    latency: Duration,
    concurrency: usize,
) -> Result<Timed> {
    let source = FileAuditSource::from_rows(generate(n))?;
    let scratch = ScratchDatabase::create(&admin_url.to_owned().into(), name, None)
        .await
        .with_context(|| format!("creating {name} (set BENCH_DATABASE_URL)"))?;
    let result = async {
        let store = ReviewStore::new(&Database::new(scratch.connect(None).await?));
        let (log, chat) = (RecordingLog::default(), RecordingChat::default());
        let model = SlowModel {
            latency,
            answer: ANSWER.to_owned(),
        };
        let settings = settings(concurrency, n);
        let deps = ReviewDeps {
            store: &store,
            source: &source,
            log: &log,
            chat: &chat,
            llm: Some(&model),
            webhook: None::<&NoWebhook>,
            settings: &settings,
            deadline_margin: Duration::ZERO,
            metrics: MetricsSink::Off,
            metrics_namespace: "SecOps/Bench",
        };
        reset_peak_rss();
        let started = Instant::now();
        let report = run_review(&deps, now()).await?;
        let wall = started.elapsed();
        anyhow::ensure!(
            report.model_fallbacks == 0,
            "{} model answers were not used",
            report.model_fallbacks
        );
        Ok(Timed {
            wall,
            cards: chat.cards().len(),
            events: log.events().len(),
            peak_rss_mib: peak_rss_mib().unwrap_or(f64::NAN),
            report,
        })
    }
    .await;
    scratch.drop_now().await?;
    result
}

fn describe(label: &str, t: &Timed) {
    let r = &t.report;
    println!(
        "{label:<34} wall {:>8.2} s  reviews recorded {:>5} (auto-resolved {}, cards {}: high {} medium {})  side effects done {} (review events {}, cards {})  pending {}  peak_rss {:.1} MiB",
        t.wall.as_secs_f64(),
        r.reviewed,
        r.auto_resolved,
        r.sent_for_review,
        r.high,
        r.medium,
        r.tasks_done,
        t.events,
        t.cards,
        r.pending,
        t.peak_rss_mib,
    );
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = args()?;
    let admin = std::env::var("BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("TEST_DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let name = format!("secops_review_bench_{}", std::process::id());
    let latency_ms = args.latency.as_secs_f64() * 1000.0;
    println!(
        "review run benchmark: {} grants in one window, model latency {latency_ms:.0} ms ({} model), each run in a fresh database; peak_rss is this process's VmHWM, reset before each run",
        args.events,
        SlowModel {
            latency: args.latency,
            answer: String::new()
        }
        .model()
    );
    // The small serial run first: the allocator keeps what a run freed, so the big run's peak
    // is only meaningful when it comes second.
    let serial = timed_run(&admin, &name, args.serial_sample, args.latency, 1).await?;
    describe(
        &format!("serial (1), {} grants:", args.serial_sample),
        &serial,
    );
    let concurrent = timed_run(&admin, &name, args.events, args.latency, args.concurrency).await?;
    describe(
        &format!("concurrent ({}), {} grants:", args.concurrency, args.events),
        &concurrent,
    );
    let scale = args.events as f64 / args.serial_sample as f64;
    let serial_extrapolated = serial.wall.as_secs_f64() * scale;
    let model_serial = args.events as f64 * args.latency.as_secs_f64();
    println!(
        "serial, {} grants: {serial_extrapolated:.2} s EXTRAPOLATED (the {}-grant serial run × {scale:.1}; not measured)",
        args.events, args.serial_sample
    );
    println!(
        "serial model time alone, theoretical: {} × {latency_ms:.0} ms = {model_serial:.2} s",
        args.events
    );
    println!(
        "ratio serial/concurrent: {:.1}x (extrapolated serial ÷ measured concurrent); {:.1}x against the theoretical serial model time",
        serial_extrapolated / concurrent.wall.as_secs_f64(),
        model_serial / concurrent.wall.as_secs_f64()
    );
    Ok(())
}
