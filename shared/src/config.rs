//! Plain settings from environment variables (credentials come from [`crate::secrets`]).
//! Every variable is documented in docs/configuration.md and `.env.sample`; a bad value is an error
//! that names the variable, never a silent default.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::http::RetryPolicy;
use crate::secrets::SecretSource;

#[derive(Debug, thiserror::Error)]
#[error("setting {name}: {message}")]
pub struct ConfigError {
    pub name: &'static str,
    pub message: String,
}

/// Reads variables through a lookup function, so tests need not touch the process environment.
pub struct Env<F: Fn(&str) -> Option<String>>(pub F);

impl Env<fn(&str) -> Option<String>> {
    pub fn process() -> Self {
        Env(|name| std::env::var(name).ok())
    }
}

impl Env<Box<dyn Fn(&str) -> Option<String>>> {
    /// Fixed values (tests, tools).
    pub fn from_pairs(pairs: &'static [(&'static str, &'static str)]) -> Self {
        Env(Box::new(move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }))
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// The value, with surrounding whitespace removed; empty counts as unset.
    pub fn text(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A comma-separated list, items trimmed, empty items dropped; empty when unset.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.text(name)
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    }

    pub fn text_or(&self, name: &str, default: &str) -> String {
        self.text(name).unwrap_or_else(|| default.to_owned())
    }

    pub fn parse_or<T: FromStr>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.text(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e: T::Err| ConfigError {
                name,
                message: format!("{v:?} is not valid: {e}"),
            }),
        }
    }

    /// A number within `range`.
    pub fn bounded(
        &self,
        name: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<u64, ConfigError> {
        let v = self.parse_or(name, default)?;
        if range.contains(&v) {
            Ok(v)
        } else {
            Err(ConfigError {
                name,
                message: format!("{v} is outside {}..={}", range.start(), range.end()),
            })
        }
    }
}

/// Settings every function shares.
#[derive(Debug, Clone)]
pub struct CommonSettings {
    pub secret_source: SecretSource,
    pub secrets_ttl: Duration,
    pub database_ca_bundle: Option<PathBuf>,
    /// An RDS Proxy (or other) endpoint that replaces the host of the secret's `database_url`.
    pub database_proxy_endpoint: Option<String>,
    pub http_timeout: Duration,
    pub retry: RetryPolicy,
    /// Stop starting new work this long before the Lambda deadline.
    pub deadline_margin: Duration,
    pub metrics_namespace: String,
}

impl CommonSettings {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let secret_source = match (env.text("SECRET_ID"), env.text("SECOPS_SECRETS_FILE")) {
            (Some(id), None) => SecretSource::SecretsManager { secret_id: id },
            (None, Some(path)) => SecretSource::File(path.into()),
            (None, None) => SecretSource::Environment,
            (Some(_), Some(_)) => {
                return Err(ConfigError {
                    name: "SECRET_ID",
                    message: "set either SECRET_ID (Secrets Manager) or SECOPS_SECRETS_FILE (local file), not both".to_owned(),
                });
            }
        };
        Ok(Self {
            secret_source,
            secrets_ttl: Duration::from_secs(env.bounded("SECRETS_TTL_SECS", 300, 0..=86_400)?),
            database_ca_bundle: env.text("DATABASE_CA_BUNDLE").map(PathBuf::from),
            database_proxy_endpoint: env.text("DATABASE_PROXY_ENDPOINT"),
            http_timeout: Duration::from_secs(env.bounded("HTTP_TIMEOUT_SECS", 15, 1..=300)?),
            retry: RetryPolicy {
                max_attempts: env.bounded("HTTP_MAX_ATTEMPTS", 4, 1..=10)? as u32,
                ..RetryPolicy::default()
            },
            deadline_margin: Duration::from_secs(env.bounded(
                "DEADLINE_MARGIN_SECS",
                10,
                0..=300,
            )?),
            metrics_namespace: env.text_or("METRICS_NAMESPACE", "SecOps/Workflows"),
        })
    }
}

/// The language model every workflow may use (OpenAI or a compatible endpoint).
#[derive(Debug, Clone)]
pub struct LlmSettings {
    pub base_url: String,
    /// No default: without a model (or without a key) the workflows run on rules and templates.
    pub model: Option<String>,
    pub concurrency: usize,
    pub timeout: Duration,
}

impl LlmSettings {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            base_url: env.text_or("OPENAI_BASE_URL", "https://api.openai.com/v1"),
            model: env.text("OPENAI_MODEL"),
            concurrency: env.bounded("LLM_CONCURRENCY", 4, 1..=32)? as usize,
            timeout: Duration::from_secs(env.bounded("LLM_TIMEOUT_SECS", 20, 1..=120)?),
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
    fn defaults_apply_when_nothing_is_set() {
        assert_eq!(LlmSettings::from_env(&env(&[])).unwrap().model, None);
        assert!(matches!(
            CommonSettings::from_env(&env(&[])).unwrap().secret_source,
            SecretSource::Environment
        ));
    }

    #[test]
    fn secret_id_selects_secrets_manager() {
        let s =
            CommonSettings::from_env(&env(&[("SECRET_ID", "arn:aws:secretsmanager:x")])).unwrap();
        assert!(matches!(
            s.secret_source,
            SecretSource::SecretsManager { .. }
        ));
    }

    #[test]
    fn two_secret_sources_are_ambiguous() {
        assert!(
            CommonSettings::from_env(&env(&[("SECRET_ID", "a"), ("SECOPS_SECRETS_FILE", "b")]))
                .is_err()
        );
    }
}
