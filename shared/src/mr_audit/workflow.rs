//! The audit of one merge, step by step: fetch the evidence from GitLab and judge separation of
//! duties; decide which named Linear issues the MR resolves ([`super::resolves`]); for each of
//! those, close it as audited (or, on a violation, leave it open and say why); add the evidence row to the Confluence page; confirm in Slack (or alert the
//! security channel). Each step is recorded when it succeeds, so a retry resumes at the step
//! that failed and repeats none that succeeded.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::duties::{self, Finding};
use super::evidence::AuditRow;
use super::facts::MergeFacts;
use super::links::closing_ids;
use super::links::{Links, linked_issues};
use super::ports::{AuditChat, ChatMessage, EvidencePage, Fetched, IssueTracker, MergeSource};
use super::projects::{self, ProjectAllowlist};
use super::resolves::{self, Resolution};
use super::store::{AuditStatus, AuditStore, AuditStoreError, ClaimedAudit};
use crate::ports::PortError;
use crate::slack::blocks::escape_within;
use crate::slack::blocks::slack_escape;

/// Where each merge is announced.
#[derive(Debug, Clone, Default)]
pub struct ChannelMap {
    /// `(label pattern, channel)` in order; the first match wins.
    pub by_label: Vec<(super::event::LabelPattern, String)>,
    pub default_channel: String,
    /// Violations are also posted here (the default channel when unset).
    pub security_channel: Option<String>,
}

impl ChannelMap {
    pub fn channel_for(&self, labels: &[String]) -> &str {
        self.by_label
            .iter()
            .find(|(p, _)| labels.iter().any(|l| p.matches(l)))
            .map_or(self.default_channel.as_str(), |(_, c)| c.as_str())
    }
}

/// Settings of the audit.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// Linear team keys whose identifiers link an MR to issues (`SEC`).
    pub team_keys: Vec<String>,
    pub channels: ChannelMap,
    /// How long a worker owns an audit.
    pub lease: chrono::Duration,
    /// The GitLab projects audited (`MR_AUDIT_GITLAB_PROJECTS`); `None`: every project.
    pub projects: Option<ProjectAllowlist>,
    /// An MR resolving more issues than this closes none (`MR_AUDIT_MAX_CLOSES`).
    pub max_closes: usize,
}

/// [`AuditSettings::max_closes`] by default.
pub const DEFAULT_MAX_CLOSES: usize = 10;

pub struct AuditDeps<'a, G, L, E, C> {
    pub store: AuditStore<'a>,
    pub gitlab: &'a G,
    pub linear: &'a L,
    pub page: &'a E,
    pub chat: &'a C,
    pub settings: &'a AuditSettings,
}

/// How an audit ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AuditOutcome {
    /// Every step done.
    Done {
        reference: String,
        findings: Vec<Finding>,
        /// Every identifier the MR names (considered).
        linked: Vec<String>,
        /// Those it resolves (closed when the review stands and they are not over the cap).
        resolved: Vec<String>,
        /// Those it only mentions: left untouched.
        mentioned: Vec<String>,
        /// It resolved more than `MR_AUDIT_MAX_CLOSES`: nothing closed, security alerted.
        over_cap: bool,
        not_found: Vec<String>,
        /// Identifiers the MR named beyond the [`super::links::MAX_LINKED`] considered.
        links_ignored: usize,
    },
    /// Another worker holds it, or it is done already, or unknown.
    NotClaimed,
    /// A step failed; the audit stays pending and its next attempt starts at that step, unless
    /// it has failed [`MAX_ATTEMPTS`] times: then it is given up (`abandoned`, status `failed`,
    /// or `unmerged` when GitLab kept saying the MR is not merged: the next delivery of the MR
    /// re-opens it). A project outside `MR_AUDIT_GITLAB_PROJECTS` is given up at once.
    Failed {
        step: String,
        error: String,
        abandoned: bool,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] AuditStoreError),
}

/// Attempts before an audit that keeps failing is given up (status `failed`, an error log line
/// and the `AuditsAbandoned` metric): about a day of re-drives every 15 minutes would be 96.
pub const MAX_ATTEMPTS: i32 = 40;

/// A deterministic UUID for a comment, from the merge and the issue: the same on every retry.
pub fn comment_id(merge_key: &str, issue: &str, kind: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("mr-audit:{merge_key}:{issue}:{kind}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x40; // version 4 layout, as Linear expects a v4-shaped id
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(b).to_string()
}

fn row(
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

fn linear_comment(facts: &MergeFacts, findings: &[Finding]) -> String {
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

/// Audit one merge.
#[tracing::instrument(skip_all, fields(merge = %merge_key))]
pub async fn audit_merge<G: MergeSource, L: IssueTracker, E: EvidencePage, C: AuditChat>(
    deps: &AuditDeps<'_, G, L, E, C>,
    merge_key: &str,
    now: DateTime<Utc>,
) -> Result<AuditOutcome, AuditError> {
    let Some(claimed) = deps
        .store
        .claim(merge_key, now, deps.settings.lease)
        .await?
    else {
        return Ok(AuditOutcome::NotClaimed);
    };
    let result = match run_steps(deps, &claimed, now).await? {
        // Done only with its evidence row recorded: `complete` checks the `confluence` step.
        Ok(outcome) if deps.store.complete(merge_key, now).await? => {
            tracing::info!(?outcome, "merge audited");
            return Ok(outcome);
        }
        Ok(_) => StepFailure::retry("confluence", "no evidence row recorded"),
        Err(failure) => failure,
    };
    let StepFailure { step, error, park } = result;
    let status = match park {
        Park::Refused => AuditStatus::Failed,
        _ if claimed.attempts < MAX_ATTEMPTS => AuditStatus::Pending,
        Park::NotMerged => AuditStatus::Unmerged,
        Park::Retry => AuditStatus::Failed,
    };
    let abandoned = status != AuditStatus::Pending;
    if abandoned {
        tracing::error!(%step, %error, attempts = claimed.attempts, status = status.as_str(), "audit given up");
    } else {
        tracing::warn!(%step, %error, "audit step failed; the audit stays pending");
    }
    deps.store
        .fail(merge_key, &format!("{step}: {error}"), status, now)
        .await?;
    Ok(AuditOutcome::Failed {
        step,
        error,
        abandoned,
    })
}

/// How a failed step leaves the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Park {
    /// Retried; given up (`failed`) after [`MAX_ATTEMPTS`].
    Retry,
    /// GitLab says the MR is not merged: retried (GitLab may lag behind its own webhook), then
    /// parked as `unmerged` until the MR's next delivery.
    NotMerged,
    /// Never going to succeed until someone acts (a project outside the allowlist, a revoked
    /// token, a permission missing): given up at once, so the alarm says so now and not after
    /// [`MAX_ATTEMPTS`] retries of the same refusal.
    Refused,
}

#[derive(Debug)]
struct StepFailure {
    step: String,
    error: String,
    park: Park,
}

impl StepFailure {
    fn retry(step: &str, error: impl Into<String>) -> Self {
        Self {
            step: step.to_owned(),
            error: error.into(),
            park: Park::Retry,
        }
    }

    /// A port's failure, parked by its kind: a permanent refusal is given up at once, anything
    /// else is retried.
    fn of_port(step: &str, error: PortError) -> Self {
        let park = if error.is_permanent() {
            Park::Refused
        } else {
            Park::Retry
        };
        Self {
            park,
            ..Self::retry(step, error.to_string())
        }
    }
}

type StepResult<T> = Result<Result<T, StepFailure>, AuditError>;

async fn run_steps<G: MergeSource, L: IssueTracker, E: EvidencePage, C: AuditChat>(
    deps: &AuditDeps<'_, G, L, E, C>,
    claimed: &ClaimedAudit,
    now: DateTime<Utc>,
) -> StepResult<AuditOutcome> {
    let key = claimed.merge_key.as_str();
    let failed = |step: &str, e: PortError| Ok(Err(StepFailure::of_port(step, e)));
    let event = &claimed.event;
    // 1. The evidence, fetched once.
    let (facts, findings) = match (&claimed.facts, &claimed.findings) {
        (Some(f), Some(d)) => (f.clone(), d.clone()),
        _ => match deps.gitlab.facts(event).await {
            Ok(Fetched::NotMerged { state }) => {
                return Ok(Err(StepFailure {
                    park: Park::NotMerged,
                    ..StepFailure::retry(
                        "gitlab",
                        format!(
                            "merge request !{} of project {} is {:?} in GitLab, not merged",
                            event.iid,
                            event.project_id,
                            crate::text::excerpt(&state)
                        ),
                    )
                }));
            }
            Ok(Fetched::Merged(facts))
                if !projects::accepted(
                    deps.settings.projects.as_ref(),
                    event.project_id,
                    &facts.project_path,
                ) =>
            {
                return Ok(Err(StepFailure {
                    park: Park::Refused,
                    ..StepFailure::retry(
                        "gitlab",
                        format!(
                            "project {} ({}) is not in MR_AUDIT_GITLAB_PROJECTS",
                            event.project_id,
                            crate::text::excerpt(&facts.project_path)
                        ),
                    )
                }));
            }
            Ok(Fetched::Merged(facts)) => {
                let facts = *facts;
                let findings = duties::check(&facts);
                deps.store.record_facts(key, &facts, &findings, now).await?;
                (facts, findings)
            }
            Err(e) => return failed("gitlab", e),
        },
    };
    let links = linked_issues(
        &deps.settings.team_keys,
        &[&facts.title, &facts.description, &facts.source_branch],
    );
    if links.ignored > 0 {
        tracing::warn!(
            considered = links.ids.len(),
            ignored = links.ignored,
            "the MR names more Linear identifiers than an audit considers; the rest are left out"
        );
    }
    let linked = &links.ids;
    // 2. Which named issues the MR resolves: decided once, on the description GitLab returned,
    //    and recorded, so a retry (or a description edited since) cannot change it.
    let resolution = match claimed.steps.get("resolves") {
        Some(detail) => serde_json::from_value::<Resolution>(detail.clone())
            .map_err(|e| AuditStoreError::Corrupt(e.to_string()))?,
        None => {
            let closing = closing_ids(&deps.settings.team_keys, &facts.description);
            let mut resolution = Resolution::new(&facts.description);
            for identifier in linked {
                match deps.linear.find(identifier).await {
                    Ok(Some(issue)) => match resolves::basis(&issue, &facts, &closing) {
                        Some(basis) => resolution.resolves.push((identifier.clone(), basis)),
                        None => resolution.mentioned.push(identifier.clone()),
                    },
                    Ok(None) => resolution.not_found.push(identifier.clone()),
                    Err(e) => return failed(&format!("linear:{identifier}"), e),
                }
            }
            resolution.over_cap = resolution.resolves.len() > deps.settings.max_closes;
            if resolution.over_cap {
                tracing::warn!(
                    resolves = resolution.resolves.len(),
                    cap = deps.settings.max_closes,
                    "the MR would close more Linear issues than allowed: none is closed"
                );
            }
            let detail = serde_json::to_value(&resolution)
                .map_err(|e| AuditStoreError::Corrupt(e.to_string()))?;
            deps.store.step_done(key, "resolves", &detail, now).await?;
            resolution
        }
    };
    // 3. Linear, one step per resolved issue; mentioned ones are never touched.
    let to_update = if resolution.over_cap {
        &[][..]
    } else {
        &resolution.resolves[..]
    };
    for (identifier, _) in to_update {
        let step = format!("linear:{identifier}");
        if claimed.steps.contains_key(&step) {
            continue;
        }
        let issue = match deps.linear.find(identifier).await {
            Ok(Some(issue)) => issue,
            Ok(None) => {
                deps.store
                    .step_done(key, &step, &json!({"found": false}), now)
                    .await?;
                continue;
            }
            Err(e) => return failed(&step, e),
        };
        let kind = if findings.is_empty() {
            "audited"
        } else {
            "violation"
        };
        if findings.is_empty()
            && let Err(e) = deps.linear.close_as_audited(&issue).await
        {
            return failed(&step, e);
        }
        let body = linear_comment(&facts, &findings);
        if let Err(e) = deps
            .linear
            .comment_once(&issue, &comment_id(key, identifier, kind), &body)
            .await
        {
            return failed(&step, e);
        }
        deps.store
            .step_done(
                key,
                &step,
                &json!({"found": true, "issue": issue.id, "result": kind}),
                now,
            )
            .await?;
    }
    // 4. The evidence row.
    if !claimed.steps.contains_key("confluence") {
        match deps
            .page
            .append(&row(&facts, &links, &resolution, &findings))
            .await
        {
            Ok((page, already)) => {
                deps.store
                    .step_done(
                        key,
                        "confluence",
                        &json!({"page": page, "already_there": already}),
                        now,
                    )
                    .await?;
            }
            Err(e) => return failed("confluence", e),
        }
    }
    // 5. Slack, last: a post cannot be taken back, so it goes out once everything else held.
    if !claimed.steps.contains_key("slack") {
        let channels = &deps.settings.channels;
        let message = slack_message(&facts, linked, &resolution, &findings);
        let mut targets = vec![channels.channel_for(&facts.labels).to_owned()];
        if (!findings.is_empty() || resolution.over_cap)
            && let Some(security) = &channels.security_channel
            && !targets.contains(security)
        {
            targets.push(security.clone());
        }
        for channel in &targets {
            let step = format!("slack:{channel}");
            if claimed.steps.contains_key(&step) {
                continue;
            }
            if let Err(e) = deps.chat.post(channel, &message).await {
                return failed(&step, e);
            }
            deps.store.step_done(key, &step, &Value::Null, now).await?;
        }
        deps.store
            .step_done(key, "slack", &json!({"channels": targets}), now)
            .await?;
    }
    Ok(Ok(AuditOutcome::Done {
        reference: facts.reference.clone(),
        findings,
        linked: links.ids,
        resolved: resolution.resolved_ids(),
        mentioned: resolution.mentioned,
        over_cap: resolution.over_cap,
        not_found: resolution.not_found,
        links_ignored: links.ignored,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_ids_are_stable_uuids_per_merge_issue_and_kind() {
        let a = comment_id("1:2", "SEC-1", "audited");
        assert_eq!(a, comment_id("1:2", "SEC-1", "audited"));
        assert_ne!(a, comment_id("1:2", "SEC-1", "violation"));
        assert_ne!(a, comment_id("1:3", "SEC-1", "audited"));
        let parsed = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
    }
}
