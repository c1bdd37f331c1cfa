//! The review workflow's settings from environment variables: which events count (preset,
//! dataset, filter, field mapping), business hours, windows, where cards go.

use chrono_tz::Tz;

use super::decision::ReviewerPolicy;
use super::event::FieldMapping;
use super::risk::RiskConfig;
use super::source::Preset;
use super::workflow::ReviewSettings;
use crate::config::{ConfigError, Env, LlmSettings};

/// Everything the scheduled review needs besides credentials.
#[derive(Debug, Clone)]
pub struct ReviewConfig {
    pub axiom_url: String,
    pub axiom_org_id: Option<String>,
    /// Where review events are written (its own dataset, so reviews never count as grants).
    pub events_dataset: String,
    pub slack_api_base: String,
    pub workflow: ReviewSettings,
    pub llm: LlmSettings,
    pub policy: ReviewerPolicy,
    /// Where revoke and escalate decisions are sent (signed), if anywhere.
    pub webhook_url: Option<String>,
    /// The event bus that hands decisions to the review worker.
    pub event_bus: String,
    /// Our Slack workspace (`SLACK_TEAM_ID`, `SLACK_ENTERPRISE_ID`); when no team id is set,
    /// the interactivity endpoint learns it from `auth.test`.
    pub workspace: crate::slack::workspace::HomeWorkspace,
}

fn list(
    value: Option<String>,
    default: &RiskConfig,
    pick: fn(&RiskConfig) -> &Vec<String>,
) -> Vec<String> {
    match value {
        Some(v) => v
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
        None => pick(default).clone(),
    }
}

fn business_hours(text: &str) -> Result<(u32, u32), ConfigError> {
    let bad = || ConfigError {
        name: "REVIEW_BUSINESS_HOURS",
        message: format!("{text:?} is not HH-HH with start < end, e.g. 08-19"),
    };
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let (start, end): (u32, u32) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    );
    if start < end && end <= 24 {
        Ok((start, end))
    } else {
        Err(bad())
    }
}

impl ReviewConfig {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let preset: Preset = env.parse_or("REVIEW_PRESET", Preset::Generic)?;
        let dataset = env.text_or("REVIEW_DATASET", preset.default_dataset());
        let mut source = preset.source(&dataset);
        if let Some(filter) = env.text("REVIEW_APL_FILTER") {
            source.filter = filter;
        }
        let m = &mut source.mapping;
        let fields: [(&'static str, &mut String); 7] = [
            ("REVIEW_FIELD_EVENT_ID", &mut m.event_id),
            ("REVIEW_FIELD_TIME", &mut m.time),
            ("REVIEW_FIELD_GRANTOR", &mut m.grantor),
            ("REVIEW_FIELD_GRANTEE", &mut m.grantee),
            ("REVIEW_FIELD_ROLE", &mut m.role),
            ("REVIEW_FIELD_TARGET", &mut m.target),
            ("REVIEW_FIELD_SOURCE", &mut m.source),
        ];
        for (name, slot) in fields {
            if let Some(v) = env.text(name) {
                *slot = v;
            }
        }
        check_mapping(&source.mapping)?;
        let defaults = RiskConfig::default();
        let timezone_name = env.text_or("REVIEW_TIMEZONE", "UTC");
        let timezone: Tz = timezone_name.parse().map_err(|_| ConfigError {
            name: "REVIEW_TIMEZONE",
            message: format!("{timezone_name:?} is not an IANA timezone such as Europe/Berlin"),
        })?;
        let (business_start_hour, business_end_hour) =
            business_hours(&env.text_or("REVIEW_BUSINESS_HOURS", "08-19"))?;
        let review_channel = env.text("REVIEW_SLACK_CHANNEL").ok_or(ConfigError {
            name: "REVIEW_SLACK_CHANNEL",
            message: "required: the Slack channel id review cards are posted to".to_owned(),
        })?;
        let minutes = |n: u64| chrono::Duration::minutes(n as i64);
        let llm = LlmSettings::from_env(env)?;
        let webhook_url = env.text("REVIEW_WEBHOOK_URL");
        let domain_aliases = super::identity::DomainAliases::parse(
            &env.text("REVIEW_DOMAIN_ALIASES").unwrap_or_default(),
        )
        .map_err(|message| ConfigError {
            name: "REVIEW_DOMAIN_ALIASES",
            message,
        })?;
        Ok(Self {
            axiom_url: env.text_or("AXIOM_URL", "https://api.axiom.co"),
            axiom_org_id: env.text("AXIOM_ORG_ID"),
            events_dataset: env.text_or("REVIEW_EVENTS_DATASET", "secops-reviews"),
            slack_api_base: env.text_or("SLACK_API_BASE", "https://slack.com/api"),
            workflow: ReviewSettings {
                source,
                risk: RiskConfig {
                    timezone,
                    business_start_hour,
                    business_end_hour,
                    break_glass_patterns: list(
                        env.text("REVIEW_BREAK_GLASS_PATTERNS"),
                        &defaults,
                        |d| &d.break_glass_patterns,
                    ),
                    owner_patterns: list(env.text("REVIEW_OWNER_PATTERNS"), &defaults, |d| {
                        &d.owner_patterns
                    }),
                    burst_threshold: env.bounded("REVIEW_BURST_THRESHOLD", 5, 2..=1_000)? as usize,
                },
                ingest_lag: minutes(env.bounded("REVIEW_INGEST_LAG_MINUTES", 10, 0..=1_440)?),
                late_window: chrono::Duration::hours(env.bounded(
                    "REVIEW_LATE_WINDOW_HOURS",
                    24,
                    0..=168,
                )? as i64),
                query_delay: chrono::Duration::seconds(env.bounded(
                    "REVIEW_QUERY_DELAY_SECS",
                    60,
                    0..=3_600,
                )? as i64),
                initial_lookback: minutes(
                    60 * env.bounded("REVIEW_INITIAL_LOOKBACK_HOURS", 1, 0..=720)?,
                ),
                history: chrono::Duration::days(
                    env.bounded("REVIEW_HISTORY_DAYS", 30, 0..=365)? as i64
                ),
                review_channel,
                llm_concurrency: llm.concurrency,
                max_tasks_per_run: env.bounded("REVIEW_MAX_TASKS_PER_RUN", 200, 1..=10_000)? as i64,
                domain_aliases: domain_aliases.clone(),
            },
            llm,
            policy: ReviewerPolicy {
                reviewer_groups: env.list("REVIEW_REVIEWER_GROUPS"),
                reviewer_allowlist: env.list("REVIEW_REVIEWER_ALLOWLIST"),
                escalation_groups: env.list("REVIEW_ESCALATION_GROUPS"),
                escalation_channel: env.text("REVIEW_ESCALATION_CHANNEL"),
                webhook_enabled: webhook_url.is_some(),
                timezone,
                domain_aliases,
            },
            webhook_url,
            event_bus: env.text_or("EVENT_BUS_NAME", "default"),
            workspace: crate::slack::workspace::HomeWorkspace::from_env(env)?,
        })
    }
}

/// `event_id` and `time` must name something: without them there is no dedupe and no window.
fn check_mapping(m: &FieldMapping) -> Result<(), ConfigError> {
    for (name, value) in [
        ("REVIEW_FIELD_EVENT_ID", &m.event_id),
        ("REVIEW_FIELD_TIME", &m.time),
    ] {
        if value.trim().is_empty() || value.starts_with('=') {
            return Err(ConfigError {
                name,
                message: format!("{value:?} cannot identify events: name the field that holds it"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> Env<impl Fn(&str) -> Option<String>> {
        Env::from_pairs(pairs)
    }

    #[test]
    fn the_okta_preset_with_overrides() {
        let c = ReviewConfig::from_env(&env(&[
            ("REVIEW_PRESET", "okta"),
            ("REVIEW_SLACK_CHANNEL", "C1"),
            ("REVIEW_FIELD_TARGET", "=Okta prod"),
            ("REVIEW_TIMEZONE", "Europe/Berlin"),
            ("REVIEW_BUSINESS_HOURS", "07-18"),
        ]))
        .unwrap();
        assert_eq!(c.workflow.source.dataset, "okta");
        assert_eq!(c.workflow.source.mapping.target, "=Okta prod");
        assert_eq!(c.workflow.risk.timezone, chrono_tz::Europe::Berlin);
        assert_eq!(
            (
                c.workflow.risk.business_start_hour,
                c.workflow.risk.business_end_hour
            ),
            (7, 18)
        );
    }

    #[test]
    fn an_event_id_mapped_to_a_fixed_value_is_refused() {
        let err = ReviewConfig::from_env(&env(&[
            ("REVIEW_SLACK_CHANNEL", "C1"),
            ("REVIEW_FIELD_EVENT_ID", "=same"),
        ]))
        .unwrap_err();
        assert_eq!(err.name, "REVIEW_FIELD_EVENT_ID");
    }

    #[test]
    fn bad_timezones_and_hours_name_their_variable() {
        let tz = ReviewConfig::from_env(&env(&[
            ("REVIEW_SLACK_CHANNEL", "C1"),
            ("REVIEW_TIMEZONE", "Mars/Base"),
        ]))
        .unwrap_err();
        assert_eq!(tz.name, "REVIEW_TIMEZONE");
        let hours = ReviewConfig::from_env(&env(&[
            ("REVIEW_SLACK_CHANNEL", "C1"),
            ("REVIEW_BUSINESS_HOURS", "19-08"),
        ]))
        .unwrap_err();
        assert_eq!(hours.name, "REVIEW_BUSINESS_HOURS");
    }

    #[test]
    fn workspace_ids_are_read_and_a_malformed_one_names_its_variable() {
        let c = ReviewConfig::from_env(&env(&[
            ("REVIEW_SLACK_CHANNEL", "C1"),
            ("SLACK_TEAM_ID", "T0ACME, T0ACME2"),
            ("SLACK_ENTERPRISE_ID", "E0ORG"),
        ]))
        .unwrap();
        assert_eq!(c.workspace.team_ids, ["T0ACME", "T0ACME2"]);
        assert_eq!(c.workspace.enterprise_id.as_deref(), Some("E0ORG"));
        for (name, value) in [("SLACK_TEAM_ID", "acme"), ("SLACK_ENTERPRISE_ID", "T0X")] {
            let pairs: &'static [(&'static str, &'static str)] =
                Box::leak(Box::new([("REVIEW_SLACK_CHANNEL", "C1"), (name, value)]));
            assert_eq!(ReviewConfig::from_env(&env(pairs)).unwrap_err().name, name);
        }
    }

    #[test]
    fn domain_aliases_are_read_and_a_bad_one_names_its_variable() {
        let c = ReviewConfig::from_env(&env(&[
            ("REVIEW_SLACK_CHANNEL", "C1"),
            ("REVIEW_DOMAIN_ALIASES", "corp.example,example.com"),
        ]))
        .unwrap();
        assert_eq!(c.policy.domain_aliases.same_org("example.com").len(), 2);
        assert_eq!(c.workflow.domain_aliases, c.policy.domain_aliases);
        let err = ReviewConfig::from_env(&env(&[
            ("REVIEW_SLACK_CHANNEL", "C1"),
            ("REVIEW_DOMAIN_ALIASES", "corp.example"),
        ]))
        .unwrap_err();
        assert_eq!(err.name, "REVIEW_DOMAIN_ALIASES");
    }

    #[test]
    fn the_review_channel_is_required() {
        assert_eq!(
            ReviewConfig::from_env(&env(&[])).unwrap_err().name,
            "REVIEW_SLACK_CHANNEL"
        );
    }
}
