//! A GitLab "Merge Request Hook" delivery as the audit needs it: which MR, what happened, its
//! labels and the text that may name Linear issues. Parsed leniently (GitLab adds fields across
//! versions) but never guessed: a delivery without a project id or MR iid is refused.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `X-Gitlab-Event` value of merge request deliveries.
pub const MERGE_REQUEST_HOOK: &str = "Merge Request Hook";

/// The facts of one merge request event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeEvent {
    /// The project the MR belongs to (`project.id`): the one the REST API is asked about.
    pub project_id: u64,
    pub project_path: String,
    pub iid: u64,
    pub title: String,
    pub description: String,
    pub source_branch: String,
    pub target_branch: String,
    pub url: String,
    /// `open`, `update`, `merge`, …
    pub action: String,
    /// `opened`, `merged`, …
    pub state: String,
    pub labels: Vec<String>,
    /// The labels before this delivery's change, when it changed them (`changes.labels`).
    #[serde(default)]
    pub labels_before: Option<Vec<String>>,
    /// Who acted (for a merge: who merged), as the delivery says.
    pub actor: Option<String>,
    pub updated_at: Option<String>,
}

impl MergeEvent {
    /// `group/project!12`, how GitLab itself refers to an MR.
    pub fn reference(&self) -> String {
        format!("{}!{}", self.project_path, self.iid)
    }

    /// The key a merge is known by: one per MR (an MR merges once).
    pub fn merge_key(&self) -> String {
        format!("{}:{}", self.project_id, self.iid)
    }

    pub fn is_merge(&self) -> bool {
        self.action == "merge"
    }

    /// An edit of an MR that is already merged: a label added after the merge arrives so.
    pub fn is_update_of_merged(&self) -> bool {
        self.action == "update" && self.state == "merged"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("not a merge request event: object_kind is {0:?}")]
    WrongKind(String),
    #[error("the merge request event has no {0}")]
    Missing(&'static str),
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn label_titles(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["title"].as_str().or_else(|| l.as_str()))
        .map(str::to_owned)
        .collect()
}

/// Parse a delivery body (call it only after the token was checked).
pub fn parse_merge_event(body: &[u8]) -> Result<MergeEvent, EventError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        // Position only: the body is untrusted and may be large.
        EventError::NotJson(format!(
            "invalid JSON at line {} column {}",
            e.line(),
            e.column()
        ))
    })?;
    let kind = v["object_kind"].as_str().unwrap_or_default();
    if kind != "merge_request" {
        return Err(EventError::WrongKind(kind.to_owned()));
    }
    let attrs = &v["object_attributes"];
    let project_id = v["project"]["id"]
        .as_u64()
        .or_else(|| attrs["target_project_id"].as_u64())
        .ok_or(EventError::Missing("project.id"))?;
    let iid = attrs["iid"]
        .as_u64()
        .ok_or(EventError::Missing("object_attributes.iid"))?;
    let mut labels = label_titles(&attrs["labels"]);
    if labels.is_empty() {
        labels = label_titles(&v["labels"]);
    }
    Ok(MergeEvent {
        project_id,
        project_path: v["project"]["path_with_namespace"]
            .as_str()
            .map_or_else(|| project_id.to_string(), str::to_owned),
        iid,
        title: text(&attrs["title"]),
        description: text(&attrs["description"]),
        source_branch: text(&attrs["source_branch"]),
        target_branch: text(&attrs["target_branch"]),
        url: text(&attrs["url"]),
        action: text(&attrs["action"]),
        state: text(&attrs["state"]),
        labels,
        labels_before: v["changes"]["labels"]["previous"]
            .is_array()
            .then(|| label_titles(&v["changes"]["labels"]["previous"])),
        actor: v["user"]["username"].as_str().map(str::to_owned),
        updated_at: attrs["updated_at"].as_str().map(str::to_owned),
    })
}

/// A label pattern such as `security::*`: `*` matches any run of characters; case-insensitive
/// (GitLab label titles are case-sensitive, but nobody means `Security::` to be different).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelPattern(String);

impl LabelPattern {
    pub fn new(pattern: &str) -> Result<Self, String> {
        let p = pattern.trim();
        if p.is_empty() || p == "*" {
            return Err(format!(
                "{pattern:?} would match every label; name the label family, e.g. security::*"
            ));
        }
        Ok(Self(p.to_lowercase()))
    }

    pub fn matches(&self, label: &str) -> bool {
        glob(self.0.as_bytes(), label.to_lowercase().as_bytes())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `*`-only glob matching, iterative with backtracking to the last star.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCS_EXAMPLE: &str =
        include_str!("../../../infra/events/gitlab-merge-request-docs-example.json");

    #[test]
    fn the_documentation_example_parses() {
        let e = parse_merge_event(DOCS_EXAMPLE.as_bytes()).unwrap();
        assert_eq!((e.project_id, e.iid), (1, 1));
        assert_eq!(e.project_path, "gitlabhq/gitlab-test");
        assert_eq!(e.reference(), "gitlabhq/gitlab-test!1");
        assert_eq!(e.action, "open");
        assert_eq!(e.labels, ["API"]);
        assert_eq!(e.source_branch, "ms-viewport");
        assert_eq!(e.actor.as_deref(), Some("root"));
        assert_eq!(e.labels_before, Some(vec!["API".to_owned()]));
        assert!(!e.is_merge() && !e.is_update_of_merged());
    }

    #[test]
    fn bodies_that_are_not_merge_events_are_named() {
        assert!(matches!(
            parse_merge_event(b"{not json"),
            Err(EventError::NotJson(_))
        ));
        assert_eq!(
            parse_merge_event(br#"{"object_kind":"push"}"#),
            Err(EventError::WrongKind("push".into()))
        );
        assert_eq!(
            parse_merge_event(
                br#"{"object_kind":"merge_request","project":{"id":3},"object_attributes":{}}"#
            ),
            Err(EventError::Missing("object_attributes.iid"))
        );
    }

    #[test]
    fn label_patterns_glob_case_insensitively() {
        let p = LabelPattern::new("security::*").unwrap();
        for yes in ["security::review", "Security::Crypto", "security::"] {
            assert!(p.matches(yes), "{yes}");
        }
        for no in ["security", "insecurity::x", "team::security::x", "sec::x"] {
            assert!(!p.matches(no), "{no}");
        }
        let mid = LabelPattern::new("*::security").unwrap();
        assert!(mid.matches("team::security") && !mid.matches("team::security::x"));
        assert!(LabelPattern::new("*").is_err() && LabelPattern::new(" ").is_err());
    }
}
