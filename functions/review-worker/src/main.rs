//! Lambda function: woken by `ReviewDecided` events on the project's bus, performs every pending
//! review follow-up. Anything that fails stays pending for the next wake-up or scheduled run.

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use secops_shared::failure::{self, Failure};
use secops_shared::invocation::{self, Run};
use secops_shared::review::runtime::WorkerRuntime;
use secops_shared::review::workflow::DrainReport;
use secops_shared::runtime::Mode;
use serde_json::Value;

const FUNCTION: &str = "review-worker";

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let runtime = invocation::cold_start(FUNCTION, WorkerRuntime::start(Mode::Lambda)).await;
    let runtime = &runtime;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        failure::catching_panics(handle(runtime, event)).await
    }))
    .await
}

async fn handle(
    runtime: &WorkerRuntime,
    event: LambdaEvent<Value>,
) -> Result<DrainReport, Failure> {
    let (event, context) = event.into_parts();
    let deadline = invocation::deadline_instant(context.deadline());
    Run::start(FUNCTION)
        .run(|_| async move {
            tracing::info!(
                review = event["detail"]["review_id"].as_str(),
                "review worker woken"
            );
            Ok(runtime.run(Some(deadline)).await?)
        })
        .await
}
