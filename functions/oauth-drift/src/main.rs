//! Lambda function: the daily OAuth grant drift audit. Triggered by an EventBridge Scheduler
//! schedule (`ScheduleV2`), which delivers only its `Input` JSON; returns the run report.
//! `{"dry_run": true}` (e.g. `sam remote invoke`) runs it against the real services without
//! writing anything and returns what it would have filed.
//! Invoked with `{"doctor": true}` it runs the read-only doctor for its workflow instead and
//! returns the checklist (`secops_shared::doctor`).

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use secops_shared::credential_scope::Function;
use secops_shared::doctor::{self, Reply};
use secops_shared::drift::runtime::DriftRuntime;
use secops_shared::drift::workflow::RunReport;
use secops_shared::failure::{self, Failure};
use secops_shared::invocation::{self, Answer, Run};
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
) -> Result<Reply<Answer<RunReport>>, Failure> {
    let (input, context) = event.into_parts();
    let deadline = invocation::deadline_instant(context.deadline());
    if doctor::asked(&input) {
        return Run::start(FUNCTION)
            .run(|_| doctor::answer(Function::OAuthDrift, deadline))
            .await;
    }
    // Read inside the run, so a refused input gets its summary line like any failure.
    let asked = invocation::asks_for_dry_run(&input);
    Run::start(FUNCTION)
        .dry_run(matches!(asked, Ok(true)))
        .run(|run_id| async move {
            let dry_run = asked?;
            tracing::info!(
                workflow = input["workflow"].as_str(),
                dry_run,
                "drift audit triggered"
            );
            Ok(if dry_run {
                Answer::DryRun(runtime.dry_run_as(run_id, Some(deadline)).await?)
            } else {
                Answer::Ran(runtime.run_as(run_id, Some(deadline)).await?)
            })
        })
        .await
        .map(Reply::Report)
}
