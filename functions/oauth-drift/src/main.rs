//! Lambda function: the daily OAuth grant drift audit. Triggered by an EventBridge Scheduler
//! schedule (`ScheduleV2`), which delivers only its `Input` JSON; returns the run report.
//! Invoked with `{"doctor": true}` it runs the read-only doctor for its workflow instead and
//! returns the checklist (`secops_shared::doctor`).

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use secops_shared::credential_scope::Function;
use secops_shared::doctor::{self, Reply};
use secops_shared::drift::runtime::DriftRuntime;
use secops_shared::drift::workflow::RunReport;
use secops_shared::failure::{self, Failure};
use secops_shared::invocation::{self, Run};
use secops_shared::runtime::Mode;
use serde_json::Value;

const FUNCTION: &str = "oauth-drift";

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    // On failure: one clear line, reported to Lambda as an init error, then a clean exit.
    let runtime = invocation::cold_start(FUNCTION, DriftRuntime::start(Mode::Lambda)).await;
    let runtime = &runtime;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        failure::catching_panics(handle(runtime, event)).await
    }))
    .await
}

async fn handle(
    runtime: &DriftRuntime,
    event: LambdaEvent<Value>,
) -> Result<Reply<RunReport>, Failure> {
    let (input, context) = event.into_parts();
    let deadline = invocation::deadline_instant(context.deadline());
    if doctor::asked(&input) {
        return Run::start(FUNCTION)
            .run(|_| doctor::answer(Function::OAuthDrift, deadline))
            .await;
    }
    Run::start(FUNCTION)
        .run(|run_id| async move {
            tracing::info!(
                workflow = input["workflow"].as_str(),
                "drift audit triggered"
            );
            Ok(runtime.run_as(run_id, Some(deadline)).await?)
        })
        .await
        .map(Reply::Report)
}
