//! Lambda function: the project's one Slack interactivity URL (API Gateway HTTP API). Verifies
//! the signature on the raw body before anything else, then routes: review decisions are
//! recorded and their slow follow-up left to the review worker; rotation confirmations and
//! snoozes are recorded and the team's nudge redrawn. Answers within Slack's 3 seconds.

use lambda_http::{Body, Error, Request, Response, run, service_fn, tracing};
use secops_shared::invocation::{self, Request as Served};
use secops_shared::review::interactions::Reply;
use secops_shared::review::runtime::InteractionsRuntime;

const FUNCTION: &str = "slack-interactions";

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let runtime = invocation::cold_start(FUNCTION, InteractionsRuntime::start()).await;
    let runtime = &runtime;
    run(service_fn(move |request: Request| async move {
        handle(runtime, request).await
    }))
    .await
}

async fn handle(runtime: &InteractionsRuntime, request: Request) -> Result<Response<Body>, Error> {
    let reply = Served::start(FUNCTION)
        .serve(answer(runtime, &request), |r: &Reply| {
            (r.status, r.handled.as_str())
        })
        .await?;
    Ok(Response::builder()
        .status(reply.status)
        .header("content-type", reply.content_type)
        .body(Body::from(reply.body))?)
}

async fn answer(runtime: &InteractionsRuntime, request: &Request) -> Result<Reply, Error> {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    // lambda_http has already decoded an API Gateway base64 body: these are the bytes Slack signed.
    let reply = runtime
        .handle(
            header("x-slack-request-timestamp"),
            header("x-slack-signature"),
            request.body().as_ref(),
        )
        .await;
    Ok(reply.unwrap_or_else(|e| {
        tracing::error!(error = %e, "could not reach the database");
        Reply::internal_error()
    }))
}
