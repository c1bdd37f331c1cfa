//! Separation of duties: a security change counts as reviewed only when someone other than its
//! author and the person who merged it approved it, and no required approval was outstanding.

use serde::{Deserialize, Serialize};

use super::facts::MergeFacts;

/// Why a merge does not count as reviewed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum Finding {
    /// Merged with no approval at all.
    NoApprovals,
    /// Merged while approval rules still asked for more.
    ApprovalsStillRequired { left: u32 },
    /// Every approval came from the author or from whoever merged it.
    OnlySelfApproved { approvers: Vec<String> },
}

impl Finding {
    pub fn describe(&self) -> String {
        match self {
            Finding::NoApprovals => "merged without any approval".to_owned(),
            Finding::ApprovalsStillRequired { left } => {
                format!("merged with {left} required approval(s) still missing")
            }
            Finding::OnlySelfApproved { approvers } => format!(
                "approved only by its author or the person who merged it ({})",
                approvers.join(", ")
            ),
        }
    }
}

/// Every finding against this merge; empty means the review stands.
pub fn check(facts: &MergeFacts) -> Vec<Finding> {
    let mut findings = Vec::new();
    if facts.approvers.is_empty() {
        findings.push(Finding::NoApprovals);
    }
    if let Some(left) = facts.approvals_left.filter(|l| *l > 0) {
        findings.push(Finding::ApprovalsStillRequired { left });
    }
    let interested =
        |id: u64| id == facts.author.id || facts.merged_by.as_ref().is_some_and(|m| m.id == id);
    if !facts.approvers.is_empty() && facts.approvers.iter().all(|a| interested(a.id)) {
        findings.push(Finding::OnlySelfApproved {
            approvers: facts
                .approvers
                .iter()
                .map(|a| format!("@{}", a.username))
                .collect(),
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mr_audit::facts::Person;

    fn person(id: u64, name: &str) -> Person {
        Person {
            id,
            username: name.into(),
            name: name.into(),
        }
    }

    fn facts(approvers: &[Person], left: u32) -> MergeFacts {
        MergeFacts {
            reference: "g/p!1".into(),
            title: "t".into(),
            description: String::new(),
            source_branch: "b".into(),
            web_url: "https://gitlab.example/g/p/-/merge_requests/1".into(),
            project_path: "g/p".into(),
            labels: vec![],
            author: person(1, "alice"),
            merged_by: Some(person(2, "bob")),
            merged_at: None,
            reviewers: vec![],
            approvers: approvers.to_vec(),
            approvals_required: Some(1),
            approvals_left: Some(left),
        }
    }

    #[test]
    fn an_independent_approval_with_nothing_left_passes() {
        assert!(check(&facts(&[person(3, "carol")], 0)).is_empty());
        assert!(check(&facts(&[person(1, "alice"), person(3, "carol")], 0)).is_empty());
    }

    #[test]
    fn each_violation_is_found() {
        assert_eq!(
            check(&facts(&[], 1)),
            [
                Finding::NoApprovals,
                Finding::ApprovalsStillRequired { left: 1 }
            ]
        );
        assert_eq!(
            check(&facts(&[person(1, "alice")], 0)),
            [Finding::OnlySelfApproved {
                approvers: vec!["@alice".into()]
            }]
        );
        assert_eq!(
            check(&facts(&[person(2, "bob")], 0)),
            [Finding::OnlySelfApproved {
                approvers: vec!["@bob".into()]
            }],
            "the person who merged does not count either"
        );
        assert_eq!(
            check(&facts(&[person(3, "carol")], 1)),
            [Finding::ApprovalsStillRequired { left: 1 }]
        );
    }
}
