//! The Linear issue renderer (drift audit). Properties, checked by parsing the description and
//! every comment with a CommonMark + GFM parser as Linear reads them: no link, image, HTML,
//! footnote, math or task-list node; no bare URL, `www.` or address a GFM autolinker would
//! link; every table row as wide as its header; each fact cell reads exactly the value it
//! shows (so no `|` split it) and the Risk column holds a risk level.
//!
//! The values come from the input parsed as an inventory (seed files are the sample exports) and
//! from its lines taken as app name, publisher, client id, principal and scope.

use chrono::{TimeZone, Utc};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use secops_shared::drift::diff::{Change, ChangeKind};
use secops_shared::drift::filing::Filing;
use secops_shared::drift::grant::{ConsentType, GrantKey, GrantState, Provider};
use secops_shared::drift::import::{ImportFormat, parse_inventory};
use secops_shared::drift::justification::{self, Draft, JustificationText};
use secops_shared::drift::render::{self, MAX_COMMENT_CHARS, NewIssue};
use secops_shared::drift::scopes::Scopes;
use secops_shared::markdown::BREAK;
use uuid::Uuid;

/// Grants rendered from one inventory input: enough to cover a group, bounded for speed.
const MAX_GRANTS: usize = 20;

pub fn issue(data: &[u8]) {
    let f = crate::fields(data, 5);
    check_values(&f[0], &f[1], &f[2], &f[3], &f[4]);
    let content = crate::text(data);
    for format in [ImportFormat::Gam, ImportFormat::Csv, ImportFormat::Json] {
        let Ok(grants) = parse_inventory("fuzz", &content, format) else {
            continue;
        };
        let changes: Vec<Change> = grants
            .into_iter()
            .take(MAX_GRANTS)
            .map(|g| Change {
                key: g.grant.key,
                kind: ChangeKind::New,
                before: None,
                after: Some(g.grant.state),
            })
            .collect();
        for change in &changes {
            let one = filing(vec![change.clone()]);
            let app = &change.current().app_name;
            check_issue(&render::issue_for(&one, &model_draft(app)));
            let draft = justification::template_draft(&one.changes, app);
            check_issue(&render::issue_for(&one, &draft));
        }
        if changes.len() > 1 {
            check_issue(&render::issue_for(&filing(changes), &model_draft("group")));
        }
    }
}

fn filing(changes: Vec<Change>) -> Filing {
    Filing {
        id: Uuid::nil(),
        run_id: Uuid::nil(),
        detected_at: Utc.with_ymd_and_hms(2026, 12, 3, 7, 0, 0).unwrap(),
        first_seen: None,
        changes,
        draft: None,
        attempts: 0,
        last_error: None,
    }
}

fn state(app: &str, publisher: Option<&str>, scopes: &[String]) -> GrantState {
    GrantState {
        app_name: app.to_owned(),
        scopes: Scopes::normalise(Provider::Google, scopes),
        consent: ConsentType::User,
        publisher: publisher.map(str::to_owned),
        verified: Some(false),
    }
}

fn new_change(
    client: &str,
    principal: &str,
    app: &str,
    publisher: Option<&str>,
    scopes: &[String],
) -> Change {
    Change {
        key: GrantKey {
            provider: Provider::Google,
            client_id: client.to_owned(),
            principal: principal.to_owned(),
        },
        kind: ChangeKind::New,
        before: None,
        after: Some(state(app, publisher, scopes)),
    }
}

fn elevated_change(client: &str, principal: &str, app: &str, scopes: &[String]) -> Change {
    let mut change = new_change(client, principal, app, None, scopes);
    change.kind = ChangeKind::Elevated;
    change.before = Some(state(app, None, &["openid".to_owned()]));
    change
}

fn model_draft(text: &str) -> Draft {
    Draft::from_model(
        JustificationText {
            capabilities: text.to_owned(),
            questions: vec![text.to_owned(), "Why?".to_owned()],
            consequence: text.to_owned(),
        },
        "fuzz-model",
    )
}

/// One set of values rendered every way it can appear: a single new grant with a model draft and
/// with the template draft, and a grouped elevation.
pub fn check_values(app: &str, publisher: &str, client: &str, principal: &str, scope: &str) {
    let scopes = vec![scope.to_owned(), "openid".to_owned()];
    let single = filing(vec![new_change(
        client,
        principal,
        app,
        Some(publisher),
        &scopes,
    )]);
    for draft in [
        model_draft(app),
        justification::template_draft(&single.changes, publisher),
    ] {
        let issue = render::issue_for(&single, &draft);
        let parsed = check_issue(&issue);
        let fact = |label: &str| parsed.fact(label).map(without_breaks);
        let body = &issue.description;
        assert_eq!(
            fact("App"),
            Some(expected(app, "(no name)")),
            "App cell in:\n{body}"
        );
        assert_eq!(
            fact("App / client id"),
            Some(expected(client, "(none)")),
            "client id cell in:\n{body}"
        );
        assert_eq!(
            fact("Principal"),
            Some(expected(principal_label(principal), "(none)")),
            "Principal cell in:\n{body}"
        );
        assert_eq!(
            fact("Publisher"),
            Some(format!("{} (unverified)", expected(publisher, "(none)"))),
            "Publisher cell in:\n{body}"
        );
        let scope_table = parsed.tables.get(1).expect("a scope table");
        for row in &scope_table[1..] {
            assert!(
                ["low", "medium", "high", "critical"].contains(&row[1].as_str()),
                "the Risk column moved: {row:?}\n{body}"
            );
        }
    }
    let group = filing(vec![
        elevated_change(client, principal, app, &scopes),
        elevated_change(client, "second@example.com", app, &scopes),
    ]);
    let issue = render::issue_for(&group, &model_draft(publisher));
    let parsed = check_issue(&issue);
    let listed: Vec<String> = parsed
        .items
        .iter()
        .rev()
        .take(2)
        .map(|i| without_breaks(i))
        .collect();
    assert_eq!(
        listed,
        [
            "second@example.com".to_owned(),
            expected(principal_label(principal), "?")
        ],
        "principal list in:\n{}",
        issue.description
    );
}

fn principal_label(principal: &str) -> &str {
    if principal == "*" {
        "the whole organisation"
    } else {
        principal
    }
}

/// The text a reader should see for an untrusted value: controls as spaces, whitespace runs
/// collapsed, bidi controls as U+FFFD.
fn shown(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => '\u{FFFD}',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn without_breaks(text: &str) -> String {
    text.replace(BREAK, "")
}

/// What a cell or item holding `value` should read (breaks aside).
fn expected(value: &str, placeholder: &str) -> String {
    if shown(value).is_empty() {
        placeholder.to_owned()
    } else {
        without_breaks(&shown(value))
    }
}

/// What a parsed document holds: its tables (rows of cell texts, header first) and list items.
#[derive(Debug, Default)]
pub struct Parsed {
    pub tables: Vec<Vec<Vec<String>>>,
    pub items: Vec<String>,
}

impl Parsed {
    /// The value of the facts table's row labelled `label`.
    pub fn fact(&self, label: &str) -> Option<&str> {
        self.tables
            .first()?
            .iter()
            .find(|row| row[0] == label)
            .map(|row| row[1].as_str())
    }
}

/// The issue parsed: title one line, description and every comment inert, comments bounded;
/// the list items of the description then of each comment.
pub fn check_issue(issue: &NewIssue) -> Parsed {
    assert!(
        !issue.title.chars().any(char::is_control),
        "{:?}",
        issue.title
    );
    let mut parsed = parse_inert(&issue.description);
    // A long principal list goes on in comments: its items follow the description's.
    for comment in &issue.comments {
        assert!(comment.body.chars().count() <= MAX_COMMENT_CHARS);
        parsed.items.extend(parse_inert(&comment.body).items);
    }
    parsed
}

/// Parse `markdown` as Linear would and panic on anything live; return what it holds.
pub fn parse_inert(markdown: &str) -> Parsed {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_GFM
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_MATH;
    let mut parsed = Parsed::default();
    let mut text = String::new();
    let mut cell: Option<String> = None;
    let mut item: Option<String> = None;
    for event in Parser::new_ext(markdown, options) {
        match &event {
            Event::Text(t) => {
                text.push_str(t);
                cell.iter_mut()
                    .chain(item.iter_mut())
                    .for_each(|s| s.push_str(t));
                continue;
            }
            Event::Code(t) => {
                if let Some(c) = cell.as_mut() {
                    c.push_str(t);
                }
            }
            Event::Start(Tag::Link { .. } | Tag::Image { .. } | Tag::HtmlBlock)
            | Event::Html(_)
            | Event::InlineHtml(_)
            | Event::FootnoteReference(_)
            | Event::InlineMath(_)
            | Event::DisplayMath(_)
            | Event::TaskListMarker(_) => panic!("live markdown {event:?} in:\n{markdown}"),
            Event::Start(Tag::Table(_)) => parsed.tables.push(Vec::new()),
            Event::Start(Tag::TableHead | Tag::TableRow) => {
                if let Some(table) = parsed.tables.last_mut() {
                    table.push(Vec::new());
                }
            }
            Event::Start(Tag::TableCell) => cell = Some(String::new()),
            Event::End(TagEnd::TableCell) => {
                if let Some(row) = parsed.tables.last_mut().and_then(|t| t.last_mut()) {
                    row.push(cell.take().unwrap_or_default());
                }
            }
            Event::Start(Tag::Item) => item = Some(String::new()),
            Event::End(TagEnd::Item) => parsed.items.push(item.take().unwrap_or_default()),
            _ => {}
        }
        check_no_bare_links(&text, markdown);
        text.clear();
    }
    check_no_bare_links(&text, markdown);
    for table in &parsed.tables {
        let width = table[0].len();
        for row in table {
            assert_eq!(
                row.len(),
                width,
                "row {row:?} changed the cell count in:\n{markdown}"
            );
        }
    }
    parsed
}

/// Text outside code spans must hold nothing GFM's autolink extension links: `scheme:/`,
/// `www.`, or an address (`x@`).
fn check_no_bare_links(text: &str, markdown: &str) {
    let lower = text.to_lowercase();
    assert!(
        !lower.contains(":/"),
        "bare URL in {text:?} of:\n{markdown}"
    );
    assert!(
        !lower.contains("www."),
        "www autolink in {text:?} of:\n{markdown}"
    );
    let chars: Vec<char> = text.chars().collect();
    for pair in chars.windows(2) {
        let address_like = pair[0].is_alphanumeric() || "._+-".contains(pair[0]);
        assert!(
            !(pair[1] == '@' && address_like),
            "email autolink in {text:?} of:\n{markdown}"
        );
    }
}
