//! The Confluence audit row writer (MR audit). Properties: writing an MR's row into a page keeps
//! the page well-formed XML; the audit table then holds exactly one row for that MR, found by
//! its reference, and writing it again adds nothing; another MR's row is a second row; decoys
//! (a code macro with its own `</tbody>`, a comment, a glossary table, a link to the MR outside
//! the table) receive nothing and count for nothing.
//!
//! The row comes from the input parsed as a merge request hook (the seeds are the fixtures)
//! and from its lines as the row's fields. An input that is itself a well-formed page with one
//! audit table gets a row too, under the same properties.

use chrono::{TimeZone, Utc};
use quick_xml::Reader;
use quick_xml::events::Event;
use secops_shared::mr_audit::event::parse_merge_event;
use secops_shared::mr_audit::evidence::{AuditRow, new_table, with_row};
use secops_shared::mr_audit::table::{find_audit_table, normalise};

/// A page as people leave it: prose, a glossary table, a code macro showing table markup, a
/// comment, and a link to an MR, around an empty audit table.
pub fn page_with_decoys(reference: &str, url: &str) -> String {
    let url = secops_shared::connectors::confluence::escape_text(url);
    let reference = secops_shared::connectors::confluence::escape_text(reference);
    // A comment may not hold `--`: the decoy comment names the MR without it.
    let in_comment = reference.replace('-', "_");
    format!(
        "<p>Evidence for <a href=\"{url}\">{reference}</a>.</p>\
         <ac:structured-macro ac:name=\"code\"><ac:plain-text-body><![CDATA[<table><tbody><tr><td>{reference}</td></tr></tbody></table>]]></ac:plain-text-body></ac:structured-macro>\
         <!-- </tbody> {in_comment} -->\
         {}\
         <h2>Glossary</h2><table><tbody><tr><th>Term</th><th>Meaning</th></tr><tr><td>MR</td><td>merge request</td></tr></tbody></table>",
        new_table("")
    )
}

/// GitLab's project paths and MR URLs hold no control characters (the writer shows one as
/// U+FFFD, which would then not read back as the reference): the row's key is taken without.
fn gitlab_text(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

pub fn row(data: &[u8]) {
    let f = crate::fields(data, 11);
    let mut rows = vec![AuditRow {
        reference: gitlab_text(&f[0]),
        url: gitlab_text(&f[1]),
        title: f[2].clone(),
        project: f[3].clone(),
        labels: vec![f[4].clone(), f[5].clone()],
        author: f[6].clone(),
        reviewers: f[7].clone(),
        approvers: f[8].clone(),
        merged_by: f[9].clone(),
        merged_at: Some(Utc.with_ymd_and_hms(2026, 11, 18, 3, 30, 0).unwrap()),
        linear: vec![f[10].clone()],
        linear_ignored: f[10].len(),
        linear_note: None,
        result: f[2].clone(),
    }];
    if let Ok(merge) = parse_merge_event(data) {
        rows.push(AuditRow {
            reference: gitlab_text(&merge.reference()),
            url: gitlab_text(&merge.url),
            title: merge.title.clone(),
            project: merge.project_path.clone(),
            labels: merge.labels.clone(),
            author: merge.actor.clone().unwrap_or_default(),
            reviewers: merge.source_branch.clone(),
            approvers: merge.target_branch.clone(),
            merged_by: merge.actor.clone().unwrap_or_default(),
            merged_at: None,
            linear: vec![merge.description.clone()],
            linear_ignored: 0,
            linear_note: None,
            result: "audited".to_owned(),
        });
    }
    for row in &rows {
        check_row(&page_with_decoys(&row.reference, &row.url), row);
    }
    let page = crate::text(data);
    if well_formed(&page).is_ok() && find_audit_table(&page).is_ok() {
        let mut fixed = rows[rows.len() - 1].clone();
        fixed.reference = "fuzz/fixed!424242".to_owned();
        fixed.url = "https://gitlab.example/fuzz/fixed/-/merge_requests/424242".to_owned();
        check_row(&page, &fixed);
    }
}

/// Write `row` into `page` (well-formed, one audit table without the row) and check the result.
pub fn check_row(page: &str, row: &AuditRow) {
    let before = find_audit_table(page).expect("the page has one audit table");
    if before.has_row(&row.reference, &row.url) {
        return;
    }
    let rows_before = before.rows().count();
    let written = with_row(page, row)
        .expect("the page stays writable")
        .expect("a row for an MR the table does not hold");
    if let Err(error) = well_formed(&written) {
        panic!("the page is no longer well-formed XML ({error}):\n{written}");
    }
    let table = find_audit_table(&written).expect("still one audit table");
    assert_eq!(
        table.rows().count(),
        rows_before + 1,
        "one row added:\n{written}"
    );
    let key = normalise(&row.reference);
    let mine = table
        .rows()
        .filter(|cells| cells.first() == Some(&key))
        .count();
    assert_eq!(mine, 1, "exactly one row for {key:?}:\n{written}");
    assert!(
        table.has_row(&row.reference, &row.url),
        "the row is found again"
    );
    assert_eq!(
        with_row(&written, row).expect("still writable"),
        None,
        "a retry writes no second row:\n{written}"
    );
    // Another MR is another row, and the first one is still there once.
    let mut other = row.clone();
    other.reference = format!("{}-other!1", row.reference);
    other.url = format!("{}/other", row.url);
    if normalise(&other.reference) != key
        && !table.has_row(&other.reference, &other.url)
        && let Some(both) = with_row(&written, &other).expect("still writable")
    {
        well_formed(&both).expect("well-formed with two rows");
        let table = find_audit_table(&both).expect("still one audit table");
        assert_eq!(table.rows().count(), rows_before + 2);
        assert_eq!(table.rows().filter(|c| c.first() == Some(&key)).count(), 1);
    }
}

/// Whether a storage-format body (a fragment: several top-level nodes) is well-formed XML: tags
/// nest and close, names match, references are entities, and text holds only XML characters.
pub fn well_formed(body: &str) -> Result<(), String> {
    if let Some(c) = body.chars().find(|&c| !is_xml_char(c)) {
        return Err(format!(
            "character U+{:04X} is not allowed in XML",
            c as u32
        ));
    }
    let mut reader = Reader::from_str(body);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.check_comments = true;
    let mut depth: usize = 0;
    loop {
        match reader.read_event() {
            Ok(Event::Start(_)) => depth += 1,
            Ok(Event::End(_)) => {
                depth = depth.checked_sub(1).ok_or("an end tag closes nothing")?;
            }
            Ok(Event::Text(text)) => {
                if text.contains(['&', '<']) {
                    return Err("a bare & or < in text".to_owned());
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    if depth == 0 {
        Ok(())
    } else {
        Err(format!("{depth} element(s) left open"))
    }
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_refuses_what_confluence_would() {
        assert_eq!(
            well_formed(&page_with_decoys("g/p!1", "https://x/1")),
            Ok(())
        );
        for broken in [
            "<p><b>x</p></b>",
            "<p>x",
            "</p>",
            "<p>a & b</p>",
            "<p>a < b</p>",
            "<!-- a -- b -->",
            "<p>\u{1}</p>",
        ] {
            assert!(
                well_formed(broken).is_err(),
                "{broken:?} is not well-formed"
            );
        }
    }
}
