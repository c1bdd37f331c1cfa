//! Lambda function: audits merged security MRs. Woken by `MergeRecorded` events on the
//! project's bus (the audit named in the event first), and by a schedule that re-drives audits
//! left pending. An audit whose step failed stays pending and fails the invocation, so the
//! event is retried and, in the end, lands in the dead-letter queue with an alarm.

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
        if report.failed > 0 {
            return Err(Error::from(format!(
                "{} audit(s) left pending after a failed step; see the log",
                report.failed
            )));
        }
        Ok::<_, Error>(report)
    }))
    .await
}
