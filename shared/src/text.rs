//! Bounding text for logs, errors and Lambda's error reports: one line, a known maximum
//! length, cut on a character boundary with a visible ellipsis. Anything quoted from a request
//! goes through here, so an attacker cannot flood a log line or forge a second one.

/// `text` on one line (control characters, newlines included, become spaces) and at most
/// `max_chars` characters, the last being `…` when it was cut.
pub fn one_line(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 4));
    for (count, c) in text.chars().enumerate() {
        if count + 1 > max_chars {
            // Make room for the ellipsis within the bound.
            out.pop();
            out.push('…');
            return out;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

/// How much of an untrusted value an error or log line quotes.
pub const EXCERPT_CHARS: usize = 80;

/// A short, one-line excerpt of untrusted text for an error message or a log field.
pub fn excerpt(text: &str) -> String {
    one_line(text, EXCERPT_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_and_control_characters_become_spaces() {
        assert_eq!(one_line("a\nb\tc", 10), "a b c");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis_within_the_bound() {
        let cut = one_line(&"é".repeat(500), 10);
        assert_eq!(cut.chars().count(), 10);
        assert!(cut.ends_with('…'));
        assert_eq!(one_line("abcdefghij", 10), "abcdefghij");
        assert_eq!(one_line("abcdefghijk", 10), "abcdefghi…");
    }

    #[test]
    fn excerpts_are_bounded() {
        assert_eq!(excerpt(&"x".repeat(5000)).chars().count(), EXCERPT_CHARS);
    }
}
