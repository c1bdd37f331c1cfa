//! Slack: the Web API client that posts and updates review cards and reads user-group
//! membership ([`client`]), verification of the signed interactivity requests Slack sends when a
//! button is clicked ([`signature`]), and parsing of those requests once verified
//! ([`interaction`]). Requests are verified on their exact raw bytes before anything parses them.
//! Messages keep within Block Kit's size limits through [`blocks`].

pub mod blocks;
pub mod client;
pub mod interaction;
pub mod signature;
pub mod workspace;

/// Whether `value` looks like a Slack id of one of these kinds: channels `C`/`G`, users
/// `U`/`W`, user groups `S`; upper-case letters and digits, at least 7 characters (the shape
/// the template's parameter patterns check too).
pub fn is_id(value: &str, kinds: &[char]) -> bool {
    value.len() >= 7
        && value.starts_with(kinds)
        && value
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    #[test]
    fn slack_ids_have_a_kind_and_upper_case_letters_and_digits() {
        assert!(super::is_id("C0PAYMENTS", &['C', 'G']));
        assert!(!super::is_id("U0PAYMENTS", &['C', 'G']), "wrong kind");
        assert!(!super::is_id("C0pay123", &['C']), "lower case");
        assert!(!super::is_id("C012", &['C']), "too short");
        assert!(
            !super::is_id("#payments", &['C']),
            "a channel name, not an id"
        );
    }
}
