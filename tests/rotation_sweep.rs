//! The rotation sweep end to end on Postgres and a fake Slack: who is nudged, in which tone,
//! how often, what survives a retry, and what the security lead's digest says.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secops_shared::ports::{PortError, Posted};
use secops_shared::rotation::ports::RotationChat;
use secops_shared::rotation::workflow::DigestOutcome;
use secops_tests::rotation::{DIGEST_CHANNEL, RotationWorld, at, date, monday, shown_text};
use secops_tests::snapshots;
use serde_json::Value;

/// A nudge's row id in its buttons' block id (`rotation:<consumer>:<nudge>`): teams are nudged
/// concurrently, so which team's row comes first varies from run to run.
const NUDGE_ID: &[(&str, &str)] = &[(r#""rotation:(\d+):\d+""#, r#""rotation:$1:[nudge id]""#)];

const CAMPAIGN: &str = "stripe-2026,stripe-live-2024,stripe-live-2026,2026-11-10\n";

fn row(name: &str, team: &str, channel: &str, lead: &str, deadline: &str) -> String {
    format!("stripe-2026,{name},{team},{channel},{lead},{deadline},,,\n")
}

fn rows(list: &[(&str, &str, &str, &str, &str)]) -> String {
    list.iter()
        .map(|(n, t, c, l, d)| row(n, t, c, l, d))
        .collect()
}

async fn world_with(list: &[(&str, &str, &str, &str, &str)]) -> RotationWorld {
    let world = RotationWorld::new().await;
    for (_, _, channel, _, _) in list {
        // Ghost channels are left unknown to Slack: `channel_not_found`.
        if !channel.is_empty() && !channel.starts_with("C0GHOST") {
            world.slack.add_channel(channel);
        }
    }
    world.load(CAMPAIGN, &rows(list)).await;
    world
}

#[tokio::test]
async fn each_threshold_sets_the_tone_and_who_is_mentioned() {
    let world = world_with(&[
        ("due-today", "t0", "C0TEAM00", "U0LEAD00", "2026-11-23"),
        ("one-day", "t1", "C0TEAM01", "U0LEAD01", "2026-11-22"),
        ("three-days", "t3", "C0TEAM03", "U0LEAD03", "2026-11-20"),
        ("four-days", "t4", "C0TEAM04", "U0LEAD04", "2026-11-19"),
        ("seven-days", "t7", "C0TEAM07", "U0LEAD07", "2026-11-16"),
        ("eight-days", "t8", "C0TEAM08", "U0LEAD08", "2026-11-15"),
        ("fourteen-days", "t14", "C0TEAM14", "U0LEAD14", "2026-11-09"),
        ("fifteen-days", "t15", "C0TEAM15", "U0LEAD15", "2026-11-08"),
    ])
    .await;
    let report = world.sweep(monday()).await;
    assert_eq!(report.nudged, 7, "{report:?}");
    let text_in = |channel: &str| {
        let found: Vec<String> = world
            .nudges()
            .iter()
            .filter(|m| m.channel == channel)
            .map(shown_text)
            .collect();
        assert!(found.len() <= 1, "one message per team: {found:?}");
        found.into_iter().next()
    };
    assert_eq!(
        text_in("C0TEAM00"),
        None,
        "the deadline day itself is not late"
    );
    for (channel, tone) in [
        ("C0TEAM01", "friendly reminder"),
        ("C0TEAM03", "friendly reminder"),
        ("C0TEAM04", "past the rotation deadline"),
        ("C0TEAM07", "past the rotation deadline"),
        ("C0TEAM08", "*Urgent*"),
        ("C0TEAM14", "*Urgent*"),
        ("C0TEAM15", "*Critical*"),
    ] {
        let text = text_in(channel).unwrap_or_else(|| panic!("{channel} was nudged"));
        assert!(text.contains(tone), "{channel}: {text}");
        let lead = channel.replace("C0TEAM", "U0LEAD");
        let lead_mentioned = text.contains(&format!("<@{lead}>"));
        let urgent_or_worse = matches!(channel, "C0TEAM08" | "C0TEAM14" | "C0TEAM15");
        assert_eq!(lead_mentioned, urgent_or_worse, "{channel}: {text}");
        assert_eq!(
            text.contains("<@U0SECLEAD>"),
            channel == "C0TEAM15",
            "{channel}: {text}"
        );
    }
    assert!(
        text_in("C0TEAM01")
            .unwrap()
            .contains("1 day overdue, first reminder")
    );
    assert!(
        text_in("C0TEAM15")
            .unwrap()
            .contains("*fifteen-days* on `stripe-live-2024`: deadline 2026-11-08, 15 days overdue")
    );
    // The nudge of each tone as the team reads it.
    for (channel, tone) in [
        ("C0TEAM01", "gentle"),
        ("C0TEAM04", "firm"),
        ("C0TEAM08", "urgent"),
        ("C0TEAM15", "critical"),
    ] {
        let nudge = world
            .nudges()
            .into_iter()
            .find(|m| m.channel == channel)
            .unwrap();
        let (text, blocks) = nudge.shown();
        snapshots::settings(NUDGE_ID).bind(|| {
            insta::assert_json_snapshot!(
                format!("nudge_{tone}"),
                serde_json::json!({"channel": channel, "text": text, "blocks": blocks})
            )
        });
    }
}

#[tokio::test]
async fn days_overdue_are_counted_in_the_configured_timezone() {
    // 23:30 UTC on the deadline day is already the next day in Tokyo, not in New York.
    let late_evening: DateTime<Utc> = at(2026, 11, 23, 23) + chrono::Duration::minutes(30);
    let list = [("edge", "edge", "C0EDGE00", "", "2026-11-23")];
    let mut tokyo = world_with(&list).await;
    tokyo.settings.timezone = "Asia/Tokyo".parse().unwrap();
    assert_eq!(tokyo.sweep(late_evening).await.nudged, 1);
    let mut new_york = world_with(&list).await;
    new_york.settings.timezone = "America/New_York".parse().unwrap();
    assert_eq!(new_york.sweep(late_evening).await.nudged, 0);
}

#[tokio::test]
async fn each_team_gets_one_message_listing_only_its_own_consumers() {
    let world = world_with(&[
        ("billing-api", "payments", "C0PAYMENTS", "", "2026-11-20"),
        ("refunds", "payments", "C0PAYMENTS", "", "2026-11-12"),
        ("payouts", "payments", "C0PAYMENTS", "", "2026-11-21"),
        ("ledger", "finance", "C0FINANCE", "", "2026-11-20"),
        ("reports", "finance", "C0FINANCE", "", "2026-11-19"),
    ])
    .await;
    let report = world.sweep(monday()).await;
    assert_eq!((report.messages, report.nudged), (2, 5));
    let nudges = world.nudges();
    let payments = shown_text(nudges.iter().find(|m| m.channel == "C0PAYMENTS").unwrap());
    let finance = shown_text(nudges.iter().find(|m| m.channel == "C0FINANCE").unwrap());
    for name in ["billing-api", "refunds", "payouts"] {
        assert!(payments.contains(name) && !finance.contains(name), "{name}");
    }
    for name in ["ledger", "reports"] {
        assert!(finance.contains(name) && !payments.contains(name), "{name}");
    }
    // The tone follows the latest consumer: refunds is 11 days late.
    assert!(payments.contains("*Urgent*"), "{payments}");
    // The latest comes first.
    assert!(
        payments.find("refunds") < payments.find("billing-api"),
        "{payments}"
    );
}

#[tokio::test]
async fn a_rerun_the_same_day_nudges_nobody_again_and_the_next_day_counts_on() {
    let world = world_with(&[("billing-api", "payments", "C0PAYMENTS", "", "2026-11-20")]).await;
    assert_eq!(world.sweep(monday()).await.nudged, 1);
    let rerun = world.sweep(monday() + chrono::Duration::minutes(5)).await;
    assert_eq!((rerun.nudged, rerun.messages), (0, 0), "{rerun:?}");
    assert_eq!(world.nudges().len(), 1);
    assert_eq!(world.state("billing-api").await, ("pending".to_owned(), 1));

    let tuesday = at(2026, 11, 24, 9);
    assert_eq!(world.sweep(tuesday).await.nudged, 1);
    assert_eq!(world.state("billing-api").await.1, 2);
    let second = shown_text(&world.nudges()[1]);
    assert!(
        second.contains("4 days overdue, reminded once before"),
        "{second}"
    );
    assert!(
        second.contains("past the rotation deadline"),
        "firm from day 4: {second}"
    );
}

#[tokio::test]
async fn weekends_are_skipped_when_configured() {
    let mut world =
        world_with(&[("billing-api", "payments", "C0PAYMENTS", "", "2026-11-20")]).await;
    let saturday = at(2026, 11, 28, 9);
    let report = world.sweep(saturday).await;
    assert!(report.skipped.is_some(), "{report:?}");
    assert!(world.slack.messages().is_empty());
    world.settings.skip_weekends = false;
    assert_eq!(world.sweep(saturday).await.nudged, 1);
}

/// Posts through the fake Slack, then never answers after `hang_after` posts: the sweep is
/// cut off there, as a Lambda timeout or crash would cut it.
struct HangingChat<'a> {
    world: &'a RotationWorld,
    hang_after: usize,
    posts: Mutex<usize>,
}

impl RotationChat for HangingChat<'_> {
    async fn post(&self, channel: &str, text: &str, blocks: &Value) -> Result<Posted, PortError> {
        let result = RotationChat::post(&self.world.chat, channel, text, blocks).await;
        let n = {
            let mut posts = self.posts.lock().unwrap();
            *posts += 1;
            *posts
        };
        if n > self.hang_after {
            std::future::pending::<()>().await;
        }
        result
    }
}

#[tokio::test]
async fn a_sweep_cut_off_mid_run_and_retried_nudges_no_consumer_twice() {
    let mut world = world_with(&[
        ("a1", "alpha", "C0ALPHA0", "", "2026-11-20"),
        ("a2", "alpha", "C0ALPHA0", "", "2026-11-20"),
        ("b1", "bravo", "C0BRAVO0", "", "2026-11-20"),
        ("c1", "charlie", "C0CHARLI", "", "2026-11-20"),
        ("d1", "delta", "C0DELTA0", "", "2026-11-20"),
    ])
    .await;
    world.settings.concurrency = 1;
    let hanging = HangingChat {
        world: &world,
        hang_after: 1,
        posts: Mutex::new(0),
    };
    // alpha is posted and recorded; bravo is posted but the sweep dies before recording it.
    let cut = tokio::time::timeout(
        Duration::from_millis(500),
        world.sweep_with(&hanging, monday()),
    )
    .await;
    assert!(cut.is_err(), "the first sweep was cut off");
    assert_eq!(world.nudges().len(), 2);

    let retry = world.sweep(monday() + chrono::Duration::minutes(2)).await;
    assert_eq!(
        retry.nudged, 2,
        "only charlie and delta are left: {retry:?}"
    );
    let mut listed: Vec<String> = Vec::new();
    for message in world.nudges() {
        let text = shown_text(&message);
        for name in ["a1", "a2", "b1", "c1", "d1"] {
            if text.contains(&format!("*{name}*")) {
                listed.push(name.to_owned());
            }
        }
    }
    listed.sort();
    assert_eq!(
        listed,
        ["a1", "a2", "b1", "c1", "d1"],
        "each consumer exactly once"
    );
}

/// Confirms a consumer of another team the moment the first message is posted.
struct ConfirmingChat<'a> {
    world: &'a RotationWorld,
    confirm: &'a str,
}

impl RotationChat for ConfirmingChat<'_> {
    async fn post(&self, channel: &str, text: &str, blocks: &Value) -> Result<Posted, PortError> {
        let id = self.world.consumer_id(self.confirm).await;
        self.world
            .store()
            .confirm(id, "U0QUICK0", monday())
            .await
            .unwrap();
        RotationChat::post(&self.world.chat, channel, text, blocks).await
    }
}

#[tokio::test]
async fn a_consumer_confirmed_mid_run_is_not_nudged() {
    let mut world = world_with(&[
        ("a1", "alpha", "C0ALPHA0", "", "2026-11-20"),
        ("z1", "zulu", "C0ZULU00", "", "2026-11-20"),
        ("z2", "zulu", "C0ZULU00", "", "2026-11-20"),
    ])
    .await;
    world.settings.concurrency = 1;
    let chat = ConfirmingChat {
        world: &world,
        confirm: "z1",
    };
    let report = world.sweep_with(&chat, monday()).await;
    assert_eq!(report.nudged, 2, "{report:?}");
    let zulu = shown_text(
        world
            .nudges()
            .iter()
            .find(|m| m.channel == "C0ZULU00")
            .unwrap(),
    );
    assert!(zulu.contains("*z2*") && !zulu.contains("*z1*"), "{zulu}");
    assert_eq!(world.state("z1").await, ("confirmed".to_owned(), 0));
}

#[tokio::test]
async fn a_digest_slack_refuses_reports_slacks_code_and_is_tried_again_next_run() {
    let mut world = world_with(&[("ok-job", "healthy", "C0HEALTH", "", "2026-11-20")]).await;
    world.settings.digest_to = Some("C0GHOSTD".to_owned());

    let report = world.sweep(monday()).await;

    assert_eq!(
        report.digest,
        DigestOutcome::Failed {
            error: "channel_not_found".to_owned()
        }
    );
    world.slack.add_channel("C0GHOSTD");
    let retried = world.sweep(monday() + chrono::Duration::hours(1)).await;
    assert!(
        matches!(retried.digest, DigestOutcome::Sent { .. }),
        "{:?}",
        retried.digest
    );
}

#[tokio::test]
async fn undeliverable_teams_are_in_the_digest_and_tried_again_next_run() {
    let world = world_with(&[
        ("ok-job", "healthy", "C0HEALTH", "", "2026-11-20"),
        ("lost-job", "nochannel", "", "", "2026-11-20"),
        ("archived-job", "archived", "C0ARCHIV", "", "2026-11-20"),
        ("kicked-job", "kicked", "C0KICKED", "", "2026-11-20"),
        ("ghost-job", "ghost", "C0GHOST0", "", "2026-11-20"),
    ])
    .await;
    world.slack.archive("C0ARCHIV");
    world.slack.remove_bot_from("C0KICKED");
    // C0GHOST0 is never created on the fake: channel_not_found.
    let report = world.sweep(monday()).await;
    assert_eq!(report.nudged, 1);
    let reasons: Vec<(String, String)> = report
        .undeliverable
        .iter()
        .map(|u| (u.team.clone(), u.reason.clone()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("archived".to_owned(), "is_archived".to_owned()),
            ("ghost".to_owned(), "channel_not_found".to_owned()),
            ("kicked".to_owned(), "not_in_channel".to_owned()),
            ("nochannel".to_owned(), "no channel on record".to_owned()),
        ]
    );
    let digest = shown_text(&world.digests()[0]);
    for line in [
        "archived (<#C0ARCHIV>): is_archived, 1 consumer not told",
        "ghost (<#C0GHOST0>): channel_not_found",
        "kicked (<#C0KICKED>): not_in_channel",
        "nochannel (no channel): no channel on record",
    ] {
        assert!(digest.contains(line), "{line}\n{digest}");
    }
    for name in ["archived-job", "kicked-job", "ghost-job"] {
        assert_eq!(
            world.state(name).await.1,
            0,
            "{name} was not counted as nudged"
        );
    }
    // Fixed the same day: a rerun reaches them at once (the failed claim was released).
    world.slack.add_channel("C0GHOST0");
    let rerun = world.sweep(monday() + chrono::Duration::hours(1)).await;
    assert_eq!(rerun.nudged, 1, "{rerun:?}");
    assert_eq!(world.state("ghost-job").await.1, 1);
    assert_eq!(rerun.undeliverable.len(), 3);
}

#[tokio::test]
async fn slack_rate_limits_are_waited_out_and_one_channel_is_paced() {
    let mut world = RotationWorld::new().await;
    world.slack.add_channel("C0BIGTEAM");
    let many: String = (0..30)
        .map(|i| row(&format!("svc-{i:02}"), "big", "C0BIGTEAM", "", "2026-11-20"))
        .collect();
    world.load(CAMPAIGN, &many).await;
    world.settings.channel_spacing = Duration::from_millis(300);
    world.slack.rate_limit_next(1);
    let report = world.sweep(monday()).await;
    assert_eq!((report.nudged, report.messages), (30, 2), "{report:?}");
    let texts: Vec<String> = world.nudges().iter().map(shown_text).collect();
    assert!(texts[0].contains("Part 1 of 2") && texts[1].contains("Part 2 of 2"));
    let times = world.slack.post_times("C0BIGTEAM");
    assert_eq!(
        times.len(),
        3,
        "the rate-limited attempt, its retry, the second part"
    );
    let gap = times[2] - times[0];
    assert!(
        gap >= Duration::from_millis(250),
        "parts were {gap:?} apart"
    );
}

#[tokio::test]
async fn the_digest_reports_buckets_teams_criticals_repeats_and_confirmations_once_a_day() {
    let world = world_with(&[
        ("old-batch", "batch", "C0BATCH0", "", "2026-11-01"),
        ("billing-api", "payments", "C0PAYMENTS", "", "2026-11-20"),
        ("refunds", "payments", "C0PAYMENTS", "", "2026-11-20"),
        ("cron", "ops", "C0OPS000", "", "2026-11-20"),
    ])
    .await;
    // Three working days of nudges.
    for day in [19, 20] {
        world.sweep(at(2026, 11, day, 9)).await;
    }
    let cron = world.consumer_id("cron").await;
    world
        .store()
        .confirm(cron, "U0ANNA00", at(2026, 11, 21, 10))
        .await
        .unwrap();
    let capture = secops_tests::logs::LogCapture::start();
    let report = world.sweep(monday()).await;
    assert!(
        matches!(report.digest, DigestOutcome::Sent { .. }),
        "{report:?}"
    );
    let logs = capture.text();
    let summary = logs
        .lines()
        .find(|l| l.contains("rotation sweep summary"))
        .expect("a summary line");
    assert!(
        summary.contains("digest=\"sent\"") || summary.contains("digest=sent"),
        "the digest outcome as a plain value: {summary}"
    );
    assert!(!summary.contains("Sent {"), "no Debug form: {summary}");
    let digests = world.digests();
    let today = shown_text(digests.last().unwrap());
    assert!(
        today.contains("Rotation digest for 2026-11-23: 3 consumers outstanding across 2 teams."),
        "{today}"
    );
    assert!(
        today.contains("gentle: 2 · firm: 0 · urgent: 0 · critical: 1"),
        "{today}"
    );
    assert!(today.contains("• batch: 1 (critical at worst)"), "{today}");
    assert!(
        today.contains("*old-batch* (batch, stripe-2026): 22 days overdue, nudged 3×"),
        "{today}"
    );
    assert!(
        today.contains("Nudged 3+ times without a response"),
        "{today}"
    );
    assert!(today.contains("*old-batch* (batch): nudged 3×"), "{today}");
    assert!(
        today.contains("*cron* (ops) by <@U0ANNA00> on 2026-11-21"),
        "{today}"
    );
    assert!(
        !today.contains("*billing-api* (payments): nudged"),
        "nudged once only: {today}"
    );
    let digest = digests.last().unwrap();
    let (text, blocks) = digest.shown();
    snapshots::settings(&[]).bind(|| {
        insta::assert_json_snapshot!(
            "security_lead_digest",
            serde_json::json!({"channel": digest.channel, "text": text, "blocks": blocks})
        )
    });

    // A rerun the same day sends no second digest.
    let before = world.digests().len();
    let rerun = world.sweep(monday() + chrono::Duration::hours(2)).await;
    assert_eq!(rerun.digest, DigestOutcome::AlreadySent);
    assert_eq!(world.digests().len(), before);
    // The next digest lists only newer confirmations.
    let tuesday = world.sweep(at(2026, 11, 24, 9)).await;
    assert!(matches!(tuesday.digest, DigestOutcome::Sent { .. }));
    let next = shown_text(world.digests().last().unwrap());
    assert!(!next.contains("*cron*"), "{next}");
    assert_eq!(
        world
            .digests()
            .iter()
            .filter(|m| m.channel == DIGEST_CHANNEL)
            .count(),
        before + 1
    );
}

#[tokio::test]
async fn an_import_with_one_bad_row_writes_nothing_at_all() {
    let world = RotationWorld::new().await;
    let error = world
        .try_load(
            CAMPAIGN,
            &format!(
                "{}stripe-2025,ledger,finance,,,2026-11-20,,,\n",
                row("billing-api", "payments", "", "", "2026-11-20")
            ),
            monday(),
        )
        .await
        .unwrap_err();
    assert!(error.contains("nothing imported"), "{error}");
    assert!(
        error.contains("row 2, field `campaign`: \"stripe-2025\" is not a known campaign"),
        "{error}"
    );
    let client = world.review_store.connection().lock().await;
    for table in ["rotation_campaigns", "rotation_consumers"] {
        let n: i64 = client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{table} is empty");
    }
}

#[tokio::test]
async fn moving_the_campaign_deadline_moves_every_consumer_without_its_own() {
    let world = world_with(&[
        ("follows", "payments", "C0PAYMENTS", "", ""),
        ("own-date", "payments", "C0PAYMENTS", "", "2026-11-20"),
    ])
    .await;
    assert_eq!(world.sweep(monday()).await.outstanding, 2);
    world
        .load(
            "stripe-2026,stripe-live-2024,stripe-live-2026,2026-12-15\n",
            "",
        )
        .await;
    let later = world.sweep(at(2026, 11, 24, 9)).await;
    assert_eq!(
        later.outstanding, 1,
        "only own-date is still late: {later:?}"
    );
}

#[tokio::test]
async fn a_reimport_updates_facts_and_keeps_history_and_status() {
    let world = world_with(&[("billing-api", "payments", "C0PAYMENTS", "", "2026-11-20")]).await;
    world.sweep(monday()).await;
    let id = world.consumer_id("billing-api").await;
    let summary = world
        .load(
            CAMPAIGN,
            &row("Billing-API", "payments-core", "C0PAYCORE", "U0LEAD00", ""),
        )
        .await;
    assert_eq!((summary.consumers_added, summary.consumers_updated), (0, 1));
    assert_eq!(
        world.consumer_id("Billing-API").await,
        id,
        "matched case-insensitively"
    );
    assert_eq!(world.state("Billing-API").await, ("pending".to_owned(), 1));
    let outstanding = world
        .store()
        .outstanding(date(2026, 11, 24), monday())
        .await
        .unwrap();
    assert_eq!(outstanding[0].team, "payments-core");
    assert_eq!(
        outstanding[0].deadline,
        date(2026, 11, 10),
        "a blank deadline is the campaign's"
    );
    // A confirmation survives a re-import with a blank status.
    world
        .store()
        .confirm(id, "U0ANNA00", monday())
        .await
        .unwrap();
    world
        .load(
            CAMPAIGN,
            &row("billing-api", "payments", "C0PAYMENTS", "", "2026-11-20"),
        )
        .await;
    assert_eq!(world.state("billing-api").await.0, "confirmed");
}

#[tokio::test]
async fn counts_read_as_english_in_nudges_and_the_digest() {
    let world = world_with(&[
        ("billing-api", "payments", "C0PAYMENTS", "", "2026-11-22"),
        ("ledger", "finance", "C0FINANCE", "", "2026-11-20"),
        ("reports", "finance", "C0FINANCE", "", "2026-11-19"),
    ])
    .await;
    world.sweep(monday()).await;
    let nudges = world.nudges();
    let payments = nudges.iter().find(|m| m.channel == "C0PAYMENTS").unwrap();
    let finance = nudges.iter().find(|m| m.channel == "C0FINANCE").unwrap();
    assert_eq!(
        payments.text,
        "1 consumer of payments still on a retired key (gentle)"
    );
    assert_eq!(
        finance.text,
        "2 consumers of finance still on a retired key (firm)"
    );
    assert!(shown_text(payments).contains("1 day overdue"));
    for message in world.slack.messages() {
        let shown = shown_text(&message);
        assert!(!shown.contains("(s)"), "{shown}");
    }
}

#[tokio::test]
async fn every_part_of_a_split_message_carries_the_teams_tone_and_mentions() {
    let world = RotationWorld::new().await;
    world.slack.add_channel("C0BIGTEAM");
    // One critical consumer (listed first, latest first) and 29 gentle ones: 2 parts.
    let mut many = row("ancient", "big", "C0BIGTEAM", "U0BIGLEAD", "2026-11-01");
    for i in 0..29 {
        many.push_str(&row(
            &format!("svc-{i:02}"),
            "big",
            "C0BIGTEAM",
            "U0BIGLEAD",
            "2026-11-21",
        ));
    }
    world.load(CAMPAIGN, &many).await;
    let report = world.sweep(monday()).await;
    assert_eq!((report.nudged, report.messages), (30, 2), "{report:?}");
    let parts = world.nudges();
    assert_eq!(parts.len(), 2);
    for (n, part) in parts.iter().enumerate() {
        let shown = shown_text(part);
        assert!(
            part.text
                .ends_with(&format!("(critical), part {} of 2", n + 1)),
            "{}",
            part.text
        );
        assert!(shown.contains("*Critical*, big"), "part {}: {shown}", n + 1);
        assert!(
            shown.contains("<@U0BIGLEAD> <@U0SECLEAD>"),
            "part {}: {shown}",
            n + 1
        );
        assert!(
            !shown.contains("friendly reminder"),
            "part {}: {shown}",
            n + 1
        );
    }
    assert!(shown_text(&parts[0]).contains("*ancient*"));
    assert!(!shown_text(&parts[1]).contains("*ancient*"));
}

#[tokio::test]
async fn a_missed_friday_is_replayed_on_saturday_with_its_own_days_overdue_and_digest() {
    let world = world_with(&[("billing-api", "payments", "C0PAYMENTS", "", "2026-11-20")]).await;
    world.sweep(at(2026, 11, 26, 9)).await;
    assert!(shown_text(world.nudges().last().unwrap()).contains("6 days overdue"));
    // Friday's sweep never ran. On Saturday a plain run does nothing (a weekend)...
    let saturday = at(2026, 11, 28, 10);
    assert!(world.sweep(saturday).await.skipped.is_some());
    // ...and a replay of Friday does Friday's work.
    let friday = serde_json::json!({"workflow": "rotation-chaser", "as_of": "2026-11-27"});
    let replay = world.sweep_input(&friday, saturday).await.unwrap();
    assert_eq!(replay.date, date(2026, 11, 27));
    assert_eq!((replay.skipped.as_deref(), replay.nudged), (None, 1));
    let nudge = shown_text(world.nudges().last().unwrap());
    assert!(
        nudge.contains("7 days overdue, reminded once before"),
        "{nudge}"
    );
    assert!(
        matches!(replay.digest, DigestOutcome::Sent { .. }),
        "{replay:?}"
    );
    let digest = shown_text(world.digests().last().unwrap());
    assert!(
        digest.contains("Rotation digest for 2026-11-27: 1 consumer outstanding"),
        "{digest}"
    );
    // Replaying it twice changes nothing.
    let again = world
        .sweep_input(&friday, saturday + chrono::Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(
        (again.nudged, again.digest),
        (0, DigestOutcome::AlreadySent)
    );
    assert_eq!(world.state("billing-api").await.1, 2);
    // Monday goes on as usual.
    let monday_after = world.sweep(at(2026, 11, 30, 9)).await;
    assert_eq!(monday_after.nudged, 1);
    assert!(
        shown_text(world.nudges().last().unwrap()).contains("10 days overdue, reminded 2 times")
    );
}

#[tokio::test]
async fn a_replay_outside_the_recent_past_is_refused_and_does_nothing() {
    let world = world_with(&[("billing-api", "payments", "C0PAYMENTS", "", "2026-11-20")]).await;
    let saturday = at(2026, 11, 28, 10);
    for (as_of, why) in [
        ("2026-11-29", "is in the future"),
        ("2026-11-20", "8 days back"),
        ("Friday", "not a date as YYYY-MM-DD"),
    ] {
        let input = serde_json::json!({"workflow": "rotation-chaser", "as_of": as_of});
        let error = world.sweep_input(&input, saturday).await.unwrap_err();
        assert!(error.contains(why), "{as_of}: {error}");
        assert!(
            error.contains("nothing done") && !error.contains('\n'),
            "{error}"
        );
    }
    assert!(world.slack.messages().is_empty());
    assert_eq!(world.state("billing-api").await, ("pending".to_owned(), 0));
    let client = world.review_store.connection().lock().await;
    let digests: i64 = client
        .query_one("SELECT count(*) FROM rotation_digests", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(digests, 0);
}
