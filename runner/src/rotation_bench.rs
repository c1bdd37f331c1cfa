//! Benchmark of one rotation sweep at scale: tens of thousands of overdue consumers across
//! thousands of teams, against Postgres and an in-memory chat that answers at once, so the
//! figures show the sweep's own cost (database, rendering, orchestration), not Slack's.
//!
//! `cargo run --release -p secops-local --bin rotation-bench -- [--consumers 50000]
//! [--teams 2000] [--overdue-percent 100] [--concurrency 4]`
//!
//! Each run gets a fresh scratch database (created, migrated, dropped, also on error) on
//! `BENCH_DATABASE_URL`'s server (or `TEST_DATABASE_URL`'s, or the local trust server). After
//! the measured sweep and a second one a minute later (which must nudge nobody), the nudge state
//! is reset and the sweep's database statements are replayed one by one, timed, as the
//! baseline: the sweep cannot be faster than the statements it issues.

mod measure;

use measure::{peak_rss_mib, reset_peak_rss};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use clap::Parser;
use secops_shared::db::{Database, ScratchDatabase};
use secops_shared::ports::{FailureKind, PortError, Posted};
use secops_shared::rotation::bucket::{Bucket, Thresholds};
use secops_shared::rotation::digest::{DigestFacts, render_digest};
use secops_shared::rotation::message::{
    Escalation, LineState, MAX_LINES_PER_MESSAGE, NudgeLine, NudgeMessage,
};
use secops_shared::rotation::ports::RotationChat;
use secops_shared::rotation::store::{DigestClaim, Outstanding, RotationStore};
use secops_shared::rotation::workflow::{
    DigestOutcome, SweepDeps, SweepReport, SweepSettings, run_sweep,
};
use secops_shared::telemetry::MetricsSink;
use serde_json::{Value, json};
use tokio_postgres::Client;

const CAMPAIGN: &str = "bench-rotation";
const DIGEST_TO: &str = "C0DIGEST01";
const SECURITY_LEAD: &str = "U0SECLEAD1";

#[derive(Parser)]
#[command(
    name = "rotation-bench",
    about = "Benchmark one rotation sweep against Postgres and an instant chat"
)]
struct Args {
    /// Consumers on the retired key.
    #[arg(long, default_value_t = 50_000)]
    consumers: usize,
    /// Owning teams (consumer i belongs to team i % teams).
    #[arg(long, default_value_t = 2_000)]
    teams: usize,
    /// Share of consumers past their deadline (the rest are due later and not chased).
    #[arg(long, default_value_t = 100)]
    overdue_percent: usize,
    /// Teams messaged at once (the product default is 4).
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
}

/// The run's clock: a Monday morning (UTC), so weekends play no part.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

fn settings(concurrency: usize) -> SweepSettings {
    SweepSettings {
        skip_weekends: false,
        security_lead: Some(SECURITY_LEAD.to_owned()),
        digest_to: Some(DIGEST_TO.to_owned()),
        concurrency,
        channel_spacing: Duration::ZERO,
        ..SweepSettings::default()
    }
}

/// A chat that answers at once with a unique ts, counting what it was given; the time spent
/// inside `post` (including serialising the blocks, as a real client would) is summed.
#[derive(Default)]
struct InstantChat {
    nudges: AtomicUsize,
    digests: AtomicUsize,
    block_bytes: AtomicU64,
    busy_nanos: AtomicU64,
    next_ts: AtomicU64,
}

impl InstantChat {
    fn busy(&self) -> Duration {
        Duration::from_nanos(self.busy_nanos.load(Ordering::Relaxed))
    }
}

impl RotationChat for InstantChat {
    async fn post(&self, channel: &str, text: &str, blocks: &Value) -> Result<Posted, PortError> {
        let started = Instant::now();
        let body = serde_json::to_vec(blocks)
            .map_err(|e| PortError::new("slack", FailureKind::Permanent, e))?;
        self.block_bytes
            .fetch_add((body.len() + text.len()) as u64, Ordering::Relaxed);
        let counter = if channel == DIGEST_TO {
            &self.digests
        } else {
            &self.nudges
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let n = self.next_ts.fetch_add(1, Ordering::Relaxed);
        let posted = Posted {
            channel: channel.to_owned(),
            ts: format!("1795424400.{n:06}"),
        };
        self.busy_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        Ok(posted)
    }
}

/// Consumer `i` belongs to team `i % teams`; `overdue_percent` of them are 1 to 40 days past
/// their deadline (varying within and across teams, so every bucket occurs), the rest due in
/// the coming month. Loaded in one statement: `rotation::store::import` goes row by row and
/// took about 30 s for 50,000 here, and loading is not what is measured.
async fn load(client: &Client, args: &Args, at: DateTime<Utc>) -> Result<u64> {
    let today = at.date_naive();
    let n = args.consumers;
    let (mut names, mut teams, mut channels, mut leads, mut deadlines) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::<NaiveDate>::with_capacity(n),
    );
    for i in 0..n {
        let team = i % args.teams;
        names.push(format!("svc-{i:06}"));
        teams.push(format!("team-{team:05}"));
        channels.push(format!("C{team:08}"));
        leads.push(format!("U{team:08}"));
        deadlines.push(if i % 100 < args.overdue_percent {
            today - chrono::Duration::days(1 + ((i / args.teams + team) % 40) as i64)
        } else {
            today + chrono::Duration::days(1 + (i % 30) as i64)
        });
    }
    client
        .execute(
            "INSERT INTO rotation_campaigns (campaign, retired_key, replacement_key, deadline, created_at, updated_at)
             VALUES ($1, 'stripe-live-2024', 'stripe-live-2026', $2, $3, $3)",
            &[&CAMPAIGN, &(today - chrono::Duration::days(40)), &at],
        )
        .await?;
    let loaded = client
        .execute(
            "INSERT INTO rotation_consumers (campaign, name, team, channel, team_lead, deadline, status, created_at, updated_at)
             SELECT $1, name, team, channel, lead, deadline, 'pending', $2, $2
               FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::date[])
                    AS u (name, team, channel, lead, deadline)",
            &[&CAMPAIGN, &at, &names, &teams, &channels, &leads, &deadlines],
        )
        .await?;
    Ok(loaded)
}

/// Rewrite the table and refresh its statistics, so the sweep and the replay start alike.
async fn compact(client: &Database) -> Result<()> {
    client
        .lock()
        .await
        .batch_execute("VACUUM (FULL, ANALYZE) rotation_consumers")
        .await?;
    Ok(())
}

/// Forget every nudge and digest, as if no sweep had run.
async fn reset(client: &Database) -> Result<()> {
    client
        .lock()
        .await
        .batch_execute(
            "UPDATE rotation_consumers
                SET nudge_count = 0, last_nudged_at = NULL, nudge_started_at = NULL;
             TRUNCATE rotation_nudges, rotation_digests",
        )
        .await?;
    compact(client).await
}

struct Swept {
    report: SweepReport,
    wall: Duration,
    chat: Duration,
    nudges: usize,
    digests: usize,
    block_bytes: u64,
}

async fn sweep(client: &Database, settings: &SweepSettings, at: DateTime<Utc>) -> Result<Swept> {
    let chat = InstantChat::default();
    let deps = SweepDeps {
        store: RotationStore::new(client),
        chat: &chat,
        settings,
        metrics: MetricsSink::Off,
        metrics_namespace: "SecOps/Bench",
    };
    let started = Instant::now();
    let report = run_sweep(&deps, at).await?;
    let wall = started.elapsed();
    Ok(Swept {
        report,
        wall,
        chat: chat.busy(),
        nudges: chat.nudges.load(Ordering::Relaxed),
        digests: chat.digests.load(Ordering::Relaxed),
        block_bytes: chat.block_bytes.load(Ordering::Relaxed),
    })
}

/// Time spent in each kind of statement the sweep issues, replayed one at a time.
#[derive(Default)]
struct Floor {
    outstanding: Duration,
    claims: Duration,
    claim_count: usize,
    records: Duration,
    record_count: usize,
    digest_reread: Duration,
    digest_small: Duration,
    /// Not a statement: rendering the same nudges and digest, timed apart for the breakdown.
    render: Duration,
}

impl Floor {
    /// The statements no sweep can do without: the read, one claim per team and one record per
    /// message.
    fn unavoidable(&self) -> Duration {
        self.outstanding + self.claims + self.records
    }

    fn all(&self) -> Duration {
        self.unavoidable() + self.digest_reread + self.digest_small
    }
}

async fn timed<T, E>(total: &mut Duration, f: impl Future<Output = Result<T, E>>) -> Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let started = Instant::now();
    let value = f.await?;
    *total += started.elapsed();
    Ok(value)
}

/// The sweep's database statements in its order, without posting: the read, then per team the
/// claim and one record per message (the same lines, so the same stored JSON), then the
/// digest's re-read and its four small statements. The nudges and the digest are rendered too,
/// timed apart from the statements.
async fn replay(client: &Database, settings: &SweepSettings, at: DateTime<Utc>) -> Result<Floor> {
    let store = RotationStore::new(client);
    let today = at.date_naive();
    let cutoff = at - settings.nudge_interval;
    let mut floor = Floor::default();
    timed(
        &mut floor.outstanding,
        store.settle_unfinished(at - secops_shared::rotation::workflow::SETTLE_AFTER),
    )
    .await?;
    let outstanding = timed(&mut floor.outstanding, store.outstanding(today, cutoff)).await?;
    let mut teams: BTreeMap<(&str, Option<&str>), Vec<i64>> = BTreeMap::new();
    for c in outstanding
        .iter()
        .filter(|c| c.due && c.snoozed_until.is_none())
    {
        teams
            .entry((c.team.as_str(), c.channel.as_deref()))
            .or_default()
            .push(c.consumer_id);
    }
    let mut ts = 0u64;
    for ((team, channel), ids) in teams {
        let Some(channel) = channel else { continue };
        let claimed = timed(&mut floor.claims, store.claim(&ids, today, cutoff, at)).await?;
        floor.claim_count += 1;
        let lines = nudge_lines(&claimed, settings.thresholds);
        let escalation = Escalation {
            team_lead: claimed.iter().find_map(|c| c.team_lead.clone()),
            security_lead: settings.security_lead.clone(),
        };
        let of = lines.len().div_ceil(MAX_LINES_PER_MESSAGE);
        for (index, (chunk, rows)) in lines
            .chunks(MAX_LINES_PER_MESSAGE)
            .zip(claimed.chunks(MAX_LINES_PER_MESSAGE))
            .enumerate()
        {
            let message = NudgeMessage {
                team: team.to_owned(),
                lines: chunk.to_vec(),
                escalation: escalation.clone(),
                part: (of > 1).then_some((index + 1, of)),
                tone: lines.iter().map(|l| l.bucket).max(),
                nudge_id: None,
            };
            let ids: Vec<i64> = rows.iter().map(|c| c.consumer_id).collect();
            let nudge = timed(
                &mut floor.records,
                store.begin_nudge(channel, &message, &ids, at),
            )
            .await?;
            let mut message = message;
            message.nudge_id = Some(nudge);
            let started = Instant::now();
            std::hint::black_box(message.render());
            floor.render += started.elapsed();
            ts += 1;
            let ts = format!("1795424400.{ts:06}");
            timed(
                &mut floor.records,
                store.mark_sent(nudge, channel, &ts, Some(at)),
            )
            .await?;
            floor.record_count += 2;
        }
    }
    let outstanding = timed(&mut floor.digest_reread, store.outstanding(today, cutoff)).await?;
    let since = timed(&mut floor.digest_small, store.last_digest_sent(today)).await?;
    let confirmations = timed(&mut floor.digest_small, store.confirmations_since(since)).await?;
    let started = Instant::now();
    std::hint::black_box(render_digest(&DigestFacts {
        date: today,
        timezone: settings.timezone,
        deferred: 0,
        thresholds: settings.thresholds,
        outstanding: &outstanding,
        confirmations: &confirmations,
        undeliverable: &[],
        repeat_threshold: settings.repeat_threshold,
    }));
    floor.render += started.elapsed();
    // As the sweep does: the claim's age is real time.
    let claimed_at = Utc::now();
    let claim = timed(
        &mut floor.digest_small,
        store.claim_digest(today, claimed_at, claimed_at - chrono::Duration::minutes(2)),
    )
    .await?;
    anyhow::ensure!(
        claim == DigestClaim::Claimed,
        "the replay's digest claim was refused: {claim:?}"
    );
    timed(
        &mut floor.digest_small,
        store.complete_digest(today, DIGEST_TO, "1795424400.999999", &json!({}), at),
    )
    .await?;
    Ok(floor)
}

fn nudge_lines(claimed: &[Outstanding], thresholds: Thresholds) -> Vec<NudgeLine> {
    claimed
        .iter()
        .map(|c| NudgeLine {
            consumer_ref: c.consumer_id.to_string(),
            name: c.name.clone(),
            retired_key: c.retired_key.clone(),
            deadline: c.deadline,
            days_overdue: c.days_overdue,
            nudges_so_far: c.nudge_count,
            bucket: thresholds.bucket(c.days_overdue).unwrap_or(Bucket::Gentle),
            state: LineState::Open,
        })
        .collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pct(part: Duration, whole: Duration) -> f64 {
    100.0 * part.as_secs_f64() / whole.as_secs_f64()
}

fn digest(outcome: &DigestOutcome) -> String {
    match outcome {
        DigestOutcome::Sent { .. } => "sent".to_owned(),
        other => format!("{other:?}"),
    }
}

async fn bench(scratch: &ScratchDatabase, args: &Args) -> Result<()> {
    let at = now();
    let settings = settings(args.concurrency);
    let client = scratch.connect(None).await?;
    let started = Instant::now();
    let loaded = load(&client, args, at).await?;
    let client = Database::new(client);
    compact(&client).await?;
    println!(
        "setup (not measured): {loaded} consumers loaded with one INSERT ... SELECT FROM unnest, table compacted and analysed, in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    reset_peak_rss();
    let rss_before = peak_rss_mib().unwrap_or(f64::NAN);
    let first = sweep(&client, &settings, at).await?;
    let peak = peak_rss_mib().unwrap_or(f64::NAN);
    let r = &first.report;
    anyhow::ensure!(
        r.nudged == r.due && r.deferred == 0 && r.undeliverable.is_empty(),
        "the sweep left consumers behind: {r:?}"
    );
    println!(
        "sweep 1 at {at}: {:.1} ms  outstanding {}  due {}  consumers nudged {}  messages {} (+{} digest, {})  teams {}  {:.3} ms/team  blocks rendered {:.1} MiB  peak RSS {peak:.1} MiB (RSS at start {rss_before:.1} MiB)",
        ms(first.wall),
        r.outstanding,
        r.due,
        r.nudged,
        first.nudges,
        first.digests,
        digest(&r.digest),
        args.teams,
        ms(first.wall) / args.teams as f64,
        first.block_bytes as f64 / (1024.0 * 1024.0),
    );

    let later = at + chrono::Duration::minutes(1);
    let second = sweep(&client, &settings, later).await?;
    let r2 = &second.report;
    println!(
        "sweep 2 at {later}: {:.1} ms  outstanding {}  due {}  consumers nudged {}  messages {}  digest {}  (the cadence holds: nobody nudged twice)",
        ms(second.wall),
        r2.outstanding,
        r2.due,
        r2.nudged,
        second.nudges + second.digests,
        digest(&r2.digest),
    );
    if r2.nudged != 0 || second.nudges + second.digests != 0 {
        bail!("the second sweep a minute later posted again: {r2:?}");
    }

    reset(&client).await?;
    let floor = replay(&client, &settings, at).await?;
    println!(
        "database baseline (the sweep's statements replayed one at a time after a reset, nothing posted):"
    );
    println!(
        "  outstanding read          {:>9.1} ms  (2 statements: settle + read, {} rows)",
        ms(floor.outstanding),
        r.outstanding
    );
    println!(
        "  claim per team            {:>9.1} ms  ({} statements, {:.3} ms each)",
        ms(floor.claims),
        floor.claim_count,
        ms(floor.claims) / floor.claim_count.max(1) as f64
    );
    println!(
        "  record per message        {:>9.1} ms  ({} statements, {:.3} ms each: before and after the send)",
        ms(floor.records),
        floor.record_count,
        ms(floor.records) / floor.record_count.max(1) as f64
    );
    println!(
        "  unavoidable floor         {:>9.1} ms  (read + claims + records)",
        ms(floor.unavoidable())
    );
    println!(
        "  digest re-read + 4 small  {:>9.1} ms  ({:.1} + {:.1})",
        ms(floor.digest_reread + floor.digest_small),
        ms(floor.digest_reread),
        ms(floor.digest_small)
    );
    println!("  all statements            {:>9.1} ms", ms(floor.all()));

    // Negative when the sweep overlapped rendering and posting with its statements (or the
    // replay ran on a busier machine): the parts are measured apart, not inside the sweep.
    let rest = ms(first.wall) - ms(floor.all() + floor.render + first.chat);
    println!("where sweep 1's {:.1} ms went:", ms(first.wall));
    println!(
        "  database statements (replayed)   {:>9.1} ms  {:>5.1} %",
        ms(floor.all()),
        pct(floor.all(), first.wall)
    );
    println!(
        "  inside the chat fake             {:>9.1} ms  {:>5.1} %  ({} posts, serialising the blocks included)",
        ms(first.chat),
        pct(first.chat, first.wall),
        first.nudges + first.digests
    );
    println!(
        "  rendering (replayed)             {:>9.1} ms  {:>5.1} %  ({} nudges and the digest)",
        ms(floor.render),
        pct(floor.render, first.wall),
        floor.record_count
    );
    println!(
        "  remainder (orchestration; < 0 = overlap or noise) {:>7.1} ms  {:>5.1} %",
        rest,
        100.0 * rest / ms(first.wall)
    );
    println!(
        "ratio sweep / its database statements: {:.2}x; sweep / unavoidable floor: {:.2}x",
        first.wall.as_secs_f64() / floor.all().as_secs_f64(),
        first.wall.as_secs_f64() / floor.unavoidable().as_secs_f64()
    );
    let (name, share) = [
        ("the database statements", pct(floor.all(), first.wall)),
        ("the chat fake", pct(first.chat, first.wall)),
        ("rendering", pct(floor.render, first.wall)),
    ]
    .into_iter()
    .max_by(|a, b| a.1.total_cmp(&b.1))
    .expect("three parts");
    println!("dominant: {name} (measured alone, {share:.0} % of the sweep's wall time)");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.consumers == 0 || args.teams == 0 || args.concurrency == 0 {
        bail!("--consumers, --teams and --concurrency must be at least 1");
    }
    if args.overdue_percent > 100 {
        bail!("--overdue-percent is at most 100");
    }
    let admin = std::env::var("BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("TEST_DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let name = format!("secops_rotation_bench_{}", std::process::id());
    println!(
        "rotation sweep benchmark: {} consumers across {} teams, {} % overdue, concurrency {}, chat answering at once (channel spacing 0), digest on; measured: sweep wall time, time inside the chat fake, peak RSS (this process's VmHWM, reset before the sweep), against the sweep's database statements replayed alone",
        args.consumers, args.teams, args.overdue_percent, args.concurrency
    );
    let scratch = ScratchDatabase::create(&admin.into(), &name, None)
        .await
        .with_context(|| format!("creating {name} (set BENCH_DATABASE_URL)"))?;
    let result = bench(&scratch, &args).await;
    scratch.drop_now().await?;
    result
}
