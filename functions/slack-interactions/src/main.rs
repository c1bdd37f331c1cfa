//! Lambda function: the project's one Slack interactivity URL (API Gateway HTTP API). Verifies
//! the signature on the raw body before anything else, then routes: review decisions are
//! recorded and their slow follow-up left to the review worker; rotation confirmations and
//! snoozes are recorded and the team's nudge redrawn. Answers within Slack's 3 seconds.

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use secops_shared::edge::{self, EdgeResponse};
use secops_shared::failure::{self, Failure};
use secops_shared::invocation::{self, Request as Served};
use secops_shared::runtime::Mode;
use secops_shared::slack_router::{InteractionsRuntime, Reply};
use serde_json::Value;

const FUNCTION: &str = "slack-interactions";
const ROUTE: &str = "/slack/interactions";

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let runtime = invocation::cold_start(FUNCTION, InteractionsRuntime::start(Mode::Lambda)).await;
    let runtime = &runtime;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        failure::catching_panics(handle(runtime, event.payload)).await
    }))
    .await
}

async fn handle(runtime: &InteractionsRuntime, event: Value) -> Result<Value, Failure> {
    let reply = Served::start(FUNCTION)
        .serve(answer(runtime, event), |r: &EdgeResponse| {
            (r.status, r.handled)
        })
        .await?;
    Ok(reply.into_event())
}

async fn answer(runtime: &InteractionsRuntime, event: Value) -> Result<EdgeResponse, Failure> {
    let request = match edge::decode(event, ROUTE) {
        Ok(request) => request,
        Err(refusal) => return Ok(refusal),
    };
    let reply = runtime
        .handle(
            request.header("x-slack-request-timestamp"),
            request.header("x-slack-signature"),
            &request.body,
        )
        .await
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "could not reach the database");
            Reply::internal_error()
        });
    Ok(EdgeResponse::answered(
        reply.status,
        reply.content_type,
        reply.body,
        reply.handled.as_str(),
    ))
}
