//! The nudge a team receives: one message listing its overdue consumers, in the tone of the
//! latest of them, with a "Confirmed" and a "Snooze" button per consumer. Deterministic text:
//! the same facts always give the same message. A consumer confirmed or snoozed from the
//! message is redrawn in place without its buttons.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::bucket::Bucket;
use crate::review::card::slack_escape;

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

/// The opening sentence for a team's latest bucket.
fn opening(bucket: Bucket, team: &str, count: usize) -> String {
    let team = slack_escape(team);
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

fn mentions(bucket: Bucket, escalation: &Escalation) -> Vec<String> {
    let mut out = Vec::new();
    if bucket.mentions_team_lead()
        && let Some(lead) = &escalation.team_lead
    {
        out.push(format!("<@{}>", slack_escape(lead)));
    }
    if bucket.mentions_security_lead()
        && let Some(lead) = &escalation.security_lead
    {
        out.push(format!("<@{}>", slack_escape(lead)));
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
}

impl NudgeMessage {
    /// The tone of the whole message: its latest consumer's bucket.
    pub fn bucket(&self) -> Bucket {
        self.lines
            .iter()
            .map(|l| l.bucket)
            .max()
            .unwrap_or(Bucket::Gentle)
    }

    /// `(fallback text, blocks)`.
    pub fn render(&self) -> (String, Value) {
        let (mut text, mut blocks) = team_nudge(&self.team, &self.lines, &self.escalation);
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
        (text, blocks)
    }
}

/// What happened to a line, in place of its buttons.
fn settled(state: &LineState) -> Option<String> {
    match state {
        LineState::Open => None,
        LineState::Confirmed { by, on } => Some(format!(
            ":white_check_mark: Confirmed on the new key by <@{}> on {}",
            slack_escape(by),
            on.format("%Y-%m-%d")
        )),
        LineState::Snoozed { by, until, reason } => Some(format!(
            ":zzz: Snoozed by <@{}> until {}: {}",
            slack_escape(by),
            until.format("%Y-%m-%d"),
            slack_escape(reason)
        )),
    }
}

/// The message for one team: `(fallback text, blocks)`. `lines` must not be empty.
pub fn team_nudge(team: &str, lines: &[NudgeLine], escalation: &Escalation) -> (String, Value) {
    let worst = lines
        .iter()
        .map(|l| l.bucket)
        .max()
        .unwrap_or(Bucket::Gentle);
    let mut head = opening(worst, team, lines.len());
    let mentioned = mentions(worst, escalation);
    if !mentioned.is_empty() {
        head = format!("{head} {}", mentioned.join(" "));
    }
    let mut blocks = vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": head}})];
    for line in lines {
        let nudged = match line.nudges_so_far {
            0 => "first reminder".to_owned(),
            1 => "reminded once before".to_owned(),
            n => format!("reminded {n} times before"),
        };
        blocks.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": format!(
                "*{}* on `{}`: deadline {}, {} day{} overdue, {nudged}",
                slack_escape(&line.name),
                slack_escape(&line.retired_key).replace('`', "'"),
                line.deadline.format("%Y-%m-%d"),
                line.days_overdue,
                if line.days_overdue == 1 { "" } else { "s" },
            )}}),
        );
        if let Some(note) = settled(&line.state) {
            blocks.push(
                json!({"type": "context", "block_id": format!("rotation:{}", line.consumer_ref),
                "elements": [{"type": "mrkdwn", "text": note}]}),
            );
            continue;
        }
        blocks.push(json!({"type": "actions", "block_id": format!("rotation:{}", line.consumer_ref), "elements": [
            {"type": "button", "action_id": CONFIRM, "value": line.consumer_ref, "style": "primary",
             "text": {"type": "plain_text", "text": "Confirmed: on the new key"}},
            {"type": "button", "action_id": SNOOZE, "value": line.consumer_ref,
             "text": {"type": "plain_text", "text": "Snooze"}}
        ]}));
    }
    let text = format!(
        "{} consumer(s) of {} still on a retired key ({})",
        lines.len(),
        slack_escape(team),
        worst
    );
    (text, Value::Array(blocks))
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
            "1 consumer(s) of payments still on a retired key (critical)"
        );
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
