//! What GitLab says about a merged MR, kept as the audit's evidence: who wrote it, who reviewed
//! and approved it, who merged it and when. Stored with the merge so a retry never asks again.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A GitLab user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: u64,
    pub username: String,
    pub name: String,
}

/// The merged MR, its approvals and its people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeFacts {
    pub reference: String,
    pub title: String,
    pub description: String,
    pub source_branch: String,
    pub web_url: String,
    pub project_path: String,
    pub labels: Vec<String>,
    pub author: Person,
    pub merged_by: Option<Person>,
    pub merged_at: Option<DateTime<Utc>>,
    pub reviewers: Vec<Person>,
    pub approvers: Vec<Person>,
    pub approvals_required: Option<u32>,
    pub approvals_left: Option<u32>,
}

impl MergeFacts {
    /// `@alice, @bob`, or `none`.
    pub fn usernames(people: &[Person]) -> String {
        if people.is_empty() {
            "none".to_owned()
        } else {
            people
                .iter()
                .map(|p| format!("@{}", p.username))
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}
