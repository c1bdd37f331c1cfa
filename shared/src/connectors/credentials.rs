//! Every connector's call in one place: credentials read from the secret for each call, and read
//! again once when the service refuses them (the secret may have been rotated after it was
//! cached); the shared retry policy, with its rate limits and `Retry-After`; each answer's body
//! decoded once; and the connector's own errors for the failures every call shares. A connector
//! says only its requests, how its credentials become its auth header, how it reads answers,
//! and what its errors are.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use reqwest::RequestBuilder;
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

use crate::http::{self, HttpError, HttpResponse, RetryPolicy, Verdict};
use crate::secrets::{Credentials, SecretError, SecretStore};

/// A call under way, as a boxed trait object: the Secrets Manager read and the retrying send
/// nest deep futures, and held by type they would add to every caller's layout until the
/// compiler's depth limit refuses the Lambda handler.
pub type Sending<'a, T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'a>>;

/// A connector's own errors for the failures every call can end in before the connector sees an
/// answer. Most connectors name only their two variants; the rest also say how they read each
/// failure.
pub trait ConnectorError: Send + Sized {
    /// Rate limited, with the service's wait when it named one.
    fn rate_limited(retry_after: Option<Duration>) -> Self;
    /// Out of reach for now, and why.
    fn unavailable(message: String) -> Self;

    /// The secret could not be read: it may be readable on the next run.
    fn credentials_unreadable(error: SecretError) -> Self {
        Self::unavailable(format!("cannot read credentials: {error}"))
    }

    /// No final answer: rate limited when the call ended on a rate limit, else unavailable (the
    /// retries or the deadline ran out, or the transport failed), with the causes.
    fn gave_up(error: HttpError) -> Self {
        match error.rate_limit_wait() {
            Some(retry_after) => Self::rate_limited(retry_after),
            None => Self::unavailable(error.with_causes()),
        }
    }
}

/// For a connector's error type with the two variants every call can end in,
/// `RateLimited { retry_after }` and `Unavailable(String)`, writes what follows from them once:
/// its [`ConnectorError`] (plus the methods given in braces, for a connector that reads a failure
/// its own way), `is_transient` and `failure_kind` for the workflows, where transient means
/// one of the two, and the [`PortError`](crate::ports::PortError) a workflow's adapter turns
/// it into, named by the connector's `SERVICE`.
macro_rules! connector_error {
    ($error:ident $({ $($reading:tt)* })?) => {
        impl $crate::connectors::credentials::ConnectorError for $error {
            fn rate_limited(retry_after: Option<::std::time::Duration>) -> Self {
                $error::RateLimited { retry_after }
            }

            fn unavailable(message: String) -> Self {
                $error::Unavailable(message)
            }

            $($($reading)*)?
        }

        impl $error {
            /// Whether the same call may well succeed later (rate limits, outages).
            pub fn is_transient(&self) -> bool {
                matches!(self, $error::RateLimited { .. } | $error::Unavailable(_))
            }

            /// What kind of failure this is for the workflows' ports.
            pub fn failure_kind(&self) -> $crate::ports::FailureKind {
                let rate_limited = match self {
                    $error::RateLimited { retry_after } => Some(*retry_after),
                    _ => None,
                };
                $crate::ports::FailureKind::of(rate_limited, self.is_transient())
            }
        }

        impl ::core::convert::From<$error> for $crate::ports::PortError {
            fn from(error: $error) -> Self {
                $crate::ports::PortError::new(SERVICE, error.failure_kind(), error)
            }
        }
    };
}
pub(crate) use connector_error;

/// A connector's service as its calls reach it: its name (in errors and logs), the secret its
/// credentials come from, and how patiently it is retried.
#[derive(Clone, Copy)]
pub struct Service<'a> {
    name: &'static str,
    secrets: &'a SecretStore,
    retry: RetryPolicy,
}

impl<'a> Service<'a> {
    pub fn new(name: &'static str, secrets: &'a SecretStore, retry: RetryPolicy) -> Self {
        Self {
            name,
            secrets,
            retry,
        }
    }

    /// One call: `request` builds the request (once per attempt) with what `authorize` makes of
    /// the current credentials (a header, a header map); retried as `classify` says; re-sent
    /// once with fresh credentials on a 401 or 403 (see [`Self::send_and_read`]). The final
    /// answer is the connector's to turn into a result.
    pub fn send<A, E>(
        self,
        authorize: impl Fn(&Credentials) -> Result<A, E> + Send + Sync + 'a,
        request: impl Fn(&A) -> RequestBuilder + Send + Sync + 'a,
        classify: impl Fn(&HttpResponse) -> Verdict + Send + Sync + 'a,
    ) -> Sending<'a, HttpResponse, E>
    where
        A: Clone + PartialEq + Send + Sync + 'a,
        E: ConnectorError + 'a,
    {
        Box::pin(async move {
            let read_nothing = |_: &HttpResponse| ();
            let refused =
                |response: &HttpResponse, _: &()| http::is_credentials_refusal(response.status);
            let classify = |response: &HttpResponse, _: &()| classify(response);
            let (response, ()) = self
                .exchange(authorize, request, read_nothing, classify, refused)
                .await?;
            Ok(response)
        })
    }

    /// One call whose answers `read` decodes, once each: `classify` decides on retries and
    /// `refused` on the credentials from what it decoded, and the final answer comes back with
    /// it. When `refused` says the service did not accept the credentials, the secret is read
    /// again and, if that changed what `authorize` makes of it (it was rotated), the call is sent
    /// once more. Unchanged credentials are not sent again: they would be refused the same way,
    /// so the refusal stands.
    pub fn send_and_read<A, D, E>(
        self,
        authorize: impl Fn(&Credentials) -> Result<A, E> + Send + Sync + 'a,
        request: impl Fn(&A) -> RequestBuilder + Send + Sync + 'a,
        read: impl Fn(&HttpResponse) -> D + Send + Sync + 'a,
        classify: impl Fn(&HttpResponse, &D) -> Verdict + Send + Sync + 'a,
        refused: impl Fn(&HttpResponse, &D) -> bool + Send + Sync + 'a,
    ) -> Sending<'a, (HttpResponse, D), E>
    where
        A: Clone + PartialEq + Send + Sync + 'a,
        D: Send + 'a,
        E: ConnectorError + 'a,
    {
        Box::pin(self.exchange(authorize, request, read, classify, refused))
    }

    async fn exchange<A, D, E>(
        self,
        authorize: impl Fn(&Credentials) -> Result<A, E>,
        request: impl Fn(&A) -> RequestBuilder,
        read: impl Fn(&HttpResponse) -> D,
        classify: impl Fn(&HttpResponse, &D) -> Verdict,
        refused: impl Fn(&HttpResponse, &D) -> bool,
    ) -> Result<(HttpResponse, D), E>
    where
        A: PartialEq,
        E: ConnectorError,
    {
        let auth = self.authorized(&authorize).await?;
        let (response, decoded) = self.attempt(|| request(&auth), &read, &classify).await?;
        if !refused(&response, &decoded) {
            return Ok((response, decoded));
        }
        self.secrets.invalidate().await;
        let fresh_auth = self.authorized(&authorize).await?;
        if fresh_auth == auth {
            return Ok((response, decoded));
        }
        self.attempt(|| request(&fresh_auth), &read, &classify)
            .await
    }

    /// What `authorize` makes of the credentials the secret holds now.
    async fn authorized<A, E: ConnectorError>(
        self,
        authorize: impl Fn(&Credentials) -> Result<A, E>,
    ) -> Result<A, E> {
        let credentials = self
            .secrets
            .current()
            .await
            .map_err(E::credentials_unreadable)?;
        authorize(&credentials)
    }

    /// Every retry the policy allows, with one set of credentials.
    async fn attempt<D, E: ConnectorError>(
        self,
        make: impl Fn() -> RequestBuilder,
        read: impl Fn(&HttpResponse) -> D,
        classify: impl Fn(&HttpResponse, &D) -> Verdict,
    ) -> Result<(HttpResponse, D), E> {
        let started = Instant::now();
        let (response, decoded) = http::send_and_read(self.name, self.retry, make, read, classify)
            .await
            .map_err(E::gave_up)?;
        let latency_ms = started.elapsed().as_millis() as u64;
        tracing::debug!(
            service = self.name,
            status = response.status.as_u16(),
            latency_ms,
            "answered"
        );
        Ok((response, decoded))
    }
}

/// A credential's value, trimmed; `None` when it is absent or blank.
pub fn present(credential: &Option<SecretString>) -> Option<&str> {
    credential
        .as_ref()
        .map(|value| value.expose_secret().trim())
        .filter(|value| !value.is_empty())
}

/// `text` as a header value marked sensitive, so it is redacted from any debug output; `None`
/// when it holds characters a header cannot carry (the caller's error must not quote it).
pub fn sensitive_header(text: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(text).ok()?;
    value.set_sensitive(true);
    Some(value)
}
