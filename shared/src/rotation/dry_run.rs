//! The rotation chaser's dry-run chat: nudges and the digest are recorded as what would have
//! been posted, never sent. Used by the dry run against the real services and by the local
//! runner's sample run.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use super::ports::RotationChat;
use crate::dry_run::{WouldDo, WouldDoLog};
use crate::ports::{PortError, Posted};

/// Keeps each message instead of posting it; answers with a made-up timestamp.
pub struct RecordingChat<'a> {
    would: &'a WouldDoLog,
    posts: AtomicUsize,
}

impl<'a> RecordingChat<'a> {
    pub fn new(would: &'a WouldDoLog) -> Self {
        Self {
            would,
            posts: AtomicUsize::new(0),
        }
    }
}

impl RotationChat for RecordingChat<'_> {
    async fn post(&self, channel: &str, text: &str, blocks: &Value) -> Result<Posted, PortError> {
        let n = self.posts.fetch_add(1, Ordering::Relaxed) + 1;
        self.would.record(WouldDo {
            service: "slack",
            action: "post message",
            target: channel.to_owned(),
            content: json!({"text": text, "blocks": blocks}),
        });
        Ok(Posted {
            channel: channel.to_owned(),
            ts: format!("dry-run.{n:06}"),
        })
    }
}
