//! Linear issue identifiers (`SEC-123`) named in an MR's title, description or branch, for the
//! configured team keys only, so `UTF-8` or `SHA-256` in a description are not taken for issues.
//!
//! The scan is linear in the text (a description can be about 1 MiB) and what it yields is
//! bounded: the first [`MAX_LINKED`] distinct identifiers are audited, the rest only counted, so
//! one MR naming thousands of issues cannot hold the audit worker past its deadline.

use std::collections::HashSet;

/// Identifiers an audit considers per MR (one Linear lookup, close and comment each).
pub const MAX_LINKED: usize = 25;

/// What an MR links to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links {
    /// The first [`MAX_LINKED`] distinct identifiers, upper-cased, in the order found.
    pub ids: Vec<String>,
    /// Further distinct identifiers, named but not considered.
    pub ignored: usize,
}

/// Identifiers found, upper-cased, each once: per text, then per team key, in the order found.
pub fn linked_issues(team_keys: &[String], texts: &[&str]) -> Links {
    let keys: Vec<String> = team_keys
        .iter()
        .map(|k| k.trim().to_ascii_uppercase())
        .filter(|k| !k.is_empty())
        .collect();
    let mut seen: HashSet<String> = HashSet::new();
    let mut links = Links::default();
    for text in texts {
        let upper = text.to_ascii_uppercase();
        for key in &keys {
            for id in ids_for_key(&upper, key) {
                if seen.insert(id.clone()) {
                    if links.ids.len() < MAX_LINKED {
                        links.ids.push(id);
                    } else {
                        links.ignored += 1;
                    }
                }
            }
        }
    }
    links
}

/// `KEY-<digits>` occurrences in `upper` standing as words: one pass, each byte looked at a
/// bounded number of times.
fn ids_for_key<'a>(upper: &'a str, key: &'a str) -> impl Iterator<Item = String> + 'a {
    let bytes = upper.as_bytes();
    let mut from = 0;
    std::iter::from_fn(move || {
        while let Some(at) = upper[from..].find(key).map(|i| i + from) {
            from = at + key.len();
            let starts_word = at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
            if !starts_word || bytes.get(from) != Some(&b'-') {
                continue;
            }
            let digits_start = from + 1;
            // Ten digits at most are looked at: nine make the longest identifier.
            let digits = bytes[digits_start..]
                .iter()
                .take(10)
                .take_while(|b| b.is_ascii_digit())
                .count();
            let end = digits_start + digits;
            let ends_word = bytes.get(end).is_none_or(|c| !c.is_ascii_alphanumeric());
            if digits == 0 || digits > 9 || bytes[digits_start] == b'0' || !ends_word {
                continue;
            }
            from = end;
            return Some(format!("{key}-{}", &upper[digits_start..end]));
        }
        None
    })
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
        assert_eq!(found.ids, ["SEC-123", "SEC-9", "APPSEC-7", "SEC-456"]);
        assert_eq!(found.ignored, 0);
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
                "SEC-1234567890",
            ],
        );
        assert!(found.ids.is_empty(), "{found:?}");
    }

    #[test]
    fn repeats_in_any_case_and_any_text_count_once_even_past_the_bound() {
        let many: String = (1..=MAX_LINKED + 3).map(|i| format!("SEC-{i} ")).collect();
        let found = linked_issues(
            &keys(),
            &[&many, &many.to_lowercase(), "sec-1 Sec-2 SEC-999999999"],
        );
        assert_eq!(found.ids.len(), MAX_LINKED);
        assert_eq!(found.ids[0], "SEC-1");
        assert_eq!(found.ids[MAX_LINKED - 1], format!("SEC-{MAX_LINKED}"));
        // SEC-26..SEC-28 and SEC-999999999, each counted once however often repeated.
        assert_eq!(found.ignored, 4);
    }

    #[test]
    fn ninety_thousand_distinct_identifiers_are_bounded_and_counted() {
        // About 1 MiB, the largest description GitLab accepts: the old scan took 76 s here.
        let description: String = (1..=90_000).map(|i| format!("SEC-{i}\n")).collect();
        assert!(description.len() > 600_000);
        let found = linked_issues(&keys(), &["title", &description, "branch"]);
        assert_eq!(found.ids.len(), MAX_LINKED);
        assert_eq!(found.ignored, 90_000 - MAX_LINKED);
        let expected: Vec<String> = (1..=MAX_LINKED).map(|i| format!("SEC-{i}")).collect();
        assert_eq!(found.ids, expected);
    }

    #[test]
    fn long_digit_runs_and_repeated_keys_do_not_trip_the_scan() {
        let digits = format!("SEC-{}", "1".repeat(500_000));
        let keys_only = "SEC-".repeat(200_000);
        let found = linked_issues(&keys(), &[&digits, &keys_only, "SEC-7"]);
        assert_eq!(found.ids, ["SEC-7"]);
    }
}
