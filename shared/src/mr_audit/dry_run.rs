//! The MR audit's dry-run adapters: Linear is read (the linked issues are found as the real
//! audit finds them) but never changed, and the evidence row and the Slack messages are
//! recorded as what would have been written.

use serde_json::json;

use super::evidence::AuditRow;
use super::ports::{AuditChat, ChatMessage, EvidencePage, LinkedIssues, TrackedIssue};
use crate::dry_run::{WouldDo, WouldDoLog};
use crate::ports::PortError;

/// Finds issues in the real Linear; records the closes and comments it would make.
pub struct RecordingIssues<'a, L> {
    pub real: &'a L,
    pub would: &'a WouldDoLog,
}

impl<L: LinkedIssues> LinkedIssues for RecordingIssues<'_, L> {
    async fn find(&self, identifier: &str) -> Result<Option<TrackedIssue>, PortError> {
        self.real.find(identifier).await
    }

    async fn close_as_audited(&self, issue: &TrackedIssue) -> Result<(), PortError> {
        self.would.record(WouldDo {
            service: "linear",
            action: "close issue as audited",
            target: issue.identifier.clone(),
            content: json!({"url": issue.url}),
        });
        Ok(())
    }

    async fn comment_once(
        &self,
        issue: &TrackedIssue,
        comment_id: &str,
        body: &str,
    ) -> Result<(), PortError> {
        self.would.record(WouldDo {
            service: "linear",
            action: "add comment",
            target: issue.identifier.clone(),
            content: json!({"id": comment_id, "body": body}),
        });
        Ok(())
    }
}

/// Records the evidence row it would append to `page_id`.
pub struct RecordingPage<'a> {
    pub page_id: String,
    pub would: &'a WouldDoLog,
}

impl EvidencePage for RecordingPage<'_> {
    async fn append(&self, row: &AuditRow) -> Result<(String, bool), PortError> {
        self.would.record(WouldDo {
            service: "confluence",
            action: "append evidence row",
            target: self.page_id.clone(),
            content: serde_json::to_value(row).expect("rows serialise"),
        });
        Ok((self.page_id.clone(), false))
    }
}

/// Records each confirmation or alert it would post.
pub struct RecordingChat<'a> {
    pub would: &'a WouldDoLog,
}

impl AuditChat for RecordingChat<'_> {
    async fn post(&self, channel: &str, message: &ChatMessage) -> Result<(), PortError> {
        self.would.record(WouldDo {
            service: "slack",
            action: "post message",
            target: channel.to_owned(),
            content: json!({"text": message.text, "blocks": message.blocks}),
        });
        Ok(())
    }
}
