//! The Standard Webhooks signature (<https://www.standardwebhooks.com/>): one HMAC-SHA256 over
//! `"{webhook-id}.{webhook-timestamp}.{raw body}"`, sent as `webhook-signature: v1,<base64>`.
//!
//! Signing the id with the body is the point: a receiver that dedupes on the id cannot be fed a
//! captured delivery again under a new id, because the signature no longer matches. Receivers
//! can verify with the Standard Webhooks libraries (Python, JavaScript, Go, …) or [`verify`].
//!
//! Written here rather than taken from the `standardwebhooks` crate: the scheme is a dozen lines
//! on the `hmac` and `base64` crates we already build, and the crate would add its own HTTP and
//! time dependencies to every function for them. The spec's published test vector pins it.

use crate::signing::{HmacSha256, hmac_sha256};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::Mac;

/// The delivery's id, stable across retries; signed.
pub const ID_HEADER: &str = "webhook-id";
/// When the delivery was signed, in unix seconds; signed.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// One or more space-separated `v1,<base64 HMAC>` signatures.
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// How far (either way) a delivery's timestamp may be from the receiver's clock: the spec's
/// recommended five minutes.
pub const TOLERANCE_SECS: i64 = 300;

/// The spec's prefix for a base64 secret.
const SECRET_PREFIX: &str = "whsec_";
const VERSION: &str = "v1,";

/// The HMAC key a secret stands for, as the spec's libraries read it: `whsec_` (optional)
/// followed by base64. A secret that is not base64 (an older free-form value) is used as raw
/// bytes; [`is_standard_secret`] tells the operator when libraries would read it differently.
pub fn key(secret: &str) -> Vec<u8> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    BASE64
        .decode(encoded)
        .unwrap_or_else(|_| secret.as_bytes().to_vec())
}

/// Whether the Standard Webhooks libraries read `secret` as we do (`whsec_` + base64, or bare
/// base64 such as `openssl rand -hex 32`).
pub fn is_standard_secret(secret: &str) -> bool {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    !encoded.is_empty() && BASE64.decode(encoded).is_ok()
}

/// The `webhook-signature` value for this delivery.
pub fn sign(secret: &str, id: &str, timestamp: i64, raw_body: &[u8]) -> String {
    let digest = mac(&key(secret), id, &timestamp.to_string(), raw_body)
        .finalize()
        .into_bytes();
    format!("{VERSION}{}", BASE64.encode(digest))
}

/// Verify a delivery as a receiver should: some `v1,` entry of `signatures` matches (constant
/// time) the HMAC of the id, the timestamp as received and the raw body, and the timestamp is
/// within [`TOLERANCE_SECS`] of `now_unix`. An empty secret or id verifies nothing.
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    signatures: &str,
    raw_body: &[u8],
    now_unix: i64,
) -> bool {
    if secret.trim().is_empty() || id.is_empty() {
        return false;
    }
    let Ok(sent_at) = timestamp.parse::<i64>() else {
        return false;
    };
    if now_unix.saturating_sub(sent_at).unsigned_abs() > TOLERANCE_SECS.unsigned_abs() {
        return false;
    }
    let expected = mac(&key(secret), id, timestamp, raw_body);
    signatures
        .split(' ')
        .filter_map(|entry| entry.strip_prefix(VERSION))
        .filter_map(|digest| BASE64.decode(digest).ok())
        .any(|claimed| expected.clone().verify_slice(&claimed).is_ok())
}

fn mac(key: &[u8], id: &str, timestamp: &str, raw_body: &[u8]) -> HmacSha256 {
    hmac_sha256(
        key,
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", raw_body],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // The test vector of the Standard Webhooks reference libraries.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signing_matches_the_specs_test_vector() {
        assert_eq!(
            sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY),
            SPEC_SIGNATURE
        );
        let bare = SPEC_SECRET.trim_start_matches(SECRET_PREFIX);
        assert_eq!(
            sign(bare, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY),
            SPEC_SIGNATURE
        );
    }

    #[test]
    fn a_captured_delivery_replayed_under_a_new_id_does_not_verify() {
        let ts = SPEC_TIMESTAMP.to_string();
        let now = SPEC_TIMESTAMP + 10;
        assert!(verify(
            SPEC_SECRET,
            SPEC_ID,
            &ts,
            SPEC_SIGNATURE,
            SPEC_BODY,
            now
        ));
        assert!(!verify(
            SPEC_SECRET,
            "msg_replayed",
            &ts,
            SPEC_SIGNATURE,
            SPEC_BODY,
            now
        ));
    }

    #[test]
    fn verify_refuses_what_was_not_signed_with_this_secret_just_now() {
        let ts = SPEC_TIMESTAMP.to_string();
        let now = SPEC_TIMESTAMP;
        let check = |secret: &str, signatures: &str, body: &[u8], now: i64| {
            verify(secret, SPEC_ID, &ts, signatures, body, now)
        };
        assert!(!check("whsec_b3RoZXI=", SPEC_SIGNATURE, SPEC_BODY, now));
        assert!(!check(SPEC_SECRET, SPEC_SIGNATURE, b"{}", now));
        assert!(!check(SPEC_SECRET, SPEC_SIGNATURE, SPEC_BODY, now + 301));
        assert!(!check(SPEC_SECRET, SPEC_SIGNATURE, SPEC_BODY, now - 301));
        assert!(check(SPEC_SECRET, SPEC_SIGNATURE, SPEC_BODY, now + 300));
        assert!(!check(SPEC_SECRET, "v2,abc", SPEC_BODY, now));
        assert!(!check(
            "",
            &sign("", SPEC_ID, now, SPEC_BODY),
            SPEC_BODY,
            now
        ));
        // Several signatures (a key rotation on the sender's side): one match is enough.
        let both = format!("v1,bm9wZQ== {SPEC_SIGNATURE}");
        assert!(check(SPEC_SECRET, &both, SPEC_BODY, now));
    }

    #[test]
    fn free_form_secrets_are_used_as_raw_bytes_and_reported() {
        assert!(is_standard_secret(SPEC_SECRET));
        assert!(
            is_standard_secret(&"ab12".repeat(16)),
            "openssl rand -hex 32"
        );
        assert!(!is_standard_secret("not base64!"));
        assert_eq!(key("not base64!"), b"not base64!".to_vec());
    }
}
