//! Printing run reports and would-be issues for people at a terminal.

use secops_shared::drift::render::NewIssue;
use secops_shared::drift::store::FiledIssue;
use secops_shared::drift::workflow::RunReport;

const RULE: &str = "────────────────────────────────────────────────────────────────────────";

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
