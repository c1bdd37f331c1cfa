//! The Slack workspace (or Enterprise Grid organisation) a deployment serves: a signed click
//! from any other is refused before anything is read or recorded.

use std::future::Future;

use crate::config::{ConfigError, Env};

/// The Slack workspace (or Enterprise Grid organisation) this deployment serves: a signed
/// click from any other is refused. From `SLACK_TEAM_ID` / `SLACK_ENTERPRISE_ID`, else learned
/// from `auth.test` at cold start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HomeWorkspace {
    pub team_ids: Vec<String>,
    pub enterprise_id: Option<String>,
}

impl HomeWorkspace {
    /// `SLACK_TEAM_ID` (one or more, comma-separated) and `SLACK_ENTERPRISE_ID`; both may be
    /// unset (then the interactivity endpoint learns the team from `auth.test`).
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(HomeWorkspace {
            team_ids: slack_ids("SLACK_TEAM_ID", env.list("SLACK_TEAM_ID"), 'T')?,
            enterprise_id: slack_ids(
                "SLACK_ENTERPRISE_ID",
                env.text("SLACK_ENTERPRISE_ID").into_iter().collect(),
                'E',
            )?
            .pop(),
        })
    }

    /// Whether a payload's workspace (`team.id`), the clicker's own workspace (`user.team_id`)
    /// and organisation (`enterprise.id`) are ours. On Enterprise Grid every workspace of our
    /// organisation is; elsewhere each team id the payload names must be one of ours, and it
    /// must name one. Nothing configured or learned admits nothing.
    pub fn admits(
        &self,
        team_id: Option<&str>,
        user_team_id: Option<&str>,
        enterprise_id: Option<&str>,
    ) -> bool {
        if let Some(ours) = &self.enterprise_id
            && enterprise_id == Some(ours.as_str())
        {
            return true;
        }
        let named: Vec<&str> = [team_id, user_team_id].into_iter().flatten().collect();
        !named.is_empty() && named.iter().all(|t| self.team_ids.iter().any(|o| o == t))
    }
}

/// A Slack team (`T…`) or Enterprise Grid (`E…`) id: letters and digits after its prefix.
fn slack_ids(
    name: &'static str,
    values: Vec<String>,
    prefix: char,
) -> Result<Vec<String>, ConfigError> {
    for v in &values {
        let ok = v.starts_with(prefix)
            && v.len() > 1
            && v.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !ok {
            return Err(ConfigError {
                name,
                message: format!(
                    "{:?} is not a Slack id starting with {prefix} (upper-case letters and digits)",
                    crate::text::excerpt(v)
                ),
            });
        }
    }
    Ok(values)
}

/// Where our workspace comes from: a setting, or Slack asked once. Consulted only for a
/// request whose signature verified.
pub trait WorkspaceSource: Send + Sync {
    /// Ours, or `None` when it cannot be known now (then nothing is taken).
    fn ours(&self) -> impl Future<Output = Option<HomeWorkspace>> + Send;
}

impl WorkspaceSource for HomeWorkspace {
    async fn ours(&self) -> Option<HomeWorkspace> {
        Some(self.clone())
    }
}
