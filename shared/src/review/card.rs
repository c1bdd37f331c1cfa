//! The Slack review card (Block Kit) and its decided form. Event fields are untrusted: they are
//! shown as text with Slack's control characters escaped, never as markup or mentions.

use serde_json::{Value, json};
use uuid::Uuid;

use super::event::PrivilegedGrant;
use super::risk::{Assessment, Features};

/// Action ids of the card's buttons.
pub const APPROVE: &str = "review_approve";
pub const REVOKE: &str = "review_revoke";
pub const ESCALATE: &str = "review_escalate";

/// Escape `&`, `<` and `>` so Slack renders text as written: no links, mentions or broadcasts.
pub fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn flag(on: bool, label: &str) -> Option<String> {
    on.then(|| format!("*{label}*"))
}

/// The card's fallback text (notifications, screen readers).
pub fn card_text(grant: &PrivilegedGrant, assessment: &Assessment) -> String {
    format!(
        "{} risk: {} got {} on {} (granted by {})",
        assessment.level,
        slack_escape(&grant.grantee),
        slack_escape(&grant.role),
        slack_escape(&grant.target),
        slack_escape(&grant.grantor)
    )
}

fn summary_blocks(
    grant: &PrivilegedGrant,
    features: &Features,
    assessment: &Assessment,
) -> Vec<Value> {
    let flags: Vec<String> = [
        flag(features.self_grant, "self-grant"),
        flag(features.off_hours, "off-hours"),
        flag(features.break_glass_role, "break-glass"),
        flag(features.burst, "burst"),
        flag(features.first_time_role, "first time"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let reasons: String = assessment
        .reasons
        .iter()
        .map(|r| format!("• {}", slack_escape(r)))
        .collect::<Vec<_>>()
        .join("\n");
    let decided_by = match (&assessment.model, &assessment.model_problem) {
        (Some(model), _) => format!("rules + model `{}`", slack_escape(model)),
        (None, Some(problem)) => {
            format!("rules only (model unavailable: {})", slack_escape(problem))
        }
        (None, None) => "rules only".to_owned(),
    };
    vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": format!("Privileged grant review: {} risk", assessment.level)}}),
        json!({"type": "section", "fields": [
            {"type": "mrkdwn", "text": format!("*Grantee*\n{}", slack_escape(&grant.grantee))},
            {"type": "mrkdwn", "text": format!("*Role*\n{}", slack_escape(&grant.role))},
            {"type": "mrkdwn", "text": format!("*On*\n{}", slack_escape(&grant.target))},
            {"type": "mrkdwn", "text": format!("*Granted by*\n{}", slack_escape(&grant.grantor))},
            {"type": "mrkdwn", "text": format!("*When*\n{}", features.local_time)},
            {"type": "mrkdwn", "text": format!("*Flags*\n{}", if flags.is_empty() { "none".to_owned() } else { flags.join(", ") })},
        ]}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*Level {} (score {})*, assessed by {decided_by}\n{reasons}", assessment.level, assessment.score)}}),
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("History: {} · source {} · event `{}`", features.history_summary(), slack_escape(&grant.source), slack_escape(&grant.event_id))}]}),
    ]
}

/// The card awaiting a decision, with Approve / Revoke (confirmed) / Escalate.
pub fn review_card(
    review_id: Uuid,
    grant: &PrivilegedGrant,
    features: &Features,
    assessment: &Assessment,
) -> Value {
    let mut blocks = summary_blocks(grant, features, assessment);
    let value = review_id.to_string();
    blocks.push(json!({
        "type": "actions",
        "block_id": "privileged_review",
        "elements": [
            {"type": "button", "action_id": APPROVE, "value": value, "style": "primary",
             "text": {"type": "plain_text", "text": "Approve"}},
            {"type": "button", "action_id": REVOKE, "value": value, "style": "danger",
             "text": {"type": "plain_text", "text": "Revoke"},
             "confirm": {
                "title": {"type": "plain_text", "text": "Revoke this grant?"},
                "text": {"type": "plain_text", "text": "The decision is recorded and your automation is told to remove the role."},
                "confirm": {"type": "plain_text", "text": "Revoke"},
                "deny": {"type": "plain_text", "text": "Cancel"},
                "style": "danger"}},
            {"type": "button", "action_id": ESCALATE, "value": value,
             "text": {"type": "plain_text", "text": "Escalate"}}
        ]
    }));
    Value::Array(blocks)
}

/// The escalated review, re-posted for the escalation group: Approve or Revoke only.
pub fn escalation_card(
    review_id: Uuid,
    grant: &PrivilegedGrant,
    features: &Features,
    assessment: &Assessment,
    headline: &str,
) -> Value {
    let mut blocks = vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": headline}})];
    let Value::Array(card) = review_card(review_id, grant, features, assessment) else {
        unreachable!("review_card builds an array");
    };
    blocks.extend(card);
    if let Some(Value::Array(buttons)) = blocks
        .last_mut()
        .and_then(|actions| actions.get_mut("elements"))
    {
        buttons.retain(|b| b["action_id"] != ESCALATE);
    }
    Value::Array(blocks)
}

/// The card after a decision: the same facts, the buttons replaced by who decided what.
pub fn decided_card(
    grant: &PrivilegedGrant,
    features: &Features,
    assessment: &Assessment,
    decision: &str,
    reviewer_id: &str,
    decided_at: &str,
) -> Value {
    let mut blocks = summary_blocks(grant, features, assessment);
    blocks.push(json!({"type": "section", "text": {"type": "mrkdwn",
        "text": format!("*{}* by <@{}> at {decided_at}", decision_label(decision), slack_escape(reviewer_id))}}));
    Value::Array(blocks)
}

pub fn decision_label(decision: &str) -> &'static str {
    match decision {
        "approved" => "Approved",
        "revoked" => "Revoked",
        "escalated" => "Escalated",
        "auto_resolved" => "Resolved automatically",
        _ => "Decided",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_control_characters_are_escaped() {
        assert_eq!(
            slack_escape("<!channel> & <@U1>"),
            "&lt;!channel&gt; &amp; &lt;@U1&gt;"
        );
    }
}
