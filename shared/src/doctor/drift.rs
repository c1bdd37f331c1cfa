//! The OAuth grant drift audit's checks: its settings, Linear (the key, the team, the
//! project) and the model that drafts justification requests.

use super::checklist::{Checklist, quoted};
use super::common::settings_unreadable;
use super::{Context, Workflow, credentials, linear, openai};
use crate::config::{ConfigError, Env};
use crate::drift::config::DriftSettings;
use crate::drift::workflow::WORKFLOW;

/// The drift audit's settings as its runtime reads them, with the team it cannot file without.
pub(super) struct Settings(Result<(DriftSettings, String), ConfigError>);

impl Settings {
    pub(super) fn read<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Self {
        Settings(DriftSettings::from_env(env).and_then(|settings| {
            let team = settings.linear_team_id.clone().ok_or(ConfigError {
                name: "LINEAR_TEAM_ID",
                message: "required to file Linear issues: the id of the team they are filed in"
                    .to_owned(),
            })?;
            Ok((settings, team))
        }))
    }
}

pub(super) async fn check(list: &mut Checklist, context: &Context, settings: &Settings) {
    let (settings, team) = match &settings.0 {
        Ok(parsed) => {
            list.record(WORKFLOW, "settings").pass(
                "settings parse",
                format!("issues are filed in team {}", quoted(&parsed.1)),
            );
            (&parsed.0, &parsed.1)
        }
        Err(e) => {
            settings_unreadable(list, context, Workflow::OAuthDrift, e, "linear, openai");
            return;
        }
    };
    credentials::check(list, context, Workflow::OAuthDrift);
    let needs = linear::Needs::Drift {
        team_id: team,
        project_id: settings.linear_project_id.as_deref(),
    };
    linear::check(list, WORKFLOW, context, &settings.linear_api_url, needs).await;
    openai::check(
        list,
        WORKFLOW,
        context,
        &settings.llm,
        "justification requests come from the deterministic template",
    )
    .await;
}
