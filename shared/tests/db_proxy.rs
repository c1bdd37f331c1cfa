//! `DATABASE_PROXY_ENDPOINT`: a connection goes to the proxy endpoint, not to the host named in
//! the secret's URL, and keeps the URL's user and database.

use secops_shared::db;
use secrecy::SecretString;

fn test_server() -> String {
    std::env::var("TEST_DATABASE_URL").expect(
        "TEST_DATABASE_URL is not set: run scripts/test.sh (it finds or starts a Postgres server)",
    )
}

/// `host:port` of the test server, which stands in for the proxy.
fn server_endpoint(url: &str) -> String {
    let after_at = url.rsplit_once('@').map_or(url, |(_, rest)| rest);
    let authority = after_at.split(['/', '?']).next().unwrap();
    if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:5432")
    }
}

#[tokio::test]
async fn the_proxy_endpoint_is_used_instead_of_the_host_in_the_secret() {
    let server = test_server();
    let endpoint = server_endpoint(&server);
    // The secret names a host that cannot resolve: only the proxy endpoint can answer.
    let unreachable = server.replacen(&endpoint, "db.invalid:5432", 1);
    assert_ne!(unreachable, server);
    let url = SecretString::from(unreachable);

    let direct = db::connect(&url, None).await;
    assert!(
        direct.is_err(),
        "the secret's own host must not be reachable"
    );

    let client = db::connect_through(&url, None, Some(&endpoint))
        .await
        .expect("connects through the endpoint");
    let user: String = client
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0);
    assert!(server.contains(&format!("//{user}")), "{user}");
}
