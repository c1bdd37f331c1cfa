//! A Lambda Runtime API emulator: starts a function binary as Lambda does and feeds it events.
//!
//! It serves the Runtime API (2018-06-01) the way Lambda does — `GET /runtime/invocation/next`
//! long-polls until an event is queued; `POST .../invocation/{id}/response|error` and
//! `POST /runtime/init/error` report back — and starts the binary with a cleared environment
//! holding only what Lambda sets plus the function's own settings. Init time is measured as
//! Lambda's init phase ends: from process spawn to the first `/next` poll. Every stdout and
//! stderr line is kept with the time it was read, so tests can check what an invocation logged.
//! The process is killed when the emulator is dropped.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::{Notify, mpsc, oneshot};

/// The account and region the emulated functions run in (also used by the AWS fake's envelopes).
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "eu-west-1";

const API_PREFIX: &str = "/2018-06-01/runtime";

/// What to run and how Lambda would configure it.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub binary: PathBuf,
    /// `AWS_LAMBDA_FUNCTION_NAME`; also the log group's and the ARN's last part.
    pub name: String,
    pub memory_mb: u32,
    /// The function's timeout: each invocation's deadline is this far from when it is handed out.
    pub timeout: Duration,
    /// `AWS_ENDPOINT_URL`: where the AWS SDK sends every call (the AWS fake).
    pub aws_endpoint: Option<String>,
    /// The function's own settings (template.yaml `Environment.Variables`).
    pub env: Vec<(String, String)>,
}

impl FunctionSpec {
    pub fn new(binary: impl Into<PathBuf>, name: &str) -> Self {
        Self {
            binary: binary.into(),
            name: name.to_owned(),
            memory_mb: 256,
            timeout: Duration::from_secs(60),
            aws_endpoint: None,
            env: Vec::new(),
        }
    }

    pub fn aws_endpoint(mut self, url: impl Into<String>) -> Self {
        self.aws_endpoint = Some(url.into());
        self
    }

    pub fn env(mut self, name: &str, value: impl Into<String>) -> Self {
        self.env.push((name.to_owned(), value.into()));
        self
    }

    pub fn envs<K: AsRef<str>, V: AsRef<str>>(mut self, pairs: &[(K, V)]) -> Self {
        for (k, v) in pairs {
            self.env
                .push((k.as_ref().to_owned(), v.as_ref().to_owned()));
        }
        self
    }

    pub fn arn(&self) -> String {
        format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}", self.name)
    }
}

/// Which pipe a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line the process wrote, with when it was read.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub at: Instant,
    pub stream: Stream,
    pub text: String,
}

impl LogLine {
    /// The line as JSON, if it is (lambda_runtime's JSON format, or an EMF record).
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.text).ok()
    }

    /// `fields.message` of a JSON tracing line.
    pub fn message(&self) -> Option<String> {
        self.json()?["fields"]["message"]
            .as_str()
            .map(str::to_owned)
    }
}

/// How an invocation ended, as the runtime reported it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `POST /invocation/{id}/response`: the handler's result (JSON if it parses, else a string).
    Response(Value),
    /// `POST /invocation/{id}/error`: the runtime's error object (`errorType`, `errorMessage`).
    Error(Value),
}

/// One finished invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub outcome: Outcome,
    /// When `/next` handed the event to the process.
    pub started: Instant,
    /// When the response (or error) arrived.
    pub finished: Instant,
}

impl Invocation {
    pub fn duration(&self) -> Duration {
        self.finished - self.started
    }

    /// The response, or a panic naming the error the function reported.
    pub fn response(&self) -> &Value {
        match &self.outcome {
            Outcome::Response(v) => v,
            Outcome::Error(e) => panic!("invocation {} failed: {e}", self.request_id),
        }
    }
}

/// The process ended.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    pub status: ExitStatus,
    /// Since spawn.
    pub after: Duration,
}

/// Why init did not complete.
#[derive(Debug, Clone)]
pub enum InitFailure {
    /// The process exited before polling for an event.
    Exited(Exit),
    /// The runtime posted `/runtime/init/error` (the process may still be running).
    Reported(Value),
    TimedOut(Duration),
}

/// Why an invocation did not complete.
#[derive(Debug, Clone)]
pub enum InvokeFailure {
    Exited(Exit),
    TimedOut { request_id: String, after: Duration },
}

impl std::fmt::Display for InvokeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exited(exit) => write!(
                f,
                "the process exited ({}) after {:?}",
                exit.status, exit.after
            ),
            Self::TimedOut { request_id, after } => {
                write!(f, "invocation {request_id} got no answer within {after:?}")
            }
        }
    }
}

/// An event waiting for the process's next poll.
struct Queued {
    request_id: String,
    body: Bytes,
}

/// An invocation handed out (or queued) and not yet answered.
struct InFlight {
    /// When `/next` handed it to the process.
    handed_out: Option<Instant>,
    /// Who waits for the answer, and when it came.
    answer: Option<oneshot::Sender<(Outcome, Instant)>>,
}

/// What the Runtime API server and the process watchers share.
#[derive(Default)]
struct State {
    first_poll: Option<Instant>,
    polls: usize,
    init_error: Option<Value>,
    exit: Option<Exit>,
    logs: Vec<LogLine>,
    in_flight: HashMap<String, InFlight>,
}

struct Shared {
    state: Mutex<State>,
    /// Woken on the first poll, an init error and the process's exit.
    changed: Notify,
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Queued>>,
    spec: FunctionSpec,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A function running under the emulator.
pub struct LambdaEmulator {
    shared: Arc<Shared>,
    queue: mpsc::UnboundedSender<Queued>,
    spawned: Instant,
    pid: Option<u32>,
    address: SocketAddr,
    invocations: Mutex<Vec<Invocation>>,
    /// Dropping it kills the process (the watcher task selects on it).
    _kill: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

impl LambdaEmulator {
    /// Serve the Runtime API on a free port, then spawn the binary pointed at it.
    pub async fn start(spec: FunctionSpec) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (queue, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Notify::new(),
            queue: tokio::sync::Mutex::new(receiver),
            spec: spec.clone(),
        });
        let server = tokio::spawn(serve(listener, shared.clone()));

        let mut command = Command::new(&spec.binary);
        command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                spec.memory_mb.to_string(),
            )
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/11/24/[$LATEST]0123456789abcdef",
            )
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", spec.name),
            )
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_REGION", REGION)
            .env("AWS_DEFAULT_REGION", REGION)
            // Dummy keys: the SDK signs requests; the fake does not check signatures.
            .env("AWS_ACCESS_KEY_ID", "AKIAEMULATOR0000000")
            .env("AWS_SECRET_ACCESS_KEY", "emulator-dummy-secret-access-key")
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(endpoint) = &spec.aws_endpoint {
            command.env("AWS_ENDPOINT_URL", endpoint);
        }
        for (name, value) in &spec.env {
            command.env(name, value);
        }
        let spawned = Instant::now();
        let mut child = command.spawn().map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot start {}: {e}", spec.binary.display()),
            )
        })?;
        let pid = child.id();
        if let Some(out) = child.stdout.take() {
            tokio::spawn(capture(out, Stream::Stdout, shared.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(capture(err, Stream::Stderr, shared.clone()));
        }
        let (kill, killed) = oneshot::channel::<()>();
        let watcher = shared.clone();
        tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status,
                _ = killed => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            if let Ok(status) = status {
                watcher.state().exit = Some(Exit {
                    status,
                    after: spawned.elapsed(),
                });
            }
            watcher.changed.notify_waiters();
        });
        Ok(Self {
            shared,
            queue,
            spawned,
            pid,
            address,
            invocations: Mutex::new(Vec::new()),
            _kill: kill,
            server,
        })
    }

    pub fn spec(&self) -> &FunctionSpec {
        &self.shared.spec
    }

    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// `AWS_LAMBDA_RUNTIME_API` as given to the process.
    pub fn runtime_api(&self) -> SocketAddr {
        self.address
    }

    /// Wait until the process polls for its first event (init done), returning the init time.
    pub async fn wait_for_init(&self, timeout: Duration) -> Result<Duration, InitFailure> {
        let until = Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let state = self.shared.state();
                if let Some(at) = state.first_poll {
                    return Ok(at - self.spawned);
                }
                if let Some(error) = &state.init_error {
                    return Err(InitFailure::Reported(error.clone()));
                }
                if let Some(exit) = state.exit {
                    return Err(InitFailure::Exited(exit));
                }
            }
            if tokio::time::timeout_at(until.into(), notified)
                .await
                .is_err()
            {
                return Err(InitFailure::TimedOut(timeout));
            }
        }
    }

    /// Spawn → first `/next`, once init has completed.
    pub fn init_time(&self) -> Option<Duration> {
        self.shared.state().first_poll.map(|at| at - self.spawned)
    }

    /// What the process reported to `/runtime/init/error`, if it did.
    pub fn init_error(&self) -> Option<Value> {
        self.shared.state().init_error.clone()
    }

    /// How many times the process asked for an event.
    pub fn polls(&self) -> usize {
        self.shared.state().polls
    }

    /// Wait for the process to end.
    pub async fn wait_for_exit(&self, timeout: Duration) -> Option<Exit> {
        let until = Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(exit) = self.shared.state().exit {
                return Some(exit);
            }
            if tokio::time::timeout_at(until.into(), notified)
                .await
                .is_err()
            {
                return None;
            }
        }
    }

    pub fn exit(&self) -> Option<Exit> {
        self.shared.state().exit
    }

    /// Hand one event to the function and wait for its answer.
    pub async fn invoke(
        &self,
        event: &Value,
        timeout: Duration,
    ) -> Result<Invocation, InvokeFailure> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let (answer, answered) = oneshot::channel();
        self.shared.state().in_flight.insert(
            request_id.clone(),
            InFlight {
                handed_out: None,
                answer: Some(answer),
            },
        );
        let queued = Queued {
            request_id: request_id.clone(),
            body: Bytes::from(serde_json::to_vec(event).expect("an event serialises")),
        };
        if self.queue.send(queued).is_err() {
            unreachable!("the queue lives as long as the emulator");
        }
        let asked = Instant::now();
        let exited = async {
            loop {
                let notified = self.shared.changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if let Some(exit) = self.shared.state().exit {
                    return exit;
                }
                notified.await;
            }
        };
        let result = tokio::select! {
            answer = answered => match answer {
                Ok((outcome, finished)) => {
                    let started = self.shared.state().in_flight.remove(&request_id)
                        .and_then(|entry| entry.handed_out)
                        .unwrap_or(asked);
                    Ok(Invocation { request_id: request_id.clone(), outcome, started, finished })
                }
                Err(_) => unreachable!("the sender is kept until answered"),
            },
            exit = exited => Err(InvokeFailure::Exited(exit)),
            () = tokio::time::sleep(timeout) => Err(InvokeFailure::TimedOut {
                request_id: request_id.clone(),
                after: timeout,
            }),
        };
        if let Ok(invocation) = &result {
            self.invocations
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(invocation.clone());
        } else {
            self.shared.state().in_flight.remove(&request_id);
        }
        result
    }

    /// Every invocation that completed, in order.
    pub fn invocations(&self) -> Vec<Invocation> {
        self.invocations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every line written so far.
    pub fn logs(&self) -> Vec<LogLine> {
        self.shared.state().logs.clone()
    }

    /// Every line written so far, joined (for assertion messages).
    pub fn log_text(&self) -> String {
        self.logs()
            .iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The lines `invocation` wrote: read from when `/next` handed it out until the next
    /// invocation was handed out. Not until its answer: a line written just before the answer
    /// can be read from the pipe after the answer arrived (call [`Self::settle`] after each
    /// invocation). Between invocations the process only waits on `/next`.
    pub fn lines_during(&self, invocation: &Invocation) -> Vec<LogLine> {
        let next = self
            .invocations()
            .iter()
            .map(|i| i.started)
            .filter(|started| *started > invocation.started)
            .min();
        self.logs()
            .into_iter()
            .filter(|l| l.at >= invocation.started && next.is_none_or(|next| l.at < next))
            .collect()
    }

    /// Lines read before the first poll: the cold start's own output.
    pub fn init_lines(&self) -> Vec<LogLine> {
        let first = self.shared.state().first_poll;
        self.logs()
            .into_iter()
            .filter(|l| first.is_none_or(|at| l.at <= at))
            .collect()
    }

    /// Wait until the output has been read up to now: a line written just before an answer may
    /// still be in the pipe.
    pub async fn settle(&self) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Drop for LambdaEmulator {
    fn drop(&mut self) {
        // `_kill` is dropped with the struct, which makes the watcher kill the process.
        self.server.abort();
    }
}

/// Keep every line of one pipe, stamped when read.
async fn capture(pipe: impl AsyncRead + Unpin, stream: Stream, shared: Arc<Shared>) {
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(text)) = lines.next_line().await {
        shared.state().logs.push(LogLine {
            at: Instant::now(),
            stream,
            text,
        });
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(route(request, shared).await) }
            });
            // The runtime keeps one connection open and long-polls on it.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a valid response")
}

fn accepted() -> Response<Full<Bytes>> {
    reply(StatusCode::ACCEPTED, serde_json::json!({"status": "OK"}))
}

/// Lambda's answer for a request id it does not know.
fn unknown_request(id: &str) -> Response<Full<Bytes>> {
    reply(
        StatusCode::BAD_REQUEST,
        serde_json::json!({
            "errorMessage": format!("Invalid request ID: {id}"),
            "errorType": "InvalidRequestID"
        }),
    )
}

fn body_value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

async fn route(request: Request<Incoming>, shared: Arc<Shared>) -> Response<Full<Bytes>> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let Some(rest) = path.strip_prefix(API_PREFIX) else {
        return reply(
            StatusCode::NOT_FOUND,
            serde_json::json!({"errorType": "NotFound"}),
        );
    };
    if method == Method::GET && rest == "/invocation/next" {
        return next(&shared).await;
    }
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    if method == Method::POST && rest == "/init/error" {
        shared.state().init_error = Some(body_value(&body));
        shared.changed.notify_waiters();
        return accepted();
    }
    let Some(tail) = rest.strip_prefix("/invocation/") else {
        return reply(
            StatusCode::NOT_FOUND,
            serde_json::json!({"errorType": "NotFound"}),
        );
    };
    let (id, outcome) = match tail.rsplit_once('/') {
        Some((id, "response")) if method == Method::POST => {
            (id, Outcome::Response(body_value(&body)))
        }
        Some((id, "error")) if method == Method::POST => (id, Outcome::Error(body_value(&body))),
        _ => {
            return reply(
                StatusCode::NOT_FOUND,
                serde_json::json!({"errorType": "NotFound"}),
            );
        }
    };
    // Only an invocation the process was handed can be answered, and only once.
    let waiter = match shared.state().in_flight.get_mut(id) {
        Some(entry) if entry.handed_out.is_some() => entry.answer.take(),
        _ => None,
    };
    match waiter {
        Some(waiter) => {
            let _ = waiter.send((outcome, Instant::now()));
            accepted()
        }
        None => unknown_request(id),
    }
}

/// The long poll: wait for the next queued event, hand it out with Lambda's headers.
async fn next(shared: &Shared) -> Response<Full<Bytes>> {
    {
        let mut state = shared.state();
        state.polls += 1;
        if state.first_poll.is_none() {
            state.first_poll = Some(Instant::now());
            drop(state);
            shared.changed.notify_waiters();
        }
    }
    let Some(queued) = shared.queue.lock().await.recv().await else {
        return reply(
            StatusCode::GONE,
            serde_json::json!({"errorType": "ShuttingDown"}),
        );
    };
    let handed_out = Instant::now();
    if let Some(entry) = shared.state().in_flight.get_mut(&queued.request_id) {
        entry.handed_out = Some(handed_out);
    }
    let deadline = SystemTime::now() + shared.spec.timeout;
    let deadline_ms = deadline
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch")
        .as_millis();
    let epoch_secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch")
        .as_secs();
    let trace = format!(
        "Root=1-{epoch_secs:08x}-{};Parent={};Sampled=0",
        &uuid::Uuid::new_v4().simple().to_string()[..24],
        &uuid::Uuid::new_v4().simple().to_string()[..16],
    );
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("Lambda-Runtime-Aws-Request-Id", &queued.request_id)
        .header("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string())
        .header("Lambda-Runtime-Invoked-Function-Arn", shared.spec.arn())
        .header("Lambda-Runtime-Trace-Id", trace)
        .body(Full::new(queued.body))
        .expect("a valid response")
}

/// One of the project's functions: its binary (= package) name and the settings without which
/// its cold start stops (the values only need to pass validation).
#[derive(Debug, Clone, Copy)]
pub struct ProjectFunction {
    pub name: &'static str,
    pub required_settings: &'static [(&'static str, &'static str)],
    /// A credential its cold start requires besides `database_url`.
    pub required_credential: &'static str,
}

/// The seven functions of `template.yaml`.
pub const FUNCTIONS: &[ProjectFunction] = &[
    ProjectFunction {
        name: "oauth-drift",
        required_settings: &[("LINEAR_TEAM_ID", "team-sec")],
        required_credential: "linear_api_key",
    },
    ProjectFunction {
        name: "privileged-grant-review",
        required_settings: &[("REVIEW_SLACK_CHANNEL", "C0REVIEW")],
        required_credential: "axiom_token",
    },
    ProjectFunction {
        name: "slack-interactions",
        required_settings: &[("REVIEW_SLACK_CHANNEL", "C0REVIEW")],
        required_credential: "slack_signing_secret",
    },
    ProjectFunction {
        name: "review-worker",
        required_settings: &[("REVIEW_SLACK_CHANNEL", "C0REVIEW")],
        required_credential: "axiom_token",
    },
    ProjectFunction {
        name: "rotation-chaser",
        required_settings: &[("ROTATION_DIGEST_TO", "C0SECDIGEST")],
        required_credential: "slack_bot_token",
    },
    ProjectFunction {
        name: "gitlab-webhook",
        required_settings: &[],
        required_credential: "gitlab_webhook_token",
    },
    ProjectFunction {
        name: "mr-audit",
        required_settings: &[
            ("CONFLUENCE_URL", "https://acme.atlassian.net/wiki"),
            ("CONFLUENCE_PAGE_ID", "200"),
            ("MR_AUDIT_SLACK_CHANNEL", "C0SECREVIEW"),
        ],
        required_credential: "gitlab_token",
    },
];

/// A secret holding every credential any function requires (placeholder values) and this
/// database: enough for every cold start.
pub fn complete_secret(database_url: &str) -> Value {
    serde_json::json!({
        "database_url": database_url,
        "linear_api_key": "lin_api_placeholder",
        "axiom_token": "xaat-placeholder",
        "slack_bot_token": "xoxb-placeholder",
        "slack_signing_secret": "signing-placeholder",
        "gitlab_token": "glpat-placeholder",
        "gitlab_webhook_token": "webhook-placeholder",
        "confluence_email": "bot@acme.example",
        "confluence_api_token": "ATATT-placeholder",
    })
}

/// Where the built function binaries are: `SECOPS_LAMBDA_BIN_DIR` (set by
/// `scripts/lambda-e2e.sh`), else `target/release`.
pub fn binary_dir() -> PathBuf {
    std::env::var_os("SECOPS_LAMBDA_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
                .join("release")
        })
}

/// The path of a built binary, or a panic saying how to build it.
pub fn binary(name: &str) -> PathBuf {
    let path = binary_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the functions first (scripts/lambda-e2e.sh builds them and sets \
         SECOPS_LAMBDA_BIN_DIR)",
        path.display()
    );
    path
}
