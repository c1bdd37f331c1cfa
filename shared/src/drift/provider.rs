//! The identity platforms a grant can come from; a module of its own so the scope catalog can
//! name providers without depending on the grant model, which depends on scopes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The identity platform that issued the grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Google,
    Microsoft,
    Github,
    Slack,
    Okta,
    Other,
}

impl Provider {
    pub const ALL: [Provider; 6] = [
        Provider::Google,
        Provider::Microsoft,
        Provider::Github,
        Provider::Slack,
        Provider::Okta,
        Provider::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Google => "google",
            Provider::Microsoft => "microsoft",
            Provider::Github => "github",
            Provider::Slack => "slack",
            Provider::Okta => "okta",
            Provider::Other => "other",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("unknown provider {s:?} (expected one of google, microsoft, github, slack, okta, other)")
            })
    }
}
