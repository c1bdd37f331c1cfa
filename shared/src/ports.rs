//! What every workflow's ports share: the error a port returns when an outside service failed
//! (after the connector's own retries), and a chat message once posted. Each workflow defines
//! its own port traits beside its adapters; these types keep them speaking one language.

use std::time::Duration;

/// A failed call to an outside service, after its own retries, with what kind of failure it
/// was: every workflow decides retry or give up from the kind, the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{service}: {message}")]
pub struct PortError {
    pub service: &'static str,
    pub kind: FailureKind,
    pub message: String,
}

/// Whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// An outage, a timeout, the deadline: worth trying again later.
    Transient,
    /// Still rate limited after the retries the call could afford; the service's wait, if it
    /// named one.
    RateLimited(Option<Duration>),
    /// Refused, and it would be refused again until someone acts: credentials, permissions, a
    /// request the service will not take.
    Permanent,
}

impl FailureKind {
    /// The kind of a connector's error: rate limited when it ended on a rate limit (with the
    /// service's wait), transient when it says trying later can help, else permanent.
    pub fn of(rate_limited: Option<Option<Duration>>, transient: bool) -> Self {
        match rate_limited {
            Some(wait) => FailureKind::RateLimited(wait),
            None if transient => FailureKind::Transient,
            None => FailureKind::Permanent,
        }
    }
}

impl PortError {
    pub fn transient(service: &'static str, message: impl ToString) -> Self {
        Self::new(service, FailureKind::Transient, message)
    }

    pub fn new(service: &'static str, kind: FailureKind, message: impl ToString) -> Self {
        Self {
            service,
            kind,
            message: message.to_string(),
        }
    }

    /// Trying again will fail the same way until someone acts.
    pub fn is_permanent(&self) -> bool {
        self.kind == FailureKind::Permanent
    }
}

/// A posted chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
}

/// A failed call to an issue tracker, by kind: the caller retries the first and the last later,
/// never the second.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    /// Still rate limited after the retries the invocation could afford; stop filing for now.
    #[error("{service} rate limit reached{}", .retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    RateLimited {
        service: &'static str,
        retry_after: Option<Duration>,
    },
    /// The request was refused and would be refused again (bad input, permissions).
    #[error("{service} refused the request: {message}")]
    Rejected {
        service: &'static str,
        message: String,
    },
    /// The service failed or could not be reached after retries.
    #[error("{service} unavailable: {message}")]
    Unavailable {
        service: &'static str,
        message: String,
    },
}

/// The port error of a tracker's failure, its kind kept.
impl From<TrackerError> for PortError {
    fn from(error: TrackerError) -> Self {
        let kind = match &error {
            TrackerError::RateLimited { retry_after, .. } => FailureKind::RateLimited(*retry_after),
            TrackerError::Rejected { .. } => FailureKind::Permanent,
            TrackerError::Unavailable { .. } => FailureKind::Transient,
        };
        let service = match &error {
            TrackerError::RateLimited { service, .. }
            | TrackerError::Rejected { service, .. }
            | TrackerError::Unavailable { service, .. } => *service,
        };
        PortError::new(service, kind, error)
    }
}
