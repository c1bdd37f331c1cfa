//! Lambda function: the stale-consumer rotation chaser, once per working day. Triggered by an
//! EventBridge Scheduler schedule (`ScheduleV2`, which delivers only its `Input` JSON); returns
//! the sweep report. A digest that could not be sent fails the invocation, so the scheduler's
//! retry sends it (nudges are never repeated within their interval).

use std::time::{Duration, Instant, SystemTime};

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use secops_shared::rotation::runtime::RotationRuntime;
use secops_shared::rotation::sweep::{DigestOutcome, SweepReport};
use secops_shared::telemetry::MetricsSink;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let runtime = match RotationRuntime::start(MetricsSink::Stdout).await {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "rotation-chaser cannot start");
            return Err(e.into());
        }
    };
    let runtime = &runtime;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(runtime, event).await
    }))
    .await
}

async fn handle(
    runtime: &RotationRuntime,
    event: LambdaEvent<Value>,
) -> Result<SweepReport, Error> {
    let (input, context) = event.into_parts();
    tracing::info!(request_id = %context.request_id, input = %input, "rotation sweep triggered");
    let left = context
        .deadline()
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    let report = runtime.run_once(Some(Instant::now() + left)).await?;
    match &report.digest {
        DigestOutcome::Failed { error } => {
            return Err(format!("the digest was not delivered: {error}").into());
        }
        // Another invocation holds today's digest: fail so Lambda's retry checks again (and
        // takes it over if that invocation died).
        DigestOutcome::InProgress => {
            return Err("today's digest is being sent by another invocation".into());
        }
        _ => {}
    }
    Ok(report)
}
