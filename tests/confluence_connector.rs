//! The Confluence connector against the stateful fake: what a workflow reads and writes on the
//! audit page, what happens when someone else saves first, and what it is told when Confluence
//! pushes back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use secops_shared::connectors::confluence::{
    ConfluenceClient, ConfluenceConfig, ConfluenceError, PageSummary, escape_text, table_row,
};
use secops_shared::http::{RetryPolicy, build_client};
use secops_shared::secrets::{Credentials, SecretSource, SecretStore};
use secops_tests::fake_confluence::{FakeConfluence, validate_storage};
use secrecy::SecretString;
use serde_json::json;

const EMAIL: &str = "secops-bot@acme.example";
const TOKEN: &str = "ATATT-test-token-5ecret";
/// `base64("secops-bot@acme.example:ATATT-test-token-5ecret")`, worked out independently.
const BASIC: &str = "Basic c2Vjb3BzLWJvdEBhY21lLmV4YW1wbGU6QVRBVFQtdGVzdC10b2tlbi01ZWNyZXQ=";
const ROTATED: &str = "ATATT-rotated-5ecret";
const ROTATED_BASIC: &str = "Basic c2Vjb3BzLWJvdEBhY21lLmV4YW1wbGU6QVRBVFQtcm90YXRlZC01ZWNyZXQ=";

const SPACE: &str = "65537";
const HOME: &str = "100";
const AUDIT: &str = "200";
const AUDIT_TITLE: &str = "Security audit log";
const TABLE: &str = "<table><tbody><tr><th>ID</th><th>Finding</th></tr></tbody></table>";

/// Retries that take milliseconds, so failing tests stay fast.
fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    }
}

fn store(email: Option<&str>, token: Option<&str>) -> Arc<SecretStore> {
    Arc::new(SecretStore::fixed(Credentials {
        confluence_email: email.map(SecretString::from),
        confluence_api_token: token.map(SecretString::from),
        ..Credentials::default()
    }))
}

fn client_with(config: ConfluenceConfig, secrets: Arc<SecretStore>) -> ConfluenceClient {
    ConfluenceClient::new(build_client(Duration::from_secs(5)), secrets, config)
}

fn config(confluence: &FakeConfluence) -> ConfluenceConfig {
    ConfluenceConfig {
        base_url: confluence.base_url(),
        retry: fast_retry(),
    }
}

fn client(confluence: &FakeConfluence) -> ConfluenceClient {
    client_with(config(confluence), store(Some(EMAIL), Some(TOKEN)))
}

/// A space with a home page and the audit page under it.
async fn site() -> FakeConfluence {
    let confluence = FakeConfluence::start().await;
    confluence.add_page(HOME, SPACE, None, "Security", "<p>Home</p>");
    confluence.add_page(AUDIT, SPACE, Some(HOME), AUDIT_TITLE, TABLE);
    confluence
}

/// The table with one more row, as the audit writer builds it.
fn with_row(body: &str, cells: &[&str]) -> String {
    body.replacen("</tbody>", &format!("{}</tbody>", table_row(cells)), 1)
}

/// A credentials file the test can rotate.
fn file_store(dir: &tempfile::TempDir, token: &str) -> (Arc<SecretStore>, std::path::PathBuf) {
    let path = dir.path().join("credentials.json");
    write_credentials(&path, token);
    let secrets = Arc::new(SecretStore::new(
        SecretSource::File(path.clone()),
        Duration::from_secs(300),
    ));
    (secrets, path)
}

fn write_credentials(path: &std::path::Path, token: &str) {
    let text = json!({ "confluence_email": EMAIL, "confluence_api_token": token }).to_string();
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn a_page_is_read_with_its_version_body_and_parent() {
    let confluence = site().await;

    let page = client(&confluence).page(AUDIT).await.unwrap();

    // The fake, like Confluence, sends the body only when asked for `body-format=storage`.
    assert_eq!(page.id, AUDIT);
    assert_eq!(page.title, AUDIT_TITLE);
    assert_eq!(page.space_id, SPACE);
    assert_eq!(page.parent_id.as_deref(), Some(HOME));
    assert_eq!(page.version, 1);
    assert_eq!(page.body, TABLE);
    assert_eq!(
        page.web_url,
        Some(format!(
            "{}/spaces/{SPACE}/pages/{AUDIT}/Security+audit+log",
            confluence.base_url()
        ))
    );
    let home = client(&confluence).page(HOME).await.unwrap();
    assert_eq!(home.parent_id, None);
}

#[tokio::test]
async fn a_missing_page_is_not_found_without_retrying() {
    let confluence = site().await;

    let err = client(&confluence).page("404404").await.unwrap_err();

    assert!(matches!(err, ConfluenceError::NotFound), "{err}");
    assert!(!err.is_transient());
    assert_eq!(confluence.calls("GET", "/pages/404404"), 1);
}

#[tokio::test]
async fn an_update_with_the_next_version_replaces_the_body_and_bumps_the_version() {
    let confluence = site().await;
    let client = client(&confluence);
    let page = client.page(AUDIT).await.unwrap();
    let body = with_row(&page.body, &["SEC-123", "Stale admin key"]);

    let updated = client
        .update_page(
            AUDIT,
            &page.title,
            &body,
            page.version + 1,
            "SecOps bot: added SEC-123",
        )
        .await
        .unwrap();

    assert_eq!(updated.version, 2);
    assert_eq!(updated.body, body);
    assert_eq!(confluence.page_version(AUDIT), 2);
    assert_eq!(
        confluence.page_body(AUDIT),
        "<table><tbody><tr><th>ID</th><th>Finding</th></tr>\
         <tr><td>SEC-123</td><td>Stale admin key</td></tr></tbody></table>"
    );
    assert_eq!(
        confluence.version_message(AUDIT),
        "SecOps bot: added SEC-123"
    );
    let sent = confluence.bodies().await.pop().unwrap();
    assert_eq!(
        sent,
        json!({
            "id": AUDIT, "status": "current", "title": AUDIT_TITLE,
            "body": { "representation": "storage", "value": body },
            "version": { "number": 2, "message": "SecOps bot: added SEC-123" },
        })
    );
}

#[tokio::test]
async fn an_update_with_a_stale_version_is_a_conflict_and_changes_nothing() {
    let confluence = site().await;
    let client = client(&confluence);
    let page = client.page(AUDIT).await.unwrap();
    client
        .update_page(AUDIT, &page.title, TABLE, page.version + 1, "first")
        .await
        .unwrap();

    let err = client
        .update_page(
            AUDIT,
            &page.title,
            "<p>late</p>",
            page.version + 1,
            "second",
        )
        .await
        .unwrap_err();

    assert!(matches!(err, ConfluenceError::Conflict), "{err}");
    assert!(!err.is_transient());
    assert_eq!(confluence.page_version(AUDIT), 2);
    assert_eq!(confluence.page_body(AUDIT), TABLE);
    assert_eq!(
        confluence.calls("PUT", "/pages/200"),
        2,
        "a 409 is not retried"
    );
}

#[tokio::test]
async fn a_concurrent_editor_makes_the_update_a_conflict_and_a_reread_then_succeeds() {
    let confluence = site().await;
    let client = client(&confluence);
    let page = client.page(AUDIT).await.unwrap();
    confluence.conflict_next(1);

    let err = client
        .update_page(
            AUDIT,
            &page.title,
            &with_row(&page.body, &["SEC-1", "x"]),
            2,
            "m",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ConfluenceError::Conflict), "{err}");
    assert_eq!(confluence.page_version(AUDIT), 2, "the other editor's save");
    assert_eq!(confluence.calls("PUT", "/pages/200"), 1);

    let fresh = client.page(AUDIT).await.unwrap();
    let body = with_row(&fresh.body, &["SEC-1", "x"]);
    let updated = client
        .update_page(AUDIT, &fresh.title, &body, fresh.version + 1, "m")
        .await
        .unwrap();

    assert_eq!(updated.version, 3);
    assert_eq!(confluence.page_body(AUDIT), body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_simultaneous_updates_from_the_same_version_exactly_one_wins() {
    let confluence = site().await;
    let client = Arc::new(client(&confluence));
    let page = client.page(AUDIT).await.unwrap();
    let bodies: Vec<String> = (0..8)
        .map(|i| with_row(&page.body, &[&format!("SEC-{i}"), "race"]))
        .collect();

    let tasks: Vec<_> = bodies
        .iter()
        .map(|body| {
            let (client, body, title) = (client.clone(), body.clone(), page.title.clone());
            tokio::spawn(async move { client.update_page(AUDIT, &title, &body, 2, "race").await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }

    let won: Vec<usize> = (0..results.len()).filter(|i| results[*i].is_ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, ConfluenceError::Conflict)),
        "{results:?}"
    );
    assert_eq!(confluence.page_version(AUDIT), 2);
    assert_eq!(confluence.page_body(AUDIT), bodies[won[0]]);
}

#[tokio::test]
async fn a_rate_limit_is_waited_out_as_retry_after_says_then_the_read_succeeds() {
    let confluence = site().await;
    confluence.rate_limit_next(1, 1);
    let patient = ConfluenceConfig {
        retry: RetryPolicy {
            max_delay: Duration::from_secs(2),
            ..fast_retry()
        },
        ..config(&confluence)
    };
    let started = Instant::now();

    let page = client_with(patient, store(Some(EMAIL), Some(TOKEN)))
        .page(AUDIT)
        .await
        .unwrap();

    assert_eq!(page.version, 1);
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_eq!(confluence.calls("GET", "/pages/200"), 2);
}

#[tokio::test]
async fn a_rate_limit_outlasting_the_retries_says_how_long_to_wait() {
    let confluence = site().await;
    confluence.rate_limit_next(10, 0);

    let err = client(&confluence).page(AUDIT).await.unwrap_err();

    assert!(
        matches!(err, ConfluenceError::RateLimited { retry_after: Some(d) } if d == Duration::ZERO),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(confluence.calls("GET", "/pages/200"), 3);
}

#[tokio::test]
async fn server_errors_are_retried_and_the_update_lands_once() {
    let confluence = site().await;
    confluence.fail_next(2, 503);

    let updated = client(&confluence)
        .update_page(AUDIT, AUDIT_TITLE, "<p>new</p>", 2, "m")
        .await
        .unwrap();

    assert_eq!(updated.version, 2);
    assert_eq!(confluence.page_body(AUDIT), "<p>new</p>");
    assert_eq!(confluence.calls("PUT", "/pages/200"), 3);
}

#[tokio::test]
async fn server_errors_outlasting_the_retries_are_unavailable() {
    let confluence = site().await;
    confluence.fail_next(10, 502);

    let err = client(&confluence).page(AUDIT).await.unwrap_err();

    assert!(matches!(err, ConfluenceError::Unavailable(_)), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(confluence.calls("GET", "/pages/200"), 3);
}

#[tokio::test]
async fn requests_carry_basic_auth_of_the_email_and_token() {
    let confluence = site().await;
    confluence.accept_only(EMAIL, TOKEN);

    client(&confluence).page(AUDIT).await.unwrap();

    assert_eq!(confluence.header_values("authorization").await, [BASIC]);
}

#[tokio::test]
async fn a_rotated_token_is_picked_up_after_a_401_and_the_update_succeeds() {
    let confluence = site().await;
    let dir = tempfile::tempdir().unwrap();
    let (secrets, path) = file_store(&dir, TOKEN);
    let client = client_with(config(&confluence), secrets);
    let page = client.page(AUDIT).await.unwrap();

    write_credentials(&path, ROTATED);
    confluence.accept_only(EMAIL, ROTATED);
    client
        .update_page(AUDIT, &page.title, "<p>after rotation</p>", 2, "m")
        .await
        .unwrap();

    assert_eq!(confluence.page_body(AUDIT), "<p>after rotation</p>");
    assert_eq!(
        confluence.header_values("authorization").await,
        [BASIC, BASIC, ROTATED_BASIC],
        "the update was refused once (401), then resent with the re-read token"
    );
}

#[tokio::test]
async fn a_token_refused_even_after_rereading_is_an_auth_error_after_one_reread() {
    let confluence = site().await;
    let dir = tempfile::tempdir().unwrap();
    let (secrets, path) = file_store(&dir, TOKEN);
    let client = client_with(config(&confluence), secrets);
    client.page(AUDIT).await.unwrap();

    write_credentials(&path, "ATATT-also-wrong");
    confluence.accept_only(EMAIL, "ATATT-some-other-token");
    let err = client.page(AUDIT).await.unwrap_err();

    assert!(matches!(err, ConfluenceError::Auth), "{err:?}");
    assert_eq!(
        confluence.header_values("authorization").await.len(),
        3,
        "one read before the rotation; then one attempt and one after re-reading, no more"
    );
}

#[tokio::test]
async fn a_refused_token_that_rereading_does_not_change_is_not_sent_again() {
    let confluence = site().await;
    confluence.accept_only(EMAIL, "ATATT-some-other-token");
    let dir = tempfile::tempdir().unwrap();
    let (secrets, _path) = file_store(&dir, TOKEN);

    let err = client_with(config(&confluence), secrets)
        .page(AUDIT)
        .await
        .unwrap_err();

    assert!(matches!(err, ConfluenceError::Auth), "{err:?}");
    assert_eq!(confluence.calls("GET", "/pages/200"), 1);
}

#[tokio::test]
async fn missing_credentials_fail_before_any_request() {
    let confluence = site().await;

    let no_token = client_with(config(&confluence), store(Some(EMAIL), None));
    let no_email = client_with(config(&confluence), store(None, Some(TOKEN)));
    let blank = client_with(config(&confluence), store(Some(" "), Some(TOKEN)));

    for client in [no_token, no_email, blank] {
        let err = client.page(AUDIT).await.unwrap_err();
        assert!(matches!(err, ConfluenceError::MissingCredentials), "{err}");
    }
    assert_eq!(confluence.calls("GET", ""), 0);
}

#[tokio::test]
async fn credentials_never_appear_in_any_error() {
    let mut errors = Vec::new();
    let refused = site().await;
    refused.accept_only(EMAIL, "ATATT-other");
    errors.push(client(&refused).page(AUDIT).await.unwrap_err());
    errors.push(
        client(&refused)
            .update_page(AUDIT, "t", "<p/>", 2, "m")
            .await
            .unwrap_err(),
    );
    let down = site().await;
    down.fail_next(10, 503);
    errors.push(client(&down).page(AUDIT).await.unwrap_err());
    let limited = site().await;
    limited.rate_limit_next(10, 0);
    errors.push(client(&limited).child_pages(HOME).await.unwrap_err());
    let fine = site().await;
    errors.push(
        client(&fine)
            .create_page(SPACE, None, AUDIT_TITLE, "<p/>")
            .await
            .unwrap_err(),
    );
    errors.push(
        client(&fine)
            .update_page(AUDIT, "t", "<p>", 2, "m")
            .await
            .unwrap_err(),
    );
    let unreachable = ConfluenceConfig {
        base_url: "http://127.0.0.1:9/wiki".to_owned(),
        retry: fast_retry(),
    };
    errors.push(
        client_with(unreachable, store(Some(EMAIL), Some(TOKEN)))
            .page(AUDIT)
            .await
            .unwrap_err(),
    );

    for err in &errors {
        let shown = format!("{err} / {err:?}");
        for secret in [TOKEN, "5ecret", BASIC, &BASIC["Basic ".len()..]] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
    assert_eq!(errors.len(), 7);
}

#[tokio::test]
async fn a_page_is_created_under_its_parent_with_a_new_id() {
    let confluence = site().await;
    let body = format!("<h2>2026-Q1</h2>{TABLE}");

    let page = client(&confluence)
        .create_page(SPACE, Some(AUDIT), "Audit 2026-Q1", &body)
        .await
        .unwrap();

    assert!(!page.id.is_empty() && page.id != AUDIT && page.id != HOME);
    assert_eq!(page.parent_id.as_deref(), Some(AUDIT));
    assert_eq!(page.space_id, SPACE);
    assert_eq!(page.version, 1);
    assert_eq!(page.body, body);
    assert_eq!(
        confluence.pages().last().cloned().unwrap(),
        (
            page.id.clone(),
            Some(AUDIT.to_owned()),
            "Audit 2026-Q1".to_owned(),
            1
        )
    );
    assert_eq!(confluence.page_body(&page.id), body);
    let sent = confluence.bodies().await.pop().unwrap();
    assert_eq!(
        sent,
        json!({
            "spaceId": SPACE, "status": "current", "title": "Audit 2026-Q1", "parentId": AUDIT,
            "body": { "representation": "storage", "value": body },
        })
    );
}

#[tokio::test]
async fn a_title_already_used_in_the_space_is_title_taken_and_creates_nothing() {
    let confluence = site().await;
    let client = client(&confluence);

    let err = client
        .create_page(SPACE, Some(HOME), AUDIT_TITLE, "<p/>")
        .await
        .unwrap_err();

    assert!(matches!(err, ConfluenceError::TitleTaken), "{err:?}");
    assert!(!err.is_transient());
    assert_eq!(confluence.pages().len(), 2);
    let elsewhere = client
        .create_page("98304", None, AUDIT_TITLE, "<p/>")
        .await
        .unwrap();
    assert_eq!(elsewhere.parent_id, None);
    assert_eq!(confluence.pages().len(), 3);
}

#[tokio::test]
async fn renaming_a_page_to_a_title_in_use_is_title_taken() {
    let confluence = site().await;

    let err = client(&confluence)
        .update_page(AUDIT, "Security", TABLE, 2, "rename")
        .await
        .unwrap_err();

    assert!(matches!(err, ConfluenceError::TitleTaken), "{err:?}");
    assert_eq!(confluence.page_version(AUDIT), 1);
}

#[tokio::test]
async fn every_child_is_listed_across_cursor_pages_in_order() {
    let confluence = site().await;
    for i in 1..=4 {
        confluence.add_page(
            &format!("30{i}"),
            SPACE,
            Some(HOME),
            &format!("Quarter {i}"),
            "<p/>",
        );
    }
    confluence.add_page("401", SPACE, Some("301"), "Grandchild", "<p/>");

    let children = client(&confluence).child_pages(HOME).await.unwrap();

    let expected: Vec<PageSummary> = [(AUDIT, AUDIT_TITLE)]
        .into_iter()
        .chain([
            ("301", "Quarter 1"),
            ("302", "Quarter 2"),
            ("303", "Quarter 3"),
            ("304", "Quarter 4"),
        ])
        .map(|(id, title)| PageSummary {
            id: id.to_owned(),
            title: title.to_owned(),
        })
        .collect();
    assert_eq!(children, expected);
    assert_eq!(
        confluence.calls("GET", "/pages/100/children"),
        3,
        "five children, two per page"
    );
}

#[tokio::test]
async fn a_page_without_children_lists_none_and_a_missing_one_is_not_found() {
    let confluence = site().await;
    let client = client(&confluence);

    assert_eq!(client.child_pages(AUDIT).await.unwrap(), []);
    let err = client.child_pages("999").await.unwrap_err();
    assert!(matches!(err, ConfluenceError::NotFound), "{err:?}");
}

#[tokio::test]
async fn a_listing_that_never_ends_is_an_error_not_a_hang() {
    let confluence = site().await;
    for i in 0..202 {
        confluence.add_page(&format!("5{i:04}"), SPACE, Some(HOME), &format!("P{i}"), "");
    }

    let err = client(&confluence).child_pages(HOME).await.unwrap_err();

    assert!(matches!(err, ConfluenceError::Malformed(_)), "{err:?}");
    assert_eq!(confluence.calls("GET", "/children"), 100);
}

#[tokio::test]
async fn an_unescaped_body_is_refused_and_the_escaped_one_is_stored() {
    let confluence = site().await;
    let client = client(&confluence);
    let finding = "a < b & \"c\"";

    let raw = TABLE.replacen(
        "</tbody>",
        &format!("<tr><td>{finding}</td></tr></tbody>"),
        1,
    );
    let err = client
        .update_page(AUDIT, AUDIT_TITLE, &raw, 2, "m")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConfluenceError::Api { status: 400, message } if message.contains("xhtml")),
        "{err:?}"
    );

    let escaped = with_row(TABLE, &["SEC-9", finding]);
    client
        .update_page(AUDIT, AUDIT_TITLE, &escaped, 2, "m")
        .await
        .unwrap();
    assert!(
        confluence
            .page_body(AUDIT)
            .contains("<td>a &lt; b &amp; &quot;c&quot;</td>")
    );
}

#[test]
fn escaped_text_is_well_formed_storage_whatever_it_holds() {
    let nasty = [
        "<script>alert(1)</script>",
        "Tom & Jerry &amp; &nbsp; &#0;",
        r#"say "hi" and 'bye'"#,
        "ends with ]]> and <![CDATA[ starts ]]>",
        "bell\u{7} nul\u{0} esc\u{1b}[0m del\u{7f} \u{FFFE}",
        "tab\tnewline\ncr\r",
        "</td></tr></tbody></table><p>",
        "Zoë 🔐",
    ];
    for text in nasty {
        let escaped = escape_text(text);
        assert!(!escaped.contains("]]>"), "{escaped}");
        let body = format!(
            r#"<p title="{escaped}">{escaped}</p>{}"#,
            table_row(&[text])
        );
        assert_eq!(validate_storage(&body), Ok(()), "{text:?} → {body}");
    }
    assert_eq!(
        escape_text(r#"<a href="x">O'Brien & co</a>"#),
        "&lt;a href=&quot;x&quot;&gt;O&#39;Brien &amp; co&lt;/a&gt;"
    );
}

#[test]
fn the_fake_refuses_what_confluence_cannot_parse() {
    for bad in [
        "<p>unclosed",
        "<p><b>crossed</p></b>",
        "stray </p>",
        "a < b",
        "a & b",
        "&no-such;",
        "<!-- a -- b -->",
        "<td class=x>unquoted</td>",
        "x ]]> y",
        "nul \u{0}",
        "<!-- open",
    ] {
        assert!(validate_storage(bad).is_err(), "{bad:?}");
    }
    for good in [
        "",
        "<br/>",
        "<p>a &amp; b &#160; &#xA0;</p>",
        // The storage format writes HTML's named entities (Atlassian's storage format page).
        "<p>&nbsp;&mdash;&hellip;</p>",
        r#"<ac:structured-macro ac:name="code"><ac:plain-text-body><![CDATA[a < b]]></ac:plain-text-body></ac:structured-macro>"#,
        "<table><tbody><tr><th>ID</th></tr><tr><td>SEC-1</td></tr></tbody></table>",
        "a > b",
    ] {
        assert_eq!(validate_storage(good), Ok(()), "{good:?}");
    }
}
