//! Benchmark of the daily drift pass, in the same run and database as the strongest pure-SQL
//! versions of its record phase this file could write, on the same generated data.
//!
//! `cargo run --profile bench-fast -p secops-local --bin drift-bench -- [--sizes 100000,1000000]
//! [--churn 0.01]` (`--release` works too; `bench-fast` builds in a fraction of the time).
//!
//! Per size, after generating yesterday's baseline and today's inventory (`--churn` of the grants
//! changed, split evenly between new, revoked, elevated, reduced and metadata-only):
//! - record phase, SQL: one transaction doing a full outer join of baseline and inventory into a
//!   change table (each row classified as the product classifies it), then the baseline moved
//!   either by `TRUNCATE` + `INSERT … SELECT` from the inventory ("rewrite", as the performance target
//!   describes it; it resets `first_seen`, which the product keeps) or by deleting the revoked
//!   and upserting the rest from the change table ("apply", the same work as the product). The
//!   faster of the two is the yardstick.
//! - record phase, product: `PgStore::record_run` (Rust merge-join, change log, filings queued,
//!   baseline moved), timed inside the whole pass as the run report's `record_ms`.
//! - whole pass, product: `run_drift_as` with the real Linear and OpenAI connectors against an
//!   in-process HTTP/1.1 stand-in on 127.0.0.1 that answers every call at once (see
//!   [`StandIn::answer`]), settings at their defaults (`DRIFT_MAX_FILINGS_PER_RUN` 200,
//!   `LLM_CONCURRENCY` 4, `DRIFT_GROUP_THRESHOLD` 10).
//!
//! Every variant's change counts must equal the product's and the generator's, and every
//! baseline must equal the inventory afterwards: a wrong baseline stops the benchmark instead of
//! printing a figure. Peak RSS is this process's VmHWM, reset before the product's pass.
//!
//! Uses `BENCH_DATABASE_URL` (or `TEST_DATABASE_URL`, or the local trust server) to create and
//! drop a scratch database.

mod measure;

use measure::{peak_rss_mib, reset_peak_rss};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use chrono::Utc;
use clap::Parser;
use futures_util::pin_mut;
use secops_shared::config::Env;
use secops_shared::connectors::linear::{LinearClient, LinearConfig};
use secops_shared::connectors::openai::{OpenAiClient, OpenAiConfig};
use secops_shared::db::{Database, ScratchDatabase};
use secops_shared::drift::config::DriftSettings;
use secops_shared::drift::pg_store::PgStore;
use secops_shared::drift::store::ChangeCounts;
use secops_shared::drift::workflow::{DriftDeps, RunReport, run_drift_as};
use secops_shared::http::{self, RetryPolicy};
use secops_shared::secrets::{Credentials, SecretStore};
use secops_shared::telemetry::MetricsSink;
use secrecy::SecretString;
use serde_json::{Value, json};
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

#[derive(Parser)]
#[command(
    name = "drift-bench",
    about = "Benchmark the daily drift pass against the strongest pure-SQL record phase, on generated grants"
)]
struct Args {
    /// Grants in yesterday's baseline, one benchmark per size (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [100_000u64, 1_000_000])]
    sizes: Vec<u64>,
    /// Share of the grants that change overnight, split evenly between new, revoked, elevated,
    /// reduced and metadata-only.
    #[arg(long, default_value_t = 0.01)]
    churn: f64,
    /// Record phase only: leave out the whole pass against the HTTP stand-in.
    #[arg(long)]
    record_only: bool,
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
/// between new, revoked, elevated, reduced and metadata-only (the app renamed).
#[derive(Clone, Copy, PartialEq)]
enum Fate {
    Same,
    New,
    Revoked,
    Elevated,
    Reduced,
    Metadata,
}

fn fate(i: u64, churn: f64) -> Fate {
    let slot = (i.wrapping_mul(2_654_435_761) % 1_000_000) as f64 / 1_000_000.0;
    let fifth = churn / 5.0;
    match slot {
        s if s < fifth => Fate::New,
        s if s < 2.0 * fifth => Fate::Revoked,
        s if s < 3.0 * fifth => Fate::Elevated,
        s if s < 4.0 * fifth => Fate::Reduced,
        s if s < churn => Fate::Metadata,
        _ => Fate::Same,
    }
}

/// The counts the generator produces, which every variant must find.
fn expected_counts(n: u64, churn: f64) -> ChangeCounts {
    let mut c = ChangeCounts::default();
    for i in 0..n {
        match fate(i, churn) {
            Fate::Same => c.unchanged += 1,
            Fate::New => c.new += 1,
            Fate::Revoked => c.revoked += 1,
            Fate::Elevated => c.elevated += 1,
            Fate::Reduced => c.reduced += 1,
            Fate::Metadata => c.metadata += 1,
        }
    }
    c
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
    let yesterday = Utc::now() - chrono::Duration::days(1);
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
        let app = if today && f == Fate::Metadata {
            format!("App {} (renamed)", i % 5_000)
        } else {
            format!("App {}", i % 5_000)
        };
        let mut scopes = scopes_for(i, today && f == Fate::Elevated);
        if today && f == Fate::Reduced {
            scopes.pop();
        }
        let consent = "user";
        let mut row: Vec<&(dyn ToSql + Sync)> =
            vec![&"google", &client_id, &principal, &app, &scopes, &consent];
        if !today {
            row.push(&yesterday);
            row.push(&yesterday);
        }
        writer.as_mut().write(&row).await?;
    }
    writer.finish().await?;
    tx.commit().await?;
    Ok(())
}

/// Created once per size, untimed: the SQL versions' change table. Logged and durable, as the
/// product's change log is; no indexes (the product's has four), which only helps the SQL.
const SQL_SETUP: &str = r#"
CREATE TABLE sql_baseline (LIKE oauth_grant_baseline INCLUDING ALL);
CREATE TABLE sql_changes (
    provider text COLLATE "C" NOT NULL, client_id text COLLATE "C" NOT NULL,
    principal text COLLATE "C" NOT NULL, kind text NOT NULL,
    before_app text, before_scopes text[], before_consent text, before_publisher text, before_verified boolean,
    after_app text, after_scopes text[], after_consent text, after_publisher text, after_verified boolean
);"#;

/// The full outer join, classified as `diff::classify` does: gained a scope or user -> admin
/// consent is elevated; else lost a scope or admin -> user is reduced; else any other field
/// differing is metadata; else unchanged (not written). Scope sets are compared with `<@`, so
/// order does not count (the generated scopes are already normalised, as the product reads them).
/// `work_mem` lets the join hash in memory instead of spilling batches to disk.
const SQL_DIFF: &str = r#"
SET LOCAL work_mem = '256MB';
INSERT INTO sql_changes
SELECT * FROM (
  SELECT coalesce(b.provider, i.provider), coalesce(b.client_id, i.client_id),
         coalesce(b.principal, i.principal),
         CASE WHEN b.provider IS NULL THEN 'new'
              WHEN i.provider IS NULL THEN 'revoked'
              WHEN NOT (i.scopes <@ b.scopes)
                   OR (b.consent_type = 'user' AND i.consent_type = 'admin') THEN 'elevated'
              WHEN NOT (b.scopes <@ i.scopes)
                   OR (b.consent_type = 'admin' AND i.consent_type = 'user') THEN 'reduced'
              WHEN b.app_name <> i.app_name OR b.publisher IS DISTINCT FROM i.publisher
                   OR b.verified IS DISTINCT FROM i.verified THEN 'metadata'
         END AS kind,
         b.app_name, b.scopes, b.consent_type, b.publisher, b.verified,
         i.app_name, i.scopes, i.consent_type, i.publisher, i.verified
    FROM sql_baseline b
    FULL OUTER JOIN oauth_grant_inventory i
      ON b.provider = i.provider AND b.client_id = i.client_id AND b.principal = i.principal
) d WHERE kind IS NOT NULL;
"#;

/// The baseline rewritten from the inventory, in key order so the primary key is built by
/// appending. `first_seen` is reset: the rewrite has nowhere to keep it from.
const SQL_REWRITE: &str = "
TRUNCATE sql_baseline;
INSERT INTO sql_baseline (provider, client_id, principal, app_name, scopes, consent_type,
                          publisher, verified, first_seen, updated_at)
SELECT provider, client_id, principal, app_name, scopes, consent_type, publisher, verified, now(), now()
  FROM oauth_grant_inventory ORDER BY provider, client_id, principal;
";

/// The baseline moved by the change table alone, as the product's `apply_changes` does.
const SQL_APPLY: &str = "
DELETE FROM sql_baseline b USING sql_changes c
 WHERE c.kind = 'revoked'
   AND b.provider = c.provider AND b.client_id = c.client_id AND b.principal = c.principal;
INSERT INTO sql_baseline AS b (provider, client_id, principal, app_name, scopes, consent_type,
                               publisher, verified, first_seen, updated_at)
SELECT provider, client_id, principal, after_app, after_scopes, after_consent, after_publisher,
       after_verified, now(), now()
  FROM sql_changes WHERE kind <> 'revoked'
ON CONFLICT (provider, client_id, principal) DO UPDATE
   SET app_name = EXCLUDED.app_name, scopes = EXCLUDED.scopes,
       consent_type = EXCLUDED.consent_type, publisher = EXCLUDED.publisher,
       verified = EXCLUDED.verified, updated_at = EXCLUDED.updated_at;
";

/// A SQL version of the record phase: how it moves the baseline after the diff.
struct SqlVariant {
    name: &'static str,
    baseline_step: &'static str,
}

const SQL_VARIANTS: &[SqlVariant] = &[
    SqlVariant {
        name: "SQL rewrite (outer join + TRUNCATE/INSERT)",
        baseline_step: SQL_REWRITE,
    },
    SqlVariant {
        name: "SQL apply (outer join + DELETE/upsert)",
        baseline_step: SQL_APPLY,
    },
];

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Fails unless `table` holds exactly the inventory's grants (every field the diff compares).
async fn assert_matches_inventory(client: &Client, table: &str) -> Result<()> {
    let cols =
        "provider, client_id, principal, app_name, scopes, consent_type, publisher, verified";
    let sql = format!(
        "SELECT (SELECT count(*) FROM (SELECT {cols} FROM {table} EXCEPT ALL SELECT {cols} FROM oauth_grant_inventory) a),
                (SELECT count(*) FROM (SELECT {cols} FROM oauth_grant_inventory EXCEPT ALL SELECT {cols} FROM {table}) b)"
    );
    let row = client.query_one(&sql, &[]).await?;
    let (extra, missing): (i64, i64) = (row.get(0), row.get(1));
    ensure!(
        extra == 0 && missing == 0,
        "{table} does not equal the inventory after the pass: {extra} rows too many, {missing} missing"
    );
    Ok(())
}

async fn sql_counts(client: &Client) -> Result<ChangeCounts> {
    let mut c = ChangeCounts::default();
    for row in client
        .query("SELECT kind, count(*) FROM sql_changes GROUP BY kind", &[])
        .await?
    {
        let n = row.get::<_, i64>(1) as u64;
        match row.get::<_, &str>(0) {
            "new" => c.new = n,
            "revoked" => c.revoked = n,
            "elevated" => c.elevated = n,
            "reduced" => c.reduced = n,
            "metadata" => c.metadata = n,
            other => bail!("the SQL diff produced an unknown kind {other:?}"),
        }
    }
    Ok(c)
}

/// The kinds compared (the SQL versions do not count unchanged grants).
fn kinds(c: &ChangeCounts) -> [u64; 5] {
    [c.new, c.elevated, c.reduced, c.revoked, c.metadata]
}

async fn vacuum(client: &Client, tables: &[&str]) -> Result<()> {
    // VACUUM refuses to run inside the implicit transaction of a multi-statement batch.
    for table in tables {
        client
            .batch_execute(&format!("VACUUM ANALYZE {table}"))
            .await?;
    }
    Ok(())
}

/// Linear's GraphQL API and OpenAI's chat completions, answering every call at once and
/// successfully: labels are found (workspace labels), issues and comments are created, lookups
/// of an issue or comment by id find none, and every completion is the same well-formed draft.
/// It counts what it was asked.
#[derive(Default)]
struct StandIn {
    issues_created: AtomicU64,
    completions: AtomicU64,
    other_linear: AtomicU64,
}

impl StandIn {
    fn start() -> Result<(Arc<Self>, String)> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let base = format!("http://{}", listener.local_addr()?);
        let stand_in = Arc::new(Self::default());
        let server = stand_in.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let server = server.clone();
                std::thread::spawn(move || server.serve(stream));
            }
        });
        Ok((stand_in, base))
    }

    fn answer(&self, target: &str, body: &[u8]) -> (&'static str, Value) {
        let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if target.ends_with("/chat/completions") {
            self.completions.fetch_add(1, Ordering::Relaxed);
            let draft = json!({
                "capabilities": "The app can read and send all of the user's mail.",
                "questions": ["What is it for?", "Why full mail access?"],
                "consequence": "Without an answer the grant may be revoked."
            });
            return (
                "200 OK",
                json!({
                    "id": "chatcmpl-bench", "object": "chat.completion", "created": 0,
                    "model": request["model"],
                    "choices": [{
                        "index": 0,
                        "message": { "role": "assistant", "content": draft.to_string(),
                                     "refusal": null, "annotations": [] },
                        "logprobs": null, "finish_reason": "stop"
                    }],
                    "usage": { "prompt_tokens": body.len() / 4, "completion_tokens": 40,
                               "total_tokens": body.len() / 4 + 40 }
                }),
            );
        }
        let query = request["query"].as_str().unwrap_or("");
        let variables = &request["variables"];
        let data = if query.contains("issueCreate") {
            let n = self.issues_created.fetch_add(1, Ordering::Relaxed) + 1;
            let id = variables["input"]["id"].clone();
            json!({ "issueCreate": { "success": true, "issue": {
                "id": id, "identifier": format!("SEC-{n}"),
                "url": format!("https://linear.invalid/sec/issue/SEC-{n}") } } })
        } else {
            self.other_linear.fetch_add(1, Ordering::Relaxed);
            if query.contains("issueLabelCreate") {
                json!({ "issueLabelCreate": { "success": true, "issueLabel": { "id": "label-new" } } })
            } else if query.contains("issueLabels") {
                json!({ "issueLabels": { "nodes": [
                    { "id": format!("label-{}", variables["name"].as_str().unwrap_or("")),
                      "name": variables["name"], "team": null } ] } })
            } else if query.contains("commentCreate") {
                json!({ "commentCreate": { "success": true, "comment": { "id": "comment-bench" } } })
            } else if query.contains("comment(") {
                json!({ "comment": null })
            } else if query.contains("issue(") {
                json!({ "issue": null })
            } else {
                return (
                    "400 Bad Request",
                    json!({ "errors": [{ "message": "not stood in" }] }),
                );
            }
        };
        ("200 OK", json!({ "data": data }))
    }

    /// One keep-alive connection: requests with Content-Length bodies, answered in order.
    fn serve(&self, stream: TcpStream) -> std::io::Result<()> {
        stream.set_nodelay(true)?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut out = stream;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            let mut length = 0;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header)? == 0 {
                    return Ok(());
                }
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body)?;
            let (status, reply) = self.answer(&target, &body);
            let reply = reply.to_string();
            let message = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{reply}",
                reply.len()
            );
            out.write_all(message.as_bytes())?;
        }
    }
}

/// The product's connectors and settings, as `DriftRuntime` builds them, pointed at the stand-in;
/// every other setting at its default.
struct Product {
    settings: DriftSettings,
    linear: LinearClient,
    openai: OpenAiClient,
}

fn product(base: &str) -> Result<Product> {
    let linear_url = format!("{base}/graphql");
    let openai_url = format!("{base}/v1");
    let settings = DriftSettings::from_env(&Env(move |name: &str| match name {
        "LINEAR_API_URL" => Some(linear_url.clone()),
        "LINEAR_TEAM_ID" => Some("team-bench".to_owned()),
        "OPENAI_BASE_URL" => Some(openai_url.clone()),
        "OPENAI_MODEL" => Some("bench-model".to_owned()),
        _ => None,
    }))?;
    let secrets = Arc::new(SecretStore::fixed(Credentials {
        linear_api_key: Some(SecretString::from("lin_api_bench")),
        openai_api_key: Some(SecretString::from("sk-bench")),
        ..Credentials::default()
    }));
    let client = http::build_client(Duration::from_secs(30));
    let linear = LinearClient::new(
        client.clone(),
        secrets.clone(),
        LinearConfig {
            base_url: settings.linear_api_url.clone(),
            team_id: settings.linear_team_id.clone().context("team id")?,
            project_id: None,
            retry: RetryPolicy::default(),
        },
    );
    let openai = OpenAiClient::new(
        client,
        secrets,
        OpenAiConfig {
            base_url: settings.llm.base_url.clone(),
            model: settings.llm.model.clone().context("model")?,
            timeout: settings.llm.timeout,
            retry: RetryPolicy::default(),
        },
    );
    Ok(Product {
        settings,
        linear,
        openai,
    })
}

async fn bench_size(
    client: &mut Client,
    scratch: &ScratchDatabase,
    stand_in: &(Arc<StandIn>, String),
    n: u64,
    args: &Args,
) -> Result<()> {
    let churn = args.churn;
    client
        .batch_execute(
            "TRUNCATE oauth_grant_inventory, oauth_grant_baseline, oauth_grant_changes, oauth_grant_filings, oauth_drift_runs;
             DROP TABLE IF EXISTS sql_baseline, sql_changes;",
        )
        .await?;
    eprintln!(
        "[{n}] generating baseline and inventory with {:.1}% churn…",
        churn * 100.0
    );
    load(client, "oauth_grant_baseline", n, churn, false).await?;
    load(client, "oauth_grant_inventory", n, churn, true).await?;
    client.batch_execute(SQL_SETUP).await?;
    let expected = expected_counts(n, churn);

    let mut sql_ms = Vec::new();
    for variant in SQL_VARIANTS {
        // Each variant starts from yesterday's baseline, freshly vacuumed, as the product does.
        client
            .batch_execute(
                "TRUNCATE sql_baseline, sql_changes;
                 INSERT INTO sql_baseline SELECT * FROM oauth_grant_baseline ORDER BY provider, client_id, principal;",
            )
            .await?;
        vacuum(
            client,
            &[
                "oauth_grant_inventory",
                "oauth_grant_baseline",
                "sql_baseline",
                "sql_changes",
            ],
        )
        .await?;
        eprintln!("[{n}] {}…", variant.name);
        let sql = format!("BEGIN;{SQL_DIFF}{}COMMIT;", variant.baseline_step);
        let t = Instant::now();
        client.batch_execute(&sql).await?;
        let took = t.elapsed();
        let counts = sql_counts(client).await?;
        ensure!(
            kinds(&counts) == kinds(&expected),
            "{} counted [new, elevated, reduced, revoked, metadata] = {:?}, the generator made {:?}",
            variant.name,
            kinds(&counts),
            kinds(&expected)
        );
        assert_matches_inventory(client, "sql_baseline").await?;
        sql_ms.push((variant.name, ms(took)));
    }

    eprintln!("[{n}] product pass (run_drift_as, Linear and OpenAI stood in)…");
    let Product {
        settings,
        linear,
        openai,
    } = product(&stand_in.1)?;
    let store = PgStore::new(&Database::new(scratch.connect(None).await?));
    let deps = DriftDeps {
        store: &store,
        tracker: &linear,
        llm: Some(&openai),
        settings: &settings,
        deadline_margin: Duration::from_secs(1),
        metrics: MetricsSink::Off,
        metrics_namespace: "bench",
    };
    let (created_before, completions_before, other_before) = (
        stand_in.0.issues_created.load(Ordering::Relaxed),
        stand_in.0.completions.load(Ordering::Relaxed),
        stand_in.0.other_linear.load(Ordering::Relaxed),
    );
    reset_peak_rss();
    let t = Instant::now();
    let report: RunReport = if args.record_only {
        // The record phase alone: the same call `run_drift_as` makes first.
        let outcome = secops_shared::drift::store::DriftStore::record_run(
            &store,
            &secops_shared::drift::store::RunStart {
                run_id: uuid::Uuid::new_v4(),
                started_at: Utc::now(),
                group_threshold: settings.group_threshold,
                max_revoked_percent: settings.max_revoked_percent,
                max_inventory_age: settings
                    .max_inventory_age_hours
                    .map(|h| chrono::Duration::hours(i64::from(h))),
            },
        )
        .await?;
        RunReport {
            changes: outcome.counts,
            filings_created: outcome.filings_created,
            record_ms: t.elapsed().as_millis() as u64,
            ..RunReport::default()
        }
    } else {
        run_drift_as(&deps, uuid::Uuid::new_v4(), Utc::now()).await?
    };
    let whole = t.elapsed();
    let peak = peak_rss_mib().unwrap_or(f64::NAN);
    ensure!(
        report.changes == expected,
        "the product counted {:?}, the generator made {:?}",
        report.changes,
        expected
    );
    assert_matches_inventory(client, "oauth_grant_baseline").await?;
    let created = stand_in.0.issues_created.load(Ordering::Relaxed) - created_before;
    let completions = stand_in.0.completions.load(Ordering::Relaxed) - completions_before;
    let other = stand_in.0.other_linear.load(Ordering::Relaxed) - other_before;
    if !args.record_only {
        let should_file = report
            .filings_created
            .min(settings.max_filings_per_run as u64);
        ensure!(
            report.failed.is_empty() && report.filed.len() as u64 == should_file,
            "the pass filed {} of {should_file} issues ({} failed)",
            report.filed.len(),
            report.failed.len()
        );
    }

    let product_ms = report.record_ms as f64;
    let (best_name, best_ms) = sql_ms
        .iter()
        .copied()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("two variants");
    let c = &report.changes;
    println!(
        "grants={n}  changes={} (new {} elevated {} reduced {} revoked {} metadata {}; counts equal in every version, every baseline equals the inventory after)",
        c.new + c.elevated + c.reduced + c.revoked + c.metadata,
        c.new,
        c.elevated,
        c.reduced,
        c.revoked,
        c.metadata
    );
    println!("  record phase");
    for (name, took) in &sql_ms {
        println!("    {name:<44} {took:>8.0} ms");
    }
    println!(
        "    {:<44} {product_ms:>8.0} ms  ({:.2} us/grant)",
        "product (PgStore::record_run)",
        product_ms * 1000.0 / n as f64
    );
    println!(
        "    ratio product / strongest SQL ({best_name}): {:.2}x",
        product_ms / best_ms
    );
    for (name, took) in &sql_ms {
        if *name != best_name {
            println!("    ratio product / {name}: {:.2}x", product_ms / took);
        }
    }
    if args.record_only {
        println!("  whole pass: not run (--record-only); peak RSS {peak:.1} MiB");
    } else {
        println!(
            "  whole pass (product, stand-in answering at once): {:.0} ms = record {} + draft {} + file {} ms (+ queue reads, report); {} filings queued, {} filed (DRIFT_MAX_FILINGS_PER_RUN {}), {} pending; {} drafts by the model, {} by the template; stand-in saw {} completions, {} issueCreate, {} other Linear calls; peak RSS {peak:.1} MiB",
            ms(whole),
            report.record_ms,
            report.draft_ms,
            report.file_ms,
            report.filings_created,
            report.filed.len(),
            settings.max_filings_per_run,
            report.pending,
            report.drafted_by_model,
            report.drafted_by_template,
            completions,
            created,
            other
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.sizes.is_empty() || args.sizes.contains(&0) {
        bail!("--sizes takes numbers of at least 1");
    }
    if !(0.0..=1.0).contains(&args.churn) {
        bail!("--churn is a fraction between 0 and 1");
    }
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
        let stand_in = StandIn::start()?;
        let version: String = client
            .query_one("SHOW server_version", &[])
            .await?
            .get(0);
        println!(
            "drift daily pass vs the strongest pure-SQL record phase (same database, same run, same generated data); churn {:.1}%",
            args.churn * 100.0
        );
        println!(
            "machine: {} cores, load average {}; PostgreSQL {version}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
        for &n in &args.sizes {
            bench_size(&mut client, &scratch, &stand_in, n, &args).await?;
        }
        anyhow::Ok(())
    }
    .await;
    scratch.drop_now().await?;
    result
}
