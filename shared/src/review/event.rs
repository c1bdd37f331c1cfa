//! A privileged grant as the review workflow sees it, whatever audit source it came from, and
//! the mapping that turns an Axiom row into one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One privileged-role grant (admin, owner, break-glass), normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivilegedGrant {
    /// Unique per event in the audit source; the review's dedupe key.
    pub event_id: String,
    pub time: DateTime<Utc>,
    /// Who granted (may equal the grantee: a self-grant).
    pub grantor: String,
    /// Who received the role.
    pub grantee: String,
    pub role: String,
    /// The system or resource the role applies to.
    pub target: String,
    /// Where the event came from (okta, cloudtrail, ...).
    pub source: String,
}

/// Which row fields hold each normalised field. A name is looked up as a column first (Axiom
/// flattens nested objects into dotted column names); failing that, its first segment names a
/// column and the rest is a path inside that column's JSON (`target.0.alternateId`). A name
/// starting with `=` is a fixed value (`=okta`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldMapping {
    pub event_id: String,
    pub time: String,
    pub grantor: String,
    pub grantee: String,
    pub role: String,
    pub target: String,
    pub source: String,
}

/// Why a row could not be mapped: a configuration problem, reported with what the row has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "review field mapping: `{field}` is mapped to {mapped:?}, which the event does not have or is not {expected}; the event's fields are: {available}. Fix REVIEW_FIELD_{} or the preset",
    field.to_ascii_uppercase()
)]
pub struct MappingError {
    pub field: &'static str,
    pub mapped: String,
    pub expected: &'static str,
    pub available: String,
}

impl FieldMapping {
    /// Map one row. `event_id` and `time` are required; other fields default to "unknown".
    pub fn apply(&self, row: &Map<String, Value>) -> Result<PrivilegedGrant, MappingError> {
        let error = |field: &'static str, mapped: &str, expected: &'static str| MappingError {
            field,
            mapped: mapped.to_owned(),
            expected,
            available: {
                let mut keys: Vec<&str> = row.keys().map(String::as_str).collect();
                keys.sort_unstable();
                keys.join(", ")
            },
        };
        let event_id = lookup_text(row, &self.event_id)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| error("event_id", &self.event_id, "a non-empty text"))?;
        let time = lookup_text(row, &self.time)
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.to_utc())
            .ok_or_else(|| error("time", &self.time, "an RFC 3339 time"))?;
        let text = |mapped: &str| match mapped.strip_prefix('=') {
            Some(fixed) => fixed.to_owned(),
            None => lookup_text(row, mapped)
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "unknown".to_owned()),
        };
        Ok(PrivilegedGrant {
            event_id,
            time,
            grantor: text(&self.grantor),
            grantee: text(&self.grantee),
            role: text(&self.role),
            target: text(&self.target),
            source: text(&self.source),
        })
    }
}

/// The text at `path` in a row (see [`FieldMapping`]); numbers and booleans are rendered.
fn lookup_text(row: &Map<String, Value>, path: &str) -> Option<String> {
    let value = row.get(path).or_else(|| {
        let mut segments = path.split('.');
        let mut current = row.get(segments.next()?)?;
        for segment in segments {
            current = match current {
                Value::Object(map) => map.get(segment)?,
                Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(current)
    })?;
    match value {
        // Postgres text cannot hold NUL: one in an event field would fail every run's insert.
        Value::String(s) => Some(s.trim().replace('\0', "\u{FFFD}")),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping() -> FieldMapping {
        FieldMapping {
            event_id: "uuid".into(),
            time: "_time".into(),
            grantor: "actor.alternateId".into(),
            grantee: "target.0.alternateId".into(),
            role: "target.1.displayName".into(),
            target: "client.zone".into(),
            source: "=okta".into(),
        }
    }

    fn row(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn dotted_columns_and_json_paths_are_both_followed() {
        let r = row(json!({
            "uuid": "e-1",
            "_time": "2026-11-20T03:12:00Z",
            "actor.alternateId": "alice@example.com",
            "target": [{"alternateId": "bob@example.com"}, {"displayName": "Super Admins"}],
        }));
        let g = mapping().apply(&r).unwrap();
        assert_eq!(g.grantor, "alice@example.com");
        assert_eq!(g.grantee, "bob@example.com");
        assert_eq!(g.role, "Super Admins");
        assert_eq!(g.target, "unknown");
        assert_eq!(g.source, "okta");
    }

    #[test]
    fn a_missing_event_id_is_a_configuration_error_naming_the_fields() {
        let r = row(json!({"id": "e-1", "_time": "2026-11-20T03:12:00Z"}));
        let err = mapping().apply(&r).unwrap_err();
        assert_eq!(err.field, "event_id");
        let text = err.to_string();
        assert!(text.contains("\"uuid\""), "{text}");
        assert!(text.contains("_time, id"), "{text}");
        assert!(text.contains("REVIEW_FIELD_EVENT_ID"), "{text}");
    }

    #[test]
    fn an_unparseable_time_is_a_configuration_error() {
        let r = row(json!({"uuid": "e-1", "_time": "yesterday"}));
        assert_eq!(mapping().apply(&r).unwrap_err().field, "time");
    }
}
