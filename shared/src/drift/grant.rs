//! The grant model: one third-party OAuth grant, parsed from whatever source it came from.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use super::provider::Provider;
use super::scopes::Scopes;

/// Who consented: one user for themselves, or an administrator for the whole organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsentType {
    User,
    Admin,
}

impl ConsentType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentType::User => "user",
            ConsentType::Admin => "admin",
        }
    }
}

impl fmt::Display for ConsentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConsentType::User => "user consent",
            ConsentType::Admin => "admin / org-wide consent",
        })
    }
}

impl FromStr for ConsentType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "user" | "" => Ok(ConsentType::User),
            "admin" | "org" | "org-wide" | "organization" | "tenant" => Ok(ConsentType::Admin),
            other => Err(format!(
                "unknown consent type {other:?} (expected user or admin)"
            )),
        }
    }
}

/// The principal an org-wide grant is recorded under.
pub const ORG_WIDE_PRINCIPAL: &str = "*";

/// What identifies a grant across days. Ordered byte-wise, the same order as the
/// `COLLATE "C"` key columns in Postgres, so both sides of the diff can be merged in a stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GrantKey {
    pub provider: Provider,
    pub client_id: String,
    pub principal: String,
}

impl GrantKey {
    pub fn is_org_wide(&self) -> bool {
        self.principal == ORG_WIDE_PRINCIPAL
    }

    /// The principal as a person reads it.
    pub fn principal_label(&self) -> &str {
        if self.is_org_wide() {
            "the whole organisation"
        } else {
            &self.principal
        }
    }
}

impl Ord for GrantKey {
    fn cmp(&self, other: &Self) -> Ordering {
        // Provider compares by its stored text so the order matches Postgres.
        self.provider
            .as_str()
            .cmp(other.provider.as_str())
            .then_with(|| self.client_id.as_bytes().cmp(other.client_id.as_bytes()))
            .then_with(|| self.principal.as_bytes().cmp(other.principal.as_bytes()))
    }
}

impl PartialOrd for GrantKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for GrantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.provider, self.client_id, self.principal)
    }
}

/// What a grant allows and who published the app: everything the diff compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantState {
    pub app_name: String,
    pub scopes: Scopes,
    pub consent: ConsentType,
    pub publisher: Option<String>,
    pub verified: Option<bool>,
}

/// One active grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub key: GrantKey,
    pub state: GrantState,
}
