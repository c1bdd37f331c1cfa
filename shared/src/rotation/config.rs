//! The rotation chaser's settings from environment variables: lateness thresholds, cadence,
//! timezone, who is mentioned, where the digest goes, and who may confirm.

use std::time::Duration;

use chrono_tz::Tz;

use super::bucket::Thresholds;
use super::clicks::{ClickSettings, ConfirmPolicy};
use super::workflow::SweepSettings;
use crate::config::{ConfigError, Env};

/// Everything the chaser and its clicks need besides credentials.
#[derive(Debug, Clone)]
pub struct RotationConfig {
    pub sweep: SweepSettings,
    pub clicks: ClickSettings,
    pub slack_api_base: String,
}

fn slack_id(
    name: &'static str,
    value: Option<String>,
    prefixes: &[char],
) -> Result<Option<String>, ConfigError> {
    match value {
        None => Ok(None),
        Some(v) if crate::slack::is_id(&v, prefixes) => Ok(Some(v)),
        Some(v) => Err(ConfigError {
            name,
            message: format!(
                "{v:?} is not a Slack id starting with one of {}",
                prefixes.iter().collect::<String>()
            ),
        }),
    }
}

fn flag<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match env.text(name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if matches!(v.as_str(), "true" | "yes" | "1") => Ok(true),
        Some(v) if matches!(v.as_str(), "false" | "no" | "0") => Ok(false),
        Some(v) => Err(ConfigError {
            name,
            message: format!("{v:?} is not true or false"),
        }),
    }
}

fn confirmers(text: &str) -> Result<(bool, bool), ConfigError> {
    let mut team_channel = false;
    let mut security_group = false;
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part {
            "team_channel" => team_channel = true,
            "security_group" => security_group = true,
            other => {
                return Err(ConfigError {
                    name: "ROTATION_CONFIRMERS",
                    message: format!("{other:?} is not team_channel or security_group"),
                });
            }
        }
    }
    if !team_channel && !security_group {
        return Err(ConfigError {
            name: "ROTATION_CONFIRMERS",
            message: "name at least one of team_channel, security_group".to_owned(),
        });
    }
    Ok((team_channel, security_group))
}

impl RotationConfig {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let timezone_name = env.text_or("ROTATION_TIMEZONE", "UTC");
        let timezone: Tz = timezone_name.parse().map_err(|_| ConfigError {
            name: "ROTATION_TIMEZONE",
            message: format!("{timezone_name:?} is not an IANA timezone such as Europe/Berlin"),
        })?;
        let thresholds: Thresholds = env.parse_or("ROTATION_THRESHOLDS", Thresholds::default())?;
        let security_lead = slack_id(
            "ROTATION_SECURITY_LEAD",
            env.text("ROTATION_SECURITY_LEAD"),
            &['U', 'W'],
        )?;
        let digest_to = slack_id(
            "ROTATION_DIGEST_TO",
            env.text("ROTATION_DIGEST_TO"),
            &['C', 'G', 'U', 'W'],
        )?
        .or_else(|| security_lead.clone());
        let (team_channel, use_group) =
            confirmers(&env.text_or("ROTATION_CONFIRMERS", "team_channel,security_group"))?;
        let groups = env.list("ROTATION_SECURITY_GROUP");
        if use_group && !team_channel && groups.is_empty() {
            return Err(ConfigError {
                name: "ROTATION_SECURITY_GROUP",
                message: "required when ROTATION_CONFIRMERS is security_group alone".to_owned(),
            });
        }
        Ok(Self {
            sweep: SweepSettings {
                timezone,
                thresholds,
                nudge_interval: chrono::Duration::hours(env.bounded(
                    "ROTATION_NUDGE_INTERVAL_HOURS",
                    20,
                    1..=24 * 14,
                )? as i64),
                skip_weekends: flag(env, "ROTATION_SKIP_WEEKENDS", true)?,
                security_lead,
                digest_to,
                repeat_threshold: env.bounded("ROTATION_REPEAT_THRESHOLD", 3, 1..=100)? as u32,
                concurrency: env.bounded("ROTATION_CONCURRENCY", 4, 1..=16)? as usize,
                channel_spacing: Duration::from_millis(env.bounded(
                    "ROTATION_CHANNEL_SPACING_MS",
                    1_100,
                    0..=10_000,
                )?),
                deadline_margin: SweepSettings::default().deadline_margin,
            },
            clicks: ClickSettings {
                policy: ConfirmPolicy {
                    team_channel,
                    security_groups: if use_group { groups } else { Vec::new() },
                },
                max_snooze_days: env.bounded("ROTATION_MAX_SNOOZE_DAYS", 7, 1..=30)? as u32,
                timezone,
            },
            slack_api_base: env.text_or("SLACK_API_BASE", "https://slack.com/api"),
        })
    }

    /// The scheduled chaser cannot run without somewhere to send the digest.
    pub fn require_digest_target(&self) -> Result<&str, ConfigError> {
        self.sweep.digest_to.as_deref().ok_or(ConfigError {
            name: "ROTATION_DIGEST_TO",
            message: "required (or ROTATION_SECURITY_LEAD): the channel id, or the user id to DM, that receives the digest".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> Env<impl Fn(&str) -> Option<String>> {
        Env::from_pairs(pairs)
    }

    #[test]
    fn defaults_and_the_digest_goes_to_the_security_lead() {
        let c = RotationConfig::from_env(&env(&[("ROTATION_SECURITY_LEAD", "U0SECLEAD")])).unwrap();
        assert_eq!(c.sweep.nudge_interval, chrono::Duration::hours(20));
        assert!(c.sweep.skip_weekends);
        assert_eq!(c.sweep.thresholds, Thresholds::default());
        assert_eq!(c.require_digest_target().unwrap(), "U0SECLEAD");
        assert!(c.clicks.policy.team_channel);
        assert_eq!(c.clicks.max_snooze_days, 7);
    }

    #[test]
    fn every_bad_value_names_its_variable() {
        let cases: [&'static [(&'static str, &'static str)]; 6] = [
            &[("ROTATION_TIMEZONE", "Mars/Base")],
            &[("ROTATION_THRESHOLDS", "8,4,15")],
            &[("ROTATION_SKIP_WEEKENDS", "sometimes")],
            &[("ROTATION_DIGEST_TO", "#security")],
            &[("ROTATION_CONFIRMERS", "anyone")],
            &[("ROTATION_MAX_SNOOZE_DAYS", "90")],
        ];
        let names = [
            "ROTATION_TIMEZONE",
            "ROTATION_THRESHOLDS",
            "ROTATION_SKIP_WEEKENDS",
            "ROTATION_DIGEST_TO",
            "ROTATION_CONFIRMERS",
            "ROTATION_MAX_SNOOZE_DAYS",
        ];
        for (pairs, name) in cases.into_iter().zip(names) {
            assert_eq!(
                RotationConfig::from_env(&env(pairs)).unwrap_err().name,
                name
            );
        }
    }

    #[test]
    fn security_group_alone_needs_a_group() {
        let err = RotationConfig::from_env(&env(&[("ROTATION_CONFIRMERS", "security_group")]))
            .unwrap_err();
        assert_eq!(err.name, "ROTATION_SECURITY_GROUP");
        let ok = RotationConfig::from_env(&env(&[
            ("ROTATION_CONFIRMERS", "security_group"),
            ("ROTATION_SECURITY_GROUP", "S0SECURITY"),
        ]))
        .unwrap();
        assert!(!ok.clicks.policy.team_channel);
        assert_eq!(ok.clicks.policy.security_groups, ["S0SECURITY"]);
    }

    #[test]
    fn no_digest_target_is_an_error_for_the_chaser() {
        let c = RotationConfig::from_env(&env(&[])).unwrap();
        assert_eq!(
            c.require_digest_target().unwrap_err().name,
            "ROTATION_DIGEST_TO"
        );
    }
}
