//! EventBridge publisher: how one function hands work to another through the project's bus.
//!
//! Workflows depend on [`EventPublisher`] only. In AWS that is [`EventBridgePublisher`]
//! (`PutEvents`); local runs and tests use [`InMemoryPublisher`] and hand the events over
//! in-process.
//!
//! From the contract in `docs/contracts/aws.md` (EventBridge `PutEvents`):
//! - At most [`MAX_ENTRIES_PER_CALL`] entries per call, and every request is kept within
//!   [`MAX_REQUEST_BYTES`] as EventBridge counts it (see [`BusEvent::size`]). AWS words the limit
//!   both per entry and per request, so the stricter reading is applied; an event that is too
//!   large on its own is refused before anything is sent.
//! - An HTTP success does not mean every entry landed: the entries the response marks as
//!   failed (matched by position) are resent on their own, with backoff.
//! - A throttled call, a 5xx, a timeout or a connection failure is retried as a whole; any
//!   other call-level error is final.
//! - Retries follow the shared [`RetryPolicy`] (exponential backoff, full jitter) and never wait
//!   past the invocation's deadline. The SDK's own retries are switched off for these calls, so
//!   the policy is the only one.
//! - `PutEvents` is not idempotent: a call that timed out may have landed, and after an error
//!   the caller may resend everything. Consumers dedupe on an id inside `detail`.
//!
//! Event contents are never logged; errors carry the SDK's error code and message, never
//! credentials.

use std::future::Future;
use std::ops::Range;
use std::sync::Mutex;

use aws_sdk_eventbridge::config::retry::RetryConfig;
use aws_sdk_eventbridge::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::operation::put_events::{PutEventsError, PutEventsOutput};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde::{Deserialize, Serialize};

use crate::http::{self, RetryPolicy};

/// The most entries one `PutEvents` call accepts.
pub const MAX_ENTRIES_PER_CALL: usize = 10;

/// The most bytes (as EventBridge counts them) one request may carry.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// What `Time` counts for in an entry's size (counted whether or not it is set).
const TIME_BYTES: usize = 14;

/// Error codes that mean "slow down" (the SDK's own list of throttling codes, trimmed to those a
/// `PutEvents` call can answer with) or a transient service-side failure.
const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalException",
    "InternalFailure",
    "ServiceUnavailable",
];

/// One event for the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusEvent {
    /// Who sent it, e.g. `secops.review`; rules match on it.
    pub source: String,
    /// What happened, e.g. `ReviewDecided`; rules match on it.
    pub detail_type: String,
    /// The payload. EventBridge wants a JSON object; include an id consumers can dedupe on.
    pub detail: serde_json::Value,
}

impl BusEvent {
    pub fn new(
        source: impl Into<String>,
        detail_type: impl Into<String>,
        detail: serde_json::Value,
    ) -> Self {
        Self {
            source: source.into(),
            detail_type: detail_type.into(),
            detail,
        }
    }

    /// The entry size EventBridge counts: 14 bytes for `Time` plus the UTF-8 bytes of `Source`,
    /// `DetailType` and `Detail` (as compact JSON). No `Resources` are sent.
    pub fn size(&self) -> usize {
        entry_size(&self.source, &self.detail_type, &self.detail.to_string())
    }
}

fn entry_size(source: &str, detail_type: &str, detail_json: &str) -> usize {
    TIME_BYTES + source.len() + detail_type.len() + detail_json.len()
}

/// Where to publish and how patiently.
#[derive(Debug, Clone)]
pub struct EventBusConfig {
    /// The bus name or ARN.
    pub bus_name: String,
    pub retry: RetryPolicy,
}

impl EventBusConfig {
    /// `bus_name` with the default retry policy.
    pub fn new(bus_name: impl Into<String>) -> Self {
        Self {
            bus_name: bus_name.into(),
            retry: RetryPolicy::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Event `index` of the batch is larger than one request may be; nothing was sent.
    #[error(
        "event {index} is {bytes} bytes as EventBridge counts it, over the {max} byte limit: nothing was sent",
        max = MAX_REQUEST_BYTES
    )]
    TooLarge { index: usize, bytes: usize },
    /// Entries EventBridge still refused after every retry allowed (or when the deadline stopped
    /// the retries; entries not sent by then are counted too). The others were delivered.
    #[error(
        "{failed} event(s) were not delivered to the event bus (first: {first_code}: {first_message})"
    )]
    Failed {
        failed: usize,
        first_code: String,
        first_message: String,
    },
    /// A call failed as a whole and retrying did not or could not help. Events before it may
    /// have been delivered.
    #[error("the event bus is unavailable: {0}")]
    Unavailable(String),
}

/// The seam the workflows publish through, so local runs can hand work over in-process.
pub trait EventPublisher: Send + Sync {
    /// Deliver every event, or say what was not delivered.
    fn publish(&self, events: &[BusEvent]) -> impl Future<Output = Result<(), BusError>> + Send;
}

/// Publishes with `PutEvents`.
pub struct EventBridgePublisher {
    client: aws_sdk_eventbridge::Client,
    config: EventBusConfig,
}

impl EventBridgePublisher {
    /// Publish with `client` (its retry settings are overridden per call: see the module docs).
    pub fn new(client: aws_sdk_eventbridge::Client, config: EventBusConfig) -> Self {
        Self { client, config }
    }

    /// Build from the default AWS config: region and credentials from the environment, and
    /// `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_EVENTBRIDGE`) honoured by the SDK.
    pub async fn from_env(config: EventBusConfig) -> Self {
        let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .retry_config(RetryConfig::disabled())
            .load()
            .await;
        Self::new(aws_sdk_eventbridge::Client::new(&sdk_config), config)
    }

    /// One `PutEvents` call with the SDK's retries off, abandoned at the invocation deadline.
    async fn call(&self, entries: Vec<PutEventsRequestEntry>) -> Result<PutEventsOutput, Fault> {
        let send = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .customize()
            .config_override(
                aws_sdk_eventbridge::Config::builder().retry_config(RetryConfig::disabled()),
            )
            .send();
        let result = match http::time_left() {
            Some(left) => tokio::time::timeout(left, send)
                .await
                .map_err(|_| Fault::AtDeadline)?,
            None => send.await,
        };
        result.map_err(|e| classify(&e))
    }

    /// Send one batch until every entry is delivered, the attempts run out or the deadline
    /// would be passed.
    async fn send_batch(
        &self,
        batch: &[PutEventsRequestEntry],
        tally: &mut Tally,
    ) -> Result<BatchEnd, BusError> {
        let policy = self.config.retry;
        // Indexes into `batch` of the entries not delivered yet.
        let mut pending: Vec<usize> = (0..batch.len()).collect();
        let mut attempt = 0;
        loop {
            attempt += 1;
            tally.calls += 1;
            if attempt > 1 {
                tally.resent += pending.len();
            }
            let entries = pending.iter().map(|&i| batch[i].clone()).collect();
            let (refused, last) = match self.call(entries).await {
                Ok(output) => {
                    let refused = refused_entries(&output, pending.len());
                    tracing::debug!(
                        attempt,
                        sent = pending.len(),
                        refused = refused.len(),
                        "eventbridge put_events answered"
                    );
                    if refused.is_empty() {
                        return Ok(BatchEnd::Delivered);
                    }
                    pending = refused.iter().map(|r| pending[r.position]).collect();
                    if attempt >= policy.max_attempts {
                        return Ok(BatchEnd::Refused(refused));
                    }
                    let last = format!("{} entries refused", refused.len());
                    (Some(refused), last)
                }
                Err(Fault::Retryable(reason)) => {
                    if attempt >= policy.max_attempts {
                        return Err(BusError::Unavailable(format!(
                            "PutEvents still failing after {attempt} attempt(s): {reason}"
                        )));
                    }
                    (None, reason)
                }
                Err(Fault::Final(reason)) => {
                    return Err(BusError::Unavailable(format!("PutEvents failed: {reason}")));
                }
                Err(Fault::AtDeadline) => {
                    return Err(BusError::Unavailable(
                        "PutEvents was still running at the invocation deadline (it may have landed)"
                            .to_owned(),
                    ));
                }
            };
            let wait = policy.backoff(attempt - 1);
            if let Some(left) = http::time_left()
                && wait + http::NEXT_ATTEMPT_ROOM >= left
            {
                return match refused {
                    Some(refused) => Ok(BatchEnd::RefusedAtDeadline(refused)),
                    None => Err(BusError::Unavailable(format!(
                        "stopped retrying PutEvents to stay within the invocation deadline \
                         ({attempt} attempt(s); last: {last})"
                    ))),
                };
            }
            tracing::debug!(
                attempt,
                retrying = pending.len(),
                wait_ms = wait.as_millis() as u64,
                %last,
                "retrying eventbridge put_events"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

impl EventPublisher for EventBridgePublisher {
    #[tracing::instrument(skip_all, fields(bus = %self.config.bus_name, events = events.len()))]
    async fn publish(&self, events: &[BusEvent]) -> Result<(), BusError> {
        let prepared = prepare(events, &self.config.bus_name)?;
        let sizes: Vec<usize> = prepared.iter().map(|(_, size)| *size).collect();
        let entries: Vec<PutEventsRequestEntry> =
            prepared.into_iter().map(|(entry, _)| entry).collect();
        let batches = batches(&sizes);

        let mut tally = Tally::default();
        let mut refused: Vec<Refusal> = Vec::new();
        for (n, range) in batches.iter().enumerate() {
            match self.send_batch(&entries[range.clone()], &mut tally).await? {
                BatchEnd::Delivered => {}
                BatchEnd::Refused(r) => refused.extend(r),
                BatchEnd::RefusedAtDeadline(r) => {
                    // No time for the batches after this one either: count them as not sent.
                    let unsent: usize = batches[n + 1..].iter().map(Range::len).sum();
                    return Err(failed(r.len() + refused.len() + unsent, refused, r));
                }
            }
        }
        tracing::debug!(
            sent = entries.len(),
            calls = tally.calls,
            retried = tally.resent,
            refused = refused.len(),
            "published to the event bus"
        );
        if refused.is_empty() {
            Ok(())
        } else {
            Err(failed(refused.len(), refused, Vec::new()))
        }
    }
}

/// Collects events in memory: local runs hand them to the worker in-process; tests inspect
/// them. Events too large for EventBridge are refused here as well, so local runs fail the same
/// way.
#[derive(Debug, Default)]
pub struct InMemoryPublisher {
    events: Mutex<Vec<BusEvent>>,
}

impl InMemoryPublisher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every event published since the last `take`, in order.
    pub fn take(&self) -> Vec<BusEvent> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<BusEvent>> {
        // A panic elsewhere while holding the lock leaves the list itself intact.
        self.events.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl EventPublisher for InMemoryPublisher {
    async fn publish(&self, events: &[BusEvent]) -> Result<(), BusError> {
        for (index, event) in events.iter().enumerate() {
            let bytes = event.size();
            if bytes > MAX_REQUEST_BYTES {
                return Err(BusError::TooLarge { index, bytes });
            }
        }
        self.lock().extend_from_slice(events);
        Ok(())
    }
}

/// Calls made and entries resent, for the log line.
#[derive(Default)]
struct Tally {
    calls: usize,
    resent: usize,
}

/// How a batch ended when no call-level error stopped it.
enum BatchEnd {
    Delivered,
    /// Still refused when the attempts ran out.
    Refused(Vec<Refusal>),
    /// Still refused when the next wait would have passed the deadline.
    RefusedAtDeadline(Vec<Refusal>),
}

/// An entry the response marked as failed.
struct Refusal {
    /// Its position in the request that was sent.
    position: usize,
    code: String,
    message: String,
}

/// Why a call failed as a whole.
enum Fault {
    /// Throttling, 5xx, a timeout or a connection failure: worth another try.
    Retryable(String),
    Final(String),
    /// The call was abandoned at the invocation deadline.
    AtDeadline,
}

/// The SDK entries with their sizes, or the first event too large to send at all.
fn prepare(
    events: &[BusEvent],
    bus_name: &str,
) -> Result<Vec<(PutEventsRequestEntry, usize)>, BusError> {
    events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            let detail = event.detail.to_string();
            let bytes = entry_size(&event.source, &event.detail_type, &detail);
            if bytes > MAX_REQUEST_BYTES {
                return Err(BusError::TooLarge { index, bytes });
            }
            let entry = PutEventsRequestEntry::builder()
                .source(&event.source)
                .detail_type(&event.detail_type)
                .detail(detail)
                .event_bus_name(bus_name)
                .build();
            Ok((entry, bytes))
        })
        .collect()
}

/// Consecutive ranges of at most [`MAX_ENTRIES_PER_CALL`] entries and [`MAX_REQUEST_BYTES`]
/// bytes each, in order. Every size must already be within the byte limit.
fn batches(sizes: &[usize]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, &size) in sizes.iter().enumerate() {
        if i > start && (i - start == MAX_ENTRIES_PER_CALL || bytes + size > MAX_REQUEST_BYTES) {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

/// The entries the response marks as failed, by position in the request.
fn refused_entries(output: &PutEventsOutput, sent: usize) -> Vec<Refusal> {
    if output.failed_entry_count() == 0 {
        return Vec::new();
    }
    let results = output.entries();
    (0..sent)
        .filter_map(|position| match results.get(position) {
            Some(r) if r.error_code().is_none() && r.event_id().is_some() => None,
            Some(r) => Some(Refusal {
                position,
                code: r.error_code().unwrap_or("Unknown").to_owned(),
                message: r.error_message().unwrap_or("").to_owned(),
            }),
            // A response shorter than the request: the missing ones cannot be known delivered.
            None => Some(Refusal {
                position,
                code: "Unknown".to_owned(),
                message: "no result for this entry in the response".to_owned(),
            }),
        })
        .collect()
}

fn failed(count: usize, earlier: Vec<Refusal>, later: Vec<Refusal>) -> BusError {
    let first = earlier.into_iter().chain(later).next();
    let (first_code, first_message) = first
        .map(|r| (r.code, r.message))
        .unwrap_or_else(|| ("Unknown".to_owned(), String::new()));
    BusError::Failed {
        failed: count,
        first_code,
        first_message,
    }
}

/// Sort a call-level error into retry-worthy or final, keeping the SDK's code and message.
fn classify(error: &SdkError<PutEventsError>) -> Fault {
    match error {
        SdkError::TimeoutError(_) => Fault::Retryable("the call timed out".to_owned()),
        SdkError::DispatchFailure(failure) if !failure.is_user() => {
            Fault::Retryable(DisplayErrorContext(error).to_string())
        }
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => {
            let status = error.raw_response().map(|r| r.status().as_u16());
            let code = error.code();
            let reason = match (code, status) {
                (Some(code), Some(status)) => format!(
                    "{code} (HTTP {status}): {}",
                    error.message().unwrap_or("no message")
                ),
                (Some(code), None) => {
                    format!("{code}: {}", error.message().unwrap_or("no message"))
                }
                (None, _) => DisplayErrorContext(error).to_string(),
            };
            let retryable = code.is_some_and(|c| RETRYABLE_CODES.contains(&c))
                || status.is_some_and(|s| s == 429 || s >= 500);
            if retryable {
                Fault::Retryable(reason)
            } else {
                Fault::Final(reason)
            }
        }
        _ => Fault::Final(DisplayErrorContext(error).to_string()),
    }
}

/// Where events are handed over: the project's EventBridge bus in AWS, or memory in a local run
/// (which then does the receiving work itself).
pub enum Bus {
    EventBridge(EventBridgePublisher),
    InProcess(InMemoryPublisher),
}

impl Bus {
    /// EventBridge in Lambda; in memory for a local run, which hands events over itself.
    pub async fn start(
        mode: crate::runtime::Mode,
        bus_name: &str,
        retry: crate::http::RetryPolicy,
    ) -> Self {
        if mode != crate::runtime::Mode::Lambda {
            Bus::InProcess(InMemoryPublisher::new())
        } else {
            Bus::EventBridge(
                EventBridgePublisher::from_env(EventBusConfig {
                    bus_name: bus_name.to_owned(),
                    retry,
                })
                .await,
            )
        }
    }
}

impl EventPublisher for Bus {
    async fn publish(&self, events: &[BusEvent]) -> Result<(), BusError> {
        match self {
            Bus::EventBridge(p) => p.publish(events).await,
            Bus::InProcess(p) => p.publish(events).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_at_most_ten_entries() {
        assert_eq!(batches(&[1; 23]), vec![0..10, 10..20, 20..23]);
        assert_eq!(batches(&[1; 10]), vec![0..10]);
        assert!(batches(&[]).is_empty());
    }

    #[test]
    fn batches_stay_within_the_byte_limit() {
        let big = 100 * 1024;
        assert_eq!(batches(&[big, big, big]), vec![0..2, 2..3]);
        assert_eq!(
            batches(&[MAX_REQUEST_BYTES, 1, MAX_REQUEST_BYTES - 1]),
            vec![0..1, 1..3]
        );
    }

    #[test]
    fn the_size_counts_time_and_the_utf8_bytes_of_each_field() {
        let event = BusEvent::new("sé", "T", serde_json::json!({"a": 1}));
        // 14 (Time) + 3 ("sé") + 1 ("T") + 7 (`{"a":1}`).
        assert_eq!(event.size(), 25);
    }
}
