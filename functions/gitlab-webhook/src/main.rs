//! Lambda function: the GitLab merge request webhook (API Gateway HTTP API). Checks
//! `X-Gitlab-Token` before reading the body, records each security merge once and wakes the
//! audit worker on the project's bus, answering well inside GitLab's 10 seconds.

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use secops_shared::edge::{self, EdgeResponse};
use secops_shared::failure::{self, Failure};
use secops_shared::invocation::{self, Request as Served};
use secops_shared::mr_audit::hook::{HookReply, HookRequest};
use secops_shared::mr_audit::runtime::HookRuntime;
use secops_shared::runtime::Mode;
use serde_json::Value;

const FUNCTION: &str = "gitlab-webhook";
const ROUTE: &str = "/gitlab/webhook";

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let runtime = invocation::cold_start(FUNCTION, HookRuntime::start(Mode::Lambda)).await;
    let runtime = &runtime;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        failure::catching_panics(handle(runtime, event.payload)).await
    }))
    .await
}

async fn handle(runtime: &HookRuntime, event: Value) -> Result<Value, Failure> {
    let reply = Served::start(FUNCTION)
        .serve(answer(runtime, event), |r: &EdgeResponse| {
            (r.status, r.handled)
        })
        .await?;
    Ok(reply.into_event())
}

async fn answer(runtime: &HookRuntime, event: Value) -> Result<EdgeResponse, Failure> {
    let request = match edge::decode(event, ROUTE) {
        Ok(request) => request,
        Err(refusal) => return Ok(refusal),
    };
    let hook = HookRequest {
        token: request.header("x-gitlab-token"),
        event: request.header("x-gitlab-event"),
        idempotency_key: request.header("idempotency-key"),
        event_uuid: request.header("x-gitlab-event-uuid"),
        body: &request.body,
    };
    let reply = runtime.handle(&hook).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "could not reach the database");
        HookReply::internal_error()
    });
    Ok(EdgeResponse::answered(
        reply.status,
        "application/json",
        reply.body,
        reply.handled.as_str(),
    ))
}
