//! The Slack interactivity endpoint (one URL for every button of the project): verify the
//! signature on the raw bytes before parsing anything, refuse other workspaces, route each
//! click to the workflow it belongs to (the privileged review's decisions, the rotation
//! chaser's confirmations and snoozes), answer within Slack's 3 seconds, and hand slow
//! follow-up work to the event bus. It sits above the workflows: none of them imports it.

mod enabled;
mod runtime;

pub use enabled::{RouterSettings, RouterWorkflows};
pub use runtime::{ACK_BUDGET, InteractionsRuntime};

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::connectors::eventbridge::{BusEvent, EventPublisher};
use crate::review::decision::{
    Click, ClickOutcome, Directory, REVIEW_DECIDED, REVIEW_SOURCE, ReviewAction, ReviewerPolicy,
    handle_click,
};
use crate::review::store::{ReviewStatus, ReviewStore};
use crate::rotation::clicks::{self, ClickReply, RotationClicks};
use crate::rotation::ports::RotationSlack;
use crate::secrets::{Credentials, REJECTION_REFRESH_MIN_AGE, SecretStore};
use crate::slack::interaction::{self, BlockAction, ClickReplies, Interaction};
use crate::slack::signature;
use crate::slack::workspace::WorkspaceSource;

/// An HTTP answer for API Gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    /// What the request came to (the summary line and the metrics say it).
    pub handled: Handled,
}

/// What one request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Unsigned, badly signed or unreadable: nothing was done.
    Refused,
    /// Signed, but nothing here handles it.
    Ignored,
    /// A button of a workflow this deployment does not run: the clicker was told.
    NotEnabled,
    DecisionRecorded,
    /// A decision click that recorded nothing: not an allowed reviewer, already decided, or an
    /// unknown review.
    DecisionRefused,
    DecisionFailed,
    /// A rotation confirmation or snooze recorded.
    RotationRecorded,
    /// The snooze form opened (the snooze itself comes with the form).
    RotationFormOpened,
    RotationRefused,
    RotationFailed,
    /// Ours to answer, before any routing, and we could not.
    Failed,
}

impl Handled {
    pub fn as_str(self) -> &'static str {
        match self {
            Handled::Refused => "refused",
            Handled::Ignored => "ignored",
            Handled::NotEnabled => "not_enabled",
            Handled::DecisionRecorded => "decision_recorded",
            Handled::DecisionRefused => "decision_refused",
            Handled::DecisionFailed => "decision_failed",
            Handled::RotationRecorded => "rotation_recorded",
            Handled::RotationFormOpened => "rotation_form_opened",
            Handled::RotationRefused => "rotation_refused",
            Handled::RotationFailed => "rotation_failed",
            Handled::Failed => "failed",
        }
    }
}

const TEXT: &str = "text/plain; charset=utf-8";

impl Reply {
    fn ok(handled: Handled) -> Self {
        Reply {
            status: 200,
            content_type: TEXT,
            body: String::new(),
            handled,
        }
    }

    fn error(status: u16, message: &str, handled: Handled) -> Self {
        Reply {
            status,
            content_type: TEXT,
            body: message.to_owned(),
            handled,
        }
    }

    /// Keep a modal open with errors shown next to its fields.
    fn form_errors(errors: &serde_json::Value) -> Self {
        Reply {
            status: 200,
            content_type: "application/json",
            body: json!({"response_action": "errors", "errors": errors}).to_string(),
            handled: Handled::RotationRefused,
        }
    }

    /// The reply for a request that failed before it reached any workflow.
    pub fn internal_error() -> Self {
        Reply::error(500, "internal error", Handled::Failed)
    }
}

/// The request's EMF line, under the workflow it belongs to: decisions count for the
/// privileged review, confirmations and snoozes for the rotation chaser, the rest for the
/// endpoint itself. Every metric of the group is present (0 or 1), so sums are right.
pub fn emf(namespace: &str, handled: Handled) -> serde_json::Value {
    use crate::telemetry::{Metric, emf_line};
    let is = |h: Handled| u64::from(handled == h);
    match handled {
        Handled::DecisionRecorded | Handled::DecisionRefused | Handled::DecisionFailed => emf_line(
            namespace,
            crate::review::workflow::WORKFLOW,
            &[
                Metric::count("DecisionsRecorded", is(Handled::DecisionRecorded)),
                Metric::count("DecisionsRefused", is(Handled::DecisionRefused)),
                Metric::count("DecisionFailures", is(Handled::DecisionFailed)),
            ],
            &[],
        ),
        Handled::RotationRecorded
        | Handled::RotationFormOpened
        | Handled::RotationRefused
        | Handled::RotationFailed => emf_line(
            namespace,
            crate::rotation::workflow::WORKFLOW,
            &[
                Metric::count("ClicksRecorded", is(Handled::RotationRecorded)),
                Metric::count("ClicksRefused", is(Handled::RotationRefused)),
                Metric::count("ClickFailures", is(Handled::RotationFailed)),
            ],
            &[],
        ),
        Handled::Refused | Handled::Ignored | Handled::NotEnabled | Handled::Failed => emf_line(
            namespace,
            "slack-interactions",
            &[
                Metric::count("RequestsRefused", is(Handled::Refused)),
                Metric::count("RequestsIgnored", is(Handled::Ignored)),
                Metric::count("RequestsForDisabledWorkflows", is(Handled::NotEnabled)),
                Metric::count("RequestFailures", is(Handled::Failed)),
            ],
            &[],
        ),
    }
}

/// The refusal a click from another workspace reads.
pub const FOREIGN_WORKSPACE: &str =
    "This button belongs to another Slack workspace's deployment; nothing was recorded.";

/// What the endpoint needs. A workflow that is not enabled here (`SLACK_ROUTER_WORKFLOWS`) is
/// `None`: its clicks are answered with [`NOT_ENABLED_REVIEW`] or [`NOT_ENABLED_ROTATION`].
pub struct InteractionDeps<'a, D, R, P, X, W> {
    pub secrets: &'a SecretStore,
    /// Our workspace: clicks from others are refused before anything is read.
    pub workspace: &'a W,
    pub replies: &'a R,
    pub review: Option<ReviewClicks<'a, D, P>>,
    pub rotation: Option<RotationClicks<'a, X>>,
}

/// What a privileged-review decision click needs.
pub struct ReviewClicks<'a, D, P> {
    pub store: &'a ReviewStore,
    pub directory: &'a D,
    /// Wakes the review worker once a decision is recorded.
    pub bus: &'a P,
    pub policy: &'a ReviewerPolicy,
    pub review_channel: &'a str,
}

/// What the clicker reads when a review button reaches a deployment without the review.
pub const NOT_ENABLED_REVIEW: &str = "The privileged-grant review is not enabled in this deployment, so this button does nothing here; nothing was recorded.";

/// What the clicker reads when a rotation button reaches a deployment without the chaser.
pub const NOT_ENABLED_ROTATION: &str = "The rotation chaser is not enabled in this deployment, so this button does nothing here; nothing was recorded.";

/// Handle one request: `timestamp` and `signature` are Slack's `X-Slack-Request-Timestamp` and
/// `X-Slack-Signature` headers; `raw_body` the exact bytes Slack sent (base64 already decoded).
#[tracing::instrument(skip_all)]
pub async fn handle_request<
    D: Directory,
    R: ClickReplies,
    P: EventPublisher,
    X: RotationSlack,
    W: WorkspaceSource,
>(
    deps: &InteractionDeps<'_, D, R, P, X, W>,
    timestamp: Option<&str>,
    signature_header: Option<&str>,
    raw_body: &[u8],
    now: DateTime<Utc>,
) -> Reply {
    let credentials = match deps.secrets.current().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the signing secrets");
            return Reply::internal_error();
        }
    };
    let verify = |credentials: &Credentials| {
        let secrets: Vec<_> = [
            credentials.slack_signing_secret.as_ref(),
            credentials.slack_signing_secret_previous.as_ref(),
        ]
        .into_iter()
        .flatten()
        .collect();
        signature::verify(
            &secrets,
            timestamp,
            signature_header,
            raw_body,
            now.timestamp(),
        )
    };
    if let Err(e) = verify(&credentials) {
        // The signing secret may just have been regenerated and put in the secret: re-read it
        // (at most once per REJECTION_REFRESH_MIN_AGE) before refusing.
        let rotated = match deps
            .secrets
            .refresh_after_rejection(REJECTION_REFRESH_MIN_AGE)
            .await
        {
            Ok(fresh) => fresh.is_some_and(|fresh| verify(&fresh).is_ok()),
            Err(e) => {
                tracing::warn!(error = %e, "could not re-read the signing secrets");
                false
            }
        };
        if !rotated {
            tracing::warn!(error = %e, "refused an unverified Slack request");
            return Reply::error(401, "invalid request signature", Handled::Refused);
        }
    }
    let parsed = interaction::parse_interaction(raw_body);
    // Only now, for a verified request: a flood of forged ones costs no Slack call.
    let Some(home) = deps.workspace.ours().await else {
        tracing::error!(
            "cannot tell which Slack workspace is ours (set SLACK_TEAM_ID); the request was refused"
        );
        return Reply::internal_error();
    };
    let action = match parsed {
        Ok(Interaction::BlockActions(a)) => {
            if !home.admits(
                a.team_id.as_deref(),
                a.user_team_id.as_deref(),
                a.enterprise_id.as_deref(),
            ) {
                return foreign(deps, a.response_url.as_deref(), a.team_id.as_deref()).await;
            }
            a
        }
        Ok(Interaction::ViewSubmission(view))
            if !home.admits(
                view.team_id.as_deref(),
                view.user_team_id.as_deref(),
                view.enterprise_id.as_deref(),
            ) =>
        {
            return foreign(deps, None, view.team_id.as_deref()).await;
        }
        Ok(Interaction::ViewSubmission(view)) => {
            return match (&deps.rotation, view.callback_id.as_str()) {
                (Some(rotation), clicks::SNOOZE_FORM) => {
                    let result = rotation.on_snooze_form(&view, &home, now).await;
                    rotation_reply(deps, None, Handled::RotationRecorded, result).await
                }
                _ => {
                    tracing::info!(callback_id = %view.callback_id, "no handler for this form; ignored");
                    Reply::ok(Handled::Ignored)
                }
            };
        }
        Err(e) => {
            tracing::warn!(error = %e, "signed request is not a block action or form submission");
            return Reply::error(
                400,
                "expected a block_actions or view_submission payload",
                Handled::Refused,
            );
        }
    };
    if clicks::is_rotation_action(&action.action.action_id) {
        return match &deps.rotation {
            Some(rotation) => {
                let result = rotation.on_action(&action, &home, now).await;
                // Acknowledging a snooze click only means its form opened.
                let acked = if action.action.action_id == crate::rotation::message::SNOOZE {
                    Handled::RotationFormOpened
                } else {
                    Handled::RotationRecorded
                };
                rotation_reply(deps, action.response_url.as_deref(), acked, result).await
            }
            None => not_enabled(deps, &action, NOT_ENABLED_ROTATION).await,
        };
    }
    match ReviewAction::from_action_id(&action.action.action_id) {
        Some(review_action) => match &deps.review {
            Some(review) => review_click(deps, review, &action, review_action, now).await,
            None => not_enabled(deps, &action, NOT_ENABLED_REVIEW).await,
        },
        None => {
            tracing::info!(action_id = %action.action.action_id, "no handler for this action; ignored");
            Reply::ok(Handled::Ignored)
        }
    }
}

/// Refuse a signed request from another workspace: the clicker reads why (through the
/// click's `response_url`, which Slack signed with the rest), nothing is read or recorded.
async fn foreign<D, R: ClickReplies, P, X, W>(
    deps: &InteractionDeps<'_, D, R, P, X, W>,
    response_url: Option<&str>,
    team_id: Option<&str>,
) -> Reply {
    tracing::warn!(
        team = %crate::text::excerpt(team_id.unwrap_or("none")),
        "refused a signed Slack request from another workspace"
    );
    if let Some(url) = response_url
        && let Err(e) = deps.replies.ephemeral(url, FOREIGN_WORKSPACE).await
    {
        tracing::warn!(error = %e, "could not tell the clicker");
    }
    Reply::error(403, FOREIGN_WORKSPACE, Handled::Refused)
}

/// A click for a workflow this deployment does not run: the clicker is told, nothing is read
/// or recorded. (A stale message from before the workflow was disabled, or a Slack app shared
/// by two deployments.)
async fn not_enabled<D, R: ClickReplies, P, X, W>(
    deps: &InteractionDeps<'_, D, R, P, X, W>,
    action: &BlockAction,
    text: &str,
) -> Reply {
    tracing::warn!(
        action_id = %crate::text::excerpt(&action.action.action_id),
        "a button of a workflow that is not enabled here was clicked (SLACK_ROUTER_WORKFLOWS); nothing was recorded"
    );
    if let Some(url) = action.response_url.as_deref()
        && let Err(e) = deps.replies.ephemeral(url, text).await
    {
        tracing::warn!(error = %e, "could not tell the clicker");
    }
    Reply::ok(Handled::NotEnabled)
}

/// Answer a rotation click or form: ephemeral notes go through the `response_url`. An
/// acknowledgement means `acked`; a note to the clicker means nothing was recorded.
async fn rotation_reply<D, R: ClickReplies, P, X, W>(
    deps: &InteractionDeps<'_, D, R, P, X, W>,
    response_url: Option<&str>,
    acked: Handled,
    result: Result<ClickReply, crate::rotation::store::RotationStoreError>,
) -> Reply {
    match result {
        Ok(ClickReply::Ack) => Reply::ok(acked),
        Ok(ClickReply::FormErrors(errors)) => Reply::form_errors(&errors),
        Ok(ClickReply::Ephemeral(text)) => {
            if let Some(url) = response_url
                && let Err(e) = deps.replies.ephemeral(url, &text).await
            {
                tracing::warn!(error = %e, "could not tell the clicker");
            }
            Reply::ok(Handled::RotationRefused)
        }
        Err(e) => {
            tracing::error!(error = %e, "recording the rotation click failed");
            Reply::error(500, "internal error", Handled::RotationFailed)
        }
    }
}

async fn review_click<D: Directory, R: ClickReplies, P: EventPublisher, X, W>(
    deps: &InteractionDeps<'_, D, R, P, X, W>,
    review: &ReviewClicks<'_, D, P>,
    action: &BlockAction,
    review_action: ReviewAction,
    now: DateTime<Utc>,
) -> Reply {
    let Some(review_id) = action
        .action
        .value
        .as_deref()
        .and_then(|v| Uuid::parse_str(v).ok())
    else {
        return Reply::error(
            400,
            "the button carries no review id",
            Handled::DecisionRefused,
        );
    };
    let click = Click {
        review_id,
        action: review_action,
        user_id: action.user_id.clone(),
        channel_id: action.channel_id.clone(),
        message_ts: action.message_ts.clone(),
    };
    let outcome = handle_click(
        review.store,
        review.directory,
        review.policy,
        review.review_channel,
        &click,
        now,
    )
    .await;
    let handled = match &outcome {
        Ok(ClickOutcome::Decided(_)) => Handled::DecisionRecorded,
        _ => Handled::DecisionRefused,
    };
    let wake = |decision: ReviewStatus| async move {
        let event = BusEvent {
            source: REVIEW_SOURCE.to_owned(),
            detail_type: REVIEW_DECIDED.to_owned(),
            detail: json!({"review_id": review_id, "decision": decision.as_str()}),
        };
        // The decision and its follow-up tasks are already recorded: if the bus is down,
        // the next scheduled run performs them.
        if let Err(e) = review.bus.publish(&[event]).await {
            tracing::warn!(error = %e, "could not wake the review worker; the scheduled run will deliver");
        }
    };
    let tell = match outcome {
        Ok(ClickOutcome::Decided(decision)) => {
            wake(decision).await;
            None
        }
        Ok(ClickOutcome::RefusedAndEscalated(why)) => {
            wake(ReviewStatus::Escalated).await;
            Some(why)
        }
        Ok(ClickOutcome::Refused(why)) => Some(why),
        Ok(ClickOutcome::AlreadyDecided(what)) => Some(what),
        Ok(ClickOutcome::UnknownReview) => Some("This review is not known here.".to_owned()),
        Err(e) => {
            tracing::error!(error = %e, "recording the decision failed");
            return Reply::error(500, "internal error", Handled::DecisionFailed);
        }
    };
    if let (Some(text), Some(url)) = (tell, action.response_url.as_deref())
        && let Err(e) = deps.replies.ephemeral(url, &text).await
    {
        tracing::warn!(error = %e, "could not tell the clicker");
    }
    Reply::ok(handled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_decision_counts_for_the_privileged_review() {
        let line = emf("SecOps/Workflows", Handled::DecisionRecorded);
        assert_eq!(line["Workflow"], "privileged-review");
        assert_eq!(line["DecisionsRecorded"], 1.0);
        assert_eq!(line["DecisionsRefused"], 0.0);
        assert_eq!(line["DecisionFailures"], 0.0);
    }

    #[test]
    fn rotation_clicks_count_for_the_rotation_chaser() {
        let line = emf("SecOps/Workflows", Handled::RotationRefused);
        assert_eq!(line["Workflow"], "rotation-chaser");
        assert_eq!(line["ClicksRefused"], 1.0);
        assert_eq!(line["ClicksRecorded"], 0.0);
        let opened = emf("SecOps/Workflows", Handled::RotationFormOpened);
        assert_eq!(
            opened["ClicksRecorded"], 0.0,
            "a form opening records nothing yet"
        );
    }

    #[test]
    fn an_unverified_request_counts_for_the_endpoint() {
        let line = emf("SecOps/Workflows", Handled::Refused);
        assert_eq!(line["Workflow"], "slack-interactions");
        assert_eq!(line["RequestsRefused"], 1.0);
        assert_eq!(line["RequestFailures"], 0.0);
    }
}
