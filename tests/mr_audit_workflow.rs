//! The MR audit end to end: a merge delivered through the webhook logic, audited by the worker
//! against fake GitLab, Linear, Confluence and Slack, on a fresh database. Each test asserts on
//! what people see: the Linear issue, the rows on the audit page, the Slack messages.

use std::sync::Arc;

use secops_shared::mr_audit::duties::Finding;
use secops_shared::mr_audit::evidence::{COLUMNS, header_row};
use secops_shared::mr_audit::links::MAX_LINKED;
use secops_shared::mr_audit::projects::ProjectAllowlist;
use secops_shared::mr_audit::workflow::AuditOutcome;
use secops_tests::drift::fast_retry;
use secops_tests::mr_audit::{
    AUDIT_INTRO, AUDIT_PAGE, AUDIT_TITLE, AUDITED_LABEL, AUTHOR, CRYPTO_CHANNEL, DEFAULT_CHANNEL,
    EXISTING_LABEL, Headers, MERGER, MergedMr, MrAuditWorld, REVIEWER, SECURITY_CHANNEL,
    audit_rows, reply_json,
};
use secops_tests::snapshots;
use serde_json::{Value, json};

/// A title with everything XHTML storage format must escape.
const NASTY_TITLE: &str = r#"Fix <script> & "quotes" ]]> in MS-Viewport (SEC-123)"#;

/// The documentation example's MR (`gitlabhq/gitlab-test!1`), now merged, labelled
/// `security::crypto` and linked to SEC-123.
fn docs_variant() -> MergedMr {
    MergedMr::security(1, NASTY_TITLE).described("Closes SEC-123.")
}

fn done(outcome: &AuditOutcome) -> bool {
    matches!(outcome, AuditOutcome::Done { .. })
}

#[tokio::test]
async fn the_documentation_payload_merged_is_audited_end_to_end() {
    let world = MrAuditWorld::new().await;
    let issue = world.tracking_issue(123);
    let mr = docs_variant();

    let reply = world.deliver_merge(&mr).await;
    let outcomes = world.run_worker().await;

    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(
        outcomes,
        [(
            "1:1".to_owned(),
            AuditOutcome::Done {
                reference: "gitlabhq/gitlab-test!1".to_owned(),
                findings: vec![],
                linked: vec!["SEC-123".to_owned()],
                resolved: vec!["SEC-123".to_owned()],
                mentioned: vec![],
                over_cap: false,
                not_found: vec![],
                links_ignored: 0,
            }
        )]
    );
    // Linear: done, audited, other labels kept, one comment naming the approver.
    assert_eq!(world.linear_fake.issue_state(&issue), "Done");
    assert_eq!(
        world.linear_fake.issue_labels(&issue),
        [EXISTING_LABEL, AUDITED_LABEL]
    );
    let comments = world.linear_fake.comments(&issue);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(
        comments[0].contains("@carol")
            && comments[0].contains("gitlabhq/gitlab-test!1")
            && comments[0].contains("merged by @bob"),
        "{}",
        comments[0]
    );
    // Confluence: one row, every piece of GitLab text escaped (the fake refuses bad XHTML).
    assert_eq!(world.page_rows(), 1);
    let row = world.row_for(&mr.reference());
    for expected in [
        ">gitlabhq/gitlab-test!1</a>",
        "<td>Fix &lt;script&gt; &amp; &quot;quotes&quot; ]]&gt; in MS-Viewport (SEC-123)</td>",
        "<td>gitlabhq/gitlab-test</td>",
        "<td>security::crypto</td>",
        "<td>@alice</td>",
        "<td>@carol</td>",
        "<td>@bob</td>",
        "<td>2026-03-02 14:30 UTC</td>",
        "<td>SEC-123 closed (closing keyword); decided on the MR description as GitLab returned it at audit time (15 characters, sha256 ",
        "<td>audited</td>",
    ] {
        assert!(row.contains(expected), "{expected} missing from {row}");
    }
    assert!(!row.contains("]]>"), "{row}");
    assert_eq!(world.confluence_fake.page_version(AUDIT_PAGE), 2);
    // Slack: one confirmation in the crypto pod's channel, nothing elsewhere.
    let confirmations = world.messages_in(CRYPTO_CHANNEL);
    assert_eq!(confirmations.len(), 1, "{confirmations:?}");
    let text = &confirmations[0];
    assert!(
        text.contains("gitlabhq/gitlab-test!1")
            && text.contains("approved by @carol")
            && text.contains("SEC-123 closed as audited")
            && text.contains("Fix &lt;script&gt; &amp;"),
        "{text}"
    );
    assert!(world.messages_in(SECURITY_CHANNEL).is_empty());
    assert!(world.messages_in(DEFAULT_CHANNEL).is_empty());
    assert_eq!(world.audit_state("1:1").await, ("done".to_owned(), None));
    // What the auditors, the issue's watchers and the pod read.
    let page = world.confluence_fake.page_body(AUDIT_PAGE);
    let confirmation = world.slack_fake.messages().pop().unwrap();
    snapshots::settings(&[]).bind(|| {
        insta::assert_snapshot!("audit_page_body", snapshots::xhtml_lines(&page));
        insta::assert_snapshot!("linear_audit_comment", comments[0]);
        insta::assert_json_snapshot!(
            "slack_confirmation",
            json!({
                "channel": confirmation.channel,
                "text": confirmation.text,
                "blocks": confirmation.blocks,
            })
        );
    });
}

#[tokio::test]
async fn the_same_delivery_three_times_gives_one_row_one_comment_one_message() {
    let world = MrAuditWorld::new().await;
    let issue = world.tracking_issue(123);
    let mr = docs_variant();

    let mut statuses = Vec::new();
    for _ in 0..3 {
        let reply = world.deliver_merge(&mr).await;
        statuses.push((reply.status, reply_json(&reply)["status"].clone()));
        world.run_worker().await;
    }

    assert_eq!(
        statuses,
        [
            (202, "accepted".into()),
            (200, "duplicate".into()),
            (200, "duplicate".into())
        ]
    );
    assert_eq!(world.page_rows(), 1);
    assert_eq!(world.linear_fake.comments(&issue).len(), 1);
    assert_eq!(world.messages_in(CRYPTO_CHANNEL).len(), 1);
    assert_eq!(world.slack_fake.messages().len(), 1);
    assert_eq!(world.merges().await.len(), 1);
    // A duplicate of a finished audit does not wake the worker again.
    assert_eq!(world.bus_events().len(), 1);
    assert_eq!(world.gitlab_fake.calls("/merge_requests/1"), 1);
}

/// How twenty concurrent merges went: the first (concurrent) round's outcomes and how many
/// worker rounds it took until every audit was done.
struct Race {
    first_round: Vec<(String, AuditOutcome)>,
    rounds: usize,
}

/// Twenty MRs merged and delivered at once, audited at once (all writing to the page at the
/// same moment), then re-driven by the worker's schedule until done; asserts that nothing was
/// lost or doubled.
async fn twenty_merges_at_once(max_attempts: u32) -> Race {
    let mut world = MrAuditWorld::new().await;
    world.page.max_attempts = max_attempts;
    let world = Arc::new(world);
    let mrs: Vec<MergedMr> = (101..=120)
        .map(|iid| {
            world.tracking_issue(iid);
            MergedMr::security(iid, &format!("Harden service {iid} (SEC-{iid})"))
                .described(&format!("Fixes SEC-{iid}"))
        })
        .collect();

    let replies = world.deliver_concurrently(&mrs).await;
    let first_round = world.run_workers_concurrently().await;
    // Audits that lost too many races stay pending; the schedule re-drives them.
    let mut outcomes = first_round.clone();
    let mut rounds = 1;
    while outcomes.iter().any(|(_, o)| !done(o)) {
        assert!(
            rounds < 4,
            "not converged after {rounds} rounds: {outcomes:#?}"
        );
        outcomes = world.run_worker().await;
        rounds += 1;
    }

    assert!(replies.iter().all(|r| r.status == 202), "{replies:?}");
    assert_eq!(first_round.len(), 20);
    let merges = world.merges().await;
    assert_eq!(merges.len(), 20);
    assert!(
        merges.iter().all(|(_, status)| status == "done"),
        "{merges:?}"
    );
    assert_eq!(world.page_rows(), 20);
    for mr in &mrs {
        assert_eq!(
            world.rows_for(&mr.reference()).len(),
            1,
            "{}",
            mr.reference()
        );
    }
    // One save per row: every 409 was re-read and re-applied, never written over.
    assert_eq!(world.confluence_fake.page_version(AUDIT_PAGE), 21);
    assert!(
        world.confluence_fake.calls("PUT", "/pages/200") > 20,
        "the audits raced: some saves were answered 409"
    );
    for issue in world.linear_fake.issues() {
        assert_eq!(world.linear_fake.issue_state(&issue.id), "Done");
        assert_eq!(world.linear_fake.comments(&issue.id).len(), 1);
    }
    assert_eq!(world.messages_in(CRYPTO_CHANNEL).len(), 20);
    Race {
        first_round,
        rounds,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_merges_arriving_concurrently_give_twenty_rows_none_lost_none_doubled() {
    let race = twenty_merges_at_once(30).await;

    assert!(race.rounds <= 2, "{} rounds", race.rounds);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audits_that_lose_every_race_stay_pending_and_the_next_runs_finish_them() {
    // Two read-modify-write rounds per run: most of twenty racing audits give up at first.
    let race = twenty_merges_at_once(2).await;

    let gave_up = race
        .first_round
        .iter()
        .filter(|(_, o)| matches!(o, AuditOutcome::Failed { step, .. } if step == "confluence"))
        .count();
    assert!(gave_up > 0, "{:#?}", race.first_round);
    assert!(race.rounds >= 2);
}

#[tokio::test]
async fn a_linked_issue_missing_from_linear_still_gets_its_row_and_slack_says_so() {
    let world = MrAuditWorld::new().await;
    let mr = MergedMr::security(9, "Rotate the HSM PIN (SEC-404)");

    world.deliver_merge(&mr).await;
    let outcomes = world.run_worker().await;

    assert_eq!(
        outcomes,
        [(
            "1:9".to_owned(),
            AuditOutcome::Done {
                reference: mr.reference(),
                findings: vec![],
                linked: vec!["SEC-404".to_owned()],
                resolved: vec![],
                mentioned: vec![],
                over_cap: false,
                not_found: vec!["SEC-404".to_owned()],
                links_ignored: 0,
            }
        )]
    );
    let row = world.row_for(&mr.reference());
    assert!(
        row.contains("<td>SEC-404 (not found in Linear); decided on the MR description"),
        "{row}"
    );
    let messages = world.messages_in(CRYPTO_CHANNEL);
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].contains("not found in Linear: SEC-404"),
        "{}",
        messages[0]
    );
    assert_eq!(world.audit_state("1:9").await.0, "done");
}

#[tokio::test]
async fn slack_does_not_claim_a_missing_issue_was_closed() {
    let world = MrAuditWorld::new().await;
    let mr = MergedMr::security(9, "Rotate the HSM PIN (SEC-404)");

    world.deliver_merge(&mr).await;
    world.run_worker().await;

    let text = &world.messages_in(CRYPTO_CHANNEL)[0];
    assert!(!text.contains("closed as audited"), "{text}");
}

#[tokio::test]
async fn a_merge_without_a_linked_issue_is_recorded_as_having_no_tracking_issue() {
    let world = MrAuditWorld::new().await;
    let mr = MergedMr::security(10, "Pin the TLS ciphers").described("UTF-8 and SHA-256 only.");

    world.deliver_merge(&mr).await;
    let outcomes = world.run_worker().await;

    assert!(done(&outcomes[0].1), "{outcomes:?}");
    let row = world.row_for(&mr.reference());
    assert!(row.contains("<td>no tracking issue</td>"), "{row}");
    let messages = world.messages_in(CRYPTO_CHANNEL);
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].contains("no tracking issue") && messages[0].contains("approved by @carol"),
        "{}",
        messages[0]
    );
    assert_eq!(world.linear_fake.requests(), 0, "nothing to ask Linear");
}

#[tokio::test]
async fn confluence_down_then_up_resumes_at_the_row_and_repeats_nothing() {
    let world = MrAuditWorld::new().await;
    let issue = world.tracking_issue(123);
    let mr = docs_variant();
    world.deliver_merge(&mr).await;
    // Down for two whole worker runs: every attempt of every retry answers 500.
    let attempts = fast_retry().max_attempts as usize;
    world.confluence_fake.fail_next(2 * attempts, 500);

    let first = world.run_worker().await;
    let second = world.run_worker().await;

    for outcomes in [&first, &second] {
        assert!(
            matches!(&outcomes[..], [(_, AuditOutcome::Failed { step, .. })] if step == "confluence"),
            "{outcomes:?}"
        );
    }
    let (status, error) = world.audit_state("1:1").await;
    assert_eq!(status, "pending");
    assert!(error.unwrap().starts_with("confluence:"));
    assert_eq!(world.linear_fake.issue_state(&issue), "Done");
    assert_eq!(world.linear_fake.comments(&issue).len(), 1);
    assert_eq!(world.page_rows(), 0);
    assert!(world.slack_fake.messages().is_empty(), "Slack goes last");

    let third = world.run_worker().await;

    assert!(done(&third[0].1), "{third:?}");
    assert_eq!(world.page_rows(), 1);
    assert_eq!(world.rows_for(&mr.reference()).len(), 1);
    assert_eq!(world.linear_fake.comments(&issue).len(), 1);
    assert_eq!(world.messages_in(CRYPTO_CHANNEL).len(), 1);
    assert_eq!(
        world.gitlab_fake.calls("/merge_requests/1"),
        1,
        "facts kept"
    );
    assert_eq!(world.audit_state("1:1").await, ("done".to_owned(), None));
}

#[tokio::test]
async fn slack_down_then_up_posts_the_confirmation_once() {
    let world = MrAuditWorld::new().await;
    let issue = world.tracking_issue(123);
    let mr = docs_variant();
    world.deliver_merge(&mr).await;
    world
        .slack_fake
        .fail_next(fast_retry().max_attempts as usize, 503);

    let first = world.run_worker().await;
    let second = world.run_worker().await;

    assert!(
        matches!(&first[..], [(_, AuditOutcome::Failed { step, .. })] if step.starts_with("slack")),
        "{first:?}"
    );
    assert!(done(&second[0].1), "{second:?}");
    assert_eq!(world.messages_in(CRYPTO_CHANNEL).len(), 1);
    assert_eq!(world.page_rows(), 1);
    assert_eq!(world.linear_fake.comments(&issue).len(), 1);
}

/// `mr_audit_steps` is a table contract: the rows an attempt writes keep the keys and details
/// earlier versions wrote, and an audit an earlier version left pending resumes from its rows.
#[tokio::test]
async fn an_audit_left_pending_by_an_earlier_version_resumes_from_its_rows() {
    let world = MrAuditWorld::new().await;
    let issue = world.tracking_issue(123);
    // The author approved it: a violation, for the crypto pod and the security channel.
    let mr = docs_variant().approved_by(&[AUTHOR], 1, 0);
    let key = mr.merge_key();
    world.deliver_merge(&mr).await;
    world
        .slack_fake
        .fail_next(fast_retry().max_attempts as usize, 503);

    let first = world.run_worker().await;

    assert!(
        matches!(&first[..], [(_, AuditOutcome::Failed { step, .. })] if step == &format!("slack:{CRYPTO_CHANNEL}")),
        "{first:?}"
    );
    let written = world.recorded_steps(&key).await;
    let resolution = written
        .iter()
        .find(|(step, _)| step == "resolves")
        .map(|(_, detail)| detail.clone())
        .expect("the resolution is recorded");
    assert_eq!(
        resolution["resolves"],
        json!([["SEC-123", "closing_keyword"]])
    );
    assert_eq!(
        written,
        [
            (
                "confluence".to_owned(),
                json!({"page": AUDIT_PAGE, "already_there": false})
            ),
            ("gitlab".to_owned(), json!({})),
            (
                "linear:SEC-123".to_owned(),
                json!({"found": true, "issue": issue, "result": "violation"})
            ),
            ("resolves".to_owned(), resolution.clone()),
        ]
    );

    // The rows as an earlier version wrote them, by hand, with the crypto pod's post among them
    // (recorded as posted, so the resumed audit must not post there).
    let old_rows = format!(
        "DELETE FROM mr_audit_steps WHERE merge_key = '{key}';
         INSERT INTO mr_audit_steps (merge_key, step, done_at, detail) VALUES
           ('{key}', 'gitlab', now(), '{{}}'),
           ('{key}', 'resolves', now(), '{resolution}'),
           ('{key}', 'linear:SEC-123', now(),
            '{{\"found\": true, \"issue\": \"{issue}\", \"result\": \"violation\"}}'),
           ('{key}', 'confluence', now(), '{{\"page\": \"{AUDIT_PAGE}\", \"already_there\": false}}'),
           ('{key}', 'slack:{CRYPTO_CHANNEL}', now(), 'null');"
    );
    world
        .connection
        .lock()
        .await
        .batch_execute(&old_rows)
        .await
        .expect("the earlier version's rows are written");

    let second = world.run_worker().await;

    assert!(done(&second[0].1), "{second:?}");
    assert_eq!(world.audit_state(&key).await, ("done".to_owned(), None));
    assert_eq!(world.linear_fake.comments(&issue).len(), 1, "not again");
    assert_eq!(world.linear_fake.issue_state(&issue), "In Progress");
    assert_eq!(world.page_rows(), 1);
    assert!(world.messages_in(CRYPTO_CHANNEL).is_empty(), "recorded");
    assert_eq!(world.messages_in(SECURITY_CHANNEL).len(), 1);
    let finished = world.recorded_steps(&key).await;
    assert_eq!(
        finished[finished.len() - 3..],
        [
            (
                "slack".to_owned(),
                json!({"channels": [CRYPTO_CHANNEL, SECURITY_CHANNEL]})
            ),
            (format!("slack:{CRYPTO_CHANNEL}"), Value::Null),
            (format!("slack:{SECURITY_CHANNEL}"), Value::Null),
        ]
    );
}

#[tokio::test]
async fn a_revoked_gitlab_token_gives_the_audit_up_at_once_instead_of_retrying_it_forty_times() {
    let world = MrAuditWorld::new().await;
    world.tracking_issue(123);
    let mr = docs_variant();
    world.deliver_merge(&mr).await;
    // The token in the secret is no longer accepted, and re-reading the secret does not help.
    world
        .gitlab_fake
        .accept_only_token("glpat-rotated-elsewhere");

    let outcomes = world.run_worker().await;

    assert!(
        matches!(&outcomes[..], [(_, AuditOutcome::Failed { step, abandoned: true, .. })] if step == "gitlab"),
        "{outcomes:?}"
    );
    assert_eq!(world.audit_state(&mr.merge_key()).await.0, "failed");
    assert!(
        world.run_worker().await.is_empty(),
        "a given-up audit is not re-driven"
    );
}

#[tokio::test]
async fn gitlab_down_leaves_the_audit_pending_for_the_next_run() {
    let world = MrAuditWorld::new().await;
    world.tracking_issue(123);
    let mr = docs_variant();
    world.deliver_merge(&mr).await;
    world
        .gitlab_fake
        .fail_next(fast_retry().max_attempts as usize, 503);

    let first = world.run_worker().await;
    let second = world.run_worker().await;

    assert!(
        matches!(&first[..], [(_, AuditOutcome::Failed { step, abandoned: false, .. })] if step == "gitlab"),
        "{first:?}"
    );
    assert!(done(&second[0].1), "{second:?}");
}

#[tokio::test]
async fn a_lost_linear_reply_does_not_double_the_comment() {
    let world = MrAuditWorld::new().await;
    let issue = world.tracking_issue(123);
    world.linear_fake.lose_next_comment_response();

    world.deliver_merge(&docs_variant()).await;
    world.run_worker().await;
    world.run_worker().await;

    assert_eq!(world.linear_fake.comments(&issue).len(), 1);
    assert_eq!(world.linear_fake.issue_state(&issue), "Done");
    assert_eq!(world.page_rows(), 1);
}

/// What every violation looks like: the issue left open and not audited, a comment saying why,
/// the row marked, and the security channel alerted. Returns the world and the issue's id, for a
/// closer look.
async fn assert_violation(
    mr: MergedMr,
    expected: &[Finding],
    says: &str,
) -> (MrAuditWorld, String) {
    let world = MrAuditWorld::new().await;
    let issue = world.tracking_issue(123);

    world.deliver_merge(&mr).await;
    let outcomes = world.run_worker().await;

    match &outcomes[..] {
        [(_, AuditOutcome::Done { findings, .. })] => assert_eq!(findings, expected),
        other => panic!("{other:?}"),
    }
    assert_eq!(world.linear_fake.issue_state(&issue), "In Progress");
    assert_eq!(world.linear_fake.issue_labels(&issue), [EXISTING_LABEL]);
    let comments = world.linear_fake.comments(&issue);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(
        comments[0].starts_with("Not audited") && comments[0].contains(says),
        "{}",
        comments[0]
    );
    let row = world.row_for(&mr.reference());
    assert!(
        row.contains("<td><strong>VIOLATION: ") && row.contains(says),
        "{row}"
    );
    let alerts = world.messages_in(SECURITY_CHANNEL);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].contains(":rotating_light:")
            && alerts[0].contains(&mr.reference())
            && alerts[0].contains(says)
            && alerts[0].contains("was not marked audited"),
        "{}",
        alerts[0]
    );
    assert_eq!(
        world.messages_in(CRYPTO_CHANNEL),
        alerts,
        "the pod hears it too"
    );
    assert_eq!(world.audit_state("1:1").await.0, "done");
    (world, issue)
}

#[tokio::test]
async fn a_merge_without_any_approval_is_a_violation() {
    let mr = docs_variant().approved_by(&[], 0, 0);
    let (world, issue) = assert_violation(
        mr.clone(),
        &[Finding::NoApprovals],
        "merged without any approval",
    )
    .await;
    let alert = world
        .slack_fake
        .messages()
        .into_iter()
        .find(|m| m.channel == SECURITY_CHANNEL)
        .unwrap();
    snapshots::settings(&[]).bind(|| {
        insta::assert_snapshot!(
            "violation_row",
            snapshots::xhtml_lines(&world.row_for(&mr.reference()))
        );
        insta::assert_snapshot!("violation_comment", world.linear_fake.comments(&issue)[0]);
        insta::assert_json_snapshot!(
            "violation_alert",
            json!({"channel": alert.channel, "text": alert.text, "blocks": alert.blocks})
        );
    });
}

#[tokio::test]
async fn a_merge_approved_only_by_its_author_is_a_violation() {
    assert_violation(
        docs_variant().approved_by(&[AUTHOR], 1, 0),
        &[Finding::OnlySelfApproved {
            approvers: vec!["@alice".to_owned()],
        }],
        "approved only by its author or the person who merged it (@alice)",
    )
    .await;
}

#[tokio::test]
async fn a_merge_approved_only_by_whoever_merged_it_is_a_violation() {
    assert_violation(
        docs_variant().approved_by(&[MERGER], 1, 0),
        &[Finding::OnlySelfApproved {
            approvers: vec!["@bob".to_owned()],
        }],
        "approved only by its author or the person who merged it (@bob)",
    )
    .await;
}

#[tokio::test]
async fn a_merge_with_approvals_still_required_is_a_violation() {
    assert_violation(
        docs_variant().approved_by(&[REVIEWER], 2, 1),
        &[Finding::ApprovalsStillRequired { left: 1 }],
        "merged with 1 required approval(s) still missing",
    )
    .await;
}

#[tokio::test]
async fn a_full_audit_page_continues_on_a_child_page_per_quarter() {
    let mut world = MrAuditWorld::new().await;
    let main_body = world.confluence_fake.page_body(AUDIT_PAGE);
    // The audit page is full: not one more row fits.
    world.page.max_page_chars = main_body.len() + 1;
    let first = MergedMr::security(1, "Rotate the signing key");
    let second = MergedMr::security(2, "Pin the TLS ciphers");

    world.deliver_merge(&first).await;
    world.run_worker().await;
    world.deliver_merge(&second).await;
    world.run_worker().await;

    assert_eq!(world.confluence_fake.page_body(AUDIT_PAGE), main_body);
    assert_eq!(world.confluence_fake.page_version(AUDIT_PAGE), 1);
    let pages = world.audit_pages();
    let titles: Vec<&str> = pages.iter().map(|(_, t, _)| t.as_str()).collect();
    // GitLab says both merged on 2026-03-02; the continuation is full after one row too.
    assert_eq!(
        titles,
        [
            AUDIT_TITLE,
            "Security review audit (2026-Q1)",
            "Security review audit (2026-Q1, part 2)"
        ]
    );
    assert!(
        pages[1].2.contains(">gitlabhq/gitlab-test!1<"),
        "{}",
        pages[1].2
    );
    assert!(
        pages[2].2.contains(">gitlabhq/gitlab-test!2<"),
        "{}",
        pages[2].2
    );
    assert_eq!(world.page_rows(), 2);
    assert_eq!(world.rows_for(&first.reference()).len(), 1);
    assert_eq!(world.rows_for(&second.reference()).len(), 1);
    snapshots::settings(&[]).bind(|| {
        insta::assert_snapshot!(
            "continuation_page",
            format!(
                "# {}\n\n{}",
                pages[1].1,
                snapshots::xhtml_lines(&pages[1].2)
            )
        )
    });
}

#[tokio::test]
async fn rows_keep_going_to_the_quarters_continuation_page_while_it_has_room() {
    let mut world = MrAuditWorld::new().await;
    // The audit page already holds years of evidence: nearly full.
    let old_evidence = format!(
        "{AUDIT_INTRO}<p>{}</p>{}",
        "Older evidence. ".repeat(500),
        world
            .confluence_fake
            .page_body(AUDIT_PAGE)
            .replace(AUDIT_INTRO, "")
    );
    world
        .page
        .client
        .update_page(AUDIT_PAGE, AUDIT_TITLE, &old_evidence, 2, "older evidence")
        .await
        .expect("the page is filled");
    world.page.max_page_chars = old_evidence.len() + 100;

    let mrs: Vec<MergedMr> = (1..=3)
        .map(|iid| MergedMr::security(iid, "Another security change"))
        .collect();
    for mr in &mrs {
        world.deliver_merge(mr).await;
        world.run_worker().await;
    }

    assert_eq!(world.confluence_fake.page_body(AUDIT_PAGE), old_evidence);
    let pages = world.audit_pages();
    assert_eq!(pages.len(), 2, "{pages:#?}");
    let (_, title, body) = &pages[1];
    assert_eq!(title, "Security review audit (2026-Q1)");
    assert!(
        body.starts_with("<p>Continued from Security review audit"),
        "{body}"
    );
    assert_eq!(world.page_rows(), 3);
    for mr in &mrs {
        assert!(body.contains(&format!(">{}<", mr.reference())), "{body}");
        assert_eq!(world.rows_for(&mr.reference()).len(), 1);
    }
}

#[tokio::test]
async fn a_title_naming_another_mr_does_not_stand_in_for_its_row() {
    let world = MrAuditWorld::new().await;
    let decoy = MergedMr::security(1, "gitlabhq/gitlab-test!2");
    let real = MergedMr::security(2, "Disable certificate checks");

    world.deliver_merge(&decoy).await;
    world.run_worker().await;
    world.deliver_merge(&real).await;
    world.run_worker().await;

    assert_eq!(world.page_rows(), 2, "{:#?}", world.audit_pages());
    assert!(
        world
            .rows_for(&real.reference())
            .iter()
            .any(|row| row.contains("Disable certificate checks")),
        "{:#?}",
        world.audit_pages()
    );
}

#[tokio::test]
async fn a_merge_event_gitlab_does_not_confirm_changes_nothing_and_is_given_up_in_the_end() {
    let world = MrAuditWorld::new().await;
    let issue = world.tracking_issue(123);
    let mr = docs_variant();
    world.deliver_merge(&mr).await;
    // GitLab says the MR is still open: a forged or premature "merge" delivery.
    let mut open = mr.api_json();
    open["state"] = "opened".into();
    world
        .gitlab_fake
        .add_merge_request(secops_tests::mr_audit::PROJECT_ID, mr.iid, open);
    let outcomes = world.run_worker().await;
    assert!(
        matches!(&outcomes[..], [(_, AuditOutcome::Failed { step, error, abandoned: false })]
            if step == "gitlab" && error.contains("not merged")),
        "{outcomes:?}"
    );
    assert_eq!(world.linear_fake.issue_state(&issue), "In Progress");
    assert!(world.linear_fake.comments(&issue).is_empty());
    assert_eq!(world.page_rows(), 0);
    // After the last allowed attempt it is given up: status failed, no longer re-driven.
    let last = world.run_last_attempt(&mr.merge_key()).await;
    assert!(
        matches!(
            &last[..],
            [(
                _,
                AuditOutcome::Failed {
                    abandoned: true,
                    ..
                }
            )]
        ),
        "{last:?}"
    );
    // Parked until the MR's next delivery (decision 029), not `failed`.
    assert_eq!(world.audit_state(&mr.merge_key()).await.0, "unmerged");
    assert!(
        world.run_worker().await.is_empty(),
        "a given-up audit is not re-driven"
    );
}

// --- The audit table, found by parsing the page (decision 025) --------------------------------

/// The audit table as the product writes it.
fn audit_table(rows: &str) -> String {
    format!("<table><tbody>{}{rows}</tbody></table>", header_row())
}

/// A table a person added below the audit table.
const GLOSSARY: &str = "<h2>Glossary</h2><table><tbody><tr><th>Term</th><th>Meaning</th></tr><tr><td>SoD</td><td>separation of duties</td></tr></tbody></table>";

/// The first cell of each row of the page's audit table.
fn audit_references(body: &str) -> Vec<String> {
    audit_rows(body).into_iter().map(|r| r[0].clone()).collect()
}

#[tokio::test]
async fn a_glossary_table_below_the_audit_table_never_receives_rows() {
    let world = MrAuditWorld::new().await;
    world
        .person_saves_audit_page(&format!("{AUDIT_INTRO}{}{GLOSSARY}", audit_table("")))
        .await;
    let mrs = [
        MergedMr::security(1, "Rotate the signing key"),
        MergedMr::security(2, "Pin the TLS ciphers"),
    ];

    for mr in &mrs {
        world.deliver_merge(mr).await;
        world.run_worker().await;
    }

    let body = world.confluence_fake.page_body(AUDIT_PAGE);
    assert!(body.ends_with(GLOSSARY), "{body}");
    assert_eq!(
        audit_references(&body),
        ["gitlabhq/gitlab-test!1", "gitlabhq/gitlab-test!2"]
    );
    assert!(audit_rows(&body).iter().all(|r| r.len() == COLUMNS.len()));
}

#[tokio::test]
async fn a_page_without_its_audit_table_fails_the_step_naming_the_page_and_nothing_is_written() {
    let world = MrAuditWorld::new().await;
    world
        .person_saves_audit_page(&format!("{AUDIT_INTRO}{GLOSSARY}"))
        .await;
    let version = world.confluence_fake.page_version(AUDIT_PAGE);
    let mr = docs_variant();
    world.deliver_merge(&mr).await;

    let outcomes = world.run_worker().await;

    let [(_, AuditOutcome::Failed { step, error, .. })] = &outcomes[..] else {
        panic!("{outcomes:?}");
    };
    assert_eq!(step, "confluence");
    assert!(
        error.contains("page 200 (\"Security review audit\") has no audit table")
            && error.contains("MR | Title | Project")
            && !error.contains('\n'),
        "{error}"
    );
    assert_eq!(world.confluence_fake.page_version(AUDIT_PAGE), version);
    assert_eq!(world.audit_pages().len(), 1, "no continuation page either");
    assert!(world.slack_fake.messages().is_empty(), "Slack goes last");
    assert_eq!(world.audit_state("1:1").await.0, "pending");

    // Someone puts the table back: the next run writes the row there, and only there.
    world
        .person_saves_audit_page(&format!("{AUDIT_INTRO}{}{GLOSSARY}", audit_table("")))
        .await;
    let retried = world.run_worker().await;

    assert!(done(&retried[0].1), "{retried:?}");
    let body = world.confluence_fake.page_body(AUDIT_PAGE);
    assert_eq!(audit_references(&body), [mr.reference()]);
    assert!(body.ends_with(GLOSSARY), "{body}");
}

#[tokio::test]
async fn two_audit_tables_on_the_page_fail_the_step_and_nothing_is_written() {
    let world = MrAuditWorld::new().await;
    let copy = format!(
        "{AUDIT_INTRO}{}<p>Copy:</p>{}",
        audit_table(""),
        audit_table("")
    );
    world.person_saves_audit_page(&copy).await;
    world.deliver_merge(&docs_variant()).await;

    let outcomes = world.run_worker().await;

    assert!(
        matches!(&outcomes[..], [(_, AuditOutcome::Failed { step, error, .. })]
            if step == "confluence" && error.contains("has 2 audit tables")),
        "{outcomes:?}"
    );
    assert_eq!(world.confluence_fake.page_body(AUDIT_PAGE), copy);
}

#[tokio::test]
async fn end_tags_inside_a_code_macro_or_a_comment_do_not_receive_the_row() {
    let world = MrAuditWorld::new().await;
    let code = format!(
        "<ac:structured-macro ac:name=\"code\" ac:schema-version=\"1\" ac:macro-id=\"7f1e\"><ac:parameter ac:name=\"language\">xml</ac:parameter><ac:plain-text-body><![CDATA[{}]]></ac:plain-text-body></ac:structured-macro>",
        audit_table(
            "<tr><td><a href=\"http://example.com/gitlabhq/gitlab-test/-/merge_requests/1\">gitlabhq/gitlab-test!1</a></td></tr>"
        )
    );
    let comment = "<!-- old layout: <table><tbody></tbody></table> -->";
    let page = format!("{AUDIT_INTRO}{}{code}{comment}", audit_table(""));
    world.person_saves_audit_page(&page).await;
    // The macro's example shows a row for this very MR: it is not the audit table's row. A
    // title that would end the comment early if it were written inside it.
    let mr = MergedMr::security(1, "Fix -- and --> in the parser ]]> too");

    world.deliver_merge(&mr).await;
    let outcomes = world.run_worker().await;

    assert!(done(&outcomes[0].1), "{outcomes:?}");
    let body = world.confluence_fake.page_body(AUDIT_PAGE);
    assert!(body.ends_with(&format!("{code}{comment}")), "{body}");
    assert_eq!(audit_references(&body), [mr.reference()]);
    assert_eq!(
        audit_rows(&body)[0][1],
        "Fix -- and --> in the parser ]]> too"
    );
}

#[tokio::test]
async fn a_link_to_the_mr_elsewhere_on_the_page_does_not_stand_in_for_its_row() {
    let world = MrAuditWorld::new().await;
    let mr = docs_variant();
    let mention = "<p>Follow-up of <a href=\"http://example.com/gitlabhq/gitlab-test/-/merge_requests/1\">gitlabhq/gitlab-test!1</a>, see below.</p>";
    world
        .person_saves_audit_page(&format!("{mention}{}", audit_table("")))
        .await;

    world.deliver_merge(&mr).await;
    world.run_worker().await;

    let body = world.confluence_fake.page_body(AUDIT_PAGE);
    assert!(body.starts_with(mention), "{body}");
    assert_eq!(audit_references(&body), [mr.reference()]);
}

#[tokio::test]
async fn a_page_re_saved_by_the_editor_keeps_its_audit_table_and_its_rows() {
    let world = MrAuditWorld::new().await;
    // What Confluence's editor writes back: layout attributes, colgroup, thead, paragraphs and
    // bold in cells, no-break spaces, an MR link inside a paragraph.
    let header: String = COLUMNS
        .iter()
        .map(|c| {
            format!(
                "<th data-highlight-colour=\"#f4f5f7\"><p><strong>{}</strong></p></th>",
                c.replace(' ', "&nbsp;")
            )
        })
        .collect();
    let cols = "<col style=\"width: 110.0px;\" />".repeat(COLUMNS.len());
    let existing: String = [
        "<p><a href=\"http://example.com/gitlabhq/gitlab-test/-/merge_requests/1\">gitlabhq/gitlab-test!1</a></p>",
        "<p>Earlier change</p>",
    ]
    .iter()
    .chain(std::iter::repeat_n(&"<p>x</p>", COLUMNS.len() - 2))
    .map(|cell| format!("<td>{cell}</td>"))
    .collect();
    let resaved = format!(
        "<p>Evidence&nbsp;&mdash; every security change.</p><table data-table-width=\"1800\" data-layout=\"full-width\" ac:local-id=\"5a1c\"><colgroup>{cols}</colgroup><thead><tr>{header}</tr></thead><tbody><tr>{existing}</tr></tbody></table>{GLOSSARY}"
    );
    world.person_saves_audit_page(&resaved).await;
    let version = world.confluence_fake.page_version(AUDIT_PAGE);
    let known = MergedMr::security(1, "Earlier change");
    let new = MergedMr::security(2, "Pin the TLS ciphers");

    world.deliver_merge(&known).await;
    world.run_worker().await;
    assert_eq!(
        world.confluence_fake.page_version(AUDIT_PAGE),
        version,
        "the row of !1 is already in the table"
    );
    world.deliver_merge(&new).await;
    world.run_worker().await;

    let body = world.confluence_fake.page_body(AUDIT_PAGE);
    assert_eq!(
        audit_references(&body),
        ["gitlabhq/gitlab-test!1", "gitlabhq/gitlab-test!2"]
    );
    assert!(
        body.starts_with(&resaved[..resaved.find("</tbody>").unwrap()]),
        "the person's markup is kept byte for byte: {body}"
    );
    assert!(
        body.ends_with(&format!("</tbody></table>{GLOSSARY}")),
        "{body}"
    );
    assert_eq!(world.messages_in(CRYPTO_CHANNEL).len(), 2);
}

// --- Linked identifiers are bounded (at most 25 looked up) -----------------------------------

#[tokio::test]
async fn an_mr_naming_more_identifiers_than_considered_says_how_many_were_left_out() {
    let world = MrAuditWorld::new().await;
    let named: String = (1..=MAX_LINKED + 5).map(|i| format!("SEC-{i} ")).collect();
    let mr = MergedMr::security(3, "Bulk fix").described(&named);

    world.deliver_merge(&mr).await;
    let outcomes = world.run_worker().await;

    let [
        (
            _,
            AuditOutcome::Done {
                linked,
                links_ignored,
                ..
            },
        ),
    ] = &outcomes[..]
    else {
        panic!("{outcomes:?}");
    };
    assert_eq!((linked.len(), *links_ignored), (MAX_LINKED, 5));
    let cells = &audit_rows(&world.confluence_fake.page_body(AUDIT_PAGE))[0];
    assert!(
        cells[9].ends_with("(and 5 more not considered)"),
        "{}",
        cells[9]
    );
}

// --- A security label added after the merge (decision 026) -----------------------------------

#[tokio::test]
async fn a_security_label_added_after_the_merge_is_audited_once() {
    let world = MrAuditWorld::new().await;
    let issue = world.tracking_issue(123);
    let unlabelled = docs_variant().labelled(&["API"]);
    let merged = world.deliver_merge(&unlabelled).await;
    assert!(world.run_worker().await.is_empty());
    let labelled = unlabelled.clone().labelled(&["API", "security::crypto"]);

    let added = world
        .deliver_label_update(&labelled, &["API"], "update-1")
        .await;
    let outcomes = world.run_worker().await;
    // GitLab redelivers that update, then someone adds another security label.
    let redelivered = world
        .deliver_label_update(&labelled, &["API"], "update-1")
        .await;
    let more = labelled
        .clone()
        .labelled(&["API", "security::crypto", "security::iam"]);
    let another = world
        .deliver_label_update(&more, &["API", "security::crypto"], "update-2")
        .await;
    let later = world.run_worker().await;

    assert_eq!(reply_json(&merged)["status"], "ignored");
    assert_eq!(added.status, 202, "{}", added.body);
    assert!(
        matches!(&outcomes[..], [(key, AuditOutcome::Done { findings, .. })]
            if key == "1:1" && findings.is_empty()),
        "{outcomes:?}"
    );
    for reply in [&redelivered, &another] {
        assert_eq!(
            reply_json(reply),
            json!({"status": "duplicate", "merge": "gitlabhq/gitlab-test!1", "audit": "done"})
        );
    }
    assert!(later.is_empty(), "{later:?}");
    assert_eq!(world.page_rows(), 1);
    let row = world.row_for(&labelled.reference());
    assert!(row.contains("<td>API, security::crypto</td>"), "{row}");
    assert_eq!(world.linear_fake.issue_state(&issue), "Done");
    assert_eq!(world.linear_fake.comments(&issue).len(), 1);
    assert_eq!(world.messages_in(CRYPTO_CHANNEL).len(), 1);
    assert_eq!(world.slack_fake.messages().len(), 1);
}

// --- Untrusted text in Slack is inert --------------------------------------------------------

/// Every text object in `value` (a message's blocks), as `(type, text, verbatim)`.
fn text_objects(value: &serde_json::Value, out: &mut Vec<(String, String, bool)>) {
    match value {
        serde_json::Value::Object(o) => {
            if let (Some(kind), Some(text)) =
                (o.get("type"), o.get("text").and_then(|t| t.as_str()))
            {
                out.push((
                    kind.as_str().unwrap_or_default().to_owned(),
                    text.to_owned(),
                    o.get("verbatim") == Some(&json!(true)),
                ));
            }
            o.values().for_each(|v| text_objects(v, out));
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| text_objects(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn an_mr_title_with_a_url_or_a_channel_name_does_not_become_a_link_in_slack() {
    let world = MrAuditWorld::new().await;
    world.tracking_issue(123);
    let title = "Fix - see https://evil.example/x and #general, ping @here www.evil.example";
    let mr = MergedMr::security(4, title).described("Closes SEC-123");

    world.deliver_merge(&mr).await;
    let outcomes = world.run_worker().await;

    assert!(done(&outcomes[0].1), "{outcomes:?}");
    let messages = world.slack_fake.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = &messages[0];
    // The fallback text (notifications) names nothing from the MR.
    for untrusted in ["http", "evil", "#general", "@here", "Fix"] {
        assert!(
            !message.text.contains(untrusted),
            "fallback {:?} holds {untrusted}",
            message.text
        );
    }
    // The blocks carry the title, in text objects Slack will not auto-link.
    let mut texts = Vec::new();
    text_objects(&message.blocks, &mut texts);
    assert!(!texts.is_empty(), "no blocks: {message:?}");
    assert!(
        texts
            .iter()
            .any(|(_, t, _)| t.contains("https://evil.example/x")),
        "{texts:?}"
    );
    for (kind, text, verbatim) in &texts {
        assert!(
            kind == "plain_text" || (kind == "mrkdwn" && *verbatim),
            "{kind} text object not verbatim: {text}"
        );
        // The only link markup is our own link to the MR.
        let links: Vec<&str> = text.match_indices('<').map(|(i, _)| &text[i..]).collect();
        assert!(
            links
                .iter()
                .all(|l| l.starts_with("<https://gitlab.example.com/")),
            "{text}"
        );
    }
}

// --- Forged merge deliveries (decision 029) ---------------------------------------------------

#[tokio::test]
async fn forged_merge_deliveries_for_an_open_mr_do_not_suppress_the_audit_of_its_real_merge() {
    let world = MrAuditWorld::new().await;
    let issue = world.tracking_issue(123);
    let mr = MergedMr::security(6, "Rotate the signing key").described("Closes SEC-123");
    // The MR is open in GitLab; someone holding the webhook token delivers "merge" for it.
    world.gitlab_has(&mr);
    let mut open = mr.api_json();
    open["state"] = "opened".into();
    world
        .gitlab_fake
        .add_merge_request(secops_tests::mr_audit::PROJECT_ID, mr.iid, open);
    let forged = world
        .deliver(
            &Headers::gitlab().idempotency_key("forged-1"),
            &mr.webhook_body(),
        )
        .await;
    assert_eq!(forged.status, 202, "{}", forged.body);
    // The worker tries, and tries, until it gives up (attempts fast-forwarded to the last one).
    let first = world.run_worker().await;
    assert!(
        matches!(
            &first[..],
            [(
                _,
                AuditOutcome::Failed {
                    abandoned: false,
                    ..
                }
            )]
        ),
        "{first:?}"
    );
    let last = world.run_last_attempt(&mr.merge_key()).await;
    assert!(
        matches!(
            &last[..],
            [(
                _,
                AuditOutcome::Failed {
                    abandoned: true,
                    ..
                }
            )]
        ),
        "{last:?}"
    );

    // Later the MR really merges and GitLab delivers the merge.
    let real = world.deliver_merge(&mr).await;
    let outcomes = world.run_worker().await;

    assert_ne!(reply_json(&real)["audit"], "done", "{}", real.body);
    assert_eq!(real.status, 202, "{}", real.body);
    assert!(
        matches!(&outcomes[..], [(key, AuditOutcome::Done { findings, .. })]
            if *key == mr.merge_key() && findings.is_empty()),
        "{outcomes:?}"
    );
    assert_eq!(world.row_for(&mr.reference()).matches("<tr>").count(), 1);
    assert_eq!(world.linear_fake.issue_state(&issue), "Done");
    assert_eq!(world.messages_in(CRYPTO_CHANNEL).len(), 1);
    assert_eq!(world.audit_state(&mr.merge_key()).await.0, "done");
}

#[tokio::test]
async fn the_evidence_names_the_mr_as_gitlab_does_not_as_the_delivery_says() {
    let world = MrAuditWorld::new().await;
    let mr = MergedMr::security(5, "Pin TLS versions");
    world.gitlab_has(&mr);
    let mut body: serde_json::Value = serde_json::from_slice(&mr.webhook_body()).unwrap();
    body["project"]["path_with_namespace"] = json!("victim/payments");
    body["object_attributes"]["title"] = json!("Typo fix");
    let reply = world
        .deliver(
            &Headers::gitlab().idempotency_key("d-5"),
            &serde_json::to_vec(&body).unwrap(),
        )
        .await;
    let outcomes = world.run_worker().await;

    assert_eq!(reply.status, 202, "{}", reply.body);
    assert!(
        matches!(&outcomes[..], [(_, AuditOutcome::Done { reference, .. })]
            if reference == "gitlabhq/gitlab-test!5"),
        "{outcomes:?}"
    );
    let row = world.row_for("gitlabhq/gitlab-test!5");
    assert!(row.contains("<td>Pin TLS versions</td>"), "{row}");
    assert!(row.contains("<td>gitlabhq/gitlab-test</td>"), "{row}");
    let pages = format!("{:?}", world.audit_pages());
    assert!(
        !pages.contains("victim") && !pages.contains("Typo fix"),
        "{pages}"
    );
    assert!(!world.messages_in(CRYPTO_CHANNEL)[0].contains("victim"));
}

#[tokio::test]
async fn only_allowlisted_projects_are_audited_by_the_path_gitlab_reports() {
    let mut world = MrAuditWorld::new().await;
    world.settings.projects = ProjectAllowlist::parse("gitlabhq/*").unwrap();
    let outside = MergedMr::security(8, "Elsewhere");
    let mut body: serde_json::Value = serde_json::from_slice(&outside.webhook_body()).unwrap();
    body["project"]["path_with_namespace"] = json!("other/app");
    let ignored = world
        .deliver(
            &Headers::gitlab().idempotency_key("d-8"),
            &serde_json::to_vec(&body).unwrap(),
        )
        .await;
    // A delivery that claims an allowed path for a project GitLab places elsewhere.
    let lying = MergedMr::security(9, "Claims to be ours");
    world.gitlab_has(&lying);
    let mut api = lying.api_json();
    api["references"]["full"] = json!("other/app!9");
    world
        .gitlab_fake
        .add_merge_request(secops_tests::mr_audit::PROJECT_ID, lying.iid, api);
    let accepted = world
        .deliver(
            &Headers::gitlab().idempotency_key("d-9"),
            &lying.webhook_body(),
        )
        .await;
    let outcomes = world.run_worker().await;

    assert_eq!(
        reply_json(&ignored)["status"],
        "ignored",
        "{}",
        ignored.body
    );
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    assert!(
        matches!(&outcomes[..], [(_, AuditOutcome::Failed { abandoned: true, error, .. })]
            if error.contains("MR_AUDIT_GITLAB_PROJECTS")),
        "{outcomes:?}"
    );
    assert_eq!(world.page_rows(), 0);
    assert!(world.slack_fake.messages().is_empty());
}

// --- Only issues the MR resolves are closed (decision 028) -----------------------------------

#[tokio::test]
async fn mentions_in_the_description_or_a_branch_do_not_close_issues() {
    let world = MrAuditWorld::new().await;
    let issues: Vec<String> = [1, 3, 4].map(|n| world.tracking_issue(n)).to_vec();
    let mr = MergedMr::security(11, "Harden the token checks")
        .described("see also SEC-1 and SEC-3")
        .on_branch("chore/sec-4-followup");

    world.deliver_merge(&mr).await;
    let outcomes = world.run_worker().await;

    assert!(
        matches!(&outcomes[..], [(_, AuditOutcome::Done { resolved, mentioned, .. })]
            if resolved.is_empty() && mentioned == &["SEC-1", "SEC-3", "SEC-4"]),
        "{outcomes:?}"
    );
    for issue in &issues {
        assert_eq!(world.linear_fake.issue_state(issue), "In Progress");
        assert!(world.linear_fake.comments(issue).is_empty());
        assert_eq!(world.linear_fake.issue_labels(issue), [EXISTING_LABEL]);
    }
    let row = world.row_for(&mr.reference());
    assert!(
        row.contains("SEC-1 mentioned, SEC-3 mentioned, SEC-4 mentioned"),
        "{row}"
    );
}

#[tokio::test]
async fn an_mr_closes_issues_by_closing_keyword_linear_link_or_linear_branch_name_only() {
    let world = MrAuditWorld::new().await;
    let keyword = world.tracking_issue(5);
    let linked = world.tracking_issue(6);
    let branch = world.tracking_issue(7);
    let mentioned = world.tracking_issue(8);
    let mr = MergedMr::security(12, "Rotate keys (SEC-6)")
        .described("Fixes SEC-5. Relates to SEC-8.")
        .on_branch(&secops_tests::fake_linear::branch_name(
            "SEC-7",
            "Security review 7",
        ));
    // Linear's GitLab integration linked the MR to SEC-6.
    let web_url = mr.api_json()["web_url"].as_str().unwrap().to_owned();
    world.linear_fake.attach(&linked, &web_url, "gitlab");

    world.deliver_merge(&mr).await;
    let outcomes = world.run_worker().await;

    assert!(done(&outcomes[0].1), "{outcomes:?}");
    for issue in [&keyword, &linked, &branch] {
        assert_eq!(world.linear_fake.issue_state(issue), "Done");
        assert_eq!(world.linear_fake.comments(issue).len(), 1);
    }
    assert_eq!(world.linear_fake.issue_state(&mentioned), "In Progress");
    assert!(world.linear_fake.comments(&mentioned).is_empty());
    let row = world.row_for(&mr.reference());
    for expected in [
        "SEC-6 closed (Linear&#39;s GitLab link)",
        "SEC-5 closed (closing keyword)",
        "SEC-8 mentioned",
        "SEC-7 closed (Linear branch name)",
    ] {
        let alt = expected.replace("&#39;", "'");
        assert!(
            row.contains(expected) || row.contains(&alt),
            "{expected}: {row}"
        );
    }
}

#[tokio::test]
async fn an_mr_resolving_more_issues_than_the_cap_closes_none_and_alerts_security() {
    let world = MrAuditWorld::new().await;
    let issues: Vec<String> = (17..=28).map(|n| world.tracking_issue(n)).collect();
    let list: Vec<String> = (17..=28).map(|n| format!("SEC-{n}")).collect();
    let mr = MergedMr::security(13, "Cleanup").described(&format!("Fixes {}", list.join(", ")));

    world.deliver_merge(&mr).await;
    let outcomes = world.run_worker().await;

    assert!(
        matches!(&outcomes[..], [(_, AuditOutcome::Done { over_cap: true, resolved, .. })]
            if resolved.len() == 12),
        "{outcomes:?}"
    );
    for issue in &issues {
        assert_eq!(world.linear_fake.issue_state(issue), "In Progress");
        assert!(world.linear_fake.comments(issue).is_empty());
    }
    let alerts = world.messages_in(SECURITY_CHANNEL);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].contains("not closed"), "{}", alerts[0]);
    let row = world.row_for(&mr.reference());
    assert!(row.contains("none closed: it would close 12"), "{row}");
}

#[tokio::test]
async fn the_decision_reads_the_description_gitlab_returns_not_the_delivery() {
    let world = MrAuditWorld::new().await;
    let issue = world.tracking_issue(2);
    // GitLab's API has the current description; the delivery body says something else.
    let mr = MergedMr::security(14, "Tighten CSP").described("Relates to SEC-2");
    world.gitlab_has(&mr);
    let mut body: serde_json::Value = serde_json::from_slice(&mr.webhook_body()).unwrap();
    body["object_attributes"]["description"] = json!("Closes SEC-2");
    world
        .deliver(
            &Headers::gitlab().idempotency_key("d-14"),
            &serde_json::to_vec(&body).unwrap(),
        )
        .await;
    let outcomes = world.run_worker().await;

    assert!(done(&outcomes[0].1), "{outcomes:?}");
    assert_eq!(world.linear_fake.issue_state(&issue), "In Progress");
    let row = world.row_for(&mr.reference());
    assert!(
        row.contains("SEC-2 mentioned; decided on the MR description as GitLab returned it at audit time (16 characters, sha256 "),
        "{row}"
    );
}
