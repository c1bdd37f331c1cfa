//! Connectors: concrete clients for external services, each with an injectable base URL, the
//! shared HTTP client and retry policy, and typed errors.

pub mod axiom;
pub mod confluence;
pub mod credentials;
pub mod eventbridge;
pub mod gitlab;
pub mod linear;
pub mod llm;
pub mod openai;
pub mod standard_webhooks;
pub mod webhook;
