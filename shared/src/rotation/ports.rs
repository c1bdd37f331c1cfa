//! What the rotation chaser needs from outside: a chat to post nudges and digests in, and the
//! Slack calls its buttons make. The adapters onto the Slack connector are in `adapters`.

use std::future::Future;

use serde_json::Value;

use crate::ports::{PortError, Posted};

/// Where nudges and digests are posted. A failed post is a [`PortError`] of its kind: a channel
/// Slack refuses (`channel_not_found`, `not_in_channel`, `is_archived`) is permanent, and the
/// error's message is Slack's code alone, as the digest shows it.
pub trait RotationChat: Send + Sync {
    fn post(
        &self,
        channel: &str,
        text: &str,
        blocks: &Value,
    ) -> impl Future<Output = Result<Posted, PortError>> + Send;
}

/// What the clicks need from Slack.
pub trait RotationSlack: Send + Sync {
    fn channel_members(
        &self,
        channel: &str,
    ) -> impl Future<Output = Result<Vec<String>, PortError>> + Send;
    fn group_members(
        &self,
        group: &str,
    ) -> impl Future<Output = Result<Vec<String>, PortError>> + Send;
    fn open_view(
        &self,
        trigger_id: &str,
        view: &Value,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    fn update(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: &Value,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// A note only the clicker sees, through the click's `response_url`.
    fn tell(
        &self,
        response_url: &str,
        text: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Whether the user is a full member of which workspace (`users.info`).
    fn standing(&self, user: &str) -> impl Future<Output = Result<Standing, PortError>> + Send;
}

/// Where a Slack user belongs, as `users.info` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// Their own workspace.
    pub team_id: Option<String>,
    /// Their Enterprise Grid organisation, if any.
    pub enterprise_id: Option<String>,
    /// A Slack Connect member of another organisation (`is_stranger`) or a guest.
    pub external: bool,
}
