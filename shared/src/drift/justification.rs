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
    LazyLock::new(|| crate::connectors::llm::prompt_hash(PROMPT_VERSION, SYSTEM_PROMPT, &SCHEMA));

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
    Model {
        model: String,
    },
    Template {
        /// Why the template was used: a fixed phrase, the only part an issue shows.
        reason: FallbackReason,
        /// The failure as it was reported (it may quote the model's answer), cut to
        /// [`MAX_FALLBACK_DETAIL`] characters. Kept with the draft in the database for whoever
        /// investigates; never rendered into an issue, since unvalidated model text could carry
        /// links the validator exists to keep out.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
}

/// Longest failure detail kept with a template draft.
pub const MAX_FALLBACK_DETAIL: usize = 500;

/// Why a draft came from the template, in words fixed by us. Drafts stored before this type
/// existed carry free text (which may quote the model) and read back as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackReason {
    NoModel,
    OutOfQuota,
    NoTimeLeft,
    Refused,
    NotJson,
    CutShort,
    BrokeRules,
    RateLimited,
    Unavailable,
    TimedOut,
    RequestRejected,
    #[serde(other)]
    Other,
}

impl FallbackReason {
    /// The plain-words phrase an issue shows.
    pub fn phrase(self) -> &'static str {
        match self {
            FallbackReason::NoModel => "no model is configured",
            FallbackReason::OutOfQuota => "the model account is out of quota",
            FallbackReason::NoTimeLeft => "no time was left to ask the model",
            FallbackReason::Refused => "the model refused",
            FallbackReason::NotJson => "the model's answer was not valid JSON",
            FallbackReason::CutShort => "the model's answer was cut short or empty",
            FallbackReason::BrokeRules => "the model's answer broke the drafting rules",
            FallbackReason::RateLimited => "the model was rate limited",
            FallbackReason::Unavailable => "the model was unavailable",
            FallbackReason::TimedOut => "the model did not answer in time",
            FallbackReason::RequestRejected => "the model request was refused",
            FallbackReason::Other => "the model's answer could not be used",
        }
    }

    /// The reason behind a failure message as the workflow reports it (an [`LlmError`] or
    /// [`InvalidDraft`] rendered with `Display`, or one of the workflow's own phrases).
    ///
    /// [`LlmError`]: crate::connectors::llm::LlmError
    pub fn classify(message: &str) -> FallbackReason {
        let m = message.trim_start();
        let starts = |prefix: &str| m.starts_with(prefix);
        if starts("no model configured") {
            FallbackReason::NoModel
        } else if starts("model account") {
            FallbackReason::OutOfQuota
        } else if starts("no time left") {
            FallbackReason::NoTimeLeft
        } else if starts("model refused") {
            FallbackReason::Refused
        } else if starts("model answer unusable: not JSON")
            || starts("model output rejected: not the expected JSON object")
        {
            FallbackReason::NotJson
        } else if starts("model answer unusable") {
            FallbackReason::CutShort
        } else if starts("model output rejected") {
            FallbackReason::BrokeRules
        } else if starts("model rate limit") {
            FallbackReason::RateLimited
        } else if starts("model unavailable") {
            FallbackReason::Unavailable
        } else if starts("model call timed out") {
            FallbackReason::TimedOut
        } else if starts("model request rejected") {
            FallbackReason::RequestRejected
        } else {
            FallbackReason::Other
        }
    }
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

/// The failure message as kept in the database: one line, cut to [`MAX_FALLBACK_DETAIL`]
/// characters.
fn fallback_detail(message: &str) -> Option<String> {
    let line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return None;
    }
    if line.chars().count() <= MAX_FALLBACK_DETAIL {
        return Some(line);
    }
    let mut cut: String = line.chars().take(MAX_FALLBACK_DETAIL - 1).collect();
    cut.push('…');
    Some(cut)
}

/// The deterministic request used without a model answer. Built only from the catalog and the
/// change's facts, never from attacker-chosen text. `reason` is the failure as reported: the
/// draft keeps a fixed phrase for it (what an issue shows) and the message itself, cut, as
/// detail for the database.
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
            reason: FallbackReason::classify(reason),
            detail: fallback_detail(reason),
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
    fn fallback_reasons_are_fixed_phrases_and_the_failure_is_kept_cut_as_detail() {
        use crate::connectors::llm::LlmError;
        let refusal = format!(
            "Sorry, see https://evil.example/approved {}",
            "x".repeat(900)
        );
        for (message, reason) in [
            (
                LlmError::Refused(refusal.clone()).to_string(),
                FallbackReason::Refused,
            ),
            (
                LlmError::Unusable("not JSON: expected value: {\"a".to_owned()).to_string(),
                FallbackReason::NotJson,
            ),
            (
                LlmError::Unusable("finish_reason=length".to_owned()).to_string(),
                FallbackReason::CutShort,
            ),
            (
                validate("nope").unwrap_err().to_string(),
                FallbackReason::NotJson,
            ),
            (
                validate(r#"{"capabilities":"see www.x","questions":["q"],"consequence":"c"}"#)
                    .unwrap_err()
                    .to_string(),
                FallbackReason::BrokeRules,
            ),
            (
                LlmError::RateLimited.to_string(),
                FallbackReason::RateLimited,
            ),
            (
                LlmError::InsufficientQuota.to_string(),
                FallbackReason::OutOfQuota,
            ),
            (
                LlmError::Unavailable("503".to_owned()).to_string(),
                FallbackReason::Unavailable,
            ),
            (LlmError::Timeout.to_string(), FallbackReason::TimedOut),
            (
                LlmError::Rejected("400".to_owned()).to_string(),
                FallbackReason::RequestRejected,
            ),
            ("no model configured".to_owned(), FallbackReason::NoModel),
            (
                "model account out of quota".to_owned(),
                FallbackReason::OutOfQuota,
            ),
            (
                "no time left for the model".to_owned(),
                FallbackReason::NoTimeLeft,
            ),
            ("something new".to_owned(), FallbackReason::Other),
        ] {
            assert_eq!(FallbackReason::classify(&message), reason, "{message}");
        }
        let change = crate::drift::diff::Change {
            key: crate::drift::grant::GrantKey {
                provider: crate::drift::grant::Provider::Google,
                client_id: "c".into(),
                principal: "p@x.com".into(),
            },
            kind: ChangeKind::New,
            before: None,
            after: Some(crate::drift::grant::GrantState {
                app_name: "a".into(),
                scopes: crate::drift::scopes::Scopes::normalise(
                    crate::drift::grant::Provider::Google,
                    ["openid"],
                ),
                consent: crate::drift::grant::ConsentType::User,
                publisher: None,
                verified: None,
            }),
        };
        let draft = template_draft(&[change], &LlmError::Refused(refusal).to_string());
        let DraftSource::Template { reason, detail } = &draft.source else {
            panic!("a template draft");
        };
        assert_eq!(reason.phrase(), "the model refused");
        let detail = detail.as_deref().unwrap();
        assert!(detail.starts_with("model refused: Sorry"));
        assert_eq!(detail.chars().count(), MAX_FALLBACK_DETAIL);
    }

    #[test]
    fn drafts_stored_with_a_free_text_reason_read_back_without_it() {
        let stored = serde_json::json!({
            "text": {"capabilities": "c", "questions": ["q"], "consequence": "c"},
            "source": "template",
            "reason": "model refused: see https://evil.example",
            "prompt_version": PROMPT_VERSION,
            "prompt_hash": "h",
        });
        let draft: Draft = serde_json::from_value(stored).unwrap();
        assert_eq!(
            draft.source,
            DraftSource::Template {
                reason: FallbackReason::Other,
                detail: None
            }
        );
    }

    #[test]
    fn the_prompt_hash_is_stable_and_short() {
        assert_eq!(PROMPT_HASH.len(), 16);
        assert_eq!(
            *PROMPT_HASH,
            crate::connectors::llm::prompt_hash(PROMPT_VERSION, SYSTEM_PROMPT, &SCHEMA)
        );
    }
}
