//! The nudge a team receives: one message listing its overdue consumers, in the tone of the
//! latest of them, with a "Confirmed" and a "Snooze" button per consumer. Deterministic text:
//! the same facts always give the same message. A consumer confirmed or snoozed from the
//! message is redrawn in place without its buttons.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::bucket::Bucket;
use crate::slack::blocks::{CONTEXT_TEXT, SECTION_TEXT, escape_within, fit_mrkdwn, verbatim};

/// Longest a team, consumer or key name is shown (untrusted, from the imported CSVs): long
/// enough for any real name, short enough that every block keeps Slack's limits.
const MAX_NAME: usize = 300;
/// Longest a Slack user id is shown (real ones are about 11 characters).
const MAX_ID: usize = 40;

/// Action ids of the nudge's buttons (routed by the Slack interactivity function).
pub const CONFIRM: &str = "rotation_confirm";
pub const SNOOZE: &str = "rotation_snooze";

/// Slack allows 50 blocks per message; each consumer takes two, the opening one.
pub const MAX_LINES_PER_MESSAGE: usize = 24;

/// What became of a consumer after its nudge was posted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum LineState {
    #[default]
    Open,
    Confirmed {
        by: String,
        on: NaiveDate,
    },
    Snoozed {
        by: String,
        until: NaiveDate,
        reason: String,
    },
}

/// One overdue consumer in a team's nudge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NudgeLine {
    /// Carried by the buttons to find the consumer again.
    pub consumer_ref: String,
    pub name: String,
    /// The key being retired, as the campaign names it.
    pub retired_key: String,
    pub deadline: NaiveDate,
    pub days_overdue: i64,
    pub nudges_so_far: u32,
    pub bucket: Bucket,
    #[serde(default)]
    pub state: LineState,
}

/// Who to mention when the tone calls for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    pub team_lead: Option<String>,
    pub security_lead: Option<String>,
}

/// `1 consumer`, `2 consumers`: a count with its noun in the right number. Every count the
/// chaser writes goes through here, so no text says "consumer(s)".
pub fn counted(n: impl Into<i128>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The opening sentence for a team's latest bucket.
fn opening(bucket: Bucket, team: &str, count: usize) -> String {
    let team = escape_within(team, MAX_NAME);
    let (these, uses, is) = if count == 1 {
        ("a consumer", "uses", "is")
    } else {
        ("consumers", "use", "are")
    };
    match bucket {
        Bucket::Gentle => format!(
            "Hi {team}, a friendly reminder: {these} of yours still {uses} a key that has been retired. Please move to the new key and confirm below."
        ),
        Bucket::Firm => format!(
            "{team}: {these} of yours {is} past the rotation deadline and still {uses} a retired key. Please move this week and confirm below."
        ),
        Bucket::Urgent => format!(
            "*Urgent*, {team}: {these} of yours {is} well past the rotation deadline on a retired key. This needs action today."
        ),
        Bucket::Critical => format!(
            "*Critical*, {team}: {these} of yours still {uses} a retired key long after the deadline. The security team is now involved."
        ),
    }
}

/// `<@U…>` for something shaped like a Slack user id; anything else (a typo in the consumers
/// file, hostile text) is shown as escaped text, never as markup.
fn mention(user_id: &str) -> String {
    let is_user_id = (2..=MAX_ID).contains(&user_id.len())
        && user_id.starts_with(['U', 'W'])
        && user_id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if is_user_id {
        format!("<@{user_id}>")
    } else {
        escape_within(user_id, MAX_ID)
    }
}

fn mentions(bucket: Bucket, escalation: &Escalation) -> Vec<String> {
    let mut out = Vec::new();
    if bucket.mentions_team_lead()
        && let Some(lead) = &escalation.team_lead
    {
        out.push(mention(lead));
    }
    if bucket.mentions_security_lead()
        && let Some(lead) = &escalation.security_lead
    {
        out.push(mention(lead));
    }
    out
}

/// A nudge as posted, kept so a click can redraw it: `part` is `(n, of)` when a team's list
/// needed more than one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NudgeMessage {
    pub team: String,
    pub lines: Vec<NudgeLine>,
    pub escalation: Escalation,
    pub part: Option<(usize, usize)>,
    /// The tone of the team's whole list, so every part of a split list opens in it and
    /// mentions the same people. Nudges recorded before it existed take their own lines'.
    #[serde(default)]
    pub tone: Option<Bucket>,
    /// The row recording this nudge, named in the buttons' block ids: a click finds the nudge
    /// by it even when the sweep that posted it died before learning the message's `ts`. Set
    /// from the row, never stored inside it.
    #[serde(default, skip_serializing)]
    pub nudge_id: Option<i64>,
}

/// The block id of a consumer's buttons (and of its note once settled).
fn line_block_id(consumer_ref: &str, nudge_id: Option<i64>) -> String {
    match nudge_id {
        Some(id) => format!("rotation:{consumer_ref}:{id}"),
        None => format!("rotation:{consumer_ref}"),
    }
}

/// The nudge a clicked block belongs to, from its block id (`rotation:<consumer>:<nudge>`);
/// `None` for messages posted before block ids carried it.
pub fn nudge_of_block(block_id: &str) -> Option<i64> {
    let rest = block_id.strip_prefix("rotation:")?;
    let (_, nudge) = rest.rsplit_once(':')?;
    nudge.parse().ok()
}

/// The latest bucket among `lines` (gentle for none).
fn worst(lines: &[NudgeLine]) -> Bucket {
    lines
        .iter()
        .map(|l| l.bucket)
        .max()
        .unwrap_or(Bucket::Gentle)
}

impl NudgeMessage {
    /// The tone of the message: the team's, else its latest consumer's bucket.
    pub fn bucket(&self) -> Bucket {
        self.tone.unwrap_or_else(|| worst(&self.lines))
    }

    /// `(fallback text, blocks)`.
    pub fn render(&self) -> (String, Value) {
        let (mut text, mut blocks) = render_lines(
            &self.team,
            &self.lines,
            &self.escalation,
            self.bucket(),
            self.nudge_id,
        );
        if let Some((n, of)) = self.part {
            text = format!("{text}, part {n} of {of}");
            if let Some(list) = blocks.as_array_mut() {
                list.insert(
                    1,
                    json!({"type": "context", "elements": [
                        {"type": "mrkdwn", "text": format!("Part {n} of {of} of this team's list")}
                    ]}),
                );
            }
        }
        (text, verbatim(blocks))
    }
}

/// What happened to a line, in place of its buttons.
fn settled(state: &LineState) -> Option<String> {
    match state {
        LineState::Open => None,
        LineState::Confirmed { by, on } => Some(format!(
            ":white_check_mark: Confirmed on the new key by {} on {}",
            mention(by),
            on.format("%Y-%m-%d")
        )),
        LineState::Snoozed { by, until, reason } => Some(format!(
            ":zzz: Snoozed by {} until {}: {}",
            mention(by),
            until.format("%Y-%m-%d"),
            escape_within(reason, CONTEXT_TEXT / 2)
        )),
    }
    .map(|note| fit_mrkdwn(&note, CONTEXT_TEXT))
}

/// The message for one team: `(fallback text, blocks)`, in the tone of its latest consumer.
/// `lines` must not be empty.
pub fn team_nudge(team: &str, lines: &[NudgeLine], escalation: &Escalation) -> (String, Value) {
    render_lines(team, lines, escalation, worst(lines), None)
}

/// `lines` in the tone `worst` (the team's, which for a part may be later than its own lines').
fn render_lines(
    team: &str,
    lines: &[NudgeLine],
    escalation: &Escalation,
    worst: Bucket,
    nudge_id: Option<i64>,
) -> (String, Value) {
    let mut head = opening(worst, team, lines.len());
    let mentioned = mentions(worst, escalation);
    if !mentioned.is_empty() {
        head = format!("{head} {}", mentioned.join(" "));
    }
    let head = fit_mrkdwn(&head, SECTION_TEXT);
    let mut blocks = vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": head}})];
    for line in lines {
        let nudged = match line.nudges_so_far {
            0 => "first reminder".to_owned(),
            1 => "reminded once before".to_owned(),
            n => format!("reminded {n} times before"),
        };
        blocks.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": fit_mrkdwn(&format!(
                "*{}* on `{}`: deadline {}, {} overdue, {nudged}",
                escape_within(&line.name, MAX_NAME),
                escape_within(&line.retired_key, MAX_NAME).replace('`', "'"),
                line.deadline.format("%Y-%m-%d"),
                counted(line.days_overdue, "day", "days"),
            ), SECTION_TEXT)}}),
        );
        if let Some(note) = settled(&line.state) {
            blocks.push(
                json!({"type": "context", "block_id": line_block_id(&line.consumer_ref, nudge_id),
                "elements": [{"type": "mrkdwn", "text": note}]}),
            );
            continue;
        }
        blocks.push(json!({"type": "actions", "block_id": line_block_id(&line.consumer_ref, nudge_id), "elements": [
            {"type": "button", "action_id": CONFIRM, "value": line.consumer_ref, "style": "primary",
             "text": {"type": "plain_text", "text": "Confirmed: on the new key"}},
            {"type": "button", "action_id": SNOOZE, "value": line.consumer_ref,
             "text": {"type": "plain_text", "text": "Snooze"}}
        ]}));
    }
    let text = format!(
        "{} of {} still on a retired key ({})",
        counted(lines.len() as u64, "consumer", "consumers"),
        escape_within(team, MAX_NAME),
        worst
    );
    (text, verbatim(Value::Array(blocks)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(name: &str, days: i64, bucket: Bucket, nudges: u32) -> NudgeLine {
        NudgeLine {
            consumer_ref: format!("ref-{name}"),
            name: name.into(),
            retired_key: "stripe-live-2024".into(),
            deadline: NaiveDate::from_ymd_opt(2026, 11, 10).unwrap(),
            days_overdue: days,
            nudges_so_far: nudges,
            bucket,
            state: LineState::Open,
        }
    }

    fn leads() -> Escalation {
        Escalation {
            team_lead: Some("U0LEAD".into()),
            security_lead: Some("U0SECLEAD".into()),
        }
    }

    #[test]
    fn the_tone_follows_the_latest_consumer_and_mentions_harden() {
        let (_, gentle) = team_nudge("payments", &[line("a", 2, Bucket::Gentle, 0)], &leads());
        let gentle = gentle.to_string();
        assert!(
            gentle.contains("friendly reminder") && !gentle.contains("<@"),
            "{gentle}"
        );

        let (_, urgent) = team_nudge(
            "payments",
            &[
                line("a", 2, Bucket::Gentle, 0),
                line("b", 9, Bucket::Urgent, 3),
            ],
            &leads(),
        );
        let urgent = urgent.to_string();
        assert!(
            urgent.contains("*Urgent*") && urgent.contains("<@U0LEAD>"),
            "{urgent}"
        );
        assert!(!urgent.contains("U0SECLEAD"), "{urgent}");

        let (text, critical) =
            team_nudge("payments", &[line("c", 20, Bucket::Critical, 6)], &leads());
        let critical = critical.to_string();
        assert!(critical.contains("<@U0LEAD> <@U0SECLEAD>"), "{critical}");
        assert_eq!(
            text,
            "1 consumer of payments still on a retired key (critical)"
        );
    }

    #[test]
    fn the_largest_nudge_keeps_slacks_limits_and_links_nothing() {
        let huge = "https://evil.example/x <!channel> & é🔑 ".repeat(300);
        let mut consumer = line(&huge, 40, Bucket::Critical, 3);
        // The reference is the consumer's numeric id in the product.
        consumer.consumer_ref = "42".into();
        consumer.retired_key = huge.clone();
        let lines = [consumer];
        let escalation = Escalation {
            team_lead: Some(huge.clone()),
            security_lead: Some("U0SECLEAD".into()),
        };
        let (_, blocks) = team_nudge(&huge, &lines, &escalation);
        assert_eq!(
            crate::slack::blocks::limit_violations(&blocks),
            Vec::<String>::new()
        );
        let text = blocks.to_string();
        assert!(
            !text.contains("<!channel>") && !text.contains("<@https"),
            "{text}"
        );
        assert!(
            text.contains("<@U0SECLEAD>"),
            "real ids are still mentioned"
        );
        for section in blocks.as_array().unwrap() {
            if let Some(t) = section.get("text") {
                assert_eq!(t["verbatim"], true, "{t}");
            }
        }
    }

    #[test]
    fn counts_are_singular_for_one_and_plural_otherwise() {
        assert_eq!(counted(1u32, "consumer", "consumers"), "1 consumer");
        assert_eq!(counted(0u32, "consumer", "consumers"), "0 consumers");
        assert_eq!(counted(2i64, "day", "days"), "2 days");
        let (one, blocks) = team_nudge("payments", &[line("a", 1, Bucket::Gentle, 0)], &leads());
        assert_eq!(
            one,
            "1 consumer of payments still on a retired key (gentle)"
        );
        assert!(blocks.to_string().contains("1 day overdue"), "{blocks}");
        let (two, _) = team_nudge(
            "payments",
            &[
                line("a", 2, Bucket::Gentle, 0),
                line("b", 3, Bucket::Gentle, 0),
            ],
            &leads(),
        );
        assert_eq!(
            two,
            "2 consumers of payments still on a retired key (gentle)"
        );
        for text in [one, two] {
            assert!(!text.contains("(s)"), "{text}");
        }
    }

    #[test]
    fn every_consumer_has_its_facts_and_both_buttons() {
        let (_, blocks) = team_nudge(
            "payments",
            &[line("billing-api", 1, Bucket::Gentle, 1)],
            &leads(),
        );
        let s = blocks.to_string();
        assert!(s.contains("*billing-api* on `stripe-live-2024`: deadline 2026-11-10, 1 day overdue, reminded once before"), "{s}");
        assert!(
            s.contains(CONFIRM) && s.contains(SNOOZE) && s.contains("ref-billing-api"),
            "{s}"
        );
    }

    #[test]
    fn settled_lines_lose_their_buttons_and_say_why() {
        let mut done = line("billing-api", 3, Bucket::Gentle, 2);
        done.state = LineState::Confirmed {
            by: "U0ANNA".into(),
            on: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
        };
        let mut later = line("ledger", 3, Bucket::Gentle, 2);
        later.state = LineState::Snoozed {
            by: "U0BOB".into(),
            until: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
            reason: "vendor <freeze>".into(),
        };
        let open = line("etl", 3, Bucket::Gentle, 2);
        let message = NudgeMessage {
            team: "payments".into(),
            lines: vec![done, later, open],
            escalation: Escalation::default(),
            part: Some((2, 3)),
            tone: None,
            nudge_id: Some(7),
        };
        let (text, blocks) = message.render();
        assert!(text.ends_with("part 2 of 3"), "{text}");
        let s = blocks.to_string();
        assert!(
            s.contains("Confirmed on the new key by <@U0ANNA> on 2026-11-23"),
            "{s}"
        );
        assert!(
            s.contains("Snoozed by <@U0BOB> until 2026-11-26: vendor &lt;freeze&gt;"),
            "{s}"
        );
        assert_eq!(
            s.matches(CONFIRM).count(),
            1,
            "only the open line keeps buttons: {s}"
        );
        // Each line's block names the nudge, so a click finds it.
        let ids: Vec<&str> = blocks
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|b| b["block_id"].as_str())
            .collect();
        assert_eq!(
            ids,
            [
                "rotation:ref-billing-api:7",
                "rotation:ref-ledger:7",
                "rotation:ref-etl:7"
            ]
        );
        assert!(ids.iter().all(|id| nudge_of_block(id) == Some(7)));
        assert_eq!(nudge_of_block("rotation:42"), None);
        assert_eq!(nudge_of_block("privileged_review"), None);
        // The id comes from the row, not from the stored message.
        assert!(
            serde_json::to_value(&message)
                .unwrap()
                .get("nudge_id")
                .is_none()
        );
    }

    #[test]
    fn a_later_part_keeps_the_teams_tone_and_mentions() {
        let part = |lines: Vec<NudgeLine>, n: usize| NudgeMessage {
            team: "payments".into(),
            lines,
            escalation: leads(),
            part: Some((n, 2)),
            tone: Some(Bucket::Critical),
            nudge_id: None,
        };
        let first = part(vec![line("old", 20, Bucket::Critical, 4)], 1);
        let second = part(vec![line("new", 2, Bucket::Gentle, 0)], 2);
        for message in [first, second] {
            let (text, blocks) = message.render();
            let shown = format!("{text}\n{blocks}");
            assert!(text.contains("(critical), part"), "{text}");
            assert!(shown.contains("*Critical*, payments"), "{shown}");
            assert!(shown.contains("<@U0LEAD> <@U0SECLEAD>"), "{shown}");
            assert!(!shown.contains("friendly reminder"), "{shown}");
            assert_eq!(message.bucket(), Bucket::Critical);
        }
        // A nudge recorded before the tone was stored reads back in its own lines' tone.
        let old: NudgeMessage = serde_json::from_value(serde_json::json!({
            "team": "payments", "lines": [line("new", 2, Bucket::Gentle, 0)],
            "escalation": {"team_lead": null, "security_lead": null}, "part": [2, 2]
        }))
        .unwrap();
        assert_eq!(old.bucket(), Bucket::Gentle);
    }

    #[test]
    fn names_cannot_mention_or_link() {
        // The ref is our own database id in practice; only names and teams come from people.
        let mut odd = line("<https://x|y>", 1, Bucket::Gentle, 0);
        odd.consumer_ref = "42".into();
        let (_, blocks) = team_nudge("<!channel>", &[odd], &Escalation::default());
        let s = blocks.to_string();
        assert!(
            !s.contains("<!channel>") && !s.contains("<https://x"),
            "{s}"
        );
    }
}
