//! Verification of the requests Slack signs (interactivity, slash commands, events), as
//! slack_sdk's `SignatureVerifier` does it: `X-Slack-Signature` must equal
//! `v0=hex(HMAC_SHA256(signing_secret, "v0:{X-Slack-Request-Timestamp}:{raw body}"))`, compared
//! in constant time, and the timestamp must be within five minutes of now (replay window).
//! Several secrets may be given so a rotation can overlap: the request passes if any matches.

use crate::signing::{HmacSha256, hmac_sha256};
use hmac::Mac;
use secrecy::{ExposeSecret, SecretString};

/// How far (either way) the request timestamp may be from now, in seconds.
pub const MAX_AGE_SECS: i64 = 300;

/// Why a request was refused. None of these quote a secret or the expected signature.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Slack-Request-Timestamp or X-Slack-Signature header is missing")]
    MissingHeaders,
    #[error("X-Slack-Request-Timestamp is not a unix time in seconds")]
    BadTimestamp,
    #[error(
        "the request was signed {age_secs} s from now (the window is ±{MAX_AGE_SECS} s): a replay or a wrong clock"
    )]
    Stale { age_secs: i64 },
    #[error("the signature does not match any configured signing secret")]
    Mismatch,
    #[error("no Slack signing secret is configured, so no request can be verified")]
    NoSecretConfigured,
}

/// Verify a request against each of `secrets` (the current one, then a previous one during a
/// rotation). `raw_body` must be the exact bytes Slack sent, before any form decoding.
///
/// `now_unix` is the current unix time in seconds; `age_secs` in [`SignatureError::Stale`] is
/// `now_unix - timestamp` (negative when the timestamp is in the future). Empty secrets are
/// ignored: an empty HMAC key is a key anyone can sign with.
pub fn verify(
    secrets: &[&SecretString],
    timestamp: Option<&str>,
    signature: Option<&str>,
    raw_body: &[u8],
    now_unix: i64,
) -> Result<(), SignatureError> {
    let keys: Vec<&[u8]> = secrets
        .iter()
        .map(|s| s.expose_secret().as_bytes())
        .filter(|k| !k.is_empty())
        .collect();
    if keys.is_empty() {
        return Err(SignatureError::NoSecretConfigured);
    }
    let (Some(timestamp), Some(signature)) = (
        timestamp.filter(|t| !t.is_empty()),
        signature.filter(|s| !s.is_empty()),
    ) else {
        return Err(SignatureError::MissingHeaders);
    };
    let sent_at: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    let age_secs = now_unix.saturating_sub(sent_at);
    if age_secs.unsigned_abs() > MAX_AGE_SECS.unsigned_abs() {
        return Err(SignatureError::Stale { age_secs });
    }
    // Exactly as Slack's reference verifiers compare: `v0=` and 64 lower-case hex digits. An
    // upper-case digest is not what Slack sends, so it is not accepted as the same signature.
    let claimed = signature
        .strip_prefix("v0=")
        .filter(|hex_digest| is_lower_hex_digest(hex_digest))
        .and_then(|hex_digest| hex::decode(hex_digest).ok())
        .ok_or(SignatureError::Mismatch)?;
    // Every key is tried, matched or not, so timing does not tell which secret is current.
    let mut matched = false;
    for key in keys {
        matched |= mac(key, timestamp, raw_body).verify_slice(&claimed).is_ok();
    }
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// A SHA-256 digest in lower-case hex, as Slack writes it.
fn is_lower_hex_digest(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The `X-Slack-Signature` value Slack would send for this body (tests and tooling).
pub fn sign(secret: &str, timestamp: i64, raw_body: &[u8]) -> String {
    let digest = mac(secret.as_bytes(), &timestamp.to_string(), raw_body)
        .finalize()
        .into_bytes();
    format!("v0={}", hex::encode(digest))
}

fn mac(key: &[u8], timestamp: &str, raw_body: &[u8]) -> HmacSha256 {
    hmac_sha256(key, &[b"v0:", timestamp.as_bytes(), b":", raw_body])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upper_case_hex_signature_is_refused() {
        let s = secret(SECRET);
        let good = sign(SECRET, NOW, BODY);
        assert_eq!(check(&[&s], NOW, &good, BODY), Ok(()));
        let upper = format!("v0={}", good["v0=".len()..].to_ascii_uppercase());
        assert_eq!(
            check(&[&s], NOW, &upper, BODY),
            Err(SignatureError::Mismatch)
        );
        let mixed = format!("v0=A{}", &good["v0=a".len().min(good.len())..]);
        if mixed != good {
            assert_eq!(
                check(&[&s], NOW, &mixed, BODY),
                Err(SignatureError::Mismatch)
            );
        }
    }

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const NOW: i64 = 1_700_000_000;
    const BODY: &[u8] = b"payload=%7B%22type%22%3A%22block_actions%22%7D";

    fn secret(s: &str) -> SecretString {
        SecretString::from(s)
    }

    fn check(
        secrets: &[&SecretString],
        timestamp: i64,
        signature: &str,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        verify(
            secrets,
            Some(&timestamp.to_string()),
            Some(signature),
            body,
            NOW,
        )
    }

    #[test]
    fn the_example_from_slacks_documentation_signs_to_the_documented_value() {
        // https://api.slack.com/authentication/verifying-requests-from-slack
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(sign(SECRET, 1_531_420_618, body.as_bytes()), expected);
        let s = secret(SECRET);
        assert_eq!(
            verify(
                &[&s],
                Some("1531420618"),
                Some(expected),
                body.as_bytes(),
                1_531_420_618 + 10
            ),
            Ok(())
        );
    }

    #[test]
    fn a_request_signed_with_the_signing_secret_is_accepted() {
        let s = secret(SECRET);
        assert_eq!(check(&[&s], NOW, &sign(SECRET, NOW, BODY), BODY), Ok(()));
    }

    #[test]
    fn a_request_signed_with_another_secret_is_refused() {
        let s = secret(SECRET);
        let forged = sign("someone-elses-secret", NOW, BODY);
        assert_eq!(
            check(&[&s], NOW, &forged, BODY),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_request_signed_301_seconds_ago_is_refused_as_stale() {
        let s = secret(SECRET);
        let then = NOW - 301;
        assert_eq!(
            check(&[&s], then, &sign(SECRET, then, BODY), BODY),
            Err(SignatureError::Stale { age_secs: 301 })
        );
    }

    #[test]
    fn a_request_signed_301_seconds_in_the_future_is_refused_as_stale() {
        let s = secret(SECRET);
        let later = NOW + 301;
        assert_eq!(
            check(&[&s], later, &sign(SECRET, later, BODY), BODY),
            Err(SignatureError::Stale { age_secs: -301 })
        );
    }

    #[test]
    fn requests_exactly_300_seconds_either_way_are_still_accepted() {
        let s = secret(SECRET);
        for ts in [NOW - 300, NOW + 300] {
            assert_eq!(check(&[&s], ts, &sign(SECRET, ts, BODY), BODY), Ok(()));
        }
    }

    #[test]
    fn a_body_changed_after_signing_is_refused() {
        let s = secret(SECRET);
        let signature = sign(SECRET, NOW, BODY);
        let tampered = b"payload=%7B%22type%22%3A%22block_actionz%22%7D";
        assert_eq!(
            check(&[&s], NOW, &signature, tampered),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_timestamp_changed_after_signing_is_refused() {
        let s = secret(SECRET);
        let signature = sign(SECRET, NOW, BODY);
        assert_eq!(
            check(&[&s], NOW - 1, &signature, BODY),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn missing_or_empty_headers_are_refused() {
        let s = secret(SECRET);
        let signature = sign(SECRET, NOW, BODY);
        let ts = NOW.to_string();
        let cases = [
            (None, Some(signature.as_str())),
            (Some(ts.as_str()), None),
            (None, None),
            (Some(""), Some(signature.as_str())),
            (Some(ts.as_str()), Some("")),
        ];
        for (timestamp, sig) in cases {
            assert_eq!(
                verify(&[&s], timestamp, sig, BODY, NOW),
                Err(SignatureError::MissingHeaders),
                "{timestamp:?} {sig:?}"
            );
        }
    }

    #[test]
    fn a_non_numeric_timestamp_is_refused() {
        let s = secret(SECRET);
        for ts in ["yesterday", "1700000000.5", " 1700000000", "0x6553f100"] {
            assert_eq!(
                verify(&[&s], Some(ts), Some("v0=00"), BODY, NOW),
                Err(SignatureError::BadTimestamp),
                "{ts}"
            );
        }
    }

    #[test]
    fn signatures_without_the_v0_prefix_or_not_in_hex_are_refused() {
        let s = secret(SECRET);
        let good = sign(SECRET, NOW, BODY);
        let bare = good.trim_start_matches("v0=").to_owned();
        let v1 = good.replacen("v0=", "v1=", 1);
        for signature in [bare.as_str(), v1.as_str(), "v0=not-hex", "v0=abcd"] {
            assert_eq!(
                check(&[&s], NOW, signature, BODY),
                Err(SignatureError::Mismatch),
                "{signature}"
            );
        }
    }

    #[test]
    fn during_a_rotation_the_previous_secret_is_still_accepted() {
        let current = secret("new-signing-secret");
        let previous = secret("old-signing-secret");
        let secrets = [&current, &previous];
        let by_old = sign("old-signing-secret", NOW, BODY);
        let by_new = sign("new-signing-secret", NOW, BODY);
        assert_eq!(check(&secrets, NOW, &by_old, BODY), Ok(()));
        assert_eq!(check(&secrets, NOW, &by_new, BODY), Ok(()));
        assert_eq!(
            check(&[&current], NOW, &by_old, BODY),
            Err(SignatureError::Mismatch),
            "once the rotation ends the old secret is refused"
        );
    }

    #[test]
    fn with_no_secret_configured_every_request_is_refused() {
        let signature = sign("", NOW, BODY);
        assert_eq!(
            check(&[], NOW, &signature, BODY),
            Err(SignatureError::NoSecretConfigured)
        );
        let empty = secret("");
        assert_eq!(
            check(&[&empty], NOW, &signature, BODY),
            Err(SignatureError::NoSecretConfigured),
            "an empty secret would let anyone sign"
        );
    }

    #[test]
    fn errors_never_show_the_secret_or_the_expected_signature() {
        let s = secret(SECRET);
        let expected = sign(SECRET, NOW, BODY);
        let err = check(&[&s], NOW, &sign("x", NOW, BODY), BODY).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!shown.contains(&expected[3..]), "{shown}");
    }
}
