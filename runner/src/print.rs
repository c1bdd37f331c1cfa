//! Printing run reports, would-be issues and would-be review cards for people at a terminal.

use chrono::{DateTime, Utc};
use secops_shared::drift::render::NewIssue;
use secops_shared::drift::store::FiledIssue;
use secops_shared::drift::workflow::RunReport;
use secops_shared::dry_run::{Shadowed, WouldDo};
use secops_shared::review::dry_run::RecordedCard;
use secops_shared::review::workflow::ReviewReport;
use serde_json::Value;

pub const RULE: &str = "────────────────────────────────────────────────────────────────────────";

/// The issues a dry run produced, then the run's summary.
pub fn report(report: &RunReport, issues: &[(FiledIssue, NewIssue)]) {
    for (filed, issue) in issues {
        if !report
            .filed
            .iter()
            .any(|f| f.identifier == filed.identifier && !f.recovered)
        {
            continue;
        }
        println!(
            "{RULE}\n{}  [priority {}]  labels: {}\n{}\n",
            filed.identifier,
            issue.priority,
            issue.labels.join(", "),
            issue.title
        );
        println!("{}", issue.description);
    }
    let c = &report.changes;
    println!("{RULE}");
    if report.bootstrap {
        println!(
            "First run: {} grants recorded as the baseline; nothing filed. Tomorrow's run reports the drift.",
            report.inventory_size
        );
    } else {
        println!(
            "Run {}: {} grants today vs {} in the baseline: {} new, {} elevated, {} reduced, {} revoked, {} metadata, {} unchanged.",
            report.run_id,
            report.inventory_size,
            report.baseline_size_before,
            c.new,
            c.elevated,
            c.reduced,
            c.revoked,
            c.metadata,
            c.unchanged
        );
    }
    for revoked in &report.revoked {
        println!("  revoked: {revoked}");
    }
    println!(
        "Filed {} issue(s) ({} drafted by the model, {} from the template); {} failed; {} still pending.",
        report.filed.len(),
        report.drafted_by_model,
        report.drafted_by_template,
        report.failed.len(),
        report.pending
    );
    for failed in &report.failed {
        println!("  pending {}: {}", failed.filing_id, failed.error);
    }
    if let Some(why) = &report.stopped_early {
        println!("  stopped early: {why}");
    }
}

/// The review cards a dry run would have posted, each as a reader would see it in Slack.
pub fn review_cards(cards: &[RecordedCard]) {
    for (i, card) in cards.iter().enumerate() {
        println!(
            "{RULE}\nCard {} of {} to channel {} (ts {}){}\n{}\n",
            i + 1,
            cards.len(),
            card.channel,
            card.ts,
            if card.updates > 0 {
                format!(", updated {} time(s)", card.updates)
            } else {
                String::new()
            },
            card.text
        );
        for block in card.blocks.as_array().into_iter().flatten() {
            for line in block_lines(block) {
                println!("  {line}");
            }
        }
    }
}

/// One Block Kit block as plain lines: the header, `Label  value` for fields, text as written
/// (Slack's escapes included), buttons in brackets.
pub fn block_lines(block: &Value) -> Vec<String> {
    let text = |v: &Value| v["text"].as_str().unwrap_or_default().to_owned();
    match block["type"].as_str().unwrap_or_default() {
        "header" => vec![text(&block["text"]).to_uppercase()],
        "section" => {
            let mut lines: Vec<String> = text(&block["text"]).lines().map(str::to_owned).collect();
            for field in block["fields"].as_array().into_iter().flatten() {
                let field = text(field);
                lines.push(match field.split_once('\n') {
                    Some((label, value)) => {
                        let label = label.trim_matches('*');
                        let mut value = value.replace('\n', " ");
                        if label == "Flags" {
                            // Bold markers the card puts around each flag (not event text).
                            value = value.replace('*', "");
                        }
                        format!("{label:<11} {value}")
                    }
                    None => field,
                });
            }
            lines
        }
        "context" => block["elements"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect(),
        "actions" => vec![
            block["elements"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|button| format!("[{}]", text(&button["text"])))
                .collect::<Vec<_>>()
                .join(" "),
        ],
        _ => Vec::new(),
    }
}

/// The review events a dry run would have written to Axiom.
pub fn review_events(events: &[Value]) {
    println!("{RULE}\nReview events: {}", events.len());
    let s = |v: &Value| v.as_str().unwrap_or("?").to_owned();
    for e in events {
        println!(
            "review event: {} by {} · event {} · {} got {} on {} (granted by {}) · {} risk, score {} · model {}",
            s(&e["decision"]),
            s(&e["reviewer"]),
            s(&e["event_id"]),
            s(&e["grantee"]),
            s(&e["role"]),
            s(&e["target"]),
            s(&e["grantor"]),
            s(&e["level"]),
            e["score"],
            e["model"].as_str().unwrap_or("none"),
        );
        println!("  note: {}", s(&e["note"]));
    }
}

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "?".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// A review run's summary.
pub fn review_report(r: &ReviewReport) {
    println!("{RULE}");
    if r.window_start.is_none() {
        println!("Nothing to read yet: the checkpoint is at the edge of the query delay.");
    } else {
        println!(
            "Window {} to {}: {} event(s) read, {} already reviewed.",
            when(r.window_start),
            when(r.window_end),
            r.events_read,
            r.already_reviewed
        );
    }
    println!(
        "Reviewed {} grant(s): {} resolved automatically, {} sent for review (high {}, medium {}, low {}); {} without a usable model answer.",
        r.reviewed, r.auto_resolved, r.sent_for_review, r.high, r.medium, r.low, r.model_fallbacks
    );
    println!(
        "Side effects: {} done, {} failed, {} still pending. Took {} ms.",
        r.tasks_done,
        r.tasks_failed.len(),
        r.pending,
        r.total_ms
    );
    for failed in &r.tasks_failed {
        println!("  failed: {failed}");
    }
}

/// What a dry run against the real services would have written, one block per write, then
/// where the whole report went and what the shadow state cost.
pub fn would_do(would: &[WouldDo], shadowed: &Shadowed) {
    for w in would {
        println!(
            "{RULE}\nwould {} in {} {}",
            w.action,
            w.service,
            secops_shared::text::excerpt(&w.target)
        );
        for key in ["title", "text", "summary", "body"] {
            if let Some(text) = w.content.get(key).and_then(Value::as_str) {
                println!("{text}");
                break;
            }
        }
    }
    println!("{RULE}");
    dry_run_summary(would.len(), shadowed);
}

/// A dry run's last line: how many writes it did not make, and what the shadow state cost.
pub fn dry_run_summary(writes: usize, shadowed: &Shadowed) {
    let rows: u64 = shadowed.tables.iter().map(|(_, rows)| rows).sum();
    println!(
        "(dry run: {writes} write(s) not made; the state was read from {} table(s), {rows} row(s), into temporary shadows in {} ms and discarded.)",
        shadowed.tables.len(),
        shadowed.millis
    );
}

/// Write a dry run's whole report as JSON to `path` (creating its folder).
pub fn save_json(path: &std::path::Path, value: &Value) -> anyhow::Result<()> {
    use anyhow::Context;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let json = serde_json::to_vec_pretty(value).expect("reports serialise");
    std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    println!("the full report: {}", path.display());
    Ok(())
}
