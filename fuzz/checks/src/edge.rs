//! API Gateway event decoding. Properties: never panics; whatever the event, the answer is a
//! request or a 4xx refusal whose response event is well-formed; a decoded request's headers
//! are found by any case of their name.

use secops_shared::edge;

pub fn decode(data: &[u8]) {
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    for route in ["/slack/interactions", "/gitlab/webhook"] {
        match edge::decode(event.clone(), route) {
            Ok(request) => {
                for name in ["content-type", "X-Slack-Signature", "x-gitlab-token"] {
                    assert_eq!(
                        request.header(name),
                        request.header(&name.to_ascii_uppercase()),
                        "header lookup ignores case"
                    );
                }
            }
            Err(refusal) => {
                assert!(
                    (400..500).contains(&refusal.status),
                    "a refusal is a 4xx: {refusal:?}"
                );
                let answer = refusal.into_event();
                assert!(answer["statusCode"].is_u64() && answer["body"].is_string());
                let body: serde_json::Value =
                    serde_json::from_str(answer["body"].as_str().unwrap_or_default())
                        .expect("the refusal's body is JSON");
                assert!(body["error"].is_string(), "{body}");
            }
        }
    }
}
