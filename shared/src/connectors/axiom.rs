//! Axiom connector: APL queries (tabular results rebuilt into rows, and on request never silently
//! truncated) and event ingest, on the shared HTTP client and retry policy.
//!
//! The contract, from `docs/contracts/axiom.md` and Axiom's OpenAPI specs (`v1.json`,
//! `v1-edge-query.json`, `v1-edge-ingest.json`):
//! - Legacy host (`https://api.axiom.co`): `POST /v1/datasets/_apl?format=tabular` and
//!   `POST /v1/datasets/{dataset}/ingest`. Edge host (`*.edge.axiom.co`):
//!   `POST /v1/query/_apl?format=tabular` and `POST /v1/ingest/{dataset}` (the legacy query path
//!   answers 404 there).
//! - `Authorization: Bearer <axiom_token>`. A personal token (`xapt-`) also needs
//!   `x-axiom-org-id` and is refused by edge endpoints; both are checked here, before any
//!   request, so a misconfiguration costs no call and names its cause.
//! - 429 and 5xx are retried (`Retry-After`, else `X-RateLimit-Reset`); 430 (query or ingest
//!   budget exhausted) is final; 401/403 re-read the secret once, since it may have been rotated.
//! - `status.isPartial` means the result was cut short: [`AxiomClient::query_complete`] narrows
//!   the time window until every part is complete, or says which part never was.
//! - Ingest answers 200 even when events failed; `failed > 0` is an error here.
//!
//! The token is never logged or put in an error.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::connectors::credentials::{ConnectorError, Service, present, sensitive_header};
use crate::http::{self, HttpResponse, RetryPolicy, Verdict};
use crate::ports::{FailureKind, PortError};
use crate::secrets::{Credentials, SecretStore};

/// The global (legacy) API host.
pub const DEFAULT_BASE_URL: &str = "https://api.axiom.co";

/// Axiom accepts at most this many events per ingest request; larger slices are sent in batches.
pub const MAX_EVENTS_PER_BATCH: usize = 10_000;

const SERVICE: &str = "axiom";
const EDGE_HOST_SUFFIX: &str = ".edge.axiom.co";
const PERSONAL_TOKEN_PREFIX: &str = "xapt-";
const ORG_ID_HEADER: &str = "x-axiom-org-id";
const TRACE_ID_HEADER: &str = "x-axiom-trace-id";
const RATE_LIMIT_RESET_HEADER: &str = "x-ratelimit-reset";
/// Axiom's status for "query or ingest budget exhausted": waiting minutes will not help.
const LIMIT_EXCEEDED: u16 = 430;
/// The table name Axiom reserves for totals; never the result rows.
const TOTALS_TABLE: &str = "_totals";

/// Longest piece of upstream text put in an error.
const EXCERPT_CHARS: usize = 200;

/// One result row: field name → value (`null` where the row has no value).
pub type Row = Map<String, Value>;

/// Where Axiom is and how patiently to call it.
#[derive(Debug, Clone)]
pub struct AxiomConfig {
    /// [`DEFAULT_BASE_URL`] or an edge domain such as `https://eu-central-1.aws.edge.axiom.co`;
    /// a trailing `/` is ignored.
    pub base_url: String,
    /// Sent as `x-axiom-org-id`; required with a personal token.
    pub org_id: Option<String>,
    /// Force edge (`Some(true)`) or legacy (`Some(false)`) paths; `None` decides by the host.
    /// Only needed when an edge deployment sits behind another name (a proxy, a test server).
    pub edge: Option<bool>,
    pub retry: RetryPolicy,
}

impl AxiomConfig {
    /// This host, no org id, edge decided by the host, the default retry policy.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            org_id: None,
            edge: None,
            retry: RetryPolicy::default(),
        }
    }
}

/// One APL query's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct AplResult {
    pub rows: Vec<Row>,
    /// Axiom stopped early: `rows` are only part of the answer.
    pub is_partial: bool,
    /// `x-axiom-trace-id`, for Axiom support.
    pub trace_id: Option<String>,
}

/// What an ingest did, summed over its batches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestStatus {
    pub ingested: u64,
    pub failed: u64,
    /// Axiom's error text for each failed event.
    pub failures: Vec<String>,
}

impl IngestStatus {
    fn absorb(&mut self, batch: IngestStatus) {
        self.ingested += batch.ingested;
        self.failed += batch.failed;
        self.failures.extend(batch.failures);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AxiomError {
    #[error("axiom: no axiom_token in the credentials")]
    MissingToken,
    #[error(
        "axiom: a personal token (xapt-) needs an org id (AxiomConfig::org_id); set it or use an API token (xaat-)"
    )]
    PersonalTokenNeedsOrg,
    #[error("axiom: edge endpoints accept API tokens (xaat-) only, not personal tokens (xapt-)")]
    PersonalTokenOnEdge,
    /// Local configuration Axiom could never accept (an unusable URL, token or org id).
    #[error("axiom: misconfigured: {0}")]
    Misconfigured(String),
    /// Still 429 when the retries ran out.
    #[error("axiom: still rate limited after retrying{}", http::wait_hint("Axiom", .retry_after))]
    RateLimited { retry_after: Option<Duration> },
    #[error("axiom: the organisation's query limit is exhausted (HTTP 430)")]
    QueryLimit,
    #[error("axiom: the organisation's ingest limit is exhausted (HTTP 430)")]
    IngestLimit,
    #[error("axiom: request refused (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("axiom: unavailable: {0}")]
    Unavailable(String),
    /// The narrowest window allowed still came back partial.
    #[error(
        "axiom: results for [{start}, {end}) are still partial at the smallest window allowed; narrow the query or lower min_window"
    )]
    Partial {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    #[error("axiom: {failed} event(s) failed to ingest ({ingested} ingested): {first_error}")]
    IngestFailed {
        failed: u64,
        ingested: u64,
        first_error: String,
    },
    #[error("axiom: unexpected reply: {0}")]
    Malformed(String),
}

/// Which call is being made: they differ in the limit they hit and the permission they need.
#[derive(Debug, Clone, Copy)]
enum Operation {
    Query,
    Ingest,
}

impl Operation {
    fn limit_error(self) -> AxiomError {
        match self {
            Operation::Query => AxiomError::QueryLimit,
            Operation::Ingest => AxiomError::IngestLimit,
        }
    }

    /// The token permission the call needs (the specs' security scopes).
    fn permission(self) -> &'static str {
        match self {
            Operation::Query => "query|read",
            Operation::Ingest => "ingest|create",
        }
    }
}

/// An Axiom client for one deployment (legacy or edge).
pub struct AxiomClient {
    http: reqwest::Client,
    secrets: Arc<SecretStore>,
    config: AxiomConfig,
    /// Decided once: the host does not change.
    edge: bool,
}

impl AxiomClient {
    pub fn new(http: reqwest::Client, secrets: Arc<SecretStore>, config: AxiomConfig) -> Self {
        let edge = config.edge.unwrap_or_else(|| is_edge_url(&config.base_url));
        Self {
            http,
            secrets,
            config,
            edge,
        }
    }

    pub fn config(&self) -> &AxiomConfig {
        &self.config
    }

    /// Whether the edge paths (and edge token rules) are used.
    pub fn is_edge(&self) -> bool {
        self.edge
    }

    /// One APL query over `[start, end)`; tabular format; rows rebuilt from the column-major
    /// first table. A partial answer is returned as such (`is_partial`): see
    /// [`Self::query_complete`] for one that is never cut short.
    #[tracing::instrument(skip_all, fields(start = %start, end = %end))]
    pub async fn query(
        &self,
        apl: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<AplResult, AxiomError> {
        let url = query_url(&self.config.base_url, self.edge)?;
        let body = json!({ "apl": apl, "startTime": rfc3339(start), "endTime": rfc3339(end) });
        let response = self
            .post(Operation::Query, &url, Bytes::from(body.to_string()))
            .await?;
        let (rows, is_partial) = parse_tabular(&response.body)?;
        Ok(AplResult {
            rows,
            is_partial,
            trace_id: trace_id(&response),
        })
    }

    /// Like [`Self::query`], but never silently truncated: a partial answer is thrown away and
    /// its window asked again in two halves (recursively), so every row comes back exactly once.
    /// Parts are concatenated earliest window first; within a part rows keep the query's order.
    /// No window narrower than `min_window` is queried: a window whose halves would be is the
    /// smallest allowed, and if it is still partial the result is `Err(Partial)` for it.
    ///
    /// Meant for row-returning queries: an aggregation would come back once per window.
    #[tracing::instrument(skip_all, fields(start = %start, end = %end))]
    pub async fn query_complete(
        &self,
        apl: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        min_window: Duration,
    ) -> Result<Vec<Row>, AxiomError> {
        let floor = smallest_window(min_window);
        // A stack with the earliest window on top keeps the output in time order.
        let mut pending = vec![(start, end)];
        let mut rows = Vec::new();
        while let Some((from, to)) = pending.pop() {
            if from >= to {
                continue;
            }
            let part = self.query(apl, from, to).await?;
            if !part.is_partial {
                rows.extend(part.rows);
                continue;
            }
            let Some(mid) = midpoint(from, to, floor) else {
                return Err(AxiomError::Partial {
                    start: from,
                    end: to,
                });
            };
            tracing::debug!(%from, %to, "partial result; querying the window in halves");
            pending.push((mid, to));
            pending.push((from, mid));
        }
        Ok(rows)
    }

    /// Ingest events (JSON objects; set `_time` yourself for event time) into a dataset, in
    /// batches of [`MAX_EVENTS_PER_BATCH`]. HTTP 200 with `failed > 0` is an error
    /// ([`AxiomError::IngestFailed`]) and stops before the next batch. Ingest is not idempotent:
    /// batches already accepted stay, and a retried request may write twice, so give events an
    /// id of your own to deduplicate on.
    #[tracing::instrument(skip_all, fields(dataset = %dataset, events = events.len()))]
    pub async fn ingest(
        &self,
        dataset: &str,
        events: &[Value],
    ) -> Result<IngestStatus, AxiomError> {
        let url = ingest_url(&self.config.base_url, self.edge, dataset)?;
        let mut total = IngestStatus::default();
        for batch in events.chunks(MAX_EVENTS_PER_BATCH) {
            let body = serde_json::to_vec(batch).map_err(|e| {
                AxiomError::Misconfigured(format!("the events cannot be serialised: {e}"))
            })?;
            let response = self.post(Operation::Ingest, &url, body.into()).await?;
            total.absorb(parse_ingest(&response.body)?);
            if total.failed > 0 {
                return Err(ingest_failed(total));
            }
        }
        Ok(total)
    }

    /// One logical call through the shared [`Service`] call, and the final status turned into
    /// an error unless it is a success.
    async fn post(
        &self,
        operation: Operation,
        url: &Url,
        body: Bytes,
    ) -> Result<HttpResponse, AxiomError> {
        let request = |headers: &HeaderMap| {
            self.http
                .post(url.clone())
                .headers(headers.clone())
                .body(body.clone())
        };
        let response = Service::new(SERVICE, &self.secrets, self.config.retry)
            .send(|c| self.headers(c), request, classify)
            .await?;
        let trace_id = response.header(TRACE_ID_HEADER).unwrap_or("-");
        tracing::debug!(trace_id, "axiom answered");
        check_status(operation, &response)?;
        Ok(response)
    }

    /// Authorization (and org id) headers for these credentials, after the token rules.
    fn headers(&self, credentials: &Credentials) -> Result<HeaderMap, AxiomError> {
        let token = present(&credentials.axiom_token).ok_or(AxiomError::MissingToken)?;
        let org_id = self.org_id();
        if token.starts_with(PERSONAL_TOKEN_PREFIX) {
            if self.edge {
                return Err(AxiomError::PersonalTokenOnEdge);
            }
            if org_id.is_none() {
                return Err(AxiomError::PersonalTokenNeedsOrg);
            }
        }
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, bearer(token)?);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(org) = org_id {
            let value = HeaderValue::from_str(org).map_err(|_| {
                AxiomError::Misconfigured(
                    "org_id contains characters not allowed in an HTTP header".to_owned(),
                )
            })?;
            headers.insert(ORG_ID_HEADER, value);
        }
        Ok(headers)
    }

    fn org_id(&self) -> Option<&str> {
        self.config
            .org_id
            .as_deref()
            .map(str::trim)
            .filter(|o| !o.is_empty())
    }
}

// Written out rather than by `connector_error!`: Axiom's refusals (HTTP 430, a token of the wrong
// kind) are more than a rate limit and an outage.
impl ConnectorError for AxiomError {
    fn rate_limited(retry_after: Option<Duration>) -> Self {
        AxiomError::RateLimited { retry_after }
    }

    fn unavailable(message: String) -> Self {
        AxiomError::Unavailable(message)
    }
}

impl AxiomError {
    /// What kind of failure this is for the workflows' ports. The organisation's exhausted
    /// query or ingest limit, a refused request and our own misconfiguration stay so until
    /// someone acts; a partial result, a malformed reply or events Axiom failed to ingest may
    /// well go through on the next run.
    pub fn failure_kind(&self) -> FailureKind {
        match self {
            AxiomError::RateLimited { retry_after } => FailureKind::RateLimited(*retry_after),
            AxiomError::Unavailable(_)
            | AxiomError::Partial { .. }
            | AxiomError::IngestFailed { .. }
            | AxiomError::Malformed(_) => FailureKind::Transient,
            AxiomError::MissingToken
            | AxiomError::PersonalTokenNeedsOrg
            | AxiomError::PersonalTokenOnEdge
            | AxiomError::Misconfigured(_)
            | AxiomError::QueryLimit
            | AxiomError::IngestLimit
            | AxiomError::Rejected { .. } => FailureKind::Permanent,
        }
    }
}

impl From<AxiomError> for PortError {
    fn from(error: AxiomError) -> Self {
        PortError::new(SERVICE, error.failure_kind(), error)
    }
}

/// A host under `.edge.axiom.co` serves the edge paths.
fn is_edge_url(base_url: &str) -> bool {
    Url::parse(base_url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_ascii_lowercase))
        .is_some_and(|host| host.ends_with(EDGE_HOST_SUFFIX))
}

fn query_url(base_url: &str, edge: bool) -> Result<Url, AxiomError> {
    let segments: &[&str] = if edge {
        &["v1", "query", "_apl"]
    } else {
        &["v1", "datasets", "_apl"]
    };
    let mut url = endpoint(base_url, segments)?;
    url.query_pairs_mut().append_pair("format", "tabular");
    Ok(url)
}

fn ingest_url(base_url: &str, edge: bool, dataset: &str) -> Result<Url, AxiomError> {
    if dataset.is_empty() {
        return Err(AxiomError::Misconfigured(
            "the dataset name is empty".to_owned(),
        ));
    }
    if edge {
        endpoint(base_url, &["v1", "ingest", dataset])
    } else {
        endpoint(base_url, &["v1", "datasets", dataset, "ingest"])
    }
}

/// `base_url` plus these path segments, each percent-encoded (a `/` in a dataset name stays
/// inside its segment).
fn endpoint(base_url: &str, segments: &[&str]) -> Result<Url, AxiomError> {
    let mut url = Url::parse(base_url).map_err(|e| {
        AxiomError::Misconfigured(format!("base_url {base_url:?} is not a URL: {e}"))
    })?;
    url.path_segments_mut()
        .map_err(|()| AxiomError::Misconfigured(format!("base_url {base_url:?} cannot be a base")))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// `Bearer <token>`, marked sensitive so it is redacted from any debug output.
fn bearer(token: &str) -> Result<HeaderValue, AxiomError> {
    sensitive_header(&format!("Bearer {token}")).ok_or_else(|| {
        AxiomError::Misconfigured(
            "axiom_token contains characters not allowed in an HTTP header".to_owned(),
        )
    })
}

/// RFC 3339 in UTC, with as many fractional digits as the time has (split windows have some).
fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The narrowest window [`AxiomClient::query_complete`] may query; at least a nanosecond, so
/// halving always ends.
fn smallest_window(min_window: Duration) -> TimeDelta {
    TimeDelta::from_std(min_window)
        .unwrap_or(TimeDelta::MAX)
        .max(TimeDelta::nanoseconds(1))
}

/// Where to split `[from, to)`, unless its halves would be narrower than `floor`.
fn midpoint(from: DateTime<Utc>, to: DateTime<Utc>, floor: TimeDelta) -> Option<DateTime<Utc>> {
    let half = (to - from) / 2;
    (half >= floor).then(|| from + half)
}

/// [`verdict`], with the wait this answer asks for.
fn classify(response: &HttpResponse) -> Verdict {
    verdict(response, retry_wait(response, SystemTime::now()))
}

/// The shared rules (429, 5xx and 408 retried), waiting as Axiom says (a wait longer than the
/// policy allows ends the call in `send_with_retry`).
fn verdict(response: &HttpResponse, wait: Option<Duration>) -> Verdict {
    if response.status.as_u16() == LIMIT_EXCEEDED {
        // A monthly or plan budget: retrying within this invocation cannot succeed.
        return Verdict::Done;
    }
    match http::default_verdict(response) {
        Verdict::Retry(_) => Verdict::Retry(wait),
        Verdict::RateLimited(_) => Verdict::RateLimited(wait),
        Verdict::Done => Verdict::Done,
    }
}

/// `Retry-After`, else (on a 429) until `X-RateLimit-Reset`.
fn retry_wait(response: &HttpResponse, now: SystemTime) -> Option<Duration> {
    // Every answer carries the reset header; only on a 429 does it say when to come back.
    if response.status != StatusCode::TOO_MANY_REQUESTS {
        return http::retry_after(&response.headers);
    }
    http::retry_after_or_reset(response, RATE_LIMIT_RESET_HEADER, now)
}

/// The final answer's status as an error, unless it is a success.
fn check_status(operation: Operation, response: &HttpResponse) -> Result<(), AxiomError> {
    let status = response.status;
    if status.is_success() {
        return Ok(());
    }
    if status.as_u16() == LIMIT_EXCEEDED {
        return Err(operation.limit_error());
    }
    if http::is_credentials_refusal(status) {
        // Axiom's own text is left out: messages about credentials may quote them.
        return Err(AxiomError::Rejected {
            status: status.as_u16(),
            message: format!(
                "the token was refused (wrong, expired or rotated, or without `{}` on this dataset)",
                operation.permission()
            ),
        });
    }
    if status.is_client_error() {
        return Err(AxiomError::Rejected {
            status: status.as_u16(),
            message: error_message(response),
        });
    }
    Err(AxiomError::Unavailable(format!(
        "unexpected HTTP {}: {}",
        status.as_u16(),
        error_message(response)
    )))
}

/// Axiom's error bodies: `{code?, message}`.
#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
}

/// `message` when the body is an Axiom error, else the start of the body.
fn error_message(response: &HttpResponse) -> String {
    let message = serde_json::from_slice::<ErrorBody>(&response.body)
        .ok()
        .and_then(|e| e.message);
    response.error_text(message, EXCERPT_CHARS)
}

/// At most [`EXCERPT_CHARS`] characters of `text` on one line, marked when cut.
fn excerpt(text: &str) -> String {
    crate::text::one_line(text, EXCERPT_CHARS + 1)
}

fn trace_id(response: &HttpResponse) -> Option<String> {
    response.header(TRACE_ID_HEADER).map(str::to_owned)
}

/// The parts of `AplResult` (tabular) we read; the rest is ignored.
#[derive(Deserialize)]
struct TabularReply {
    status: QueryStatus,
    /// Absent when the answer is not in the tabular format.
    tables: Option<Vec<Table>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryStatus {
    #[serde(default)]
    is_partial: bool,
}

#[derive(Deserialize)]
struct Table {
    #[serde(default)]
    name: String,
    #[serde(default)]
    fields: Vec<FieldInfo>,
    /// Column-major: `columns[i][row]` is the value of `fields[i]`. May be left out when empty.
    #[serde(default)]
    columns: Option<Vec<Vec<Value>>>,
}

#[derive(Deserialize)]
struct FieldInfo {
    name: String,
}

/// The rows of the result table and whether the answer is partial.
fn parse_tabular(body: &[u8]) -> Result<(Vec<Row>, bool), AxiomError> {
    let reply: TabularReply = serde_json::from_slice(body)
        .map_err(|e| AxiomError::Malformed(format!("not an APL result: {e}")))?;
    let tables = reply.tables.ok_or_else(|| {
        AxiomError::Malformed("the APL result has no `tables` (not the tabular format)".to_owned())
    })?;
    let rows = match tables.into_iter().find(|t| t.name != TOTALS_TABLE) {
        Some(table) => rows_of(table)?,
        None => Vec::new(),
    };
    Ok((rows, reply.status.is_partial))
}

/// Rows from a column-major table: `row[j] = {fields[i].name: columns[i][j]}`.
fn rows_of(table: Table) -> Result<Vec<Row>, AxiomError> {
    let columns = table.columns.unwrap_or_default();
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    if columns.len() != table.fields.len() {
        return Err(AxiomError::Malformed(format!(
            "table has {} fields but {} columns",
            table.fields.len(),
            columns.len()
        )));
    }
    let height = columns[0].len();
    if let Some((field, column)) = table
        .fields
        .iter()
        .zip(&columns)
        .find(|(_, column)| column.len() != height)
    {
        return Err(AxiomError::Malformed(format!(
            "column `{}` has {} values, the first has {height}",
            field.name,
            column.len()
        )));
    }
    let names: Vec<String> = table.fields.into_iter().map(|f| f.name).collect();
    let mut cells: Vec<_> = columns.into_iter().map(Vec::into_iter).collect();
    let rows = (0..height)
        .map(|_| {
            names
                .iter()
                .zip(cells.iter_mut())
                .map(|(name, column)| (name.clone(), column.next().unwrap_or(Value::Null)))
                .collect()
        })
        .collect();
    Ok(rows)
}

/// `IngestStatus` as Axiom sends it.
#[derive(Deserialize)]
struct IngestReply {
    ingested: u64,
    failed: u64,
    #[serde(default)]
    failures: Option<Vec<IngestFailure>>,
}

#[derive(Deserialize)]
struct IngestFailure {
    #[serde(default)]
    error: String,
}

fn parse_ingest(body: &[u8]) -> Result<IngestStatus, AxiomError> {
    let reply: IngestReply = serde_json::from_slice(body)
        .map_err(|e| AxiomError::Malformed(format!("not an ingest status: {e}")))?;
    Ok(IngestStatus {
        ingested: reply.ingested,
        failed: reply.failed,
        failures: reply
            .failures
            .unwrap_or_default()
            .into_iter()
            .map(|f| excerpt(&f.error))
            .collect(),
    })
}

fn ingest_failed(status: IngestStatus) -> AxiomError {
    AxiomError::IngestFailed {
        failed: status.failed,
        ingested: status.ingested,
        first_error: status
            .failures
            .into_iter()
            .next()
            .unwrap_or_else(|| "Axiom gave no reason".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::test_support::{at, response};
    use crate::secrets::Credentials;
    use secrecy::SecretString;
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[test]
    fn each_error_has_the_kind_a_workflow_decides_by() {
        let wait = Some(Duration::from_secs(7));
        let permanent = [
            AxiomError::MissingToken,
            AxiomError::PersonalTokenNeedsOrg,
            AxiomError::PersonalTokenOnEdge,
            AxiomError::Misconfigured("url".to_owned()),
            AxiomError::QueryLimit,
            AxiomError::IngestLimit,
            AxiomError::Rejected {
                status: 403,
                message: "forbidden".to_owned(),
            },
        ];
        for error in permanent {
            assert_eq!(error.failure_kind(), FailureKind::Permanent, "{error}");
        }
        let transient = [
            AxiomError::Unavailable("503".to_owned()),
            AxiomError::Partial {
                start: DateTime::<Utc>::UNIX_EPOCH,
                end: DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::minutes(1),
            },
            AxiomError::IngestFailed {
                failed: 1,
                ingested: 0,
                first_error: "x".to_owned(),
            },
            AxiomError::Malformed("not JSON".to_owned()),
        ];
        for error in transient {
            assert_eq!(error.failure_kind(), FailureKind::Transient, "{error}");
        }
        assert_eq!(
            AxiomError::RateLimited { retry_after: wait }.failure_kind(),
            FailureKind::RateLimited(wait)
        );
    }

    fn client(base_url: &str, token: &str, org_id: Option<&str>) -> AxiomClient {
        let secrets = Arc::new(SecretStore::fixed(Credentials {
            axiom_token: Some(SecretString::from(token)),
            ..Credentials::default()
        }));
        let config = AxiomConfig {
            org_id: org_id.map(str::to_owned),
            ..AxiomConfig::new(base_url)
        };
        AxiomClient::new(http::build_client(Duration::from_secs(5)), secrets, config)
    }

    #[test]
    fn edge_is_decided_by_the_host_unless_configured() {
        assert!(is_edge_url("https://eu-central-1.aws.edge.axiom.co"));
        assert!(is_edge_url("https://US-EAST-1.AWS.EDGE.AXIOM.CO/"));
        assert!(!is_edge_url("https://api.axiom.co"));
        assert!(!is_edge_url("https://edge.axiom.co.example.com"));
        assert!(!is_edge_url("not a url"));
        let forced = AxiomClient::new(
            reqwest::Client::new(),
            Arc::new(SecretStore::fixed(Credentials::default())),
            AxiomConfig {
                edge: Some(true),
                ..AxiomConfig::new("http://127.0.0.1:1")
            },
        );
        assert!(forced.is_edge());
    }

    #[test]
    fn legacy_and_edge_hosts_get_their_own_paths_with_the_dataset_encoded() {
        let legacy = "https://api.axiom.co/";
        let edge = "https://eu-central-1.aws.edge.axiom.co";
        for (url, expected) in [
            (
                query_url(legacy, false),
                "https://api.axiom.co/v1/datasets/_apl?format=tabular",
            ),
            (
                ingest_url(legacy, false, "sec logs/1"),
                "https://api.axiom.co/v1/datasets/sec%20logs%2F1/ingest",
            ),
            (
                query_url(edge, true),
                "https://eu-central-1.aws.edge.axiom.co/v1/query/_apl?format=tabular",
            ),
            (
                ingest_url(edge, true, "sec-logs"),
                "https://eu-central-1.aws.edge.axiom.co/v1/ingest/sec-logs",
            ),
        ] {
            assert_eq!(url.unwrap().as_str(), expected);
        }
    }

    #[test]
    fn column_major_tables_become_rows_with_nulls_kept() {
        let body = r#"{"format":"tabular","status":{"isPartial":false},"tables":[{"name":"0",
            "fields":[{"name":"_time","type":"datetime"},{"name":"user","type":"string"},{"name":"n","type":"integer"}],
            "columns":[["t1","t2"],["ann",null],[1,2]]}]}"#;
        let (rows, partial) = parse_tabular(body.as_bytes()).unwrap();
        assert!(!partial);
        assert_eq!(
            Value::Array(rows.into_iter().map(Value::Object).collect()),
            json!([
                {"_time": "t1", "user": "ann", "n": 1},
                {"_time": "t2", "user": null, "n": 2},
            ])
        );
    }

    #[test]
    fn the_totals_table_is_not_taken_for_the_rows() {
        let body = r#"{"status":{"isPartial":true},"tables":[
            {"name":"_totals","fields":[{"name":"count"}],"columns":[[9]]},
            {"name":"0","fields":[{"name":"a"}],"columns":[[1]]}]}"#;
        let (rows, partial) = parse_tabular(body.as_bytes()).unwrap();
        assert!(partial);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["a"], json!(1));
    }

    #[test]
    fn ragged_or_non_tabular_results_are_malformed() {
        let ragged = r#"{"status":{},"tables":[{"name":"0","fields":[{"name":"a"},{"name":"b"}],"columns":[[1,2],[3]]}]}"#;
        assert!(matches!(
            parse_tabular(ragged.as_bytes()),
            Err(AxiomError::Malformed(m)) if m.contains("`b`")
        ));
        let legacy = r#"{"status":{},"matches":[]}"#;
        assert!(matches!(
            parse_tabular(legacy.as_bytes()),
            Err(AxiomError::Malformed(_))
        ));
        let empty = r#"{"status":{},"tables":[{"name":"0","fields":[{"name":"a"}],"columns":[]}]}"#;
        assert_eq!(
            parse_tabular(empty.as_bytes()).unwrap().0,
            Vec::<Row>::new()
        );
    }

    #[test]
    fn retry_after_wins_and_the_reset_header_counts_only_on_a_429() {
        let now = at(1_000_000);
        let both = response(
            429,
            &[("retry-after", "2"), ("x-ratelimit-reset", "1000030")],
            "",
        );
        assert_eq!(retry_wait(&both, now), Some(Duration::from_secs(2)));
        let reset = response(429, &[("x-ratelimit-reset", "1000030")], "");
        assert_eq!(retry_wait(&reset, now), Some(Duration::from_secs(30)));
        let outage = response(503, &[("x-ratelimit-reset", "1000030")], "");
        assert_eq!(retry_wait(&outage, now), None);
        let past = response(429, &[("x-ratelimit-reset", "999990")], "");
        assert_eq!(retry_wait(&past, now), None);
    }

    #[test]
    fn limit_exceeded_is_final_and_announced_waits_are_passed_on_whole() {
        assert_eq!(verdict(&response(430, &[], ""), None), Verdict::Done);
        // Never shortened here: send_with_retry refuses a wait longer than the policy allows.
        assert_eq!(
            verdict(&response(429, &[], ""), Some(Duration::from_secs(60))),
            Verdict::RateLimited(Some(Duration::from_secs(60)))
        );
        assert_eq!(verdict(&response(502, &[], ""), None), Verdict::Retry(None));
        assert_eq!(verdict(&response(400, &[], ""), None), Verdict::Done);
    }

    #[test]
    fn windows_halve_until_the_halves_would_be_too_narrow() {
        let from = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let to = from + TimeDelta::hours(2);
        let floor = smallest_window(Duration::from_secs(3600));
        assert_eq!(midpoint(from, to, floor), Some(from + TimeDelta::hours(1)));
        assert_eq!(midpoint(from, from + TimeDelta::minutes(119), floor), None);
        let tiny = smallest_window(Duration::ZERO);
        assert_eq!(midpoint(from, from + TimeDelta::nanoseconds(1), tiny), None);
    }

    #[test]
    fn split_windows_keep_their_fractional_seconds() {
        let t = DateTime::parse_from_rfc3339("2026-01-01T00:00:00.5Z")
            .unwrap()
            .to_utc();
        assert_eq!(rfc3339(t), "2026-01-01T00:00:00.500Z");
    }

    #[tokio::test]
    async fn personal_tokens_need_an_org_and_are_refused_on_edge_before_any_request() {
        let legacy = client("https://api.axiom.co", "xapt-secret", None);
        let edge = client(
            "https://eu-central-1.aws.edge.axiom.co",
            "xapt-secret",
            Some("org"),
        );
        let t = Utc::now();
        assert!(matches!(
            legacy.query("['x']", t, t).await,
            Err(AxiomError::PersonalTokenNeedsOrg)
        ));
        assert!(matches!(
            edge.ingest("x", &[json!({})]).await,
            Err(AxiomError::PersonalTokenOnEdge)
        ));
    }

    #[test]
    fn the_authorization_header_is_sensitive() {
        let value = bearer("xaat-abc").unwrap();
        assert!(value.is_sensitive());
        assert_eq!(value.to_str().unwrap(), "Bearer xaat-abc");
        let err = bearer("xaat-bad\ntoken").unwrap_err();
        assert!(!err.to_string().contains("xaat-bad"), "{err}");
    }

    /// The real edge host name, resolved to a local server: the host alone picks the paths.
    #[tokio::test]
    async fn an_edge_host_is_sent_the_edge_paths() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/query/_apl"))
            .and(query_param("format", "tabular"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "format": "tabular", "status": {"isPartial": false},
                "tables": [{"name": "0", "fields": [{"name": "a"}], "columns": [[1]]}],
            })))
            .expect(1)
            .mount(&server)
            .await;
        let host = "eu-central-1.aws.edge.axiom.co";
        let http = reqwest::Client::builder()
            .resolve(host, *server.address())
            .build()
            .unwrap();
        let secrets = Arc::new(SecretStore::fixed(Credentials {
            axiom_token: Some(SecretString::from("xaat-token")),
            ..Credentials::default()
        }));
        let base = format!("http://{host}:{}", server.address().port());
        let axiom = AxiomClient::new(http, secrets, AxiomConfig::new(base));
        assert!(axiom.is_edge());
        let t = Utc::now();
        let result = axiom
            .query("['x']", t - TimeDelta::hours(1), t)
            .await
            .unwrap();
        assert_eq!(result.rows.len(), 1);
    }
}
