//! What every workflow shares: the common settings, the secret (it must be read and parse), and
//! Postgres (checked once, in [`super::postgres`]).

use std::sync::Arc;

use super::checklist::Checklist;
use super::{Context, Scope, Workflow, postgres};
use crate::config::{CommonSettings, ConfigError};
use crate::http;
use crate::secrets::{SecretError, SecretSource, SecretStore};

const COMMON: &str = "common";

/// Check the common settings and the secret, then Postgres; the context the workflows' checks
/// use, unless the common settings themselves are unusable.
pub(super) async fn check(
    list: &mut Checklist,
    common: Result<CommonSettings, ConfigError>,
    scope: Scope,
) -> Option<Context> {
    let common = match common {
        Ok(common) => {
            list.record(COMMON, "settings").pass(
                "common settings",
                "SECRET_ID / SECOPS_SECRETS_FILE, timeouts and retries parse",
            );
            common
        }
        Err(e) => {
            list.record(COMMON, "settings")
                .fail("common settings", e.to_string(), setting_fix(&e));
            return None;
        }
    };
    let secrets = Arc::new(SecretStore::new(
        common.secret_source.clone(),
        common.secrets_ttl,
    ));
    let (subject, name) = match &common.secret_source {
        SecretSource::SecretsManager { .. } => ("secrets manager", "the secret is read and parses"),
        SecretSource::File(_) => ("secret", "the credentials file is read and parses"),
        SecretSource::Environment => ("secret", "credentials from the environment"),
    };
    let credentials = match secrets.current().await {
        Ok(credentials) => {
            let keys = credentials.present_keys();
            list.record(COMMON, subject).pass(
                name,
                format!("{} key(s) set: {}", keys.len(), keys.join(", ")),
            );
            Some(credentials)
        }
        Err(e) => {
            list.record(COMMON, subject)
                .fail(name, e.to_string(), secret_fix(&e));
            None
        }
    };
    let mut context = Context {
        http: http::build_client(common.http_timeout),
        common,
        secrets,
        credentials,
        scope,
        db: None,
    };
    context.db = postgres::check(list, &context).await;
    Some(context)
}

/// The fix for a setting that does not parse: the variable and what it must be.
/// A workflow whose settings do not parse: that failure with its fix, its credentials checked
/// all the same, and its `services` skipped, since they need the settings.
pub(super) fn settings_unreadable(
    list: &mut Checklist,
    context: &Context,
    workflow: Workflow,
    error: &ConfigError,
    services: &str,
) {
    list.record(workflow.name(), "settings").fail(
        "settings parse",
        error.to_string(),
        setting_fix(error),
    );
    super::credentials::check(list, context, workflow);
    list.record(workflow.name(), "services")
        .skip(services, "the workflow's settings do not parse");
}

pub(super) fn setting_fix(error: &ConfigError) -> String {
    format!(
        "set {} correctly ({}); every variable is in docs/configuration.md",
        error.name, error.message
    )
}

fn secret_fix(error: &SecretError) -> String {
    match error {
        SecretError::Malformed { .. } => "make the secret one JSON object whose values are strings, with the keys of infra/secret.example.json".to_owned(),
        SecretError::NotAString { .. } => {
            "store the secret as a string (SecretString), not as binary".to_owned()
        }
        SecretError::SecretsManager { .. } => "check SECRET_ID (the secret's ARN or name), the region, and that the function's role may call secretsmanager:GetSecretValue on it (and kms:Decrypt on its key)".to_owned(),
        SecretError::File { .. } => {
            "set SECOPS_SECRETS_FILE to a readable JSON file shaped like infra/secret.example.json"
                .to_owned()
        }
    }
}
