//! Versioned LLM prompts. Each prompt's text and output schema are hashed; the hash is
//! recorded with everything the prompt produced, so a reviewer can tell which wording wrote it.

pub mod justification;
pub mod risk_scoring;

use sha2::{Digest, Sha256};

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
