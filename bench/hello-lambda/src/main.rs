//! The cold-start baseline for `coldstart-bench`: lambda_runtime's hello world, echoing the
//! event. No secret, no database, no HTTP client: what any Rust function pays before its own
//! init.

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // The same subscriber as the real functions, so both pay for it.
    tracing::init_default_subscriber();
    run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(event.payload)
    }))
    .await
}
