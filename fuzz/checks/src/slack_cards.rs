//! The Slack review card and the rotation nudge (Block Kit). Properties: every message keeps
//! Block Kit's size limits (the checker of `secops_shared::slack::blocks`), its fallback text
//! included; and no untrusted text becomes Slack markup: every `<` in any text opens one of the
//! product's own mentions (of a configured person or of whoever clicked), never a link,
//! broadcast (`<!channel>`) or user-group mention taken from the input; and no `mrkdwn` text
//! that Slack auto-parses (no `verbatim: true`) holds a bare URL.

use chrono::{NaiveDate, TimeZone, Utc};
use secops_shared::review::card;
use secops_shared::review::event::PrivilegedGrant;
use secops_shared::review::risk::{self, Assessment, History, RiskConfig, RiskLevel};
use secops_shared::rotation::bucket::Bucket;
use secops_shared::rotation::consumer::parse_consumers;
use secops_shared::rotation::message::{
    Escalation, LineState, MAX_LINES_PER_MESSAGE, NudgeLine, NudgeMessage, team_nudge,
};
use secops_shared::slack::blocks::{MESSAGE_TEXT, limit_violations, slack_len};
use serde_json::Value;
use uuid::Uuid;

/// The reviewer and escalation group of the product's own mentions on review cards.
const REVIEWER: &str = "U0REVIEWER";
const GROUP: &str = "S0ESCALATE";

/// The input's lines are the event's fields (id, grantor, grantee, role, target, source) and a
/// risk reason; a fixture event's JSON is read for them too.
pub fn review_card(data: &[u8]) {
    let f = crate::values(data, 8);
    let grant = PrivilegedGrant {
        event_id: f[0].clone(),
        time: Utc.with_ymd_and_hms(2026, 11, 18, 3, 30, 0).unwrap(),
        grantor: f[1].clone(),
        grantee: f[2].clone(),
        role: f[3].clone(),
        target: f[4].clone(),
        source: f[5].clone(),
    };
    let history = History {
        same_role_before: f[6].len() as u32,
        any_role_before: f[7].len() as u32,
        grantor_grants_before: 0,
        approved_before: u32::MAX,
        revoked_before: 1,
    };
    let features = risk::features(&grant, &history, data.len(), &RiskConfig::default());
    for model in [true, false] {
        let assessment = Assessment {
            level: RiskLevel::High,
            score: 100,
            reasons: vec![f[6].clone(), f[7].clone()],
            floor: RiskLevel::Medium,
            model: model.then(|| f[7].clone()),
            model_problem: (!model).then(|| f[6].clone()),
            prompt_hash: "fuzz".into(),
        };
        let text = card::card_text(&grant, &assessment);
        check_text(&text, &[]);
        let headline = format!(
            "<!subteam^{GROUP}> Escalated by <@{REVIEWER}>: {}",
            card::card_text(&grant, &assessment)
        );
        let own = [format!("<!subteam^{GROUP}>"), format!("<@{REVIEWER}>")];
        let id = Uuid::nil();
        for blocks in [
            card::review_card(id, &grant, &features, &assessment),
            card::escalation_card(id, &grant, &features, &assessment, &headline),
            card::decided_card(
                &grant,
                &features,
                &assessment,
                "revoked",
                REVIEWER,
                &features.local_time,
            ),
        ] {
            check_blocks(&blocks, &own);
        }
    }
}

/// The input is a consumers CSV (the seed files are the sample's), nudged as its teams would
/// be; its lines are also a team, consumer names, keys, refs, a snooze reason and leads.
pub fn rotation_nudge(data: &[u8]) {
    let f = crate::fields(data, 8);
    let deadline = NaiveDate::from_ymd_opt(2026, 11, 10).unwrap();
    let on = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    // The sweep's consumer ref is the consumer's row id, a number: never text from a file.
    let line = |name: &str, key: &str, id: usize, bucket: Bucket, state: LineState| NudgeLine {
        consumer_ref: id.to_string(),
        name: name.to_owned(),
        retired_key: key.to_owned(),
        deadline,
        days_overdue: 12,
        nudges_so_far: 3,
        bucket,
        state,
    };
    let escalation = Escalation {
        team_lead: Some(f[6].clone()),
        security_lead: Some(f[7].clone()),
    };
    let lines = vec![
        line(&f[1], &f[2], 1, Bucket::Critical, LineState::Open),
        line(
            &f[2],
            &f[3],
            data.len(),
            Bucket::Gentle,
            LineState::Confirmed {
                by: f[4].clone(),
                on,
            },
        ),
        line(
            &f[3],
            &f[1],
            usize::MAX,
            Bucket::Urgent,
            LineState::Snoozed {
                by: f[4].clone(),
                until: on,
                reason: f[5].clone(),
            },
        ),
    ];
    let people = [&f[4], &f[6], &f[7]];
    let own: Vec<String> = people
        .iter()
        .map(|p| format!("<@{}>", secops_shared::slack::blocks::slack_escape(p)))
        .collect();
    let (text, blocks) = team_nudge(&f[0], &lines, &escalation);
    check_nudge(&text, &blocks, &own);
    let message = NudgeMessage {
        team: f[0].clone(),
        lines,
        escalation: escalation.clone(),
        part: Some((2, 3)),
        tone: Some(Bucket::Critical),
        nudge_id: Some(i64::MAX),
    };
    let (text, blocks) = message.render();
    check_nudge(&text, &blocks, &own);

    // The input as a consumers file: each team's consumers in one message, at most a full part.
    if let Ok(consumers) = parse_consumers("fuzz", &crate::text(data)) {
        let mut teams: Vec<&str> = consumers.iter().map(|c| c.team.as_str()).collect();
        teams.dedup();
        for team in teams {
            let mine: Vec<_> = consumers.iter().filter(|c| c.team == team).collect();
            let lines: Vec<NudgeLine> = mine
                .iter()
                .take(MAX_LINES_PER_MESSAGE)
                .enumerate()
                .map(|(i, c)| line(&c.name, &c.campaign, i, Bucket::Critical, LineState::Open))
                .collect();
            let escalation = Escalation {
                team_lead: mine.iter().find_map(|c| c.team_lead.clone()),
                security_lead: Some("U0SECLEAD".to_owned()),
            };
            let own: Vec<String> = [
                escalation.team_lead.as_deref(),
                escalation.security_lead.as_deref(),
            ]
            .into_iter()
            .flatten()
            .map(|p| format!("<@{}>", secops_shared::slack::blocks::slack_escape(p)))
            .collect();
            let (text, blocks) = team_nudge(team, &lines, &escalation);
            check_nudge(&text, &blocks, &own);
        }
    }
}

fn check_nudge(text: &str, blocks: &Value, own: &[String]) {
    check_text(text, own);
    check_blocks(blocks, own);
}

/// Within Block Kit's limits, and inert.
pub fn check_blocks(blocks: &Value, own: &[String]) {
    let violations = limit_violations(blocks);
    assert!(violations.is_empty(), "over Slack's limits: {violations:?}");
    let mut texts = Vec::new();
    shown_texts(blocks, &mut texts);
    for text in texts {
        check_text(text, own);
    }
    let mut parsed = Vec::new();
    auto_parsed_texts(blocks, &mut parsed);
    for text in parsed {
        check_no_auto_link(text);
    }
}

/// Slack parses a `mrkdwn` text object unless it says `verbatim: true`: "URLs will be
/// auto-converted into links, conversation names will be link-ified, and certain mentions will
/// be automatically parsed" (Block Kit reference, text object). Such a text may hold no bare URL
/// (`scheme://`, `www.`): escaping `<` and `>` does not stop this parsing.
pub fn check_no_auto_link(text: &str) {
    let lower = text.to_lowercase();
    for live in ["://", "www."] {
        assert!(
            !lower.contains(live),
            "{live:?} in a mrkdwn text Slack parses (no verbatim): {text:?}"
        );
    }
}

/// The texts of `mrkdwn` objects without `verbatim: true`.
fn auto_parsed_texts<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Array(a) => a.iter().for_each(|v| auto_parsed_texts(v, out)),
        Value::Object(o) => {
            if o.get("type").and_then(Value::as_str) == Some("mrkdwn")
                && o.get("verbatim").and_then(Value::as_bool) != Some(true)
                && let Some(text) = o.get("text").and_then(Value::as_str)
            {
                out.push(text);
            }
            o.values().for_each(|v| auto_parsed_texts(v, out));
        }
        _ => {}
    }
}

/// A message text: bounded, and every `<` opens one of `own` (the product's mentions).
pub fn check_text(text: &str, own: &[String]) {
    assert!(
        slack_len(text) <= MESSAGE_TEXT,
        "fallback text over {MESSAGE_TEXT}"
    );
    for (at, _) in text.match_indices('<') {
        let rest = &text[at..];
        assert!(
            own.iter().any(|o| rest.starts_with(o.as_str())),
            "Slack markup from untrusted text at {:?} in {text:?}",
            rest.chars().take(40).collect::<String>()
        );
    }
}

/// The texts Slack shows (every `text` string of a block, element or composition object); ids
/// and button values are not shown, so they are not markup.
fn shown_texts<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Array(a) => a.iter().for_each(|v| shown_texts(v, out)),
        Value::Object(o) => {
            for (key, v) in o {
                match v {
                    Value::String(s) if key == "text" => out.push(s),
                    _ => shown_texts(v, out),
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_from_untrusted_text_is_caught_and_own_mentions_pass() {
        let own = ["<@U0LEAD>".to_owned()];
        check_text("ping <@U0LEAD> &lt;!channel&gt;", &own);
        for live in [
            "<!channel>",
            "<https://evil.example|click>",
            "<@U0OTHER>",
            "<#C1>",
        ] {
            let caught = std::panic::catch_unwind(|| check_text(live, &own)).is_err();
            assert!(caught, "{live} is caught");
        }
        let parsed = serde_json::json!([{"type": "section", "text": {"type": "mrkdwn", "text": "see https://evil.example"}}]);
        assert!(std::panic::catch_unwind(|| check_blocks(&parsed, &own)).is_err());
        let verbatim = serde_json::json!([{"type": "section", "text": {"type": "mrkdwn", "text": "see https://evil.example", "verbatim": true}}]);
        check_blocks(&verbatim, &own);
        let over = serde_json::json!([{"type": "section", "text": {"type": "mrkdwn", "text": "x".repeat(3_001)}}]);
        assert!(std::panic::catch_unwind(|| check_blocks(&over, &own)).is_err());
    }
}
