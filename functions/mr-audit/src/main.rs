//! Lambda function: audits merged security MRs. Woken by `MergeRecorded` events on the
//! project's bus (the audit named in the event first), and by a schedule that re-drives audits
//! left pending. When the audit named in the event fails at a step it stays pending and the
//! invocation fails, so the event is retried and, in the end, lands in the failure queue with an
//! alarm. Audits that keep failing are given up after a bound (metric `AuditsAbandoned`).

use std::time::{Duration, Instant, SystemTime};

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use secops_shared::mr_audit::runtime::{AuditRuntime, WorkerReport};
use secops_shared::telemetry::MetricsSink;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let runtime = match AuditRuntime::start(MetricsSink::Stdout).await {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "mr-audit cannot start");
            return Err(e.into());
        }
    };
    let runtime = &runtime;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let (input, context) = event.into_parts();
        let named: Vec<String> = input["detail"]["merge_key"]
            .as_str()
            .map(|k| vec![k.to_owned()])
            .unwrap_or_default();
        tracing::info!(request_id = %context.request_id, merges = ?named, "mr audit worker woken");
        let left = context
            .deadline()
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        let report: WorkerReport = runtime.run(&named, Some(Instant::now() + left)).await?;
        if report.named_failed {
            return Err(Error::from(format!(
                "the audit of {named:?} failed at a step and stays pending; see the log"
            )));
        }
        Ok::<_, Error>(report)
    }))
    .await
}
