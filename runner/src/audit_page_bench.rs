//! Benchmark of appending one evidence row to the Confluence audit page that already holds N
//! rows: what the whole-page rewrite costs as the page grows, and what the rollover to quarterly
//! continuation pages (`ConfluenceEvidence::append`, past `max_page_chars`) keeps flat.
//!
//! `cargo run --release -p secops-local --bin audit-page-bench -- [--sizes 100,1000,5000]
//! [--max-page-chars 400000] [--rows-per-quarter 300] [--runs 30]`
//!
//! Confluence Cloud is not reachable here, so two things are measured and neither is Confluence:
//! - client: the CPU work `append` does between its reads and its write (parsing every page it
//!   reads for its audit table, inserting the row, serialising the PUT body as the connector
//!   does), on
//!   bodies built as the product builds them; the median of `--runs` samples, each a mean over
//!   enough appends to last 10 to 50 ms. Plus the HTTP body bytes the append moves.
//! - localhost: the real `ConfluenceEvidence::append` (connector, reqwest, JSON decoding) against
//!   an in-process HTTP/1.1 stand-in on 127.0.0.1 that serves the pages and discards the PUT;
//!   the median of `--runs` appends, and the body bytes the stand-in counted.
//!
//! Confluence's own work on a PUT (storing a version, parsing the XHTML) and a real network are
//! not in either figure; the byte counts are what they scale with.

mod measure;

use measure::{peak_rss_mib, reset_peak_rss};
use std::collections::HashMap;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use chrono::{TimeZone, Utc};
use clap::Parser;
use secops_shared::connectors::confluence::{ConfluenceClient, ConfluenceConfig, escape_text};
use secops_shared::http::build_client;
use secops_shared::mr_audit::adapters::ConfluenceEvidence;
use secops_shared::mr_audit::evidence::{
    AuditRow, continuation_title, has_row, new_table, render_row, with_row,
};
use secops_shared::mr_audit::ports::EvidencePage;
use secops_shared::secrets::{Credentials, SecretStore, SecretString};
use serde_json::{Value, json};

const TITLE: &str = "Security review audit";
const MAIN_ID: &str = "1000";
const SPACE_ID: &str = "98304";
/// The id the stand-in gives a page created by the append.
const CREATED_ID: &str = "created";
/// Continuation pages `append` looks for per quarter (`mr_audit/adapters/confluence.rs`).
const MAX_PARTS: u32 = 50;

#[derive(Parser)]
#[command(
    name = "audit-page-bench",
    about = "Benchmark appending a row to the Confluence audit page holding N rows"
)]
struct Args {
    /// Rows already on the page (row N+1 is appended).
    #[arg(long, value_delimiter = ',', default_values_t = [100, 1_000, 5_000])]
    sizes: Vec<usize>,
    /// Rollover threshold in storage characters (CONFLUENCE_MAX_PAGE_CHARS).
    #[arg(long, default_value_t = 400_000)]
    max_page_chars: usize,
    /// Rows merged per quarter in the spread-out rollover scenario (0: leave it out).
    #[arg(long, default_value_t = 300)]
    rows_per_quarter: usize,
    /// Samples per measurement (the median is reported).
    #[arg(long, default_value_t = 30)]
    runs: usize,
}

const TITLES: &[&str] = &[
    "Rotate the signing key for <service> session tokens",
    "Fix SSRF in the webhook fetcher & add an allow-list",
    "Bump openssl to 3.0.15 (CVE-2024-5535)",
    "Don't log the \"Authorization\" header on retries",
    "Enforce MFA on /admin routes",
    "Tighten CSP: drop 'unsafe-inline' from script-src",
    "Escape <script> in the markdown preview",
    "Validate redirect_uri against the registered clients",
    "Pin base images by digest in CI",
    "Limit password reset attempts per account and IP",
];
const PROJECTS: &[&str] = &[
    "platform/api-gateway",
    "platform/auth-service",
    "payments/ledger",
    "infra/terraform-modules",
    "web/customer-dashboard",
];

/// Row `i`, merged in quarter `i / rows_per_quarter` from 2024-Q1 (0 = all in 2026-Q4).
fn sample_row(i: usize, rows_per_quarter: usize) -> AuditRow {
    let project = PROJECTS[i % PROJECTS.len()];
    let iid = 1_000 + i;
    let quarter = i.checked_div(rows_per_quarter).unwrap_or(11);
    let start = Utc
        .with_ymd_and_hms(
            2024 + (quarter / 4) as i32,
            1 + 3 * (quarter % 4) as u32,
            1,
            8,
            0,
            0,
        )
        .unwrap();
    let person = |k: usize| format!("@{}", ["alice", "bob", "carol", "dmitri", "eun-ji"][k % 5]);
    AuditRow {
        reference: format!("{project}!{iid}"),
        url: format!("https://gitlab.example.com/{project}/-/merge_requests/{iid}"),
        title: format!("{} (part {})", TITLES[i % TITLES.len()], i % 7 + 1),
        project: project.to_owned(),
        labels: if i.is_multiple_of(3) {
            vec!["security".into(), "security::crypto".into()]
        } else {
            vec!["security".into()]
        },
        author: person(i),
        reviewers: format!("{}, {}", person(i + 1), person(i + 2)),
        approvers: person(i + 1),
        merged_by: person(i + 3),
        merged_at: Some(start + chrono::Duration::hours((i % 2_000) as i64)),
        linear: if i.is_multiple_of(4) {
            Vec::new()
        } else {
            vec![format!("SEC-{}", 100 + i)]
        },
        linear_ignored: 0,
        linear_note: None,
        result: if i.is_multiple_of(25) {
            "author approved their own MR".into()
        } else {
            "audited".into()
        },
    }
}

struct Doc {
    id: String,
    title: String,
    body: String,
    rows: usize,
}

/// The main page and its continuation pages as `append` would have left them after `rows`
/// (same rule: a page takes a row while `body + row <= max`).
struct Layout {
    pages: Vec<Doc>,
    max: usize,
}

fn main_intro() -> String {
    "<p>Evidence of security review for every merged security MR.</p>".to_owned()
}

fn continuation_intro() -> String {
    format!(
        "<p>Continued from {}: security MR audit evidence.</p>{}",
        escape_text(TITLE),
        new_table("")
    )
}

fn layout(rows: &[AuditRow], max: usize) -> Layout {
    // (title, rendered rows, length of the page's body with them, row count)
    let table_len = new_table("").len();
    let mut built = vec![(
        TITLE.to_owned(),
        String::new(),
        main_intro().len() + table_len,
        0,
    )];
    for row in rows {
        let r = render_row(row);
        let at = row.merged_at.expect("sample rows have a merge time");
        // The same choice as `ConfluenceEvidence::append`: the main page while it has room,
        // else the quarter's latest part while it has room, else the quarter's next part.
        let fits = |len: usize| len + r.len() <= max;
        let index = if fits(built[0].2) {
            0
        } else {
            let latest = (1..=MAX_PARTS).rev().find_map(|part| {
                let title = continuation_title(TITLE, at, part);
                built.iter().position(|b| b.0 == title).map(|i| (part, i))
            });
            match latest {
                Some((_, i)) if fits(built[i].2) => i,
                found => {
                    let part = found.map_or(1, |(part, _)| part + 1);
                    built.push((
                        continuation_title(TITLE, at, part),
                        String::new(),
                        continuation_intro().len(),
                        0,
                    ));
                    built.len() - 1
                }
            }
        };
        let page = &mut built[index];
        page.1.push_str(&r);
        page.2 += r.len();
        page.3 += 1;
    }
    let pages = built
        .into_iter()
        .enumerate()
        .map(|(i, (title, rendered, _, rows))| {
            let body = if i == 0 {
                format!("{}{}", main_intro(), new_table(&rendered))
            } else {
                format!(
                    "<p>Continued from {}: security MR audit evidence.</p>{}",
                    escape_text(TITLE),
                    new_table(&rendered)
                )
            };
            Doc {
                id: if i == 0 {
                    MAIN_ID.to_owned()
                } else {
                    (2_000 + i).to_string()
                },
                title,
                body,
                rows,
            }
        })
        .collect();
    Layout { pages, max }
}

/// A page as `GET /api/v2/pages/{id}?body-format=storage` returns it.
fn page_json(doc: &Doc) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": doc.id,
        "status": "current",
        "title": doc.title,
        "spaceId": SPACE_ID,
        "parentId": if doc.id == MAIN_ID { Value::Null } else { Value::from(MAIN_ID) },
        "version": { "number": 42 },
        "body": { "storage": { "representation": "storage", "value": doc.body } },
        "_links": { "webui": format!("/spaces/SEC/pages/{}", doc.id) },
    }))
    .expect("JSON")
}

fn children_json(layout: &Layout) -> Vec<u8> {
    let results: Vec<Value> = layout.pages[1..]
        .iter()
        .map(|p| json!({ "id": p.id, "title": p.title, "status": "current", "spaceId": SPACE_ID }))
        .collect();
    serde_json::to_vec(&json!({ "results": results, "_links": {} })).expect("JSON")
}

/// What one append does between its reads and its write, as `ConfluenceEvidence::append` and
/// its `target` do it, without I/O or JSON decoding.
struct Append {
    /// Index in `pages`; `None`: a new continuation page is created.
    target: Option<usize>,
    pages_read: usize,
    get_bytes: usize,
    put: Vec<u8>,
}

fn client_append(layout: &Layout, jsons: &[Vec<u8>], children: &[u8], row: &AuditRow) -> Append {
    let row_chars = render_row(row).len();
    let main = &layout.pages[0];
    let mut get_bytes = jsons[0].len();
    let mut pages_read = 1;
    assert!(!has_row(&main.body, row).expect("the page has its audit table"));
    let target = if main.body.len() + row_chars <= layout.max {
        Some(0)
    } else {
        get_bytes += children.len();
        let at = row.merged_at.expect("sample rows have a merge time");
        // Only the quarter's latest part is read (earlier parts are full).
        let latest = (1..=MAX_PARTS).rev().find_map(|part| {
            let title = continuation_title(&main.title, at, part);
            layout.pages.iter().position(|p| p.title == title)
        });
        match latest {
            Some(i) => {
                pages_read += 1;
                get_bytes += jsons[i].len();
                let page = &layout.pages[i];
                (has_row(&page.body, row).expect("the page has its audit table")
                    || page.body.len() + row_chars <= layout.max)
                    .then_some(i)
            }
            None => None,
        }
    };
    let created;
    let (id, title, body) = match target {
        Some(i) => {
            let p = &layout.pages[i];
            (p.id.as_str(), p.title.as_str(), p.body.as_str())
        }
        None => {
            created = continuation_intro();
            (CREATED_ID, "", created.as_str())
        }
    };
    let body = with_row(body, row)
        .expect("the page has its audit table")
        .expect("the row is new");
    let put = serde_json::to_vec(&json!({
        "id": id, "status": "current", "title": title,
        "body": { "representation": "storage", "value": body },
        "version": { "number": 43, "message": format!("secops: audit row for {}", row.reference) },
    }))
    .expect("JSON");
    Append {
        target,
        pages_read,
        get_bytes,
        put,
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The in-process stand-in for Confluence: GETs answered from `routes` (keyed by request
/// target), PUT and POST bodies read and discarded; HTTP body bytes counted both ways.
#[derive(Default)]
struct Fake {
    routes: Mutex<Arc<HashMap<String, Arc<Vec<u8>>>>>,
    body_bytes: AtomicU64,
    last_write: Mutex<String>,
}

impl Fake {
    fn answer(&self, method: &str, target: &str, body: &[u8]) -> (&'static str, Arc<Vec<u8>>) {
        self.body_bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        let reply = |id: &str| {
            let json =
                json!({ "id": id, "title": "t", "spaceId": SPACE_ID, "version": { "number": 43 } });
            Arc::new(serde_json::to_vec(&json).expect("JSON"))
        };
        let routes = self
            .routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let (status, reply) = match (method, routes.get(target)) {
            ("GET", Some(page)) => ("200 OK", page.clone()),
            ("PUT", _) | ("POST", _) => {
                let id = target.rsplit('/').next().unwrap_or_default();
                let id = if method == "POST" { CREATED_ID } else { id };
                *self
                    .last_write
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = id.to_owned();
                ("200 OK", reply(id))
            }
            _ => ("404 Not Found", Arc::new(b"{}".to_vec())),
        };
        self.body_bytes
            .fetch_add(reply.len() as u64, Ordering::Relaxed);
        (status, reply)
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
            let mut words = line.split_whitespace();
            let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
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
            let (status, reply) = self.answer(method, target, &body);
            let mut message = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                reply.len()
            )
            .into_bytes();
            message.extend_from_slice(&reply);
            out.write_all(&message)?;
        }
    }
}

fn start_fake() -> Result<(Arc<Fake>, String)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}/wiki", listener.local_addr()?);
    let fake = Arc::new(Fake::default());
    let server = fake.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let server = server.clone();
            std::thread::spawn(move || server.serve(stream));
        }
    });
    Ok((fake, base))
}

struct Measured {
    n: usize,
    rows_on_page: usize,
    page_kib: f64,
    pages_read: usize,
    client_us: f64,
    get_kib: f64,
    put_kib: f64,
    e2e_ms: f64,
    e2e_kib: f64,
}

async fn measure(
    args: &Args,
    rows: &[AuditRow],
    max: usize,
    (fake, base): &(Arc<Fake>, String),
) -> Result<Measured> {
    let n = rows.len() - 1;
    let layout = layout(&rows[..n], max);
    let row = &rows[n];
    let jsons: Vec<Vec<u8>> = layout.pages.iter().map(page_json).collect();
    let children = children_json(&layout);

    // Client side: each sample a mean over enough appends to move about 40 MB (10 to 50 ms).
    let once = client_append(&layout, &jsons, &children, row);
    let reps = (40_000_000 / (once.get_bytes + once.put.len())).clamp(1, 10_000);
    let mut samples = Vec::with_capacity(args.runs);
    for _ in 0..args.runs + 2 {
        let started = Instant::now();
        for _ in 0..reps {
            black_box(client_append(
                black_box(&layout),
                &jsons,
                &children,
                black_box(row),
            ));
        }
        samples.push(started.elapsed().as_secs_f64() * 1e6 / reps as f64);
    }
    let client_us = median(samples.split_off(2));

    // End to end on localhost: the product's append against the stand-in.
    let mut routes = HashMap::new();
    for (doc, json) in layout.pages.iter().zip(jsons) {
        let path = format!("/wiki/api/v2/pages/{}?body-format=storage", doc.id);
        routes.insert(path, Arc::new(json));
    }
    let path = format!("/wiki/api/v2/pages/{MAIN_ID}/children?limit=250");
    routes.insert(path, Arc::new(children));
    *fake.routes.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(routes);
    let credentials = Credentials {
        confluence_email: Some(SecretString::from("bench@example.com")),
        confluence_api_token: Some(SecretString::from("bench-token")),
        ..Credentials::default()
    };
    let evidence = ConfluenceEvidence {
        client: ConfluenceClient::new(
            build_client(Duration::from_secs(60)),
            Arc::new(SecretStore::fixed(credentials)),
            ConfluenceConfig::new(base.clone()),
        ),
        page_id: MAIN_ID.to_owned(),
        max_page_chars: max,
        max_attempts: 1,
    };
    let expected = once
        .target
        .map_or(CREATED_ID, |i| layout.pages[i].id.as_str());
    let mut samples = Vec::with_capacity(args.runs);
    let mut bytes = 0;
    for run in 0..args.runs + 2 {
        fake.body_bytes.store(0, Ordering::Relaxed);
        let started = Instant::now();
        let (id, already) = evidence
            .append(row)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let elapsed = started.elapsed();
        ensure!(
            !already && id == expected,
            "appended to {id}, expected {expected}"
        );
        let written = fake
            .last_write
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        ensure!(
            written == expected,
            "the PUT went to {written}, expected {expected}"
        );
        if run >= 2 {
            samples.push(elapsed.as_secs_f64() * 1e3);
            bytes += fake.body_bytes.load(Ordering::Relaxed);
        }
    }
    let written = once.target.map(|i| &layout.pages[i]);
    let kib = |b: usize| b as f64 / 1024.0;
    Ok(Measured {
        n,
        rows_on_page: written.map_or(0, |p| p.rows) + 1,
        page_kib: kib(written.map_or(continuation_intro().len(), |p| p.body.len())),
        pages_read: once.pages_read,
        client_us,
        get_kib: kib(once.get_bytes),
        put_kib: kib(once.put.len()),
        e2e_ms: median(samples),
        e2e_kib: kib(bytes as usize / args.runs),
    })
}

fn print_table(label: &str, results: &[Measured]) {
    println!("\n{label}");
    println!(
        "{:>6} | {:>9} | {:>9} | {:>5} | {:>11} | {:>9} | {:>9} | {:>10} | {:>12}",
        "N", "rows on", "written", "pages", "client", "GET", "PUT", "localhost", "localhost"
    );
    println!(
        "{:>6} | {:>9} | {:>9} | {:>5} | {:>11} | {:>9} | {:>9} | {:>10} | {:>12}",
        "", "page", "page KiB", "read", "µs/append", "KiB", "KiB", "ms/append", "body KiB"
    );
    for m in results {
        println!(
            "{:>6} | {:>9} | {:>9.1} | {:>5} | {:>11.1} | {:>9.1} | {:>9.1} | {:>10.2} | {:>12.1}",
            m.n,
            m.rows_on_page,
            m.page_kib,
            m.pages_read,
            m.client_us,
            m.get_kib,
            m.put_kib,
            m.e2e_ms,
            m.e2e_kib
        );
    }
    if let (Some(a), Some(b)) = (results.first(), results.last())
        && results.len() > 1
    {
        println!(
            "ratio N={} / N={}: client time {:.1}x, bytes moved (GET+PUT) {:.1}x, PUT alone {:.1}x, localhost time {:.1}x",
            b.n,
            a.n,
            b.client_us / a.client_us,
            (b.get_kib + b.put_kib) / (a.get_kib + a.put_kib),
            b.put_kib / a.put_kib,
            b.e2e_ms / a.e2e_ms
        );
        println!(
            "MODEL, not measured: moving N={}'s {:.0} KiB at 10 MB/s takes {:.0} ms (N={}: {:.0} ms), before Confluence's own work on the PUT",
            b.n,
            b.get_kib + b.put_kib,
            (b.get_kib + b.put_kib) * 1024.0 / 10e6 * 1e3,
            a.n,
            (a.get_kib + a.put_kib) * 1024.0 / 10e6 * 1e3
        );
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = Args::parse();
    args.sizes.sort_unstable();
    args.sizes.dedup();
    if args.sizes.is_empty() || args.sizes[0] == 0 || args.runs == 0 || args.max_page_chars == 0 {
        bail!("--sizes, --runs and --max-page-chars must be at least 1");
    }
    let largest = *args.sizes.last().expect("sizes");
    println!(
        "audit page append benchmark: row N+1 appended to a page holding N rows, N = {:?}; rollover past {} storage characters; median of {} runs",
        args.sizes, args.max_page_chars, args.runs
    );
    println!(
        "client = parsing the pages read for their audit table + inserting the row + the PUT JSON, no I/O or JSON decoding (measured); GET/PUT KiB = HTTP bodies of that append (computed); localhost = the real ConfluenceEvidence::append over reqwest to an in-process stand-in on 127.0.0.1 that discards the PUT (measured, body bytes counted by the stand-in); Confluence's own work and a real network are in neither"
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "machine: {} CPUs, load average {} (other work on the machine shows up as noise)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let fake = start_fake()?;
    reset_peak_rss();
    let mut scenarios = vec![
        ("single page (no rollover)".to_owned(), usize::MAX, 0),
        (
            "with rollover, every row merged in one quarter (each append reads the main page and the quarter's latest part)".to_owned(),
            args.max_page_chars,
            0,
        ),
    ];
    if args.rows_per_quarter > 0 {
        scenarios.push((
            format!(
                "with rollover, {} rows merged a quarter (older quarters' pages are not read)",
                args.rows_per_quarter
            ),
            args.max_page_chars,
            args.rows_per_quarter,
        ));
    }
    for (label, max, per_quarter) in scenarios {
        let rows: Vec<AuditRow> = (0..=largest).map(|i| sample_row(i, per_quarter)).collect();
        let mut results = Vec::new();
        for &n in &args.sizes {
            results.push(measure(&args, &rows[..=n], max, &fake).await?);
        }
        print_table(&label, &results);
    }
    let rows: Vec<AuditRow> = (0..100).map(|i| sample_row(i, 0)).collect();
    let mean_row = rows.iter().map(|r| render_row(r).len()).sum::<usize>() / rows.len();
    println!(
        "\nmean rendered row: {mean_row} characters; a {}-character page holds about {} rows",
        args.max_page_chars,
        args.max_page_chars / mean_row
    );
    println!(
        "peak RSS (VmHWM, reset before the first scenario; includes building the pages): {:.1} MiB",
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    Ok(())
}
