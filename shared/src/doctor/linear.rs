//! Linear: one read-only GraphQL query proves the key (`viewer`) and lists the teams it sees
//! with their workflow states; the drift audit's team (and project) and the MR audit's team keys
//! are looked up there. Fix texts list what does exist.

use super::Context;
use super::checklist::{Checklist, Recorder, quoted};
use crate::connectors::linear::{LinearClient, LinearConfig, TeamOverview, WorkspaceOverview};
use crate::ports::TrackerError;

const SUBJECT: &str = "linear";

/// What one workflow needs from Linear.
pub(super) enum Needs<'a> {
    /// The drift audit files into this team (and project).
    Drift {
        team_id: &'a str,
        project_id: Option<&'a str>,
    },
    /// The MR audit closes issues of these teams (by key) in a completed state.
    MrAudit { team_keys: &'a [String] },
}

pub(super) async fn check(
    list: &mut Checklist,
    workflow: &'static str,
    context: &Context,
    api_url: &str,
    needs: Needs<'_>,
) {
    let mut record = list.record(workflow, SUBJECT);
    if !context.has_credentials(&mut record, "API key accepted", &["linear_api_key"]) {
        return;
    }
    let client = LinearClient::new(
        context.http.clone(),
        context.secrets.clone(),
        LinearConfig {
            base_url: api_url.to_owned(),
            retry: context.common.retry,
            ..LinearConfig::new(String::new())
        },
    );
    let overview = match client.overview().await {
        Ok(overview) => {
            record.pass(
                "API key accepted",
                format!(
                    "viewer {}; {} team(s) visible",
                    quoted(&overview.viewer),
                    overview.teams.len()
                ),
            );
            overview
        }
        Err(e) => {
            let fix = match &e {
                TrackerError::Rejected { .. } => "put a valid key in linear_api_key (Linear → Settings → Security & access → Personal API keys, lin_api_…)".to_owned(),
                _ => format!("check LINEAR_API_URL ({api_url}) and the network path to Linear"),
            };
            record.fail("API key accepted", e.to_string(), fix);
            return;
        }
    };
    match needs {
        Needs::Drift {
            team_id,
            project_id,
        } => {
            check_team_id(&mut record, &overview, team_id);
            if let Some(project) = project_id {
                check_project(&mut record, &client, project).await;
            }
        }
        Needs::MrAudit { team_keys } => {
            for key in team_keys {
                check_team_key(&mut record, &overview, key);
            }
        }
    }
}

/// `SEC (id …), OPS (id …)`: the teams the key sees, as plain text.
fn teams_text(teams: &[TeamOverview]) -> String {
    if teams.is_empty() {
        return "none: the key sees no team".to_owned();
    }
    teams
        .iter()
        .map(|t| {
            format!(
                "{} {} (id {})",
                crate::text::excerpt(&t.key),
                quoted(&t.name),
                crate::text::excerpt(&t.id)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_team_id(record: &mut Recorder<'_>, overview: &WorkspaceOverview, team_id: &str) {
    match overview.teams.iter().find(|t| t.id == team_id) {
        Some(team) => record.pass(
            "LINEAR_TEAM_ID",
            format!(
                "team {} {}",
                crate::text::excerpt(&team.key),
                quoted(&team.name)
            ),
        ),
        None => record.fail(
            "LINEAR_TEAM_ID",
            format!(
                "no team with id {} among the teams this key sees",
                quoted(team_id)
            ),
            format!(
                "set LINEAR_TEAM_ID to the id of one of: {}",
                teams_text(&overview.teams)
            ),
        ),
    }
}

async fn check_project(record: &mut Recorder<'_>, client: &LinearClient, project_id: &str) {
    match client.project_name(project_id).await {
        Ok(Some(name)) => record.pass("LINEAR_PROJECT_ID", format!("project {}", quoted(&name))),
        Ok(None) => record.fail(
            "LINEAR_PROJECT_ID",
            format!("no project with id {} visible to this key", quoted(project_id)),
            "set LINEAR_PROJECT_ID to a project id of the team (from the project's URL or Linear's API), or unset it",
        ),
        Err(e) => record.fail(
            "LINEAR_PROJECT_ID",
            e.to_string(),
            "retry; if it persists, check LINEAR_PROJECT_ID",
        ),
    }
}

fn check_team_key(record: &mut Recorder<'_>, overview: &WorkspaceOverview, key: &str) {
    let name = format!("MR_AUDIT_LINEAR_TEAM_KEYS {key}");
    let Some(team) = overview
        .teams
        .iter()
        .find(|t| t.key.eq_ignore_ascii_case(key))
    else {
        let keys: Vec<String> = overview
            .teams
            .iter()
            .map(|t| crate::text::excerpt(&t.key))
            .collect();
        record.fail(
            &name,
            format!(
                "no team with key {} among the teams this key sees",
                quoted(key)
            ),
            format!(
                "set MR_AUDIT_LINEAR_TEAM_KEYS to keys of existing teams: {}",
                if keys.is_empty() {
                    "(none visible)".to_owned()
                } else {
                    keys.join(", ")
                }
            ),
        );
        return;
    };
    let completed: Vec<&str> = team
        .states
        .iter()
        .filter(|(_, kind)| kind == "completed")
        .map(|(name, _)| name.as_str())
        .collect();
    match completed.first() {
        Some(state) => record.pass(
            &name,
            format!(
                "team {}: audited issues close as {}",
                quoted(&team.name),
                quoted(state)
            ),
        ),
        None => {
            let states: Vec<String> = team
                .states
                .iter()
                .map(|(name, kind)| format!("{} ({kind})", quoted(name)))
                .collect();
            record.fail(
                &name,
                format!(
                    "team {key} has no workflow state of type completed (it has {}): audited issues cannot be closed",
                    if states.is_empty() { "none".to_owned() } else { states.join(", ") }
                ),
                format!("add a completed workflow state (such as Done) to team {key} in Linear (Settings → Teams → {key} → Workflow)"),
            );
        }
    }
}
