//! Confluence: the audit page is readable with its storage body, holds exactly one audit table
//! (found by the same parsing the audit uses), and is editable by this account, which Confluence
//! says without an edit (`GET /pages/{id}/operations` lists the operations it permits).

use super::Context;
use super::checklist::{Checklist, quoted};
use crate::connectors::confluence::{ConfluenceClient, ConfluenceConfig, ConfluenceError};
use crate::mr_audit::table::{TableError, find_audit_table};

const SUBJECT: &str = "confluence";
const ACCOUNT: &str = "the Atlassian account in confluence_email";

pub(super) async fn check(
    list: &mut Checklist,
    workflow: &'static str,
    context: &Context,
    url: &str,
    page_id: &str,
) {
    let mut record = list.record(workflow, SUBJECT);
    if !context.has_credentials(
        &mut record,
        "page readable",
        &["confluence_email", "confluence_api_token"],
    ) {
        return;
    }
    let client = ConfluenceClient::new(
        context.http.clone(),
        context.secrets.clone(),
        ConfluenceConfig {
            retry: context.common.retry,
            ..ConfluenceConfig::new(url)
        },
    );
    let page = match client.page(page_id).await {
        Ok(page) => {
            record.pass(
                "page readable",
                format!("{} (version {})", quoted(&page.title), page.version),
            );
            page
        }
        Err(e) => {
            let fix = match &e {
                ConfluenceError::NotFound => format!("set CONFLUENCE_PAGE_ID to the audit page's id (the number in its URL), and give {ACCOUNT} view permission on it and its space"),
                ConfluenceError::Auth => format!("put an API token of {ACCOUNT} in confluence_api_token (id.atlassian.com → Security → API tokens), and give that account view and edit permission on the page"),
                ConfluenceError::Misconfigured(_) => "set CONFLUENCE_URL to the site's wiki root, such as https://acme.atlassian.net/wiki".to_owned(),
                _ => "retry; if it persists, check CONFLUENCE_URL and the network path to Confluence".to_owned(),
            };
            record.fail("page readable", e.to_string(), fix);
            record.skip("audit table found", "the page could not be read");
            record.skip("page writable", "the page could not be read");
            return;
        }
    };
    match find_audit_table(&page.body) {
        Ok(table) => record.pass(
            "audit table found",
            format!("{} row(s)", table.rows().count()),
        ),
        Err(e) => {
            let fix = match &e {
                TableError::Missing => format!(
                    "add a table to the page whose first row reads {}",
                    crate::mr_audit::table::COLUMNS.join(" | ")
                ),
                TableError::Several(_) => {
                    "keep one audit table on the page (rename the others' header rows)".to_owned()
                }
                TableError::Malformed(_) => {
                    "repair the page in Confluence's editor (its storage format does not parse)"
                        .to_owned()
                }
            };
            record.fail("audit table found", format!("the page {e}"), fix);
        }
    }
    match client.permitted_operations(page_id).await {
        Ok(operations) if operations.iter().any(|(op, target)| op == "update" && target == "page") => {
            record.pass("page writable", "Confluence permits this account to update the page")
        }
        Ok(_) => record.fail(
            "page writable",
            "this account may read the page but not edit it",
            format!("give {ACCOUNT} edit permission on the page (⋯ → Restrictions) and the space permission to add pages (continuation pages)"),
        ),
        Err(e) => record.fail(
            "page writable",
            format!("cannot read the page's permitted operations: {e}"),
            format!("give {ACCOUNT} view and edit permission on the page"),
        ),
    }
}
