//! The Slack workspace (or Enterprise Grid organisation) a deployment serves: a signed click
//! from any other is refused before anything is read or recorded.

use std::future::Future;

/// The Slack workspace (or Enterprise Grid organisation) this deployment serves: a signed
/// click from any other is refused. From `SLACK_TEAM_ID` / `SLACK_ENTERPRISE_ID`, else learned
/// from `auth.test` at cold start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HomeWorkspace {
    pub team_ids: Vec<String>,
    pub enterprise_id: Option<String>,
}

impl HomeWorkspace {
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
