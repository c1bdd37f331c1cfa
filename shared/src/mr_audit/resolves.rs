//! Which of the Linear issues an MR names it really resolves (and so closes as audited): the
//! issues Linear's GitLab integration linked this MR to (an attachment with the MR's URL), the
//! ones its description closes with a magic word (`Fixes SEC-123`), and the one whose suggested
//! branch name is the MR's branch. Every other identifier is only "mentioned" and never touched.
//! The decision is made once, on the description as GitLab's API returned it at audit time,
//! and recorded with that text's hash. See docs/decisions/028-what-resolves-a-linear-issue.md.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::facts::MergeFacts;
use super::ports::TrackedIssue;

/// Why an MR resolves an issue (the first that holds, in this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Linear's GitLab integration attached this MR to the issue.
    LinearLink,
    /// The description closes it with one of Linear's magic words.
    ClosingKeyword,
    /// The MR's branch is the branch name Linear suggests for the issue.
    BranchName,
}

impl Basis {
    pub fn describe(self) -> &'static str {
        match self {
            Basis::LinearLink => "Linear's GitLab link",
            Basis::ClosingKeyword => "closing keyword",
            Basis::BranchName => "Linear branch name",
        }
    }
}

/// The decision for one merge, recorded as the `resolves` step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// Issues the MR resolves, in the order named.
    pub resolves: Vec<(String, Basis)>,
    /// Found in Linear, named by the MR, not resolved by it: left as they are.
    pub mentioned: Vec<String>,
    pub not_found: Vec<String>,
    /// More issues resolved than `MR_AUDIT_MAX_CLOSES`: none is closed, security is alerted.
    pub over_cap: bool,
    /// SHA-256 (hex) of the description the decision read, as GitLab's API returned it.
    pub description_sha256: String,
    pub description_chars: usize,
}

impl Resolution {
    pub fn new(description: &str) -> Self {
        Self {
            description_sha256: hex(&Sha256::digest(description.as_bytes())),
            description_chars: description.chars().count(),
            ..Self::default()
        }
    }

    /// The identifiers resolved.
    pub fn resolved_ids(&self) -> Vec<String> {
        self.resolves.iter().map(|(id, _)| id.clone()).collect()
    }

    /// What the evidence row says the decision was based on.
    pub fn based_on(&self) -> String {
        format!(
            "decided on the MR description as GitLab returned it at audit time ({} characters, sha256 {})",
            self.description_chars,
            &self.description_sha256[..16.min(self.description_sha256.len())]
        )
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn same_url(a: &str, b: &str) -> bool {
    !a.is_empty() && a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Whether, and why, the merge described by `facts` resolves `issue`. `closing` holds the
/// identifiers the description closes ([`super::links::closing_ids`]).
pub fn basis(
    issue: &TrackedIssue,
    facts: &MergeFacts,
    closing: &std::collections::HashSet<String>,
) -> Option<Basis> {
    let linked = issue.attachments.iter().any(|(url, source)| {
        source.eq_ignore_ascii_case("gitlab") && same_url(url, &facts.web_url)
    });
    if linked {
        Some(Basis::LinearLink)
    } else if closing.contains(&issue.identifier.to_ascii_uppercase()) {
        Some(Basis::ClosingKeyword)
    } else if !issue.branch_name.is_empty()
        && issue.branch_name.eq_ignore_ascii_case(&facts.source_branch)
    {
        Some(Basis::BranchName)
    } else {
        None
    }
}
