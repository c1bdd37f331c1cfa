//! The drift workflow's adapters onto connectors: its issues are filed in Linear.

use uuid::Uuid;

use super::ports::IssueTracker;
use super::render::{NewComment, NewIssue};
use super::store::FiledIssue;
use crate::connectors::linear::{IssueDraft, IssueRef, LinearClient};
use crate::ports::TrackerError;

impl IssueTracker for LinearClient {
    async fn find_issue(&self, id: Uuid) -> Result<Option<FiledIssue>, TrackerError> {
        Ok(self.find_issue_by_id(id).await?.map(filed))
    }

    async fn create_issue(&self, issue: &NewIssue) -> Result<FiledIssue, TrackerError> {
        let draft = IssueDraft {
            id: issue.id,
            title: &issue.title,
            description: &issue.description,
            priority: issue.priority,
            labels: &issue.labels,
        };
        self.create_issue_once(&draft).await.map(filed)
    }

    /// A drift issue's overflow principals: the comment's id is derived from the filing, so a
    /// retry finds the comment an earlier attempt posted instead of posting it twice.
    async fn add_comment(
        &self,
        issue: &FiledIssue,
        comment: &NewComment,
    ) -> Result<(), TrackerError> {
        self.comment_once(&issue.id, &comment.id.to_string(), &comment.body)
            .await
    }
}

fn filed(issue: IssueRef) -> FiledIssue {
    FiledIssue {
        id: issue.id,
        identifier: issue.identifier,
        url: issue.url,
    }
}
