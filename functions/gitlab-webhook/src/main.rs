//! Lambda function: the GitLab merge request webhook (API Gateway HTTP API). Checks
//! `X-Gitlab-Token` before reading the body, records each security merge once and wakes the
//! audit worker on the project's bus, answering well inside GitLab's 10 seconds.

use lambda_http::{Body, Error, Request, Response, run, service_fn, tracing};
use secops_shared::invocation::{self, Request as Served};
use secops_shared::mr_audit::hook::{HookReply, HookRequest};
use secops_shared::mr_audit::runtime::HookRuntime;

const FUNCTION: &str = "gitlab-webhook";

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let runtime = invocation::cold_start(FUNCTION, HookRuntime::start()).await;
    let runtime = &runtime;
    run(service_fn(move |request: Request| async move {
        handle(runtime, request).await
    }))
    .await
}

async fn handle(runtime: &HookRuntime, request: Request) -> Result<Response<Body>, Error> {
    let reply = Served::start(FUNCTION)
        .serve(answer(runtime, &request), |r: &HookReply| {
            (r.status, r.handled.as_str())
        })
        .await?;
    Ok(Response::builder()
        .status(reply.status)
        .header("content-type", "application/json")
        .body(Body::from(reply.body))?)
}

async fn answer(runtime: &HookRuntime, request: &Request) -> Result<HookReply, Error> {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    let hook = HookRequest {
        token: header("x-gitlab-token"),
        event: header("x-gitlab-event"),
        idempotency_key: header("idempotency-key"),
        event_uuid: header("x-gitlab-event-uuid"),
        body: request.body().as_ref(),
    };
    Ok(runtime.handle(&hook).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "could not reach the database");
        HookReply::internal_error()
    }))
}
