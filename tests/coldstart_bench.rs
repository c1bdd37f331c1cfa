//! Cold-start benchmark: each of the seven function binaries and `hello-lambda` started under
//! the Lambda Runtime API emulator, N times each, interleaved; init = process spawn → first
//! `GET /runtime/invocation/next`, as Lambda's init phase. Each function reads its secret from
//! the AWS fake and connects to (and migrates) its own Postgres database, as on Lambda.
//!
//! `scripts/coldstart-bench.sh [runs] [rtt-ms]` builds the release binaries, then runs this with
//! `SECOPS_LAMBDA_BIN_DIR` pointing at them. With `--rtt-ms N`, Postgres and the AWS fake are
//! reached through a forwarder that holds each chunk N/2 ms each way (tokio's timer rounds up
//! to whole milliseconds, so use even N), as a network between Lambda and its services would:
//! loopback hides what the round trips of a cold start cost.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

use secops_tests::db::TestDb;
use secops_tests::fake_aws::FakeAws;
use secops_tests::lambda_emulator::{
    FUNCTIONS, FunctionSpec, LambdaEmulator, binary, binary_dir, complete_secret,
};

const BASELINE: &str = "hello-lambda";
const INIT_TIMEOUT: Duration = Duration::from_secs(30);

/// One binary to measure, and how to start it.
struct Target {
    name: &'static str,
    settings: Vec<(String, String)>,
    init_ms: Vec<f64>,
    /// Numeric `*_ms` fields of the `cold start complete` line, per run.
    phases: BTreeMap<String, Vec<f64>>,
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Command line: `--runs N` (default 20), `--rtt-ms N` (default 0: plain loopback).
struct Args {
    runs: usize,
    rtt: Duration,
}

fn args() -> Args {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        runs: 20,
        rtt: Duration::ZERO,
    };
    let number = |value: Option<String>, flag: &str| -> u64 {
        value
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{flag} takes a whole number"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" | "-n" => {
                parsed.runs = number(args.next(), "--runs") as usize;
                assert!(parsed.runs > 0, "--runs takes a positive number");
            }
            "--rtt-ms" => parsed.rtt = Duration::from_millis(number(args.next(), "--rtt-ms")),
            other => {
                panic!("unknown argument {other:?}; usage: coldstart-bench [--runs N] [--rtt-ms N]")
            }
        }
    }
    parsed
}

/// A TCP forwarder to `upstream` that delays each chunk by half of `rtt` in each direction, and
/// the connection set-up by one `rtt` (the TCP handshake), so every request/response exchange
/// costs about one round trip, as over a network.
async fn delayed(upstream: SocketAddr, rtt: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(outbound) = TcpStream::connect(upstream).await else {
                    return;
                };
                // Without this, Nagle's algorithm meets delayed ACKs and adds 40 ms stalls that
                // no real client/server pair here would see.
                for stream in [&inbound, &outbound] {
                    stream.set_nodelay(true).ok();
                }
                tokio::time::sleep(rtt).await;
                let (from_client, to_client) = inbound.into_split();
                let (from_server, to_server) = outbound.into_split();
                tokio::join!(
                    pump(from_client, to_server, rtt / 2),
                    pump(from_server, to_client, rtt / 2)
                );
            });
        }
    });
    address
}

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Duration) {
    let mut buffer = vec![0u8; 64 * 1024];
    while let Ok(read) = from.read(&mut buffer).await {
        if read == 0 {
            break;
        }
        tokio::time::sleep(delay).await;
        if to.write_all(&buffer[..read]).await.is_err() {
            break;
        }
    }
    to.shutdown().await.ok();
}

/// `url` with its `127.0.0.1:port` authority sent through a delaying forwarder (unchanged when
/// `rtt` is zero).
async fn through_network(url: &str, rtt: Duration) -> String {
    if rtt.is_zero() {
        return url.to_owned();
    }
    let start = url.find("127.0.0.1:").expect("a loopback URL");
    let rest = &url[start + "127.0.0.1:".len()..];
    let port_len = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let upstream: SocketAddr = url[start..start + "127.0.0.1:".len() + port_len]
        .parse()
        .expect("host:port");
    let forwarder = delayed(upstream, rtt).await;
    format!("{}{forwarder}{}", &url[..start], &rest[port_len..])
}

#[tokio::main]
async fn main() {
    let Args { runs, rtt } = args();
    let aws = FakeAws::start().await;
    let aws_endpoint = through_network(&aws.endpoint(), rtt).await;
    // Kept alive for the whole run: one database per function, migrated once beforehand as a
    // deployed function's database is.
    let mut databases = Vec::new();
    let mut targets = vec![Target {
        name: BASELINE,
        settings: Vec::new(),
        init_ms: Vec::new(),
        phases: BTreeMap::new(),
    }];
    for function in FUNCTIONS {
        let db = TestDb::create().await;
        let secret_id = format!("secops/bench/{}", function.name);
        let database_url = through_network(&db.url, rtt).await;
        aws.serve_secret(&secret_id, &complete_secret(&database_url).to_string());
        databases.push(db);
        let mut settings: Vec<(String, String)> = function
            .required_settings
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        settings.push(("SECRET_ID".to_owned(), secret_id));
        targets.push(Target {
            name: function.name,
            settings,
            init_ms: Vec::new(),
            phases: BTreeMap::new(),
        });
    }
    for target in &targets {
        binary(target.name);
    }
    eprintln!(
        "{runs} cold starts each of {} binaries in {}, interleaved; round trip to Postgres and \
         the AWS fake: {}",
        targets.len(),
        binary_dir().display(),
        if rtt.is_zero() {
            "loopback".to_owned()
        } else {
            format!("{} ms added", rtt.as_millis())
        }
    );

    for round in 0..runs {
        // Rotate the order so no binary always follows the same one.
        let count = targets.len();
        for i in 0..count {
            let target = &mut targets[(i + round) % count];
            let spec = FunctionSpec::new(binary(target.name), target.name)
                .aws_endpoint(aws_endpoint.clone())
                .envs(&target.settings);
            let emulator = LambdaEmulator::start(spec)
                .await
                .expect("the binary starts");
            let init = match emulator.wait_for_init(INIT_TIMEOUT).await {
                Ok(init) => init,
                Err(failure) => panic!(
                    "{} did not complete init: {failure:?}\n{}",
                    target.name,
                    emulator.log_text()
                ),
            };
            target.init_ms.push(init.as_secs_f64() * 1000.0);
            // The line is written just before the first poll; give the pipe a moment.
            emulator.settle().await;
            if let Some(line) = emulator
                .logs()
                .iter()
                .find(|l| l.message().as_deref() == Some("cold start complete"))
                .and_then(|l| l.json())
            {
                for (name, value) in line["fields"].as_object().into_iter().flatten() {
                    let ms = value
                        .as_f64()
                        .or_else(|| value.as_str().and_then(|s| s.parse().ok()));
                    if let (true, Some(ms)) = (name.ends_with("_ms"), ms) {
                        target.phases.entry(name.clone()).or_default().push(ms);
                    }
                }
            }
            drop(emulator);
            // Let the killed process go before the next one starts.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    let hello = percentile(&targets[0].init_ms, 50.0);
    println!(
        "{:<26} {:>5} {:>12} {:>9} {:>10}  cold start complete (median ms)",
        "function", "runs", "median init", "p90 init", "vs hello"
    );
    for target in &targets {
        let median = percentile(&target.init_ms, 50.0);
        let phases: Vec<String> = target
            .phases
            .iter()
            .map(|(name, values)| format!("{name}={:.1}", percentile(values, 50.0)))
            .collect();
        println!(
            "{:<26} {:>5} {:>9.1} ms {:>6.1} ms {:>9.2}x  {}",
            target.name,
            target.init_ms.len(),
            median,
            percentile(&target.init_ms, 90.0),
            median / hello,
            if phases.is_empty() {
                "-".to_owned()
            } else {
                phases.join(" ")
            }
        );
    }
    drop(databases);
}
