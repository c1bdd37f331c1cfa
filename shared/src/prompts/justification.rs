//! The OAuth justification-request prompt: what the model is told, the strict JSON schema it
//! must answer with, how its answer is validated, and the deterministic template used when
//! there is no model answer to use.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::drift::catalog;
use crate::drift::diff::{Change, ChangeKind};

pub const PROMPT_VERSION: &str = "oauth-justification.v1";
pub const SYSTEM_PROMPT: &str = include_str!("../../prompts/oauth-justification.v1.md");
pub const SCHEMA_NAME: &str = "justification_request";

/// The strict JSON schema the model must answer with.
pub static SCHEMA: LazyLock<serde_json::Value> = LazyLock::new(|| {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["capabilities", "questions", "consequence"],
        "properties": {
            "capabilities": {"type": "string", "description": "What the app can do with these scopes."},
            "questions": {"type": "array", "items": {"type": "string"}, "description": "Two to four questions for the grantor."},
            "consequence": {"type": "string", "description": "What happens without an answer."}
        }
    })
});

/// The hash recorded with every draft this prompt (or its fallback template) produced.
pub static PROMPT_HASH: LazyLock<String> =
    LazyLock::new(|| super::prompt_hash(PROMPT_VERSION, SYSTEM_PROMPT, &SCHEMA));

/// The justification request itself, whoever wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JustificationText {
    pub capabilities: String,
    pub questions: Vec<String>,
    pub consequence: String,
}

/// Who wrote a draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum DraftSource {
    Model { model: String },
    Template { reason: String },
}

/// A justification request ready to file, with its provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    pub text: JustificationText,
    #[serde(flatten)]
    pub source: DraftSource,
    pub prompt_version: String,
    pub prompt_hash: String,
}

impl Draft {
    pub fn from_model(text: JustificationText, model: &str) -> Draft {
        Draft {
            text,
            source: DraftSource::Model {
                model: model.to_owned(),
            },
            prompt_version: PROMPT_VERSION.to_owned(),
            prompt_hash: PROMPT_HASH.clone(),
        }
    }
}

/// The user message: the facts, with attacker-chosen text fenced and JSON-encoded so it cannot
/// close the fence or pose as instructions.
pub fn user_message(changes: &[Change]) -> String {
    let first = &changes[0];
    let state = first.current();
    let provider = first.key.provider;
    let scopes: Vec<serde_json::Value> = state
        .scopes
        .as_slice()
        .iter()
        .map(|s| {
            json!({
                "scope": s,
                "risk": catalog::scope_risk(provider, s).as_str(),
                "allows": catalog::scope_description(provider, s),
                "newly_granted": first.gained_scopes().contains(&s.as_str()),
            })
        })
        .collect();
    let facts = json!({
        "change": first.kind.as_str(),
        "provider": provider.as_str(),
        "consent": state.consent.as_str(),
        "consent_widened_to_org": first.consent_widened(),
        "principals": changes.len(),
        "scopes": scopes,
    });
    let untrusted = json!({
        "app_name": state.app_name,
        "publisher": state.publisher,
        "publisher_verified": state.verified,
    });
    format!(
        "Facts (trusted):\n{facts}\n\n<untrusted_app_metadata>\n{}\n</untrusted_app_metadata>\n\n\
         Draft the justification request.",
        // JSON encoding escapes quotes and control characters; '<' is escaped too so the
        // metadata cannot spell the closing tag.
        untrusted.to_string().replace('<', "\\u003c")
    )
}

/// Why a model answer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("model output rejected: {0}")]
pub struct InvalidDraft(pub String);

const MAX_CAPABILITIES: usize = 600;
const MAX_QUESTION: usize = 300;
const MAX_CONSEQUENCE: usize = 400;

/// Parse and check a model answer. Beyond the schema: lengths are bounded, there are one to five
/// questions, and nothing may carry a link, an address or markup a reader could be steered by.
pub fn validate(raw: &str) -> Result<JustificationText, InvalidDraft> {
    let text: JustificationText = serde_json::from_str(raw)
        .map_err(|e| InvalidDraft(format!("not the expected JSON object: {e}")))?;
    check_field("capabilities", &text.capabilities, MAX_CAPABILITIES)?;
    check_field("consequence", &text.consequence, MAX_CONSEQUENCE)?;
    if text.questions.is_empty() || text.questions.len() > 5 {
        return Err(InvalidDraft(format!(
            "expected 1 to 5 questions, got {}",
            text.questions.len()
        )));
    }
    for q in &text.questions {
        check_field("questions", q, MAX_QUESTION)?;
    }
    Ok(text)
}

fn check_field(name: &str, value: &str, max: usize) -> Result<(), InvalidDraft> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(InvalidDraft(format!("`{name}` is empty")));
    }
    if trimmed.chars().count() > max {
        return Err(InvalidDraft(format!(
            "`{name}` is longer than {max} characters"
        )));
    }
    let lower = trimmed.to_ascii_lowercase();
    for banned in ["http://", "https://", "www.", "](", "![", "<", "@"] {
        if lower.contains(banned) {
            return Err(InvalidDraft(format!("`{name}` contains {banned:?}")));
        }
    }
    Ok(())
}

/// The deterministic request used without a model answer. Built only from the catalog and the
/// change's facts, never from attacker-chosen text.
pub fn template_draft(changes: &[Change], reason: &str) -> Draft {
    let first = &changes[0];
    let provider = first.key.provider;
    let mut risky: Vec<(&str, catalog::Severity, &str)> = first
        .gained_scopes()
        .into_iter()
        .map(|s| {
            (
                s,
                catalog::scope_risk(provider, s),
                catalog::scope_description(provider, s),
            )
        })
        .collect();
    risky.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let known: Vec<&str> = risky
        .iter()
        .filter(|(_, _, d)| *d != "not in the risk catalog")
        .take(3)
        .map(|(_, _, d)| *d)
        .collect();
    let verb = match first.kind {
        ChangeKind::Elevated => "was granted additional access",
        _ => "was granted access",
    };
    let capabilities = if known.is_empty() {
        format!(
            "This application {verb} with {} scope(s) that the security team's catalog does not describe.",
            risky.len()
        )
    } else {
        format!(
            "This application {verb}. With these scopes it can {}.",
            known.join("; ")
        )
    };
    let mut questions = vec![
        "What business purpose does this application serve, and who uses it?".to_owned(),
        "Why does it need these scopes rather than narrower ones?".to_owned(),
        "Who owns the relationship with the vendor, and what company data will it handle?"
            .to_owned(),
    ];
    if first.consent_widened() || first.current().consent == crate::drift::grant::ConsentType::Admin
    {
        questions.push(
            "Why was this approved for the whole organisation rather than individual users?"
                .to_owned(),
        );
    }
    Draft {
        text: JustificationText {
            capabilities,
            questions,
            consequence:
                "Without an answer, the security team will review the grant and may revoke it."
                    .to_owned(),
        },
        source: DraftSource::Template {
            reason: reason.to_owned(),
        },
        prompt_version: PROMPT_VERSION.to_owned(),
        prompt_hash: PROMPT_HASH.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_answer_validates() {
        let raw = r#"{"capabilities":"It can read all mail.","questions":["Why?","Who owns it?"],"consequence":"It may be revoked."}"#;
        assert_eq!(validate(raw).unwrap().questions.len(), 2);
    }

    #[test]
    fn answers_with_links_or_mentions_are_rejected() {
        for bad in [
            r#"{"capabilities":"Visit https://evil.example to verify.","questions":["Why?"],"consequence":"x"}"#,
            r#"{"capabilities":"Fine.","questions":["Email admin@evil.example"],"consequence":"x"}"#,
            r#"{"capabilities":"Fine.","questions":[],"consequence":"x"}"#,
            r#"{"capabilities":"","questions":["Why?"],"consequence":"x"}"#,
            r#"{"capabilities":"Fine.","questions":["Why?"]}"#,
            "not json",
        ] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_prompt_hash_is_stable_and_short() {
        assert_eq!(PROMPT_HASH.len(), 16);
        assert_eq!(
            *PROMPT_HASH,
            super::super::prompt_hash(PROMPT_VERSION, SYSTEM_PROMPT, &SCHEMA)
        );
    }
}
