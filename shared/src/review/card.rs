//! The Slack review card (Block Kit) and its decided form. Event fields are untrusted: they are
//! shown as text with Slack's control characters escaped, never as markup or mentions, and each
//! is cut (with a visible ellipsis) so the card keeps within Block Kit's size limits: Slack
//! refuses a whole card for one over-long field, and the review would never reach anyone.

use serde_json::{Value, json};
use uuid::Uuid;

use super::event::PrivilegedGrant;
use super::risk::{Assessment, Features};
use crate::slack::blocks::{
    CONTEXT_TEXT, HEADER_TEXT, SECTION_FIELD, SECTION_TEXT, cut, escape_within, fit_mrkdwn,
    verbatim,
};

/// Most shown of one grant field in the one-line texts (fallback, escalation headline): four
/// of them and the words around them stay well inside one section.
const LINE_FIELD: usize = 300;
/// Most shown of the event's source and id in the context line (they share its 2,000).
const SOURCE_CHARS: usize = 200;
const EVENT_ID_CHARS: usize = 1_000;
/// Most shown of one risk reason, and of the model's name or problem.
const REASON_CHARS: usize = 500;
const MODEL_CHARS: usize = 200;

/// Action ids of the card's buttons.
pub const APPROVE: &str = "review_approve";
pub const REVOKE: &str = "review_revoke";
pub const ESCALATE: &str = "review_escalate";

fn flag(on: bool, label: &str) -> Option<String> {
    on.then(|| format!("*{label}*"))
}

/// The card's fallback text (notifications, screen readers).
pub fn card_text(grant: &PrivilegedGrant, assessment: &Assessment) -> String {
    format!(
        "{} risk: {} got {} on {} (granted by {})",
        assessment.level,
        escape_within(&grant.grantee, LINE_FIELD),
        escape_within(&grant.role, LINE_FIELD),
        escape_within(&grant.target, LINE_FIELD),
        escape_within(&grant.grantor, LINE_FIELD)
    )
}

/// A `*Label*\nvalue` field of the card, the untrusted value cut to fit the field.
fn field(label: &str, raw: &str) -> Value {
    let head = format!("*{label}*\n");
    let room = SECTION_FIELD - crate::slack::blocks::slack_len(&head);
    json!({"type": "mrkdwn", "text": format!("{head}{}", escape_within(raw, room))})
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
        .map(|r| format!("• {}", escape_within(r, REASON_CHARS)))
        .collect::<Vec<_>>()
        .join("\n");
    let decided_by = match (&assessment.model, &assessment.model_problem) {
        (Some(model), _) => format!(
            "rules + model `{}`",
            escape_within(&model.replace('`', "'"), MODEL_CHARS)
        ),
        (None, Some(problem)) => format!(
            "rules only (model unavailable: {})",
            escape_within(problem, MODEL_CHARS)
        ),
        (None, None) => "rules only".to_owned(),
    };
    let assessed = format!(
        "*Level {} (score {})*, assessed by {decided_by}\n{reasons}",
        assessment.level, assessment.score
    );
    // A backtick would end the code span early; the id is shown, not used.
    let context = format!(
        "History: {} · source {} · event `{}`",
        features.history_summary(),
        escape_within(&grant.source, SOURCE_CHARS),
        escape_within(&grant.event_id.replace('`', "'"), EVENT_ID_CHARS)
    );
    vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": cut(&format!("Privileged grant review: {} risk", assessment.level), HEADER_TEXT)}}),
        json!({"type": "section", "fields": [
            field("Grantee", &grant.grantee),
            field("Role", &grant.role),
            field("On", &grant.target),
            field("Granted by", &grant.grantor),
            {"type": "mrkdwn", "text": format!("*When*\n{}", features.local_time)},
            {"type": "mrkdwn", "text": format!("*Flags*\n{}", if flags.is_empty() { "none".to_owned() } else { flags.join(", ") })},
        ]}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": fit_mrkdwn(&assessed, SECTION_TEXT)}}),
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": fit_mrkdwn(&context, CONTEXT_TEXT)}]}),
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
    verbatim(Value::Array(blocks))
}

/// The escalated review, re-posted for the escalation group: Approve or Revoke only.
pub fn escalation_card(
    review_id: Uuid,
    grant: &PrivilegedGrant,
    features: &Features,
    assessment: &Assessment,
    headline: &str,
) -> Value {
    // The headline names the grant in full sentences around untrusted fields; whatever its
    // length, the section holds 3,000.
    let headline = fit_mrkdwn(headline, SECTION_TEXT);
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
    verbatim(Value::Array(blocks))
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
        "text": fit_mrkdwn(&format!("*{}* by <@{}> at {decided_at}", decision_label(decision), escape_within(reviewer_id, 100)), SECTION_TEXT)}}));
    verbatim(Value::Array(blocks))
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
    use crate::review::risk::{History, RiskConfig, RiskLevel, features};
    use crate::slack::blocks::{ELLIPSIS, limit_violations, slack_escape};
    use chrono::{TimeZone, Utc};

    /// Attacker-sized text: markup, entities, mentions, multi-byte characters, far too long.
    fn huge(seed: &str) -> String {
        format!("{seed} <!channel> & <https://evil.example|click> é🔑 ").repeat(400)
    }

    fn largest() -> (PrivilegedGrant, Features, Assessment) {
        let grant = PrivilegedGrant {
            event_id: huge("event`id"),
            time: Utc.with_ymd_and_hms(2026, 11, 18, 3, 30, 0).unwrap(),
            grantor: huge("grantor"),
            grantee: huge("grantee"),
            role: huge("Super Admin"),
            target: huge("target"),
            source: huge("source"),
        };
        let history = History {
            same_role_before: u32::MAX,
            any_role_before: u32::MAX,
            grantor_grants_before: u32::MAX,
            approved_before: u32::MAX,
            revoked_before: u32::MAX,
        };
        let features = features(&grant, &history, usize::MAX, &RiskConfig::default());
        let assessment = Assessment {
            level: RiskLevel::High,
            score: 100,
            reasons: (0..40).map(|i| huge(&format!("reason {i}"))).collect(),
            floor: RiskLevel::High,
            model: Some(huge("model")),
            model_problem: None,
            prompt_hash: "abc".into(),
        };
        (grant, features, assessment)
    }

    /// Every text of a card, for the inertness checks.
    fn texts(blocks: &Value) -> Vec<String> {
        let mut out = Vec::new();
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::String(s) => out.push(s.clone()),
                Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                Value::Object(o) => o.values().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        walk(blocks, &mut out);
        out
    }

    #[test]
    fn the_largest_possible_card_keeps_every_block_kit_limit_and_shows_where_it_was_cut() {
        let (grant, features, assessment) = largest();
        let id = Uuid::nil();
        let headline = format!(
            "<!subteam^S0ESCALATE> Escalated by <@U0REVIEWER>: {}",
            card_text(&grant, &assessment)
        );
        let cards = [
            review_card(id, &grant, &features, &assessment),
            escalation_card(id, &grant, &features, &assessment, &headline),
            // A caller's headline escapes what it quotes; however long, it is cut to fit.
            escalation_card(
                id,
                &grant,
                &features,
                &assessment,
                &format!("<@U0REVIEWER>: {}", slack_escape(&huge("headline"))),
            ),
            decided_card(
                &grant,
                &features,
                &assessment,
                "approved",
                &huge("U0"),
                "2026-11-18 03:31 UTC",
            ),
        ];
        for card in &cards {
            assert_eq!(limit_violations(card), Vec::<String>::new(), "{card}");
            let shown = card.to_string();
            for cut_field in ["*Grantee*", "*Role*", "*On*", "*Granted by*", "event `"] {
                let text = texts(card)
                    .into_iter()
                    .find(|t| t.contains(cut_field))
                    .unwrap_or_else(|| panic!("{cut_field} is shown: {shown}"));
                assert!(
                    text.contains(ELLIPSIS),
                    "{cut_field} shows it was cut: {text}"
                );
            }
            // Inert: no attacker text became a link or broadcast.
            assert!(
                !shown.contains("<!channel>") && !shown.contains("<https://evil"),
                "{shown}"
            );
        }
        // Our own escalation mentions survive the cut at the end of the headline.
        let escalation = &cards[1][0]["text"]["text"];
        let escalation = escalation.as_str().unwrap();
        assert!(escalation.starts_with("<!subteam^S0ESCALATE> Escalated by <@U0REVIEWER>: "));
        assert!(escalation.ends_with(ELLIPSIS) || escalation.chars().count() < SECTION_TEXT);
        // The fallback text stays within what chat.postMessage takes.
        assert!(card_text(&grant, &assessment).chars().count() < SECTION_TEXT);
    }

    #[test]
    fn a_card_within_the_limits_is_shown_whole() {
        let (mut grant, features, mut assessment) = largest();
        grant.role = "Org Admin & Owner".into();
        grant.event_id = "evt-123".into();
        assessment.reasons = vec!["self-grant".into()];
        let card = review_card(Uuid::nil(), &grant, &features, &assessment).to_string();
        assert!(card.contains("*Role*\\nOrg Admin &amp; Owner\""), "{card}");
        assert!(card.contains("event `evt-123`"), "{card}");
    }

    #[test]
    fn slack_control_characters_are_escaped() {
        assert_eq!(
            slack_escape("<!channel> & <@U1>"),
            "&lt;!channel&gt; &amp; &lt;@U1&gt;"
        );
    }
}
