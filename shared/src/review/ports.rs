//! The review workflow's ports: where grants are read, where review events are written, and
//! where cards are posted. Axiom and Slack implement them (see `adapters`); tests and dry runs
//! use fakes.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::ports::{PortError, Posted};

/// One row of the audit source.
pub type Row = Map<String, Value>;

/// Reads audit events.
pub trait AuditSource: Send + Sync {
    /// Every row the query selects with a time in `[start, end)`, complete (never truncated).
    fn rows_between(
        &self,
        apl: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Row>, PortError>> + Send;
}

/// Writes structured review events back to the audit store.
pub trait AuditLog: Send + Sync {
    fn record(&self, events: &[Value]) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Posts and updates review cards.
pub trait ReviewChat: Send + Sync {
    fn post(
        &self,
        channel: &str,
        text: &str,
        blocks: &Value,
    ) -> impl Future<Output = Result<Posted, PortError>> + Send;

    fn update(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: &Value,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// The organisation's own automation, told about revoke and escalate decisions.
pub trait DecisionWebhook: Send + Sync {
    /// Deliver `body`; `delivery_id` stays the same on every retry so the receiver can dedupe.
    /// A final refusal by the receiver (a 4xx other than 408 and 429) is a permanent error:
    /// its answer, not an outage, so retrying the same delivery for ever would not help.
    fn deliver(
        &self,
        delivery_id: &str,
        body: &Value,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// For deployments without a webhook.
pub struct NoWebhook;

impl DecisionWebhook for NoWebhook {
    async fn deliver(&self, _: &str, _: &Value) -> Result<(), PortError> {
        Err(PortError::transient(
            "webhook",
            "no webhook URL is configured".to_owned(),
        ))
    }
}
