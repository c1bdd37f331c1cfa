//! The audit's ports on the real services: GitLab gives the evidence, Linear closes the issues,
//! Slack takes the confirmation, Confluence keeps the evidence row ([`ConfluenceEvidence`]).

mod confluence;

use std::collections::HashMap;
use std::sync::Mutex;

pub use confluence::ConfluenceEvidence;

use super::event::MergeEvent;
use super::facts::{MergeFacts, Person};
use super::ports::{AuditChat, ChatMessage, Fetched, LinkedIssues, MergeSource, TrackedIssue};
use crate::connectors::gitlab::{GitLabClient, GitLabUser, MergeRequest};
use crate::connectors::linear::{LinearClient, LinearIssue};
use crate::ports::PortError;
use crate::slack::client::SlackClient;

fn person(u: &GitLabUser) -> Person {
    Person {
        id: u.id,
        username: u.username.clone(),
        name: u.name.clone(),
    }
}

/// `group/project!12` and `group/project` as GitLab's API names the MR: `references.full`, else
/// the path of its `web_url` (`…/group/project/-/merge_requests/12`). Never the delivery's
/// `project.path_with_namespace`, which whoever holds the webhook token can write.
fn api_reference(mr: &MergeRequest) -> Option<(String, String)> {
    let full = mr.reference.clone().or_else(|| {
        let url = reqwest::Url::parse(&mr.web_url).ok()?;
        let (path, _) = url
            .path()
            .trim_matches('/')
            .split_once("/-/merge_requests/")?;
        Some(format!("{path}!{}", mr.iid))
    })?;
    let (path, iid) = full.rsplit_once('!')?;
    (iid == mr.iid.to_string() && !path.is_empty()).then(|| (full.clone(), path.to_owned()))
}

impl MergeSource for GitLabClient {
    async fn facts(&self, event: &MergeEvent) -> Result<Fetched, PortError> {
        let mr = self
            .merge_request(event.project_id, event.iid)
            .await
            .map_err(PortError::from)?;
        // The webhook says "merge"; GitLab itself must agree before anything is stamped.
        if mr.state != "merged" {
            return Ok(Fetched::NotMerged { state: mr.state });
        }
        let (reference, project_path) = api_reference(&mr).ok_or_else(|| {
            PortError::transient(
                "gitlab",
                format!(
                    "merge request !{} of project {} has no usable reference",
                    event.iid, event.project_id
                ),
            )
        })?;
        let approvals = self
            .approvals(event.project_id, event.iid)
            .await
            .map_err(PortError::from)?;
        Ok(Fetched::Merged(Box::new(MergeFacts {
            reference,
            title: mr.title,
            description: mr.description.unwrap_or_default(),
            source_branch: mr.source_branch,
            web_url: mr.web_url,
            project_path,
            labels: mr.labels,
            author: person(&mr.author),
            merged_by: mr.merged_by.as_ref().map(person),
            // Older GitLab leaves merged_at out: the delivery's time stands in (and keeps the
            // continuation page's quarter stable across retries).
            merged_at: mr.merged_at.or_else(|| {
                event
                    .updated_at
                    .as_deref()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&chrono::Utc))
            }),
            reviewers: mr.reviewers.iter().map(person).collect(),
            approvers: approvals.approved_by.iter().map(person).collect(),
            approvals_required: approvals.approvals_required,
            approvals_left: approvals.approvals_left,
        })))
    }
}

/// Linear, with the issues found kept for the close that follows.
pub struct LinearAudit {
    pub client: LinearClient,
    /// The label added to audited issues.
    pub label: String,
    found: Mutex<HashMap<String, LinearIssue>>,
}

impl LinearAudit {
    pub fn new(client: LinearClient, label: impl Into<String>) -> Self {
        Self {
            client,
            label: label.into(),
            found: Mutex::new(HashMap::new()),
        }
    }

    fn remembered(&self, id: &str) -> Option<LinearIssue> {
        self.found
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }
}

impl LinkedIssues for LinearAudit {
    async fn find(&self, identifier: &str) -> Result<Option<TrackedIssue>, PortError> {
        let Some(issue) = self
            .client
            .issue_by_identifier(identifier)
            .await
            .map_err(PortError::from)?
        else {
            return Ok(None);
        };
        let tracked = TrackedIssue {
            id: issue.id.clone(),
            identifier: issue.identifier.clone(),
            url: issue.url.clone(),
            team_id: issue.team_id.clone(),
            branch_name: issue.branch_name.clone(),
            attachments: issue.attachments.clone(),
        };
        self.found
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(issue.id.clone(), issue);
        Ok(Some(tracked))
    }

    async fn close_as_audited(&self, issue: &TrackedIssue) -> Result<(), PortError> {
        let linear = match self.remembered(&issue.id) {
            Some(found) => found,
            None => self
                .client
                .issue_by_identifier(&issue.identifier)
                .await
                .map_err(PortError::from)?
                .ok_or_else(|| {
                    PortError::transient("linear", format!("{} disappeared", issue.identifier))
                })?,
        };
        let state = self
            .client
            .completed_state(&issue.team_id)
            .await
            .map_err(PortError::from)?;
        let label = self
            .client
            .label_id(&self.label, Some(&issue.team_id))
            .await
            .map_err(PortError::from)?;
        self.client
            .close_as_audited(&linear, &state, &label)
            .await
            .map_err(PortError::from)
    }

    async fn comment_once(
        &self,
        issue: &TrackedIssue,
        comment_id: &str,
        body: &str,
    ) -> Result<(), PortError> {
        self.client
            .comment_once(&issue.id, comment_id, body)
            .await
            .map_err(PortError::from)
    }
}

impl AuditChat for SlackClient {
    async fn post(&self, channel: &str, message: &ChatMessage) -> Result<(), PortError> {
        self.post_message(channel, &message.text, &message.blocks)
            .await
            .map(drop)
            .map_err(PortError::from)
    }
}
