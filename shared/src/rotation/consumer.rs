//! Campaigns (a key being retired) and the consumers still to move off it, as the security team
//! lists them, and the CSV importers that load them: every row is validated first, and a file
//! with any bad row imports nothing.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::rows::{ImportError, all_or_nothing, read_csv};

/// Where a consumer stands in the rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum ConsumerStatus {
    Pending,
    Confirmed,
    /// Not chased, for a reason, possibly until a date.
    Exempt {
        reason: String,
        until: Option<NaiveDate>,
    },
}

/// One service, job or partner still to move to the new key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consumer {
    pub campaign: String,
    pub name: String,
    pub team: String,
    /// The team's Slack channel id; without one the team is reported as undeliverable.
    pub channel: Option<String>,
    /// The team lead's Slack user id, mentioned once a consumer is urgent.
    pub team_lead: Option<String>,
    /// The consumer's own deadline; `None` takes the campaign's.
    pub deadline: Option<NaiveDate>,
    /// `None` (a blank CSV cell) keeps a known consumer's status; a new one starts pending.
    pub status: Option<ConsumerStatus>,
}

/// A key rotation: which key is being retired, which replaces it, and by when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    pub campaign: String,
    /// How people name the retired key (never the key material).
    pub retired_key: String,
    pub replacement_key: String,
    pub deadline: NaiveDate,
}

/// A CSV row: `campaign,retired_key,replacement_key,deadline`.
#[derive(Debug, Deserialize)]
struct CsvCampaign {
    campaign: String,
    retired_key: String,
    replacement_key: String,
    deadline: String,
}

/// A CSV row: `campaign,consumer,team,channel,team_lead,deadline,status,exempt_reason,exempt_until`.
#[derive(Debug, Deserialize)]
struct CsvConsumer {
    campaign: String,
    consumer: String,
    team: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    team_lead: String,
    #[serde(default)]
    deadline: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    exempt_reason: String,
    #[serde(default)]
    exempt_until: String,
}

type FieldResult<T> = Result<T, (&'static str, String)>;

/// Longest name, team, campaign or key accepted: they are shown in Slack messages, whose
/// sections hold at most 3,000 characters.
pub const MAX_TEXT_CHARS: usize = 100;

fn required(field: &'static str, value: &str) -> FieldResult<String> {
    let v = value.trim();
    if v.is_empty() {
        Err((field, "is empty".to_owned()))
    } else if v.chars().any(char::is_control) {
        Err((field, "contains control characters".to_owned()))
    } else if v.chars().count() > MAX_TEXT_CHARS {
        Err((field, format!("is longer than {MAX_TEXT_CHARS} characters")))
    } else {
        Ok(v.to_owned())
    }
}

/// An optional Slack id: `prefixes` are the id kinds allowed (channels `C`/`G`, users `U`/`W`).
fn slack_id(field: &'static str, value: &str, prefixes: &[char]) -> FieldResult<Option<String>> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if crate::slack::is_id(v, prefixes) {
        Ok(Some(v.to_owned()))
    } else {
        let kinds: String = prefixes.iter().collect();
        Err((
            field,
            format!("{v:?} is not a Slack id (starting with one of {kinds}, e.g. C0123ABCD)"),
        ))
    }
}

fn date(field: &'static str, value: &str) -> FieldResult<NaiveDate> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| {
        (
            field,
            format!("{:?} is not a date as YYYY-MM-DD", value.trim()),
        )
    })
}

impl CsvConsumer {
    fn parse(self) -> FieldResult<Consumer> {
        let status = match self.status.trim().to_ascii_lowercase().as_str() {
            "" => None,
            "pending" => Some(ConsumerStatus::Pending),
            "confirmed" => Some(ConsumerStatus::Confirmed),
            "exempt" => Some(ConsumerStatus::Exempt {
                reason: required("exempt_reason", &self.exempt_reason)?,
                until: match self.exempt_until.trim() {
                    "" => None,
                    d => Some(date("exempt_until", d)?),
                },
            }),
            other => {
                return Err((
                    "status",
                    format!("{other:?} is not pending, confirmed or exempt"),
                ));
            }
        };
        Ok(Consumer {
            campaign: required("campaign", &self.campaign)?,
            name: required("consumer", &self.consumer)?,
            team: required("team", &self.team)?,
            channel: slack_id("channel", &self.channel, &['C', 'G'])?,
            team_lead: slack_id("team_lead", &self.team_lead, &['U', 'W'])?,
            deadline: match self.deadline.trim() {
                "" => None,
                d => Some(date("deadline", d)?),
            },
            status,
        })
    }
}

impl CsvCampaign {
    fn parse(self) -> FieldResult<Campaign> {
        Ok(Campaign {
            campaign: required("campaign", &self.campaign)?,
            retired_key: required("retired_key", &self.retired_key)?,
            replacement_key: required("replacement_key", &self.replacement_key)?,
            deadline: date("deadline", &self.deadline)?,
        })
    }
}

/// Validate a campaigns CSV held in memory; `origin` names it in errors.
pub fn parse_campaigns(origin: &str, content: &str) -> Result<Vec<Campaign>, ImportError> {
    let rows = read_csv(origin, content, CsvCampaign::parse)?;
    all_or_nothing(
        origin,
        rows,
        |c: &Campaign| c.campaign.clone(),
        |c, first| {
            (
                "campaign",
                format!("{:?} appears twice (first in row {first})", c.campaign),
            )
        },
    )
}

/// Validate a consumers CSV held in memory; `origin` names it in errors.
pub fn parse_consumers(origin: &str, content: &str) -> Result<Vec<Consumer>, ImportError> {
    let rows = read_csv(origin, content, CsvConsumer::parse)?;
    all_or_nothing(
        origin,
        rows,
        |c: &Consumer| (c.campaign.clone(), c.name.to_lowercase()),
        |c, first| {
            (
                "consumer",
                format!(
                    "{:?} appears twice in campaign {:?} (first in row {first})",
                    c.name, c.campaign
                ),
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "campaign,consumer,team,channel,team_lead,deadline,status,exempt_reason,exempt_until\n";

    #[test]
    fn a_valid_file_becomes_consumers() {
        let csv = format!(
            "{HEADER}stripe-2026,billing-api,payments,C0PAYMENTS,U0LEAD01,2026-11-20,,,\n\
             stripe-2026,partner-feed,partners,,,2026-11-25,exempt,vendor freeze,2026-12-15\n"
        );
        let consumers = parse_consumers("c.csv", &csv).unwrap();
        assert_eq!(consumers.len(), 2);
        assert_eq!(consumers[0].channel.as_deref(), Some("C0PAYMENTS"));
        assert_eq!(consumers[0].status, None);
        assert_eq!(
            consumers[1].status,
            Some(ConsumerStatus::Exempt {
                reason: "vendor freeze".into(),
                until: NaiveDate::from_ymd_opt(2026, 12, 15)
            })
        );
    }

    #[test]
    fn every_bad_row_is_named_with_its_field_and_nothing_is_returned() {
        let csv = format!(
            "{HEADER}stripe-2026,billing-api,payments,C0PAYMENTS,,2026-11-20,,,\n\
             stripe-2026,ledger,finance,#finance,,2026-11-20,,,\n\
             stripe-2026,etl,data,,,20/11/2026,,,\n\
             stripe-2026,cron,ops,,,2026-11-20,exempt,,\n\
             stripe-2026,Billing-API,payments,,,2026-11-20,,,\n"
        );
        let text = parse_consumers("c.csv", &csv).unwrap_err().to_string();
        assert!(
            text.contains("4 malformed row(s), nothing imported"),
            "{text}"
        );
        assert!(text.contains("row 2, field `channel`"), "{text}");
        assert!(text.contains("row 3, field `deadline`"), "{text}");
        assert!(text.contains("row 4, field `exempt_reason`"), "{text}");
        assert!(
            text.contains("row 5, field `consumer`: \"Billing-API\" appears twice"),
            "{text}"
        );
    }

    #[test]
    fn overlong_names_are_refused() {
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        let csv = format!("{HEADER}stripe-2026,{long},payments,,,,,,\n");
        let text = parse_consumers("c.csv", &csv).unwrap_err().to_string();
        assert!(
            text.contains("field `consumer`: is longer than 100 characters"),
            "{text}"
        );
    }

    #[test]
    fn a_blank_deadline_takes_the_campaigns() {
        let csv = format!("{HEADER}stripe-2026,billing-api,payments,,,,,,\n");
        assert_eq!(parse_consumers("c.csv", &csv).unwrap()[0].deadline, None);
    }

    #[test]
    fn campaigns_parse_and_name_their_bad_rows() {
        let ok = "campaign,retired_key,replacement_key,deadline\n\
                  stripe-2026,stripe-live-2024,stripe-live-2026,2026-11-20\n";
        let campaigns = parse_campaigns("k.csv", ok).unwrap();
        assert_eq!(campaigns[0].retired_key, "stripe-live-2024");
        let bad = "campaign,retired_key,replacement_key,deadline\n\
                   a,old,new,2026-11-20\n\
                   b,,new,2026-11-20\n\
                   a,old,new,2026-11-21\n";
        let text = parse_campaigns("k.csv", bad).unwrap_err().to_string();
        assert!(text.contains("row 2, field `retired_key`"), "{text}");
        assert!(text.contains("row 3, field `campaign`"), "{text}");
    }

    #[test]
    fn a_missing_column_is_named() {
        let csv = "campaign,consumer\nstripe-2026,billing-api\n";
        let text = parse_consumers("c.csv", csv).unwrap_err().to_string();
        assert!(text.contains("`team`"), "{text}");
    }
}
