//! What every workflow's ports share: the error a port returns when an outside service failed
//! (after the connector's own retries), and a chat message once posted. Each workflow defines
//! its own port traits beside its adapters; these types keep them speaking one language.

use std::time::Duration;

/// A failed call to an outside service, after its own retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{service}: {message}")]
pub struct PortError {
    pub service: &'static str,
    pub message: String,
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
