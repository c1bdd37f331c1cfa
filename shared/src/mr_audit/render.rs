//! What the audit writes about a merge: the evidence row for the Confluence page, the comment on
//! each resolved Linear issue, and the Slack confirmation (or, on a violation, the alert).

use serde_json::json;

use super::duties::Finding;
use super::evidence::AuditRow;
use super::facts::MergeFacts;
use super::links::Links;
use super::ports::ChatMessage;
use super::resolves::Resolution;
use crate::slack::blocks::escape_within;
use crate::slack::blocks::slack_escape;

/// The merge's row on the evidence page.
pub fn evidence_row(
    facts: &MergeFacts,
    links: &Links,
    resolution: &Resolution,
    findings: &[Finding],
) -> AuditRow {
    let state = if resolution.over_cap {
        "not closed"
    } else if findings.is_empty() {
        "closed"
    } else {
        "left open"
    };
    AuditRow {
        reference: facts.reference.clone(),
        url: facts.web_url.clone(),
        title: facts.title.clone(),
        project: facts.project_path.clone(),
        labels: facts.labels.clone(),
        author: format!("@{}", facts.author.username),
        reviewers: MergeFacts::usernames(&facts.reviewers),
        approvers: MergeFacts::usernames(&facts.approvers),
        merged_by: facts
            .merged_by
            .as_ref()
            .map_or_else(|| "unknown".to_owned(), |p| format!("@{}", p.username)),
        merged_at: facts.merged_at,
        linear: links
            .ids
            .iter()
            .map(|l| {
                if resolution.not_found.contains(l) {
                    format!("{l} (not found in Linear)")
                } else if let Some((_, basis)) = resolution.resolves.iter().find(|(id, _)| id == l)
                {
                    format!("{l} {state} ({})", basis.describe())
                } else {
                    format!("{l} mentioned")
                }
            })
            .collect(),
        linear_ignored: links.ignored,
        linear_note: if resolution.over_cap {
            Some(format!(
                "none closed: it would close {}, more than MR_AUDIT_MAX_CLOSES; {}",
                resolution.resolves.len(),
                resolution.based_on()
            ))
        } else {
            (!links.ids.is_empty()).then(|| resolution.based_on())
        },
        result: verdict(findings),
    }
}

/// The row's result cell.
fn verdict(findings: &[Finding]) -> String {
    if findings.is_empty() {
        "audited".to_owned()
    } else {
        format!(
            "VIOLATION: {}",
            findings
                .iter()
                .map(Finding::describe)
                .collect::<Vec<_>>()
                .join("; ")
        )
    }
}

/// The comment on a resolved issue: audited, or left open and why.
pub fn linear_comment(facts: &MergeFacts, findings: &[Finding]) -> String {
    let approvers = MergeFacts::usernames(&facts.approvers);
    if findings.is_empty() {
        format!(
            "Audited: [{}]({}) merged by {} with approval from {approvers}. Evidence recorded on the security review audit page.",
            facts.reference,
            facts.web_url,
            facts
                .merged_by
                .as_ref()
                .map_or("unknown".to_owned(), |p| format!("@{}", p.username)),
        )
    } else {
        format!(
            "Not audited: [{}]({}) was {}. This issue stays open; the security team has been alerted.",
            facts.reference,
            facts.web_url,
            findings
                .iter()
                .map(Finding::describe)
                .collect::<Vec<_>>()
                .join("; ")
        )
    }
}

/// The Slack message: [`slack_text`] in one verbatim section block, and a fallback that names
/// nothing from the MR (a project path such as `evil.example/x` would be linked in plain text).
pub fn slack_message(
    facts: &MergeFacts,
    linked: &[String],
    resolution: &Resolution,
    findings: &[Finding],
) -> ChatMessage {
    use crate::slack::blocks::{SECTION_TEXT, fit_mrkdwn, verbatim};
    let mrkdwn = slack_text(facts, linked, resolution, findings);
    let text = if findings.is_empty() {
        "Security MR merged and audited"
    } else {
        "Security MR merged without a valid review"
    };
    ChatMessage {
        text: text.to_owned(),
        blocks: verbatim(json!([{
            "type": "section",
            "text": {"type": "mrkdwn", "text": fit_mrkdwn(&mrkdwn, SECTION_TEXT)},
        }])),
    }
}

fn slack_text(
    facts: &MergeFacts,
    linked: &[String],
    resolution: &Resolution,
    findings: &[Finding],
) -> String {
    let link = format!(
        "<{}|{}>",
        slack_escape(&facts.web_url),
        slack_escape(&facts.reference)
    );
    let resolved = resolution.resolved_ids();
    let mut issues = Vec::new();
    if linked.is_empty() {
        issues.push("no tracking issue".to_owned());
    } else if resolution.over_cap {
        issues.push(format!(
            "{} not closed: the MR would close {}, more than allowed",
            resolved.join(", "),
            resolved.len()
        ));
    } else if !resolved.is_empty() {
        let done = if findings.is_empty() {
            " closed as audited"
        } else {
            ""
        };
        issues.push(format!("{}{done}", resolved.join(", ")));
    }
    if !resolution.mentioned.is_empty() {
        issues.push(format!(
            "mentioned only, left as they are: {}",
            resolution.mentioned.join(", ")
        ));
    }
    if !resolution.not_found.is_empty() {
        issues.push(format!(
            "not found in Linear: {}",
            resolution.not_found.join(", ")
        ));
    }
    let issues = issues.join("; ");
    if findings.is_empty() {
        format!(
            ":white_check_mark: Security MR {link} \"{}\" merged and audited: approved by {}; {issues}.",
            escape_within(&facts.title, 500),
            slack_escape(&MergeFacts::usernames(&facts.approvers)),
        )
    } else {
        format!(
            ":rotating_light: Security MR {link} \"{}\" merged *without a valid review*: {}. Linear ({issues}) was not marked audited.",
            escape_within(&facts.title, 500),
            slack_escape(
                &findings
                    .iter()
                    .map(Finding::describe)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
    }
}
