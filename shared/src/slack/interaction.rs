//! Parsing of Slack interactivity requests (a button clicked on a card) into typed values.
//! Call it only after [`super::signature::verify`] has accepted the raw body: nothing here
//! checks who sent the request.
//!
//! Slack POSTs `application/x-www-form-urlencoded` with a single field,
//! `payload=<URL-encoded JSON>`. Only `block_actions` payloads are understood; the deprecated
//! verification `token` inside the payload is ignored.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A click on an interactive element of a message, as the workflow needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockAction {
    /// The Slack user id of whoever clicked (`U…` or `W…`).
    pub user_id: String,
    /// `user.username`, else `user.name`, else empty.
    pub user_name: String,
    /// `team.id`, else `user.team_id`.
    pub team_id: Option<String>,
    /// `container.channel_id`, else `channel.id`.
    pub channel_id: Option<String>,
    /// The clicked message's ts: `container.message_ts`, else `message.ts`.
    pub message_ts: Option<String>,
    /// Where to reply to the clicking user without a token (valid about 30 minutes).
    pub response_url: Option<String>,
    pub trigger_id: Option<String>,
    /// The first (in practice the only) action of the payload.
    pub action: Action,
}

/// One element's action (`actions[0]` of the payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub action_id: String,
    pub block_id: Option<String>,
    /// A button's `value`; absent for elements that have none (selects carry other fields).
    pub value: Option<String>,
    pub action_ts: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum InteractionError {
    #[error("the request body has no `payload` form field")]
    NoPayload,
    #[error("the request body is not a readable Slack payload: {0}")]
    NotJson(String),
    #[error("unsupported Slack interaction: {0}")]
    Unsupported(String),
}

/// Parse a verified interactivity body (`payload=<URL-encoded JSON>`) holding a
/// `block_actions` payload.
pub fn parse_block_actions(form_body: &[u8]) -> Result<BlockAction, InteractionError> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(form_body)
        .map_err(|e| InteractionError::NotJson(format!("not form-encoded: {e}")))?;
    let json = fields
        .into_iter()
        .find_map(|(name, value)| (name == "payload").then_some(value))
        .ok_or(InteractionError::NoPayload)?;
    let payload: Value = serde_json::from_str(&json).map_err(|e| {
        // Positions only: the text is untrusted and may be long.
        InteractionError::NotJson(format!(
            "invalid JSON at line {} column {}",
            e.line(),
            e.column()
        ))
    })?;
    let kind = payload.get("type").and_then(Value::as_str).unwrap_or("");
    if kind != "block_actions" {
        let shown = if kind.is_empty() { "(no type)" } else { kind };
        return Err(InteractionError::Unsupported(format!(
            "payload type {shown:?}, expected \"block_actions\""
        )));
    }
    let raw: RawPayload = serde_json::from_value(payload)
        .map_err(|e| InteractionError::NotJson(format!("unexpected block_actions shape: {e}")))?;
    raw.into_block_action()
}

/// The exact bytes Slack signed. API Gateway (HTTP API) may hand the body over base64-encoded
/// (`isBase64Encoded: true`); the signature covers the decoded bytes.
pub fn raw_body(body: &[u8], is_base64: bool) -> Result<Vec<u8>, InteractionError> {
    if !is_base64 {
        return Ok(body.to_vec());
    }
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| InteractionError::NotJson(format!("the body is marked base64 but {e}")))
}

#[derive(Deserialize)]
struct RawPayload {
    user: Option<RawUser>,
    team: Option<IdOnly>,
    channel: Option<IdOnly>,
    container: Option<RawContainer>,
    message: Option<RawMessage>,
    actions: Option<Vec<RawAction>>,
    response_url: Option<String>,
    trigger_id: Option<String>,
}

#[derive(Deserialize)]
struct RawUser {
    id: String,
    username: Option<String>,
    name: Option<String>,
    team_id: Option<String>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: Option<String>,
}

#[derive(Deserialize)]
struct RawContainer {
    message_ts: Option<String>,
    channel_id: Option<String>,
}

#[derive(Deserialize)]
struct RawMessage {
    ts: Option<String>,
}

#[derive(Deserialize)]
struct RawAction {
    action_id: String,
    block_id: Option<String>,
    value: Option<String>,
    action_ts: Option<String>,
}

impl RawPayload {
    fn into_block_action(self) -> Result<BlockAction, InteractionError> {
        let user = self
            .user
            .filter(|u| !u.id.is_empty())
            .ok_or_else(|| InteractionError::NotJson("block_actions without user.id".to_owned()))?;
        let action = self
            .actions
            .and_then(|actions| actions.into_iter().next())
            .ok_or_else(|| InteractionError::Unsupported("block_actions without actions".into()))?;
        let (container_ts, container_channel) = self
            .container
            .map_or((None, None), |c| (c.message_ts, c.channel_id));
        Ok(BlockAction {
            user_name: user.username.or(user.name).unwrap_or_default(),
            team_id: self.team.and_then(|t| t.id).or(user.team_id),
            user_id: user.id,
            channel_id: container_channel.or(self.channel.and_then(|c| c.id)),
            message_ts: container_ts.or(self.message.and_then(|m| m.ts)),
            response_url: self.response_url,
            trigger_id: self.trigger_id,
            action: Action {
                action_id: action.action_id,
                block_id: action.block_id,
                value: action.value,
                action_ts: action.action_ts,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Shaped like the example in Slack's block_actions payload reference.
    fn click() -> Value {
        json!({
            "type": "block_actions",
            "token": "deprecated-verification-token",
            "api_app_id": "A0CA5",
            "user": { "id": "U0CA5", "username": "amy.mcgee", "name": "amy.mcgee", "team_id": "T3MDE" },
            "team": { "id": "T0CAG", "domain": "acme-creamery" },
            "enterprise": null,
            "is_enterprise_install": false,
            "container": {
                "type": "message", "message_ts": "1548261231.000200",
                "channel_id": "C0CA5", "is_ephemeral": false
            },
            "channel": { "id": "C0CA5", "name": "sec-reviews" },
            "message": {
                "type": "message", "ts": "1548261231.000200", "text": "Finding SEC-123",
                "blocks": [{ "type": "section", "text": { "type": "mrkdwn", "text": "*Finding SEC-123*" } }]
            },
            "state": { "values": {} },
            "trigger_id": "12466734323.1395872398",
            "response_url": "https://hooks.slack.com/actions/T0CAG/1234/abcd",
            "actions": [{
                "type": "button", "action_id": "approve", "block_id": "decision",
                "text": { "type": "plain_text", "text": "Approve", "emoji": true },
                "value": "SEC-123|run42", "style": "primary", "action_ts": "1548426417.840180"
            }]
        })
    }

    fn form(payload: &Value) -> Vec<u8> {
        serde_urlencoded::to_string([("payload", payload.to_string())])
            .unwrap()
            .into_bytes()
    }

    #[test]
    fn a_button_click_is_parsed_into_who_clicked_what_on_which_message() {
        let parsed = parse_block_actions(&form(&click())).unwrap();
        assert_eq!(
            parsed,
            BlockAction {
                user_id: "U0CA5".into(),
                user_name: "amy.mcgee".into(),
                team_id: Some("T0CAG".into()),
                channel_id: Some("C0CA5".into()),
                message_ts: Some("1548261231.000200".into()),
                response_url: Some("https://hooks.slack.com/actions/T0CAG/1234/abcd".into()),
                trigger_id: Some("12466734323.1395872398".into()),
                action: Action {
                    action_id: "approve".into(),
                    block_id: Some("decision".into()),
                    value: Some("SEC-123|run42".into()),
                    action_ts: Some("1548426417.840180".into()),
                },
            }
        );
    }

    #[test]
    fn the_container_message_ts_wins_over_message_ts_and_message_ts_is_the_fallback() {
        let mut payload = click();
        payload["message"]["ts"] = json!("1111111111.000001");
        let parsed = parse_block_actions(&form(&payload)).unwrap();
        assert_eq!(parsed.message_ts.as_deref(), Some("1548261231.000200"));

        payload.as_object_mut().unwrap().remove("container");
        let parsed = parse_block_actions(&form(&payload)).unwrap();
        assert_eq!(parsed.message_ts.as_deref(), Some("1111111111.000001"));
        assert_eq!(parsed.channel_id.as_deref(), Some("C0CA5"));
    }

    #[test]
    fn sparse_payloads_fall_back_to_the_users_team_and_name() {
        let payload = json!({
            "type": "block_actions",
            "user": { "id": "W123", "name": "bob", "team_id": "T9" },
            "actions": [{ "action_id": "pick", "type": "static_select" }]
        });
        let parsed = parse_block_actions(&form(&payload)).unwrap();
        assert_eq!(parsed.user_name, "bob");
        assert_eq!(parsed.team_id.as_deref(), Some("T9"));
        assert_eq!(parsed.channel_id, None);
        assert_eq!(parsed.message_ts, None);
        assert_eq!(parsed.action.value, None);
    }

    #[test]
    fn other_interaction_types_are_unsupported() {
        let payload = json!({ "type": "view_submission", "user": { "id": "U1" } });
        let err = parse_block_actions(&form(&payload)).unwrap_err();
        assert!(
            matches!(&err, InteractionError::Unsupported(m) if m.contains("view_submission")),
            "{err}"
        );
    }

    #[test]
    fn block_actions_without_actions_are_unsupported() {
        let mut payload = click();
        payload["actions"] = json!([]);
        let err = parse_block_actions(&form(&payload)).unwrap_err();
        assert!(matches!(err, InteractionError::Unsupported(_)), "{err}");
    }

    #[test]
    fn a_body_without_a_payload_field_is_refused() {
        for body in [&b""[..], b"token=abc&team_id=T1", b"\x00\xff garbage"] {
            let err = parse_block_actions(body).unwrap_err();
            assert!(matches!(err, InteractionError::NoPayload), "{err}");
        }
    }

    #[test]
    fn a_payload_that_is_not_json_is_refused_without_echoing_it() {
        let body = b"payload=%7Bnot+json+secret-ish";
        let err = parse_block_actions(body).unwrap_err();
        assert!(matches!(&err, InteractionError::NotJson(_)), "{err}");
        assert!(!err.to_string().contains("secret-ish"), "{err}");
    }

    #[test]
    fn a_click_without_a_user_is_refused() {
        let mut payload = click();
        payload.as_object_mut().unwrap().remove("user");
        let err = parse_block_actions(&form(&payload)).unwrap_err();
        assert!(matches!(err, InteractionError::NotJson(_)), "{err}");
    }

    #[test]
    fn a_base64_body_is_decoded_to_the_bytes_slack_sent() {
        let body = form(&click());
        let encoded = base64::engine::general_purpose::STANDARD.encode(&body);
        assert_eq!(raw_body(encoded.as_bytes(), true).unwrap(), body);
        assert_eq!(raw_body(&body, false).unwrap(), body);
        assert!(matches!(
            raw_body(b"payload=not base64!", true),
            Err(InteractionError::NotJson(_))
        ));
    }
}
