//! Building inventories in tests: `google("notes-app", "alice@example.com", &["openid"])`.

use secops_shared::drift::inventory::{InventoryGrant, RawGrant};

/// A user-consented grant.
pub fn user_grant(
    provider: &str,
    client_id: &str,
    principal: &str,
    scopes: &[&str],
) -> InventoryGrant {
    raw(provider, client_id, principal, scopes, "user")
        .parse()
        .expect("test grants are valid")
}

/// An admin / org-wide grant.
pub fn org_grant(provider: &str, client_id: &str, scopes: &[&str]) -> InventoryGrant {
    raw(provider, client_id, "*", scopes, "admin")
        .parse()
        .expect("test grants are valid")
}

pub fn google(client_id: &str, principal: &str, scopes: &[&str]) -> InventoryGrant {
    user_grant("google", client_id, principal, scopes)
}

/// A raw row as a sync job would write it (not validated).
pub fn raw(
    provider: &str,
    client_id: &str,
    principal: &str,
    scopes: &[&str],
    consent: &str,
) -> RawGrant {
    RawGrant {
        provider: provider.to_owned(),
        client_id: client_id.to_owned(),
        app_name: format!("{client_id} app"),
        principal: principal.to_owned(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        consent_type: consent.to_owned(),
        publisher: None,
        verified: None,
        last_seen: None,
    }
}

pub const MAIL: &str = "https://mail.google.com/";
pub const DRIVE_READ: &str = "https://www.googleapis.com/auth/drive.readonly";
pub const OPENID: &str = "openid";
pub const EMAIL: &str = "https://www.googleapis.com/auth/userinfo.email";
