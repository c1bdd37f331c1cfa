//! The security lead's digest: who is still outstanding (by bucket, by team, the critical
//! list), who keeps being nudged without answering, who confirmed since the last digest, and
//! which teams could not be reached. Deterministic: the same facts give the same message, and
//! long lists are cut with a count of what was left out.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::{Value, json};

use super::bucket::{Bucket, Thresholds};
use super::message::counted;
use super::store::{Confirmation, Outstanding};
use crate::slack::blocks::slack_escape;

/// Lines per list before "and N more".
pub const LIST_LIMIT: usize = 15;

/// A team the sweep could not reach this run (it is tried again next run).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Undeliverable {
    pub team: String,
    pub channel: Option<String>,
    /// `no channel on record`, Slack's code (`channel_not_found`, `not_in_channel`,
    /// `is_archived`) or the failure after retries.
    pub reason: String,
    pub consumers: usize,
}

/// Everything the digest reports.
pub struct DigestFacts<'a> {
    pub date: NaiveDate,
    /// Confirmation dates are shown in this timezone.
    pub timezone: chrono_tz::Tz,
    /// Consumers the sweep ran out of time for (the next run continues).
    pub deferred: usize,
    pub thresholds: Thresholds,
    pub outstanding: &'a [Outstanding],
    pub confirmations: &'a [Confirmation],
    pub undeliverable: &'a [Undeliverable],
    /// Consumers nudged this many times or more without confirming are listed.
    pub repeat_threshold: u32,
}

impl DigestFacts<'_> {
    /// Whether there is anything to tell.
    pub fn is_empty(&self) -> bool {
        self.outstanding.is_empty()
            && self.confirmations.is_empty()
            && self.undeliverable.is_empty()
    }
}

/// Slack refuses a section text over 3,000 characters; this leaves room for the title.
const SECTION_BUDGET: usize = 2_800;

fn capped(lines: Vec<String>, what: &str) -> String {
    if lines.is_empty() {
        return format!("_No {what}._");
    }
    let total = lines.len();
    let mut kept: Vec<String> = Vec::new();
    let mut length = 0;
    for line in lines.into_iter().take(LIST_LIMIT) {
        // Room for the "…and N more" line too.
        if length + line.chars().count() + 1 > SECTION_BUDGET - 40 {
            break;
        }
        length += line.chars().count() + 1;
        kept.push(line);
    }
    let more = total - kept.len();
    let mut text = kept.join("\n");
    if more > 0 {
        text.push_str(&format!("\n…and {more} more"));
    }
    text
}

fn section(title: &str, body: String) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*{title}*\n{body}")}})
}

fn days(n: i64) -> String {
    counted(n, "day", "days")
}

/// `(fallback text, blocks, summary)`; the summary is stored with the digest.
pub fn render_digest(facts: &DigestFacts<'_>) -> (String, Value, Value) {
    let bucket_of = |c: &Outstanding| {
        facts
            .thresholds
            .bucket(c.days_overdue)
            .unwrap_or(Bucket::Gentle)
    };
    let snoozed = facts
        .outstanding
        .iter()
        .filter(|c| c.snoozed_until.is_some())
        .count();
    let mut by_bucket: BTreeMap<Bucket, usize> = BTreeMap::new();
    let mut by_team: BTreeMap<&str, (usize, Bucket)> = BTreeMap::new();
    for c in facts.outstanding {
        let b = bucket_of(c);
        *by_bucket.entry(b).or_default() += 1;
        let entry = by_team.entry(c.team.as_str()).or_insert((0, b));
        entry.0 += 1;
        entry.1 = entry.1.max(b);
    }
    let teams = by_team.len();
    let total = facts.outstanding.len();
    let headline = format!(
        "Rotation digest for {}: {} outstanding across {}{}.",
        facts.date.format("%Y-%m-%d"),
        counted(total as u64, "consumer", "consumers"),
        counted(teams as u64, "team", "teams"),
        if snoozed > 0 {
            format!(" ({snoozed} snoozed)")
        } else {
            String::new()
        },
    );
    let buckets = Bucket::ALL
        .iter()
        .map(|b| format!("{b}: {}", by_bucket.get(b).copied().unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(" · ");
    let mut team_rows: Vec<(&str, usize, Bucket)> =
        by_team.iter().map(|(t, (n, b))| (*t, *n, *b)).collect();
    team_rows.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.cmp(&a.1)).then(a.0.cmp(b.0)));
    let team_lines = team_rows
        .iter()
        .map(|(team, n, worst)| format!("• {}: {n} ({worst} at worst)", slack_escape(team)))
        .collect();
    let critical_lines = facts
        .outstanding
        .iter()
        .filter(|c| bucket_of(c) == Bucket::Critical)
        .map(|c| {
            format!(
                "• *{}* ({}, {}): {} overdue, nudged {}×",
                slack_escape(&c.name),
                slack_escape(&c.team),
                slack_escape(&c.campaign),
                days(c.days_overdue),
                c.nudge_count
            )
        })
        .collect();
    let mut repeated: Vec<&Outstanding> = facts
        .outstanding
        .iter()
        .filter(|c| c.nudge_count >= facts.repeat_threshold)
        .collect();
    repeated.sort_by(|a, b| b.nudge_count.cmp(&a.nudge_count).then(a.name.cmp(&b.name)));
    let repeated_lines = repeated
        .iter()
        .map(|c| {
            format!(
                "• *{}* ({}): nudged {}×, {} overdue",
                slack_escape(&c.name),
                slack_escape(&c.team),
                c.nudge_count,
                days(c.days_overdue)
            )
        })
        .collect();
    let confirmed_lines = facts
        .confirmations
        .iter()
        .map(|c| {
            let by = if c.by.starts_with(['U', 'W']) {
                format!("<@{}>", slack_escape(&c.by))
            } else {
                slack_escape(&c.by)
            };
            format!(
                "• *{}* ({}) by {by} on {}",
                slack_escape(&c.name),
                slack_escape(&c.team),
                c.at.with_timezone(&facts.timezone).format("%Y-%m-%d")
            )
        })
        .collect();
    let mut undeliverable_lines: Vec<String> = facts
        .undeliverable
        .iter()
        .map(|u| {
            let target = u.channel.as_deref().map_or_else(
                || "no channel".to_owned(),
                |c| format!("<#{}>", slack_escape(c)),
            );
            format!(
                "• {} ({target}): {}, {} not told; retried next run",
                slack_escape(&u.team),
                slack_escape(&u.reason),
                counted(u.consumers as u64, "consumer", "consumers"),
            )
        })
        .collect();
    if facts.deferred > 0 {
        undeliverable_lines.push(format!(
            "• {} not reached before the run's time ran out; the next run continues",
            counted(facts.deferred as u64, "consumer", "consumers"),
        ));
    }
    let blocks = json!([
        {"type": "section", "text": {"type": "mrkdwn", "text": format!("*{headline}*\n{buckets}")}},
        section("By team", capped(team_lines, "outstanding teams")),
        section("Critical", capped(critical_lines, "critical consumers")),
        section(
            &format!("Nudged {}+ times without a response", facts.repeat_threshold),
            capped(repeated_lines, "repeatedly nudged consumers"),
        ),
        section("Confirmed since the last digest", capped(confirmed_lines, "confirmations")),
        section("Could not be delivered", capped(undeliverable_lines, "delivery problems")),
    ]);
    let summary = json!({
        "outstanding": total,
        "snoozed": snoozed,
        "teams": teams,
        "by_bucket": by_bucket.iter().map(|(b, n)| (b.as_str().to_owned(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "critical": by_bucket.get(&Bucket::Critical).copied().unwrap_or(0),
        "repeatedly_nudged": repeated.len(),
        "confirmed_since_last": facts.confirmations.len(),
        "undeliverable_teams": facts.undeliverable.len(),
    });
    (headline, crate::slack::blocks::verbatim(blocks), summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn consumer(name: &str, team: &str, days_overdue: i64, nudges: u32) -> Outstanding {
        Outstanding {
            consumer_id: 1,
            campaign: "stripe-2026".into(),
            name: name.into(),
            team: team.into(),
            channel: Some("C0PAYMENTS".into()),
            team_lead: None,
            retired_key: "stripe-live-2024".into(),
            deadline: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            days_overdue,
            nudge_count: nudges,
            snoozed_until: None,
            due: true,
        }
    }

    #[test]
    fn the_digest_counts_lists_and_cuts() {
        let mut outstanding = vec![
            consumer("billing-api", "payments", 2, 1),
            consumer("ledger", "finance", 20, 6),
            consumer("etl", "data", 9, 3),
        ];
        for i in 0..20 {
            outstanding.push(consumer(&format!("job-{i:02}"), "batch", 16, 0));
        }
        let confirmations = [Confirmation {
            name: "cron".into(),
            team: "ops".into(),
            by: "U0ANNA".into(),
            at: Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap(),
        }];
        let undeliverable = [Undeliverable {
            team: "partners".into(),
            channel: None,
            reason: "no channel on record".into(),
            consumers: 2,
        }];
        let facts = DigestFacts {
            date: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            timezone: chrono_tz::Tz::UTC,
            deferred: 0,
            thresholds: Thresholds::default(),
            outstanding: &outstanding,
            confirmations: &confirmations,
            undeliverable: &undeliverable,
            repeat_threshold: 3,
        };
        let (text, blocks, summary) = render_digest(&facts);
        assert_eq!(
            text,
            "Rotation digest for 2026-11-23: 23 consumers outstanding across 4 teams."
        );
        let s = blocks.to_string();
        assert!(
            s.contains("gentle: 1 · firm: 0 · urgent: 1 · critical: 21"),
            "{s}"
        );
        assert!(s.contains("• batch: 20 (critical at worst)"), "{s}");
        assert!(s.contains("…and 6 more"), "critical list is cut at 15: {s}");
        assert!(
            s.contains("*ledger* (finance): nudged 6×, 20 days overdue"),
            "{s}"
        );
        assert!(s.contains("*cron* (ops) by <@U0ANNA> on 2026-11-22"), "{s}");
        assert!(
            s.contains("partners (no channel): no channel on record, 2 consumers not told"),
            "{s}"
        );
        assert_eq!(summary["critical"], 21);
        assert_eq!(summary["repeatedly_nudged"], 2);
    }
}
