//! Parsing of Slack interactivity requests (a button clicked on a card, a modal submitted)
//! into typed values. Call it only after [`super::signature::verify`] has accepted the raw
//! body: nothing here checks who sent the request.
//!
//! Slack POSTs `application/x-www-form-urlencoded` with a single field,
//! `payload=<URL-encoded JSON>`. Only `block_actions` and `view_submission` payloads are
//! understood; the deprecated verification `token` inside the payload is ignored.

use std::collections::BTreeMap;
use std::future::Future;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::ports::PortError;
use crate::text;

/// A verified interactivity request, by payload `type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interaction {
    /// `block_actions`: an interactive element of a message (or modal) was used.
    BlockActions(BlockAction),
    /// `view_submission`: a modal was submitted.
    ViewSubmission(ViewSubmission),
}

/// A click on an interactive element of a message, as the workflow needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockAction {
    /// The Slack user id of whoever clicked (`U…` or `W…`).
    pub user_id: String,
    /// `user.username`, else `user.name`, else empty.
    pub user_name: String,
    /// `team.id`, else `user.team_id`.
    pub team_id: Option<String>,
    /// `user.team_id`: the clicker's own workspace (another one for a Slack Connect member).
    #[serde(default)]
    pub user_team_id: Option<String>,
    /// `enterprise.id` (Enterprise Grid), if any.
    #[serde(default)]
    pub enterprise_id: Option<String>,
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

/// A submitted modal, as the workflow needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewSubmission {
    /// The Slack user id of whoever submitted (`U…` or `W…`).
    pub user_id: String,
    /// `user.username`, else `user.name`, else empty.
    pub user_name: String,
    /// `team.id`, else `user.team_id` (`team` is null for org-wide installs).
    pub team_id: Option<String>,
    /// `user.team_id`: the submitter's own workspace.
    #[serde(default)]
    pub user_team_id: Option<String>,
    /// `enterprise.id` (Enterprise Grid), if any.
    #[serde(default)]
    pub enterprise_id: Option<String>,
    /// `view.id`.
    pub view_id: Option<String>,
    /// `view.callback_id`: which modal this is (empty if the modal set none).
    pub callback_id: String,
    /// `view.private_metadata` as the modal was opened with it (empty if none).
    pub private_metadata: String,
    /// `view.state.values`: block_id → action_id → the element's value. `None` for an
    /// input left empty, an unselected select, or an element kind without a string value.
    pub values: BTreeMap<String, BTreeMap<String, Option<String>>>,
}

impl ViewSubmission {
    /// The submitted value of one input element, if it has one.
    pub fn value(&self, block_id: &str, action_id: &str) -> Option<&str> {
        self.values.get(block_id)?.get(action_id)?.as_deref()
    }
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
/// `block_actions` or a `view_submission` payload.
pub fn parse_interaction(form_body: &[u8]) -> Result<Interaction, InteractionError> {
    let payload = decode_payload(form_body)?;
    match payload_type(&payload) {
        "block_actions" => block_action_from(payload).map(Interaction::BlockActions),
        "view_submission" => view_submission_from(payload).map(Interaction::ViewSubmission),
        other => Err(unsupported_type(
            other,
            "\"block_actions\" or \"view_submission\"",
        )),
    }
}

/// Parse a verified interactivity body (`payload=<URL-encoded JSON>`) holding a
/// `block_actions` payload. Any other payload type is [`InteractionError::Unsupported`],
/// whatever its shape.
pub fn parse_block_actions(form_body: &[u8]) -> Result<BlockAction, InteractionError> {
    let payload = decode_payload(form_body)?;
    match payload_type(&payload) {
        "block_actions" => block_action_from(payload),
        other => Err(unsupported_type(other, "\"block_actions\"")),
    }
}

/// A parser's error on one line and bounded: serde quotes the offending (untrusted) value.
fn bounded(error: &dyn std::fmt::Display) -> String {
    text::one_line(&error.to_string(), 200)
}

/// The JSON of the `payload` form field.
fn decode_payload(form_body: &[u8]) -> Result<Value, InteractionError> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(form_body)
        .map_err(|e| InteractionError::NotJson(format!("not form-encoded: {}", bounded(&e))))?;
    let json = fields
        .into_iter()
        .find_map(|(name, value)| (name == "payload").then_some(value))
        .ok_or(InteractionError::NoPayload)?;
    serde_json::from_str(&json).map_err(|e| {
        // Positions only: the text is untrusted and may be long.
        InteractionError::NotJson(format!(
            "invalid JSON at line {} column {}",
            e.line(),
            e.column()
        ))
    })
}

fn payload_type(payload: &Value) -> &str {
    payload.get("type").and_then(Value::as_str).unwrap_or("")
}

fn unsupported_type(kind: &str, expected: &str) -> InteractionError {
    // The type is attacker-chosen: quoted bounded and on one line.
    let shown = if kind.is_empty() {
        "(no type)".to_owned()
    } else {
        format!("{:?}", text::excerpt(kind))
    };
    InteractionError::Unsupported(format!("payload type {shown}, expected {expected}"))
}

fn block_action_from(payload: Value) -> Result<BlockAction, InteractionError> {
    let raw: RawPayload = serde_json::from_value(payload).map_err(|e| {
        InteractionError::NotJson(format!("unexpected block_actions shape: {}", bounded(&e)))
    })?;
    raw.into_block_action()
}

fn view_submission_from(payload: Value) -> Result<ViewSubmission, InteractionError> {
    let raw: RawViewPayload = serde_json::from_value(payload).map_err(|e| {
        InteractionError::NotJson(format!("unexpected view_submission shape: {}", bounded(&e)))
    })?;
    raw.into_view_submission()
}

/// Used by tests and tooling: the body Slack would send when a modal is submitted.
/// `values` are `(block_id, action_id, element type, value)`; a `"static_select"` or
/// `"radio_buttons"` value becomes the `selected_option`, any other kind carries it as
/// `value` (`None` is an input left empty / nothing selected).
pub fn view_submission_body(
    user_id: &str,
    callback_id: &str,
    private_metadata: &str,
    values: &[(&str, &str, &str, Option<&str>)],
) -> String {
    let mut blocks: Map<String, Value> = Map::new();
    for &(block_id, action_id, kind, value) in values {
        let element = match kind {
            "static_select" | "radio_buttons" => json!({
                "type": kind,
                "selected_option": value.map(|v| json!({
                    "text": {"type": "plain_text", "text": v},
                    "value": v,
                })),
            }),
            _ => json!({"type": kind, "value": value}),
        };
        let block = blocks
            .entry(block_id)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(actions) = block {
            actions.insert(action_id.to_owned(), element);
        }
    }
    let payload = json!({
        "type": "view_submission",
        "team": {"id": "T1", "domain": "acme"},
        "user": {"id": user_id, "username": user_id, "name": user_id, "team_id": "T1"},
        "api_app_id": "A1",
        "trigger_id": "t1",
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": blocks},
        },
    });
    serde_urlencoded::to_string([("payload", payload.to_string())]).expect("form-encodable")
}

/// The exact bytes Slack signed. API Gateway (HTTP API) may hand the body over base64-encoded
/// (`isBase64Encoded: true`); the signature covers the decoded bytes.
pub fn raw_body(body: &[u8], is_base64: bool) -> Result<Vec<u8>, InteractionError> {
    if !is_base64 {
        return Ok(body.to_vec());
    }
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| {
            InteractionError::NotJson(format!("the body is marked base64 but {}", bounded(&e)))
        })
}

#[derive(Deserialize)]
struct RawPayload {
    user: Option<RawUser>,
    team: Option<IdOnly>,
    enterprise: Option<IdOnly>,
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
            team_id: self.team.and_then(|t| t.id).or(user.team_id.clone()),
            user_team_id: user.team_id,
            enterprise_id: self.enterprise.and_then(|e| e.id),
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

#[derive(Deserialize)]
struct RawViewPayload {
    user: Option<RawUser>,
    team: Option<IdOnly>,
    enterprise: Option<IdOnly>,
    view: Option<RawView>,
}

#[derive(Deserialize)]
struct RawView {
    id: Option<String>,
    callback_id: Option<String>,
    private_metadata: Option<String>,
    state: Option<RawState>,
}

#[derive(Deserialize)]
struct RawState {
    /// block_id → action_id → element state; kept loose, read by [`element_value`].
    values: Option<BTreeMap<String, BTreeMap<String, Value>>>,
}

impl RawViewPayload {
    fn into_view_submission(self) -> Result<ViewSubmission, InteractionError> {
        let user = self.user.filter(|u| !u.id.is_empty()).ok_or_else(|| {
            InteractionError::NotJson("view_submission without user.id".to_owned())
        })?;
        let view = self
            .view
            .ok_or_else(|| InteractionError::NotJson("view_submission without view".to_owned()))?;
        let callback_id = view.callback_id.ok_or_else(|| {
            InteractionError::NotJson("view_submission without view.callback_id".to_owned())
        })?;
        let values = view
            .state
            .and_then(|s| s.values)
            .unwrap_or_default()
            .into_iter()
            .map(|(block_id, actions)| {
                let actions = actions
                    .into_iter()
                    .map(|(action_id, element)| (action_id, element_value(&element)))
                    .collect();
                (block_id, actions)
            })
            .collect();
        Ok(ViewSubmission {
            user_name: user.username.or(user.name).unwrap_or_default(),
            team_id: self.team.and_then(|t| t.id).or(user.team_id.clone()),
            user_team_id: user.team_id,
            enterprise_id: self.enterprise.and_then(|e| e.id),
            user_id: user.id,
            view_id: view.id,
            callback_id,
            private_metadata: view.private_metadata.unwrap_or_default(),
            values,
        })
    }
}

/// The submitted value of one element of `view.state.values`.
fn element_value(element: &Value) -> Option<String> {
    let value = match element.get("type").and_then(Value::as_str) {
        Some("static_select" | "radio_buttons") => {
            element.get("selected_option").and_then(|o| o.get("value"))
        }
        // plain_text_input and number_input (a string, null when left empty), and any
        // other kind that happens to carry a string `value`.
        _ => element.get("value"),
    };
    value.and_then(Value::as_str).map(str::to_owned)
}

/// Sends the clicker a message only they see.
pub trait ClickReplies: Send + Sync {
    fn ephemeral(
        &self,
        response_url: &str,
        text: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Used by tests and tooling: the body Slack would send for a click.
pub fn click_body(
    user_id: &str,
    action_id: &str,
    value: &str,
    channel: &str,
    ts: &str,
    response_url: &str,
) -> String {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id, "team_id": "T1"},
        "team": {"id": "T1", "domain": "acme"},
        "channel": {"id": channel, "name": "reviews"},
        "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false},
        "message": {"ts": ts, "text": "card"},
        "actions": [{"type": "button", "action_id": action_id, "block_id": "privileged_review", "value": value, "action_ts": "1"}],
        "response_url": response_url,
        "trigger_id": "t1",
    });
    serde_urlencoded::to_string([("payload", payload.to_string())]).expect("form-encodable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_quote_untrusted_values_bounded_and_on_one_line() {
        let long_type = format!("evil\n{}", "t".repeat(5000));
        let form =
            serde_urlencoded::to_string([("payload", json!({"type": long_type}).to_string())])
                .unwrap();
        let message = parse_interaction(form.as_bytes()).unwrap_err().to_string();
        assert!(message.len() < 300, "{} bytes", message.len());
        assert!(!message.contains('\n'));

        let shape = serde_urlencoded::to_string([(
            "payload",
            json!({"type": "block_actions", "user": "u".repeat(5000)}).to_string(),
        )])
        .unwrap();
        let message = parse_interaction(shape.as_bytes()).unwrap_err().to_string();
        assert!(message.len() < 300, "{} bytes: {message}", message.len());
    }
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
                user_team_id: Some("T3MDE".into()),
                enterprise_id: None,
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

    /// Shaped like Slack's view_submission payload for the rotation "Snooze" modal.
    fn snooze() -> Value {
        json!({
            "type": "view_submission",
            "team": { "id": "T1", "domain": "acme" },
            "user": { "id": "U1", "username": "ann", "name": "ann", "team_id": "T1" },
            "api_app_id": "A1",
            "token": "ignored",
            "trigger_id": "t",
            "view": {
                "id": "V123",
                "type": "modal",
                "callback_id": "rotation_snooze",
                "private_metadata": "{\"secret\":\"db-prod\"}",
                "state": { "values": {
                    "reason": { "reason_input": { "type": "plain_text_input", "value": "waiting on vendor" } },
                    "days": { "days_select": {
                        "type": "static_select",
                        "selected_option": { "text": { "type": "plain_text", "text": "3 days" }, "value": "3" }
                    } }
                } }
            }
        })
    }

    #[test]
    fn a_modal_submission_is_parsed_into_who_submitted_which_values() {
        let Interaction::ViewSubmission(parsed) = parse_interaction(&form(&snooze())).unwrap()
        else {
            panic!("expected a view submission");
        };
        assert_eq!(
            parsed,
            ViewSubmission {
                user_id: "U1".into(),
                user_name: "ann".into(),
                team_id: Some("T1".into()),
                user_team_id: Some("T1".into()),
                enterprise_id: None,
                view_id: Some("V123".into()),
                callback_id: "rotation_snooze".into(),
                private_metadata: "{\"secret\":\"db-prod\"}".into(),
                values: BTreeMap::from([
                    (
                        "days".to_owned(),
                        BTreeMap::from([("days_select".to_owned(), Some("3".to_owned()))]),
                    ),
                    (
                        "reason".to_owned(),
                        BTreeMap::from([(
                            "reason_input".to_owned(),
                            Some("waiting on vendor".to_owned()),
                        )]),
                    ),
                ]),
            }
        );
        assert_eq!(
            parsed.value("reason", "reason_input"),
            Some("waiting on vendor")
        );
        assert_eq!(parsed.value("days", "days_select"), Some("3"));
        assert_eq!(parsed.value("days", "nope"), None);
        assert_eq!(parsed.value("nope", "days_select"), None);
    }

    #[test]
    fn empty_inputs_other_kinds_and_a_null_team_are_tolerated() {
        let mut payload = snooze();
        payload["team"] = Value::Null;
        let values = &mut payload["view"]["state"]["values"];
        values["reason"]["reason_input"]["value"] = Value::Null;
        values["days"]["days_select"]["selected_option"] = Value::Null;
        values["count"] = json!({ "n": { "type": "number_input", "value": "7" } });
        values["pick"] = json!({ "r": {
            "type": "radio_buttons",
            "selected_option": { "text": { "type": "plain_text", "text": "Yes" }, "value": "yes" }
        } });
        values["when"] = json!({ "d": { "type": "datepicker", "selected_date": "2024-01-02" } });
        values["odd"] = json!({ "x": { "type": "custom", "value": 5 } });
        payload["view"]
            .as_object_mut()
            .unwrap()
            .remove("private_metadata");
        let Interaction::ViewSubmission(parsed) = parse_interaction(&form(&payload)).unwrap()
        else {
            panic!("expected a view submission");
        };
        assert_eq!(
            parsed.team_id.as_deref(),
            Some("T1"),
            "falls back to user.team_id"
        );
        assert_eq!(parsed.private_metadata, "");
        assert_eq!(parsed.values["reason"]["reason_input"], None);
        assert_eq!(parsed.value("reason", "reason_input"), None);
        assert_eq!(parsed.values["days"]["days_select"], None);
        assert_eq!(parsed.value("count", "n"), Some("7"));
        assert_eq!(parsed.value("pick", "r"), Some("yes"));
        assert_eq!(parsed.values["when"]["d"], None);
        assert_eq!(parsed.values["odd"]["x"], None);
    }

    #[test]
    fn a_malformed_view_is_refused_clearly() {
        let mut payload = snooze();
        payload["view"]
            .as_object_mut()
            .unwrap()
            .remove("callback_id");
        let err = parse_interaction(&form(&payload)).unwrap_err();
        assert!(
            matches!(&err, InteractionError::NotJson(m) if m.contains("view.callback_id")),
            "{err}"
        );

        let mut payload = snooze();
        payload.as_object_mut().unwrap().remove("view");
        let err = parse_interaction(&form(&payload)).unwrap_err();
        assert!(
            matches!(&err, InteractionError::NotJson(m) if m.contains("view")),
            "{err}"
        );

        let mut payload = snooze();
        payload.as_object_mut().unwrap().remove("user");
        let err = parse_interaction(&form(&payload)).unwrap_err();
        assert!(
            matches!(&err, InteractionError::NotJson(m) if m.contains("user.id")),
            "{err}"
        );

        let mut payload = snooze();
        payload["view"]["state"]["values"] = json!({ "reason": "not an object" });
        let err = parse_interaction(&form(&payload)).unwrap_err();
        assert!(matches!(&err, InteractionError::NotJson(_)), "{err}");
    }

    #[test]
    fn parse_interaction_dispatches_on_the_payload_type() {
        let parsed = parse_interaction(&form(&click())).unwrap();
        assert_eq!(
            parsed,
            Interaction::BlockActions(parse_block_actions(&form(&click())).unwrap())
        );
        assert!(matches!(
            parse_interaction(&form(&snooze())).unwrap(),
            Interaction::ViewSubmission(_)
        ));
    }

    #[test]
    fn unknown_interaction_types_are_still_unsupported() {
        for payload in [
            json!({ "type": "shortcut", "user": { "id": "U1" } }),
            json!({ "type": "view_closed", "user": { "id": "U1" }, "view": {} }),
            json!({ "user": { "id": "U1" } }),
        ] {
            let err = parse_interaction(&form(&payload)).unwrap_err();
            let shown = payload["type"].as_str().unwrap_or("(no type)");
            assert!(
                matches!(&err, InteractionError::Unsupported(m)
                    if m.contains(shown) && m.contains("expected \"block_actions\"")),
                "{err}"
            );
        }
        // parse_block_actions refuses a (well-formed) submission by type, not by shape.
        let err = parse_block_actions(&form(&snooze())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported Slack interaction: payload type \"view_submission\", expected \"block_actions\""
        );
    }

    #[test]
    fn the_builder_round_trips_through_parse_interaction() {
        let body = view_submission_body(
            "U7",
            "rotation_snooze",
            "secret=db-prod&run=42",
            &[
                (
                    "reason",
                    "reason_input",
                    "plain_text_input",
                    Some("vendor & co"),
                ),
                ("days", "days_select", "static_select", Some("3")),
                ("days", "note", "plain_text_input", None),
                ("other", "sel", "static_select", None),
            ],
        );
        let Interaction::ViewSubmission(parsed) = parse_interaction(body.as_bytes()).unwrap()
        else {
            panic!("expected a view submission");
        };
        assert_eq!(parsed.user_id, "U7");
        assert_eq!(parsed.user_name, "U7");
        assert_eq!(parsed.team_id.as_deref(), Some("T1"));
        assert_eq!(parsed.callback_id, "rotation_snooze");
        assert_eq!(parsed.private_metadata, "secret=db-prod&run=42");
        assert_eq!(parsed.value("reason", "reason_input"), Some("vendor & co"));
        assert_eq!(parsed.value("days", "days_select"), Some("3"));
        assert_eq!(parsed.values["days"]["note"], None);
        assert_eq!(parsed.values["other"]["sel"], None);
        assert_eq!(parsed.values.len(), 3);
    }
}
