//! Slack request verification and interactivity parsing. Properties: neither panics on any
//! body; a body signed with the secret verifies, and the same signature in upper-case hex, under
//! another secret, or over another body does not.

use secops_shared::slack::{interaction, signature};
use secrecy::SecretString;

/// The signing secret of `infra/events/slack-interaction.json` (infra/events/README.md).
pub const SECRET: &str = "test-signing-secret";
const NOW: i64 = 1_795_464_990;

/// The input is a raw request body (form-encoded, or the API Gateway event of the fixtures: its
/// `body` is taken, base64 included).
pub fn signature(data: &[u8]) {
    let body = body_of(data);
    let secret = SecretString::from(SECRET);
    let other = SecretString::from("another-secret");
    let signed = signature::sign(SECRET, NOW, &body);
    let now = Some(NOW.to_string());
    let verify = |secrets: &[&SecretString], sig: &str, body: &[u8]| {
        signature::verify(secrets, now.as_deref(), Some(sig), body, NOW)
    };
    assert_eq!(verify(&[&secret], &signed, &body), Ok(()), "own signature");
    assert_eq!(
        verify(&[&other, &secret], &signed, &body),
        Ok(()),
        "rotation"
    );
    assert!(verify(&[&other], &signed, &body).is_err(), "wrong secret");
    assert!(
        verify(
            &[&secret],
            &signed.to_uppercase().replacen("V0=", "v0=", 1),
            &body
        )
        .is_err(),
        "upper-case hex is not Slack's signature"
    );
    let mut tampered = body.clone();
    tampered.push(b'x');
    assert!(
        verify(&[&secret], &signed, &tampered).is_err(),
        "tampered body"
    );
    // The input itself as a signature and as a timestamp: refused or accepted, never a panic.
    let raw = crate::text(data);
    let _ = signature::verify(&[&secret], Some(&raw), Some(&raw), &body, NOW);
    let _ = signature::verify(&[&secret], now.as_deref(), Some(&raw), &body, NOW);
}

/// The input is a request body (or a fixture event, as for [`signature`]); every parser runs on
/// it and on the raw bytes, and its errors stay one bounded line.
pub fn interaction(data: &[u8]) {
    for body in [body_of(data), data.to_vec()] {
        let errors = [
            interaction::parse_interaction(&body).err(),
            interaction::parse_block_actions(&body).err(),
        ];
        for error in errors.into_iter().flatten() {
            let message = error.to_string();
            assert!(!message.contains('\n'), "error on one line: {message:?}");
            assert!(message.chars().count() <= 400, "bounded error: {message}");
        }
        let _ = interaction::raw_body(&body, true);
    }
}

/// The body of an API Gateway event, decoded; any other input as it is.
fn body_of(data: &[u8]) -> Vec<u8> {
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(data) else {
        return data.to_vec();
    };
    match secops_shared::edge::decode(event, "/slack/interactions") {
        Ok(request) => request.body,
        Err(_) => data.to_vec(),
    }
}
