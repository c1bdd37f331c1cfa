//! The drift workflow's outbound ports: where issues are filed and who drafts the text.
//! The Linear adapter is in `adapters`; dry-run and test adapters implement the same.

use std::future::Future;
use uuid::Uuid;

use super::render::{NewComment, NewIssue};
use super::store::FiledIssue;
use crate::ports::TrackerError;

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
