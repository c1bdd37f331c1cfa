//! Lambda function: the daily OAuth grant drift audit. Triggered by an EventBridge Scheduler
//! schedule (`ScheduleV2`), which delivers only its `Input` JSON; returns the run report.

use std::time::{Duration, Instant, SystemTime};

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use secops_shared::drift::runtime::DriftRuntime;
use secops_shared::drift::workflow::RunReport;
use secops_shared::telemetry::MetricsSink;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let runtime = match DriftRuntime::start(MetricsSink::Stdout).await {
        Ok(runtime) => runtime,
        Err(e) => {
            // One clear line, then a clean exit: Lambda reports an init error instead of a panic.
            tracing::error!(error = %e, "oauth-drift cannot start");
            return Err(e.into());
        }
    };
    let runtime = &runtime;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(runtime, event).await
    }))
    .await
}

async fn handle(runtime: &DriftRuntime, event: LambdaEvent<Value>) -> Result<RunReport, Error> {
    let (input, context) = event.into_parts();
    tracing::info!(request_id = %context.request_id, input = %input, "drift audit triggered");
    let deadline = deadline_instant(context.deadline());
    Ok(runtime.run_once(Some(deadline)).await?)
}

/// Lambda gives the deadline as wall-clock time; the workflow measures with `Instant`.
fn deadline_instant(deadline: SystemTime) -> Instant {
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Instant::now() + left
}
