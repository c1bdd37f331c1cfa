//! Lambda function: audits merged security MRs. Woken by `MergeRecorded` events on the
//! project's bus (the audit named in the event first), and by a schedule that re-drives audits
//! left pending. When the audit named in the event fails at a step it stays pending and the
//! invocation fails, so the event is retried and, in the end, lands in the failure queue with an
//! alarm. Audits that keep failing are given up after a bound (metric `AuditsAbandoned`).
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

async fn handle(
    runtime: &AuditRuntime,
    event: LambdaEvent<Value>,
) -> Result<Reply<WorkerReport>, Failure> {
    let (input, context) = event.into_parts();
    if doctor::asked(&input) {
        let deadline = invocation::deadline_instant(context.deadline());
        return Run::start(FUNCTION)
            .run(|_| doctor::answer(Function::MrAudit, deadline))
            .await;
    }
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
        .map(Reply::Report)
}
