//! The drift workflow's outbound ports: where issues are filed and who drafts the text.
//! Real adapters live in `crate::connectors`; dry-run and test adapters implement the same.

use std::future::Future;
use std::time::Duration;

use uuid::Uuid;

use super::render::{NewComment, NewIssue};
use super::store::FiledIssue;

/// Files issues. Implemented by the Linear connector and the dry-run sink.
pub trait IssueTracker: Send + Sync {
    /// The issue created earlier with this client-chosen id, if it exists.
    fn find_issue(
        &self,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<FiledIssue>, TrackerError>> + Send;

    /// Create the issue, using `issue.id` as its id.
    fn create_issue(
        &self,
        issue: &NewIssue,
    ) -> impl Future<Output = Result<FiledIssue, TrackerError>> + Send;

    /// Post `comment` on the filed issue under `comment.id`. Idempotent: when a comment with
    /// that id is already on the issue (an earlier attempt got through), that is success.
    fn add_comment(
        &self,
        issue: &FiledIssue,
        comment: &NewComment,
    ) -> impl Future<Output = Result<(), TrackerError>> + Send;
}

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

/// A request for a JSON answer that must match a strict schema.
#[derive(Debug, Clone)]
pub struct JsonRequest<'a> {
    pub system: &'a str,
    pub user: &'a str,
    /// `a-z A-Z 0-9 _ -`, at most 64 characters.
    pub schema_name: &'a str,
    pub schema: &'a serde_json::Value,
    pub max_output_tokens: u32,
}

/// A language model that answers with schema-constrained JSON. Implemented by the OpenAI
/// connector; tests use scripted fakes.
pub trait StructuredLlm: Send + Sync {
    /// The model name recorded with everything it wrote.
    fn model(&self) -> &str;

    /// The raw JSON text of the answer (the caller validates it).
    fn complete_json(
        &self,
        request: &JsonRequest<'_>,
    ) -> impl Future<Output = Result<String, LlmError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    #[error("model rate limit reached after retries")]
    RateLimited,
    /// The account is out of quota: retrying cannot help; someone must act.
    #[error("model account has insufficient quota")]
    InsufficientQuota,
    #[error("model refused: {0}")]
    Refused(String),
    /// The answer was cut short, filtered, or not JSON.
    #[error("model answer unusable: {0}")]
    Unusable(String),
    #[error("model request rejected: {0}")]
    Rejected(String),
    #[error("model unavailable: {0}")]
    Unavailable(String),
    #[error("model call timed out")]
    Timeout,
}
