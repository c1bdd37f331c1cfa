//! The privileged-grant review's checks: its settings (and who may decide), the webhook's
//! secret when a webhook is configured, Slack (scopes, the review and escalation channels, the
//! reviewer groups), Axiom (the audit events and the review events datasets) and the model.

use super::checklist::{Checklist, quoted};
use super::common::settings_unreadable;
use super::{Context, Scope, Workflow, axiom, credentials, openai, slack};
use crate::config::{ConfigError, Env};
use crate::credential_scope::Function;
use crate::review::config::ReviewConfig;
use crate::review::workflow::WORKFLOW;

pub(super) struct Settings(Result<ReviewConfig, ConfigError>);

impl Settings {
    pub(super) fn read<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Self {
        Settings(ReviewConfig::from_env(env))
    }
}

pub(super) async fn check(list: &mut Checklist, context: &Context, settings: &Settings) {
    let config = match &settings.0 {
        Ok(config) => config,
        Err(e) => {
            settings_unreadable(
                list,
                context,
                Workflow::PrivilegedReview,
                e,
                "slack, axiom, openai",
            );
            return;
        }
    };
    let mut record = list.record(WORKFLOW, "settings");
    record.pass(
        "settings parse",
        format!(
            "events from dataset {}, cards to {}",
            quoted(&config.workflow.source.dataset),
            config.workflow.review_channel
        ),
    );
    let policy = &config.policy;
    if policy.reviewer_groups.is_empty() && policy.reviewer_allowlist.is_empty() {
        record.fail(
            "someone may decide",
            "neither REVIEW_REVIEWER_GROUPS nor REVIEW_REVIEWER_ALLOWLIST is set: every click on a review card is refused",
            "set REVIEW_REVIEWER_GROUPS (Slack user group ids, S…) or REVIEW_REVIEWER_ALLOWLIST (user ids, U…)",
        );
    } else {
        record.pass(
            "someone may decide",
            "reviewer groups or an allowlist are set",
        );
    }
    credentials::check(list, context, Workflow::PrivilegedReview);
    let reads_webhook_secret = match context.scope {
        Scope::Local => true,
        Scope::Function(f) => matches!(f, Function::PrivilegedGrantReview | Function::ReviewWorker),
    };
    if config.webhook_url.is_some() && reads_webhook_secret {
        let mut record = list.record(WORKFLOW, "secret");
        if context.credential("review_webhook_secret").is_some() {
            record.pass(
                "credential review_webhook_secret",
                "present (REVIEW_WEBHOOK_URL is set)",
            );
        } else {
            record.fail(
                "credential review_webhook_secret",
                "REVIEW_WEBHOOK_URL is set, so the review functions cannot start without it",
                format!("add review_webhook_secret (whsec_ + base64) to {}, or unset REVIEW_WEBHOOK_URL", context.secret_place()),
            );
        }
    }
    let mut scopes = vec!["chat:write", "users:read", "users:read.email"];
    let groups: Vec<(&'static str, String)> = policy
        .reviewer_groups
        .iter()
        .map(|g| ("REVIEW_REVIEWER_GROUPS", g.clone()))
        .chain(
            policy
                .escalation_groups
                .iter()
                .map(|g| ("REVIEW_ESCALATION_GROUPS", g.clone())),
        )
        .collect();
    if !groups.is_empty() {
        scopes.push("usergroups:read");
    }
    let mut channels = vec![(
        "REVIEW_SLACK_CHANNEL".to_owned(),
        config.workflow.review_channel.clone(),
    )];
    if let Some(escalation) = &policy.escalation_channel {
        channels.push(("REVIEW_ESCALATION_CHANNEL".to_owned(), escalation.clone()));
    }
    let needs = slack::Needs {
        api_base: &config.slack_api_base,
        scopes,
        channels,
        groups,
    };
    slack::check(list, WORKFLOW, context, &needs).await;
    let needs = axiom::Needs {
        url: &config.axiom_url,
        org_id: config.axiom_org_id.as_deref(),
        datasets: vec![
            ("REVIEW_DATASET", &config.workflow.source.dataset),
            ("REVIEW_EVENTS_DATASET", &config.events_dataset),
        ],
    };
    axiom::check(list, WORKFLOW, context, &needs).await;
    openai::check(
        list,
        WORKFLOW,
        context,
        &config.llm,
        "the rules score every grant alone, and nothing resolves itself on a missing model",
    )
    .await;
}
