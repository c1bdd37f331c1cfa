//! The MR audit's ports: where the merge's facts come from (GitLab), the tracking issues
//! (Linear), the evidence page (Confluence) and the announcements (Slack). Their adapters are in
//! `adapters`; tests use fakes.

use std::future::Future;

use serde_json::Value;

use super::event::MergeEvent;
use super::evidence::AuditRow;
use super::facts::MergeFacts;
use crate::ports::PortError;

/// What GitLab's API says about the MR a delivery announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    Merged(Box<MergeFacts>),
    /// GitLab reports the MR in this state (`opened`, `closed`, `locked`): a forged or premature
    /// "merge" delivery. Nothing is stamped.
    NotMerged {
        state: String,
    },
}

/// Where the evidence comes from (GitLab).
pub trait MergeSource: Send + Sync {
    fn facts(&self, event: &MergeEvent) -> impl Future<Output = Result<Fetched, PortError>> + Send;
}

/// A Linear issue found by its identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedIssue {
    pub id: String,
    pub identifier: String,
    pub url: String,
    pub team_id: String,
    /// The branch name Linear suggests for the issue (empty when unknown).
    pub branch_name: String,
    /// `(url, sourceType)` of the issue's attachments (Linear's GitLab link to an MR is one).
    pub attachments: Vec<(String, String)>,
}

/// The Linear issues a merged MR names (its tracking issues). Not drift's `IssueTracker`: the audit
/// finds, closes and comments on issues, it never files one.
pub trait LinkedIssues: Send + Sync {
    fn find(
        &self,
        identifier: &str,
    ) -> impl Future<Output = Result<Option<TrackedIssue>, PortError>> + Send;
    /// Completed state and the `audited` label (other labels kept).
    fn close_as_audited(
        &self,
        issue: &TrackedIssue,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// A comment that a retry with the same `comment_id` never adds twice.
    fn comment_once(
        &self,
        issue: &TrackedIssue,
        comment_id: &str,
        body: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Where the evidence row goes (Confluence). Idempotent by the row's reference.
pub trait EvidencePage: Send + Sync {
    /// The page id the row is on, and whether it was there already.
    fn append(
        &self,
        row: &AuditRow,
    ) -> impl Future<Output = Result<(String, bool), PortError>> + Send;
}

/// A confirmation or alert as Slack takes it: `blocks` carry the message (their mrkdwn is
/// `verbatim`, so nothing an MR author wrote becomes a link or a channel mention), and `text`,
/// Slack's notification fallback, holds nothing untrusted at all.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    pub text: String,
    pub blocks: Value,
}

/// Where confirmations and alerts go (Slack).
pub trait AuditChat: Send + Sync {
    fn post(
        &self,
        channel: &str,
        message: &ChatMessage,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}
