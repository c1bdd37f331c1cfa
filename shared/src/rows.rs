//! Row-by-row file imports: the errors that name the row and field, shared by every importer
//! (grant inventories, rotation consumers). An import with any bad row writes nothing.

use std::fmt;

/// One rejected row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based data row (the header is not counted); for CSV also the file line.
    pub row: usize,
    pub line: Option<u64>,
    pub field: String,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "row {} (line {line}), ", self.row)?,
            None => write!(f, "row {}, ", self.row)?,
        }
        write!(f, "field `{}`: {}", self.field, self.message)
    }
}

/// Why an import was refused. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid {format} file: {message}")]
    Malformed {
        path: String,
        format: &'static str,
        message: String,
    },
    #[error("{path}: {} malformed row(s), nothing imported:\n  {}", .errors.len(), join_errors(.errors))]
    Rows { path: String, errors: Vec<RowError> },
}

fn join_errors(errors: &[RowError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// At most this many row errors are reported; the first few are what a person fixes first.
pub const MAX_REPORTED_ERRORS: usize = 20;

/// The field a CSV deserialisation error is about, and its message.
pub fn csv_error_field(e: &csv::Error) -> (String, String) {
    match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => {
            let field = err
                .field()
                .map_or_else(|| "(row)".to_owned(), |i| format!("column {}", i + 1));
            let message = err.to_string();
            // serde names missing fields in the message; surface that name as the field.
            let named = message
                .split('`')
                .nth(1)
                .filter(|_| message.starts_with("missing field"))
                .map(str::to_owned);
            (named.unwrap_or(field), message)
        }
        _ => ("(row)".to_owned(), e.to_string()),
    }
}
