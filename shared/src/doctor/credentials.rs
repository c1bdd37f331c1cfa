//! The credentials each workflow's functions read: required ones must be present (as each
//! runtime's `require` calls say), optional ones are reported, and a few are checked for shape.

use secrecy::ExposeSecret;

use super::checklist::Checklist;
use super::{Context, Scope, Workflow};
use crate::credential_scope::Function;

/// The keys a function's cold start refuses to go without
/// ([`Function::required_keys`]), plus `database_url`, which every function connects with.
/// The review's webhook secret is required only with `REVIEW_WEBHOOK_URL`; its check is in
/// the review's own.
fn required(function: Function, key: &str) -> bool {
    key == "database_url" || function.required_keys().contains(&key)
}

pub(super) fn check(list: &mut Checklist, context: &Context, workflow: Workflow) {
    let mut record = list.record(workflow.name(), "secret");
    if context.credentials.is_none() {
        record.skip("credentials", "the secret could not be read (see common)");
        return;
    }
    let functions: Vec<Function> = match context.scope {
        Scope::Local => workflow.functions().to_vec(),
        Scope::Function(function) => vec![function],
    };
    let mut seen: Vec<&str> = Vec::new();
    for function in &functions {
        for key in function.credential_keys() {
            if seen.contains(key) || *key == "review_webhook_secret" {
                continue;
            }
            seen.push(key);
            let needed_by: Vec<&str> = functions
                .iter()
                .filter(|f| required(**f, key))
                .map(|f| f.name())
                .collect();
            let name = format!("credential {key}");
            match (context.credential(key), needed_by.is_empty()) {
                (Some(value), _) => match shape_problem(key, value.expose_secret()) {
                    None => record.pass(&name, "present"),
                    Some((detail, fix)) => record.fail(&name, detail, fix),
                },
                (None, true) => record.skip(&name, "optional; not set"),
                (None, false) => record.fail(
                    &name,
                    format!(
                        "missing from the secret (or empty); {} cannot start without it",
                        needed_by.join(", ")
                    ),
                    format!("add {key} to {}", context.secret_place()),
                ),
            }
        }
    }
}

/// A present credential that cannot be what it must be, as `(detail, fix)`. Values are never
/// quoted: only their expected prefix is named.
fn shape_problem(key: &str, value: &str) -> Option<(String, String)> {
    let value = value.trim();
    match key {
        "slack_bot_token" if !value.starts_with("xoxb-") => Some((
            "not a bot token (it should start with xoxb-)".to_owned(),
            "put the Slack app's Bot User OAuth Token (OAuth & Permissions, xoxb-…) in slack_bot_token".to_owned(),
        )),
        "confluence_email" if !value.contains('@') => Some((
            "not an email address".to_owned(),
            "put the Atlassian account's email in confluence_email (the account the API token belongs to)".to_owned(),
        )),
        "database_url" if !value.starts_with("postgres") && !value.contains('=') => Some((
            "not a Postgres connection string".to_owned(),
            "set database_url to postgres://user:password@host:5432/database".to_owned(),
        )),
        _ => None,
    }
}
