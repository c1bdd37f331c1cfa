//! The rotation chaser's checks: its settings (a digest target among them) and Slack (scopes,
//! the digest channel, the security group). The team channels come from the campaigns in
//! Postgres, not from settings: each is checked when the chaser first posts there.

use super::checklist::Checklist;
use super::common::setting_fix;
use super::{Context, Workflow, credentials, slack};
use crate::config::{ConfigError, Env};
use crate::rotation::config::RotationConfig;

const WORKFLOW: &str = "rotation-chaser";

pub(super) struct Settings(Result<RotationConfig, ConfigError>);

impl Settings {
    pub(super) fn read<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Self {
        Settings(RotationConfig::from_env(env).and_then(|config| {
            config.require_digest_target()?;
            Ok(config)
        }))
    }
}

pub(super) async fn check(list: &mut Checklist, context: &Context, settings: &Settings) {
    let config = match &settings.0 {
        Ok(config) => config,
        Err(e) => {
            list.record(WORKFLOW, "settings")
                .fail("settings parse", e.to_string(), setting_fix(e));
            credentials::check(list, context, Workflow::RotationChaser);
            list.record(WORKFLOW, "services")
                .skip("slack", "the workflow's settings do not parse");
            return;
        }
    };
    let digest = config.sweep.digest_to.clone().unwrap_or_default();
    list.record(WORKFLOW, "settings")
        .pass("settings parse", format!("the digest goes to {digest}"));
    credentials::check(list, context, Workflow::RotationChaser);
    let mut scopes = vec!["chat:write", "users:read", "channels:read", "groups:read"];
    let groups: Vec<(&'static str, String)> = config
        .clicks
        .policy
        .security_groups
        .iter()
        .map(|g| ("ROTATION_SECURITY_GROUP", g.clone()))
        .collect();
    if !groups.is_empty() {
        scopes.push("usergroups:read");
    }
    let needs = slack::Needs {
        api_base: &config.slack_api_base,
        scopes,
        channels: vec![("ROTATION_DIGEST_TO", digest)],
        groups,
    };
    slack::check(list, WORKFLOW, context, &needs).await;
}
