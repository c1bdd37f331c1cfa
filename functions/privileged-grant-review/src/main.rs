//! Lambda function: the privileged-grant anomaly review, every few minutes. Triggered by an
//! EventBridge Scheduler schedule (`ScheduleV2`, which delivers only its `Input` JSON); returns
//! the run report. `{"dry_run": true}` runs it against the real Axiom and model without posting,
//! logging or recording anything, and returns the cards and events it would have written.
//! Invoked with `{"doctor": true}` it runs the read-only doctor for its workflow instead and
//! returns the checklist (`secops_shared::doctor`).

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use secops_shared::credential_scope::Function;
use secops_shared::doctor::{self, Reply};
use secops_shared::failure::{self, Failure};
use secops_shared::invocation::{self, Answer, Run};
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
) -> Result<Reply<Answer<ReviewReport>>, Failure> {
    let (input, context) = event.into_parts();
    let deadline = invocation::deadline_instant(context.deadline());
    if doctor::asked(&input) {
        return Run::start(FUNCTION)
            .run(|_| doctor::answer(Function::PrivilegedGrantReview, deadline))
            .await;
    }
    // Read inside the run, so a refused input gets its summary line like any failure.
    let asked = invocation::asks_for_dry_run(&input);
    Run::start(FUNCTION)
        .dry_run(matches!(asked, Ok(true)))
        .run(|_| async move {
            let dry_run = asked?;
            tracing::info!(
                workflow = input["workflow"].as_str(),
                dry_run,
                "review run triggered"
            );
            Ok(if dry_run {
                Answer::DryRun(runtime.dry_run(Some(deadline)).await?)
            } else {
                Answer::Ran(runtime.run(Some(deadline)).await?)
            })
        })
        .await
        .map(Reply::Report)
}
