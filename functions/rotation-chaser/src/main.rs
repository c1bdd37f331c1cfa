//! Lambda function: the stale-consumer rotation chaser, once per working day. Triggered by an
//! EventBridge Scheduler schedule (`ScheduleV2`, which delivers only its `Input` JSON); returns
//! the sweep report. A digest that could not be sent fails the invocation, so the scheduler's
//! retry sends it (nudges are never repeated within their interval). `{"dry_run": true}` runs
//! the sweep against the real services without posting or recording anything and returns the
//! nudges and digest it would have sent.
//! Invoked with `{"doctor": true}` it runs the read-only doctor for its workflow instead and
//! returns the checklist (`secops_shared::doctor`).

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use secops_shared::credential_scope::Function;
use secops_shared::doctor::{self, Reply};
use secops_shared::failure::{self, Failure, FailureKind};
use secops_shared::invocation::{self, Answer, Run};
use secops_shared::rotation::runtime::RotationRuntime;
use secops_shared::rotation::workflow::{DigestOutcome, SweepReport};
use secops_shared::runtime::Mode;
use serde_json::Value;

const FUNCTION: &str = "rotation-chaser";

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let runtime = invocation::cold_start(FUNCTION, RotationRuntime::start(Mode::Lambda)).await;
    let runtime = &runtime;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        failure::catching_panics(handle(runtime, event)).await
    }))
    .await
}

async fn handle(
    runtime: &RotationRuntime,
    event: LambdaEvent<Value>,
) -> Result<Reply<Answer<SweepReport>>, Failure> {
    let (input, context) = event.into_parts();
    let deadline = invocation::deadline_instant(context.deadline());
    if doctor::asked(&input) {
        return Run::start(FUNCTION)
            .run(|_| doctor::answer(Function::RotationChaser, deadline))
            .await;
    }
    // Read inside the run, so a refused input gets its summary line like any failure.
    let asked = invocation::asks_for_dry_run(&input);
    Run::start(FUNCTION)
        .dry_run(matches!(asked, Ok(true)))
        .run(|_| async move {
            let dry_run = asked?;
            // The input (`workflow`, a replay's `as_of`) is validated and logged by the sweep.
            if dry_run {
                return Ok(Answer::DryRun(
                    runtime.dry_run(&input, Some(deadline)).await?,
                ));
            }
            let report = runtime.run_input(&input, Some(deadline)).await?;
            digest_delivered(report).map(Answer::Ran)
        })
        .await
        .map(Reply::Report)
}

/// The sweep's report, unless today's digest still has to go out.
fn digest_delivered(report: SweepReport) -> Result<SweepReport, Failure> {
    match &report.digest {
        DigestOutcome::Failed { error } => Err(Failure::new(
            FailureKind::Pending,
            format!("the digest was not delivered: {error}"),
        )),
        // Another invocation holds today's digest: fail so Lambda's retry checks again (and
        // takes it over if that invocation died).
        DigestOutcome::InProgress => Err(Failure::new(
            FailureKind::Pending,
            "today's digest is being sent by another invocation",
        )),
        _ => Ok(report),
    }
}
