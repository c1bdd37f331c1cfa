//! "Confirmed: on the new key" and "Snooze" clicks, signed as Slack signs them, through the
//! project's one interactivity endpoint: who may click, what changes, how the nudge is redrawn,
//! and that chasing stops (or resumes after a snooze).

use secops_shared::rotation::message::{CONFIRM, SNOOZE};
use secops_shared::slack_router::{
    Handled, NOT_ENABLED_REVIEW, NOT_ENABLED_ROTATION, RouterWorkflows,
};
use secops_tests::fake_slack::FakeMessage;
use secops_tests::rotation::{
    RotationWorld, SECURITY_GROUP, SIGNING_SECRET, at, monday, shown_text,
};
use serde_json::Value;

const CAMPAIGN: &str = "stripe-2026,stripe-live-2024,stripe-live-2026,2026-11-10\n";
const PAYMENTS: &str = "C0PAYMENTS";
const MEMBER: &str = "U0ANNA00";
const OUTSIDER: &str = "U0MALLORY";
const SECURITY: &str = "U0SECTEAM";

/// Two overdue payments consumers, nudged once on Monday.
async fn nudged_world() -> (RotationWorld, FakeMessage) {
    let world = RotationWorld::new().await;
    world.slack.add_channel(PAYMENTS);
    world
        .slack
        .set_channel_members(PAYMENTS, &[MEMBER, "U0BOB000"]);
    world.slack.set_usergroup(SECURITY_GROUP, &[SECURITY]);
    world
        .load(
            CAMPAIGN,
            "stripe-2026,billing-api,payments,C0PAYMENTS,,2026-11-20,,,\n\
             stripe-2026,refunds,payments,C0PAYMENTS,,2026-11-20,,,\n",
        )
        .await;
    assert_eq!(world.sweep(monday()).await.nudged, 2);
    let nudge = world.nudges().remove(0);
    (world, nudge)
}

fn current(world: &RotationWorld, nudge: &FakeMessage) -> String {
    let now = world
        .slack
        .messages()
        .into_iter()
        .find(|m| m.ts == nudge.ts && m.channel == nudge.channel)
        .unwrap();
    shown_text(&now)
}

#[tokio::test]
async fn a_channel_member_confirms_the_message_is_redrawn_and_chasing_stops() {
    let (world, nudge) = nudged_world().await;
    let reply = world
        .click(MEMBER, CONFIRM, "billing-api", &nudge, monday())
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(world.state("billing-api").await.0, "confirmed");
    let shown = current(&world, &nudge);
    assert!(
        shown.contains("Confirmed on the new key by <@U0ANNA00> on 2026-11-23"),
        "{shown}"
    );
    assert_eq!(
        shown.matches(CONFIRM).count(),
        1,
        "refunds keeps its buttons: {shown}"
    );
    // Tuesday: only refunds is chased.
    let tuesday = world.sweep(at(2026, 11, 24, 9)).await;
    assert_eq!(tuesday.nudged, 1);
    let latest = shown_text(world.nudges().last().unwrap());
    assert!(
        latest.contains("*refunds*") && !latest.contains("*billing-api*"),
        "{latest}"
    );
    // A second click is told who was first, and changes nothing.
    world
        .click("U0BOB000", CONFIRM, "billing-api", &nudge, monday())
        .await;
    assert_eq!(
        world.told("U0BOB000"),
        ["Already confirmed by <@U0ANNA00>."]
    );
}

#[tokio::test]
async fn someone_outside_the_channel_and_the_security_group_is_refused_and_nothing_changes() {
    let (world, nudge) = nudged_world().await;
    let reply = world
        .click(OUTSIDER, CONFIRM, "billing-api", &nudge, monday())
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(world.state("billing-api").await, ("pending".to_owned(), 1));
    assert_eq!(
        world.told(OUTSIDER),
        [
            "Only members of the team's channel or the security group can confirm or snooze billing-api."
        ]
    );
    assert_eq!(world.slack.calls("chat.update"), 0);
}

#[tokio::test]
async fn the_security_group_may_confirm_for_a_team() {
    let (world, nudge) = nudged_world().await;
    world
        .click(SECURITY, CONFIRM, "refunds", &nudge, monday())
        .await;
    assert_eq!(world.state("refunds").await.0, "confirmed");
}

#[tokio::test]
async fn the_security_group_can_act_when_the_team_channel_cannot_be_checked() {
    let (world, nudge) = nudged_world().await;
    // A consumer whose team channel Slack no longer knows.
    world
        .load(
            CAMPAIGN,
            "stripe-2026,orphan-job,gone,C0GONE00,,2026-11-20,,,\n",
        )
        .await;
    world
        .click(OUTSIDER, CONFIRM, "orphan-job", &nudge, monday())
        .await;
    assert!(
        world.told(OUTSIDER)[0].starts_with("Your permission could not be checked"),
        "{:?}",
        world.told(OUTSIDER)
    );
    assert_eq!(world.state("orphan-job").await.0, "pending");
    world
        .click(SECURITY, CONFIRM, "orphan-job", &nudge, monday())
        .await;
    assert_eq!(world.state("orphan-job").await.0, "confirmed");
}

#[tokio::test]
async fn a_forged_click_is_refused_before_anything_is_read() {
    let (world, nudge) = nudged_world().await;
    let body = secops_shared::slack::interaction::click_body(
        MEMBER,
        CONFIRM,
        &world.consumer_id("billing-api").await.to_string(),
        &nudge.channel,
        &nudge.ts,
        &world.slack.response_url(MEMBER),
    );
    let reply = world
        .send_signed_with("not-the-secret", &body, monday())
        .await;
    assert_eq!(reply.status, 401);
    assert_eq!(world.state("billing-api").await.0, "pending");
    assert_eq!(world.slack.calls("conversations.members"), 0);
}

#[tokio::test]
async fn snooze_opens_a_form_and_a_submitted_snooze_pauses_chasing_until_it_ends() {
    let (world, nudge) = nudged_world().await;
    let reply = world
        .click(MEMBER, SNOOZE, "refunds", &nudge, monday())
        .await;
    assert_eq!(reply.status, 200);
    let views = world.slack.opened_views();
    assert_eq!(views.len(), 1);
    let form = &views[0].1;
    assert_eq!(form["callback_id"], "rotation_snooze_form");
    assert_eq!(
        form["blocks"][2]["element"]["options"]
            .as_array()
            .map(Vec::len),
        Some(7),
        "1 to 7 days: {form}"
    );

    // An empty reason keeps the form open with an error next to it.
    let empty = world
        .submit_snooze(MEMBER, "refunds", &nudge, Some("  "), Some("3"), monday())
        .await;
    assert_eq!(empty.content_type, "application/json");
    let errors: Value = serde_json::from_str(&empty.body).unwrap();
    assert_eq!(errors["response_action"], "errors");
    assert!(errors["errors"]["reason"].is_string(), "{errors}");
    // More days than allowed is refused too.
    let long = world
        .submit_snooze(
            MEMBER,
            "refunds",
            &nudge,
            Some("vendor freeze"),
            Some("30"),
            monday(),
        )
        .await;
    assert!(
        long.body.contains("Choose between 1 and 7 days"),
        "{}",
        long.body
    );
    // An outsider cannot snooze.
    let outsider = world
        .submit_snooze(OUTSIDER, "refunds", &nudge, Some("x"), Some("3"), monday())
        .await;
    assert!(outsider.body.contains("Only members"), "{}", outsider.body);

    let ok = world
        .submit_snooze(
            MEMBER,
            "refunds",
            &nudge,
            Some("vendor <freeze>"),
            Some("3"),
            monday(),
        )
        .await;
    assert_eq!((ok.status, ok.body.as_str()), (200, ""));
    let shown = current(&world, &nudge);
    assert!(
        shown.contains("Snoozed by <@U0ANNA00> until 2026-11-26: vendor &lt;freeze&gt;"),
        "{shown}"
    );

    // Tuesday and Wednesday: refunds is not chased (billing-api is); Thursday it is again.
    for day in [24, 25] {
        world.sweep(at(2026, 11, day, 9)).await;
        let latest = shown_text(world.nudges().last().unwrap());
        assert!(!latest.contains("*refunds*"), "day {day}: {latest}");
    }
    let thursday = world.sweep(at(2026, 11, 26, 9)).await;
    assert_eq!(thursday.nudged, 2, "{thursday:?}");
    assert!(shown_text(world.nudges().last().unwrap()).contains("*refunds*"));
    // The snoozed consumer stayed in the digest meanwhile.
    assert!(
        world
            .digests()
            .iter()
            .any(|d| shown_text(d).contains("(1 snoozed)"))
    );
}

#[tokio::test]
async fn an_expired_form_trigger_is_told_not_lost() {
    let (world, nudge) = nudged_world().await;
    let id = world.consumer_id("refunds").await.to_string();
    let mut payload: Value = {
        let body = secops_shared::slack::interaction::click_body(
            MEMBER,
            SNOOZE,
            &id,
            &nudge.channel,
            &nudge.ts,
            &world.slack.response_url(MEMBER),
        );
        let form: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap();
        serde_json::from_str(&form[0].1).unwrap()
    };
    payload["trigger_id"] = Value::from("expired-trigger");
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    world.send(&body, monday()).await;
    let told = world.told(MEMBER);
    assert_eq!(told.len(), 1);
    assert!(told[0].contains("could not be opened"), "{told:?}");
    assert!(world.slack.opened_views().is_empty());
}

#[tokio::test]
async fn updating_the_table_stops_the_chase_too() {
    let (world, _) = nudged_world().await;
    world
        .load(
            CAMPAIGN,
            "stripe-2026,billing-api,payments,C0PAYMENTS,,2026-11-20,confirmed,,\n\
             stripe-2026,refunds,payments,C0PAYMENTS,,2026-11-20,exempt,partner contract,2026-11-30\n",
        )
        .await;
    let tuesday = world.sweep(at(2026, 11, 24, 9)).await;
    assert_eq!((tuesday.outstanding, tuesday.nudged), (0, 0), "{tuesday:?}");
    // The exemption lapses after its date: chasing resumes.
    let december = world.sweep(at(2026, 12, 1, 9)).await;
    assert_eq!(december.nudged, 1, "{december:?}");
    assert_eq!(
        world.state("refunds").await.1,
        2,
        "its nudge history was kept"
    );
}

/// Two payments consumers nudged on Monday by a sweep killed once Slack had the message.
async fn world_nudged_by_a_killed_sweep(consumers: &str) -> (RotationWorld, FakeMessage) {
    let world = RotationWorld::new().await;
    world.slack.add_channel(PAYMENTS);
    world
        .slack
        .set_channel_members(PAYMENTS, &[MEMBER, "U0BOB000"]);
    world.load(CAMPAIGN, consumers).await;
    world.sweep_killed_after(0, monday()).await;
    let nudges = world.nudges();
    assert_eq!(nudges.len(), 1, "Slack has the message");
    (world, nudges[0].clone())
}

const TWO_LATE: &str = "stripe-2026,billing-api,payments,C0PAYMENTS,,2026-11-20,,,\n\
                        stripe-2026,refunds,payments,C0PAYMENTS,,2026-11-20,,,\n";

#[tokio::test]
async fn a_click_on_a_nudge_whose_sweep_was_killed_redraws_it_and_the_next_nudge_counts_it() {
    let (world, nudge) = world_nudged_by_a_killed_sweep(TWO_LATE).await;
    let later = monday() + chrono::Duration::minutes(3);
    let reply = world
        .click(MEMBER, CONFIRM, "billing-api", &nudge, later)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(world.state("billing-api").await.0, "confirmed");
    let shown = current(&world, &nudge);
    assert!(
        shown.contains("Confirmed on the new key by <@U0ANNA00> on 2026-11-23"),
        "the message was redrawn: {shown}"
    );
    assert!(world.told(MEMBER).is_empty(), "{:?}", world.told(MEMBER));
    // The nudge counts: Tuesday's says refunds was reminded before.
    let tuesday = world.sweep(at(2026, 11, 24, 9)).await;
    assert_eq!(tuesday.nudged, 1, "{tuesday:?}");
    let latest = shown_text(world.nudges().last().unwrap());
    assert!(
        latest.contains("*refunds*") && latest.contains("reminded once before"),
        "{latest}"
    );
    assert_eq!(world.state("refunds").await, ("pending".to_owned(), 2));
}

#[tokio::test]
async fn a_killed_sweeps_nudge_counts_in_the_retry_digest_and_the_next_day_without_a_click() {
    let (world, _) = world_nudged_by_a_killed_sweep(
        "stripe-2026,old-batch,payments,C0PAYMENTS,,2026-11-01,,,\n",
    )
    .await;
    // Lambda retries two minutes later: nobody is nudged again, and the digest counts the
    // message the killed sweep delivered.
    let retry = world.sweep(monday() + chrono::Duration::minutes(2)).await;
    assert_eq!((retry.nudged, retry.messages), (0, 0), "{retry:?}");
    let digest = shown_text(world.digests().last().unwrap());
    assert!(
        digest.contains("*old-batch* (payments, stripe-2026): 22 days overdue, nudged 1×"),
        "{digest}"
    );
    // The next day's nudge says so too, and the count is recorded.
    world.sweep(at(2026, 11, 24, 9)).await;
    let latest = shown_text(world.nudges().last().unwrap());
    assert!(latest.contains("reminded once before"), "{latest}");
    assert_eq!(world.state("old-batch").await, ("pending".to_owned(), 2));
}

#[tokio::test]
async fn a_confirmation_whose_message_cannot_be_redrawn_is_told_to_the_clicker() {
    let (world, nudge) = nudged_world().await;
    // Someone archived the channel after the nudge: Slack refuses every update of it.
    world.slack.archive(PAYMENTS);
    let reply = world
        .click(MEMBER, CONFIRM, "billing-api", &nudge, monday())
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(world.state("billing-api").await.0, "confirmed");
    assert_eq!(
        world.told(MEMBER),
        [
            "Recorded: *billing-api* is confirmed on the new key and will not be chased again. This message could not be updated to show it."
        ]
    );
}

#[tokio::test]
async fn a_confirmation_on_a_message_that_is_no_recorded_nudge_is_told_to_the_clicker() {
    let (world, _) = nudged_world().await;
    let stranger = FakeMessage {
        channel: PAYMENTS.to_owned(),
        ts: "1700000999.000100".to_owned(),
        text: String::new(),
        blocks: Value::Null,
        updates: Vec::new(),
    };
    world
        .click(MEMBER, CONFIRM, "refunds", &stranger, monday())
        .await;
    assert_eq!(world.state("refunds").await.0, "confirmed");
    assert_eq!(world.told(MEMBER).len(), 1, "{:?}", world.told(MEMBER));
    assert!(world.told(MEMBER)[0].starts_with("Recorded: *refunds* is confirmed"));
}

#[tokio::test]
async fn a_slack_connect_member_or_a_guest_of_the_team_channel_cannot_confirm_or_snooze() {
    let (world, nudge) = nudged_world().await;
    // The payments channel is shared with a vendor: conversations.members lists their people.
    world
        .slack
        .set_channel_members(PAYMENTS, &[MEMBER, "U0VENDOR", "U0GUEST00"]);
    world
        .slack
        .set_external_user("U0VENDOR", "vendor", "T0VENDOR");
    world.slack.set_guest("U0GUEST00", "guest");

    for outsider in ["U0VENDOR", "U0GUEST00"] {
        world
            .click(outsider, CONFIRM, "billing-api", &nudge, monday())
            .await;
        let told = world.told(outsider);
        assert_eq!(told.len(), 1, "{outsider}: {told:?}");
        assert!(
            told[0].contains("Only full members of this workspace"),
            "{told:?}"
        );
        // The snooze form's permission is checked when it is sent.
        let snooze = world
            .submit_snooze(
                outsider,
                "billing-api",
                &nudge,
                Some("vendor says so"),
                Some("7"),
                monday(),
            )
            .await;
        assert!(
            snooze.body.contains("Only full members of this workspace"),
            "{outsider}: {}",
            snooze.body
        );
    }

    assert_eq!(world.state("billing-api").await, ("pending".to_owned(), 1));
    assert_eq!(world.slack.calls("chat.update"), 0);
    // A member of our workspace still confirms.
    world
        .click(MEMBER, CONFIRM, "billing-api", &nudge, monday())
        .await;
    assert_eq!(world.state("billing-api").await.0, "confirmed");
}

#[tokio::test]
async fn a_rotation_click_reaching_an_endpoint_without_the_chaser_is_told_and_changes_nothing() {
    let (world, nudge) = nudged_world().await;
    let review_only = RouterWorkflows {
        review: true,
        rotation: false,
    };
    let reply = world
        .click_on(
            review_only,
            MEMBER,
            CONFIRM,
            "billing-api",
            &nudge,
            monday(),
        )
        .await;
    assert_eq!((reply.status, reply.handled), (200, Handled::NotEnabled));
    assert_eq!(world.told(MEMBER), [NOT_ENABLED_ROTATION]);
    assert_eq!(world.state("billing-api").await, ("pending".to_owned(), 1));
    assert_eq!(world.slack.calls("chat.update"), 0);
}

#[tokio::test]
async fn a_review_click_reaching_an_endpoint_serving_only_the_chaser_is_told_and_records_nothing() {
    let (world, nudge) = nudged_world().await;
    let rotation_only = RouterWorkflows {
        review: false,
        rotation: true,
    };
    let body = secops_shared::slack::interaction::click_body(
        MEMBER,
        secops_shared::review::card::APPROVE,
        "6f1c1d2e-4b5a-4c3d-9e8f-0a1b2c3d4e5f",
        &nudge.channel,
        &nudge.ts,
        &world.slack.response_url(MEMBER),
    );
    let reply = world
        .send_to(rotation_only, SIGNING_SECRET, &body, monday())
        .await;
    assert_eq!((reply.status, reply.handled), (200, Handled::NotEnabled));
    assert_eq!(world.told(MEMBER), [NOT_ENABLED_REVIEW]);
    // The chaser's own buttons still work on the same endpoint.
    let reply = world
        .click_on(
            rotation_only,
            MEMBER,
            CONFIRM,
            "billing-api",
            &nudge,
            monday(),
        )
        .await;
    assert_eq!(reply.handled, Handled::RotationRecorded);
    assert_eq!(world.state("billing-api").await.0, "confirmed");
}
