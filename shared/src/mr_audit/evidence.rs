//! The audit page's evidence rows, in Confluence storage format (XHTML): one row per merged
//! security MR, keyed by the MR's reference (`group/project!12`) so a retry finds its row and
//! never adds a second. All text from GitLab is escaped.
//!
//! The audit table is the page's last table: a row goes in before the last `</tbody>`; a page
//! without a table gets one, header first.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::connectors::confluence::escape_text;

const COLUMNS: [&str; 11] = [
    "MR",
    "Title",
    "Project",
    "Labels",
    "Author",
    "Reviewers",
    "Approvers",
    "Merged by",
    "Merged at",
    "Linear",
    "Result",
];

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
    let linear = if row.linear.is_empty() {
        "no tracking issue".to_owned()
    } else {
        row.linear.join(", ")
    };
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

/// Whether the page already holds this MR's row. The reference is matched as the text of the
/// row's MR link (`">group/project!12</a>`): a title cannot produce that (its quotes and angle
/// brackets are escaped), and `g/p!1` does not match `g/p!12`.
pub fn has_row(body: &str, reference: &str) -> bool {
    body.contains(&format!("\">{}</a>", escape_text(reference)))
}

/// The page body with the row added, or `None` when the row is already there.
pub fn with_row(body: &str, row: &AuditRow) -> Option<String> {
    if has_row(body, &row.reference) {
        return None;
    }
    let rendered = render_row(row);
    Some(match body.rfind("</tbody>") {
        Some(at) => format!("{}{rendered}{}", &body[..at], &body[at..]),
        None => format!("{body}{}", new_table(&rendered)),
    })
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

    fn row(reference: &str, title: &str) -> AuditRow {
        AuditRow {
            reference: reference.into(),
            url: "https://gitlab.example/g/p/-/merge_requests/1?a=1&b=2".into(),
            title: title.into(),
            project: "g/p".into(),
            labels: vec!["security::crypto".into()],
            author: "@alice".into(),
            reviewers: "@carol".into(),
            approvers: "@carol".into(),
            merged_by: "@bob".into(),
            merged_at: Some(Utc.with_ymd_and_hms(2026, 11, 23, 9, 30, 0).unwrap()),
            linear: vec!["SEC-123".into()],
            result: "audited".into(),
        }
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
    fn a_row_goes_into_the_last_table_once() {
        let empty = "<p>Evidence of security review.</p>";
        let first = with_row(empty, &row("g/p!1", "one")).unwrap();
        assert!(first.starts_with(empty) && first.contains(&header_row()));
        let second = with_row(&first, &row("g/p!12", "twelve")).unwrap();
        assert_eq!(second.matches("<tbody>").count(), 1);
        assert!(second.find(">g/p!1<") < second.find(">g/p!12<"));
        // A title that names another MR does not count as that MR's row.
        let named = with_row(&second, &row("g/p!3", "follow-up to g/p!4")).unwrap();
        assert!(!has_row(&named, "g/p!4") && has_row(&named, "g/p!3"));
        assert_eq!(with_row(&second, &row("g/p!1", "again")), None);
        assert_eq!(with_row(&second, &row("g/p!12", "again")), None);
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
