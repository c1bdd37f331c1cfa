//! Rendering a filing as a Linear issue: title, markdown body, priority, labels, and the
//! comments that carry the rest of a long principal list.
//!
//! Every string an attacker can choose (app name, publisher, client id, principal, scope) and
//! every string a model wrote goes through the one helper for its context in
//! [`crate::markdown`]: inert in the title, in a table cell, in a list item and in a paragraph.
//! Only the title is ever cut; the body shows each value in full.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::catalog;
use super::diff::ChangeKind;
use super::filing::Filing;
use crate::drift::justification::{Draft, DraftSource};
use crate::markdown;

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
    /// Posted on the issue once it exists, in order: the principals that did not fit in the
    /// description (see `docs/decisions/012-…`).
    #[serde(default)]
    pub comments: Vec<NewComment>,
}

/// A comment to post on a filed issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewComment {
    /// Derived from the filing id and the comment's place, so every attempt sends the same id and
    /// Linear refuses a second copy (UUID v4 form, which Linear requires of client ids).
    pub id: Uuid,
    pub body: String,
}

/// Longest app name (in characters) a title shows; the body shows it in full.
pub const MAX_TITLE_APP_NAME: usize = 80;
/// Longest principal (in characters) a title shows.
const MAX_TITLE_PRINCIPAL: usize = 120;

/// Upper bound on a rendered description, in characters. Linear documents no limit for issue
/// descriptions or comment bodies; this keeps each well inside what its editor handles
/// comfortably (see `docs/decisions/012-…`). Only the principal list of a grouped issue grows
/// with the size of the event, so only it is split.
pub const MAX_DESCRIPTION_CHARS: usize = 30_000;
/// Upper bound on one comment body, in characters.
pub const MAX_COMMENT_CHARS: usize = 30_000;

/// Build the issue for a drafted filing.
pub fn issue_for(filing: &Filing, draft: &Draft) -> NewIssue {
    let severity = filing.severity();
    let (description, comments) = body(filing, draft);
    NewIssue {
        id: filing.id,
        title: title(filing),
        description,
        priority: severity.linear_priority(),
        labels: vec![DRIFT_LABEL.to_owned(), format!("severity:{severity}")],
        comments,
    }
}

/// `New OAuth grant: <app> for <principal>` / `Elevated OAuth grant: <app> gained <n> scopes`.
/// Plain text: Linear does not read titles as markdown.
pub fn title(filing: &Filing) -> String {
    let first = filing.first();
    let app = markdown::title(
        &first.current().app_name,
        MAX_TITLE_APP_NAME,
        &first.key.client_id,
    );
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
        (_, false) => format!(
            "New OAuth grant: {app} for {}",
            markdown::title(first.key.principal_label(), MAX_TITLE_PRINCIPAL, "?")
        ),
    }
}

/// The description, and the comments carrying the principals it has no room for.
fn body(filing: &Filing, draft: &Draft) -> (String, Vec<NewComment>) {
    let mut out = summary(filing, draft);
    if !filing.is_group() {
        return (out, Vec::new());
    }
    let lines: Vec<String> = filing
        .changes
        .iter()
        .map(|c| format!("- {}\n", markdown::list_item(c.key.principal_label(), "?")))
        .collect();
    // Room for the list's own heading and its note about the comments.
    const LIST_OVERHEAD: usize = 400;
    let room = MAX_DESCRIPTION_CHARS.saturating_sub(chars(&out) + LIST_OVERHEAD);
    let mut in_description = 0;
    let mut used = 0;
    for line in &lines {
        let len = chars(line);
        if used + len > room {
            break;
        }
        used += len;
        in_description += 1;
    }
    let parts = comment_parts(&lines[in_description..]);
    let total = lines.len();
    let _ = writeln!(out, "\n### Principals\n");
    if parts.is_empty() {
        let _ = writeln!(out, "All {total} principals:\n");
    } else {
        let _ = writeln!(
            out,
            "{total} principals: the first {in_description} here, the other {} in the {} \
             comment{} below (\"Principals, part 1 of {}\" onwards).\n",
            total - in_description,
            parts.len(),
            if parts.len() == 1 { "" } else { "s" },
            parts.len(),
        );
    }
    for line in &lines[..in_description] {
        out.push_str(line);
    }
    let count = parts.len();
    let comments = parts
        .into_iter()
        .enumerate()
        .map(|(i, (from, to, list))| NewComment {
            id: comment_id(filing.id, i),
            body: format!(
                "### Principals, part {} of {count}\n\nPrincipals {} to {} of {total}:\n\n{list}",
                i + 1,
                in_description + from,
                in_description + to,
            ),
        })
        .collect();
    (out, comments)
}

/// Split list lines into comment-sized parts: (first position, last position, lines), 1-based
/// positions in `lines`. Each part's body stays within [`MAX_COMMENT_CHARS`].
fn comment_parts(lines: &[String]) -> Vec<(usize, usize, String)> {
    // Room for the part's heading line ("### Principals, part N of M" and the range).
    const PART_OVERHEAD: usize = 200;
    let room = MAX_COMMENT_CHARS - PART_OVERHEAD;
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut current_len = 0;
    let mut first = 0;
    for (i, line) in lines.iter().enumerate() {
        let len = chars(line);
        if current_len + len > room && !current.is_empty() {
            parts.push((first, i, std::mem::take(&mut current)));
            current_len = 0;
        }
        if current.is_empty() {
            first = i + 1;
        }
        current.push_str(line);
        current_len += len;
    }
    if !current.is_empty() {
        parts.push((first, lines.len(), current));
    }
    parts
}

/// The id of the `index`th comment of a filing: the same on every attempt.
fn comment_id(filing: Uuid, index: usize) -> Uuid {
    let digest = Sha256::new()
        .chain_update(filing.as_bytes())
        .chain_update(b"principals-comment")
        .chain_update((index as u64).to_be_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// When the grant first appeared: a new grant when it was detected; an elevated one when the
/// baseline first recorded it (the earliest, for a group).
fn first_seen(filing: &Filing) -> String {
    match (filing.kind(), filing.first_seen) {
        (ChangeKind::Elevated, Some(at)) if filing.is_group() => {
            format!(
                "{} (the earliest of the {})",
                when(at),
                filing.changes.len()
            )
        }
        (ChangeKind::Elevated, Some(at)) => when(at),
        (ChangeKind::Elevated, None) => "not recorded (before the elevation)".to_owned(),
        _ => format!("{} (new)", when(filing.detected_at)),
    }
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

/// Everything but the principal list.
fn summary(filing: &Filing, draft: &Draft) -> String {
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
    let _ = writeln!(
        out,
        "| App | {} |",
        markdown::cell(&state.app_name, "(no name)")
    );
    let _ = writeln!(
        out,
        "| App / client id | {} |",
        markdown::cell(&first.key.client_id, "(none)")
    );
    let _ = writeln!(out, "| Provider | {provider} |");
    if filing.is_group() {
        let _ = writeln!(
            out,
            "| Principals | {} (listed below) |",
            filing.changes.len()
        );
    } else {
        let _ = writeln!(
            out,
            "| Principal | {} |",
            markdown::cell(first.key.principal_label(), "(none)")
        );
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
        (Some(p), _) => format!("{} ({verified})", markdown::cell(p, "(none)")),
    };
    let _ = writeln!(out, "| Publisher | {publisher} |");
    let _ = writeln!(out, "| First seen | {} |", first_seen(filing));
    let _ = writeln!(out, "| Detected | {} |", when(filing.detected_at));
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
            "| {} | {} | {} | {mark} |",
            markdown::cell(scope, "(empty)"),
            catalog::scope_risk(provider, scope),
            markdown::cell(catalog::scope_description(provider, scope), "")
        );
    }
    for scope in first.lost_scopes() {
        let _ = writeln!(
            out,
            "| ~~{}~~ | {} | {} | removed |",
            markdown::cell(scope, "(empty)"),
            catalog::scope_risk(provider, scope),
            markdown::cell(catalog::scope_description(provider, scope), "")
        );
    }

    let _ = writeln!(
        out,
        "\n### Justification request\n\n{}\n",
        markdown::inline(&draft.text.capabilities)
    );
    for (i, q) in draft.text.questions.iter().enumerate() {
        let _ = writeln!(out, "{}. {}", i + 1, markdown::list_item(q, "?"));
    }
    let _ = writeln!(out, "\n{}\n", markdown::inline(&draft.text.consequence));
    // The fallback reason is a fixed phrase: a failed model answer is never quoted here (its
    // detail stays with the draft in the database).
    let provenance = match &draft.source {
        DraftSource::Model { model } => format!("Drafted by model {}", markdown::inline(model)),
        DraftSource::Template { reason, .. } => format!(
            "Drafted from the deterministic template because {}",
            reason.phrase()
        ),
    };
    let _ = writeln!(
        out,
        "_{provenance}; prompt {} (hash {})._",
        markdown::inline(&draft.prompt_version),
        markdown::inline(&draft.prompt_hash)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_ids_are_stable_distinct_uuid_v4s() {
        let filing = Uuid::new_v4();
        let a = comment_id(filing, 0);
        assert_eq!(a, comment_id(filing, 0));
        assert_ne!(a, comment_id(filing, 1));
        assert_ne!(a, comment_id(Uuid::new_v4(), 0));
        assert_eq!(a.get_version_num(), 4);
    }

    #[test]
    fn comment_parts_respect_the_bound_and_keep_every_line_in_order() {
        let lines: Vec<String> = (0..5000).map(|i| format!("- user{i}\n")).collect();
        let parts = comment_parts(&lines);
        assert!(parts.len() > 1);
        let mut joined = String::new();
        let mut next = 1;
        for (from, to, list) in &parts {
            assert_eq!(*from, next);
            assert!(chars(list) <= MAX_COMMENT_CHARS - 200);
            joined.push_str(list);
            next = to + 1;
        }
        assert_eq!(next, lines.len() + 1);
        assert_eq!(joined, lines.concat());
    }
}
