//! Lambda function: the privileged-grant anomaly review, every few minutes. Triggered by an
//! EventBridge Scheduler schedule (`ScheduleV2`, which delivers only its `Input` JSON); returns
//! the run report.

use std::time::{Duration, Instant, SystemTime};

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use secops_shared::review::runtime::ReviewRuntime;
use secops_shared::review::workflow::ReviewReport;
use secops_shared::telemetry::MetricsSink;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let runtime = match ReviewRuntime::start(MetricsSink::Stdout).await {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "privileged-grant-review cannot start");
            return Err(e.into());
        }
    };
    let runtime = &runtime;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(runtime, event).await
    }))
    .await
}

async fn handle(runtime: &ReviewRuntime, event: LambdaEvent<Value>) -> Result<ReviewReport, Error> {
    let (input, context) = event.into_parts();
    tracing::info!(request_id = %context.request_id, input = %input, "review run triggered");
    let left = context
        .deadline()
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Ok(runtime.run_once(Some(Instant::now() + left)).await?)
}
