//! Scope sets: normalised (trimmed, split, deduplicated, ordered, cased per provider) so that
//! two spellings of the same grant never show up as drift.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::catalog;
use super::provider::Provider;

/// A normalised, ordered set of scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Normalise raw scope strings for `provider`. Each item may itself hold several scopes
    /// separated by whitespace or commas (how exports join them); control characters separate
    /// too, so no scope carries one.
    pub fn normalise<I, S>(provider: Provider, raw: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = BTreeSet::new();
        for item in raw {
            for piece in item
                .as_ref()
                .split(|c: char| c.is_whitespace() || c.is_control() || c == ',')
                .filter(|p| !p.is_empty())
            {
                set.insert(normalise_one(provider, piece));
            }
        }
        Scopes(set.into_iter().collect())
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.binary_search_by(|s| s.as_str().cmp(scope)).is_ok()
    }

    /// Scopes in `self` that `earlier` did not have.
    pub fn gained_since<'a>(&'a self, earlier: &Scopes) -> Vec<&'a str> {
        self.0
            .iter()
            .filter(|s| !earlier.contains(s))
            .map(String::as_str)
            .collect()
    }

    /// Scopes `earlier` had that `self` no longer has.
    pub fn lost_since<'a>(&self, earlier: &'a Scopes) -> Vec<&'a str> {
        earlier.gained_since(self)
    }

    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

/// Case rules: Google scopes are URLs compared as written (short aliases expanded);
/// Microsoft Graph permission names are case-insensitive (canonical spelling from the catalog,
/// else lower case); GitHub, Slack and Okta scopes are lower case by definition.
fn normalise_one(provider: Provider, raw: &str) -> String {
    let trimmed = raw.trim();
    match provider {
        Provider::Google => match trimmed {
            "email" => "https://www.googleapis.com/auth/userinfo.email".to_owned(),
            "profile" => "https://www.googleapis.com/auth/userinfo.profile".to_owned(),
            other => other.to_owned(),
        },
        Provider::Microsoft => catalog::canonical_spelling(provider, trimmed)
            .map(str::to_owned)
            .unwrap_or_else(|| trimmed.to_ascii_lowercase()),
        Provider::Github | Provider::Slack | Provider::Okta => trimmed.to_ascii_lowercase(),
        Provider::Other => trimmed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_trimmed_split_deduplicated_and_ordered() {
        let scopes = Scopes::normalise(
            Provider::Slack,
            [
                "  chat:write ",
                "channels:read,chat:write",
                "users:read channels:read",
            ],
        );
        assert_eq!(
            scopes.as_slice(),
            ["channels:read", "chat:write", "users:read"]
        );
    }

    #[test]
    fn microsoft_scopes_compare_case_insensitively_with_canonical_spelling() {
        let a = Scopes::normalise(Provider::Microsoft, ["mail.readwrite", "USER.READ"]);
        let b = Scopes::normalise(Provider::Microsoft, ["Mail.ReadWrite", "User.Read"]);
        assert_eq!(a, b);
        assert!(a.contains("Mail.ReadWrite"));
    }

    #[test]
    fn unknown_microsoft_scopes_fold_to_lower_case() {
        let a = Scopes::normalise(Provider::Microsoft, ["Contoso.Custom.Scope"]);
        assert_eq!(a.as_slice(), ["contoso.custom.scope"]);
    }

    #[test]
    fn google_short_aliases_expand_and_urls_keep_their_case() {
        let s = Scopes::normalise(
            Provider::Google,
            ["email", "https://www.googleapis.com/auth/Drive"],
        );
        assert_eq!(
            s.as_slice(),
            [
                "https://www.googleapis.com/auth/Drive",
                "https://www.googleapis.com/auth/userinfo.email"
            ]
        );
    }

    #[test]
    fn gained_and_lost_are_set_differences() {
        let old = Scopes::normalise(Provider::Github, ["repo", "read:org"]);
        let new = Scopes::normalise(Provider::Github, ["repo", "admin:org"]);
        assert_eq!(new.gained_since(&old), ["admin:org"]);
        assert_eq!(new.lost_since(&old), ["read:org"]);
    }
}
