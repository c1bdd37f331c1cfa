//! The rotation ports on Slack: nudges and digests are posted with `chat.postMessage`, and a
//! channel Slack refuses is told apart from a passing failure.

use serde_json::Value;

use super::ports::{RotationChat, RotationSlack, Standing};
use crate::ports::{PortError, Posted};
use crate::slack::client::{SlackClient, SlackError};

impl RotationChat for SlackClient {
    async fn post(&self, channel: &str, text: &str, blocks: &Value) -> Result<Posted, PortError> {
        match self.post_message(channel, text, blocks).await {
            Ok(p) => Ok(Posted {
                channel: p.channel,
                ts: p.ts,
            }),
            // The digest names a channel Slack refuses by Slack's code alone.
            Err(e) => Err(match e {
                SlackError::ChannelUnusable { ref code, .. } => {
                    PortError::new("slack", e.failure_kind(), code)
                }
                other => other.into(),
            }),
        }
    }
}

impl RotationSlack for SlackClient {
    async fn channel_members(&self, channel: &str) -> Result<Vec<String>, PortError> {
        SlackClient::channel_members(self, channel)
            .await
            .map_err(PortError::from)
    }

    async fn group_members(&self, group: &str) -> Result<Vec<String>, PortError> {
        self.usergroup_members(group).await.map_err(PortError::from)
    }

    async fn open_view(&self, trigger_id: &str, view: &Value) -> Result<(), PortError> {
        SlackClient::open_view(self, trigger_id, view)
            .await
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

    async fn tell(&self, response_url: &str, text: &str) -> Result<(), PortError> {
        let body = serde_json::json!({
            "response_type": "ephemeral",
            "replace_original": false,
            "text": text,
        });
        self.respond(response_url, &body)
            .await
            .map_err(PortError::from)
    }

    async fn standing(&self, user: &str) -> Result<Standing, PortError> {
        self.user_identity(user)
            .await
            .map(|u| Standing {
                team_id: u.team_id,
                enterprise_id: u.enterprise_id,
                external: u.external,
            })
            .map_err(PortError::from)
    }
}
