//! A reviewer's click on a review card: who may decide what, the first decision wins, and the
//! follow-up side effects (review event, card update, webhook, escalation) are queued in the
//! same transaction as the decision.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::card;
use super::identity;
use super::risk;
use super::store::{
    CardMessage, DecideOutcome, NewTask, ReviewStatus, ReviewStore, ReviewStoreError, StoredReview,
    TaskKind,
};
use super::workflow::review_event;
use crate::ports::PortError;

/// The bus event that wakes the review worker.
pub const REVIEW_SOURCE: &str = "secops.review";
pub const REVIEW_DECIDED: &str = "ReviewDecided";

/// Who is in which Slack group, and who a Slack user is.
pub trait Directory: Send + Sync {
    fn group_members(
        &self,
        group: &str,
    ) -> impl Future<Output = Result<Vec<String>, PortError>> + Send;
    /// The user's email, if Slack knows it.
    fn email_of(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<String>, PortError>> + Send;
}

/// Who may decide.
#[derive(Debug, Clone, Default)]
pub struct ReviewerPolicy {
    /// Slack user group ids whose members may decide open reviews.
    pub reviewer_groups: Vec<String>,
    /// Slack user ids who may decide open reviews, groups aside.
    pub reviewer_allowlist: Vec<String>,
    /// Slack user group ids whose members may decide escalated reviews (when empty, the
    /// reviewers decide them too).
    pub escalation_groups: Vec<String>,
    /// Where escalated reviews are re-posted (the review channel when unset).
    pub escalation_channel: Option<String>,
    /// Whether revoke and escalate decisions are sent to the outbound webhook.
    pub webhook_enabled: bool,
    /// `REVIEW_TIMEZONE`: every time a reviewer reads (the grant's, the decision's) is in it.
    pub timezone: chrono_tz::Tz,
    /// `REVIEW_DOMAIN_ALIASES`: domains that are one organisation, for identity map look-ups.
    pub domain_aliases: identity::DomainAliases,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewAction {
    Approve,
    Revoke,
    Escalate,
}

impl ReviewAction {
    pub fn from_action_id(action_id: &str) -> Option<Self> {
        match action_id {
            card::APPROVE => Some(ReviewAction::Approve),
            card::REVOKE => Some(ReviewAction::Revoke),
            card::ESCALATE => Some(ReviewAction::Escalate),
            _ => None,
        }
    }

    fn outcome(self) -> ReviewStatus {
        match self {
            ReviewAction::Approve => ReviewStatus::Approved,
            ReviewAction::Revoke => ReviewStatus::Revoked,
            ReviewAction::Escalate => ReviewStatus::Escalated,
        }
    }

    /// The states this action may move a review out of.
    fn open_states(self) -> &'static [ReviewStatus] {
        match self {
            ReviewAction::Escalate => &[ReviewStatus::AwaitingReview],
            _ => &[ReviewStatus::AwaitingReview, ReviewStatus::Escalated],
        }
    }
}

/// A verified click on a review card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Click {
    pub review_id: Uuid,
    pub action: ReviewAction,
    pub user_id: String,
    /// The card clicked (updated after the decision).
    pub channel_id: Option<String>,
    pub message_ts: Option<String>,
}

/// What the clicker is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClickOutcome {
    Decided(ReviewStatus),
    Refused(String),
    /// Refused because the clicker could not be told apart from the people the grant
    /// concerns; the review went to the escalation group (its follow-ups are queued).
    RefusedAndEscalated(String),
    AlreadyDecided(String),
    UnknownReview,
}

#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error(transparent)]
    Store(#[from] ReviewStoreError),
}

fn in_any<'a>(user: &str, groups: impl IntoIterator<Item = &'a Vec<String>>) -> bool {
    groups
        .into_iter()
        .any(|members| members.iter().any(|m| m == user))
}

/// Why a click was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal {
    message: String,
    /// The product cannot tell whether the clicker is someone the grant concerns: beyond
    /// refusing, the review goes to the escalation group.
    cannot_tell: bool,
}

impl From<String> for Refusal {
    fn from(message: String) -> Self {
        Refusal {
            message,
            cannot_tell: false,
        }
    }
}

/// Check the clicker may take this decision on this review. Fails closed: if membership or
/// identity cannot be checked, the click is refused.
async fn authorise<D: Directory>(
    store: &ReviewStore,
    directory: &D,
    policy: &ReviewerPolicy,
    review: &StoredReview,
    click: &Click,
) -> Result<(), Refusal> {
    // The reviewer reads a short sentence; what failed goes to the log for the operator.
    let unverifiable = |e: PortError| {
        tracing::warn!(
            service = e.service,
            error = %e.message,
            user = %click.user_id,
            "could not check a reviewer's permission; the click was refused"
        );
        "Your permission could not be checked right now. Nothing was recorded; please try again in a minute.".to_owned()
    };
    // Without escalation groups configured, escalated reviews stay with the reviewers.
    let escalated =
        review.status == ReviewStatus::Escalated && !policy.escalation_groups.is_empty();
    let groups = if escalated {
        &policy.escalation_groups
    } else {
        &policy.reviewer_groups
    };
    let mut memberships = Vec::with_capacity(groups.len());
    for group in groups {
        memberships.push(
            directory
                .group_members(group)
                .await
                .map_err(|e| Refusal::from(unverifiable(e)))?,
        );
    }
    let allowed = in_any(&click.user_id, &memberships)
        || (!escalated
            && policy
                .reviewer_allowlist
                .iter()
                .any(|u| u == &click.user_id));
    if !allowed {
        return Err(Refusal::from(if escalated {
            "This review was escalated: only the escalation group can decide it.".to_owned()
        } else {
            "You are not an allowed reviewer for privileged grants.".to_owned()
        }));
    }
    // A grant that does not name its grantor or grantee (a missing field reads "unknown") cannot
    // be shown not to be the clicker's own: fail closed, and the escalation group decides. Whoever
    // can write the audit dataset could otherwise drop the field and approve their own grant.
    let unnamed = |p: &str| p.trim().is_empty() || p.trim().eq_ignore_ascii_case("unknown");
    if !escalated && (unnamed(&review.grant.grantee) || unnamed(&review.grant.grantor)) {
        return Err(Refusal {
            message: "This grant does not name its grantor or its grantee, so no reviewer can be told apart from them. Nothing was recorded as your decision; the review was sent to the escalation group.".to_owned(),
            cannot_tell: true,
        });
    }
    let email = directory
        .email_of(&click.user_id)
        .await
        .map_err(|e| Refusal::from(unverifiable(e)))?;
    // Without an email the clicker cannot be told apart from the grantor or the grantee: fail
    // closed, and the escalation group decides (decision 020).
    let Some(email) = email.filter(|e| !e.trim().is_empty()) else {
        return Err(Refusal {
            message: "Your Slack profile has no email, so you cannot be told apart from the people this grant concerns. Nothing was recorded as your decision; the review was sent to the escalation group.".to_owned(),
            cannot_tell: true,
        });
    };
    // Every identity the team's map gives the clicker (their IdP login, cloud principals).
    let mine = super::identity_map::person(
        store,
        &[click.user_id.as_str(), email.as_str()],
        &policy.domain_aliases,
    )
    .await
    .map_err(|e| {
        Refusal::from(unverifiable(PortError::transient(
            "identity map",
            e.to_string(),
        )))
    })?;
    let me = |principal: &str| {
        identity::same_person(principal, &click.user_id, Some(&email))
            || identity::any_is(principal, &mine)
    };
    if me(&review.grant.grantee) {
        return Err(Refusal::from(
            "You cannot review a grant made to you.".to_owned(),
        ));
    }
    if me(&review.grant.grantor) {
        return Err(Refusal::from(
            "You cannot review a grant you made.".to_owned(),
        ));
    }
    Ok(())
}

/// The side effects of a decision, each with its own once-only key.
///
/// `cards` are the cards already shown for the review: when an escalated review is decided,
/// every one of them (the original in the review channel, the escalation copy) is redrawn
/// with the final decision, not only the one clicked.
#[allow(clippy::too_many_arguments)]
fn follow_up(
    review: &StoredReview,
    click: &Click,
    decision: ReviewStatus,
    policy: &ReviewerPolicy,
    review_channel: &str,
    cards: &[(String, String)],
    now: DateTime<Utc>,
    cannot_tell: bool,
) -> Vec<NewTask> {
    let id = review.review_id;
    let name = decision.as_str();
    let task = |kind: TaskKind, payload| NewTask {
        review_id: id,
        kind,
        dedupe_key: format!("{id}:{kind}:{name}"),
        payload,
    };
    let note = if cannot_tell {
        format!(
            "Escalated automatically: Slack user {} clicked but could not be told apart from the grantor or grantee",
            click.user_id
        )
    } else {
        format!(
            "{} by Slack user {}",
            card::decision_label(name),
            click.user_id
        )
    };
    let event = review_event(
        id,
        &review.grant,
        &review.assessment,
        name,
        &click.user_id,
        now,
        &note,
    );
    let mut tasks = vec![task(TaskKind::AxiomEvent, event.clone())];
    let channel = click
        .channel_id
        .clone()
        .or_else(|| review.slack_channel.clone());
    let ts = click.message_ts.clone().or_else(|| review.slack_ts.clone());
    let blocks = card::decided_card(
        &review.grant,
        &review.features,
        &review.assessment,
        name,
        &click.user_id,
        &risk::reviewer_time(now, policy.timezone),
    );
    if let (Some(channel), Some(ts)) = (&channel, &ts) {
        tasks.push(task(
            TaskKind::CardUpdate,
            CardMessage {
                channel: channel.clone(),
                ts: Some(ts.clone()),
                text: note.clone(),
                blocks: blocks.clone(),
            }
            .to_payload(),
        ));
    }
    if review.status == ReviewStatus::Escalated {
        let clicked = (channel.unwrap_or_default(), ts.unwrap_or_default());
        for (other_channel, other_ts) in cards.iter().filter(|c| **c != clicked) {
            tasks.push(NewTask {
                dedupe_key: format!("{id}:card_update:{name}:{other_channel}:{other_ts}"),
                ..task(
                    TaskKind::CardUpdate,
                    CardMessage {
                        channel: other_channel.clone(),
                        ts: Some(other_ts.clone()),
                        text: note.clone(),
                        blocks: blocks.clone(),
                    }
                    .to_payload(),
                )
            });
        }
    }
    if policy.webhook_enabled && matches!(decision, ReviewStatus::Revoked | ReviewStatus::Escalated)
    {
        tasks.push(task(TaskKind::Webhook, event));
    }
    if decision == ReviewStatus::Escalated {
        let mentions: Vec<String> = policy
            .escalation_groups
            .iter()
            .map(|g| format!("<!subteam^{}>", crate::slack::blocks::slack_escape(g)))
            .collect();
        let by = if cannot_tell {
            format!(
                "Escalated automatically (<@{}> clicked but could not be told apart from the people this grant concerns)",
                crate::slack::blocks::slack_escape(&click.user_id)
            )
        } else {
            format!(
                "Escalated by <@{}>",
                crate::slack::blocks::slack_escape(&click.user_id)
            )
        };
        let text = format!(
            "{} {by}: {}",
            mentions.join(" "),
            card::card_text(&review.grant, &review.assessment)
        );
        let blocks = card::escalation_card(
            id,
            &review.grant,
            &review.features,
            &review.assessment,
            &text,
        );
        tasks.push(task(
            TaskKind::EscalationPost,
            CardMessage {
                channel: policy
                    .escalation_channel
                    .as_deref()
                    .unwrap_or(review_channel)
                    .to_owned(),
                ts: None,
                text,
                blocks,
            }
            .to_payload(),
        ));
    }
    tasks
}

/// Handle one verified click.
#[tracing::instrument(skip_all, fields(review = %click.review_id, action = ?click.action, user = %click.user_id))]
pub async fn handle_click<D: Directory>(
    store: &ReviewStore,
    directory: &D,
    policy: &ReviewerPolicy,
    review_channel: &str,
    click: &Click,
    now: DateTime<Utc>,
) -> Result<ClickOutcome, DecisionError> {
    let Some(review) = store.review(click.review_id).await? else {
        return Ok(ClickOutcome::UnknownReview);
    };
    if !click.action.open_states().contains(&review.status) {
        return Ok(ClickOutcome::AlreadyDecided(already(
            &review.decided_by,
            review.status,
        )));
    }
    if let Err(why) = authorise(store, directory, policy, &review, click).await {
        tracing::info!(why = %why.message, "click refused");
        if why.cannot_tell && review.status == ReviewStatus::AwaitingReview {
            return escalate_unresolved(store, policy, review_channel, &review, click, why, now)
                .await;
        }
        return Ok(ClickOutcome::Refused(why.message));
    }
    let decision = click.action.outcome();
    let cards = if review.status == ReviewStatus::Escalated {
        store.card_locations(review.review_id).await?
    } else {
        Vec::new()
    };
    let tasks = follow_up(
        &review,
        click,
        decision,
        policy,
        review_channel,
        &cards,
        now,
        false,
    );
    Ok(
        match store
            .decide(
                review.review_id,
                decision,
                // Only the state the click was authorised against: a review escalated (or
                // decided) in between is not decided by someone authorised for the old state.
                std::slice::from_ref(&review.status),
                &click.user_id,
                &tasks,
                now,
            )
            .await?
        {
            DecideOutcome::Decided => ClickOutcome::Decided(decision),
            DecideOutcome::AlreadyDecided { by, status } => {
                ClickOutcome::AlreadyDecided(already(&by, status))
            }
            DecideOutcome::Unknown => ClickOutcome::UnknownReview,
        },
    )
}

/// The clicker could not be told apart from the grantor or grantee: the review goes to the
/// escalation group, once (the same conditional update and once-only task keys as a manual
/// escalation, so a second such click, or a manual one, adds nothing).
async fn escalate_unresolved(
    store: &ReviewStore,
    policy: &ReviewerPolicy,
    review_channel: &str,
    review: &StoredReview,
    click: &Click,
    why: Refusal,
    now: DateTime<Utc>,
) -> Result<ClickOutcome, DecisionError> {
    let decision = ReviewStatus::Escalated;
    let tasks = follow_up(
        review,
        click,
        decision,
        policy,
        review_channel,
        &[],
        now,
        true,
    );
    let outcome = store
        .decide(
            review.review_id,
            decision,
            &[ReviewStatus::AwaitingReview],
            &click.user_id,
            &tasks,
            now,
        )
        .await?;
    tracing::warn!(
        escalated = outcome == DecideOutcome::Decided,
        "a reviewer could not be told apart from the people the grant concerns; the review goes to the escalation group"
    );
    Ok(match outcome {
        DecideOutcome::Decided => ClickOutcome::RefusedAndEscalated(why.message),
        _ => ClickOutcome::Refused(why.message),
    })
}

fn already(by: &Option<String>, status: ReviewStatus) -> String {
    match by {
        Some(user) => format!(
            "Already decided by <@{}>: {}.",
            crate::slack::blocks::slack_escape(user),
            card::decision_label(status.as_str()).to_lowercase()
        ),
        None => format!(
            "Already {}.",
            card::decision_label(status.as_str()).to_lowercase()
        ),
    }
}
