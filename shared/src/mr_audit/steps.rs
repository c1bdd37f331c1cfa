//! The audit's steps as `mr_audit_steps` records them: the key of each step (`gitlab`,
//! `resolves`, `linear:SEC-1`, `confluence`, `slack:C0…`, `slack`) and the detail kept with it.
//! Keys and details are a table contract: an audit left pending by an earlier version resumes
//! from the rows that version wrote, so neither may change.

use std::collections::HashMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One step of an audit, in the order they run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Step {
    /// The MR, its reviewers and approvals fetched from GitLab and separation of duties judged;
    /// both kept on the merge itself (`mr_audit_merges.facts`, `findings`), no detail.
    FetchApprovals,
    /// Which named Linear issues the MR resolves, decided once (a [`super::resolves::Resolution`]).
    DecideResolved,
    /// One resolved issue closed as audited, or left open with a comment ([`IssueRecord`]).
    CloseIssue { identifier: String },
    /// The evidence row on the Confluence page ([`EvidenceRecord`]).
    AppendEvidence,
    /// The confirmation or alert posted in one channel (detail `null`).
    PostTo { channel: String },
    /// Every channel posted to ([`ConfirmRecord`]).
    Confirm,
}

impl Step {
    /// The key stored in `mr_audit_steps.step`.
    pub fn key(&self) -> String {
        self.to_string()
    }

    /// The step a stored key names; `None` for a key this version does not know.
    pub fn from_key(key: &str) -> Option<Self> {
        Some(match key {
            "gitlab" => Step::FetchApprovals,
            "resolves" => Step::DecideResolved,
            "confluence" => Step::AppendEvidence,
            "slack" => Step::Confirm,
            _ => match key.split_once(':')? {
                ("linear", identifier) => Step::CloseIssue {
                    identifier: identifier.to_owned(),
                },
                ("slack", channel) => Step::PostTo {
                    channel: channel.to_owned(),
                },
                _ => return None,
            },
        })
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::FetchApprovals => f.write_str("gitlab"),
            Step::DecideResolved => f.write_str("resolves"),
            Step::CloseIssue { identifier } => write!(f, "linear:{identifier}"),
            Step::AppendEvidence => f.write_str("confluence"),
            Step::PostTo { channel } => write!(f, "slack:{channel}"),
            Step::Confirm => f.write_str("slack"),
        }
    }
}

/// What the audit did to a resolved issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueResult {
    /// Closed as audited, with a comment naming the approvers.
    Audited,
    /// Left open, with a comment saying why (separation of duties not met).
    Violation,
}

impl IssueResult {
    /// Also part of the Linear comment's id, so it may not change either.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueResult::Audited => "audited",
            IssueResult::Violation => "violation",
        }
    }
}

/// The detail of [`Step::CloseIssue`]: `{"found": false}` when Linear no longer knew the issue,
/// else `{"found": true, "issue": <Linear id>, "result": "audited" | "violation"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueRecord {
    pub found: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<IssueResult>,
}

impl IssueRecord {
    pub fn not_found() -> Self {
        Self {
            found: false,
            issue: None,
            result: None,
        }
    }

    pub fn done(issue: &str, result: IssueResult) -> Self {
        Self {
            found: true,
            issue: Some(issue.to_owned()),
            result: Some(result),
        }
    }
}

/// The detail of [`Step::AppendEvidence`]: the page the row is on, and whether a retry found it
/// there already.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRecord {
    pub page: String,
    pub already_there: bool,
}

/// The detail of [`Step::Confirm`]: the channels posted to, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmRecord {
    pub channels: Vec<String>,
}

/// The steps an audit has done, as its next attempt finds them.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    done: HashMap<Step, Value>,
}

impl Progress {
    /// From the stored `(step, detail)` rows. A key this version does not know (written by a
    /// newer one) is left out: no step of this version depends on it.
    pub fn from_rows(rows: &HashMap<String, Value>) -> Self {
        let done = rows
            .iter()
            .filter_map(|(key, detail)| Some((Step::from_key(key)?, detail.clone())))
            .collect();
        Self { done }
    }

    pub fn is_done(&self, step: &Step) -> bool {
        self.done.contains_key(step)
    }

    /// The detail recorded with `step`, if it is done.
    pub fn record<T: DeserializeOwned>(&self, step: &Step) -> Result<Option<T>, serde_json::Error> {
        self.done
            .get(step)
            .map(|detail| serde_json::from_value(detail.clone()))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Every kind of key, as earlier versions wrote them.
    const KEYS: [&str; 6] = [
        "gitlab",
        "resolves",
        "linear:SEC-123",
        "confluence",
        "slack:C0CRYPTOPOD",
        "slack",
    ];

    #[test]
    fn stored_keys_read_as_their_steps_and_write_back_unchanged() {
        let steps: Vec<Step> = KEYS.iter().map(|k| Step::from_key(k).unwrap()).collect();
        assert_eq!(
            steps,
            [
                Step::FetchApprovals,
                Step::DecideResolved,
                Step::CloseIssue {
                    identifier: "SEC-123".to_owned()
                },
                Step::AppendEvidence,
                Step::PostTo {
                    channel: "C0CRYPTOPOD".to_owned()
                },
                Step::Confirm,
            ]
        );
        let keys: Vec<String> = steps.iter().map(Step::key).collect();
        assert_eq!(keys, KEYS);
    }

    #[test]
    fn unknown_keys_name_no_step() {
        for key in ["", "github", "jira:SEC-1", "linear", "Slack"] {
            assert_eq!(Step::from_key(key), None, "{key:?}");
        }
    }

    #[test]
    fn details_keep_the_shapes_earlier_versions_wrote() {
        let written = [
            (
                serde_json::to_value(IssueRecord::not_found()).unwrap(),
                json!({"found": false}),
            ),
            (
                serde_json::to_value(IssueRecord::done("issue-1", IssueResult::Audited)).unwrap(),
                json!({"found": true, "issue": "issue-1", "result": "audited"}),
            ),
            (
                serde_json::to_value(IssueRecord::done("issue-2", IssueResult::Violation)).unwrap(),
                json!({"found": true, "issue": "issue-2", "result": "violation"}),
            ),
            (
                serde_json::to_value(EvidenceRecord {
                    page: "200".to_owned(),
                    already_there: false,
                })
                .unwrap(),
                json!({"page": "200", "already_there": false}),
            ),
            (
                serde_json::to_value(ConfirmRecord {
                    channels: vec!["C0CRYPTOPOD".to_owned(), "C0SECALERTS".to_owned()],
                })
                .unwrap(),
                json!({"channels": ["C0CRYPTOPOD", "C0SECALERTS"]}),
            ),
            (serde_json::to_value(()).unwrap(), Value::Null),
        ];
        for (ours, earlier) in written {
            assert_eq!(ours, earlier);
        }
    }

    #[test]
    fn a_progress_read_from_earlier_rows_gives_their_records_back() {
        let rows: HashMap<String, Value> = [
            ("gitlab", json!({})),
            ("linear:SEC-1", json!({"found": false})),
            (
                "linear:SEC-2",
                json!({"found": true, "issue": "issue-2", "result": "violation"}),
            ),
            ("confluence", json!({"page": "200", "already_there": true})),
            ("slack:C0CRYPTOPOD", Value::Null),
            ("a-step-of-a-newer-version", json!({})),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();

        let progress = Progress::from_rows(&rows);

        let issue = |id: &str| Step::CloseIssue {
            identifier: id.to_owned(),
        };
        assert!(progress.is_done(&Step::FetchApprovals));
        assert!(!progress.is_done(&Step::DecideResolved));
        assert_eq!(
            progress.record::<IssueRecord>(&issue("SEC-1")).unwrap(),
            Some(IssueRecord::not_found())
        );
        assert_eq!(
            progress.record::<IssueRecord>(&issue("SEC-2")).unwrap(),
            Some(IssueRecord::done("issue-2", IssueResult::Violation))
        );
        assert_eq!(
            progress
                .record::<EvidenceRecord>(&Step::AppendEvidence)
                .unwrap(),
            Some(EvidenceRecord {
                page: "200".to_owned(),
                already_there: true
            })
        );
        assert!(progress.is_done(&Step::PostTo {
            channel: "C0CRYPTOPOD".to_owned()
        }));
        assert!(!progress.is_done(&Step::Confirm));
        assert_eq!(
            progress.record::<ConfirmRecord>(&Step::Confirm).unwrap(),
            None
        );
        assert_eq!(progress.done.len(), 5, "the unknown key is left out");
    }
}
