//! A stateful fake of Axiom's query and ingest API over wiremock: datasets hold events (JSON
//! objects with an RFC 3339 `_time`), queries answer in the real tabular shape, and scripted
//! trouble (rate limits, budget limits, outages, partial results, failed events, refused
//! credentials) is switched on by name.
//!
//! Both the legacy paths (`/v1/datasets/_apl`, `/v1/datasets/{dataset}/ingest`) and the edge
//! paths (`/v1/query/_apl`, `/v1/ingest/{dataset}`) are served. A query answers the rows of the
//! dataset named by the APL's first `['name']` (the rest of the APL is ignored) whose `_time` is
//! in `[startTime, endTime)`, in time order.
//!
//! ```ignore
//! let axiom = FakeAxiom::start().await;
//! axiom.add_events("sec-logs", vec![json!({"_time": "2026-01-01T00:00:00Z", "user": "ann"})]);
//! let config = AxiomConfig { edge: Some(false), ..AxiomConfig::new(axiom.url()) };
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Map, Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A query as the fake received it: `(startTime, endTime, apl)`.
pub type ReceivedQuery = (DateTime<Utc>, DateTime<Utc>, String);

#[derive(Default)]
struct World {
    datasets: BTreeMap<String, Vec<Value>>,
    queries: Vec<ReceivedQuery>,
    paths: Vec<String>,
    requests: usize,
    ingest_calls: usize,
    next_trace: u64,
    partial_wider_than: Option<TimeDelta>,
    rate_limits: usize,
    query_limited: bool,
    ingest_limited: bool,
    failures: Vec<u16>,
    ingest_rejects: Vec<u64>,
    down: bool,
    required_org: Option<String>,
    accepted_token: Option<String>,
}

/// Fake Axiom behind a local HTTP server.
pub struct FakeAxiom {
    server: MockServer,
    world: Arc<Mutex<World>>,
}

impl FakeAxiom {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let world = Arc::new(Mutex::new(World::default()));
        Mock::given(method("POST"))
            .respond_with(Responder(world.clone()))
            .mount(&server)
            .await;
        Self { server, world }
    }

    /// The base URL, for `AxiomConfig::base_url` (it serves legacy and edge paths alike).
    pub fn url(&self) -> String {
        self.server.uri()
    }

    /// Add events to a dataset, creating it if needed (`vec![]` just creates it). Events must be
    /// JSON objects; one without `_time` gets the current time, as Axiom does.
    pub fn add_events(&self, dataset: &str, events: Vec<Value>) {
        let stamped = events.into_iter().map(with_time);
        self.world()
            .datasets
            .entry(dataset.to_owned())
            .or_default()
            .extend(stamped);
    }

    /// Every event of the dataset, added or ingested, in arrival order.
    pub fn events(&self, dataset: &str) -> Vec<Value> {
        self.world()
            .datasets
            .get(dataset)
            .cloned()
            .unwrap_or_default()
    }

    /// Queries over a window wider than `width` answer `isPartial: true` with only the first
    /// half of their rows.
    pub fn partial_when_wider_than(&self, width: Duration) {
        self.world().partial_wider_than =
            Some(TimeDelta::from_std(width).expect("a test window fits a TimeDelta"));
    }

    /// The next `n` requests get 429 with `Retry-After: 0`.
    pub fn rate_limit_next(&self, n: usize) {
        self.world().rate_limits += n;
    }

    /// Every query from now on gets 430 (the organisation's query budget is spent).
    pub fn query_limit(&self) {
        self.world().query_limited = true;
    }

    /// Every ingest from now on gets 430 (the organisation's ingest budget is spent).
    pub fn ingest_limit(&self) {
        self.world().ingest_limited = true;
    }

    /// The next `n` requests answer this status with an Axiom error body.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.world().failures.extend(std::iter::repeat_n(status, n));
    }

    /// The next ingest answers 200 but fails its first `n_events_failed` events (they are not
    /// stored; the rest are).
    pub fn ingest_rejects_next(&self, n_events_failed: u64) {
        self.world().ingest_rejects.push(n_events_failed);
    }

    /// Every request answers 503 until [`Self::up`].
    pub fn down(&self) {
        self.world().down = true;
    }

    pub fn up(&self) {
        self.world().down = false;
    }

    /// Personal tokens (`xapt-`) must send `x-axiom-org-id: org` from now on.
    pub fn require_org(&self, org: &str) {
        self.world().required_org = Some(org.to_owned());
    }

    /// Only `Authorization: Bearer <token>` is accepted from now on: queries get 403 otherwise,
    /// ingests 401 (as the specs declare).
    pub fn accept_only_token(&self, token: &str) {
        self.world().accepted_token = Some(token.to_owned());
    }

    /// Every query request received, refused ones included, in order.
    pub fn queries(&self) -> Vec<ReceivedQuery> {
        self.world().queries.clone()
    }

    /// Ingest requests received, refused ones included.
    pub fn ingest_calls(&self) -> usize {
        self.world().ingest_calls
    }

    /// Requests received of any kind.
    pub fn requests(&self) -> usize {
        self.world().requests
    }

    /// The path (with query string) of every request received, in order.
    pub fn paths(&self) -> Vec<String> {
        self.world().paths.clone()
    }

    /// The value of this header on every request received, in order (`""` when absent).
    pub async fn header_values(&self, name: &str) -> Vec<String> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| header(r, name).unwrap_or_default().to_owned())
            .collect()
    }

    /// The JSON body of every request received, in order (`null` when not JSON).
    pub async fn bodies(&self) -> Vec<Value> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
            .collect()
    }

    fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }
}

fn lock(world: &Mutex<World>) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(PoisonError::into_inner)
}

fn header<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

fn with_time(event: Value) -> Value {
    let Value::Object(mut object) = event else {
        panic!("fake Axiom events must be JSON objects, got {event}");
    };
    object
        .entry("_time")
        .or_insert_with(|| json!(rfc3339(Utc::now())));
    Value::Object(object)
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// What a request is for, from its path.
enum Route {
    Query { edge: bool },
    Ingest { edge: bool, dataset: String },
}

impl Route {
    fn of(path: &str) -> Option<Route> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match segments.as_slice() {
            ["v1", "datasets", "_apl"] => Some(Route::Query { edge: false }),
            ["v1", "query", "_apl"] => Some(Route::Query { edge: true }),
            ["v1", "datasets", dataset, "ingest"] => Some(Route::Ingest {
                edge: false,
                dataset: percent_decode(dataset),
            }),
            ["v1", "ingest", dataset] => Some(Route::Ingest {
                edge: true,
                dataset: percent_decode(dataset),
            }),
            _ => None,
        }
    }

    fn is_edge(&self) -> bool {
        match self {
            Route::Query { edge } | Route::Ingest { edge, .. } => *edge,
        }
    }
}

struct Responder(Arc<Mutex<World>>);

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut world = lock(&self.0);
        world.requests += 1;
        world.next_trace += 1;
        let trace = format!("trace-{}", world.next_trace);
        let full_path = match request.url.query() {
            Some(q) => format!("{}?{q}", request.url.path()),
            None => request.url.path().to_owned(),
        };
        world.paths.push(full_path);
        world
            .answer(request)
            .insert_header("x-axiom-trace-id", trace.as_str())
    }
}

impl World {
    fn answer(&mut self, request: &Request) -> ResponseTemplate {
        let Some(route) = Route::of(request.url.path()) else {
            return error(404, "not found");
        };
        match &route {
            Route::Query { .. } => {
                let (start, end, apl) = match parse_query(request) {
                    Ok(query) => query,
                    Err(message) => return error(400, &message),
                };
                self.queries.push((start, end, apl.clone()));
                self.trouble(request, &route)
                    .unwrap_or_else(|| self.run_query(start, end, &apl))
            }
            Route::Ingest { dataset, .. } => {
                self.ingest_calls += 1;
                match self.trouble(request, &route) {
                    Some(refusal) => refusal,
                    None => self.ingest(dataset, &request.body),
                }
            }
        }
    }

    /// Whatever stops the request before it reaches the data, in the order Axiom would check.
    fn trouble(&mut self, request: &Request, route: &Route) -> Option<ResponseTemplate> {
        if self.down {
            return Some(error(503, "service unavailable"));
        }
        if let Some(refusal) = self.refuse_credentials(request, route) {
            return Some(refusal);
        }
        if self.rate_limits > 0 {
            self.rate_limits -= 1;
            return Some(
                error(429, "rate limit exceeded")
                    .insert_header("retry-after", "0")
                    .insert_header("x-ratelimit-scope", "organization")
                    .insert_header("x-ratelimit-limit", "600")
                    .insert_header("x-ratelimit-remaining", "0")
                    .insert_header(
                        "x-ratelimit-reset",
                        Utc::now().timestamp().to_string().as_str(),
                    ),
            );
        }
        if !self.failures.is_empty() {
            let status = self.failures.remove(0);
            return Some(error(status, "internal server error"));
        }
        match route {
            Route::Query { .. } if self.query_limited => Some(
                error(430, "query limit exceeded")
                    .insert_header("x-querylimit-limit", "1000")
                    .insert_header("x-querylimit-remaining", "0"),
            ),
            Route::Ingest { .. } if self.ingest_limited => Some(
                error(430, "ingest limit exceeded")
                    .insert_header("x-ingestlimit-limit", "1000")
                    .insert_header("x-ingestlimit-remaining", "0"),
            ),
            _ => None,
        }
    }

    fn refuse_credentials(&self, request: &Request, route: &Route) -> Option<ResponseTemplate> {
        // The legacy ingest endpoint declares 401; everything else answers 403.
        let status = match route {
            Route::Ingest { edge: false, .. } => 401,
            _ => 403,
        };
        let Some(token) = header(request, "authorization").and_then(|h| h.strip_prefix("Bearer "))
        else {
            return Some(error(status, "unauthorized"));
        };
        if self.accepted_token.as_deref().is_some_and(|t| t != token) {
            return Some(error(status, "invalid token"));
        }
        if token.starts_with("xapt-") {
            if route.is_edge() {
                return Some(error(403, "personal tokens are not supported on edge"));
            }
            let org = header(request, "x-axiom-org-id");
            if self.required_org.is_some() && org != self.required_org.as_deref() {
                return Some(error(403, "missing or wrong organization id"));
            }
        }
        None
    }

    fn run_query(&self, start: DateTime<Utc>, end: DateTime<Utc>, apl: &str) -> ResponseTemplate {
        let Some(dataset) = dataset_of(apl) else {
            return error(400, "no dataset named in the APL (expected ['name'])");
        };
        let Some(events) = self.datasets.get(&dataset) else {
            return error(404, &format!("dataset {dataset} not found"));
        };
        let mut rows: Vec<(DateTime<Utc>, &Map<String, Value>)> = events
            .iter()
            .filter_map(|e| Some((time_of(e)?, e.as_object()?)))
            .filter(|(time, _)| *time >= start && *time < end)
            .collect();
        rows.sort_by_key(|(time, _)| *time);
        let matched = rows.len();
        let partial = self.partial_wider_than.is_some_and(|w| end - start > w);
        if partial {
            rows.truncate(matched / 2);
        }
        let objects: Vec<&Map<String, Value>> = rows.into_iter().map(|(_, o)| o).collect();
        let status = json!({
            "elapsedTime": 1200,
            "blocksExamined": 1,
            "rowsExamined": events.len(),
            "rowsMatched": matched,
            "numGroups": 0,
            "isPartial": partial,
            "cacheStatus": 1,
            "minBlockTime": rfc3339(start),
            "maxBlockTime": rfc3339(end),
        });
        ResponseTemplate::new(200).set_body_json(json!({
            "format": "tabular",
            "status": status,
            "tables": [table(&dataset, &objects, start, end)],
            "datasetNames": [dataset],
        }))
    }

    fn ingest(&mut self, dataset: &str, body: &[u8]) -> ResponseTemplate {
        let Ok(Value::Array(events)) = serde_json::from_slice::<Value>(body) else {
            return error(400, "the body must be a JSON array of events");
        };
        if events.iter().any(|e| !e.is_object()) {
            return error(400, "every event must be a JSON object");
        }
        let Some(stored) = self.datasets.get_mut(dataset) else {
            return error(404, &format!("dataset {dataset} not found"));
        };
        let rejected = if self.ingest_rejects.is_empty() {
            0
        } else {
            self.ingest_rejects.remove(0)
        };
        let failed = usize::try_from(rejected).map_or(events.len(), |n| n.min(events.len()));
        let now = rfc3339(Utc::now());
        let failures: Vec<Value> = (0..failed)
            .map(|i| json!({ "timestamp": now, "error": format!("event {i}: field limit exceeded") }))
            .collect();
        let accepted: Vec<Value> = events.into_iter().skip(failed).map(with_time).collect();
        let ingested = accepted.len();
        stored.extend(accepted);
        ResponseTemplate::new(200).set_body_json(json!({
            "ingested": ingested,
            "failed": failed,
            "failures": failures,
            "processedBytes": body.len(),
            "blocksCreated": 0,
            "walLength": ingested,
        }))
    }
}

/// `(startTime, endTime, apl)` of a query request, or why it is refused.
fn parse_query(request: &Request) -> Result<ReceivedQuery, String> {
    let tabular = request
        .url
        .query_pairs()
        .any(|(k, v)| k == "format" && v == "tabular");
    if !tabular {
        return Err("this fake answers format=tabular only".to_owned());
    }
    let body: Value =
        serde_json::from_slice(&request.body).map_err(|_| "the body is not JSON".to_owned())?;
    let apl = body["apl"].as_str().ok_or("`apl` is required")?.to_owned();
    let time = |key: &str| {
        body[key]
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.to_utc())
            .ok_or(format!("`{key}` must be an RFC 3339 time"))
    };
    Ok((time("startTime")?, time("endTime")?, apl))
}

/// The first `['name']` in the APL.
fn dataset_of(apl: &str) -> Option<String> {
    let start = apl.find("['")? + 2;
    let len = apl[start..].find("']")?;
    Some(apl[start..start + len].to_owned())
}

fn time_of(event: &Value) -> Option<DateTime<Utc>> {
    let text = event.get("_time")?.as_str()?;
    Some(DateTime::parse_from_rfc3339(text).ok()?.to_utc())
}

/// Table "0" in Axiom's column-major shape: one field per key seen in any row (sorted),
/// `null` where a row lacks it.
fn table(
    dataset: &str,
    rows: &[&Map<String, Value>],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Value {
    let names: BTreeSet<&String> = rows.iter().flat_map(|r| r.keys()).collect();
    let fields: Vec<Value> = names
        .iter()
        .map(|name| json!({ "name": name, "type": field_type(name, rows) }))
        .collect();
    let columns: Vec<Vec<Value>> = names
        .iter()
        .map(|name| {
            rows.iter()
                .map(|r| r.get(*name).cloned().unwrap_or(Value::Null))
                .collect()
        })
        .collect();
    json!({
        "name": "0",
        "sources": [{ "name": dataset }],
        "fields": fields,
        "order": [{ "field": "_time", "desc": false }],
        "groups": [],
        "range": { "field": "_time", "start": rfc3339(start), "end": rfc3339(end) },
        "columns": columns,
    })
}

fn field_type(name: &str, rows: &[&Map<String, Value>]) -> &'static str {
    if name == "_time" {
        return "datetime";
    }
    match rows
        .iter()
        .find_map(|r| r.get(name).filter(|v| !v.is_null()))
    {
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(n)) if n.is_f64() => "float",
        Some(Value::Number(_)) => "integer",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
        Some(Value::Null) | None => "unknown",
    }
}

fn error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({ "code": status, "message": message }))
}

/// `%XX` escapes in a path segment, decoded (no extra dependency for this one job).
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| segment.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
