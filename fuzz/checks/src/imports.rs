//! The grant importer (GAM, CSV, JSON inventories) and the rotation importers (campaigns and
//! consumers CSV). Properties: never panic; a file is imported whole or refused, and a refusal
//! names at least one row or the file's shape (never an empty error).

use secops_shared::drift::import::{ImportFormat, parse_inventory};
use secops_shared::rotation::consumer::{parse_campaigns, parse_consumers};

pub fn grants(data: &[u8]) {
    let content = crate::text(data);
    for format in [ImportFormat::Gam, ImportFormat::Csv, ImportFormat::Json] {
        match parse_inventory("fuzz", &content, format) {
            Ok(grants) => {
                let keys: std::collections::HashSet<_> =
                    grants.iter().map(|g| &g.grant.key).collect();
                assert_eq!(keys.len(), grants.len(), "an import holds each grant once");
            }
            Err(error) => assert!(!error.to_string().trim().is_empty()),
        }
    }
}

pub fn consumers(data: &[u8]) {
    let content = crate::text(data);
    if let Err(error) = parse_consumers("fuzz", &content) {
        assert!(!error.to_string().trim().is_empty());
    }
    if let Err(error) = parse_campaigns("fuzz", &content) {
        assert!(!error.to_string().trim().is_empty());
    }
}
