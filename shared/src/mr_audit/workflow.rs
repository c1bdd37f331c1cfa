//! The audit of one merge, in the workflow card's steps: fetch the MR's approvals and reviewers
//! from GitLab; judge separation of duties; close the Linear issues the MR resolves as audited
//! (or, on a violation, leave them open and say why; [`super::resolves`] decides which); append
//! the evidence row to the Confluence page; confirm in Slack (or alert the security channel).
//! Each step is recorded when it succeeds ([`super::steps`]), so a retry resumes at the step
//! that failed and repeats none that succeeded.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::duties::{self, Finding};
use super::evidence::AuditRow;
use super::facts::MergeFacts;
use super::links::{Links, closing_ids, linked_issues};
use super::ports::{AuditChat, ChatMessage, EvidencePage, Fetched, LinkedIssues, MergeSource};
use super::projects::{self, ProjectAllowlist};
use super::render;
use super::resolves::{self, Resolution};
use super::steps::{ConfirmRecord, EvidenceRecord, IssueRecord, IssueResult, Progress, Step};
use super::store::{AuditStatus, AuditStore, AuditStoreError, ClaimedAudit};
use crate::ports::PortError;

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

    /// Where an audit's message goes: the channel for the MR's labels, and for an alert the
    /// security channel too (once, when it is not that channel already).
    pub fn targets(&self, labels: &[String], alert: bool) -> Vec<String> {
        let mut targets = vec![self.channel_for(labels).to_owned()];
        if alert
            && let Some(security) = &self.security_channel
            && !targets.contains(security)
        {
            targets.push(security.clone());
        }
        targets
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

/// Audit one merge: claim it, run the steps an earlier attempt has not done, then mark it done,
/// or record the step that failed.
#[tracing::instrument(skip_all, fields(merge = %merge_key))]
pub async fn audit_merge<G: MergeSource, L: LinkedIssues, E: EvidencePage, C: AuditChat>(
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
    let attempt = Attempt {
        deps,
        done: Progress::from_rows(&claimed.steps),
        claimed: &claimed,
        now,
    };
    let steps = async {
        let facts = attempt.fetch_approvals_and_reviewers().await?;
        let findings = attempt.judge_separation_of_duties(&facts).await?;
        let links = attempt.linked_issues(&facts);
        let resolution = attempt.decide_resolved_issues(&facts, &links.ids).await?;
        let merge = AuditedMerge {
            facts,
            findings,
            links,
            resolution,
        };
        attempt.close_linear_issues_as_audited(&merge).await?;
        attempt.append_evidence_row(&merge).await?;
        attempt.confirm_in_slack(&merge).await?;
        Ok(merge.outcome())
    };
    attempt.conclude(steps.await).await
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

/// A step that failed, and how that leaves the audit.
#[derive(Debug)]
struct StepFailure {
    step: Step,
    error: String,
    park: Park,
}

impl StepFailure {
    fn new(step: &Step, park: Park, error: impl Into<String>) -> Self {
        Self {
            step: step.clone(),
            error: error.into(),
            park,
        }
    }

    /// A port's failure, parked by its kind: a permanent refusal is given up at once, anything
    /// else is retried.
    fn of_port(step: &Step, error: PortError) -> Self {
        let park = if error.is_permanent() {
            Park::Refused
        } else {
            Park::Retry
        };
        Self::new(step, park, error.to_string())
    }
}

/// Why the steps stopped short of the end.
#[derive(Debug)]
enum Stop {
    /// A step failed: recorded on the audit, which is retried or given up.
    Failed(StepFailure),
    /// The store failed: nothing more can be recorded, so the invocation fails.
    Store(AuditStoreError),
}

impl From<StepFailure> for Stop {
    fn from(failure: StepFailure) -> Self {
        Stop::Failed(failure)
    }
}

impl From<AuditStoreError> for Stop {
    fn from(e: AuditStoreError) -> Self {
        Stop::Store(e)
    }
}

/// The merge as the audit judged it: GitLab's facts, the verdict on them, the Linear issues the
/// MR names and those it resolves.
struct AuditedMerge {
    facts: MergeFacts,
    findings: Vec<Finding>,
    links: Links,
    resolution: Resolution,
}

impl AuditedMerge {
    /// A violation, or more issues resolved than may be closed: the security channel hears of it.
    fn alerts_security(&self) -> bool {
        !self.findings.is_empty() || self.resolution.over_cap
    }

    fn evidence_row(&self) -> AuditRow {
        render::evidence_row(&self.facts, &self.links, &self.resolution, &self.findings)
    }

    fn slack_message(&self) -> ChatMessage {
        let linked = &self.links.ids;
        render::slack_message(&self.facts, linked, &self.resolution, &self.findings)
    }

    fn outcome(self) -> AuditOutcome {
        AuditOutcome::Done {
            reference: self.facts.reference,
            findings: self.findings,
            linked: self.links.ids,
            resolved: self.resolution.resolved_ids(),
            mentioned: self.resolution.mentioned,
            over_cap: self.resolution.over_cap,
            not_found: self.resolution.not_found,
            links_ignored: self.links.ignored,
        }
    }
}

/// One attempt at a claimed audit: what it works with, and the steps earlier attempts did.
struct Attempt<'a, 'd, G, L, E, C> {
    deps: &'a AuditDeps<'d, G, L, E, C>,
    claimed: &'a ClaimedAudit,
    done: Progress,
    now: DateTime<Utc>,
}

impl<G: MergeSource, L: LinkedIssues, E: EvidencePage, C: AuditChat> Attempt<'_, '_, G, L, E, C> {
    fn merge_key(&self) -> &str {
        &self.claimed.merge_key
    }

    async fn record(&self, step: &Step, detail: &impl Serialize) -> Result<(), AuditStoreError> {
        let key = self.merge_key();
        self.deps.store.step_done(key, step, detail, self.now).await
    }

    /// GitLab's answer and the verdict an earlier attempt recorded: every retry audits the same
    /// evidence, and asks GitLab no more.
    fn recorded_evidence(&self) -> Option<(&MergeFacts, &Vec<Finding>)> {
        self.claimed
            .facts
            .as_ref()
            .zip(self.claimed.findings.as_ref())
    }

    /// The MR, its reviewers and its approvals, as GitLab's API reports them (never as the
    /// delivery says): only a merged MR of an audited project goes on.
    async fn fetch_approvals_and_reviewers(&self) -> Result<MergeFacts, Stop> {
        if let Some((facts, _)) = self.recorded_evidence() {
            return Ok(facts.clone());
        }
        let step = Step::FetchApprovals;
        let event = &self.claimed.event;
        let fetched = self.deps.gitlab.facts(event).await;
        let facts = match fetched.map_err(|e| StepFailure::of_port(&step, e))? {
            Fetched::Merged(facts) => *facts,
            Fetched::NotMerged { state } => {
                let error = format!(
                    "merge request !{} of project {} is {:?} in GitLab, not merged",
                    event.iid,
                    event.project_id,
                    crate::text::excerpt(&state)
                );
                return Err(StepFailure::new(&step, Park::NotMerged, error).into());
            }
        };
        let allowlist = self.deps.settings.projects.as_ref();
        if !projects::accepted(allowlist, event.project_id, &facts.project_path) {
            let error = format!(
                "project {} ({}) is not in MR_AUDIT_GITLAB_PROJECTS",
                event.project_id,
                crate::text::excerpt(&facts.project_path)
            );
            return Err(StepFailure::new(&step, Park::Refused, error).into());
        }
        Ok(facts)
    }

    /// Separation of duties, judged on the facts; both recorded at once (the `gitlab` step).
    async fn judge_separation_of_duties(&self, facts: &MergeFacts) -> Result<Vec<Finding>, Stop> {
        if let Some((_, findings)) = self.recorded_evidence() {
            return Ok(findings.clone());
        }
        let findings = duties::check(facts);
        let key = self.merge_key();
        self.deps
            .store
            .record_facts(key, facts, &findings, self.now)
            .await?;
        Ok(findings)
    }

    /// The Linear identifiers the MR names in its title, description or branch.
    fn linked_issues(&self, facts: &MergeFacts) -> Links {
        let links = linked_issues(
            &self.deps.settings.team_keys,
            &[&facts.title, &facts.description, &facts.source_branch],
        );
        if links.ignored > 0 {
            tracing::warn!(
                considered = links.ids.len(),
                ignored = links.ignored,
                "the MR names more Linear identifiers than an audit considers; the rest are left out"
            );
        }
        links
    }

    /// Which of the named issues the MR resolves: decided once, on the description GitLab
    /// returned, and recorded, so a retry (or a description edited since) cannot change it.
    async fn decide_resolved_issues(
        &self,
        facts: &MergeFacts,
        linked: &[String],
    ) -> Result<Resolution, Stop> {
        let step = Step::DecideResolved;
        let recorded = self.done.record(&step);
        if let Some(resolution) = recorded.map_err(|e| AuditStoreError::Corrupt(e.to_string()))? {
            return Ok(resolution);
        }
        let closing = closing_ids(&self.deps.settings.team_keys, &facts.description);
        let mut resolution = Resolution::new(&facts.description);
        for identifier in linked {
            // A lookup that fails is reported as the issue's own step (`linear:SEC-1`).
            let found = self.deps.linear.find(identifier).await.map_err(|e| {
                let step = Step::CloseIssue {
                    identifier: identifier.clone(),
                };
                StepFailure::of_port(&step, e)
            })?;
            match found {
                Some(issue) => match resolves::basis(&issue, facts, &closing) {
                    Some(basis) => resolution.resolves.push((identifier.clone(), basis)),
                    None => resolution.mentioned.push(identifier.clone()),
                },
                None => resolution.not_found.push(identifier.clone()),
            }
        }
        resolution.over_cap = resolution.resolves.len() > self.deps.settings.max_closes;
        if resolution.over_cap {
            tracing::warn!(
                resolves = resolution.resolves.len(),
                cap = self.deps.settings.max_closes,
                "the MR would close more Linear issues than allowed: none is closed"
            );
        }
        self.record(&step, &resolution).await?;
        Ok(resolution)
    }

    /// Each resolved issue, one step apiece; over the cap none, and mentioned ones never.
    async fn close_linear_issues_as_audited(&self, merge: &AuditedMerge) -> Result<(), Stop> {
        if merge.resolution.over_cap {
            return Ok(());
        }
        for (identifier, _) in &merge.resolution.resolves {
            let step = Step::CloseIssue {
                identifier: identifier.clone(),
            };
            if !self.done.is_done(&step) {
                self.close_issue(merge, identifier, &step).await?;
            }
        }
        Ok(())
    }

    /// Closed as audited with a comment naming the approvers; on a violation left open, with a
    /// comment saying why. An issue Linear no longer knows is recorded as not found.
    async fn close_issue(
        &self,
        merge: &AuditedMerge,
        identifier: &str,
        step: &Step,
    ) -> Result<(), Stop> {
        let linear = self.deps.linear;
        let failed = |e: PortError| StepFailure::of_port(step, e);
        let Some(issue) = linear.find(identifier).await.map_err(failed)? else {
            self.record(step, &IssueRecord::not_found()).await?;
            return Ok(());
        };
        let result = if merge.findings.is_empty() {
            IssueResult::Audited
        } else {
            IssueResult::Violation
        };
        if result == IssueResult::Audited {
            linear.close_as_audited(&issue).await.map_err(failed)?;
        }
        let id = comment_id(self.merge_key(), identifier, result.as_str());
        let body = render::linear_comment(&merge.facts, &merge.findings);
        linear
            .comment_once(&issue, &id, &body)
            .await
            .map_err(failed)?;
        self.record(step, &IssueRecord::done(&issue.id, result))
            .await?;
        Ok(())
    }

    /// The evidence row on the Confluence page (found there, not added twice, on a retry).
    async fn append_evidence_row(&self, merge: &AuditedMerge) -> Result<(), Stop> {
        let step = Step::AppendEvidence;
        if self.done.is_done(&step) {
            return Ok(());
        }
        let appended = self.deps.page.append(&merge.evidence_row()).await;
        let (page, already_there) = appended.map_err(|e| StepFailure::of_port(&step, e))?;
        let record = EvidenceRecord {
            page,
            already_there,
        };
        self.record(&step, &record).await?;
        Ok(())
    }

    /// Slack, last: a post cannot be taken back, so it goes out once everything else held. Each
    /// channel is a step of its own, so a retry posts only where the message has not gone.
    async fn confirm_in_slack(&self, merge: &AuditedMerge) -> Result<(), Stop> {
        if self.done.is_done(&Step::Confirm) {
            return Ok(());
        }
        let message = merge.slack_message();
        let channels = self
            .deps
            .settings
            .channels
            .targets(&merge.facts.labels, merge.alerts_security());
        for channel in &channels {
            let step = Step::PostTo {
                channel: channel.clone(),
            };
            if self.done.is_done(&step) {
                continue;
            }
            let posted = self.deps.chat.post(channel, &message).await;
            posted.map_err(|e| StepFailure::of_port(&step, e))?;
            self.record(&step, &()).await?;
        }
        self.record(&Step::Confirm, &ConfirmRecord { channels })
            .await?;
        Ok(())
    }

    /// The attempt's end: done once every step is and the evidence row is recorded; otherwise
    /// the failed step is recorded on the audit.
    async fn conclude(
        &self,
        steps: Result<AuditOutcome, Stop>,
    ) -> Result<AuditOutcome, AuditError> {
        let key = self.merge_key();
        let failure = match steps {
            // `complete` checks that the evidence step is recorded.
            Ok(outcome) if self.deps.store.complete(key, self.now).await? => {
                tracing::info!(?outcome, "merge audited");
                return Ok(outcome);
            }
            Ok(_) => StepFailure::new(
                &Step::AppendEvidence,
                Park::Retry,
                "no evidence row recorded",
            ),
            Err(Stop::Failed(failure)) => failure,
            Err(Stop::Store(e)) => return Err(e.into()),
        };
        self.park(failure).await
    }

    /// A failed step leaves the audit pending for its next attempt, or gives it up: at once on a
    /// refusal, else after [`MAX_ATTEMPTS`].
    async fn park(&self, failure: StepFailure) -> Result<AuditOutcome, AuditError> {
        let StepFailure { step, error, park } = failure;
        let attempts = self.claimed.attempts;
        let status = match park {
            Park::Refused => AuditStatus::Failed,
            _ if attempts < MAX_ATTEMPTS => AuditStatus::Pending,
            Park::NotMerged => AuditStatus::Unmerged,
            Park::Retry => AuditStatus::Failed,
        };
        let abandoned = status != AuditStatus::Pending;
        if abandoned {
            tracing::error!(%step, %error, attempts, status = status.as_str(), "audit given up");
        } else {
            tracing::warn!(%step, %error, "audit step failed; the audit stays pending");
        }
        let last_error = format!("{step}: {error}");
        self.deps
            .store
            .fail(self.merge_key(), &last_error, status, self.now)
            .await?;
        Ok(AuditOutcome::Failed {
            step: step.key(),
            error,
            abandoned,
        })
    }
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
