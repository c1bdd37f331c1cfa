//! The MR audit's settings from environment variables: which labels count, where GitLab and
//! Confluence are, which Linear teams link, and where Slack confirmations go.

use super::event::LabelPattern;
use super::links::MAX_LINKED;
use super::projects::ProjectAllowlist;
use super::workflow::{AuditSettings, ChannelMap, DEFAULT_MAX_CLOSES};
use crate::config::{ConfigError, Env};

/// Everything the webhook endpoint and the audit worker need besides credentials.
#[derive(Debug, Clone)]
pub struct MrAuditConfig {
    pub labels: LabelPattern,
    pub gitlab_url: String,
    pub linear_api_url: String,
    pub linear_label: String,
    pub confluence_url: Option<String>,
    pub confluence_page_id: Option<String>,
    pub max_page_chars: usize,
    pub slack_api_base: String,
    pub event_bus: String,
    pub audit: AuditSettings,
}

fn required_for_worker(name: &'static str, value: &Option<String>) -> Result<String, ConfigError> {
    value.clone().ok_or(ConfigError {
        name,
        message: "required by the audit worker".to_owned(),
    })
}

/// `security::crypto=C0CRYPTO,security::iam*=C0IAM`: label pattern to channel id, first match wins.
fn channel_map(text: &str) -> Result<Vec<(LabelPattern, String)>, ConfigError> {
    let bad = |message: String| ConfigError {
        name: "MR_AUDIT_CHANNEL_MAP",
        message,
    };
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (pattern, channel) = pair
                .split_once('=')
                .ok_or_else(|| bad(format!("{pair:?} is not label-pattern=channel-id")))?;
            let channel = channel.trim();
            if !crate::slack::is_id(channel, &['C', 'G']) {
                return Err(bad(format!("{channel:?} is not a Slack channel id")));
            }
            Ok((LabelPattern::new(pattern).map_err(bad)?, channel.to_owned()))
        })
        .collect()
}

impl MrAuditConfig {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let labels = LabelPattern::new(&env.text_or("MR_AUDIT_LABEL_PATTERN", "security::*"))
            .map_err(|message| ConfigError {
                name: "MR_AUDIT_LABEL_PATTERN",
                message,
            })?;
        let team_keys: Vec<String> = env
            .text_or("MR_AUDIT_LINEAR_TEAM_KEYS", "SEC")
            .split(',')
            .map(|k| k.trim().to_ascii_uppercase())
            .filter(|k| !k.is_empty())
            .collect();
        if let Some(bad) = team_keys
            .iter()
            .find(|k| !k.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return Err(ConfigError {
                name: "MR_AUDIT_LINEAR_TEAM_KEYS",
                message: format!("{bad:?} is not a Linear team key such as SEC"),
            });
        }
        Ok(Self {
            labels,
            gitlab_url: env.text_or("GITLAB_URL", "https://gitlab.com"),
            linear_api_url: env.text_or("LINEAR_API_URL", "https://api.linear.app/graphql"),
            linear_label: env.text_or("MR_AUDIT_LINEAR_LABEL", "audited"),
            confluence_url: env.text("CONFLUENCE_URL"),
            confluence_page_id: env.text("CONFLUENCE_PAGE_ID"),
            max_page_chars: env.bounded("CONFLUENCE_MAX_PAGE_CHARS", 400_000, 10_000..=5_000_000)?
                as usize,
            slack_api_base: env.text_or("SLACK_API_BASE", "https://slack.com/api"),
            event_bus: env.text_or("EVENT_BUS_NAME", "default"),
            audit: AuditSettings {
                team_keys,
                channels: ChannelMap {
                    by_label: channel_map(&env.text_or("MR_AUDIT_CHANNEL_MAP", ""))?,
                    default_channel: env.text_or("MR_AUDIT_SLACK_CHANNEL", ""),
                    security_channel: env.text("MR_AUDIT_SECURITY_CHANNEL"),
                },
                lease: chrono::Duration::minutes(5),
                max_closes: env.bounded(
                    "MR_AUDIT_MAX_CLOSES",
                    DEFAULT_MAX_CLOSES as u64,
                    1..=MAX_LINKED as u64,
                )? as usize,
                projects: ProjectAllowlist::parse(&env.text_or("MR_AUDIT_GITLAB_PROJECTS", ""))
                    .map_err(|message| ConfigError {
                        name: "MR_AUDIT_GITLAB_PROJECTS",
                        message,
                    })?,
            },
        })
    }

    /// The worker's required settings: the Confluence page and the Slack channel.
    pub fn require_worker_settings(&self) -> Result<(String, String), ConfigError> {
        if self.audit.channels.default_channel.is_empty() {
            return Err(ConfigError {
                name: "MR_AUDIT_SLACK_CHANNEL",
                message: "required by the audit worker: the default channel for confirmations"
                    .to_owned(),
            });
        }
        Ok((
            required_for_worker("CONFLUENCE_URL", &self.confluence_url)?,
            required_for_worker("CONFLUENCE_PAGE_ID", &self.confluence_page_id)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> Env<impl Fn(&str) -> Option<String>> {
        Env::from_pairs(pairs)
    }

    #[test]
    fn defaults_and_a_channel_map() {
        let c = MrAuditConfig::from_env(&env(&[
            (
                "MR_AUDIT_CHANNEL_MAP",
                "security::crypto=C0CRYPTO0, security::*=C0SECPOD0",
            ),
            ("MR_AUDIT_SLACK_CHANNEL", "C0DEFAULT"),
        ]))
        .unwrap();
        assert!(c.labels.matches("security::review"));
        assert_eq!(c.audit.team_keys, ["SEC"]);
        let channels = &c.audit.channels;
        assert_eq!(
            channels.channel_for(&["security::crypto".into()]),
            "C0CRYPTO0"
        );
        assert_eq!(channels.channel_for(&["security::iam".into()]), "C0SECPOD0");
        assert_eq!(channels.channel_for(&["other".into()]), "C0DEFAULT");
        assert_eq!(
            c.require_worker_settings().unwrap_err().name,
            "CONFLUENCE_URL"
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (pairs, name) in [
            (
                &[("MR_AUDIT_CHANNEL_MAP", "security::x")][..],
                "MR_AUDIT_CHANNEL_MAP",
            ),
            (
                &[("MR_AUDIT_CHANNEL_MAP", "security::x=#sec")][..],
                "MR_AUDIT_CHANNEL_MAP",
            ),
            (
                &[("MR_AUDIT_LABEL_PATTERN", "*")][..],
                "MR_AUDIT_LABEL_PATTERN",
            ),
            (
                &[("MR_AUDIT_LINEAR_TEAM_KEYS", "SEC,A-B")][..],
                "MR_AUDIT_LINEAR_TEAM_KEYS",
            ),
            (
                &[("MR_AUDIT_GITLAB_PROJECTS", "security/app, https://x")][..],
                "MR_AUDIT_GITLAB_PROJECTS",
            ),
            (&[("MR_AUDIT_MAX_CLOSES", "0")][..], "MR_AUDIT_MAX_CLOSES"),
            (&[("MR_AUDIT_MAX_CLOSES", "26")][..], "MR_AUDIT_MAX_CLOSES"),
            (&[("MR_AUDIT_MAX_CLOSES", "ten")][..], "MR_AUDIT_MAX_CLOSES"),
        ] {
            let pairs: &'static [(&'static str, &'static str)] = pairs;
            assert_eq!(MrAuditConfig::from_env(&env(pairs)).unwrap_err().name, name);
        }
    }
}
