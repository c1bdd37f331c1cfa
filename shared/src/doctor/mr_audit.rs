//! The MR audit's checks: its settings (the worker's page and channel among them), GitLab (the
//! token and each configured project), Linear (the key, each team key and its completed state),
//! Confluence (the page, its audit table, edit permission) and Slack (scope and channels).

use super::checklist::{Checklist, quoted};
use super::common::settings_unreadable;
use super::{Context, Workflow, confluence, credentials, gitlab, linear, slack};
use crate::config::{ConfigError, Env};
use crate::mr_audit::WORKFLOW;
use crate::mr_audit::config::MrAuditConfig;

/// The settings, with the worker's required Confluence URL and page id.
pub(super) struct Settings(Result<(MrAuditConfig, String, String), ConfigError>);

impl Settings {
    pub(super) fn read<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Self {
        Settings(MrAuditConfig::from_env(env).and_then(|config| {
            let (url, page) = config.require_worker_settings()?;
            Ok((config, url, page))
        }))
    }
}

pub(super) async fn check(list: &mut Checklist, context: &Context, settings: &Settings) {
    let (config, confluence_url, page_id) = match &settings.0 {
        Ok((config, url, page)) => (config, url, page),
        Err(e) => {
            settings_unreadable(
                list,
                context,
                Workflow::MrAudit,
                e,
                "gitlab, linear, confluence, slack",
            );
            return;
        }
    };
    list.record(WORKFLOW, "settings").pass(
        "settings parse",
        format!(
            "audit page {}, team keys {}",
            quoted(page_id),
            config.audit.team_keys.join(", ")
        ),
    );
    credentials::check(list, context, Workflow::MrAudit);
    gitlab::check(
        list,
        WORKFLOW,
        context,
        &config.gitlab_url,
        config.audit.projects.as_ref(),
    )
    .await;
    let needs = linear::Needs::MrAudit {
        team_keys: &config.audit.team_keys,
    };
    linear::check(list, WORKFLOW, context, &config.linear_api_url, needs).await;
    confluence::check(list, WORKFLOW, context, confluence_url, page_id).await;
    let channels = &config.audit.channels;
    let mut posts_to = vec![(
        "MR_AUDIT_SLACK_CHANNEL".to_owned(),
        channels.default_channel.clone(),
    )];
    if let Some(security) = &channels.security_channel {
        posts_to.push(("MR_AUDIT_SECURITY_CHANNEL".to_owned(), security.clone()));
    }
    for (_, channel) in &channels.by_label {
        if !posts_to.iter().any(|(_, c)| c == channel) {
            posts_to.push(("MR_AUDIT_CHANNEL_MAP".to_owned(), channel.clone()));
        }
    }
    let needs = slack::Needs {
        api_base: &config.slack_api_base,
        scopes: vec!["chat:write"],
        channels: posts_to,
        groups: Vec::new(),
    };
    slack::check(list, WORKFLOW, context, &needs).await;
}
