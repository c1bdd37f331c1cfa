//! Linear issue identifiers (`SEC-123`) named in an MR's title, description or branch, for the
//! configured team keys only, so `UTF-8` or `SHA-256` in a description are not taken for issues.
//! Named is not resolved: [`closing_ids`] finds the ones a description says it closes, with
//! Linear's closing magic words (docs/decisions/028-what-resolves-a-linear-issue.md).
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

/// Linear's closing magic words (linear.app/docs, GitHub and GitLab integrations): `close`,
/// `fix`, `resolve`, `complete` and `implement` in each form. Linking-only words (`ref`,
/// `part of`, `related to`) and plain mentions do not close.
const CLOSING_WORDS: [&str; 20] = [
    "close",
    "closes",
    "closed",
    "closing",
    "fix",
    "fixes",
    "fixed",
    "fixing",
    "resolve",
    "resolves",
    "resolved",
    "resolving",
    "complete",
    "completes",
    "completed",
    "completing",
    "implement",
    "implements",
    "implemented",
    "implementing",
];

/// Identifiers (upper-cased) that `description` closes with a magic word: the word, then on the
/// same line one identifier or a list (`Fixes SEC-1, SEC-2 and SEC-3`; also Linear issue URLs,
/// `https://linear.app/…/issue/SEC-1/slug`). Anything else after the word ends the list; a
/// negated word ("does not fix SEC-4") lists nothing. Only text the approver sees counts: HTML
/// comments, fenced code and quoted lines are skipped. Linear in the text.
pub fn closing_ids(team_keys: &[String], description: &str) -> HashSet<String> {
    let keys: Vec<String> = team_keys
        .iter()
        .map(|k| k.trim().to_ascii_uppercase())
        .filter(|k| !k.is_empty())
        .collect();
    let identifier = |token: &str| -> Option<String> {
        let token = match token.split_once("/issue/") {
            Some((host, rest)) if host.to_ascii_lowercase().contains("linear.app/") => {
                rest.split('/').next().unwrap_or_default()
            }
            Some(_) => return None,
            None => token,
        };
        let upper = token.to_ascii_uppercase();
        let (key, number) = upper.split_once('-')?;
        let valid = keys.iter().any(|k| k == key)
            && (1..=9).contains(&number.len())
            && number.bytes().all(|b| b.is_ascii_digit())
            && !number.starts_with('0');
        valid.then_some(upper)
    };
    let mut found = HashSet::new();
    for line in visible_lines(description) {
        let mut listing = false;
        let mut negated = false;
        for raw in line.split_whitespace() {
            let token =
                raw.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '/');
            let word = token.to_ascii_lowercase();
            if CLOSING_WORDS.contains(&word.as_str()) {
                listing = !negated;
            } else if NEGATIONS.contains(&word.as_str()) {
                negated = true;
                listing = false;
                continue;
            } else if listing && let Some(id) = identifier(token) {
                found.insert(id);
            } else if !(listing && (word == "and" || token.is_empty())) {
                listing = false;
            }
            negated = false;
        }
    }
    found
}

/// Words that turn the closing word after them around.
const NEGATIONS: &[&str] = &[
    "not", "never", "no", "don't", "doesn't", "dont", "doesnt", "won't",
];

/// The description's lines a reader of the rendered MR sees: without HTML comments (which may
/// span lines), fenced code blocks and quoted (`>`) lines.
fn visible_lines(description: &str) -> Vec<String> {
    let mut text = String::with_capacity(description.len());
    let mut rest = description;
    while let Some(start) = rest.find("<!--") {
        text.push_str(&rest[..start]);
        rest = match rest[start..].find("-->") {
            Some(end) => &rest[start + end + 3..],
            None => "",
        };
    }
    text.push_str(rest);
    let mut fence: Option<&str> = None;
    let mut lines = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(open), Some(m)) if open == m => fence = None,
            (None, None) if !trimmed.starts_with('>') => lines.push(line.to_owned()),
            _ => {}
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<String> {
        vec!["SEC".into(), "APPSEC".into()]
    }

    #[test]
    fn only_closing_words_a_reader_sees_and_does_not_negate_count() {
        let closed = |text: &str| {
            let mut ids: Vec<String> = closing_ids(&keys(), text).into_iter().collect();
            ids.sort();
            ids
        };
        assert!(closed("Rotate key <!-- fixes SEC-7 SEC-9 -->").is_empty());
        assert!(closed("<!--\nCloses SEC-7\n-->").is_empty());
        assert!(closed("```\nfixes SEC-7\n```").is_empty());
        assert!(closed("> Resolves SEC-7").is_empty());
        assert!(closed("This does not fix SEC-4.").is_empty());
        assert!(closed("Fixes https://evil.example/issue/SEC-9").is_empty());
        assert_eq!(
            closed(
                "<!-- template -->\nFixes SEC-1\n```\ncode\n```\nCloses https://linear.app/acme/issue/SEC-2/x"
            ),
            ["SEC-1", "SEC-2"]
        );
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
    fn only_identifiers_after_a_closing_word_are_closed() {
        let closed = closing_ids(
            &keys(),
            "see also SEC-1 and SEC-3\n**Fixes** SEC-5, sec-6 and SEC-7. Related to SEC-8\n\
             Closes: https://linear.app/acme/issue/SEC-9/rotate-keys\nresolves\nSEC-10\n\
             fixes the bug in SEC-11; Completed APPSEC-12 SEC-13\nprefixes SEC-14",
        );
        let mut ids: Vec<&str> = closed.iter().map(String::as_str).collect();
        ids.sort_unstable();
        assert_eq!(
            ids,
            ["APPSEC-12", "SEC-13", "SEC-5", "SEC-6", "SEC-7", "SEC-9"]
        );
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
