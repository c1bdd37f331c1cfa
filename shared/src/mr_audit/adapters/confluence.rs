//! Appending the evidence row to the Confluence audit page: read the page and its version, add
//! the row, save as version + 1; when someone else saved in between (409), read again and
//! re-apply, a bounded number of times with jittered waits. The row's reference makes a retry
//! find its row instead of adding a second. A page past `max_page_chars` is not rewritten
//! ever larger: rows continue on a child page per quarter (`… (2026-Q4)`, then `part 2`…).
//!
//! Every page read is parsed for its one audit table ([`crate::mr_audit::table`]); a page
//! without one, or with two, fails the step with a line naming the page, and nothing is written.

use std::time::Duration;

use chrono::Utc;

use crate::connectors::confluence::{ConfluenceClient, ConfluenceError, Page};
use crate::mr_audit::evidence::{AuditRow, continuation_title, new_table, render_row};
use crate::mr_audit::ports::EvidencePage;
use crate::mr_audit::table::{AuditTable, TableError, find_audit_table};
use crate::ports::PortError;

/// Continuation pages tried per quarter before giving up.
const MAX_PARTS: u32 = 50;

/// The audit page on Confluence.
pub struct ConfluenceEvidence {
    pub client: ConfluenceClient,
    pub page_id: String,
    /// Past this size (storage characters) rows go to a continuation page.
    pub max_page_chars: usize,
    /// Read-modify-write rounds before the step is left for a retry.
    pub max_attempts: u32,
}

/// Why the step failed, naming the page (its id, and its title bounded: a person chose it).
fn page_error(page: &Page, e: &TableError) -> PortError {
    let title: String = page
        .title
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(80)
        .collect();
    PortError::transient("confluence", format!("page {} ({title:?}) {e}", page.id))
}

/// The page's audit table, or the step's error.
fn audit_table(page: &Page) -> Result<AuditTable, PortError> {
    find_audit_table(&page.body).map_err(|e| page_error(page, &e))
}

impl ConfluenceEvidence {
    /// Where this row goes: the audit page while it has room, else the quarter's continuation.
    async fn target(
        &self,
        parent: Page,
        parent_table: AuditTable,
        row: &AuditRow,
        row_chars: usize,
    ) -> Result<(Page, AuditTable), PortError> {
        if parent.body.len() + row_chars <= self.max_page_chars {
            return Ok((parent, parent_table));
        }
        let at = row.merged_at.unwrap_or_else(Utc::now);
        // Only the quarter's latest part is read: earlier parts are full, and reading them all
        // would make every append cost more as the quarter grows. (A retry whose row landed in
        // an earlier part that filled up before the retry could add it twice; that needs a
        // page's worth of merges within the retry's few minutes.)
        for _ in 0..3 {
            let children = self
                .client
                .child_pages(&parent.id)
                .await
                .map_err(PortError::from)?;
            let latest = (1..=MAX_PARTS).rev().find_map(|part| {
                let title = continuation_title(&parent.title, at, part);
                children
                    .iter()
                    .find(|c| c.title == title)
                    .map(|c| (part, c.id.clone()))
            });
            let next_part = match latest {
                Some((part, id)) => {
                    let page = self.client.page(&id).await.map_err(PortError::from)?;
                    let table = audit_table(&page)?;
                    if table.has_row(&row.reference, &row.url)
                        || page.body.len() + row_chars <= self.max_page_chars
                    {
                        return Ok((page, table));
                    }
                    part + 1
                }
                None => 1,
            };
            if next_part > MAX_PARTS {
                break;
            }
            let title = continuation_title(&parent.title, at, next_part);
            let intro = format!(
                "<p>Continued from {}: security MR audit evidence.</p>{}",
                crate::connectors::confluence::escape_text(&parent.title),
                new_table("")
            );
            match self
                .client
                .create_page(&parent.space_id, Some(&parent.id), &title, &intro)
                .await
            {
                Ok(page) => {
                    tracing::info!(page = %page.id, %title, "started a continuation page");
                    let table = audit_table(&page)?;
                    return Ok((page, table));
                }
                // Another worker created it a moment ago: list again and use the latest part.
                Err(ConfluenceError::TitleTaken) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(PortError::from(ConfluenceError::Malformed(format!(
            "more than {MAX_PARTS} full continuation pages for one quarter"
        ))))
    }
}

impl EvidencePage for ConfluenceEvidence {
    async fn append(&self, row: &AuditRow) -> Result<(String, bool), PortError> {
        let row_chars = render_row(row).len();
        for attempt in 1..=self.max_attempts {
            let parent = self
                .client
                .page(&self.page_id)
                .await
                .map_err(PortError::from)?;
            let parent_table = audit_table(&parent)?;
            if parent_table.has_row(&row.reference, &row.url) {
                return Ok((parent.id, true));
            }
            let (page, table) = self.target(parent, parent_table, row, row_chars).await?;
            if table.has_row(&row.reference, &row.url) {
                return Ok((page.id, true));
            }
            let body = table.insert(&page.body, &render_row(row));
            let message = format!("secops: audit row for {}", row.reference);
            match self
                .client
                .update_page(&page.id, &page.title, &body, page.version + 1, &message)
                .await
            {
                Ok(_) => return Ok((page.id, false)),
                Err(ConfluenceError::Conflict) => {
                    // Someone saved first: wait a little (spread out, so racing workers do not
                    // collide again in step) and re-apply to the fresh page.
                    let base = 25 * u64::from(attempt.min(8));
                    tokio::time::sleep(Duration::from_millis(base + fastrand::u64(0..=base * 2)))
                        .await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(PortError::transient(
            "confluence",
            format!(
                "the audit page kept changing: gave up after {} attempts (the next retry tries again)",
                self.max_attempts
            ),
        ))
    }
}
