//! Credentials: one JSON secret (AWS Secrets Manager in Lambda; a local file or environment
//! variables on a workstation), fetched once, cached, and refreshed when a connector is told its
//! credential is no longer accepted. Values live in `SecretString`, which never prints.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
/// Re-exported so binaries can name the type without depending on `secrecy` themselves.
pub use secrecy::SecretString;
use serde::Deserialize;
use tokio::sync::RwLock;

/// Every credential the product uses. All optional: each workflow checks for what it needs and
/// says which key is missing.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct Credentials {
    /// `postgres://user:password@host:5432/db`
    pub database_url: Option<SecretString>,
    /// Linear personal API key (`lin_api_...`), sent raw; or an OAuth token, sent as Bearer.
    pub linear_api_key: Option<SecretString>,
    /// OpenAI (or compatible) API key. Without it, drafts come from the deterministic template.
    pub openai_api_key: Option<SecretString>,
    /// Axiom API token (`xaat-...`, datasets: query + ingest) or personal token (`xapt-...`,
    /// then `AXIOM_ORG_ID` is required and edge endpoints cannot be used).
    pub axiom_token: Option<SecretString>,
    /// Slack bot token (`xoxb-...`).
    pub slack_bot_token: Option<SecretString>,
    /// Slack signing secret that verifies interactivity requests.
    pub slack_signing_secret: Option<SecretString>,
    /// The previous signing secret, still accepted while a rotation is under way.
    pub slack_signing_secret_previous: Option<SecretString>,
    /// Key that signs the optional outbound review webhook.
    pub review_webhook_secret: Option<SecretString>,
    /// GitLab token for the REST API (`glpat-...`, scope `read_api`), sent as `PRIVATE-TOKEN`.
    pub gitlab_token: Option<SecretString>,
    /// The secret token GitLab sends as `X-Gitlab-Token` with each webhook delivery.
    pub gitlab_webhook_token: Option<SecretString>,
    /// The previous webhook token, still accepted while a rotation is under way.
    pub gitlab_webhook_token_previous: Option<SecretString>,
    /// Atlassian account email for Confluence Cloud basic auth.
    pub confluence_email: Option<SecretString>,
    /// Atlassian API token for Confluence Cloud basic auth.
    pub confluence_api_token: Option<SecretString>,
}

impl Credentials {
    /// Each key with its value, in [`KNOWN_KEYS`] order.
    fn fields(&self) -> [(&'static str, &Option<SecretString>); 13] {
        [
            ("database_url", &self.database_url),
            ("linear_api_key", &self.linear_api_key),
            ("openai_api_key", &self.openai_api_key),
            ("axiom_token", &self.axiom_token),
            ("slack_bot_token", &self.slack_bot_token),
            ("slack_signing_secret", &self.slack_signing_secret),
            (
                "slack_signing_secret_previous",
                &self.slack_signing_secret_previous,
            ),
            ("review_webhook_secret", &self.review_webhook_secret),
            ("gitlab_token", &self.gitlab_token),
            ("gitlab_webhook_token", &self.gitlab_webhook_token),
            (
                "gitlab_webhook_token_previous",
                &self.gitlab_webhook_token_previous,
            ),
            ("confluence_email", &self.confluence_email),
            ("confluence_api_token", &self.confluence_api_token),
        ]
    }

    /// The keys that hold a non-empty value (names only).
    pub fn present_keys(&self) -> Vec<&'static str> {
        self.fields()
            .into_iter()
            .filter(|(_, value)| {
                value
                    .as_ref()
                    .is_some_and(|v| !v.expose_secret().trim().is_empty())
            })
            .map(|(key, _)| key)
            .collect()
    }

    /// The value of `key`, if it is one of [`KNOWN_KEYS`] and set.
    pub fn get(&self, key: &str) -> Option<&SecretString> {
        self.fields()
            .into_iter()
            .find(|(name, _)| *name == key)
            .and_then(|(_, value)| value.as_ref())
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("Credentials");
        for (key, value) in self.fields() {
            out.field(key, &if value.is_some() { "set" } else { "absent" });
        }
        out.finish()
    }
}

/// How old the cached secret must be before a refused inbound request re-reads it.
pub const REJECTION_REFRESH_MIN_AGE: Duration = Duration::from_secs(5);

/// The keys a secret may hold; anything else is reported by name (never by value).
pub const KNOWN_KEYS: &[&str] = &[
    "database_url",
    "linear_api_key",
    "openai_api_key",
    "axiom_token",
    "slack_bot_token",
    "slack_signing_secret",
    "slack_signing_secret_previous",
    "review_webhook_secret",
    "gitlab_token",
    "gitlab_webhook_token",
    "gitlab_webhook_token_previous",
    "confluence_email",
    "confluence_api_token",
];

/// The environment variables a local run may use instead of a secret.
pub const ENV_KEYS: &[(&str, &str)] = &[
    ("DATABASE_URL", "database_url"),
    ("LINEAR_API_KEY", "linear_api_key"),
    ("OPENAI_API_KEY", "openai_api_key"),
    ("AXIOM_TOKEN", "axiom_token"),
    ("SLACK_BOT_TOKEN", "slack_bot_token"),
    ("SLACK_SIGNING_SECRET", "slack_signing_secret"),
    (
        "SLACK_SIGNING_SECRET_PREVIOUS",
        "slack_signing_secret_previous",
    ),
    ("REVIEW_WEBHOOK_SECRET", "review_webhook_secret"),
    ("GITLAB_TOKEN", "gitlab_token"),
    ("GITLAB_WEBHOOK_TOKEN", "gitlab_webhook_token"),
    (
        "GITLAB_WEBHOOK_TOKEN_PREVIOUS",
        "gitlab_webhook_token_previous",
    ),
    ("CONFLUENCE_EMAIL", "confluence_email"),
    ("CONFLUENCE_API_TOKEN", "confluence_api_token"),
];

/// Where credentials come from.
#[derive(Debug, Clone)]
pub enum SecretSource {
    /// AWS Secrets Manager: the secret's ARN or name.
    SecretsManager { secret_id: String },
    /// A local JSON file with the same shape as the secret.
    File(PathBuf),
    /// `DATABASE_URL`, `LINEAR_API_KEY`, `OPENAI_API_KEY` from the environment.
    Environment,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read secret {secret_id} from Secrets Manager: {message}")]
    SecretsManager { secret_id: String, message: String },
    #[error("secret {origin} has no string value (binary secrets are not supported)")]
    NotAString { origin: String },
    #[error("secret {origin} is not a JSON object of credentials: {message}")]
    Malformed { origin: String, message: String },
    #[error("cannot read credentials file {path}: {message}")]
    File { path: String, message: String },
}

/// Cached credentials with a time-to-live, shared by every connector of a process.
pub struct SecretStore {
    source: SecretSource,
    ttl: Duration,
    cached: RwLock<Option<(Instant, Arc<Credentials>)>>,
}

impl SecretStore {
    /// Credentials are re-read after `ttl` (5 minutes in Lambda, like the AWS extension).
    pub fn new(source: SecretSource, ttl: Duration) -> Self {
        Self {
            source,
            ttl,
            cached: RwLock::new(None),
        }
    }

    /// Fixed credentials (tests, dry runs).
    pub fn fixed(credentials: Credentials) -> Self {
        Self {
            source: SecretSource::Environment,
            ttl: Duration::MAX,
            cached: RwLock::new(Some((Instant::now(), Arc::new(credentials)))),
        }
    }

    pub fn source(&self) -> &SecretSource {
        &self.source
    }

    /// The current credentials, fetched if not cached or expired.
    pub async fn current(&self) -> Result<Arc<Credentials>, SecretError> {
        if let Some((at, creds)) = self.cached.read().await.as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(creds.clone());
        }
        let mut slot = self.cached.write().await;
        if let Some((at, creds)) = slot.as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(creds.clone());
        }
        // Boxed: the AWS SDK future is deeply nested, and every caller would inherit its depth.
        let fresh = Arc::new(Box::pin(fetch(&self.source)).await?);
        *slot = Some((Instant::now(), fresh.clone()));
        Ok(fresh)
    }

    /// Re-read the secret after an inbound request was refused (a Slack signature or a GitLab
    /// token that matched nothing cached): the operator may just have rotated it. Only when the
    /// cached copy is at least `min_age` old, so a stream of forged requests costs at most one
    /// Secrets Manager call per `min_age`. `None` when nothing was re-read (also for fixed
    /// credentials).
    pub async fn refresh_after_rejection(
        &self,
        min_age: Duration,
    ) -> Result<Option<Arc<Credentials>>, SecretError> {
        if self.ttl == Duration::MAX {
            return Ok(None);
        }
        let mut slot = self.cached.write().await;
        if let Some((at, _)) = slot.as_ref()
            && at.elapsed() < min_age
        {
            return Ok(None);
        }
        tracing::info!("a request was refused with the cached secret; re-reading it");
        let fresh = Arc::new(Box::pin(fetch(&self.source)).await?);
        *slot = Some((Instant::now(), fresh.clone()));
        Ok(Some(fresh))
    }

    /// Forget the cached value: a connector got 401/403, so the secret may have been rotated.
    /// Fixed credentials are kept: there is nowhere to re-read them from.
    pub async fn invalidate(&self) {
        if self.ttl != Duration::MAX {
            tracing::info!("credentials rejected upstream; re-reading the secret");
            *self.cached.write().await = None;
        }
    }
}

/// One line for a failed `GetSecretValue`: the AWS error code and what to do about it. The
/// SDK's own `DisplayErrorContext` dumps the whole error structure, raw response included.
fn describe_sdk_error<E, R>(error: &aws_sdk_secretsmanager::error::SdkError<E, R>) -> String
where
    E: aws_sdk_secretsmanager::error::ProvideErrorMetadata,
{
    use aws_sdk_secretsmanager::error::SdkError;
    match error {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or("UnknownError");
            let action = match code {
                "ResourceNotFoundException" => {
                    "check SECRET_ID and that the secret exists in this function's region"
                }
                "AccessDeniedException" => {
                    "allow secretsmanager:GetSecretValue on this secret to the function's role"
                }
                "DecryptionFailure" => {
                    "allow kms:Decrypt on the secret's KMS key to the function's role"
                }
                "InvalidRequestException" => {
                    "the secret may be scheduled for deletion; restore it or point SECRET_ID elsewhere"
                }
                "ThrottlingException" | "InternalServiceError" => {
                    "Secrets Manager is busy or failing; the next cold start tries again"
                }
                _ => "see the AWS error code",
            };
            format!("{code}: {action}")
        }
        SdkError::TimeoutError(_) => {
            "timed out reaching Secrets Manager; check the function's network path (VPC endpoint or NAT)".to_owned()
        }
        SdkError::DispatchFailure(_) => {
            "could not reach Secrets Manager; check the function's network path (VPC endpoint or NAT)".to_owned()
        }
        SdkError::ResponseError(_) => "Secrets Manager sent an unreadable response".to_owned(),
        SdkError::ConstructionFailure(_) => {
            "the request could not be built (is the region set?)".to_owned()
        }
        _ => "the call to Secrets Manager failed".to_owned(),
    }
}

async fn fetch(source: &SecretSource) -> Result<Credentials, SecretError> {
    match source {
        SecretSource::SecretsManager { secret_id } => {
            let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let client = aws_sdk_secretsmanager::Client::new(&config);
            let out = client
                .get_secret_value()
                .secret_id(secret_id)
                .send()
                .await
                .map_err(|e| SecretError::SecretsManager {
                    secret_id: secret_id.clone(),
                    message: describe_sdk_error(&e),
                })?;
            let text = out.secret_string().ok_or_else(|| SecretError::NotAString {
                origin: secret_id.clone(),
            })?;
            parse_credentials(secret_id, text)
        }
        SecretSource::File(path) => {
            let text = tokio::fs::read_to_string(path)
                .await
                .map_err(|e| SecretError::File {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
            parse_credentials(&path.display().to_string(), &text)
        }
        SecretSource::Environment => {
            let mut map = serde_json::Map::new();
            for (var, key) in ENV_KEYS {
                if let Ok(value) = std::env::var(var)
                    && !value.is_empty()
                {
                    map.insert((*key).to_owned(), serde_json::Value::String(value));
                }
            }
            serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| {
                SecretError::Malformed {
                    origin: "environment".to_owned(),
                    message: e.to_string(),
                }
            })
        }
    }
}

/// Parse the secret's JSON. Errors never quote the text: it may be a credential.
pub fn parse_credentials(origin: &str, text: &str) -> Result<Credentials, SecretError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| SecretError::Malformed {
            origin: origin.to_owned(),
            message: format!("invalid JSON at line {} column {}", e.line(), e.column()),
        })?;
    let object = value.as_object().ok_or_else(|| SecretError::Malformed {
        origin: origin.to_owned(),
        message: "expected a JSON object".to_owned(),
    })?;
    for (key, v) in object {
        if !KNOWN_KEYS.contains(&key.as_str()) {
            tracing::warn!(key = %key, "secret has an unknown key; ignored (check its spelling)");
        } else if !(v.is_string() || v.is_null()) {
            return Err(SecretError::Malformed {
                origin: origin.to_owned(),
                message: format!("`{key}` must be a string"),
            });
        }
    }
    serde_json::from_value(value).map_err(|_| SecretError::Malformed {
        origin: origin.to_owned(),
        message: "unexpected value types".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn credentials_never_print_their_values() {
        let creds = parse_credentials("t", r#"{"linear_api_key":"lin_api_SECRET123"}"#).unwrap();
        let shown = format!("{creds:?}");
        assert!(!shown.contains("SECRET123"), "{shown}");
        assert!(shown.contains("linear_api_key: \"set\""));
        assert_eq!(
            creds.linear_api_key.unwrap().expose_secret(),
            "lin_api_SECRET123"
        );
    }

    #[test]
    fn every_known_key_is_a_field_in_the_same_order() {
        let names: Vec<&str> = Credentials::default()
            .fields()
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        assert_eq!(names, KNOWN_KEYS);
        let all: serde_json::Map<String, serde_json::Value> = KNOWN_KEYS
            .iter()
            .map(|k| ((*k).to_owned(), serde_json::Value::String(format!("v-{k}"))))
            .collect();
        let creds = parse_credentials("t", &serde_json::Value::Object(all).to_string()).unwrap();
        assert_eq!(creds.present_keys(), KNOWN_KEYS);
        for key in KNOWN_KEYS {
            assert_eq!(creds.get(key).unwrap().expose_secret(), format!("v-{key}"));
        }
    }

    #[test]
    fn malformed_secret_errors_do_not_quote_the_text() {
        let err = parse_credentials("arn:x", r#"{"openai_api_key": "sk-LEAK", oops}"#).unwrap_err();
        let shown = err.to_string();
        assert!(!shown.contains("sk-LEAK"), "{shown}");
        assert!(shown.contains("arn:x"));
    }

    #[test]
    fn non_string_values_are_refused_by_key_name() {
        let err = parse_credentials("s", r#"{"linear_api_key": 42}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("`linear_api_key` must be a string")
        );
    }

    #[tokio::test]
    async fn a_credentials_file_is_cached_until_invalidated() {
        let dir = std::env::temp_dir().join(format!("secops-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("creds.json");
        std::fs::write(&path, r#"{"linear_api_key":"one"}"#).unwrap();
        let store = SecretStore::new(SecretSource::File(path.clone()), Duration::from_secs(300));
        let first = store.current().await.unwrap();
        std::fs::write(&path, r#"{"linear_api_key":"two"}"#).unwrap();
        let cached = store.current().await.unwrap();
        assert_eq!(
            cached.linear_api_key.as_ref().unwrap().expose_secret(),
            "one"
        );
        store.invalidate().await;
        let fresh = store.current().await.unwrap();
        assert_eq!(
            fresh.linear_api_key.as_ref().unwrap().expose_secret(),
            "two"
        );
        drop(first);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_rejection_re_reads_a_rotated_secret_at_most_once_per_min_age() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.json");
        std::fs::write(&path, r#"{"gitlab_webhook_token": "old"}"#).unwrap();
        let store = SecretStore::new(SecretSource::File(path.clone()), Duration::from_secs(300));
        let token = |c: &Credentials| {
            c.gitlab_webhook_token
                .as_ref()
                .unwrap()
                .expose_secret()
                .to_owned()
        };
        assert_eq!(token(&store.current().await.unwrap()), "old");

        std::fs::write(&path, r#"{"gitlab_webhook_token": "new"}"#).unwrap();
        // Younger than the floor: nothing is re-read.
        let skipped = store
            .refresh_after_rejection(Duration::from_secs(60))
            .await
            .unwrap();
        assert!(skipped.is_none());
        assert_eq!(token(&store.current().await.unwrap()), "old");
        // Old enough: re-read, and the cache holds the new value.
        let fresh = store
            .refresh_after_rejection(Duration::ZERO)
            .await
            .unwrap()
            .expect("re-read");
        assert_eq!(token(&fresh), "new");
        assert_eq!(token(&store.current().await.unwrap()), "new");
    }

    #[tokio::test]
    async fn fixed_credentials_are_never_re_read() {
        let store = SecretStore::fixed(Credentials::default());
        assert!(
            store
                .refresh_after_rejection(Duration::ZERO)
                .await
                .unwrap()
                .is_none()
        );
    }
}
