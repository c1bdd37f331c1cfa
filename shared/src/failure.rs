//! What Lambda reports when an invocation or a cold start fails: a kind an operator can filter
//! on (`errorType` in the failure queue, CloudWatch and the console) and a one-line message,
//! instead of the Rust type name `lambda_runtime` would otherwise derive. Panics are caught
//! and reported the same way, and a function that cannot start says why through the Runtime
//! API's init-error call before it exits.

use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt as _;
use lambda_runtime::Diagnostic;

use crate::text;

/// The kinds of failure, as `errorType` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// A setting, the secret or the database contract is wrong: retrying will not help until
    /// someone changes it.
    Configuration,
    /// The event or the data read (an inventory row, a scheduled input) was refused.
    BadInput,
    /// An external service (Postgres, Linear, Slack, ...) could not be reached or kept failing.
    UpstreamUnavailable,
    /// An external service asked to wait longer than this invocation may.
    RateLimited,
    /// The invocation ran out of time; what is left stays pending for the next run.
    DeadlineExceeded,
    /// Work the next invocation must finish (a digest not yet delivered, say).
    Pending,
    /// A fault of ours.
    Internal,
    /// The handler panicked (a fault of ours; the message is the panic's).
    Panic,
}

impl FailureKind {
    /// The `errorType` Lambda shows.
    pub fn error_type(self) -> &'static str {
        match self {
            FailureKind::Configuration => "Configuration",
            FailureKind::BadInput => "BadInput",
            FailureKind::UpstreamUnavailable => "UpstreamUnavailable",
            FailureKind::RateLimited => "RateLimited",
            FailureKind::DeadlineExceeded => "DeadlineExceeded",
            FailureKind::Pending => "Pending",
            FailureKind::Internal => "Internal",
            FailureKind::Panic => "Panic",
        }
    }
}

/// An error that knows which kind of failure it is.
pub trait Classify {
    fn failure_kind(&self) -> FailureKind;
}

/// A failed invocation as Lambda reports it.
#[derive(Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    /// One line, bounded.
    pub message: String,
}

/// Longest message reported: CloudWatch and failure queues show the first line of it anyway.
const MAX_MESSAGE_CHARS: usize = 1000;

impl Failure {
    pub fn new(kind: FailureKind, message: impl Display) -> Self {
        Self {
            kind,
            message: text::one_line(&message.to_string(), MAX_MESSAGE_CHARS),
        }
    }

    /// A classified error, with its message.
    pub fn of<E: Classify + Display>(error: &E) -> Self {
        Self::new(error.failure_kind(), error)
    }
}

/// `lambda_runtime` logs a handler's error in `Debug` form: the same readable line.
impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Display::fmt(self, f)
    }
}

impl Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.error_type(), self.message)
    }
}

impl<E: Classify + Display> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure::of(&error)
    }
}

impl From<Failure> for Diagnostic {
    fn from(failure: Failure) -> Self {
        Diagnostic {
            error_type: failure.kind.error_type().to_owned(),
            error_message: failure.message,
        }
    }
}

/// Run a handler, turning a panic into a `Panic` failure with the panic's own message (the
/// runtime's own catch would report a Rust type name).
pub async fn catching_panics<T>(
    handler: impl Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    // Boxed: the workflows' futures are deep, and nesting them once more inline pushes the
    // functions' `main` past the compiler's layout depth limit.
    match AssertUnwindSafe(Box::pin(handler)).catch_unwind().await {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "the handler panicked".to_owned());
            let failure = Failure::new(FailureKind::Panic, format!("panicked: {message}"));
            tracing::error!(error = %failure.message, "handler panicked");
            Err(failure)
        }
    }
}

/// Tell Lambda why the function cannot start (`POST /runtime/init/error`), so the console and
/// the logs show the kind and message rather than only `Runtime.ExitError`. Best effort: the
/// caller exits either way, and outside Lambda (no `AWS_LAMBDA_RUNTIME_API`) nothing is sent.
pub async fn report_init_error(failure: &Failure) {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let url = format!("http://{api}/2018-06-01/runtime/init/error");
    let body = serde_json::json!({
        "errorType": failure.kind.error_type(),
        "errorMessage": failure.message,
    });
    let sent = reqwest::Client::new()
        .post(url)
        .header(
            "Lambda-Runtime-Function-Error-Type",
            failure.kind.error_type(),
        )
        .json(&body)
        .timeout(std::time::Duration::from_secs(2))
        .send()
        .await;
    if let Err(e) = sent {
        tracing::warn!(error = %e.without_url(), "could not report the init error to Lambda");
    }
}

/// The foundation's own errors by kind. Each workflow classifies its errors beside its runtime
/// (`<workflow>::runtime`, module `failure_kinds`), so the foundation knows no workflow.
mod kinds {
    use super::{Classify, FailureKind};
    use crate::db::DbError;
    use crate::runtime::StartupError;

    impl Classify for StartupError {
        fn failure_kind(&self) -> FailureKind {
            match self {
                StartupError::Db(DbError::Connect { .. }) => FailureKind::UpstreamUnavailable,
                StartupError::Secret(crate::secrets::SecretError::SecretsManager { .. }) => {
                    // Missing, forbidden or unreachable: all need someone to look.
                    FailureKind::Configuration
                }
                _ => FailureKind::Configuration,
            }
        }
    }

    /// An outside service's failure keeps its kind up to the edge: a service that refuses
    /// (a revoked token, a permission) needs someone to act, like a wrong setting.
    impl Classify for crate::ports::PortError {
        fn failure_kind(&self) -> FailureKind {
            use crate::ports::FailureKind as Port;
            match self.kind {
                Port::Transient => FailureKind::UpstreamUnavailable,
                Port::RateLimited(_) => FailureKind::RateLimited,
                Port::Permanent => FailureKind::Configuration,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_error_reaches_the_edge_with_its_kind() {
        use crate::ports::{FailureKind as Port, PortError};
        let error_type =
            |kind| Diagnostic::from(Failure::of(&PortError::new("axiom", kind, "x"))).error_type;
        assert_eq!(error_type(Port::Transient), "UpstreamUnavailable");
        assert_eq!(error_type(Port::RateLimited(None)), "RateLimited");
        assert_eq!(error_type(Port::Permanent), "Configuration");
    }

    #[test]
    fn a_failure_becomes_a_diagnostic_with_its_kind_and_one_line() {
        let failure = Failure::new(
            FailureKind::UpstreamUnavailable,
            "linear: down\nsecond line",
        );
        let diagnostic = Diagnostic::from(failure);
        assert_eq!(diagnostic.error_type, "UpstreamUnavailable");
        assert_eq!(diagnostic.error_message, "linear: down second line");
    }

    #[tokio::test]
    async fn a_panic_is_reported_as_a_panic_with_its_message() {
        let result: Result<(), Failure> =
            catching_panics(async { panic!("index out of bounds") }).await;
        let failure = result.unwrap_err();
        assert_eq!(failure.kind, FailureKind::Panic);
        assert_eq!(failure.message, "panicked: index out of bounds");
    }

    #[test]
    fn long_messages_are_bounded() {
        let failure = Failure::new(FailureKind::Internal, "x".repeat(5000));
        assert!(failure.message.chars().count() <= MAX_MESSAGE_CHARS + 1);
    }
}
