//! Today's grant inventory: the row contract any sync job fills, and the parser that turns a
//! raw row (from Postgres, a GAM export, or a generic CSV/JSON file) into a [`Grant`].

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::grant::{ConsentType, Grant, GrantKey, GrantState, ORG_WIDE_PRINCIPAL, Provider};
use super::scopes::Scopes;

/// An inventory row as a sync job writes it: loosely typed text, validated on read so that one
/// bad row stops the run with a precise message instead of being silently skipped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawGrant {
    pub provider: String,
    pub client_id: String,
    #[serde(default)]
    pub app_name: String,
    #[serde(default)]
    pub principal: String,
    /// Required: a missing or `null` list is refused (a broken export must not make every
    /// grant look reduced); `[]` means the grant holds no scopes.
    #[serde(deserialize_with = "scopes_from_list_or_string")]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub consent_type: String,
    #[serde(default)]
    pub publisher: Option<String>,
    #[serde(default)]
    pub verified: Option<bool>,
    #[serde(default)]
    pub last_seen: Option<DateTime<Utc>>,
}

/// A validated inventory row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryGrant {
    pub grant: Grant,
    pub last_seen: Option<DateTime<Utc>>,
}

/// A field of a row that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field `{}`: {}", self.field, self.message)
    }
}

fn field_error(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// Longest text accepted in an identifying field; longer values are almost always a
/// column mix-up (a scopes list in the client id column, say).
const MAX_FIELD_LEN: usize = 512;

impl RawGrant {
    /// Validate and normalise. Errors name the first bad field.
    pub fn parse(self) -> Result<InventoryGrant, FieldError> {
        let provider: Provider = self
            .provider
            .parse()
            .map_err(|m: String| field_error("provider", m))?;
        let client_id = self.client_id.trim().to_owned();
        if client_id.is_empty() {
            return Err(field_error("client_id", "is empty"));
        }
        check_text("client_id", &client_id)?;
        let consent: ConsentType = self
            .consent_type
            .parse()
            .map_err(|m: String| field_error("consent_type", m))?;
        let principal = normalise_principal(&self.principal, consent)?;
        check_text("principal", &principal)?;
        // App names and publishers are chosen by whoever registered the app: a stray control
        // character must not be able to stop the audit, so it is blanked rather than refused.
        let app_name = without_controls(&self.app_name);
        let scopes = Scopes::normalise(provider, &self.scopes);
        let publisher = self
            .publisher
            .map(|p| without_controls(&p))
            .filter(|p| !p.is_empty());
        Ok(InventoryGrant {
            grant: Grant {
                key: GrantKey {
                    provider,
                    client_id,
                    principal,
                },
                state: GrantState {
                    app_name,
                    scopes,
                    consent,
                    publisher,
                    verified: self.verified,
                },
            },
            last_seen: self.last_seen,
        })
    }
}

impl InventoryGrant {
    /// The row this grant is stored as (canonical values, so reading it back is lossless).
    pub fn to_raw(&self) -> RawGrant {
        let Grant { key, state } = &self.grant;
        RawGrant {
            provider: key.provider.as_str().to_owned(),
            client_id: key.client_id.clone(),
            app_name: state.app_name.clone(),
            principal: key.principal.clone(),
            scopes: state.scopes.as_slice().to_vec(),
            consent_type: state.consent.as_str().to_owned(),
            publisher: state.publisher.clone(),
            verified: state.verified,
            last_seen: self.last_seen,
        }
    }
}

fn without_controls(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

fn check_text(field: &'static str, value: &str) -> Result<(), FieldError> {
    if value.len() > MAX_FIELD_LEN {
        return Err(field_error(
            field,
            format!("is {} bytes long (limit {MAX_FIELD_LEN})", value.len()),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(field_error(field, "contains control characters"));
    }
    Ok(())
}

/// Users are recorded by email with ASCII letters lower-cased (or by id); org-wide grants under
/// `*` (an empty principal with admin consent means org-wide too).
fn normalise_principal(raw: &str, consent: ConsentType) -> Result<String, FieldError> {
    let trimmed = raw.trim();
    if trimmed == ORG_WIDE_PRINCIPAL || (trimmed.is_empty() && consent == ConsentType::Admin) {
        return Ok(ORG_WIDE_PRINCIPAL.to_owned());
    }
    if trimmed.is_empty() {
        return Err(field_error(
            "principal",
            "is empty (use `*` for an org-wide grant)",
        ));
    }
    if trimmed.contains('@') {
        // ASCII only, like the table's CHECK: keys must read back exactly as stored.
        Ok(trimmed.to_ascii_lowercase())
    } else {
        Ok(trimmed.to_owned())
    }
}

fn scopes_from_list_or_string<'de, D>(de: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrString {
        List(Vec<Option<String>>),
        Text(String),
    }
    use serde::de::Error as _;
    match Option::<ListOrString>::deserialize(de)? {
        None => Err(D::Error::custom(
            "`scopes` is null; give [] for a grant that holds no scopes",
        )),
        Some(ListOrString::Text(s)) => Ok(vec![s]),
        Some(ListOrString::List(v)) => v.into_iter().collect::<Option<Vec<_>>>().ok_or_else(|| {
            D::Error::custom("`scopes` holds a null element; every scope must be a string")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawGrant {
        RawGrant {
            provider: "google".into(),
            client_id: " 1234.apps.googleusercontent.com ".into(),
            app_name: "Notetaker".into(),
            principal: "Alice@Example.com".into(),
            scopes: vec!["email openid".into()],
            consent_type: "user".into(),
            ..RawGrant::default()
        }
    }

    #[test]
    fn a_valid_row_is_normalised() {
        let g = raw().parse().unwrap().grant;
        assert_eq!(g.key.client_id, "1234.apps.googleusercontent.com");
        assert_eq!(g.key.principal, "alice@example.com");
        assert_eq!(g.state.scopes.len(), 2);
    }

    #[test]
    fn an_unknown_provider_names_the_field() {
        let err = RawGrant {
            provider: "myspace".into(),
            ..raw()
        }
        .parse()
        .unwrap_err();
        assert_eq!(err.field, "provider");
        assert!(err.message.contains("myspace"));
    }

    #[test]
    fn an_empty_client_id_is_rejected() {
        let err = RawGrant {
            client_id: "  ".into(),
            ..raw()
        }
        .parse()
        .unwrap_err();
        assert_eq!(err.field, "client_id");
    }

    #[test]
    fn control_characters_in_an_app_name_are_blanked_not_fatal() {
        let g = RawGrant {
            app_name: "Evil\tApp\u{7}".into(),
            ..raw()
        }
        .parse()
        .unwrap()
        .grant;
        assert_eq!(g.state.app_name, "Evil App");
    }

    #[test]
    fn admin_consent_without_principal_is_org_wide() {
        let g = RawGrant {
            principal: String::new(),
            consent_type: "admin".into(),
            ..raw()
        }
        .parse()
        .unwrap()
        .grant;
        assert!(g.key.is_org_wide());
    }

    #[test]
    fn user_consent_without_principal_is_rejected() {
        let err = RawGrant {
            principal: String::new(),
            ..raw()
        }
        .parse()
        .unwrap_err();
        assert_eq!(err.field, "principal");
    }
}
