//! The drift audit end to end: real Postgres, fake Linear and OpenAI.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use secops_shared::drift::diff::Change;
use secops_shared::drift::filing::Filing;
use secops_shared::drift::grant::Grant;
use secops_shared::drift::inventory::{InventoryGrant, RawGrant};
use secops_shared::drift::justification::Draft;
use secops_shared::drift::store::{DriftStore, FiledIssue, RecordOutcome, RunStart, StoreError};
use secops_shared::drift::workflow::DriftError;
use secops_shared::markdown;
use secops_tests::drift::{DriftWorld, model_answer};
use secops_tests::grants::*;
use secops_tests::snapshots;
use uuid::Uuid;

fn day1() -> Vec<InventoryGrant> {
    vec![
        google("notes", "alice@example.com", &[OPENID]),
        google("crm", "bob@example.com", &[OPENID, EMAIL]),
        google("old", "dave@example.com", &[OPENID]),
    ]
}

/// crm elevated (gained full Gmail), mailer new, old revoked.
fn day2() -> Vec<InventoryGrant> {
    vec![
        google("notes", "alice@example.com", &[OPENID]),
        google("crm", "bob@example.com", &[OPENID, EMAIL, MAIL]),
        google("mailer", "erin@example.com", &[MAIL]),
    ]
}

/// Every issue Linear holds as the security team reads it (title, priority, labels, body),
/// ordered by title.
fn issues_as_read(world: &DriftWorld) -> String {
    let mut issues: Vec<String> = world
        .linear
        .issues()
        .iter()
        .map(|i| {
            format!(
                "# {}\npriority {} · labels {:?}\n\n{}",
                i.title, i.priority, i.label_names, i.description
            )
        })
        .collect();
    issues.sort();
    issues.join("\n\n---------- next issue ----------\n\n")
}

async fn after_day1(world: &DriftWorld) {
    world.inventory(day1()).await;
    let report = world.run_drift().await;
    assert!(report.bootstrap);
    world.inventory(day2()).await;
}

#[tokio::test]
async fn day_two_files_one_issue_per_new_or_elevated_grant() {
    let world = DriftWorld::new().await;
    world.openai.answers_with(model_answer()).await;
    after_day1(&world).await;

    let report = world.run_drift().await;

    let mut titles: Vec<String> = world
        .linear
        .issues()
        .iter()
        .map(|i| i.title.clone())
        .collect();
    titles.sort();
    assert_eq!(
        titles,
        [
            "Elevated OAuth grant: crm app gained 1 scope",
            "New OAuth grant: mailer app for erin@example.com",
        ]
    );
    let issues = world.linear.issues();
    let crm = issues.iter().find(|i| i.title.contains("crm")).unwrap();
    assert_eq!(crm.priority, 1, "full Gmail access is critical, so urgent");
    assert_eq!(crm.label_names, ["oauth-drift", "severity:critical"]);
    assert_eq!(crm.team_id, "team-sec");
    assert!(
        crm.description
            .contains(&format!("| {} | critical |", markdown::cell(MAIL, "")))
    );
    assert!(crm.description.contains("**added**"));
    assert!(crm.description.contains(&markdown::inline(
        "The app can read and send all of the user's mail."
    )));
    assert!(crm.description.contains(&format!(
        "Drafted by model {}",
        markdown::inline("test-model")
    )));
    assert_eq!(report.revoked, ["google/old/dave@example.com"]);
    assert_eq!(
        (report.filed.len(), report.pending, report.drafted_by_model),
        (2, 0, 2)
    );
    snapshots::settings(&[(&snapshots::clock_time(), "[run time]")])
        .bind(|| insta::assert_snapshot!("drafted_issues", issues_as_read(&world)));
    // The justification prompt: the system prompt, then what the model was asked about each
    // grant (the requests run concurrently, so in a stable order).
    let requests = world.openai.requests().await;
    let mut asked: Vec<String> = requests
        .iter()
        .map(|r| r["messages"][1]["content"].as_str().unwrap().to_owned())
        .collect();
    asked.sort();
    let prompt = format!(
        "## system\n\n{}\n## user, per grant\n\n{}",
        requests[0]["messages"][0]["content"].as_str().unwrap(),
        asked.join("\n\n---------- next grant ----------\n\n")
    );
    snapshots::settings(&[(&snapshots::clock_time(), "[run time]")])
        .bind(|| insta::assert_snapshot!("justification_prompt", prompt));
}

#[tokio::test]
async fn a_rerun_the_same_day_files_nothing_new() {
    let world = DriftWorld::new().await;
    world.openai.answers_with(model_answer()).await;
    after_day1(&world).await;
    world.run_drift().await;

    let again = world.run_drift().await;

    assert_eq!(world.linear.issues().len(), 2);
    assert!(again.filed.is_empty());
    assert_eq!(again.filings_created, 0);
}

#[tokio::test]
async fn a_linear_outage_leaves_the_second_issue_pending_and_the_next_run_files_it_once() {
    let world = DriftWorld::new().await;
    world.openai.answers_with(model_answer()).await;
    after_day1(&world).await;
    world.linear.outage_after_creates(1, 500);

    let first = world.run_drift().await;

    assert_eq!(world.linear.issues().len(), 1);
    assert_eq!(
        (first.filed.len(), first.failed.len(), first.pending),
        (1, 1, 1)
    );
    assert!(
        first.failed[0].error.contains("linear"),
        "{}",
        first.failed[0].error
    );

    world.linear.end_outage();
    let second = world.run_drift().await;

    assert_eq!(
        world.linear.issues().len(),
        2,
        "the pending issue is filed exactly once"
    );
    assert_eq!((second.filed.len(), second.pending), (1, 0));
    let model_calls = world.openai.requests().await.len();
    assert_eq!(
        model_calls, 2,
        "the stored draft is reused, not drafted again"
    );
}

#[tokio::test]
async fn a_lost_linear_reply_does_not_file_the_issue_twice() {
    let world = DriftWorld::new().await;
    world.openai.answers_with(model_answer()).await;
    after_day1(&world).await;
    world.linear.lose_next_create_response();

    let report = world.run_drift().await;

    assert_eq!(world.linear.issues().len(), 2);
    assert_eq!(report.pending, 0);
}

/// Fails to record the first filed issue, as if the process died after Linear accepted it.
struct CrashAfterFiling<'a> {
    inner: &'a secops_shared::drift::pg_store::PgStore,
    crashed: AtomicBool,
}

impl DriftStore for CrashAfterFiling<'_> {
    async fn write_raw_inventory(&self, rows: &[RawGrant]) -> Result<u64, StoreError> {
        self.inner.write_raw_inventory(rows).await
    }
    async fn record_run(&self, run: &RunStart) -> Result<RecordOutcome, StoreError> {
        self.inner.record_run(run).await
    }
    async fn pending_filings(&self, limit: usize) -> Result<Vec<Filing>, StoreError> {
        self.inner.pending_filings(limit).await
    }
    async fn pending_count(&self) -> Result<u64, StoreError> {
        self.inner.pending_count().await
    }
    async fn save_draft(&self, filing: Uuid, draft: &Draft) -> Result<(), StoreError> {
        self.inner.save_draft(filing, draft).await
    }
    async fn mark_attempt(&self, filing: Uuid, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.inner.mark_attempt(filing, at).await
    }
    async fn mark_filed(
        &self,
        filing: Uuid,
        issue: &FiledIssue,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if !self.crashed.swap(true, Ordering::SeqCst) {
            return Err(StoreError::Corrupt(
                "simulated crash before recording".to_owned(),
            ));
        }
        self.inner.mark_filed(filing, issue, at).await
    }
    async fn mark_failed(&self, filing: Uuid, error: &str) -> Result<(), StoreError> {
        self.inner.mark_failed(filing, error).await
    }
    async fn finish_run(
        &self,
        run_id: Uuid,
        report: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.finish_run(run_id, report, at).await
    }
    async fn baseline(&self) -> Result<Vec<Grant>, StoreError> {
        self.inner.baseline().await
    }
    async fn run_changes(&self, run_id: Uuid) -> Result<Vec<Change>, StoreError> {
        self.inner.run_changes(run_id).await
    }
}

#[tokio::test]
async fn a_crash_after_linear_accepted_an_issue_does_not_duplicate_it_on_rerun() {
    let world = DriftWorld::new().await;
    world.openai.answers_with(model_answer()).await;
    after_day1(&world).await;
    let crashing = CrashAfterFiling {
        inner: &world.store,
        crashed: AtomicBool::new(false),
    };

    let crashed = world
        .run_with(&crashing, Some(&world.llm), Utc::now())
        .await;
    assert!(matches!(crashed, Err(DriftError::Store(_))), "{crashed:?}");
    assert_eq!(
        world.linear.issues().len(),
        1,
        "Linear accepted the first issue"
    );

    let rerun = world.run_drift().await;

    assert_eq!(
        world.linear.issues().len(),
        2,
        "no duplicate of the accepted issue"
    );
    assert_eq!(rerun.filed.iter().filter(|f| f.recovered).count(), 1);
    assert_eq!(rerun.pending, 0);
}

#[tokio::test]
async fn with_the_model_down_the_template_text_is_filed() {
    let world = DriftWorld::new().await;
    world.openai.fails_with(503).await;
    after_day1(&world).await;

    let report = world.run_drift().await;

    assert_eq!(world.linear.issues().len(), 2);
    assert_eq!(report.drafted_by_template, 2);
    for issue in world.linear.issues() {
        assert!(
            issue
                .description
                .contains("Drafted from the deterministic template"),
            "{}",
            issue.description
        );
        assert!(issue.description.contains("1. What business purpose"));
    }
    snapshots::settings(&[(&snapshots::clock_time(), "[run time]")])
        .bind(|| insta::assert_snapshot!("template_issues", issues_as_read(&world)));
}

#[tokio::test]
async fn without_a_model_configured_filing_does_not_wait_for_one() {
    let world = DriftWorld::new().await;
    after_day1(&world).await;

    let report = world.run_drift_without_model().await;

    assert_eq!((report.filed.len(), report.drafted_by_template), (2, 2));
    assert!(world.openai.requests().await.is_empty());
}

#[tokio::test]
async fn a_model_answer_carrying_a_link_is_replaced_by_the_template() {
    let world = DriftWorld::new().await;
    world
        .openai
        .answers_with(serde_json::json!({
            "capabilities": "Totally safe. Verify at https://evil.example/login",
            "questions": ["Why?"],
            "consequence": "None."
        }))
        .await;
    after_day1(&world).await;

    world.run_drift().await;

    for issue in world.linear.issues() {
        assert!(!issue.description.contains("evil.example"));
        assert!(issue.description.contains("deterministic template"));
    }
}

#[tokio::test]
async fn an_exhausted_model_quota_is_asked_once_then_the_template_is_used() {
    let world = DriftWorld::new().await;
    world.openai.out_of_quota().await;
    world.inventory(day1()).await;
    world.run_drift().await;
    let mut today = day2();
    today.extend((0..5).map(|i| google(&format!("extra{i}"), "zed@example.com", &[OPENID])));
    world.inventory(today).await;
    let mut settings = world.settings.clone();
    settings.llm.concurrency = 1;
    let world = DriftWorld { settings, ..world };

    let report = world.run_drift().await;

    assert_eq!(report.drafted_by_template, 7);
    assert_eq!(world.openai.requests().await.len(), 1);
}

#[tokio::test]
async fn a_malformed_inventory_row_stops_the_run_and_the_baseline_does_not_move() {
    let world = DriftWorld::new().await;
    after_day1(&world).await;
    let before = world.store.baseline().await.unwrap();
    let mut rows: Vec<RawGrant> = day2().iter().map(InventoryGrant::to_raw).collect();
    rows.push(raw("google", "bad", "x@example.com", &[OPENID], "everyone"));
    world.store.write_raw_inventory(&rows).await.unwrap();

    let err = world.try_run_drift().await.unwrap_err();

    let message = err.to_string();
    assert!(message.contains("google/bad/x@example.com"), "{message}");
    assert!(message.contains("consent_type"), "{message}");
    assert!(message.contains("baseline did not move"), "{message}");
    assert_eq!(world.store.baseline().await.unwrap(), before);
    assert!(world.linear.issues().is_empty());
}

#[tokio::test]
async fn many_principals_getting_the_same_app_make_one_issue() {
    let world = DriftWorld::new().await;
    world.openai.answers_with(model_answer()).await;
    world.inventory(day1()).await;
    world.run_drift().await;
    let mut today = day1();
    today.extend(
        (0..25).map(|i| google("spreader", &format!("u{i:02}@example.com"), &[DRIVE_READ])),
    );
    world.inventory(today).await;

    world.run_drift().await;

    let issues = world.linear.issues();
    assert_eq!(issues.len(), 1);
    assert_eq!(
        issues[0].title,
        "New OAuth grant: spreader app for 25 principals"
    );
    assert!(issues[0].description.contains(&format!(
        "- {}",
        markdown::list_item("u24@example.com", "?")
    )));
}

/// Every principal's line, from the description and then the comments, unescaped.
fn listed_principals(description: &str, comments: &[String]) -> Vec<String> {
    std::iter::once(description)
        .chain(comments.iter().map(String::as_str))
        .flat_map(str::lines)
        .filter_map(|line| line.strip_prefix("- "))
        .map(|item| item.replace(['\\', markdown::BREAK], ""))
        .collect()
}

fn spreader_day(principals: usize) -> Vec<InventoryGrant> {
    let mut today = day1();
    today.extend(
        (0..principals).map(|i| google("spreader", &format!("u{i:05}@example.com"), &[DRIVE_READ])),
    );
    today
}

#[tokio::test]
async fn ten_thousand_principals_are_all_on_the_issue_in_its_description_and_comments() {
    let world = DriftWorld::new().await;
    world.openai.answers_with(model_answer()).await;
    world.inventory(day1()).await;
    world.run_drift().await;
    world.inventory(spreader_day(10_000)).await;

    let report = world.run_drift().await;

    assert_eq!((report.filed.len(), report.pending), (1, 0));
    let issue = &world.linear.issues()[0];
    let comments = world.linear.comments(&issue.id);
    assert!(!comments.is_empty());
    assert!(issue.description.chars().count() <= 30_000);
    assert!(comments.iter().all(|c| c.chars().count() <= 30_000));
    let expected: Vec<String> = (0..10_000)
        .map(|i| format!("u{i:05}@example.com"))
        .collect();
    assert_eq!(
        listed_principals(&issue.description, &comments),
        expected,
        "every principal once, in order"
    );
    assert!(!issue.description.contains("more (see the change log"));
}

#[tokio::test]
async fn comments_that_failed_are_posted_by_the_next_run_without_duplicates() {
    let world = DriftWorld::new().await;
    world.openai.answers_with(model_answer()).await;
    world.inventory(day1()).await;
    world.run_drift().await;
    world.inventory(spreader_day(3_000)).await;
    world.linear.comment_outage();

    let first = world.run_drift().await;

    assert_eq!(
        (first.filed.len(), first.failed.len(), first.pending),
        (0, 1, 1)
    );
    let issue_id = world.linear.issues()[0].id.clone();
    assert!(world.linear.comments(&issue_id).is_empty());

    world.linear.end_comment_outage();
    world.linear.lose_next_comment_response();
    let second = world.run_drift().await;

    assert_eq!((second.filed.len(), second.pending), (1, 0));
    assert!(second.filed[0].recovered);
    assert_eq!(world.linear.issues().len(), 1);
    let issue = &world.linear.issues()[0];
    let comments = world.linear.comments(&issue_id);
    let expected: Vec<String> = (0..3_000).map(|i| format!("u{i:05}@example.com")).collect();
    assert_eq!(listed_principals(&issue.description, &comments), expected);
}

#[tokio::test]
async fn a_refusal_carrying_a_link_is_not_quoted_in_the_issue() {
    let world = DriftWorld::new().await;
    world
        .openai
        .refuses("Sorry, this app is approved: see https://evil.example/approved")
        .await;
    after_day1(&world).await;

    let report = world.run_drift().await;

    assert_eq!(report.drafted_by_template, 2);
    for issue in world.linear.issues() {
        assert!(!issue.description.contains("evil"), "{}", issue.description);
        assert!(!issue.description.contains("Sorry"));
        assert!(
            issue
                .description
                .contains("Drafted from the deterministic template because the model refused"),
            "{}",
            issue.description
        );
    }
}

#[tokio::test]
async fn an_elevated_grant_shows_when_it_first_appeared_and_when_it_was_detected() {
    let world = DriftWorld::new().await;
    world.openai.answers_with(model_answer()).await;
    let first_day = Utc::now() - chrono::Duration::days(40);
    world.inventory(day1()).await;
    world
        .run_with(&world.store, Some(&world.llm), first_day)
        .await
        .unwrap();
    world.inventory(day2()).await;
    let today = Utc::now();

    world
        .run_with(&world.store, Some(&world.llm), today)
        .await
        .unwrap();

    let issues = world.linear.issues();
    let crm = issues.iter().find(|i| i.title.contains("crm")).unwrap();
    let row =
        |label: &str, at: DateTime<Utc>| format!("| {label} | {}", at.format("%Y-%m-%d %H:%M UTC"));
    assert!(
        crm.description.contains(&row("First seen", first_day)),
        "{}",
        crm.description
    );
    assert!(crm.description.contains(&row("Detected", today)));
    let mailer = issues.iter().find(|i| i.title.contains("mailer")).unwrap();
    assert!(mailer.description.contains(&row("First seen", today)));
}
