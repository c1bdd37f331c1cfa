//! A reviewer's click on a review card: who may decide what, the first decision wins, and the
//! follow-up side effects (review event, card update, webhook, escalation) are queued in the
//! same transaction as the decision.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::card;
use super::identity;
use super::ports::PortError;
use super::risk;
use super::store::{
    DecideOutcome, NewTask, ReviewStatus, ReviewStore, ReviewStoreError, StoredReview, TaskKind,
};
use super::workflow::review_event;

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

/// Check the clicker may take this decision on this review. Fails closed: if membership or
/// identity cannot be checked, the click is refused.
async fn authorise<D: Directory>(
    directory: &D,
    policy: &ReviewerPolicy,
    review: &StoredReview,
    click: &Click,
) -> Result<(), String> {
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
        memberships.push(directory.group_members(group).await.map_err(unverifiable)?);
    }
    let allowed = in_any(&click.user_id, &memberships)
        || (!escalated
            && policy
                .reviewer_allowlist
                .iter()
                .any(|u| u == &click.user_id));
    if !allowed {
        return Err(if escalated {
            "This review was escalated: only the escalation group can decide it.".to_owned()
        } else {
            "You are not an allowed reviewer for privileged grants.".to_owned()
        });
    }
    let email = directory
        .email_of(&click.user_id)
        .await
        .map_err(unverifiable)?;
    // Without an email the clicker cannot be told apart from the grantor or the grantee: fail
    // closed, another reviewer decides.
    let Some(email) = email.filter(|e| !e.trim().is_empty()) else {
        return Err(
            "Your Slack profile has no email, so you cannot be told apart from the people this grant concerns; another reviewer must decide it."
                .to_owned(),
        );
    };
    let me = |principal: &str| identity::same_person(principal, &click.user_id, Some(&email));
    if me(&review.grant.grantee) {
        return Err("You cannot review a grant made to you.".to_owned());
    }
    if me(&review.grant.grantor) {
        return Err("You cannot review a grant you made.".to_owned());
    }
    Ok(())
}

/// The side effects of a decision, each with its own once-only key.
///
/// `cards` are the cards already shown for the review: when an escalated review is decided,
/// every one of them (the original in the review channel, the escalation copy) is redrawn
/// with the final decision, not only the one clicked.
fn follow_up(
    review: &StoredReview,
    click: &Click,
    decision: ReviewStatus,
    policy: &ReviewerPolicy,
    review_channel: &str,
    cards: &[(String, String)],
    now: DateTime<Utc>,
) -> Vec<NewTask> {
    let id = review.review_id;
    let name = decision.as_str();
    let task = |kind: TaskKind, payload| NewTask {
        review_id: id,
        kind,
        dedupe_key: format!("{id}:{kind}:{name}"),
        payload,
    };
    let note = format!(
        "{} by Slack user {}",
        card::decision_label(name),
        click.user_id
    );
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
            json!({"channel": channel, "ts": ts, "text": note, "blocks": blocks}),
        ));
    }
    if review.status == ReviewStatus::Escalated {
        let clicked = (channel.unwrap_or_default(), ts.unwrap_or_default());
        for (other_channel, other_ts) in cards.iter().filter(|c| **c != clicked) {
            tasks.push(NewTask {
                dedupe_key: format!("{id}:card_update:{name}:{other_channel}:{other_ts}"),
                ..task(
                    TaskKind::CardUpdate,
                    json!({"channel": other_channel, "ts": other_ts, "text": note, "blocks": blocks}),
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
            .map(|g| format!("<!subteam^{}>", card::slack_escape(g)))
            .collect();
        let text = format!(
            "{} Escalated by <@{}>: {}",
            mentions.join(" "),
            card::slack_escape(&click.user_id),
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
            json!({
                "channel": policy.escalation_channel.as_deref().unwrap_or(review_channel),
                "text": text,
                "blocks": blocks,
            }),
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
    if let Err(why) = authorise(directory, policy, &review, click).await {
        tracing::info!(%why, "click refused");
        return Ok(ClickOutcome::Refused(why));
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

fn already(by: &Option<String>, status: ReviewStatus) -> String {
    match by {
        Some(user) => format!(
            "Already decided by <@{}>: {}.",
            card::slack_escape(user),
            card::decision_label(status.as_str()).to_lowercase()
        ),
        None => format!(
            "Already {}.",
            card::decision_label(status.as_str()).to_lowercase()
        ),
    }
}
