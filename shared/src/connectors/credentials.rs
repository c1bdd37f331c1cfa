//! Credentials as every connector uses them: read from the secret for each call, and read again
//! once when the service refuses them, since the secret may have been rotated after it was
//! cached.

use std::future::Future;
use std::pin::Pin;

use crate::http::HttpResponse;
use crate::secrets::{Credentials, SecretError, SecretStore};

/// A call under way, as a boxed trait object: the Secrets Manager read and a connector's
/// retrying send nest deep futures, and held by type they would add to every caller's layout
/// until the compiler's depth limit refuses the Lambda handler.
pub type Sending<'a, E> = Pin<Box<dyn Future<Output = Result<HttpResponse, E>> + Send + 'a>>;

/// Send with what `authorize` derives from the current credentials (a header, a header map).
/// When `refused` says the service did not accept it, re-read the secret once and, if that
/// changed what `authorize` derives (the secret was rotated), send once more. Unchanged
/// credentials are not sent again: they would be refused the same way, so the refusal stands.
/// Either way the last response is returned, for the connector to turn into its own error.
pub fn send_with_fresh_credentials<'a, A, E>(
    secrets: &'a SecretStore,
    authorize: impl Fn(&Credentials) -> Result<A, E> + Send + 'a,
    unreadable: impl Fn(SecretError) -> E + Send + 'a,
    send: impl Fn(A) -> Sending<'a, E> + Send + Sync + 'a,
    refused: impl Fn(&HttpResponse) -> bool + Send + 'a,
) -> Sending<'a, E>
where
    A: Clone + PartialEq + Send + 'a,
    E: Send + 'a,
{
    Box::pin(async move {
        let current = secrets.current().await.map_err(&unreadable)?;
        let auth = authorize(&current)?;
        let response = send(auth.clone()).await?;
        if !refused(&response) {
            return Ok(response);
        }
        secrets.invalidate().await;
        let fresh = secrets.current().await.map_err(&unreadable)?;
        let fresh_auth = authorize(&fresh)?;
        if fresh_auth == auth {
            return Ok(response);
        }
        send(fresh_auth).await
    })
}
