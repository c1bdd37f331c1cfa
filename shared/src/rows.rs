//! Row-by-row file imports: the errors that name the row and field, shared by every importer
//! (grant inventories, rotation consumers). An import with any bad row writes nothing.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;

use serde::Deserialize;

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

/// Read a CSV (header first) into one result per data row, in order: each row is deserialised
/// as `T`, then `convert` validates it, naming the bad field.
pub fn read_csv<T, U>(
    origin: &str,
    content: &str,
    convert: impl Fn(T) -> Result<U, (&'static str, String)>,
) -> Result<Vec<Result<U, RowError>>, ImportError>
where
    T: for<'de> Deserialize<'de>,
{
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::Headers)
        .from_reader(content.as_bytes());
    reader.headers().map_err(|e| ImportError::Malformed {
        path: origin.to_owned(),
        format: "CSV",
        message: e.to_string(),
    })?;
    Ok(reader
        .deserialize::<T>()
        .enumerate()
        .map(|(i, record)| match record {
            Ok(t) => convert(t).map_err(|(field, message)| RowError {
                row: i + 1,
                line: None,
                field: field.to_owned(),
                message,
            }),
            Err(e) => {
                let (field, message) = csv_error_field(&e);
                Err(RowError {
                    row: i + 1,
                    line: e.position().map(|p| p.line()),
                    field,
                    message,
                })
            }
        })
        .collect())
}

/// All or nothing: the valid rows (row `n` is the n-th item) if every row is valid and no key
/// repeats, else every error found (up to [`MAX_REPORTED_ERRORS`]). `duplicate` words the
/// error for a row whose key an earlier row already had.
pub fn all_or_nothing<U, K: Hash + Eq>(
    origin: &str,
    rows: impl IntoIterator<Item = Result<U, RowError>>,
    key: impl Fn(&U) -> K,
    duplicate: impl Fn(&U, usize) -> (&'static str, String),
) -> Result<Vec<U>, ImportError> {
    let mut valid = Vec::new();
    let mut errors = Vec::new();
    let mut first_row_of: HashMap<K, usize> = HashMap::new();
    for (index, result) in rows.into_iter().enumerate() {
        let row = index + 1;
        match result {
            Ok(item) => {
                if let Some(first) = first_row_of.insert(key(&item), row) {
                    let (field, message) = duplicate(&item, first);
                    errors.push(RowError {
                        row,
                        line: None,
                        field: field.to_owned(),
                        message,
                    });
                } else {
                    valid.push(item);
                }
            }
            Err(e) => errors.push(e),
        }
        if errors.len() >= MAX_REPORTED_ERRORS {
            break;
        }
    }
    if errors.is_empty() {
        Ok(valid)
    } else {
        Err(ImportError::Rows {
            path: origin.to_owned(),
            errors,
        })
    }
}
