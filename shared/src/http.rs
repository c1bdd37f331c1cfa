//! Outbound HTTP: one `reqwest` client (rustls, timeouts) and one retry policy for every
//! connector. 429, 5xx, 408 and transport timeouts are retried with exponential backoff and full
//! jitter. `Retry-After` is a floor, never shortened: a request is never sent before the server
//! said it may be. A wait longer than the policy's `max_delay`, or one that would end past the
//! invocation's deadline, is not started: the call fails as [`HttpError::RateLimited`] or
//! [`HttpError::Deadline`] and the caller leaves its work pending. No attempt runs past the
//! deadline minus [`DEADLINE_ALLOWANCE`], so the function answers before Lambda stops it.
//! Other 4xx are returned at once.

use std::future::Future;
use std::time::{Duration, Instant};

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

/// Kept free at the end of every invocation: an attempt still running this close to the
/// deadline is abandoned, so the workflow can record what is pending and answer in time.
pub const DEADLINE_ALLOWANCE: Duration = Duration::from_millis(250);

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
    /// The start of the body, for error messages (upstream error bodies carry no credentials
    /// we sent: they are never echoed by these APIs).
    pub fn excerpt(&self) -> String {
        crate::text::one_line(&String::from_utf8_lossy(&self.body), 301)
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
    let mut attempt = 0;
    // Whether the latest answer was a rate limit, and the wait it named.
    let mut rate_limited: Option<Option<Duration>> = None;
    loop {
        attempt += 1;
        let attempt_result = match attempt_budget() {
            Some(budget) if budget.is_zero() => {
                return Err(HttpError::Deadline {
                    service,
                    attempts: attempt - 1,
                    last: "no time was left for a request".to_owned(),
                    rate_limited,
                });
            }
            Some(budget) => match tokio::time::timeout(budget, send_once(make())).await {
                Ok(result) => result,
                Err(_) => {
                    return Err(HttpError::Deadline {
                        service,
                        attempts: attempt,
                        last: "the request was still running at the deadline".to_owned(),
                        rate_limited: None,
                    });
                }
            },
            None => send_once(make()).await,
        };
        let outcome = attempt_result;
        let (wait, last) = match outcome {
            Ok(response) => match classify(&response) {
                Verdict::Done => return Ok(response),
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
            },
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
        if let Some(budget) = attempt_budget() {
            // Leave room for the next attempt itself, not only the wait.
            if wait + Duration::from_secs(1) >= budget {
                return Err(HttpError::Deadline {
                    service,
                    attempts: attempt,
                    last,
                    rate_limited,
                });
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

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

    #[tokio::test]
    async fn server_errors_are_retried_until_success() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(2)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .mount(&server)
            .await;
        let client = build_client(Duration::from_secs(5));
        let resp = send_with_retry("test", fast(), || client.get(server.uri()), default_verdict)
            .await
            .unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(server.received_requests().await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_redirect_to_another_origin_is_not_followed_with_our_credentials() {
        let elsewhere = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&elsewhere)
            .await;
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(302)
                    .insert_header("location", format!("{}/steal", elsewhere.uri())),
            )
            .mount(&server)
            .await;
        let client = build_client(Duration::from_secs(5));
        let resp = send_with_retry(
            "test",
            fast(),
            || {
                client
                    .get(server.uri())
                    .header("private-token", "glpat-secret")
            },
            default_verdict,
        )
        .await
        .unwrap();
        assert_eq!(resp.status, 302, "the redirect is the final answer");
        assert!(
            elsewhere.received_requests().await.unwrap().is_empty(),
            "the other origin never sees the token"
        );
    }

    #[tokio::test]
    async fn retries_that_run_out_on_a_rate_limit_end_rate_limited_and_on_an_outage_do_not() {
        let client = build_client(Duration::from_secs(5));
        for (status, expected) in [(429, Some(None)), (503, None)] {
            let server = MockServer::start().await;
            Mock::given(method("GET"))
                .respond_with(ResponseTemplate::new(status))
                .mount(&server)
                .await;
            let policy = RetryPolicy {
                max_attempts: 2,
                ..fast()
            };
            let err = send_with_retry("test", policy, || client.get(server.uri()), default_verdict)
                .await
                .unwrap_err();
            assert!(matches!(err, HttpError::Exhausted { .. }), "{err}");
            assert_eq!(err.rate_limit_wait(), expected, "HTTP {status}");
        }
    }

    #[tokio::test]
    async fn client_errors_are_not_retried() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(404))
            .mount(&server)
            .await;
        let client = build_client(Duration::from_secs(5));
        let resp = send_with_retry("test", fast(), || client.get(server.uri()), default_verdict)
            .await
            .unwrap();
        assert_eq!(resp.status, 404);
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn retries_stop_when_attempts_run_out() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
            .mount(&server)
            .await;
        let client = build_client(Duration::from_secs(5));
        let err = send_with_retry("test", fast(), || client.get(server.uri()), default_verdict)
            .await
            .unwrap_err();
        assert!(
            matches!(err, HttpError::Exhausted { attempts: 3, .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_retry_after_longer_than_the_deadline_is_not_waited_for() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "30"))
            .mount(&server)
            .await;
        let client = build_client(Duration::from_secs(5));
        let started = Instant::now();
        let deadline = Some(Instant::now() + Duration::from_secs(10));
        let err = with_deadline(
            deadline,
            send_with_retry(
                "test",
                patient(),
                || client.get(server.uri()),
                default_verdict,
            ),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, HttpError::Deadline { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_request_still_running_at_the_deadline_is_abandoned() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
            .mount(&server)
            .await;
        let client = build_client(Duration::from_secs(30));
        let started = Instant::now();
        let deadline = Some(Instant::now() + Duration::from_millis(300));
        let err = with_deadline(
            deadline,
            send_with_retry("test", fast(), || client.get(server.uri()), default_verdict),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, HttpError::Deadline { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_retry_after_longer_than_the_policy_allows_is_never_cut_short() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "25"))
            .mount(&server)
            .await;
        let client = build_client(Duration::from_secs(5));
        let policy = RetryPolicy {
            max_delay: Duration::from_secs(20),
            ..fast()
        };
        let err = send_with_retry("test", policy, || client.get(server.uri()), default_verdict)
            .await
            .unwrap_err();
        assert!(
            matches!(err, HttpError::RateLimited { wait, attempts: 1, .. } if wait == Duration::from_secs(25)),
            "{err}"
        );
        assert_eq!(err.rate_limit_wait(), Some(Some(Duration::from_secs(25))));
        assert_eq!(
            server.received_requests().await.unwrap().len(),
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
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
            .mount(&server)
            .await;
        let client = build_client(Duration::from_secs(30));
        let deadline = Instant::now() + Duration::from_millis(600);
        let err = with_deadline(
            Some(deadline),
            send_with_retry("test", fast(), || client.get(server.uri()), default_verdict),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, HttpError::Deadline { .. }), "{err}");
        let slack = deadline.saturating_duration_since(Instant::now());
        assert!(
            slack >= DEADLINE_ALLOWANCE - Duration::from_millis(50),
            "the call gave up {slack:?} before the deadline, less than the allowance"
        );
    }

    #[tokio::test]
    async fn no_request_is_sent_inside_the_deadline_allowance() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        let client = build_client(Duration::from_secs(5));
        let deadline = Instant::now() + DEADLINE_ALLOWANCE / 2;
        let err = with_deadline(
            Some(deadline),
            send_with_retry("test", fast(), || client.get(server.uri()), default_verdict),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, HttpError::Deadline { attempts: 0, .. }),
            "{err}"
        );
        assert!(server.received_requests().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn retry_after_seconds_are_honoured() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        let client = build_client(Duration::from_secs(5));
        let started = Instant::now();
        let policy = RetryPolicy {
            max_delay: Duration::from_secs(2),
            ..fast()
        };
        send_with_retry("test", policy, || client.get(server.uri()), default_verdict)
            .await
            .unwrap();
        assert!(started.elapsed() >= Duration::from_millis(950));
    }

    #[test]
    fn absurd_retry_after_values_do_not_panic() {
        for value in ["1e20", "1e300", "inf", "NaN", "-5", "18446744073709551616"] {
            let mut h = HeaderMap::new();
            h.insert("retry-after", value.parse().unwrap());
            let wait = retry_after(&h);
            assert!(
                wait.is_none() || wait > Some(Duration::from_secs(3600)),
                "{value}: {wait:?}"
            );
        }
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None, "a date in the past means no wait");
    }
}
