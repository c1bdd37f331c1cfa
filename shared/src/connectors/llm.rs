//! The structured-output language model both model-using workflows ask (the drift audit's
//! justification drafts, the privileged review's risk verdicts): a request for JSON matching a
//! strict schema. The OpenAI connector implements it; tests script fakes.

use std::future::Future;

use sha2::{Digest, Sha256};

/// A request for a JSON answer that must match a strict schema.
#[derive(Debug, Clone)]
pub struct JsonRequest<'a> {
    pub system: &'a str,
    pub user: &'a str,
    /// `a-z A-Z 0-9 _ -`, at most 64 characters.
    pub schema_name: &'a str,
    pub schema: &'a serde_json::Value,
    pub max_output_tokens: u32,
}

/// A language model that answers with schema-constrained JSON. Implemented by the OpenAI
/// connector; tests use scripted fakes.
pub trait StructuredLlm: Send + Sync {
    /// The model name recorded with everything it wrote.
    fn model(&self) -> &str;

    /// The raw JSON text of the answer (the caller validates it).
    fn complete_json(
        &self,
        request: &JsonRequest<'_>,
    ) -> impl Future<Output = Result<String, LlmError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    #[error("model rate limit reached after retries")]
    RateLimited,
    /// The account is out of quota: retrying cannot help; someone must act.
    #[error("model account has insufficient quota")]
    InsufficientQuota,
    #[error("model refused: {0}")]
    Refused(String),
    /// The answer was cut short, filtered, or not JSON.
    #[error("model answer unusable: {0}")]
    Unusable(String),
    #[error("model request rejected: {0}")]
    Rejected(String),
    #[error("model unavailable: {0}")]
    Unavailable(String),
    #[error("model call timed out")]
    Timeout,
}

/// A prompt's text and output schema are hashed; the hash is recorded with everything the
/// prompt produced, so a reviewer can tell which wording wrote it.
/// A short, stable fingerprint of a prompt: version, text and schema together.
pub fn prompt_hash(version: &str, text: &str, schema: &serde_json::Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(version.as_bytes());
    hasher.update([0]);
    hasher.update(text.as_bytes());
    hasher.update([0]);
    hasher.update(schema.to_string().as_bytes());
    hex::encode(&hasher.finalize()[..8])
}
