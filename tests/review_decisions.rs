//! A reviewer's click, end to end: signed request → decision (first wins) → worker → review
//! event in Axiom, card updated, webhook, escalation. Real Postgres; fake Slack and Axiom.

use chrono::Utc;
use secops_shared::connectors::webhook;
use secops_shared::review::card::{APPROVE, ESCALATE, REVOKE};
use secops_shared::slack::signature::sign;
use secops_tests::review::{
    DecisionWorld, ESCALATION_CHANNEL, REVIEW_CHANNEL, REVIEWERS, SIGNING_SECRET, WEBHOOK_SECRET,
};
use secops_tests::snapshots;

#[tokio::test]
async fn an_allowed_reviewer_approves_and_the_decision_reaches_axiom_and_the_card() {
    let world = DecisionWorld::new().await;
    let (review, ts) = world.card_awaiting_review("carol@example.com").await;

    let status = world
        .click("U0ANNA", APPROVE, review, REVIEW_CHANNEL, &ts)
        .await;
    assert_eq!(status, 200);
    let woken = world.bus.take();
    assert_eq!(woken.len(), 1);
    assert_eq!(woken[0].detail["review_id"], review.to_string());

    let drained = world.run_worker().await;
    assert!(drained.failed.is_empty(), "{:?}", drained.failed);

    let decisions: Vec<_> = world
        .review
        .review_events()
        .into_iter()
        .filter(|e| e["decision"] == "approved")
        .collect();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0]["reviewer"], "U0ANNA");
    assert_eq!(decisions[0]["review_id"], review.to_string());
    assert_eq!(
        decisions[0]["review_event_id"],
        format!("{review}:approved"),
        "the id consumers dedupe redeliveries on"
    );
    // Break-glass, and a first grant from a grantor with no history: two signals, so high.
    assert_eq!(decisions[0]["level"], "high");
    let card = world.review.cards().pop().unwrap();
    let (_, shown) = card.shown();
    let shown = shown.to_string();
    assert!(shown.contains("Approved* by <@U0ANNA>"), "{shown}");
    assert!(
        !shown.contains("review_approve"),
        "buttons are removed: {shown}"
    );
    assert!(
        world.webhook_deliveries().await.is_empty(),
        "approvals are not sent to the webhook"
    );
    // The decision is taken on the real clock (the click is signed with it).
    let clock = snapshots::clock_time();
    snapshots::settings(&[(&clock, "[decided at]")]).bind(|| {
        let (text, blocks) = card.shown();
        insta::assert_json_snapshot!(
            "approved_card",
            serde_json::json!({"text": text, "blocks": blocks})
        );
        insta::assert_json_snapshot!("approved_event", decisions[0]);
    });
}

#[tokio::test]
async fn a_decided_card_shows_every_time_in_the_reviewers_timezone() {
    let world = DecisionWorld::in_timezone(chrono_tz::Europe::Berlin).await;
    let (review, ts) = world.card_awaiting_review("carol@example.com").await;
    world
        .click("U0ANNA", APPROVE, review, REVIEW_CHANNEL, &ts)
        .await;
    world.run_worker().await;

    let card = world.review.cards().pop().unwrap();
    let shown = card.shown().1.to_string();
    // The grant (10:00 UTC on a November Wednesday) and the decision, both in Berlin time.
    assert!(shown.contains("Wed 2026-11-18 11:00 CET"), "{shown}");
    assert!(
        !shown.contains("UTC"),
        "one timezone for everything: {shown}"
    );
}

#[tokio::test]
async fn a_request_with_a_bad_signature_is_refused_and_changes_nothing() {
    let world = DecisionWorld::new().await;
    let (review, ts) = world.card_awaiting_review("carol@example.com").await;
    let body = secops_shared::slack::interaction::click_body(
        "U0ANNA",
        APPROVE,
        &review.to_string(),
        REVIEW_CHANNEL,
        &ts,
        "http://x",
    );
    let now = Utc::now();

    let wrong_secret = sign("not-the-secret", now.timestamp(), body.as_bytes());
    let stale = sign(SIGNING_SECRET, now.timestamp() - 301, body.as_bytes());
    let good = sign(SIGNING_SECRET, now.timestamp(), body.as_bytes());
    let tampered = body.replace("review_approve", "review_revoke");

    assert_eq!(
        world
            .send(
                &now.timestamp().to_string(),
                &wrong_secret,
                body.as_bytes(),
                now
            )
            .await
            .status,
        401
    );
    assert_eq!(
        world
            .send(
                &(now.timestamp() - 301).to_string(),
                &stale,
                body.as_bytes(),
                now
            )
            .await
            .status,
        401
    );
    assert_eq!(
        world
            .send(
                &now.timestamp().to_string(),
                &good,
                tampered.as_bytes(),
                now
            )
            .await
            .status,
        401
    );
    world.run_worker().await;
    assert!(world.bus.take().is_empty());
    assert!(
        world
            .review
            .review_events()
            .iter()
            .all(|e| e["decision"] != "approved" && e["decision"] != "revoked")
    );
}

#[tokio::test]
async fn someone_outside_the_reviewer_group_is_told_no_and_nothing_changes() {
    let world = DecisionWorld::new().await;
    let (review, ts) = world.card_awaiting_review("carol@example.com").await;

    assert_eq!(
        world
            .click("U0EVE", APPROVE, review, REVIEW_CHANNEL, &ts)
            .await,
        200
    );

    assert_eq!(
        world.told("U0EVE"),
        ["You are not an allowed reviewer for privileged grants."]
    );
    assert!(world.bus.take().is_empty());
    // Still decidable by a real reviewer.
    world
        .click("U0BOB", REVOKE, review, REVIEW_CHANNEL, &ts)
        .await;
    assert_eq!(world.bus.take().len(), 1);
}

#[tokio::test]
async fn a_reviewer_whose_permission_cannot_be_checked_reads_a_short_message_not_internals() {
    let world = DecisionWorld::new().await;
    let (review, ts) = world.card_awaiting_review("carol@example.com").await;
    // Every attempt of the membership lookup fails (the reply to the clicker then goes through).
    world.review.slack.fail_next(3, 500);

    world
        .click("U0BOB", APPROVE, review, REVIEW_CHANNEL, &ts)
        .await;

    let told = world.told("U0BOB");
    assert_eq!(
        told,
        [
            "Your permission could not be checked right now. Nothing was recorded; please try again in a minute."
        ]
    );
    assert!(world.bus.take().is_empty());
}

#[tokio::test]
async fn the_grantee_cannot_review_their_own_grant() {
    let world = DecisionWorld::new().await;
    let (review, ts) = world.card_awaiting_review("anna@example.com").await;

    world
        .click("U0ANNA", APPROVE, review, REVIEW_CHANNEL, &ts)
        .await;

    assert_eq!(
        world.told("U0ANNA"),
        ["You cannot review a grant made to you."]
    );
    assert!(world.bus.take().is_empty());
}

#[tokio::test]
async fn the_grantor_cannot_approve_the_grant_they_made() {
    let world = DecisionWorld::new().await;
    // Alice, who made the grant (the grantor of every card here), is also a reviewer.
    let slack = &world.review.slack;
    slack.set_usergroup(REVIEWERS, &["U0ANNA", "U0BOB", "U0ALICE"]);
    slack.set_user("U0ALICE", "alice", Some("alice@example.com"));
    let (review, ts) = world.card_awaiting_review("carol@example.com").await;

    world
        .click("U0ALICE", APPROVE, review, REVIEW_CHANNEL, &ts)
        .await;

    assert_eq!(
        world.told("U0ALICE"),
        ["You cannot review a grant you made."]
    );
    assert!(world.bus.take().is_empty());
}

#[tokio::test]
async fn the_grantee_is_recognised_under_a_plus_alias_and_a_bare_login() {
    for grantee in ["anna+admin@example.com", "anna"] {
        let world = DecisionWorld::new().await;
        let (review, ts) = world.card_awaiting_review(grantee).await;

        world
            .click("U0ANNA", APPROVE, review, REVIEW_CHANNEL, &ts)
            .await;

        assert_eq!(
            world.told("U0ANNA"),
            ["You cannot review a grant made to you."],
            "{grantee}"
        );
        assert!(world.bus.take().is_empty(), "{grantee}");
    }
}

#[tokio::test]
async fn a_reviewer_without_an_email_in_slack_is_refused_and_the_review_goes_to_the_escalation_group_once()
 {
    let world = DecisionWorld::new().await;
    world.review.slack.set_user("U0BOB", "bob", None);
    let (review, ts) = world.card_awaiting_review("carol@example.com").await;

    world
        .click("U0BOB", APPROVE, review, REVIEW_CHANNEL, &ts)
        .await;
    // Clicking again (or Slack retrying) escalates nothing more.
    world
        .click("U0BOB", APPROVE, review, REVIEW_CHANNEL, &ts)
        .await;
    world.run_worker().await;

    let told = world.told("U0BOB");
    assert_eq!(told.len(), 2);
    assert!(told[0].contains("no email"), "{told:?}");
    assert!(told[0].contains("escalation group"), "{told:?}");
    let stored = world.review.store.review(review).await.unwrap().unwrap();
    assert_eq!(
        stored.status,
        secops_shared::review::store::ReviewStatus::Escalated,
        "the product could not tell, so the escalation group decides"
    );
    let escalation_posts: Vec<_> = world
        .review
        .slack
        .messages()
        .into_iter()
        .filter(|m| m.channel == ESCALATION_CHANNEL)
        .collect();
    assert_eq!(escalation_posts.len(), 1, "escalated once");
    let headline = escalation_posts[0].blocks.to_string();
    assert!(headline.contains("<!subteam^S0ESCALATION>"), "{headline}");
    assert!(headline.contains("Escalated automatically"), "{headline}");
    let decisions: Vec<_> = world
        .review
        .review_events()
        .into_iter()
        .filter_map(|e| e["decision"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(decisions, ["escalated"], "never approved");
    // The escalation group still decides it.
    world
        .click(
            "U0CISO",
            REVOKE,
            review,
            ESCALATION_CHANNEL,
            &escalation_posts[0].ts,
        )
        .await;
    let stored = world.review.store.review(review).await.unwrap().unwrap();
    assert_eq!(
        stored.status,
        secops_shared::review::store::ReviewStatus::Revoked
    );
}

#[tokio::test]
async fn the_first_decision_wins_and_a_second_click_is_told_who_decided() {
    let world = DecisionWorld::new().await;
    let (review, ts) = world.card_awaiting_review("carol@example.com").await;

    world
        .click("U0ANNA", APPROVE, review, REVIEW_CHANNEL, &ts)
        .await;
    world
        .click("U0BOB", REVOKE, review, REVIEW_CHANNEL, &ts)
        .await;
    world
        .click("U0ANNA", APPROVE, review, REVIEW_CHANNEL, &ts)
        .await;
    world.run_worker().await;

    assert_eq!(
        world.told("U0BOB"),
        ["Already decided by <@U0ANNA>: approved."]
    );
    let decided: Vec<_> = world
        .review
        .review_events()
        .into_iter()
        .filter(|e| e["decision"] == "approved" || e["decision"] == "revoked")
        .collect();
    assert_eq!(decided.len(), 1, "one decision, one review event");
    assert_eq!(
        world.review.cards().pop().unwrap().updates.len(),
        1,
        "the card is updated once"
    );
}

#[tokio::test]
async fn a_revoke_is_sent_to_the_webhook_signed_and_exactly_once() {
    let world = DecisionWorld::new().await;
    let (review, ts) = world.card_awaiting_review("carol@example.com").await;

    world
        .click("U0BOB", REVOKE, review, REVIEW_CHANNEL, &ts)
        .await;
    world.run_worker().await;
    world.run_worker().await;

    let deliveries = world.webhook_deliveries().await;
    assert_eq!(deliveries.len(), 1);
    let d = &deliveries[0];
    let header = |name: &str| d.headers.get(name).unwrap().to_str().unwrap().to_owned();
    let now = Utc::now().timestamp();
    assert!(webhook::verify(
        WEBHOOK_SECRET,
        &header(webhook::TIMESTAMP_HEADER),
        &header(webhook::SIGNATURE_HEADER),
        &d.body,
        now
    ));
    let body: serde_json::Value = serde_json::from_slice(&d.body).unwrap();
    assert_eq!(
        (body["decision"].as_str(), body["reviewer"].as_str()),
        (Some("revoked"), Some("U0BOB"))
    );
}

#[tokio::test]
async fn an_escalated_review_goes_to_the_escalation_group_who_can_still_decide_it() {
    let world = DecisionWorld::new().await;
    let (review, ts) = world.card_awaiting_review("carol@example.com").await;

    world
        .click("U0ANNA", ESCALATE, review, REVIEW_CHANNEL, &ts)
        .await;
    world.run_worker().await;

    let escalation = world
        .review
        .slack
        .messages()
        .into_iter()
        .find(|m| m.channel == ESCALATION_CHANNEL)
        .expect("the review is re-posted for the escalation group");
    assert!(
        escalation.text.contains("<!subteam^S0ESCALATION>"),
        "{}",
        escalation.text
    );
    let buttons = escalation.blocks.to_string();
    assert!(buttons.contains("review_approve") && !buttons.contains("review_escalate"));

    // A regular reviewer can no longer decide; the escalation group can.
    world
        .click("U0BOB", APPROVE, review, ESCALATION_CHANNEL, &escalation.ts)
        .await;
    assert_eq!(
        world.told("U0BOB"),
        ["This review was escalated: only the escalation group can decide it."]
    );
    world
        .click("U0CISO", REVOKE, review, ESCALATION_CHANNEL, &escalation.ts)
        .await;
    world.run_worker().await;

    let decisions: Vec<String> = world
        .review
        .review_events()
        .iter()
        .filter_map(|e| e["decision"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(decisions, ["escalated", "revoked"]);
    assert_eq!(
        world.webhook_deliveries().await.len(),
        2,
        "escalate and revoke both reach the webhook"
    );
    // Both cards of the review, the original and the escalation copy, show the final decision.
    for message in world.review.slack.messages() {
        let shown = message.shown().1.to_string();
        assert!(
            shown.contains("Revoked* by <@U0CISO>"),
            "{}: {shown}",
            message.channel
        );
        assert!(
            !shown.contains("review_approve"),
            "no buttons left: {shown}"
        );
    }
    assert_eq!(world.review.slack.messages().len(), 2);
    snapshots::settings(&[]).bind(|| {
        insta::assert_json_snapshot!(
            "escalation_card_as_posted",
            serde_json::json!({"text": escalation.text, "blocks": escalation.blocks})
        )
    });
}

#[tokio::test]
async fn axiom_down_during_a_decision_delays_the_review_event_but_never_loses_or_doubles_it() {
    let world = DecisionWorld::new().await;
    let (review, ts) = world.card_awaiting_review("carol@example.com").await;
    world.review.axiom.down();

    world
        .click("U0ANNA", APPROVE, review, REVIEW_CHANNEL, &ts)
        .await;
    let first = world.run_worker().await;
    assert_eq!(first.failed.len(), 1, "{:?}", first.failed);
    assert!(
        world
            .review
            .review_events()
            .iter()
            .all(|e| e["decision"] != "approved")
    );

    world.review.axiom.up();
    world.run_worker().await;
    world.run_worker().await;

    let approved = world
        .review
        .review_events()
        .into_iter()
        .filter(|e| e["decision"] == "approved")
        .count();
    assert_eq!(approved, 1);
}

#[tokio::test]
async fn without_escalation_groups_the_reviewers_decide_escalated_reviews() {
    let mut world = DecisionWorld::new().await;
    world.policy.escalation_groups.clear();
    let (review, ts) = world.card_awaiting_review("carol@example.com").await;

    world
        .click("U0ANNA", ESCALATE, review, REVIEW_CHANNEL, &ts)
        .await;
    world
        .click("U0BOB", APPROVE, review, REVIEW_CHANNEL, &ts)
        .await;
    world.run_worker().await;

    assert!(world.told("U0BOB").is_empty());
    let decisions: Vec<String> = world
        .review
        .review_events()
        .iter()
        .filter_map(|e| e["decision"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(decisions, ["escalated", "approved"]);
}

#[tokio::test]
async fn two_drains_at_once_perform_each_follow_up_once() {
    let world = DecisionWorld::new().await;
    let (review, ts) = world.card_awaiting_review("carol@example.com").await;
    world
        .click("U0BOB", REVOKE, review, REVIEW_CHANNEL, &ts)
        .await;
    let other = secops_shared::review::store::ReviewStore::new(&secops_shared::db::Database::new(
        world.review.db.client().await,
    ));

    let (a, b) = tokio::join!(world.run_worker(), world.run_worker_with(&other));

    assert_eq!(
        a.done + b.done,
        3,
        "review event, card update, webhook: {a:?} {b:?}"
    );
    assert_eq!(world.webhook_deliveries().await.len(), 1);
    assert_eq!(
        world
            .review
            .review_events()
            .iter()
            .filter(|e| e["decision"] == "revoked")
            .count(),
        1
    );
}

#[tokio::test]
async fn a_regenerated_signing_secret_is_accepted_once_it_is_in_the_secret() {
    let mut world = DecisionWorld::new().await;
    let (review, ts) = world.card_awaiting_review("carol@example.com").await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.json");
    let holding = |signing: &str| format!(r#"{{"slack_signing_secret": "{signing}"}}"#);
    std::fs::write(&secret, holding(SIGNING_SECRET)).unwrap();
    // A five-minute cache, as in Lambda.
    world.review.secrets = std::sync::Arc::new(secops_shared::secrets::SecretStore::new(
        secops_shared::secrets::SecretSource::File(secret.clone()),
        std::time::Duration::from_secs(300),
    ));
    let click_signed_with = |signing: &'static str| {
        world.click_signed_with(signing, "U0ANNA", APPROVE, review, REVIEW_CHANNEL, &ts)
    };

    // Slack regenerated the signing secret; the secret still holds the old one.
    assert_eq!(click_signed_with("regenerated-signing-secret").await, 401);
    // The operator puts the new one in: accepted once the cached copy is old enough to re-read.
    std::fs::write(&secret, holding("regenerated-signing-secret")).unwrap();
    tokio::time::sleep(secops_shared::secrets::REJECTION_REFRESH_MIN_AGE).await;
    assert_eq!(click_signed_with("regenerated-signing-secret").await, 200);
    assert_eq!(world.bus.take().len(), 1, "the decision was recorded");
    // And the old one no longer verifies.
    assert_eq!(click_signed_with(SIGNING_SECRET).await, 401);
}

#[tokio::test]
async fn a_webhook_receiver_that_keeps_refusing_is_given_up_after_three_attempts() {
    let world = DecisionWorld::new().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(400))
        .with_priority(1)
        .mount(&world.receiver)
        .await;
    let (review, ts) = world.card_awaiting_review("carol@example.com").await;
    world
        .click("U0BOB", REVOKE, review, REVIEW_CHANNEL, &ts)
        .await;

    let mut given_up = Vec::new();
    for _ in 0..5 {
        given_up.extend(world.run_worker().await.given_up);
    }

    assert_eq!(
        world.webhook_deliveries().await.len(),
        3,
        "a 4xx is the receiver's answer: three tries, then no more"
    );
    assert_eq!(given_up.len(), 1, "{given_up:?}");
    assert!(given_up[0].contains("HTTP 400"), "{given_up:?}");
    let client = world.review.db.client().await;
    let row = client
        .query_one(
            "SELECT status, attempts, last_error FROM privileged_review_outbox WHERE kind = 'webhook'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "failed");
    assert_eq!(row.get::<_, i32>(1), 3);
    assert_eq!(
        world.review.store.pending_count().await.unwrap(),
        0,
        "nothing left pending: the pending gauge cannot be the only signal"
    );
}

/// A directory that lets someone escalate the review while a click is being authorised (the
/// window between reading the review and recording the decision).
struct EscalatesMeanwhile<'a> {
    store: &'a secops_shared::review::store::ReviewStore,
    review: uuid::Uuid,
    escalated: std::sync::atomic::AtomicBool,
}

impl secops_shared::review::decision::Directory for EscalatesMeanwhile<'_> {
    async fn group_members(
        &self,
        group: &str,
    ) -> Result<Vec<String>, secops_shared::ports::PortError> {
        use secops_shared::review::store::ReviewStatus;
        if !self
            .escalated
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            self.store
                .decide(
                    self.review,
                    ReviewStatus::Escalated,
                    &[ReviewStatus::AwaitingReview],
                    "U0ANNA",
                    &[],
                    Utc::now(),
                )
                .await
                .unwrap();
        }
        Ok(if group == REVIEWERS {
            vec!["U0ANNA".to_owned(), "U0BOB".to_owned()]
        } else {
            vec!["U0CISO".to_owned()]
        })
    }

    async fn email_of(&self, _: &str) -> Result<Option<String>, secops_shared::ports::PortError> {
        Ok(Some("bob@example.com".to_owned()))
    }
}

#[tokio::test]
async fn a_review_escalated_while_a_reviewer_clicks_is_not_decided_by_that_reviewer() {
    use secops_shared::review::decision::{Click, ClickOutcome, ReviewAction, handle_click};
    use secops_shared::review::store::ReviewStatus;
    let world = DecisionWorld::new().await;
    let (review, ts) = world.card_awaiting_review("carol@example.com").await;
    let directory = EscalatesMeanwhile {
        store: &world.review.store,
        review,
        escalated: std::sync::atomic::AtomicBool::new(false),
    };
    let click = Click {
        review_id: review,
        action: ReviewAction::Approve,
        user_id: "U0BOB".to_owned(),
        channel_id: Some(REVIEW_CHANNEL.to_owned()),
        message_ts: Some(ts),
    };

    let outcome = handle_click(
        &world.review.store,
        &directory,
        &world.policy,
        REVIEW_CHANNEL,
        &click,
        Utc::now(),
    )
    .await
    .unwrap();

    assert!(
        matches!(outcome, ClickOutcome::AlreadyDecided(_)),
        "a reviewer outside the escalation group must not decide it: {outcome:?}"
    );
    let stored = world.review.store.review(review).await.unwrap().unwrap();
    assert_eq!(stored.status, ReviewStatus::Escalated);
}

#[tokio::test]
async fn a_follow_up_whose_attempt_dies_counts_the_attempt_and_goes_behind_the_others() {
    let world = DecisionWorld::new().await;
    let (review, ts) = world.card_awaiting_review("carol@example.com").await;
    world
        .click("U0BOB", REVOKE, review, REVIEW_CHANNEL, &ts)
        .await;
    let store = &world.review.store;
    let lease = std::time::Duration::from_millis(1);

    // A drain takes the first follow-up and dies making it (a panic, a timeout): it never
    // reports success or failure, and its lease runs out.
    let first = store.claim_tasks(1, lease).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(
        first[0].attempts, 1,
        "the attempt is counted before it is made"
    );
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    // The next drain starts with another follow-up, not the one that killed the last drain.
    let next = store.claim_tasks(1, lease).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_ne!(
        next[0].task_id, first[0].task_id,
        "a dying follow-up must not stay first in the queue"
    );
    let client = world.review.db.client().await;
    let attempts: i32 = client
        .query_one(
            "SELECT attempts FROM privileged_review_outbox WHERE task_id = $1",
            &[&first[0].task_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(attempts, 1);
}

#[tokio::test]
async fn a_webhook_whose_attempts_died_is_given_up_at_its_next_refusal() {
    let world = DecisionWorld::new().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(400))
        .with_priority(1)
        .mount(&world.receiver)
        .await;
    let (review, ts) = world.card_awaiting_review("carol@example.com").await;
    world
        .click("U0BOB", REVOKE, review, REVIEW_CHANNEL, &ts)
        .await;
    let client = world.review.db.client().await;
    let webhook_task: i64 = client
        .query_one(
            "SELECT task_id FROM privileged_review_outbox WHERE kind = 'webhook'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    // Two drains died while delivering the webhook (claimed, never reported).
    for _ in 0..2 {
        let taken = world
            .review
            .store
            .claim_tasks(10, std::time::Duration::from_millis(1))
            .await
            .unwrap();
        assert!(taken.iter().any(|t| t.task_id == webhook_task));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let drained = world.run_worker().await;

    assert_eq!(drained.given_up.len(), 1, "{drained:?}");
    assert_eq!(world.webhook_deliveries().await.len(), 1);
}

/// A click signed with our signing secret (the app is the same) from a workspace that is not
/// ours: `team` is the payload's workspace, `user_team` the clicker's own.
async fn foreign_click(
    world: &DecisionWorld,
    user: &str,
    team: &str,
    user_team: &str,
    review: uuid::Uuid,
    ts: &str,
) -> u16 {
    let payload = serde_json::json!({
        "type": "block_actions",
        "user": {"id": user, "username": user, "team_id": user_team},
        "team": {"id": team, "domain": "elsewhere"},
        "enterprise": null,
        "channel": {"id": REVIEW_CHANNEL, "name": "reviews"},
        "container": {"type": "message", "message_ts": ts, "channel_id": REVIEW_CHANNEL},
        "message": {"ts": ts, "text": "card"},
        "actions": [{"type": "button", "action_id": APPROVE, "block_id": "privileged_review",
                     "value": review.to_string(), "action_ts": "1"}],
        "response_url": world.review.slack.response_url(user),
        "trigger_id": "t1",
    });
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    let now = Utc::now();
    let signature = sign(SIGNING_SECRET, now.timestamp(), body.as_bytes());
    world
        .send(
            &now.timestamp().to_string(),
            &signature,
            body.as_bytes(),
            now,
        )
        .await
        .status
}

#[tokio::test]
async fn a_click_from_another_workspace_is_refused_clearly_and_changes_nothing() {
    let world = DecisionWorld::new().await;
    let (review, ts) = world.card_awaiting_review("carol@example.com").await;

    // Another workspace where the same app is installed, with a user whose id is one of our
    // reviewers'; then a Slack Connect member of a shared channel (our team, their user).
    let other = foreign_click(&world, "U0ANNA", "T0OTHER", "T0OTHER", review, &ts).await;
    let connect = foreign_click(&world, "U0BOB", "T1", "T0OTHER", review, &ts).await;

    assert_eq!((other, connect), (403, 403));
    assert_eq!(
        world.told("U0ANNA"),
        [secops_shared::slack_router::FOREIGN_WORKSPACE]
    );
    assert!(world.told("U0BOB")[0].contains("another Slack workspace"));
    assert!(world.bus.take().is_empty());
    let stored = world.review.store.review(review).await.unwrap().unwrap();
    assert_eq!(
        stored.status,
        secops_shared::review::store::ReviewStatus::AwaitingReview
    );
    assert_eq!(
        world.review.slack.calls("usergroups.users.list"),
        0,
        "nothing was read for it"
    );
}

#[test]
fn on_enterprise_grid_every_workspace_of_our_organisation_is_ours() {
    use secops_shared::slack::workspace::HomeWorkspace;
    let grid = HomeWorkspace {
        team_ids: vec!["T1".into()],
        enterprise_id: Some("E0ORG".into()),
    };
    assert!(grid.admits(Some("T2"), Some("T3"), Some("E0ORG")));
    assert!(!grid.admits(Some("T2"), Some("T2"), Some("E0OTHER")));
    assert!(grid.admits(Some("T1"), Some("T1"), None));
    assert!(!HomeWorkspace::default().admits(Some("T1"), Some("T1"), None));
    assert!(!grid.admits(None, None, None));
}

/// A map linking Anna to the break-glass role she assumes.
const ANNA_AND_HER_ROLE: &str = "slack_user_id,idp_login,cloud_principal,note\n\
     U0ANNA,anna@example.com,arn:aws:iam::123456789012:role/ops-7f3a,break-glass role\n";

/// Load a team's identity map (the CSV the local runner imports).
async fn identity_map(world: &DecisionWorld, csv: &str) {
    use secops_shared::review::identity_map;
    let rows = identity_map::parse_csv("map.csv", csv).unwrap();
    identity_map::replace(&world.review.store, &rows)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_identity_map_stops_a_reviewer_deciding_a_grant_to_their_opaque_cloud_role() {
    let world = DecisionWorld::new().await;
    identity_map(&world, ANNA_AND_HER_ROLE).await;
    let (review, ts) = world
        .card_awaiting_review("arn:aws:iam::123456789012:role/ops-7f3a")
        .await;

    world
        .click("U0ANNA", APPROVE, review, REVIEW_CHANNEL, &ts)
        .await;

    assert_eq!(
        world.told("U0ANNA"),
        ["You cannot review a grant made to you."]
    );
    assert!(world.bus.take().is_empty());
    // Bob, whom the map does not link to the role, still decides it.
    world
        .click("U0BOB", APPROVE, review, REVIEW_CHANNEL, &ts)
        .await;
    assert_eq!(world.bus.take().len(), 1);
}

#[tokio::test]
async fn a_grant_made_from_a_session_of_a_mapped_role_cannot_be_approved_by_that_person() {
    let world = DecisionWorld::new().await;
    identity_map(&world, ANNA_AND_HER_ROLE).await;
    // CloudTrail names the grantor by the session, whose name the caller chose.
    let (review, ts) = world
        .card_awaiting_review_from(
            "arn:aws:sts::123456789012:assumed-role/ops-7f3a/not-anna",
            "carol@example.com",
        )
        .await;

    world
        .click("U0ANNA", APPROVE, review, REVIEW_CHANNEL, &ts)
        .await;

    assert!(world.bus.take().is_empty(), "Anna decided her own grant");
    let told = world.told("U0ANNA");
    assert!(
        told.len() == 1 && told[0].starts_with("You cannot review a grant"),
        "{told:?}"
    );
}

#[tokio::test]
async fn a_grant_without_a_grantee_cannot_be_approved_and_goes_to_the_escalation_group() {
    let world = DecisionWorld::new().await;
    // Someone who can write the audit dataset dropped the grantee field.
    let (review, ts) = world
        .card_awaiting_review_from("alice@example.com", "")
        .await;

    world
        .click("U0BOB", APPROVE, review, REVIEW_CHANNEL, &ts)
        .await;
    world.run_worker().await;

    let told = world.told("U0BOB");
    assert!(
        told[0].contains("does not name its grantor or its grantee"),
        "{told:?}"
    );
    let stored = world.review.store.review(review).await.unwrap().unwrap();
    assert_eq!(
        stored.status,
        secops_shared::review::store::ReviewStatus::Escalated
    );
    let decisions: Vec<_> = world
        .review
        .review_events()
        .into_iter()
        .filter_map(|e| e["decision"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(decisions, ["escalated"], "never approved");
}

#[tokio::test]
async fn the_identity_map_is_read_through_configured_domain_aliases() {
    let mut world = DecisionWorld::new().await;
    // The map knows Anna by her IdP login on the corporate domain; Slack by example.com.
    identity_map(
        &world,
        "slack_user_id,idp_login,cloud_principal\n\
         ,anna@corp.example,arn:aws:iam::123456789012:user/x-77\n",
    )
    .await;
    world.policy.domain_aliases =
        secops_shared::review::identity::DomainAliases::parse("corp.example,example.com").unwrap();
    let (review, ts) = world
        .card_awaiting_review("arn:aws:iam::123456789012:user/x-77")
        .await;

    world
        .click("U0ANNA", APPROVE, review, REVIEW_CHANNEL, &ts)
        .await;

    assert_eq!(
        world.told("U0ANNA"),
        ["You cannot review a grant made to you."]
    );
    assert!(world.bus.take().is_empty());
}
