//! Lambda function: the privileged-grant anomaly review, every few minutes. Triggered by an
//! EventBridge Scheduler schedule (`ScheduleV2`, which delivers only its `Input` JSON); returns
//! the run report.
//! Invoked with `{"doctor": true}` it runs the read-only doctor for its workflow instead and
//! returns the checklist (`secops_shared::doctor`).

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use secops_shared::credential_scope::Function;
use secops_shared::doctor::{self, Reply};
use secops_shared::failure::{self, Failure};
use secops_shared::invocation::{self, Run};
use secops_shared::review::runtime::ReviewRuntime;
use secops_shared::review::workflow::ReviewReport;
use secops_shared::runtime::Mode;
use serde_json::Value;

const FUNCTION: &str = "privileged-grant-review";

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let runtime = invocation::cold_start(FUNCTION, ReviewRuntime::start(Mode::Lambda)).await;
    let runtime = &runtime;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        failure::catching_panics(handle(runtime, event)).await
    }))
    .await
}

async fn handle(
    runtime: &ReviewRuntime,
    event: LambdaEvent<Value>,
) -> Result<Reply<ReviewReport>, Failure> {
    let (input, context) = event.into_parts();
    let deadline = invocation::deadline_instant(context.deadline());
    if doctor::asked(&input) {
        return Run::start(FUNCTION)
            .run(|_| doctor::answer(Function::PrivilegedGrantReview, deadline))
            .await;
    }
    Run::start(FUNCTION)
        .run(|_| async move {
            tracing::info!(
                workflow = input["workflow"].as_str(),
                "review run triggered"
            );
            Ok(runtime.run(Some(deadline)).await?)
        })
        .await
        .map(Reply::Report)
}
