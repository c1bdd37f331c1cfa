//! Outbound HTTP: one `reqwest` client (rustls, timeouts) and one retry policy for every
//! connector. 429, 5xx, 408 and transport timeouts are retried with exponential backoff and full
//! jitter. `Retry-After` is a floor, never shortened: a request is never sent before the server
//! said it may be. A wait longer than the policy's `max_delay`, or one that would end past the
//! invocation's deadline, is not started: the call fails as [`HttpError::RateLimited`] or
//! [`HttpError::Deadline`] and the caller leaves its work pending. No attempt runs past the
//! deadline minus [`DEADLINE_ALLOWANCE`], so the function answers before Lambda stops it.
//! Other 4xx are returned at once.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};

tokio::task_local! {
    /// When the current invocation must be done (Lambda's deadline minus a safety margin).
    /// Set around a workflow run with [`with_deadline`]; absent means no deadline (local runs).
    static DEADLINE: Instant;
}

/// Run `fut` with a deadline every HTTP call inside it respects.
pub async fn with_deadline<F: Future>(deadline: Option<Instant>, fut: F) -> F::Output {
    match deadline {
        Some(d) => DEADLINE.scope(d, fut).await,
        None => fut.await,
    }
}

/// The current invocation's deadline, if any.
pub fn current_deadline() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

/// Time left before the deadline (`None` when there is none).
pub fn time_left() -> Option<Duration> {
    current_deadline().map(|d| d.saturating_duration_since(Instant::now()))
}

/// Whether a workflow should start no more work: no more than `margin` is left before this
/// invocation's deadline (never, without one). The one rule every workflow stops by.
pub fn out_of_time(margin: Duration) -> bool {
    time_left().is_some_and(|left| left <= margin)
}

/// Kept free at the end of every invocation: an attempt still running this close to the
/// deadline is abandoned, so the workflow can record what is pending and answer in time.
pub const DEADLINE_ALLOWANCE: Duration = Duration::from_millis(250);

/// Room left for the next attempt itself when deciding whether a wait before it still fits the
/// deadline.
pub const NEXT_ATTEMPT_ROOM: Duration = Duration::from_secs(1);

/// How long an attempt may run: the time left minus [`DEADLINE_ALLOWANCE`].
fn attempt_budget() -> Option<Duration> {
    time_left().map(|left| left.saturating_sub(DEADLINE_ALLOWANCE))
}

/// Build the one HTTP client a process uses. Redirects are followed only within the same
/// origin (scheme, host and port), at most 5: every request of ours carries a credential, and
/// reqwest strips only its standard credential headers on a cross-host redirect (not
/// `PRIVATE-TOKEN`, nor our webhook signature). A cross-origin redirect is returned as the
/// final (3xx) answer, which the connectors report as an error.
pub fn build_client(request_timeout: Duration) -> reqwest::Client {
    let same_origin_only = reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .last()
            .is_some_and(|previous| previous.origin() == attempt.url().origin());
        if same_origin && attempt.previous().len() <= 5 {
            attempt.follow()
        } else {
            attempt.stop()
        }
    });
    reqwest::Client::builder()
        .redirect(same_origin_only)
        .timeout(request_timeout)
        .connect_timeout(Duration::from_secs(5).min(request_timeout))
        .user_agent(concat!("secops-workflows/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client configuration is static and valid")
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    /// The longest backoff, and the longest server-requested wait (`Retry-After`) a call
    /// accepts: a longer one ends the call as [`HttpError::RateLimited`].
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: uniform in [0, min(cap, base * 2^retry)].
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.max_delay);
        exp.mul_f64(fastrand::f64())
    }
}

/// A response read in full.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl HttpResponse {
    /// The start of the body, for error messages.
    pub fn excerpt(&self) -> String {
        self.error_text(None, 300)
    }

    /// For an error message: the service's own `message` when its error body held one, else the
    /// start of the body; on one line, cut past `max_chars` characters with a `…`. Upstream
    /// error bodies carry no credentials we sent: these APIs never echo them.
    pub fn error_text(&self, message: Option<String>, max_chars: usize) -> String {
        let text = message.unwrap_or_else(|| String::from_utf8_lossy(&self.body).into_owned());
        crate::text::one_line(&text, max_chars + 1)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What to do with a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Hand it to the connector.
    Done,
    /// Try again, after this long if the service said.
    Retry(Option<Duration>),
    /// A rate limit: try again after the service's wait (a floor, never shortened). If the
    /// retries or the deadline run out on it, the call ends as rate limited, not as an outage
    /// ([`HttpError::rate_limit_wait`]).
    RateLimited(Option<Duration>),
}

/// The default classification: 408, 429 and 5xx are retried, honouring `Retry-After`; a 429
/// is a rate limit.
pub fn default_verdict(response: &HttpResponse) -> Verdict {
    let s = response.status;
    if s == StatusCode::TOO_MANY_REQUESTS {
        Verdict::RateLimited(retry_after(&response.headers))
    } else if s == StatusCode::REQUEST_TIMEOUT || s.is_server_error() {
        Verdict::Retry(retry_after(&response.headers))
    } else {
        Verdict::Done
    }
}

/// [`default_verdict`], unless the connector found a rate limit in the answer (`Some`, with the
/// service's wait when it named one): a 429 whose wait a service gives in its own header, or a
/// "slow down" inside a 200.
pub fn verdict_with(response: &HttpResponse, rate_limit: Option<Option<Duration>>) -> Verdict {
    match rate_limit {
        Some(wait) => Verdict::RateLimited(wait),
        None => default_verdict(response),
    }
}

/// Whether a status says the credentials were refused (401, 403): the caller re-reads the
/// secret once (`connectors::credentials`).
pub fn is_credentials_refusal(status: StatusCode) -> bool {
    status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN
}

/// ` (Axiom asked to wait 30 s)` for an error message, or nothing when the service named no wait.
pub fn wait_hint(service: &str, retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(wait) => format!(" ({service} asked to wait {} s)", wait.as_secs_f64().ceil()),
        None => String::new(),
    }
}

/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        // `try_`: a hostile or broken server's `1e20` must not panic the caller.
        return Duration::try_from_secs_f64(secs).ok();
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (when.to_utc() - chrono::Utc::now()).to_std().ok()
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{service}: request failed after {attempts} attempt(s): {source}")]
    Transport {
        service: &'static str,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },
    #[error(
        "{service}: still failing after {attempts} attempt(s) (last: HTTP {status}: {excerpt})"
    )]
    Exhausted {
        service: &'static str,
        attempts: u32,
        status: StatusCode,
        excerpt: String,
        /// `Some(wait)` when the last answer was a rate limit (`wait` if the service named one).
        rate_limited: Option<Option<Duration>>,
    },
    #[error(
        "{service}: stopped retrying to stay within the invocation deadline ({attempts} attempt(s); last: {last})"
    )]
    Deadline {
        service: &'static str,
        attempts: u32,
        last: String,
        /// `Some(wait)` when the last answer was a rate limit.
        rate_limited: Option<Option<Duration>>,
    },
    /// The server asked for a wait longer than the policy accepts (`max_delay`).
    #[error(
        "{service}: rate limited (HTTP {status}); asked to wait {}s, longer than the {}s this call may wait",
        .wait.as_secs_f64().ceil(), .limit.as_secs_f64().ceil()
    )]
    RateLimited {
        service: &'static str,
        attempts: u32,
        status: StatusCode,
        /// The wait the server asked for.
        wait: Duration,
        limit: Duration,
    },
}

impl HttpError {
    /// The message with its causes: reqwest's own message ("error sending request") hides the
    /// useful part ("connection refused", a DNS failure) in its source.
    pub fn with_causes(&self) -> String {
        use std::error::Error as _;
        let mut message = self.to_string();
        // The first source is already part of the message.
        let mut cause = self.source().and_then(|s| s.source());
        while let Some(c) = cause {
            message.push_str(": ");
            message.push_str(&c.to_string());
            cause = c.source();
        }
        message
    }

    /// The last status seen, if a response came back at all.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            HttpError::Exhausted { status, .. } | HttpError::RateLimited { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// `Some(wait)` when the call ended on a rate limit: the server's over-long wait, or, when
    /// retries or the deadline ran out, whether the last answer was a rate limit (and the wait
    /// it named). `None` for any other failure.
    pub fn rate_limit_wait(&self) -> Option<Option<Duration>> {
        match self {
            HttpError::RateLimited { wait, .. } => Some(Some(*wait)),
            HttpError::Exhausted { rate_limited, .. }
            | HttpError::Deadline { rate_limited, .. } => *rate_limited,
            HttpError::Transport { .. } => None,
        }
    }
}

/// Send a request built by `make` (called once per attempt), retrying as `classify` says.
pub async fn send_with_retry(
    service: &'static str,
    policy: RetryPolicy,
    make: impl Fn() -> RequestBuilder,
    classify: impl Fn(&HttpResponse) -> Verdict,
) -> Result<HttpResponse, HttpError> {
    let read_nothing = |_: &HttpResponse| ();
    let (response, ()) =
        send_and_read(service, policy, make, read_nothing, |r, ()| classify(r)).await?;
    Ok(response)
}

/// [`send_with_retry`] for a connector that decodes its answers: `read` decodes each answer's
/// body once, `classify` decides on what it decoded, and the last answer comes back with it, so
/// no body is parsed twice.
pub async fn send_and_read<D>(
    service: &'static str,
    policy: RetryPolicy,
    make: impl Fn() -> RequestBuilder,
    read: impl Fn(&HttpResponse) -> D,
    classify: impl Fn(&HttpResponse, &D) -> Verdict,
) -> Result<(HttpResponse, D), HttpError> {
    // The call ends here, out of time, after `attempts` with `last` the latest outcome.
    let out_of_time = |attempts, last: &str, rate_limited| HttpError::Deadline {
        service,
        attempts,
        last: last.to_owned(),
        rate_limited,
    };
    let mut attempt = 0;
    // Whether the latest answer was a rate limit, and the wait it named.
    let mut rate_limited: Option<Option<Duration>> = None;
    loop {
        attempt += 1;
        let outcome = match attempt_budget() {
            Some(budget) if budget.is_zero() => {
                let last = "no time was left for a request";
                return Err(out_of_time(attempt - 1, last, rate_limited));
            }
            Some(budget) => tokio::time::timeout(budget, send_once(make()))
                .await
                .map_err(|_| {
                    let last = "the request was still running at the deadline";
                    out_of_time(attempt, last, None)
                })?,
            None => send_once(make()).await,
        };
        let (wait, last) = match outcome {
            Ok(response) => {
                let decoded = read(&response);
                match classify(&response, &decoded) {
                    Verdict::Done => return Ok((response, decoded)),
                    verdict @ (Verdict::Retry(hint) | Verdict::RateLimited(hint)) => {
                        rate_limited = matches!(verdict, Verdict::RateLimited(_)).then_some(hint);
                        if attempt >= policy.max_attempts {
                            return Err(HttpError::Exhausted {
                                service,
                                attempts: attempt,
                                status: response.status,
                                excerpt: response.excerpt(),
                                rate_limited,
                            });
                        }
                        let wait = match hint {
                            // The server's word is a floor: never shortened, never capped.
                            Some(wait) if wait > policy.max_delay => {
                                return Err(HttpError::RateLimited {
                                    service,
                                    attempts: attempt,
                                    status: response.status,
                                    wait,
                                    limit: policy.max_delay,
                                });
                            }
                            Some(wait) => wait,
                            None => policy.backoff(attempt - 1),
                        };
                        (wait, format!("HTTP {}", response.status))
                    }
                }
            }
            // URLs are left out of errors and logs: some (Slack's response_url) are credentials.
            Err(e) if is_transient(&e) && attempt < policy.max_attempts => {
                rate_limited = None;
                (policy.backoff(attempt - 1), e.without_url().to_string())
            }
            Err(source) => {
                return Err(HttpError::Transport {
                    service,
                    attempts: attempt,
                    source: source.without_url(),
                });
            }
        };
        if attempt_budget().is_some_and(|budget| wait + NEXT_ATTEMPT_ROOM >= budget) {
            return Err(out_of_time(attempt, &last, rate_limited));
        }
        tracing::debug!(service, attempt, wait_ms = wait.as_millis() as u64, %last, "retrying");
        tokio::time::sleep(wait).await;
    }
}

async fn send_once(request: RequestBuilder) -> Result<HttpResponse, reqwest::Error> {
    let response = request.send().await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?;
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn is_transient(e: &reqwest::Error) -> bool {
    e.is_timeout() || e.is_connect() || e.is_request() || e.is_body()
}

/// `Retry-After`, else the wait until the unix time (seconds) in the `reset` header, as GitLab's
/// `RateLimit-Reset` and Axiom's `X-RateLimit-Reset` give it; `None` when neither says, or the
/// reset has passed.
pub fn retry_after_or_reset(
    response: &HttpResponse,
    reset: &str,
    now: SystemTime,
) -> Option<Duration> {
    if let Some(wait) = retry_after(&response.headers) {
        return Some(wait);
    }
    let reset: u64 = response.header(reset)?.trim().parse().ok()?;
    UNIX_EPOCH
        .checked_add(Duration::from_secs(reset))?
        .duration_since(now)
        .ok()
}

/// Canned answers for the connectors' unit tests, which read responses without a server.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub(crate) fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    /// An answer as [`send_with_retry`] would hand it over.
    pub(crate) fn response(
        status: u16,
        pairs: &[(&'static str, &str)],
        body: &str,
    ) -> HttpResponse {
        HttpResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: headers(pairs),
            body: Bytes::from(body.to_owned()),
        }
    }

    /// A unix time, for the rate-limit reset headers.
    pub(crate) fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[tokio::test]
    async fn workflows_stop_once_no_more_than_the_margin_is_left() {
        let margin = Duration::from_secs(5);
        assert!(!out_of_time(margin), "no deadline: never out of time");
        let roomy = Some(Instant::now() + Duration::from_secs(60));
        assert!(!with_deadline(roomy, async { out_of_time(margin) }).await);
        let tight = Some(Instant::now() + Duration::from_secs(2));
        assert!(with_deadline(tight, async { out_of_time(margin) }).await);
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        }
    }

    /// Accepts any wait a server asks for: only the deadline bounds it.
    fn patient() -> RetryPolicy {
        RetryPolicy {
            max_delay: Duration::from_secs(3600),
            ..fast()
        }
    }

    /// A server answering every GET with `answer`, after `first` for the first `times` GETs.
    async fn serving(
        first: Option<(ResponseTemplate, u64)>,
        answer: ResponseTemplate,
    ) -> MockServer {
        let server = MockServer::start().await;
        if let Some((first, times)) = first {
            Mock::given(method("GET"))
                .respond_with(first)
                .up_to_n_times(times)
                .mount(&server)
                .await;
        }
        Mock::given(method("GET"))
            .respond_with(answer)
            .mount(&server)
            .await;
        server
    }

    /// One GET of `server` with `policy`, within `deadline` if there is one. The client's own
    /// timeout is long: only the deadline may cut an attempt short here.
    async fn get(
        server: &MockServer,
        policy: RetryPolicy,
        deadline: Option<Instant>,
    ) -> Result<HttpResponse, HttpError> {
        let client = build_client(Duration::from_secs(30));
        let make = || client.get(server.uri());
        with_deadline(
            deadline,
            send_with_retry("test", policy, make, default_verdict),
        )
        .await
    }

    async fn requests(server: &MockServer) -> usize {
        server.received_requests().await.unwrap().len()
    }

    #[tokio::test]
    async fn server_errors_are_retried_until_success() {
        let ok = ResponseTemplate::new(200).set_body_string("ok");
        let server = serving(Some((ResponseTemplate::new(503), 2)), ok).await;
        let resp = get(&server, fast(), None).await.unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(requests(&server).await, 3);
    }

    #[tokio::test]
    async fn a_redirect_to_another_origin_is_not_followed_with_our_credentials() {
        let elsewhere = serving(None, ResponseTemplate::new(200)).await;
        let steal = format!("{}/steal", elsewhere.uri());
        let server = serving(
            None,
            ResponseTemplate::new(302).insert_header("location", steal),
        )
        .await;
        let client = build_client(Duration::from_secs(5));
        let make = || {
            client
                .get(server.uri())
                .header("private-token", "glpat-secret")
        };
        let resp = send_with_retry("test", fast(), make, default_verdict)
            .await
            .unwrap();
        assert_eq!(resp.status, 302, "the redirect is the final answer");
        assert_eq!(
            requests(&elsewhere).await,
            0,
            "the other origin never sees the token"
        );
    }

    #[tokio::test]
    async fn retries_that_run_out_on_a_rate_limit_end_rate_limited_and_on_an_outage_do_not() {
        for (status, expected) in [(429, Some(None)), (503, None)] {
            let server = serving(None, ResponseTemplate::new(status)).await;
            let policy = RetryPolicy {
                max_attempts: 2,
                ..fast()
            };
            let err = get(&server, policy, None).await.unwrap_err();
            assert!(matches!(err, HttpError::Exhausted { .. }), "{err}");
            assert_eq!(err.rate_limit_wait(), expected, "HTTP {status}");
        }
    }

    #[tokio::test]
    async fn client_errors_are_not_retried() {
        let server = serving(None, ResponseTemplate::new(404)).await;
        let resp = get(&server, fast(), None).await.unwrap();
        assert_eq!(resp.status, 404);
        assert_eq!(requests(&server).await, 1);
    }

    #[tokio::test]
    async fn retries_stop_when_attempts_run_out() {
        let boom = ResponseTemplate::new(500).set_body_string("boom");
        let server = serving(None, boom).await;
        let err = get(&server, fast(), None).await.unwrap_err();
        assert!(
            matches!(err, HttpError::Exhausted { attempts: 3, .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn neither_a_retry_after_past_the_deadline_nor_a_request_running_into_it_is_waited_out() {
        let later = ResponseTemplate::new(429).insert_header("retry-after", "30");
        let slow = ResponseTemplate::new(200).set_delay(Duration::from_secs(3));
        for (answer, policy, time_left, ended_within) in [
            (
                later,
                patient(),
                Duration::from_secs(10),
                Duration::from_secs(5),
            ),
            (
                slow,
                fast(),
                Duration::from_millis(300),
                Duration::from_secs(2),
            ),
        ] {
            let server = serving(None, answer).await;
            let started = Instant::now();
            let err = get(&server, policy, Some(started + time_left))
                .await
                .unwrap_err();
            assert!(matches!(err, HttpError::Deadline { .. }), "{err}");
            assert!(started.elapsed() < ended_within, "{err}");
        }
    }

    #[tokio::test]
    async fn each_answer_is_read_once_and_the_last_comes_back_with_what_was_read() {
        let ok = ResponseTemplate::new(200).set_body_string("ok");
        let server = serving(Some((ResponseTemplate::new(503), 1)), ok).await;
        let client = build_client(Duration::from_secs(5));
        let reads = std::sync::atomic::AtomicUsize::new(0);
        let read = |response: &HttpResponse| {
            reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            String::from_utf8_lossy(&response.body).into_owned()
        };
        let classify = |response: &HttpResponse, body: &String| {
            assert_eq!(*body, String::from_utf8_lossy(&response.body));
            default_verdict(response)
        };
        let make = || client.get(server.uri());
        let (response, body) = send_and_read("test", fast(), make, read, classify)
            .await
            .unwrap();
        assert_eq!((response.status.as_u16(), body.as_str()), (200, "ok"));
        assert_eq!(
            reads.into_inner(),
            2,
            "one read for each of the two answers"
        );
    }

    #[tokio::test]
    async fn a_retry_after_longer_than_the_policy_allows_is_never_cut_short() {
        let later = ResponseTemplate::new(429).insert_header("retry-after", "25");
        let server = serving(None, later).await;
        let policy = RetryPolicy {
            max_delay: Duration::from_secs(20),
            ..fast()
        };
        let err = get(&server, policy, None).await.unwrap_err();
        assert!(
            matches!(err, HttpError::RateLimited { wait, attempts: 1, .. } if wait == Duration::from_secs(25)),
            "{err}"
        );
        assert_eq!(err.rate_limit_wait(), Some(Some(Duration::from_secs(25))));
        assert_eq!(
            requests(&server).await,
            1,
            "no request before the server's 25 s"
        );
        assert_eq!(
            err.to_string(),
            "test: rate limited (HTTP 429 Too Many Requests); asked to wait 25s, longer than the 20s this call may wait"
        );
    }

    #[tokio::test]
    async fn no_attempt_runs_into_the_deadline_allowance() {
        let slow = ResponseTemplate::new(200).set_delay(Duration::from_secs(2));
        let server = serving(None, slow).await;
        let deadline = Instant::now() + Duration::from_millis(600);
        let err = get(&server, fast(), Some(deadline)).await.unwrap_err();
        assert!(matches!(err, HttpError::Deadline { .. }), "{err}");
        let slack = deadline.saturating_duration_since(Instant::now());
        assert!(
            slack >= DEADLINE_ALLOWANCE - Duration::from_millis(50),
            "the call gave up {slack:?} before the deadline, less than the allowance"
        );
    }

    #[tokio::test]
    async fn no_request_is_sent_inside_the_deadline_allowance() {
        let server = serving(None, ResponseTemplate::new(200)).await;
        let deadline = Instant::now() + DEADLINE_ALLOWANCE / 2;
        let err = get(&server, fast(), Some(deadline)).await.unwrap_err();
        assert!(
            matches!(err, HttpError::Deadline { attempts: 0, .. }),
            "{err}"
        );
        assert_eq!(requests(&server).await, 0);
    }

    #[tokio::test]
    async fn retry_after_seconds_are_honoured() {
        let soon = ResponseTemplate::new(429).insert_header("retry-after", "1");
        let server = serving(Some((soon, 1)), ResponseTemplate::new(200)).await;
        let started = Instant::now();
        let policy = RetryPolicy {
            max_delay: Duration::from_secs(2),
            ..fast()
        };
        get(&server, policy, None).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(950));
    }

    #[test]
    fn absurd_retry_after_values_do_not_panic() {
        for value in ["1e20", "1e300", "inf", "NaN", "-5", "18446744073709551616"] {
            let wait = retry_after(&test_support::headers(&[("retry-after", value)]));
            assert!(
                wait.is_none() || wait > Some(Duration::from_secs(3600)),
                "{value}: {wait:?}"
            );
        }
    }

    #[test]
    fn a_reset_header_gives_the_wait_when_retry_after_is_missing() {
        use test_support::{at, response};
        let wait = |pairs: &[(&'static str, &str)]| {
            retry_after_or_reset(&response(429, pairs, ""), "reset", at(1_000_000))
        };
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(wait(&[("retry-after", "2"), ("reset", "1000030")]), secs(2));
        assert_eq!(wait(&[("reset", "1000030")]), secs(30));
        assert_eq!(wait(&[("reset", "999990")]), None, "a reset in the past");
        assert_eq!(wait(&[("reset", "18446744073709551615")]), None, "absurd");
        assert_eq!(wait(&[]), None);
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let seconds = test_support::headers(&[("retry-after", "7")]);
        assert_eq!(retry_after(&seconds), Some(Duration::from_secs(7)));
        let past = test_support::headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]);
        assert_eq!(retry_after(&past), None, "a date in the past means no wait");
    }
}
