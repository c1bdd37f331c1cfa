//! Reviewed snapshots of what people read (Linear issues, Slack cards and messages, Confluence
//! rows, review events), kept in `tests/snapshots/`: a change to a rendering shows up as a diff
//! to accept or reject, where a `contains` check would let it pass unseen. Values a run picks
//! itself (ids, the clock) are replaced by placeholders so that a snapshot is the same on every
//! run.

use chrono::Utc;
use insta::Settings;

/// A UUID, wherever it appears (run, filing and review ids are fresh on every run).
const UUID: &str = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

/// Snapshot settings with the redactions every workflow's renderings need, plus `filters`
/// (`(regex, placeholder)`) for what only this snapshot holds, such as a time taken from the
/// clock. Use as `snapshots::settings(&[]).bind(|| insta::assert_snapshot!(..))`.
pub fn settings(filters: &[(&str, &str)]) -> Settings {
    let mut settings = Settings::clone_current();
    // The rendering itself is the snapshot: no expression in the header, so renaming a
    // variable does not touch the reviewed file.
    settings.set_omit_expression(true);
    settings.add_filter(UUID, "[uuid]");
    for (regex, placeholder) in filters {
        settings.add_filter(regex, *placeholder);
    }
    settings
}

/// Confluence storage XHTML with a line break after each row, cell and paragraph, so a diff
/// points at the cell that changed rather than at one long line. Nothing else is altered.
pub fn xhtml_lines(xhtml: &str) -> String {
    let mut out = String::with_capacity(xhtml.len() + xhtml.len() / 8);
    let mut rest = xhtml;
    while let Some(at) = rest.find("</") {
        let end = rest[at..].find('>').map_or(rest.len(), |e| at + e + 1);
        out.push_str(&rest[..end]);
        let tag = &rest[at + 2..end.saturating_sub(1)];
        if matches!(
            tag,
            "tr" | "td" | "th" | "p" | "table" | "tbody" | "h1" | "h2" | "h3"
        ) {
            out.push('\n');
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A regex for a time on the clock's date (today, or yesterday for a run across midnight) in the
/// forms renderings use: `Thu 2026-12-03 14:05 UTC`, `2026-12-03 14:05 UTC`, `2026-12-03`,
/// RFC 3339. Times a test fixes are on other dates and stay in the snapshot.
pub fn clock_time() -> String {
    let today = Utc::now().date_naive();
    let days = [Some(today), today.pred_opt()]
        .into_iter()
        .flatten()
        .map(|d| d.format("%Y-%m-%d").to_string())
        .collect::<Vec<_>>()
        .join("|");
    format!(r"(\w{{3}} )?({days})([ T]\d\d:\d\d(:\d\d(\.\d+)?)?( UTC|Z|\+00:00)?)?")
}
