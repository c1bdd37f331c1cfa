//! Which credentials each function uses, so each can be given a secret holding those and
//! nothing else (decision 030): a function's cold start names the keys its secret holds that it
//! never reads, and `secops-local secrets split` cuts one shared secret into one per function.

use crate::secrets::Credentials;

/// The seven Lambda functions, by the name the template, the logs and the README use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    OAuthDrift,
    PrivilegedGrantReview,
    ReviewWorker,
    SlackInteractions,
    RotationChaser,
    GitLabWebhook,
    MrAudit,
}

impl Function {
    pub const ALL: [Function; 7] = [
        Function::OAuthDrift,
        Function::PrivilegedGrantReview,
        Function::ReviewWorker,
        Function::SlackInteractions,
        Function::RotationChaser,
        Function::GitLabWebhook,
        Function::MrAudit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Function::OAuthDrift => "oauth-drift",
            Function::PrivilegedGrantReview => "privileged-grant-review",
            Function::ReviewWorker => "review-worker",
            Function::SlackInteractions => "slack-interactions",
            Function::RotationChaser => "rotation-chaser",
            Function::GitLabWebhook => "gitlab-webhook",
            Function::MrAudit => "mr-audit",
        }
    }

    /// The template parameter naming this function's own secret (empty = the shared one).
    pub fn secret_parameter(self) -> &'static str {
        match self {
            Function::OAuthDrift => "OAuthDriftSecretArn",
            Function::PrivilegedGrantReview => "PrivilegedGrantReviewSecretArn",
            Function::ReviewWorker => "ReviewWorkerSecretArn",
            Function::SlackInteractions => "SlackInteractionsSecretArn",
            Function::RotationChaser => "RotationChaserSecretArn",
            Function::GitLabWebhook => "GitLabWebhookSecretArn",
            Function::MrAudit => "MrAuditSecretArn",
        }
    }

    /// Every secret key the function may read, required or optional. The internet-facing
    /// functions (slack-interactions, gitlab-webhook) need only their verification secret, the
    /// database and, for Slack, the bot token.
    pub fn credential_keys(self) -> &'static [&'static str] {
        match self {
            Function::OAuthDrift => &["database_url", "linear_api_key", "openai_api_key"],
            Function::PrivilegedGrantReview => &[
                "database_url",
                "axiom_token",
                "slack_bot_token",
                "openai_api_key",
                "review_webhook_secret",
            ],
            Function::ReviewWorker => &[
                "database_url",
                "axiom_token",
                "slack_bot_token",
                "review_webhook_secret",
            ],
            Function::SlackInteractions => &[
                "database_url",
                "slack_signing_secret",
                "slack_signing_secret_previous",
                "slack_bot_token",
            ],
            Function::RotationChaser => &["database_url", "slack_bot_token"],
            Function::GitLabWebhook => &[
                "database_url",
                "gitlab_webhook_token",
                "gitlab_webhook_token_previous",
            ],
            Function::MrAudit => &[
                "database_url",
                "gitlab_token",
                "linear_api_key",
                "confluence_email",
                "confluence_api_token",
                "slack_bot_token",
            ],
        }
    }

    /// The keys the function cannot start without, refused at every cold start in this order
    /// (`Foundation::start`) and checked by the doctor. `database_url` is not listed: the
    /// connection refuses its absence itself. `review_webhook_secret` is required only with
    /// `REVIEW_WEBHOOK_URL`, so the review asks for it then.
    pub fn required_keys(self) -> &'static [&'static str] {
        match self {
            Function::OAuthDrift => &["linear_api_key"],
            Function::PrivilegedGrantReview | Function::ReviewWorker => {
                &["axiom_token", "slack_bot_token"]
            }
            Function::SlackInteractions => &["slack_signing_secret", "slack_bot_token"],
            Function::RotationChaser => &["slack_bot_token"],
            // An empty token would otherwise match an empty header.
            Function::GitLabWebhook => &["gitlab_webhook_token"],
            Function::MrAudit => &[
                "gitlab_token",
                "linear_api_key",
                "confluence_email",
                "confluence_api_token",
                "slack_bot_token",
            ],
        }
    }

    pub fn from_name(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// The functions a workflow deploys (the Slack endpoint serves two workflows).
pub fn functions_of(workflow: &str) -> &'static [Function] {
    match workflow {
        "oauth-drift" => &[Function::OAuthDrift],
        "privileged-review" => &[
            Function::PrivilegedGrantReview,
            Function::ReviewWorker,
            Function::SlackInteractions,
        ],
        "rotation-chaser" => &[Function::RotationChaser, Function::SlackInteractions],
        "mr-audit" => &[Function::MrAudit, Function::GitLabWebhook],
        _ => &[],
    }
}

/// Every secret key a workflow's functions may read, in the order of their lists, once each:
/// what a secret for that workflow alone holds (`infra/secret-examples/<workflow>.json`).
pub fn workflow_keys(workflow: &str) -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = Vec::new();
    for key in functions_of(workflow)
        .iter()
        .flat_map(|f| f.credential_keys().iter().copied())
    {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// Keys set in `credentials` that `function` never reads, in the secret's key order.
pub fn unused_keys(function: Function, credentials: &Credentials) -> Vec<&'static str> {
    let used = function.credential_keys();
    credentials
        .present_keys()
        .into_iter()
        .filter(|key| !used.contains(key))
        .collect()
}

/// Say once, at a cold start, which credentials this function could read but never uses: with
/// one shared secret that is every other function's; the fix is a secret of its own.
pub fn warn_unused(function: Function, credentials: &Credentials) {
    let unused = unused_keys(function, credentials);
    if unused.is_empty() {
        return;
    }
    tracing::warn!(
        function = function.name(),
        unused = %unused.join(","),
        "this function's secret holds credentials it never uses; give it a secret of its own ({}, see docs/operations.md 'One secret per function')",
        function.secret_parameter()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_required_key_is_one_the_function_reads() {
        for function in Function::ALL {
            for key in function.required_keys() {
                assert!(
                    function.credential_keys().contains(key),
                    "{}: {key}",
                    function.name()
                );
            }
        }
    }
    use crate::secrets::{KNOWN_KEYS, parse_credentials};

    #[test]
    fn every_key_a_function_names_is_a_known_key_and_every_known_key_has_a_user() {
        for function in Function::ALL {
            for key in function.credential_keys() {
                assert!(KNOWN_KEYS.contains(key), "{}: {key}", function.name());
            }
            assert_eq!(Function::from_name(function.name()), Some(function));
        }
        for key in KNOWN_KEYS {
            assert!(
                Function::ALL
                    .iter()
                    .any(|f| f.credential_keys().contains(key)),
                "{key} is used by no function"
            );
        }
    }

    #[test]
    fn the_internet_facing_functions_use_no_outbound_api_credentials() {
        for function in [Function::SlackInteractions, Function::GitLabWebhook] {
            for key in [
                "linear_api_key",
                "openai_api_key",
                "axiom_token",
                "gitlab_token",
                "confluence_api_token",
                "review_webhook_secret",
            ] {
                assert!(
                    !function.credential_keys().contains(&key),
                    "{}: {key}",
                    function.name()
                );
            }
        }
    }

    #[test]
    fn a_shared_secret_shows_each_function_what_it_does_not_need() {
        let shared = parse_credentials(
            "t",
            r#"{"database_url":"postgres://x","slack_signing_secret":"s","gitlab_token":"glpat-x",
                "linear_api_key":"lin","slack_bot_token":"xoxb"}"#,
        )
        .unwrap();
        assert_eq!(
            unused_keys(Function::SlackInteractions, &shared),
            ["linear_api_key", "gitlab_token"]
        );
        assert_eq!(
            unused_keys(Function::MrAudit, &shared),
            ["slack_signing_secret"]
        );
    }
}
