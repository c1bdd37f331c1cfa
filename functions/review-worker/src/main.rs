//! Lambda function: woken by `ReviewDecided` events on the project's bus, performs every pending
//! review follow-up. Anything that fails stays pending for the next wake-up or scheduled run.

use std::time::{Duration, Instant, SystemTime};

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use secops_shared::review::runtime::WorkerRuntime;
use secops_shared::review::workflow::DrainReport;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let runtime = match WorkerRuntime::start().await {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "review-worker cannot start");
            return Err(e.into());
        }
    };
    let runtime = &runtime;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let (detail, context) = event.into_parts();
        tracing::info!(request_id = %context.request_id, review = %detail["detail"]["review_id"], "review worker woken");
        let left = context
            .deadline()
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        let report: DrainReport = runtime.drain(Some(Instant::now() + left)).await?;
        Ok::<_, Error>(report)
    }))
    .await
}
