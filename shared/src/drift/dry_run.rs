//! Dry-run sinks: record what would be filed instead of sending it. The sample dry run writes
//! each issue as JSON to an output folder; the dry run against the real services
//! ([`RecordingTracker`]) reads the real tracker and records what it would create.

use std::path::PathBuf;
use std::sync::Mutex;

use uuid::Uuid;

use super::ports::IssueTracker;
use super::render::{NewComment, NewIssue};
use super::store::FiledIssue;
use crate::connectors::llm::{JsonRequest, LlmError, StructuredLlm};
use crate::dry_run::{WouldDo, WouldDoLog};
use crate::ports::TrackerError;

/// Writes issues to `out_dir/DRY-<n>.json` and remembers them.
pub struct DryRunTracker {
    out_dir: PathBuf,
    filed: Mutex<Vec<(FiledIssue, NewIssue)>>,
}

impl DryRunTracker {
    pub fn new(out_dir: impl Into<PathBuf>) -> Self {
        Self {
            out_dir: out_dir.into(),
            filed: Mutex::new(Vec::new()),
        }
    }

    /// Issues "filed" so far, in order.
    pub fn filed(&self) -> Vec<(FiledIssue, NewIssue)> {
        self.filed.lock().expect("not poisoned").clone()
    }

    fn unavailable(&self, message: String) -> TrackerError {
        TrackerError::Unavailable {
            service: "dry-run",
            message,
        }
    }
}

impl IssueTracker for DryRunTracker {
    async fn find_issue(&self, id: Uuid) -> Result<Option<FiledIssue>, TrackerError> {
        let filed = self.filed.lock().expect("not poisoned");
        Ok(filed
            .iter()
            .find(|(f, _)| f.id == id.to_string())
            .map(|(f, _)| f.clone()))
    }

    async fn create_issue(&self, issue: &NewIssue) -> Result<FiledIssue, TrackerError> {
        std::fs::create_dir_all(&self.out_dir)
            .map_err(|e| self.unavailable(format!("{}: {e}", self.out_dir.display())))?;
        let mut filed = self.filed.lock().expect("not poisoned");
        let identifier = format!("DRY-{}", filed.len() + 1);
        let path = self.out_dir.join(format!("{identifier}.json"));
        let json = serde_json::to_vec_pretty(issue).expect("issues serialise");
        std::fs::write(&path, json)
            .map_err(|e| self.unavailable(format!("{}: {e}", path.display())))?;
        let result = FiledIssue {
            id: issue.id.to_string(),
            identifier,
            url: path.display().to_string(),
        };
        filed.push((result.clone(), issue.clone()));
        Ok(result)
    }

    /// The comments are already in the issue's JSON (`comments`), so nothing more is written.
    async fn add_comment(&self, _: &FiledIssue, _: &NewComment) -> Result<(), TrackerError> {
        Ok(())
    }
}

/// The model stand-in for runs without one: never called, since `llm: None` means template.
pub struct NoModel;

impl StructuredLlm for NoModel {
    fn model(&self) -> &str {
        "none"
    }

    async fn complete_json(&self, _: &JsonRequest<'_>) -> Result<String, LlmError> {
        Err(LlmError::Unavailable("no model configured".to_owned()))
    }
}

/// The tracker of a dry run against the real services: looks issues up in the real tracker
/// (a read), records each issue and comment it would create instead of creating it.
pub struct RecordingTracker<'a, T> {
    real: &'a T,
    would: &'a WouldDoLog,
    team: String,
    created: Mutex<Vec<FiledIssue>>,
}

impl<'a, T: IssueTracker> RecordingTracker<'a, T> {
    pub fn new(real: &'a T, team: &str, would: &'a WouldDoLog) -> Self {
        Self {
            real,
            would,
            team: team.to_owned(),
            created: Mutex::new(Vec::new()),
        }
    }
}

impl<T: IssueTracker> IssueTracker for RecordingTracker<'_, T> {
    async fn find_issue(&self, id: Uuid) -> Result<Option<FiledIssue>, TrackerError> {
        let recorded = {
            let created = self.created.lock().expect("not poisoned");
            created.iter().find(|f| f.id == id.to_string()).cloned()
        };
        match recorded {
            Some(found) => Ok(Some(found)),
            None => self.real.find_issue(id).await,
        }
    }

    async fn create_issue(&self, issue: &NewIssue) -> Result<FiledIssue, TrackerError> {
        let mut created = self.created.lock().expect("not poisoned");
        let filed = FiledIssue {
            id: issue.id.to_string(),
            identifier: format!("DRY-{}", created.len() + 1),
            url: "dry-run: not filed".to_owned(),
        };
        self.would.record(WouldDo {
            service: "linear",
            action: "create issue",
            target: self.team.clone(),
            content: serde_json::to_value(issue).expect("issues serialise"),
        });
        created.push(filed.clone());
        Ok(filed)
    }

    async fn add_comment(
        &self,
        issue: &FiledIssue,
        comment: &NewComment,
    ) -> Result<(), TrackerError> {
        self.would.record(WouldDo {
            service: "linear",
            action: "add comment",
            target: issue.identifier.clone(),
            content: serde_json::to_value(comment).expect("comments serialise"),
        });
        Ok(())
    }
}
