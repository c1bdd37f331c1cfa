//! The audit table of a Confluence page, found by parsing the page's storage format (XHTML-based
//! XML with `ac:`/`ri:` elements) rather than by searching its text: the audit table is the one
//! table whose first row reads the product's column headers, wherever it is on the page and
//! however Confluence's editor re-saved it (attributes, `<colgroup>`, `<thead>`, `<p>` and
//! `<strong>` inside cells, `th` or `td`, `&nbsp;`). Code macros, plain-text macro bodies and
//! comments are not page content: a table, a `</tbody>` or a link inside them counts for nothing.
//!
//! Nothing is re-serialised: the row is spliced into the page's own text at the end of the audit
//! table's last `<tbody>`, so every other byte of the page stays as its authors saved it.
//! See docs/decisions/025-audit-table-found-by-parsing.md.

use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event};

/// The audit table's header cells, as the product writes them and finds the table by.
pub const COLUMNS: [&str; 11] = [
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

/// The audit table of a page: where a new row goes and the rows it already holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditTable {
    /// Byte offset in the body where a new row is inserted (the `<` of the last `</tbody>`, or
    /// of `</table>` when the table has no body section).
    insert_at: usize,
    /// The table has a `<thead>` but no `<tbody>` and no bare rows: a row needs a body around it.
    needs_tbody: bool,
    rows: Vec<DataRow>,
}

/// One row below the header: each cell's text, and the link targets in its first cell.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DataRow {
    cells: Vec<String>,
    first_cell_links: Vec<String>,
}

/// Why a page has no single audit table to write to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("is not well-formed storage format ({0}); nothing was written")]
    Malformed(String),
    #[error(
        "has no audit table (a table whose first row reads {header}); add one, nothing was written",
        header = header_text()
    )]
    Missing,
    #[error(
        "has {0} audit tables (tables whose first row reads {header}); keep one, nothing was written",
        header = header_text()
    )]
    Several(usize),
}

fn header_text() -> String {
    COLUMNS.join(" | ")
}

impl AuditTable {
    /// Whether the table already holds this MR's row: a row whose first cell reads the
    /// reference, or links to the MR's URL (the editor may turn the link into a smart link that
    /// shows the URL). Cells other than the first, and links elsewhere on the page, do not count.
    pub fn has_row(&self, reference: &str, url: &str) -> bool {
        let reference = normalise(reference);
        self.rows.iter().any(|r| {
            r.cells.first().is_some_and(|c| *c == reference)
                || (!url.is_empty() && r.first_cell_links.iter().any(|l| l == url))
        })
    }

    /// The table's rows below the header, each as its cells' texts (whitespace collapsed).
    pub fn rows(&self) -> impl Iterator<Item = &[String]> {
        self.rows.iter().map(|r| r.cells.as_slice())
    }

    /// `body` (the page this table was found in) with `row` (rendered `<tr>…</tr>`) added as
    /// the table's last row.
    pub fn insert(&self, body: &str, row: &str) -> String {
        let (before, after) = body.split_at(self.insert_at);
        if self.needs_tbody {
            format!("{before}<tbody>{row}</tbody>{after}")
        } else {
            format!("{before}{row}{after}")
        }
    }
}

/// A table as the scan saw it.
struct ScannedTable {
    /// Rows seen so far (the first is the header).
    rows_seen: usize,
    header: Vec<String>,
    rows: Vec<DataRow>,
    last_tbody_end: Option<usize>,
    has_thead: bool,
    has_bare_rows: bool,
    end: Option<usize>,
}

#[derive(Default)]
struct Cell {
    text: String,
    links: Vec<String>,
}

/// What an open element is, for the scan.
enum Frame {
    /// A code macro or a plain-text macro body: nothing inside is page content.
    Ignored,
    Table(usize),
    Section {
        table: usize,
        body: bool,
    },
    Row {
        table: usize,
        cells: Vec<Cell>,
    },
    Cell(Cell),
    Other,
}

/// Macros whose body is code or preformatted text, never page content.
const CODE_MACROS: [&str; 2] = ["code", "noformat"];

/// The page's one audit table.
pub fn find_audit_table(body: &str) -> Result<AuditTable, TableError> {
    let tables = scan(body)?;
    let mut audit = tables.into_iter().filter(|t| is_audit_header(&t.header));
    let (Some(table), rest) = (audit.next(), audit.count()) else {
        return Err(TableError::Missing);
    };
    if rest > 0 {
        return Err(TableError::Several(rest + 1));
    }
    let end = table
        .end
        .ok_or_else(|| TableError::Malformed("a table is never closed".to_owned()))?;
    let (insert_at, needs_tbody) = match table.last_tbody_end {
        Some(at) => (at, false),
        None => (end, table.has_thead && !table.has_bare_rows),
    };
    Ok(AuditTable {
        insert_at,
        needs_tbody,
        rows: table.rows,
    })
}

fn is_audit_header(header: &[String]) -> bool {
    header.len() == COLUMNS.len()
        && header
            .iter()
            .zip(COLUMNS)
            .all(|(h, c)| h.to_lowercase() == c.to_lowercase())
}

/// Every table of the page, outside code macros and comments.
fn scan(body: &str) -> Result<Vec<ScannedTable>, TableError> {
    let mut reader = Reader::from_str(body);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.check_comments = true;
    config.trim_text(false);
    let mut tables: Vec<ScannedTable> = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut ignoring = false;
    loop {
        let before = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let event = reader
            .read_event()
            .map_err(|e| malformed(reader.error_position(), &e.to_string()))?;
        match event {
            Event::Start(e) => {
                check_attributes(&e, &reader)?;
                let frame = if ignoring {
                    Frame::Other
                } else {
                    open(&e, &mut tables, &mut stack)
                };
                ignoring |= matches!(frame, Frame::Ignored);
                stack.push(frame);
            }
            Event::Empty(e) => {
                check_attributes(&e, &reader)?;
                if !ignoring {
                    empty(&e, &mut stack);
                }
            }
            Event::End(_) => match stack.pop() {
                Some(Frame::Ignored) => ignoring = false,
                Some(Frame::Table(t)) => tables[t].end = Some(before),
                Some(Frame::Section { table, body: true }) => {
                    tables[table].last_tbody_end = Some(before);
                }
                Some(Frame::Row { table, cells }) => tables[table].add_row(cells),
                Some(Frame::Cell(cell)) => {
                    if let Some(Frame::Row { cells, .. }) = stack.last_mut() {
                        cells.push(cell);
                    }
                }
                Some(Frame::Section { .. } | Frame::Other) => {}
                None => return Err(malformed(before as u64, "an end tag closes nothing")),
            },
            Event::Text(text) if !ignoring => {
                if let Some(cell) = open_cell(&mut stack) {
                    cell.text.push_str(&text);
                }
            }
            Event::GeneralRef(reference) if !ignoring => {
                let decoded =
                    entity(&reference).map_err(|e| malformed(before as u64, &e.to_string()))?;
                if let Some(cell) = open_cell(&mut stack) {
                    cell.text.push_str(&decoded);
                }
            }
            Event::Eof => break,
            // Comments, CDATA (macro bodies), processing instructions, declarations: no content.
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(malformed(
            body.len() as u64,
            &format!("{} element(s) never closed", stack.len()),
        ));
    }
    Ok(tables)
}

impl ScannedTable {
    fn add_row(&mut self, cells: Vec<Cell>) {
        self.rows_seen += 1;
        if self.rows_seen == 1 {
            self.header = cells.iter().map(|c| normalise(&c.text)).collect();
            return;
        }
        let first_cell_links = cells.first().map(|c| c.links.clone()).unwrap_or_default();
        self.rows.push(DataRow {
            cells: cells.iter().map(|c| normalise(&c.text)).collect(),
            first_cell_links,
        });
    }
}

/// The frame of an element that opens, registering a table when it is one.
fn open(e: &BytesStart<'_>, tables: &mut Vec<ScannedTable>, stack: &mut [Frame]) -> Frame {
    let name = e.name();
    let parent_table = match stack.last() {
        Some(Frame::Table(t)) => Some((*t, false)),
        Some(Frame::Section { table, .. }) => Some((*table, true)),
        _ => None,
    };
    match name.as_ref() {
        "ac:plain-text-body" => Frame::Ignored,
        "ac:structured-macro" | "ac:macro" if is_code_macro(e) => Frame::Ignored,
        "table" => {
            tables.push(ScannedTable {
                rows_seen: 0,
                header: Vec::new(),
                rows: Vec::new(),
                last_tbody_end: None,
                has_thead: false,
                has_bare_rows: false,
                end: None,
            });
            Frame::Table(tables.len() - 1)
        }
        section @ ("thead" | "tbody" | "tfoot") => match stack.last() {
            Some(Frame::Table(t)) => {
                tables[*t].has_thead |= section == "thead";
                Frame::Section {
                    table: *t,
                    body: section == "tbody",
                }
            }
            _ => Frame::Other,
        },
        "tr" => match parent_table {
            Some((table, in_section)) => {
                tables[table].has_bare_rows |= !in_section;
                Frame::Row {
                    table,
                    cells: Vec::new(),
                }
            }
            None => Frame::Other,
        },
        "td" | "th" if matches!(stack.last(), Some(Frame::Row { .. })) => {
            Frame::Cell(Cell::default())
        }
        "a" => {
            add_link(e, stack);
            Frame::Other
        }
        _ => Frame::Other,
    }
}

/// A self-closing element: an empty cell still counts as a cell.
fn empty(e: &BytesStart<'_>, stack: &mut [Frame]) {
    match e.name().as_ref() {
        "td" | "th" => {
            if let Some(Frame::Row { cells, .. }) = stack.last_mut() {
                cells.push(Cell::default());
            }
        }
        "a" => add_link(e, stack),
        _ => {}
    }
}

fn add_link(e: &BytesStart<'_>, stack: &mut [Frame]) {
    let href = e
        .attributes()
        .flatten()
        .find(|a| a.key.as_ref() == "href")
        .map(|a| decode_entities(&a.value));
    if let (Some(href), Some(cell)) = (href, open_cell(stack)) {
        cell.links.push(href);
    }
}

fn is_code_macro(e: &BytesStart<'_>) -> bool {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == "ac:name")
        .is_some_and(|a| CODE_MACROS.contains(&a.value.trim()))
}

/// The cell text goes to: the innermost open cell, unless a table, section or row opened
/// inside it since (text there belongs to no cell of ours).
fn open_cell(stack: &mut [Frame]) -> Option<&mut Cell> {
    for frame in stack.iter_mut().rev() {
        match frame {
            Frame::Cell(cell) => return Some(cell),
            Frame::Table(_) | Frame::Section { .. } | Frame::Row { .. } | Frame::Ignored => {
                return None;
            }
            Frame::Other => {}
        }
    }
    None
}

/// Attributes must be well-formed too: the page is written back whole.
fn check_attributes(e: &BytesStart<'_>, reader: &Reader<&[u8]>) -> Result<(), TableError> {
    for attribute in e.attributes() {
        attribute.map_err(|err| malformed(reader.buffer_position(), &err.to_string()))?;
    }
    Ok(())
}

/// An entity reference's text: XML's five, character references, `&nbsp;` as a space; any other
/// HTML name (`&mdash;`, which the storage format uses) kept as written, since only header and
/// first-cell texts are compared.
fn entity(reference: &BytesRef<'_>) -> Result<String, quick_xml::Error> {
    if let Some(c) = reference.resolve_char_ref()? {
        return Ok(c.to_string());
    }
    Ok(named_entity(reference).map_or_else(|| format!("&{};", &**reference), str::to_owned))
}

fn named_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        "nbsp" => "\u{a0}",
        _ => return None,
    })
}

/// An attribute value with its entity references decoded (unknown names kept as written).
fn decode_entities(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let Some(end) = after.find(';').filter(|end| *end <= 32) else {
            out.push('&');
            rest = after;
            continue;
        };
        let name = &after[..end];
        let decoded = match name.strip_prefix('#') {
            Some(number) => match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => number.parse().ok(),
            }
            .and_then(char::from_u32)
            .map(String::from),
            None => named_entity(name).map(str::to_owned),
        };
        match decoded {
            Some(text) => out.push_str(&text),
            None => out.push_str(&rest[at..=at + 1 + end]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Whitespace (no-break spaces included) collapsed to single spaces, trimmed: what a reader
/// sees, however the editor wrapped or indented the cell.
pub fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One line, bounded: quick-xml's messages may quote names from the page.
fn malformed(at: u64, problem: &str) -> TableError {
    let problem: String = problem
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(160)
        .collect();
    TableError::Malformed(format!("at byte {at}: {problem}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(cell: impl Fn(&str) -> String) -> String {
        COLUMNS.iter().map(|c| cell(c)).collect()
    }

    fn plain_header() -> String {
        format!("<tr>{}</tr>", header(|c| format!("<th>{c}</th>")))
    }

    const ROW: &str = "<tr><td><a href=\"https://gitlab.example/g/p/-/merge_requests/1\">g/p!1</a></td><td>one</td></tr>";

    #[test]
    fn the_table_with_the_product_header_is_the_audit_table() {
        let body = format!(
            "<p>Intro</p><table><tbody>{}{ROW}</tbody></table><h2>Glossary</h2><table><tbody><tr><th>Term</th><th>Meaning</th></tr><tr><td>g/p!2</td><td>x</td></tr></tbody></table>",
            plain_header()
        );
        let table = find_audit_table(&body).unwrap();
        assert!(table.has_row("g/p!1", ""));
        assert!(
            !table.has_row("g/p!2", ""),
            "a glossary row is not an audit row"
        );
        let with = table.insert(&body, "<tr><td>NEW</td></tr>");
        let audit_end = body.find("</tbody></table><h2>").unwrap();
        assert_eq!(&with[audit_end..audit_end + 21], "<tr><td>NEW</td></tr>");
        assert!(with.ends_with(&body[audit_end..]));
    }

    #[test]
    fn markup_the_editor_writes_on_re_save_still_identifies_the_table() {
        let resaved_header = format!(
            "<tr>{}</tr>",
            header(|c| format!(
                "<th data-highlight-colour=\"#f4f5f7\"><p><strong>{}</strong></p></th>",
                c.replace(' ', "&nbsp;")
            ))
        );
        let body = format!(
            "<table data-table-width=\"1800\" data-layout=\"full-width\" ac:local-id=\"abc\"><colgroup><col style=\"width: 120.0px;\" /><col /></colgroup><thead>{resaved_header}</thead><tbody><tr><td><p><a href=\"https://gitlab.example/mr/1\" data-card-appearance=\"inline\">https://gitlab.example/mr/1</a></p></td><td><p>one</p></td></tr></tbody></table>"
        );
        let table = find_audit_table(&body).unwrap();
        assert!(table.has_row("g/p!1", "https://gitlab.example/mr/1"));
        // Header cells as plain `td`, in lower case, spread over lines.
        let td_header = format!(
            "<table><tbody><tr>{}</tr></tbody></table>",
            header(|c| format!("<td>\n  {}\n</td>", c.to_lowercase()))
        );
        assert!(find_audit_table(&td_header).is_ok());
    }

    #[test]
    fn a_table_with_only_a_head_gets_a_body_for_its_first_row() {
        let body = format!("<table><thead>{}</thead></table>", plain_header());
        let table = find_audit_table(&body).unwrap();
        let with = table.insert(&body, "<tr><td>x</td></tr>");
        assert!(with.ends_with("</thead><tbody><tr><td>x</td></tr></tbody></table>"));
        assert_eq!(find_audit_table(&with).unwrap().rows().count(), 1);
    }

    #[test]
    fn tables_and_end_tags_inside_code_macros_and_comments_do_not_count() {
        let code = format!(
            "<ac:structured-macro ac:name=\"code\" ac:schema-version=\"1\"><ac:plain-text-body><![CDATA[<table><tbody>{}{ROW}</tbody></table>]]></ac:plain-text-body></ac:structured-macro>",
            plain_header()
        );
        let comment = format!("<!-- <table><tbody>{}</tbody></table> -->", plain_header());
        let audit = format!("<table><tbody>{}</tbody></table>", plain_header());
        let body = format!("{audit}{code}{comment}");
        let table = find_audit_table(&body).unwrap();
        assert!(!table.has_row("g/p!1", "https://gitlab.example/g/p/-/merge_requests/1"));
        let with = table.insert(&body, ROW);
        assert!(with.starts_with(&format!("<table><tbody>{}{ROW}</tbody>", plain_header())));
        // Only the code macro and the comment hold audit-like tables: none is the audit table.
        assert_eq!(
            find_audit_table(&format!("{code}{comment}")),
            Err(TableError::Missing)
        );
    }

    #[test]
    fn missing_or_duplicated_audit_tables_are_refused_by_name() {
        assert_eq!(
            find_audit_table("<p>Nothing here</p>"),
            Err(TableError::Missing)
        );
        let audit = format!("<table><tbody>{}</tbody></table>", plain_header());
        assert_eq!(
            find_audit_table(&format!("{audit}<p>copy:</p>{audit}")),
            Err(TableError::Several(2))
        );
        let message = TableError::Missing.to_string();
        assert!(message.contains("MR | Title | Project") && !message.contains('\n'));
        assert!(matches!(
            find_audit_table("<table><tbody><tr></tbody></table>"),
            Err(TableError::Malformed(_))
        ));
        assert!(matches!(
            find_audit_table("<p>unclosed"),
            Err(TableError::Malformed(_))
        ));
    }

    #[test]
    fn a_link_to_the_mr_outside_the_first_cell_is_not_its_row() {
        let body = format!(
            "<p>See <a href=\"https://gitlab.example/mr/1\">g/p!1</a></p><table><tbody>{}<tr><td>g/p!2</td><td><a href=\"https://gitlab.example/mr/1\">g/p!1</a></td></tr></tbody></table>",
            plain_header()
        );
        let table = find_audit_table(&body).unwrap();
        assert!(!table.has_row("g/p!1", "https://gitlab.example/mr/1"));
        assert!(table.has_row("g/p!2", ""));
    }

    #[test]
    fn html_entities_are_read_as_text() {
        assert_eq!(
            decode_entities("a&amp;b&#x41;&#66;&mdash;&"),
            "a&bAB&mdash;&"
        );
        let body = format!(
            "<p>&mdash;&nbsp;&hellip;</p><table><tbody>{}<tr><td>g/p!&#49;&nbsp;</td></tr></tbody></table>",
            plain_header()
        );
        assert!(find_audit_table(&body).unwrap().has_row("g/p!1", ""));
    }
}
