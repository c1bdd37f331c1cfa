//! Which workflows the Slack interactivity endpoint serves (`SLACK_ROUTER_WORKFLOWS`) and the
//! few settings it needs whatever they are, so a deployment with only the rotation chaser
//! starts without the review's settings.

use std::fmt;

use crate::config::{ConfigError, Env};
use crate::slack::workspace::HomeWorkspace;

const SETTING: &str = "SLACK_ROUTER_WORKFLOWS";
const REVIEW: &str = crate::review::workflow::WORKFLOW;
const ROTATION: &str = crate::rotation::WORKFLOW;

/// The workflows whose buttons this endpoint handles. The template sets the list from the
/// stack's `Enable…` parameters; unset means both, as before the setting existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterWorkflows {
    pub review: bool,
    pub rotation: bool,
}

impl RouterWorkflows {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        if env.text(SETTING).is_none() {
            return Ok(RouterWorkflows {
                review: true,
                rotation: true,
            });
        }
        let mut serves = RouterWorkflows {
            review: false,
            rotation: false,
        };
        for name in env.list(SETTING) {
            match name.as_str() {
                REVIEW => serves.review = true,
                ROTATION => serves.rotation = true,
                other => {
                    return Err(ConfigError {
                        name: SETTING,
                        message: format!(
                            "{:?} is not a workflow with Slack buttons: name {REVIEW} and/or {ROTATION}",
                            crate::text::excerpt(other)
                        ),
                    });
                }
            }
        }
        if !serves.review && !serves.rotation {
            return Err(ConfigError {
                name: SETTING,
                message: format!("name at least one of {REVIEW}, {ROTATION}"),
            });
        }
        Ok(serves)
    }
}

impl fmt::Display for RouterWorkflows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = [(self.review, REVIEW), (self.rotation, ROTATION)]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
        f.write_str(&names.join(","))
    }
}

/// What the endpoint needs whichever workflows it serves.
#[derive(Debug, Clone)]
pub struct RouterSettings {
    pub slack_api_base: String,
    /// Our Slack workspace; learned from `auth.test` when no team id is set.
    pub workspace: HomeWorkspace,
    /// Where recorded review decisions wake the review worker.
    pub event_bus: String,
}

impl RouterSettings {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(RouterSettings {
            slack_api_base: env.text_or("SLACK_API_BASE", "https://slack.com/api"),
            workspace: HomeWorkspace::from_env(env)?,
            event_bus: env.text_or("EVENT_BUS_NAME", "default"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serves(value: Option<&'static str>) -> Result<RouterWorkflows, ConfigError> {
        let pairs: &'static [(&'static str, &'static str)] = match value {
            Some(v) => Box::leak(Box::new([(SETTING, v)])),
            None => &[],
        };
        RouterWorkflows::from_env(&Env::from_pairs(pairs))
    }

    #[test]
    fn unset_serves_both_as_before_the_setting_existed() {
        let both = serves(None).unwrap();
        assert!(both.review && both.rotation);
        assert_eq!(both.to_string(), "privileged-review,rotation-chaser");
    }

    #[test]
    fn a_list_serves_only_what_it_names() {
        let only = serves(Some("rotation-chaser")).unwrap();
        assert!(!only.review && only.rotation);
        let only = serves(Some(" privileged-review ")).unwrap();
        assert!(only.review && !only.rotation);
    }

    #[test]
    fn an_unknown_name_or_an_empty_list_is_refused_with_the_setting_named() {
        for bad in ["mr-audit", ",", "review"] {
            let e = serves(Some(bad)).unwrap_err();
            assert_eq!(e.name, SETTING, "{bad}");
        }
    }
}
