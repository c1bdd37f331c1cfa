//! The audit page's evidence rows, in Confluence storage format (XHTML): one row per merged
//! security MR, keyed by the MR's reference (`group/project!12`) so a retry finds its row and
//! never adds a second. All text from GitLab is escaped, so a row keeps the page well-formed
//! whatever an MR's title holds.
//!
//! The audit table is found by parsing the page ([`super::table`]): the one table whose first
//! row reads [`COLUMNS`]. A row goes into that table only, and only when that table has no row
//! for the MR yet; a page without exactly one audit table is refused, nothing written.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::table::{TableError, find_audit_table};
use crate::connectors::confluence::escape_text;

pub use super::table::COLUMNS;

/// One merged MR as the evidence shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    /// `group/project!12`: the row's key.
    pub reference: String,
    pub url: String,
    pub title: String,
    pub project: String,
    pub labels: Vec<String>,
    pub author: String,
    pub reviewers: String,
    pub approvers: String,
    pub merged_by: String,
    pub merged_at: Option<DateTime<Utc>>,
    /// Linked issue identifiers; empty = no tracking issue.
    pub linear: Vec<String>,
    /// Further identifiers the MR named beyond the ones considered (see `links::MAX_LINKED`).
    #[serde(default)]
    pub linear_ignored: usize,
    /// What the Linear decision was based on (the description's hash), and why nothing was
    /// closed when the MR resolved too many issues.
    #[serde(default)]
    pub linear_note: Option<String>,
    /// `audited`, or what the separation-of-duties check found.
    pub result: String,
}

fn cell(text: &str) -> String {
    format!("<td>{}</td>", escape_text(text))
}

/// The header row of the audit table.
pub fn header_row() -> String {
    let cells: String = COLUMNS.iter().map(|c| format!("<th>{c}</th>")).collect();
    format!("<tr>{cells}</tr>")
}

/// The row, as storage-format XHTML.
pub fn render_row(row: &AuditRow) -> String {
    let mr = format!(
        "<td><a href=\"{}\">{}</a></td>",
        escape_text(&row.url),
        escape_text(&row.reference)
    );
    let mut linear = if row.linear.is_empty() {
        "no tracking issue".to_owned()
    } else {
        row.linear.join(", ")
    };
    if let Some(note) = &row.linear_note {
        linear.push_str(&format!("; {note}"));
    }
    if row.linear_ignored > 0 {
        linear.push_str(&format!(
            " (and {} more not considered)",
            row.linear_ignored
        ));
    }
    let merged_at = row.merged_at.map_or_else(
        || "unknown".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    );
    let result = if row.result == "audited" {
        cell("audited")
    } else {
        format!("<td><strong>{}</strong></td>", escape_text(&row.result))
    };
    [
        mr,
        cell(&row.title),
        cell(&row.project),
        cell(&row.labels.join(", ")),
        cell(&row.author),
        cell(&row.reviewers),
        cell(&row.approvers),
        cell(&row.merged_by),
        cell(&merged_at),
        cell(&linear),
        result,
    ]
    .into_iter()
    .fold("<tr>".to_owned(), |acc, c| acc + &c)
        + "</tr>"
}

/// Whether the page's audit table already holds this MR's row (see [`super::table::AuditTable::has_row`]).
pub fn has_row(body: &str, row: &AuditRow) -> Result<bool, TableError> {
    Ok(find_audit_table(body)?.has_row(&row.reference, &row.url))
}

/// The page body with the row added to its audit table, or `None` when the table has the row
/// already.
pub fn with_row(body: &str, row: &AuditRow) -> Result<Option<String>, TableError> {
    let table = find_audit_table(body)?;
    if table.has_row(&row.reference, &row.url) {
        return Ok(None);
    }
    Ok(Some(table.insert(body, &render_row(row))))
}

/// A fresh audit table holding `rows` (already rendered).
pub fn new_table(rows: &str) -> String {
    format!("<table><tbody>{}{rows}</tbody></table>", header_row())
}

/// The title of the continuation page for a quarter: `Security review audit (2026-Q4)`, then
/// `(2026-Q4, part 2)` and so on once a quarter's page is full too.
pub fn continuation_title(parent: &str, at: DateTime<Utc>, part: u32) -> String {
    use chrono::Datelike;
    let quarter = (at.month() - 1) / 3 + 1;
    if part <= 1 {
        format!("{parent} ({}-Q{quarter})", at.year())
    } else {
        format!("{parent} ({}-Q{quarter}, part {part})", at.year())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use quick_xml::events::Event;

    fn row(reference: &str, title: &str) -> AuditRow {
        let iid = reference.rsplit('!').next().unwrap_or_default();
        AuditRow {
            reference: reference.into(),
            url: format!("https://gitlab.example/g/p/-/merge_requests/{iid}?a=1&b=2"),
            title: title.into(),
            project: "g/p".into(),
            labels: vec!["security::crypto".into()],
            author: "@alice".into(),
            reviewers: "@carol".into(),
            approvers: "@carol".into(),
            merged_by: "@bob".into(),
            merged_at: Some(Utc.with_ymd_and_hms(2026, 11, 23, 9, 30, 0).unwrap()),
            linear: vec!["SEC-123".into()],
            linear_ignored: 0,
            linear_note: None,
            result: "audited".into(),
        }
    }

    const GLOSSARY: &str = "<h2>Glossary</h2><table><tbody><tr><th>Term</th><th>Meaning</th></tr><tr><td>MR</td><td>merge request</td></tr></tbody></table>";

    fn page() -> String {
        format!(
            "<p>Evidence of security review.</p>{}{GLOSSARY}",
            new_table("")
        )
    }

    /// The page parsed strictly, as an XML parser that knows no HTML entities would: balanced
    /// tags, well-formed attributes and comments, no `]]>` in text, every reference resolvable.
    fn well_formed(body: &str) -> Result<(), String> {
        let mut reader = quick_xml::Reader::from_str(body);
        reader.config_mut().check_comments = true;
        let mut depth = 0usize;
        loop {
            match reader.read_event().map_err(|e| e.to_string())? {
                Event::Start(e) => {
                    depth += 1;
                    attributes_ok(&e)?;
                }
                Event::Empty(e) => attributes_ok(&e)?,
                Event::End(_) => depth = depth.checked_sub(1).ok_or("end closes nothing")?,
                Event::Text(t) if t.contains("]]>") => return Err("]]> in text".into()),
                Event::GeneralRef(r) => {
                    let known = matches!(&*r, "amp" | "lt" | "gt" | "quot" | "apos");
                    if !known && r.resolve_char_ref().map_err(|e| e.to_string())?.is_none() {
                        return Err(format!("unknown entity &{};", &*r));
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if depth == 0 {
            Ok(())
        } else {
            Err(format!("{depth} element(s) never closed"))
        }
    }

    fn attributes_ok(e: &quick_xml::events::BytesStart<'_>) -> Result<(), String> {
        for a in e.attributes() {
            let a = a.map_err(|e| e.to_string())?;
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// What a reader sees of a text after it went through the row: controls replaced, spaces
    /// collapsed.
    fn as_seen(text: &str) -> String {
        let replaced: String = text
            .chars()
            .map(crate::connectors::confluence::xml_safe)
            .collect();
        super::super::table::normalise(&replaced)
    }

    #[test]
    fn rows_escape_everything_from_gitlab() {
        let r = render_row(&row("g/p!1", "Fix <script> & \"quotes\" ]]> done"));
        assert!(
            r.contains("<td>Fix &lt;script&gt; &amp; &quot;quotes&quot; ]]&gt; done</td>"),
            "{r}"
        );
        assert!(
            r.contains("href=\"https://gitlab.example/g/p/-/merge_requests/1?a=1&amp;b=2\""),
            "{r}"
        );
        assert!(!r.contains("]]>"), "{r}");
    }

    #[test]
    fn rows_go_into_the_audit_table_once_and_never_into_the_glossary_below_it() {
        let first = with_row(&page(), &row("g/p!1", "one")).unwrap().unwrap();
        let second = with_row(&first, &row("g/p!12", "twelve")).unwrap().unwrap();
        assert!(second.ends_with(GLOSSARY), "{second}");
        let table = find_audit_table(&second).unwrap();
        let firsts: Vec<&str> = table.rows().map(|r| r[0].as_str()).collect();
        assert_eq!(firsts, ["g/p!1", "g/p!12"]);
        // A title that names another MR does not count as that MR's row.
        let named = with_row(&second, &row("g/p!3", "follow-up to g/p!4"))
            .unwrap()
            .unwrap();
        assert!(!has_row(&named, &row("g/p!4", "")).unwrap());
        assert!(has_row(&named, &row("g/p!3", "")).unwrap());
        assert_eq!(with_row(&second, &row("g/p!1", "again")), Ok(None));
        assert_eq!(with_row(&second, &row("g/p!12", "again")), Ok(None));
    }

    #[test]
    fn a_page_without_an_audit_table_gets_nothing() {
        let glossary_only = format!("<p>Evidence.</p>{GLOSSARY}");
        assert_eq!(
            with_row(&glossary_only, &row("g/p!1", "one")),
            Err(TableError::Missing)
        );
    }

    #[test]
    fn the_linear_cell_says_how_many_identifiers_were_not_considered() {
        let mut r = row("g/p!1", "one");
        r.linear_ignored = 89_975;
        assert!(render_row(&r).contains("<td>SEC-123 (and 89975 more not considered)</td>"));
    }

    /// Titles written to break out of a cell, a table, a comment or a CDATA section.
    const HOSTILE: [&str; 10] = [
        "a -- b --> c <!-- d",
        "]]> <![CDATA[ x ]]>",
        "<script>alert(1)</script>",
        "Tom & Jerry &amp; &nbsp; &#0; &bogus",
        "| col | split | </td><td>extra",
        "</tbody></table><table><tbody><tr><td>g/p!999</td></tr>",
        "\"'><a href=\"https://evil.example\">click</a>",
        "\u{0}\u{1}\u{8}\u{B}\u{1F}\u{7F}\u{FFFE}\u{FFFF} controls",
        "line\nbreak\r\nand\ttab",
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e \"boom\">]>&e;",
    ];

    #[test]
    fn hostile_titles_keep_the_page_well_formed_and_the_row_whole() {
        let mut body = page();
        for (i, title) in HOSTILE.iter().enumerate() {
            let mut r = row(&format!("g/p!{i}"), title);
            r.labels = vec![(*title).to_owned()];
            body = with_row(&body, &r).unwrap().unwrap();
            well_formed(&body).unwrap_or_else(|e| panic!("{title:?}: {e}\n{body}"));
        }
        assert!(body.ends_with(GLOSSARY));
        let table = find_audit_table(&body).unwrap();
        let rows: Vec<&[String]> = table.rows().collect();
        assert_eq!(rows.len(), HOSTILE.len());
        for (i, (cells, title)) in rows.iter().zip(HOSTILE).enumerate() {
            assert_eq!(cells.len(), COLUMNS.len(), "{title:?}");
            assert_eq!(cells[0], format!("g/p!{i}"));
            assert_eq!(cells[1], as_seen(title));
            assert_eq!(cells[3], as_seen(title));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_row_text_keeps_the_page_well_formed_with_one_row_per_mr(
            title in any::<String>(),
            project in any::<String>(),
            label in any::<String>(),
            iid in 1u32..100_000,
        ) {
            let mut r = row(&format!("g/p!{iid}"), &title);
            r.project = project.clone();
            r.labels = vec![label.clone()];
            let body = with_row(&page(), &r).unwrap().unwrap();
            prop_assert!(well_formed(&body).is_ok(), "{:?}", well_formed(&body));
            let table = find_audit_table(&body).unwrap();
            let rows: Vec<&[String]> = table.rows().collect();
            prop_assert_eq!(rows.len(), 1);
            prop_assert_eq!(rows[0].len(), COLUMNS.len());
            prop_assert_eq!(&rows[0][1], &as_seen(&title));
            prop_assert_eq!(&rows[0][2], &as_seen(&project));
            prop_assert_eq!(&rows[0][3], &as_seen(&label));
            prop_assert!(body.ends_with(GLOSSARY));
            prop_assert_eq!(with_row(&body, &r).unwrap(), None);
        }
    }

    #[test]
    fn continuation_pages_are_named_by_quarter_and_part() {
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
        assert_eq!(continuation_title("Audit", at, 1), "Audit (2026-Q4)");
        assert_eq!(
            continuation_title("Audit", at, 3),
            "Audit (2026-Q4, part 3)"
        );
    }
}
