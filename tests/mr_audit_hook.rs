//! The GitLab webhook endpoint: GitLab's own example payload and variants of it, through the
//! endpoint's logic on a fresh database, with the in-memory bus standing in for EventBridge.

use secops_shared::mr_audit::hook::{AUDIT_SOURCE, MERGE_RECORDED};
use secops_tests::mr_audit::{
    DOCS_EXAMPLE, Headers, MergedMr, MrAuditWorld, PREVIOUS_WEBHOOK_TOKEN, reply_json,
};
use serde_json::json;

fn security_merge() -> MergedMr {
    MergedMr::security(7, "Rotate the signing key (SEC-123)").described("Closes SEC-123.")
}

/// Nothing recorded and nothing handed to the worker.
async fn assert_untouched(world: &MrAuditWorld) {
    assert_eq!(world.merges().await, Vec::<(String, String)>::new());
    assert_eq!(world.delivery_keys().await, Vec::<String>::new());
    assert!(world.bus_events().is_empty(), "{:?}", world.bus_events());
}

#[tokio::test]
async fn the_documentation_payload_as_is_is_ignored_because_it_opens_an_mr() {
    let world = MrAuditWorld::new().await;

    let reply = world
        .deliver(&Headers::gitlab(), DOCS_EXAMPLE.as_bytes())
        .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply_json(&reply);
    assert_eq!(body["status"], "ignored");
    assert!(
        body["reason"].as_str().unwrap().contains("\"open\""),
        "{body}"
    );
    assert_untouched(&world).await;
}

#[tokio::test]
async fn a_security_merge_is_recorded_and_handed_to_the_worker() {
    let world = MrAuditWorld::new().await;
    let mr = security_merge();

    let reply = world.deliver_merge(&mr).await;

    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(
        reply_json(&reply),
        json!({"status": "accepted", "merge": "gitlabhq/gitlab-test!7"})
    );
    assert_eq!(
        world.merges().await,
        [(mr.merge_key(), "pending".to_owned())]
    );
    let events = world.bus_events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].source, AUDIT_SOURCE);
    assert_eq!(events[0].detail_type, MERGE_RECORDED);
    assert_eq!(events[0].detail, json!({"merge_key": "1:7"}));
}

#[tokio::test]
async fn a_wrong_token_is_refused_with_401_and_changes_nothing() {
    let world = MrAuditWorld::new().await;

    let reply = world
        .deliver(
            &Headers::gitlab().token(Some("not-the-token")),
            &security_merge().webhook_body(),
        )
        .await;

    assert_eq!(reply.status, 401);
    assert_eq!(
        reply_json(&reply),
        json!({"error": "invalid X-Gitlab-Token"})
    );
    assert_untouched(&world).await;
}

#[tokio::test]
async fn a_missing_token_is_refused_with_401_and_changes_nothing() {
    let world = MrAuditWorld::new().await;

    let reply = world
        .deliver(
            &Headers::gitlab().token(None),
            &security_merge().webhook_body(),
        )
        .await;

    assert_eq!(reply.status, 401);
    assert_eq!(
        reply_json(&reply),
        json!({"error": "missing X-Gitlab-Token"})
    );
    assert_untouched(&world).await;
}

#[tokio::test]
async fn an_empty_token_is_refused_even_before_the_body_is_read() {
    let world = MrAuditWorld::new().await;

    let reply = world
        .deliver(&Headers::gitlab().token(Some("")), b"{not json")
        .await;

    assert_eq!(reply.status, 401, "the token is checked before parsing");
    assert_untouched(&world).await;
}

#[tokio::test]
async fn the_previous_token_is_still_accepted_while_it_is_rotated_out() {
    let world = MrAuditWorld::new().await;
    let mr = security_merge();
    world.gitlab_has(&mr);

    let reply = world
        .deliver(
            &Headers::gitlab().token(Some(PREVIOUS_WEBHOOK_TOKEN)),
            &mr.webhook_body(),
        )
        .await;

    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(world.merges().await.len(), 1);
    assert_eq!(world.bus_events().len(), 1);
}

#[tokio::test]
async fn other_gitlab_events_are_ignored_with_200() {
    let world = MrAuditWorld::new().await;

    for event in [Some("Push Hook"), Some("merge request hook"), None] {
        let reply = world
            .deliver(
                &Headers::gitlab().event(event),
                &security_merge().webhook_body(),
            )
            .await;

        assert_eq!(reply.status, 200, "{event:?}: {}", reply.body);
        assert_eq!(reply_json(&reply)["status"], "ignored", "{event:?}");
    }
    assert_untouched(&world).await;
}

#[tokio::test]
async fn a_malformed_body_is_refused_with_400_and_a_clear_message() {
    let world = MrAuditWorld::new().await;

    let reply = world
        .deliver(&Headers::gitlab(), b"{\"object_kind\": ")
        .await;

    assert_eq!(reply.status, 400);
    let error = reply_json(&reply)["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains("not JSON") && error.contains("line 1 column"),
        "{error}"
    );
    assert_untouched(&world).await;
}

#[tokio::test]
async fn json_that_is_not_a_merge_request_event_is_refused_with_400() {
    let world = MrAuditWorld::new().await;

    let push = world
        .deliver(&Headers::gitlab(), br#"{"object_kind":"push"}"#)
        .await;
    let no_iid = world
        .deliver(
            &Headers::gitlab(),
            br#"{"object_kind":"merge_request","project":{"id":1},"object_attributes":{"action":"merge"}}"#,
        )
        .await;

    assert_eq!(push.status, 400);
    assert!(
        reply_json(&push)["error"]
            .as_str()
            .unwrap()
            .contains("\"push\""),
        "{}",
        push.body
    );
    assert_eq!(no_iid.status, 400);
    assert!(
        reply_json(&no_iid)["error"]
            .as_str()
            .unwrap()
            .contains("object_attributes.iid"),
        "{}",
        no_iid.body
    );
    assert_untouched(&world).await;
}

#[tokio::test]
async fn a_merge_without_a_security_label_is_ignored() {
    let world = MrAuditWorld::new().await;
    let mr = security_merge().labelled(&["API", "insecurity::x"]);
    let capture = secops_tests::logs::LogCapture::start();

    let reply = world.deliver_merge(&mr).await;

    let logs = capture.text();
    let line = logs
        .lines()
        .find(|l| l.contains("ignored a delivery"))
        .unwrap_or_else(|| panic!("no line says why the delivery was ignored:\n{logs}"));
    for expected in [
        "mr=",
        "action=merge",
        "labels=API, insecurity::x",
        "reason=no label matches",
    ] {
        assert!(line.contains(expected), "{expected} missing: {line}");
    }
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply_json(&reply);
    assert_eq!(body["status"], "ignored");
    assert!(
        body["reason"].as_str().unwrap().contains("security::*"),
        "{body}"
    );
    assert_untouched(&world).await;
}

#[tokio::test]
async fn the_same_delivery_three_times_records_one_merge() {
    let world = MrAuditWorld::new().await;
    let mr = security_merge();

    let replies = [
        world.deliver_merge(&mr).await,
        world.deliver_merge(&mr).await,
        world.deliver_merge(&mr).await,
    ];

    assert_eq!(
        replies.iter().map(|r| r.status).collect::<Vec<_>>(),
        [202, 200, 200]
    );
    for later in &replies[1..] {
        assert_eq!(
            reply_json(later),
            json!({"status": "duplicate", "merge": "gitlabhq/gitlab-test!7", "audit": "pending"})
        );
    }
    assert_eq!(world.merges().await.len(), 1);
    assert_eq!(
        world.delivery_keys().await,
        [format!("idempotency:{}", mr.delivery_id())]
    );
    // A duplicate of a pending audit wakes the worker again; the audit itself runs once.
    assert!(
        world
            .bus_events()
            .iter()
            .all(|e| e.detail == json!({"merge_key": "1:7"}))
    );
}

#[tokio::test]
async fn without_an_idempotency_key_deliveries_are_deduplicated_on_the_event_uuid() {
    let world = MrAuditWorld::new().await;
    let mr = security_merge();
    world.gitlab_has(&mr);
    let headers = Headers::gitlab().event_uuid("3b4d2a1e-0000-4000-8000-000000000001");

    let first = world.deliver(&headers, &mr.webhook_body()).await;
    let again = world.deliver(&headers, &mr.webhook_body()).await;

    assert_eq!((first.status, again.status), (202, 200));
    assert_eq!(reply_json(&again)["status"], "duplicate");
    assert_eq!(world.merges().await.len(), 1);
    assert_eq!(
        world.delivery_keys().await,
        ["event:3b4d2a1e-0000-4000-8000-000000000001"]
    );
}

#[tokio::test]
async fn without_any_delivery_id_deliveries_are_deduplicated_on_the_merge_itself() {
    let world = MrAuditWorld::new().await;
    let mr = security_merge();
    world.gitlab_has(&mr);

    let first = world.deliver(&Headers::gitlab(), &mr.webhook_body()).await;
    let again = world.deliver(&Headers::gitlab(), &mr.webhook_body()).await;

    assert_eq!((first.status, again.status), (202, 200));
    assert_eq!(reply_json(&again)["status"], "duplicate");
    assert_eq!(world.merges().await.len(), 1);
    assert_eq!(world.delivery_keys().await, ["merge:1:7"]);
}

#[tokio::test]
async fn two_different_deliveries_of_the_same_merge_still_record_one_merge() {
    let world = MrAuditWorld::new().await;
    let mr = security_merge();
    world.gitlab_has(&mr);

    let first = world
        .deliver(
            &Headers::gitlab().idempotency_key("key-one"),
            &mr.webhook_body(),
        )
        .await;
    let resent = world
        .deliver(
            &Headers::gitlab().event_uuid("uuid-two"),
            &mr.webhook_body(),
        )
        .await;
    let third = world
        .deliver(
            &Headers::gitlab().idempotency_key("key-three"),
            &mr.webhook_body(),
        )
        .await;

    assert_eq!([first.status, resent.status, third.status], [202, 200, 200]);
    assert_eq!(reply_json(&resent)["status"], "duplicate");
    assert_eq!(
        world.merges().await,
        [(mr.merge_key(), "pending".to_owned())]
    );
    assert_eq!(
        world.delivery_keys().await,
        [
            "event:uuid-two",
            "idempotency:key-one",
            "idempotency:key-three"
        ]
    );
}

#[tokio::test]
async fn different_merges_are_recorded_separately() {
    let world = MrAuditWorld::new().await;

    let seven = world.deliver_merge(&security_merge()).await;
    let eight = world
        .deliver_merge(&MergedMr::security(8, "Pin the TLS ciphers"))
        .await;

    assert_eq!((seven.status, eight.status), (202, 202));
    assert_eq!(
        world
            .merges()
            .await
            .into_iter()
            .map(|(key, _)| key)
            .collect::<Vec<_>>(),
        ["1:7", "1:8"]
    );
    assert_eq!(world.bus_events().len(), 2);
}

#[tokio::test]
async fn an_empty_configured_token_does_not_let_an_empty_header_in() {
    let mut world = MrAuditWorld::new().await;
    world.secrets = std::sync::Arc::new(secops_shared::secrets::SecretStore::fixed(
        secops_shared::secrets::Credentials {
            gitlab_webhook_token: Some(secops_shared::secrets::SecretString::from(
                "the-real-token",
            )),
            gitlab_webhook_token_previous: Some(secops_shared::secrets::SecretString::from("")),
            ..Default::default()
        },
    ));
    let mr = security_merge();
    for token in [Some(""), None] {
        let reply = world
            .deliver(&Headers::gitlab().token(token), &mr.webhook_body())
            .await;
        assert_eq!(reply.status, 401, "{token:?}: {}", reply.body);
    }
    assert!(world.merges().await.is_empty());
}

#[tokio::test]
async fn a_token_rotated_in_the_secret_is_accepted_without_waiting_for_the_cache() {
    let mut world = MrAuditWorld::new().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.json");
    std::fs::write(&secret, r#"{"gitlab_webhook_token": "token-before"}"#).unwrap();
    // A five-minute cache, as in Lambda.
    world.secrets = std::sync::Arc::new(secops_shared::secrets::SecretStore::new(
        secops_shared::secrets::SecretSource::File(secret.clone()),
        std::time::Duration::from_secs(300),
    ));
    let mr = security_merge();
    let before = world
        .deliver(
            &Headers::gitlab().token(Some("token-before")),
            &mr.webhook_body(),
        )
        .await;
    assert_eq!(before.status, 202, "{}", before.body);

    // The operator rotates the token: the secret first, then GitLab.
    std::fs::write(&secret, r#"{"gitlab_webhook_token": "token-after"}"#).unwrap();
    let too_soon = world
        .deliver(
            &Headers::gitlab().token(Some("token-after")),
            &mr.webhook_body(),
        )
        .await;
    assert_eq!(
        too_soon.status, 401,
        "the cache is younger than the re-read floor"
    );
    tokio::time::sleep(secops_shared::secrets::REJECTION_REFRESH_MIN_AGE).await;
    let after = world
        .deliver(
            &Headers::gitlab().token(Some("token-after")),
            &MergedMr::security(8, "Rotate the API key (SEC-124)").webhook_body(),
        )
        .await;
    assert_eq!(after.status, 202, "{}", after.body);
    let refused = world
        .deliver(
            &Headers::gitlab().token(Some("token-before")),
            &MergedMr::security(9, "Rotate the DB key (SEC-125)").webhook_body(),
        )
        .await;
    assert_eq!(refused.status, 401, "the old token is gone from the secret");
    assert_eq!(world.merges().await.len(), 2);
}

// --- A security label added after the merge (decision 026) -----------------------------------

#[tokio::test]
async fn a_security_label_added_after_the_merge_records_the_merge_once() {
    let world = MrAuditWorld::new().await;
    let unlabelled = security_merge().labelled(&["API"]);
    let labelled = unlabelled.clone().labelled(&["API", "security::crypto"]);
    let relabelled = unlabelled
        .clone()
        .labelled(&["API", "security::crypto", "security::iam"]);

    let merged = world.deliver_merge(&unlabelled).await;
    let added = world
        .deliver_label_update(&labelled, &["API"], "update-1")
        .await;
    let redelivered = world
        .deliver_label_update(&labelled, &["API"], "update-1")
        .await;
    let another = world
        .deliver_label_update(&relabelled, &["API", "security::crypto"], "update-2")
        .await;

    assert_eq!(reply_json(&merged)["status"], "ignored");
    assert_eq!(added.status, 202, "{}", added.body);
    assert_eq!(
        reply_json(&added),
        json!({"status": "accepted", "merge": "gitlabhq/gitlab-test!7"})
    );
    for later in [&redelivered, &another] {
        assert_eq!(later.status, 200, "{}", later.body);
        assert_eq!(reply_json(later)["status"], "duplicate");
    }
    assert_eq!(
        world.merges().await,
        [(unlabelled.merge_key(), "pending".to_owned())]
    );
    assert!(
        world
            .bus_events()
            .iter()
            .all(|e| e.detail == json!({"merge_key": "1:7"}))
    );
}

#[tokio::test]
async fn a_label_added_to_an_mr_that_is_not_merged_is_ignored() {
    let world = MrAuditWorld::new().await;
    let mr = security_merge();
    let mut open: serde_json::Value =
        serde_json::from_slice(&mr.label_update_body(&["API"], (13, "carol"))).unwrap();
    open["object_attributes"]["state"] = json!("opened");

    let reply = world
        .deliver(&Headers::gitlab(), &serde_json::to_vec(&open).unwrap())
        .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply_json(&reply);
    assert_eq!(body["status"], "ignored");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("\"update\" (MR state \"opened\") is not a merge"),
        "{body}"
    );
    assert_untouched(&world).await;
}

#[tokio::test]
async fn a_label_change_on_a_merged_mr_that_leaves_no_security_label_is_ignored() {
    let world = MrAuditWorld::new().await;
    let mr = security_merge().labelled(&["API", "docs"]);

    let reply = world.deliver_label_update(&mr, &["API"], "update-1").await;

    assert_eq!(reply_json(&reply)["status"], "ignored");
    assert!(
        reply_json(&reply)["reason"]
            .as_str()
            .unwrap()
            .contains("security::*")
    );
    assert_untouched(&world).await;
}

// --- Removing the security label does not avoid the audit ------------------------------------

/// `mr`'s labels changed from `previous` while it was still open (action `update`, state
/// `opened`), as GitLab delivers it.
fn open_label_update(mr: &MergedMr, previous: &[&str]) -> Vec<u8> {
    let mut body: serde_json::Value =
        serde_json::from_slice(&mr.label_update_body(previous, (11, "alice"))).unwrap();
    body["object_attributes"]["state"] = json!("opened");
    serde_json::to_vec(&body).unwrap()
}

#[tokio::test]
async fn a_security_label_removed_before_the_merge_still_gets_the_merge_audited() {
    let world = MrAuditWorld::new().await;
    let labelled = security_merge();
    let unlabelled = security_merge().labelled(&["API"]);
    // The author labels the MR, later swaps the label out, then merges.
    let added = world
        .deliver(
            &Headers::gitlab().idempotency_key("u-1"),
            &open_label_update(&labelled, &[]),
        )
        .await;
    let removed = world
        .deliver(
            &Headers::gitlab().idempotency_key("u-2"),
            &open_label_update(&unlabelled, &["security::crypto"]),
        )
        .await;
    let merged = world.deliver_merge(&unlabelled).await;

    assert_eq!(reply_json(&added)["status"], "ignored");
    assert_eq!(reply_json(&removed)["status"], "ignored");
    assert_eq!(merged.status, 202, "{}", merged.body);
    assert_eq!(
        world.merges().await,
        [(unlabelled.merge_key(), "pending".to_owned())]
    );
    assert_eq!(world.bus_events().len(), 1);
}

#[tokio::test]
async fn a_security_label_removed_by_the_merge_delivery_itself_still_gets_it_audited() {
    let world = MrAuditWorld::new().await;
    let unlabelled = security_merge().labelled(&["API"]);
    world.gitlab_has(&unlabelled);
    // The only delivery that shows the label: the merge, whose `changes.labels` says it was
    // removed (no earlier delivery reached us).
    let mut body: serde_json::Value = serde_json::from_slice(
        &unlabelled.label_update_body(&["API", "security::crypto"], (12, "bob")),
    )
    .unwrap();
    body["object_attributes"]["action"] = json!("merge");
    let merged = world
        .deliver(
            &Headers::gitlab().idempotency_key("m-1"),
            &serde_json::to_vec(&body).unwrap(),
        )
        .await;

    assert_eq!(merged.status, 202, "{}", merged.body);
    assert_eq!(world.merges().await.len(), 1);
}

#[tokio::test]
async fn a_merge_of_an_mr_that_never_carried_a_security_label_is_still_ignored() {
    let world = MrAuditWorld::new().await;
    let plain = security_merge().labelled(&["API"]);
    let edited = world
        .deliver(
            &Headers::gitlab().idempotency_key("u-1"),
            &open_label_update(&plain, &["docs"]),
        )
        .await;
    let merged = world.deliver_merge(&plain).await;

    assert_eq!(reply_json(&edited)["status"], "ignored");
    assert_eq!(reply_json(&merged)["status"], "ignored");
    assert_untouched(&world).await;
}
