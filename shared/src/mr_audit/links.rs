//! Linear issue identifiers (`SEC-123`) named in an MR's title, description or branch, for the
//! configured team keys only, so `UTF-8` or `SHA-256` in a description are not taken for issues.

/// Identifiers found, upper-cased, in first-seen order, each once.
pub fn linked_issues(team_keys: &[String], texts: &[&str]) -> Vec<String> {
    let keys: Vec<String> = team_keys.iter().map(|k| k.to_ascii_uppercase()).collect();
    let mut found: Vec<String> = Vec::new();
    for text in texts {
        let upper = text.to_ascii_uppercase();
        let bytes = upper.as_bytes();
        for key in &keys {
            let mut from = 0;
            while let Some(at) = upper[from..].find(key.as_str()).map(|i| i + from) {
                from = at + key.len();
                let starts_word = at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
                if !starts_word || bytes.get(from) != Some(&b'-') {
                    continue;
                }
                let digits: String = upper[from + 1..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                let end = from + 1 + digits.len();
                let ends_word = bytes.get(end).is_none_or(|c| !c.is_ascii_alphanumeric());
                if digits.is_empty() || digits.len() > 9 || digits.starts_with('0') || !ends_word {
                    continue;
                }
                let id = format!("{key}-{digits}");
                if !found.contains(&id) {
                    found.push(id);
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<String> {
        vec!["SEC".into(), "APPSEC".into()]
    }

    #[test]
    fn identifiers_in_titles_descriptions_and_branches_are_found_once() {
        let found = linked_issues(
            &keys(),
            &[
                "Rotate signing key (SEC-123)",
                "Fixes SEC-123 and appsec-7.\nSee also SEC-9.",
                "feature/sec-456-harden-tls",
            ],
        );
        assert_eq!(found, ["SEC-123", "SEC-9", "APPSEC-7", "SEC-456"]);
    }

    #[test]
    fn lookalikes_are_not_issues() {
        let found = linked_issues(
            &keys(),
            &[
                "UTF-8 and SHA-256",
                "INSEC-12",
                "SEC-12a",
                "SEC-",
                "SEC-0",
                "SEC-12345678901",
            ],
        );
        assert!(found.is_empty(), "{found:?}");
    }
}
