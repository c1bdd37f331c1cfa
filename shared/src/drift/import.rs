//! Importing an inventory from a file: a GAM `print tokens` CSV, or a generic CSV/JSON file in
//! the inventory contract's columns. All rows are validated before anything is written, so a
//! file is imported whole or not at all.

use std::path::Path;
use std::str::FromStr;

use serde::Deserialize;

use super::inventory::{FieldError, InventoryGrant, RawGrant};
pub use crate::rows::{ImportError, RowError};
use crate::rows::{all_or_nothing, read_csv};

/// The file formats the importer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// `gam print tokens` output: `user,clientId,displayText,anonymous,nativeApp,userKey,scopes`
    /// (scopes joined by GAM's delimiter, a space by default). Every row is a Google user grant.
    Gam,
    /// CSV with the inventory contract's columns.
    Csv,
    /// A JSON array of objects with the inventory contract's fields.
    Json,
}

impl FromStr for ImportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "gam" => Ok(ImportFormat::Gam),
            "csv" => Ok(ImportFormat::Csv),
            "json" => Ok(ImportFormat::Json),
            other => Err(format!(
                "unknown format {other:?} (expected gam, csv or json)"
            )),
        }
    }
}

impl ImportFormat {
    /// Guess from the file: `.json` is JSON; a CSV whose header has GAM's `clientId` and
    /// `displayText` columns is GAM; any other CSV is the generic format.
    pub fn detect(path: &Path, content: &str) -> ImportFormat {
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            return ImportFormat::Json;
        }
        let header = content.lines().next().unwrap_or_default();
        if header.contains("clientId") && header.contains("displayText") {
            ImportFormat::Gam
        } else {
            ImportFormat::Csv
        }
    }
}

/// Read and validate a whole file.
pub fn import_file(
    path: &Path,
    format: Option<ImportFormat>,
) -> Result<Vec<InventoryGrant>, ImportError> {
    let display = path.display().to_string();
    let content = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
        path: display.clone(),
        source,
    })?;
    let format = format.unwrap_or_else(|| ImportFormat::detect(path, &content));
    parse_inventory(&display, &content, format)
}

/// Validate an inventory held in memory. `origin` names it in errors.
pub fn parse_inventory(
    origin: &str,
    content: &str,
    format: ImportFormat,
) -> Result<Vec<InventoryGrant>, ImportError> {
    let rows: Vec<Result<RawGrant, RowError>> = match format {
        ImportFormat::Json => {
            let values: Vec<serde_json::Value> =
                serde_json::from_str(content).map_err(|e| ImportError::Malformed {
                    path: origin.to_owned(),
                    format: "JSON",
                    message: format!("{e} (expected an array of grant objects)"),
                })?;
            values
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    serde_json::from_value::<RawGrant>(v).map_err(|e| RowError {
                        row: i + 1,
                        line: None,
                        field: json_error_field(&e),
                        message: e.to_string(),
                    })
                })
                .collect()
        }
        ImportFormat::Csv => read_csv(origin, content, |r: CsvGrant| field_result(r.into_raw()))?,
        ImportFormat::Gam => read_csv(origin, content, |r: GamToken| field_result(r.into_raw()))?,
    };

    let parsed = rows.into_iter().enumerate().map(|(index, row)| {
        row.and_then(|raw| {
            raw.parse().map_err(|e| RowError {
                row: index + 1,
                line: None,
                field: e.field.to_owned(),
                message: e.message,
            })
        })
    });
    all_or_nothing(
        origin,
        parsed,
        |g: &InventoryGrant| g.grant.key.clone(),
        |g, first| {
            (
                "client_id",
                format!(
                    "duplicate grant {} (first seen in row {first})",
                    g.grant.key
                ),
            )
        },
    )
}

fn field_result(result: Result<RawGrant, FieldError>) -> Result<RawGrant, (&'static str, String)> {
    result.map_err(|e| (e.field, e.message))
}

fn json_error_field(e: &serde_json::Error) -> String {
    let message = e.to_string();
    message
        .split('`')
        .nth(1)
        .map(str::to_owned)
        .unwrap_or_else(|| "(object)".to_owned())
}

/// One row of `gam print tokens`.
#[derive(Debug, Deserialize)]
struct GamToken {
    user: String,
    #[serde(rename = "clientId")]
    client_id: String,
    #[serde(rename = "displayText", default)]
    display_text: String,
    #[serde(default, deserialize_with = "gam_bool")]
    anonymous: Option<bool>,
    #[serde(default)]
    scopes: String,
}

impl GamToken {
    fn into_raw(self) -> Result<RawGrant, FieldError> {
        Ok(RawGrant {
            provider: "google".to_owned(),
            client_id: self.client_id,
            app_name: self.display_text,
            principal: self.user,
            scopes: vec![self.scopes],
            consent_type: "user".to_owned(),
            publisher: None,
            // Google calls an app "anonymous" when it is not registered with Google.
            verified: self.anonymous.and_then(|a| a.then_some(false)),
            last_seen: None,
        })
    }
}

/// One row of the generic CSV format: the inventory contract's columns, all text.
#[derive(Debug, Deserialize)]
struct CsvGrant {
    provider: String,
    client_id: String,
    #[serde(default)]
    app_name: String,
    #[serde(default)]
    principal: String,
    #[serde(default)]
    scopes: String,
    #[serde(default)]
    consent_type: String,
    #[serde(default)]
    publisher: String,
    #[serde(default)]
    verified: String,
    #[serde(default)]
    last_seen: String,
}

impl CsvGrant {
    fn into_raw(self) -> Result<RawGrant, FieldError> {
        let verified = match self.verified.trim().to_ascii_lowercase().as_str() {
            "" => None,
            "true" | "yes" | "1" => Some(true),
            "false" | "no" | "0" => Some(false),
            other => {
                return Err(FieldError {
                    field: "verified",
                    message: format!("expected true, false or empty, found {other:?}"),
                });
            }
        };
        let last_seen = match self.last_seen.trim() {
            "" => None,
            text => Some(
                chrono::DateTime::parse_from_rfc3339(text)
                    .map_err(|e| FieldError {
                        field: "last_seen",
                        message: format!("{text:?} is not an RFC 3339 time: {e}"),
                    })?
                    .to_utc(),
            ),
        };
        Ok(RawGrant {
            provider: self.provider,
            client_id: self.client_id,
            app_name: self.app_name,
            principal: self.principal,
            scopes: vec![self.scopes],
            consent_type: self.consent_type,
            publisher: Some(self.publisher),
            verified,
            last_seen,
        })
    }
}

fn gam_bool<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<bool>, D::Error> {
    let s = String::deserialize(de)?;
    match s.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "true" => Ok(Some(true)),
        "false" => Ok(Some(false)),
        other => Err(serde::de::Error::custom(format!(
            "expected True or False, found {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::grant::Provider;

    const GAM: &str = "user,clientId,displayText,anonymous,nativeApp,userKey,scopes\n\
alice@example.com,1111.apps.googleusercontent.com,Notetaker,False,False,1001,https://www.googleapis.com/auth/drive.readonly openid\n\
bob@example.com,2222.apps.googleusercontent.com,Unknown app,True,False,1002,https://mail.google.com/\n";

    #[test]
    fn gam_tokens_become_google_user_grants() {
        let grants = parse_inventory("gam.csv", GAM, ImportFormat::Gam).unwrap();
        assert_eq!(grants.len(), 2);
        let alice = &grants[0].grant;
        assert_eq!(alice.key.provider, Provider::Google);
        assert_eq!(alice.state.app_name, "Notetaker");
        assert_eq!(alice.state.scopes.len(), 2);
        assert_eq!(alice.state.verified, None);
        assert_eq!(grants[1].grant.state.verified, Some(false));
    }

    #[test]
    fn gam_format_is_detected_from_its_header() {
        assert_eq!(
            ImportFormat::detect(Path::new("x.csv"), GAM),
            ImportFormat::Gam
        );
        assert_eq!(
            ImportFormat::detect(Path::new("x.csv"), "provider,client_id\n"),
            ImportFormat::Csv
        );
    }

    #[test]
    fn a_malformed_csv_row_is_named_and_nothing_is_returned() {
        let csv = "provider,client_id,app_name,principal,scopes,consent_type\n\
google,abc,App,a@example.com,openid,user\n\
googel,def,App,b@example.com,openid,user\n";
        let err = parse_inventory("inv.csv", csv, ImportFormat::Csv).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("row 2"), "{text}");
        assert!(text.contains("`provider`"), "{text}");
        assert!(text.contains("nothing imported"), "{text}");
    }

    #[test]
    fn a_bad_gam_boolean_names_its_column() {
        let csv = "user,clientId,displayText,anonymous,nativeApp,userKey,scopes\n\
a@example.com,1,App,maybe,False,1,openid\n";
        let err = parse_inventory("gam.csv", csv, ImportFormat::Gam).unwrap_err();
        assert!(err.to_string().contains("maybe"), "{err}");
    }

    #[test]
    fn json_accepts_scope_lists_and_strings() {
        let json = r#"[
          {"provider":"slack","client_id":"A1","app_name":"Bot","principal":"*","scopes":["chat:write"],"consent_type":"admin"},
          {"provider":"github","client_id":"Iv1.2","app_name":"CI","principal":"dev@example.com","scopes":"repo workflow","consent_type":"user","verified":true}
        ]"#;
        let grants = parse_inventory("inv.json", json, ImportFormat::Json).unwrap();
        assert!(grants[0].grant.key.is_org_wide());
        assert_eq!(grants[1].grant.state.scopes.len(), 2);
    }

    #[test]
    fn json_missing_field_names_it() {
        let json = r#"[{"provider":"slack","app_name":"Bot"}]"#;
        let err = parse_inventory("inv.json", json, ImportFormat::Json).unwrap_err();
        assert!(err.to_string().contains("`client_id`"), "{err}");
    }

    #[test]
    fn json_null_or_missing_scopes_are_refused_and_an_empty_list_is_no_scopes() {
        for (row, expected) in [
            (r#""scopes":null"#, "is null"),
            (r#""scopes":["openid",null]"#, "null element"),
            (r#""other":1"#, "missing field `scopes`"),
        ] {
            let json = format!(
                r#"[{{"provider":"slack","client_id":"A1","principal":"*","scopes":["chat:write"]}},
                   {{"provider":"slack","client_id":"A2","principal":"*",{row}}}]"#
            );
            let err = parse_inventory("inv.json", &json, ImportFormat::Json)
                .map(|g| g.len())
                .unwrap_err()
                .to_string();
            assert!(err.contains("row 2"), "{err}");
            assert!(err.contains("`scopes`"), "{err}");
            assert!(err.contains(expected), "{err}");
            assert!(err.contains("nothing imported"), "{err}");
        }
        let json = r#"[{"provider":"slack","client_id":"A1","principal":"*","scopes":[]}]"#;
        let grants = parse_inventory("inv.json", json, ImportFormat::Json).unwrap();
        assert!(grants[0].grant.state.scopes.is_empty());
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let csv = "provider,client_id,principal,scopes\n\
github,abc,a@example.com,repo\n\
github,abc,A@example.com,read:org\n";
        let err = parse_inventory("inv.csv", csv, ImportFormat::Csv).unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{err}");
    }
}
