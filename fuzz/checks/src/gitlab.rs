//! The GitLab merge request hook parser. Properties: never panics; its errors are one line and
//! bounded whatever the body; a parsed event's key and reference are built from what it read.

use secops_shared::mr_audit::event;

/// The input is a hook body, or a fixture API Gateway event carrying one.
pub fn hook(data: &[u8]) {
    let mut bodies = vec![data.to_vec()];
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data)
        && let Ok(request) = secops_shared::edge::decode(value, "/gitlab/webhook")
    {
        bodies.push(request.body);
    }
    for body in bodies {
        match event::parse_merge_event(&body) {
            Ok(merge) => {
                assert_eq!(
                    merge.merge_key(),
                    format!("{}:{}", merge.project_id, merge.iid)
                );
                assert!(merge.reference().ends_with(&format!("!{}", merge.iid)));
            }
            Err(error) => {
                let message = error.to_string();
                assert!(!message.contains('\n'), "one line: {message:?}");
                assert!(message.chars().count() <= 400, "bounded: {message}");
            }
        }
    }
}
