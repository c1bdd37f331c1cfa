//! The model: when one is configured, a schema-constrained test prompt through the same
//! connector the workflows use must come back as JSON of that schema. Without a model the
//! workflows run on rules and templates, so the check is skipped, not failed.

use serde_json::json;

use super::Context;
use super::checklist::Checklist;
use crate::config::LlmSettings;
use crate::connectors::llm::{JsonRequest, LlmError, StructuredLlm};
use crate::connectors::openai::{OpenAiClient, OpenAiConfig};

const SUBJECT: &str = "openai";
const NAME: &str = "model answers a schema-constrained prompt";
const STRUCTURED_OUTPUTS_FIX: &str = "set OPENAI_MODEL to a model that supports Structured Outputs (response_format json_schema, strict)";

/// `{"ok": <bool>}` and nothing else, as the test schema says.
fn answers_the_schema(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .is_some_and(|o| o.len() == 1 && o.get("ok").is_some_and(serde_json::Value::is_boolean))
}

/// `without` says what the workflow does without a model.
pub(super) async fn check(
    list: &mut Checklist,
    workflow: &'static str,
    context: &Context,
    llm: &LlmSettings,
    without: &str,
) {
    let mut record = list.record(workflow, SUBJECT);
    let key = context.credential("openai_api_key").is_some();
    let Some(model) = &llm.model else {
        let reason = if key {
            format!("openai_api_key is set but OPENAI_MODEL is not, so no model is used: {without}")
        } else {
            format!("no OPENAI_MODEL: {without}")
        };
        record.skip(NAME, reason);
        return;
    };
    if !key {
        record.fail(
            NAME,
            format!(
                "OPENAI_MODEL is set but openai_api_key is missing, so no model is used: {without}"
            ),
            format!(
                "add openai_api_key to {}, or unset OPENAI_MODEL",
                context.secret_place()
            ),
        );
        return;
    }
    let client = OpenAiClient::new(
        context.http.clone(),
        context.secrets.clone(),
        OpenAiConfig {
            base_url: llm.base_url.clone(),
            model: model.clone(),
            timeout: llm.timeout,
            retry: context.common.retry,
        },
    );
    let schema = json!({
        "type": "object",
        "properties": { "ok": { "type": "boolean" } },
        "required": ["ok"],
        "additionalProperties": false,
    });
    let request = JsonRequest {
        system: "You are a configuration check. Answer with JSON only.",
        user: "Answer {\"ok\": true}.",
        schema_name: "doctor_check",
        schema: &schema,
        max_output_tokens: 20,
    };
    match client.complete_json(&request).await {
        Ok(text) if answers_the_schema(&text) => {
            record.pass(NAME, format!("{model} answered with JSON of the schema"))
        }
        Ok(_) => record.fail(
            NAME,
            format!("{model} answered, but not with JSON of the schema"),
            STRUCTURED_OUTPUTS_FIX,
        ),
        Err(e) => {
            let fix = match &e {
                LlmError::Refused(_) | LlmError::Unusable(_) => STRUCTURED_OUTPUTS_FIX,
                LlmError::InsufficientQuota => {
                    "top up the model account's quota or raise its budget"
                }
                LlmError::Rejected(_) => {
                    "check OPENAI_MODEL (a model this key may use) and openai_api_key"
                }
                _ => "retry; if it persists, check OPENAI_BASE_URL and the network path to it",
            };
            record.fail(NAME, e.to_string(), fix);
        }
    }
}
