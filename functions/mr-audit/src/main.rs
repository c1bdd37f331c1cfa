//! Lambda function: audits merged security MRs. Woken by `MergeRecorded` events on the
//! project's bus (the audit named in the event first), and by a schedule that re-drives audits
//! left pending. When the audit named in the event fails at a step it stays pending and the
//! invocation fails, so the event is retried and, in the end, lands in the failure queue with an
//! alarm. Audits that keep failing are given up after a bound (metric `AuditsAbandoned`).
//! `{"dry_run": true, "project_id": 42, "mr_iid": 7}` audits that merged MR against the real
//! services without recording or writing anything, and returns what the audit would do.
//! Invoked with `{"doctor": true}` it runs the read-only doctor for its workflow instead and
//! returns the checklist (`secops_shared::doctor`).

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use secops_shared::credential_scope::Function;
use secops_shared::doctor::{self, Reply};
use secops_shared::failure::{self, Failure, FailureKind};
use secops_shared::invocation::{self, Run};
use secops_shared::mr_audit::runtime::{AuditRuntime, WorkerReport};
use secops_shared::runtime::Mode;
use serde_json::Value;

const FUNCTION: &str = "mr-audit";

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let runtime = invocation::cold_start(FUNCTION, AuditRuntime::start(Mode::Lambda)).await;
    let runtime = &runtime;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        failure::catching_panics(handle(runtime, event)).await
    }))
    .await
}

async fn handle(runtime: &AuditRuntime, event: LambdaEvent<Value>) -> Result<Value, Failure> {
    let (input, context) = event.into_parts();
    if doctor::asked(&input) {
        let deadline = invocation::deadline_instant(context.deadline());
        let checklist: Reply<WorkerReport> = Run::start(FUNCTION)
            .run(|_| doctor::answer::<WorkerReport, Failure>(Function::MrAudit, deadline))
            .await?;
        return Ok(serde_json::to_value(checklist).expect("checklists serialise"));
    }
    // A dry run, or an input refused as one, is answered inside a run of its own, so it gets
    // its summary line.
    let asked = invocation::asks_for_dry_run(&input);
    if !matches!(asked, Ok(false)) {
        let deadline = invocation::deadline_instant(context.deadline());
        let dry = Run::start(FUNCTION)
            .dry_run(matches!(asked, Ok(true)))
            .run(|_| async move {
                asked?;
                let (project_id, iid) = dry_run_target(&input)?;
                Ok::<_, Failure>(runtime.dry_run(project_id, iid, Some(deadline)).await?)
            })
            .await?;
        return Ok(serde_json::to_value(dry).expect("reports serialise"));
    }
    worker(runtime, input, context)
        .await
        .map(|report| serde_json::to_value(report).expect("reports serialise"))
}

/// The MR a dry run audits: `project_id` and `mr_iid`, both positive integers.
fn dry_run_target(input: &Value) -> Result<(u64, u64), Failure> {
    let number = |key: &str| input[key].as_u64().filter(|n| *n > 0);
    match (number("project_id"), number("mr_iid")) {
        (Some(project), Some(iid)) => Ok((project, iid)),
        _ => Err(Failure::new(
            FailureKind::BadInput,
            "a dry run audits one merged MR: give its project_id and mr_iid as positive integers, e.g. {\"dry_run\": true, \"project_id\": 42, \"mr_iid\": 7}; nothing was run",
        )),
    }
}

async fn worker(
    runtime: &AuditRuntime,
    input: Value,
    context: lambda_runtime::Context,
) -> Result<WorkerReport, Failure> {
    let named: Vec<String> = input["detail"]["merge_key"]
        .as_str()
        .map(|k| vec![k.to_owned()])
        .unwrap_or_default();
    let deadline = invocation::deadline_instant(context.deadline());
    Run::start(FUNCTION)
        .run(|_| async move {
            tracing::info!(
                merge = named.first().map(String::as_str),
                "mr audit worker woken"
            );
            let report = runtime.run(&named, Some(deadline)).await?;
            if report.named_failed {
                return Err(Failure::new(
                    FailureKind::Pending,
                    format!(
                        "the audit of {} failed at a step and stays pending; see the log",
                        named.join(", ")
                    ),
                ));
            }
            Ok(report)
        })
        .await
}
