//! Lambda function: the GitLab merge request webhook (API Gateway HTTP API). Checks
//! `X-Gitlab-Token` before reading the body, records each security merge once and wakes the
//! audit worker on the project's bus, answering well inside GitLab's 10 seconds.

use lambda_http::{Body, Error, Request, Response, run, service_fn, tracing};
use secops_shared::mr_audit::hook::HookRequest;
use secops_shared::mr_audit::runtime::HookRuntime;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let runtime = match HookRuntime::start().await {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "gitlab-webhook cannot start");
            return Err(e.into());
        }
    };
    let runtime = &runtime;
    run(service_fn(move |request: Request| async move {
        handle(runtime, request).await
    }))
    .await
}

async fn handle(runtime: &HookRuntime, request: Request) -> Result<Response<Body>, Error> {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    let hook = HookRequest {
        token: header("x-gitlab-token"),
        event: header("x-gitlab-event"),
        idempotency_key: header("idempotency-key"),
        event_uuid: header("x-gitlab-event-uuid"),
        body: request.body().as_ref(),
    };
    let (status, body) = match runtime.handle(&hook).await {
        Ok(reply) => (reply.status, reply.body),
        Err(e) => {
            tracing::error!(error = %e, "could not reach the database");
            (500, r#"{"error":"internal error"}"#.to_owned())
        }
    };
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body))?)
}
