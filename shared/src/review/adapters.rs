//! The review ports on the real services: Axiom reads grants and takes review events, Slack
//! shows cards.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::ports::{AuditLog, AuditSource, PortError, Posted, ReviewChat, Row};
use crate::connectors::axiom::AxiomClient;
use crate::slack::client::SlackClient;

/// Narrowest window a partial Axiom result is split down to before giving up.
const MIN_QUERY_WINDOW: Duration = Duration::from_secs(60);

fn axiom_error(e: impl ToString) -> PortError {
    PortError {
        service: "axiom",
        message: e.to_string(),
    }
}

impl AuditSource for AxiomClient {
    async fn rows_between(
        &self,
        apl: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Row>, PortError> {
        self.query_complete(apl, start, end, MIN_QUERY_WINDOW)
            .await
            .map_err(axiom_error)
    }
}

/// Review events go to their own dataset.
pub struct AxiomReviewLog {
    pub client: AxiomClient,
    pub dataset: String,
}

impl AuditLog for AxiomReviewLog {
    async fn record(&self, events: &[Value]) -> Result<(), PortError> {
        self.client
            .ingest(&self.dataset, events)
            .await
            .map(|_| ())
            .map_err(axiom_error)
    }
}

fn slack_error(e: impl ToString) -> PortError {
    PortError {
        service: "slack",
        message: e.to_string(),
    }
}

impl ReviewChat for SlackClient {
    async fn post(&self, channel: &str, text: &str, blocks: &Value) -> Result<Posted, PortError> {
        self.post_message(channel, text, blocks)
            .await
            .map(|p| Posted {
                channel: p.channel,
                ts: p.ts,
            })
            .map_err(slack_error)
    }

    async fn update(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: &Value,
    ) -> Result<(), PortError> {
        self.update_message(channel, ts, text, blocks)
            .await
            .map_err(slack_error)
    }
}
