//! Rendering a filing as a Linear issue: title, markdown body, priority and labels.
//! App names are attacker-chosen: they are stripped of control characters, shortened, and
//! markdown-escaped wherever they appear.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::catalog;
use super::diff::ChangeKind;
use super::filing::Filing;
use crate::prompts::justification::{Draft, DraftSource};

/// The label every drift issue carries.
pub const DRIFT_LABEL: &str = "oauth-drift";

/// An issue ready for the tracker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewIssue {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    /// Linear priority: 1 urgent .. 4 low.
    pub priority: i32,
    pub labels: Vec<String>,
}

const MAX_TITLE_APP_NAME: usize = 80;
const MAX_LISTED_PRINCIPALS: usize = 200;

/// Build the issue for a drafted filing.
pub fn issue_for(filing: &Filing, draft: &Draft) -> NewIssue {
    let severity = filing.severity();
    NewIssue {
        id: filing.id,
        title: title(filing),
        description: body(filing, draft),
        priority: severity.linear_priority(),
        labels: vec![DRIFT_LABEL.to_owned(), format!("severity:{severity}")],
    }
}

/// `New OAuth grant: <app> for <principal>` / `Elevated OAuth grant: <app> gained <n> scopes`.
pub fn title(filing: &Filing) -> String {
    let first = filing.first();
    let app = display_app_name(&first.current().app_name, &first.key.client_id);
    let principals = filing.changes.len();
    match (first.kind, filing.is_group()) {
        (ChangeKind::Elevated, group) => {
            let gained = first.gained_scopes().len();
            let what = if gained == 0 {
                "admin (org-wide) consent".to_owned()
            } else {
                format!("{gained} scope{}", if gained == 1 { "" } else { "s" })
            };
            if group {
                format!("Elevated OAuth grant: {app} gained {what} for {principals} principals")
            } else {
                format!("Elevated OAuth grant: {app} gained {what}")
            }
        }
        (_, true) => format!("New OAuth grant: {app} for {principals} principals"),
        (_, false) => format!("New OAuth grant: {app} for {}", first.key.principal_label()),
    }
}

fn body(filing: &Filing, draft: &Draft) -> String {
    let first = filing.first();
    let state = first.current();
    let provider = first.key.provider;
    let mut out = String::new();
    let what = match first.kind {
        ChangeKind::Elevated => "An existing OAuth grant gained access",
        _ => "A new third-party OAuth grant appeared",
    };
    let _ = writeln!(
        out,
        "{what}. Found by the daily OAuth grant drift audit on {} (run `{}`).\n",
        filing.detected_at.format("%Y-%m-%d"),
        filing.run_id
    );
    let _ = writeln!(out, "| | |\n|---|---|");
    // Code spans: attacker-chosen text shows as written, and URLs in it are not made links.
    let _ = writeln!(
        out,
        "| App | `{}` |",
        code(&display_app_name(&state.app_name, "(no name)"))
    );
    let _ = writeln!(
        out,
        "| App / client id | `{}` |",
        code(&first.key.client_id)
    );
    let _ = writeln!(out, "| Provider | {provider} |");
    if filing.is_group() {
        let _ = writeln!(
            out,
            "| Principals | {} (listed below) |",
            filing.changes.len()
        );
    } else {
        let _ = writeln!(out, "| Principal | {} |", md(first.key.principal_label()));
    }
    let consent = match (&first.before, &first.after) {
        (Some(b), Some(a)) if b.consent != a.consent => {
            format!("{} → **{}**", b.consent, a.consent)
        }
        _ => state.consent.to_string(),
    };
    let _ = writeln!(out, "| Consent | {consent} |");
    let verified = match state.verified {
        Some(true) => "verified",
        Some(false) => "**unverified**",
        None => "unknown",
    };
    let publisher = match (state.publisher.as_deref(), state.verified) {
        (None, None) => "unknown".to_owned(),
        (None, Some(_)) => format!("unknown ({verified})"),
        (Some(p), _) => format!("`{}` ({verified})", code(p)),
    };
    let _ = writeln!(out, "| Publisher | {publisher} |");
    let _ = writeln!(
        out,
        "| First seen | {} |",
        filing.detected_at.format("%Y-%m-%d %H:%M UTC")
    );
    let _ = writeln!(out, "| Severity | **{}** |\n", filing.severity());

    let _ = writeln!(
        out,
        "### Scopes\n\n| Scope | Risk | Allows | |\n|---|---|---|---|"
    );
    let gained = first.gained_scopes();
    for scope in state.scopes.as_slice() {
        let mark = if first.kind == ChangeKind::Elevated && gained.contains(&scope.as_str()) {
            "**added**"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {mark} |",
            code(scope),
            catalog::scope_risk(provider, scope),
            catalog::scope_description(provider, scope)
        );
    }
    for scope in first.lost_scopes() {
        let _ = writeln!(
            out,
            "| ~~`{}`~~ | {} | {} | removed |",
            code(scope),
            catalog::scope_risk(provider, scope),
            catalog::scope_description(provider, scope)
        );
    }

    let _ = writeln!(
        out,
        "\n### Justification request\n\n{}\n",
        md(&draft.text.capabilities)
    );
    for (i, q) in draft.text.questions.iter().enumerate() {
        let _ = writeln!(out, "{}. {}", i + 1, md(q));
    }
    let _ = writeln!(out, "\n{}\n", md(&draft.text.consequence));
    let provenance = match &draft.source {
        DraftSource::Model { model } => format!("Drafted by model `{}`", code(model)),
        DraftSource::Template { reason } => {
            format!("Drafted from the deterministic template ({})", md(reason))
        }
    };
    let _ = writeln!(
        out,
        "_{provenance}; prompt `{}` (hash `{}`)._",
        draft.prompt_version, draft.prompt_hash
    );

    if filing.is_group() {
        let _ = writeln!(out, "\n### Principals\n");
        for change in filing.changes.iter().take(MAX_LISTED_PRINCIPALS) {
            let _ = writeln!(out, "- {}", md(change.key.principal_label()));
        }
        if filing.changes.len() > MAX_LISTED_PRINCIPALS {
            let _ = writeln!(
                out,
                "- … and {} more (see the change log, run `{}`)",
                filing.changes.len() - MAX_LISTED_PRINCIPALS,
                filing.run_id
            );
        }
    }
    out
}

/// An app name fit for a title: no control characters, at most 80 characters.
fn display_app_name(name: &str, fallback: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let cleaned = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    let base = if cleaned.is_empty() {
        fallback.to_owned()
    } else {
        cleaned
    };
    if base.chars().count() > MAX_TITLE_APP_NAME {
        let short: String = base.chars().take(MAX_TITLE_APP_NAME - 1).collect();
        format!("{short}…")
    } else {
        base
    }
}

/// Escape text for markdown so it renders as written: no links, emphasis, tables or HTML.
pub fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            // Enough to stop links, images, emphasis, tables and HTML; parentheses alone are
            // harmless once brackets are escaped.
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '|' | '<' | '>' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text inside a code span: backticks and control characters cannot break out of it.
fn code(text: &str) -> String {
    text.chars()
        .map(|c| if c == '`' || c.is_control() { '\'' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_specials_are_escaped() {
        assert_eq!(
            md("[click](http://x) **now** | <b>"),
            "\\[click\\](http://x) \\*\\*now\\*\\* \\| \\<b\\>"
        );
    }

    #[test]
    fn long_or_multiline_app_names_are_tamed_for_titles() {
        let name = format!("Evil\nApp {}", "x".repeat(200));
        let shown = display_app_name(&name, "id");
        assert!(!shown.contains('\n'));
        assert_eq!(shown.chars().count(), MAX_TITLE_APP_NAME);
    }
}
