//! Benchmark of the daily drift pass against a pure-SQL baseline doing the same work, in the same
//! run and database. Prints wall time, peak RSS of this process during the pass, and the ratio.
//!
//! `cargo run --release -p secops-local --bin drift-bench -- [--sizes 100000,1000000] [--churn 0.01]`
//! Uses `BENCH_DATABASE_URL` (or `TEST_DATABASE_URL`, or the local trust server) to create and
//! drop a scratch database.

mod measure;

use measure::{peak_rss_mib, reset_peak_rss};
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::Utc;
use futures_util::pin_mut;
use secops_shared::db::ScratchDatabase;
use secops_shared::drift::pg_store::PgStore;
use secops_shared::drift::store::{DriftStore, RunStart};
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

const SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/calendar.readonly",
    "https://www.googleapis.com/auth/drive.readonly",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
    "openid",
    "https://mail.google.com/",
];

struct Args {
    sizes: Vec<u64>,
    churn: f64,
}

fn args() -> Result<Args> {
    let mut args = Args {
        sizes: vec![100_000, 1_000_000],
        churn: 0.01,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--sizes" => {
                args.sizes = value
                    .split(',')
                    .map(|s| s.trim().parse().context("--sizes takes numbers"))
                    .collect::<Result<_>>()?;
            }
            "--churn" => args.churn = value.parse().context("--churn takes a fraction")?,
            other => anyhow::bail!("unknown flag {other} (use --sizes and --churn)"),
        }
    }
    Ok(args)
}

fn scopes_for(i: u64, extra: bool) -> Vec<&'static str> {
    let mut s: Vec<&str> = (0..(2 + i % 3))
        .map(|k| SCOPES[((i + k) % 5) as usize])
        .collect();
    if extra {
        s.push(SCOPES[5]);
    }
    s.sort_unstable();
    s.dedup();
    s
}

/// What day two does to grant `i`: mostly nothing; `churn` of them change, split evenly
/// between new, revoked, elevated and reduced.
#[derive(Clone, Copy, PartialEq)]
enum Fate {
    Same,
    New,
    Revoked,
    Elevated,
    Reduced,
}

fn fate(i: u64, churn: f64) -> Fate {
    let slot = (i.wrapping_mul(2_654_435_761) % 1_000_000) as f64 / 1_000_000.0;
    let quarter = churn / 4.0;
    match slot {
        s if s < quarter => Fate::New,
        s if s < 2.0 * quarter => Fate::Revoked,
        s if s < 3.0 * quarter => Fate::Elevated,
        s if s < churn => Fate::Reduced,
        _ => Fate::Same,
    }
}

async fn load(client: &mut Client, table: &str, n: u64, churn: f64, today: bool) -> Result<()> {
    let tx = client.transaction().await?;
    let (sql, types): (String, Vec<Type>) = if today {
        (
            format!(
                "COPY {table} (provider, client_id, principal, app_name, scopes, consent_type) FROM STDIN BINARY"
            ),
            vec![
                Type::TEXT,
                Type::TEXT,
                Type::TEXT,
                Type::TEXT,
                Type::TEXT_ARRAY,
                Type::TEXT,
            ],
        )
    } else {
        (
            format!(
                "COPY {table} (provider, client_id, principal, app_name, scopes, consent_type, first_seen, updated_at) FROM STDIN BINARY"
            ),
            vec![
                Type::TEXT,
                Type::TEXT,
                Type::TEXT,
                Type::TEXT,
                Type::TEXT_ARRAY,
                Type::TEXT,
                Type::TIMESTAMPTZ,
                Type::TIMESTAMPTZ,
            ],
        )
    };
    let sink = tx.copy_in(&sql).await?;
    let writer = BinaryCopyInWriter::new(sink, &types);
    pin_mut!(writer);
    let now = Utc::now();
    for i in 0..n {
        let f = fate(i, churn);
        let present = if today {
            f != Fate::Revoked
        } else {
            f != Fate::New
        };
        if !present {
            continue;
        }
        let client_id = format!("{}.apps.googleusercontent.com", i % 5_000);
        let principal = format!("user{i:07}@example.com");
        let app = format!("App {}", i % 5_000);
        let mut scopes = scopes_for(i, today && f == Fate::Elevated);
        if today && f == Fate::Reduced {
            scopes.pop();
        }
        let consent = "user";
        let mut row: Vec<&(dyn ToSql + Sync)> =
            vec![&"google", &client_id, &principal, &app, &scopes, &consent];
        if !today {
            row.push(&now);
            row.push(&now);
        }
        writer.as_mut().write(&row).await?;
    }
    writer.finish().await?;
    tx.commit().await?;
    Ok(())
}

const SQL_BASELINE: &str = "
BEGIN;
CREATE TEMP TABLE sql_changes (provider text, client_id text, principal text, kind text,
                               old_scopes text[], new_scopes text[]) ON COMMIT DROP;
INSERT INTO sql_changes
SELECT coalesce(b.provider, i.provider), coalesce(b.client_id, i.client_id), coalesce(b.principal, i.principal),
       CASE WHEN b.provider IS NULL THEN 'new'
            WHEN i.provider IS NULL THEN 'revoked'
            WHEN NOT (i.scopes <@ b.scopes) OR (b.consent_type = 'user' AND i.consent_type = 'admin') THEN 'elevated'
            WHEN b.scopes <> i.scopes OR b.consent_type <> i.consent_type THEN 'reduced'
            ELSE 'metadata' END,
       b.scopes, i.scopes
  FROM sql_baseline b
  FULL OUTER JOIN oauth_grant_inventory i
    ON b.provider = i.provider AND b.client_id = i.client_id AND b.principal = i.principal
 WHERE b.provider IS NULL OR i.provider IS NULL OR b.scopes <> i.scopes
    OR b.consent_type <> i.consent_type OR b.app_name <> i.app_name;
TRUNCATE sql_baseline;
INSERT INTO sql_baseline SELECT provider, client_id, principal, app_name, scopes, consent_type, publisher, verified, now(), now()
  FROM oauth_grant_inventory;
COMMIT;";

async fn bench_size(
    client: &mut Client,
    scratch: &ScratchDatabase,
    n: u64,
    churn: f64,
) -> Result<()> {
    client
        .batch_execute(
            "TRUNCATE oauth_grant_inventory, oauth_grant_baseline, oauth_grant_changes, oauth_grant_filings, oauth_drift_runs;
             DROP TABLE IF EXISTS sql_baseline;",
        )
        .await?;
    eprintln!(
        "[{n}] generating baseline and inventory with {:.1}% churn…",
        churn * 100.0
    );
    load(client, "oauth_grant_baseline", n, churn, false).await?;
    load(client, "oauth_grant_inventory", n, churn, true).await?;
    client
        .batch_execute(
            "CREATE TABLE sql_baseline (LIKE oauth_grant_baseline INCLUDING ALL);
             INSERT INTO sql_baseline SELECT * FROM oauth_grant_baseline;",
        )
        .await?;
    // VACUUM refuses to run inside the implicit transaction of a multi-statement batch.
    for table in [
        "oauth_grant_inventory",
        "oauth_grant_baseline",
        "sql_baseline",
    ] {
        client
            .batch_execute(&format!("VACUUM ANALYZE {table}"))
            .await?;
    }

    eprintln!("[{n}] SQL baseline pass…");
    let t = Instant::now();
    client.batch_execute(SQL_BASELINE).await?;
    let sql_ms = t.elapsed().as_secs_f64() * 1000.0;

    eprintln!("[{n}] product pass (PgStore::record_run; filing stubbed)…");
    let store = PgStore::new(scratch.connect(None).await?);
    reset_peak_rss();
    let t = Instant::now();
    let outcome = store
        .record_run(&RunStart {
            run_id: uuid::Uuid::new_v4(),
            started_at: Utc::now(),
            group_threshold: 10,
            max_revoked_percent: 50,
            max_inventory_age: None,
        })
        .await?;
    let rust_ms = t.elapsed().as_secs_f64() * 1000.0;
    let peak = peak_rss_mib().unwrap_or(f64::NAN);
    let c = &outcome.counts;
    let changed = c.new + c.elevated + c.reduced + c.revoked + c.metadata;
    println!(
        "grants={n:>9}  sql_baseline={sql_ms:>8.0} ms  product={rust_ms:>8.0} ms  ratio={:.2}x  peak_rss={peak:.1} MiB  per_grant={:.2} us  changes={changed} (new {} elevated {} reduced {} revoked {})  filings={}",
        rust_ms / sql_ms,
        rust_ms * 1000.0 / n as f64,
        c.new,
        c.elevated,
        c.reduced,
        c.revoked,
        outcome.filings_created,
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = args()?;
    let admin = std::env::var("BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("TEST_DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let name = format!("secops_bench_{}", std::process::id());
    let scratch = ScratchDatabase::create(&admin.clone().into(), &name, None)
        .await
        .with_context(|| {
            format!("creating a scratch database next to {admin} (set BENCH_DATABASE_URL)")
        })?;
    let result = async {
        let mut client = scratch.connect(None).await?;
        println!(
            "drift daily pass vs pure-SQL baseline (same database, same run); churn {:.1}%",
            args.churn * 100.0
        );
        for &n in &args.sizes {
            bench_size(&mut client, &scratch, n, args.churn).await?;
        }
        anyhow::Ok(())
    }
    .await;
    scratch.drop_now().await?;
    result
}
