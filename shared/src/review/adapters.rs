//! The review ports on the real services: Axiom reads grants and takes review events, Slack
//! shows cards.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::ports::{AuditLog, AuditSource, ReviewChat, Row};
use crate::connectors::axiom::AxiomClient;
use crate::ports::{PortError, Posted};
use crate::slack::client::SlackClient;

/// Narrowest window a partial Axiom result is split down to before giving up.
const MIN_QUERY_WINDOW: Duration = Duration::from_secs(60);

impl AuditSource for AxiomClient {
    async fn rows_between(
        &self,
        apl: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Row>, PortError> {
        self.query_complete(apl, start, end, MIN_QUERY_WINDOW)
            .await
            .map_err(PortError::from)
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
            .map_err(PortError::from)
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
            .map_err(PortError::from)
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
            .map_err(PortError::from)
    }
}

impl super::decision::Directory for SlackClient {
    async fn group_members(&self, group: &str) -> Result<Vec<String>, PortError> {
        self.usergroup_members(group).await.map_err(PortError::from)
    }

    async fn email_of(&self, user_id: &str) -> Result<Option<String>, PortError> {
        self.user_identity(user_id)
            .await
            .map(|u| u.email)
            .map_err(PortError::from)
    }
}

impl crate::slack::interaction::ClickReplies for SlackClient {
    async fn ephemeral(&self, response_url: &str, text: &str) -> Result<(), PortError> {
        let body = serde_json::json!({
            "response_type": "ephemeral",
            "replace_original": false,
            "text": text,
        });
        self.respond(response_url, &body)
            .await
            .map_err(PortError::from)
    }
}

impl super::ports::DecisionWebhook for crate::connectors::webhook::WebhookSender {
    async fn deliver(&self, delivery_id: &str, body: &Value) -> Result<(), PortError> {
        crate::connectors::webhook::WebhookSender::deliver(
            self,
            delivery_id,
            body,
            Utc::now().timestamp(),
        )
        .await
        .map_err(PortError::from)
    }
}
