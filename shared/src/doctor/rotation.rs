//! The rotation chaser's checks: its settings (a digest target among them) and Slack (scopes,
//! the digest channel, the security group, and the channel of each team still being chased,
//! read from the consumers in Postgres).

use super::checklist::{Checklist, quoted};
use super::common::settings_unreadable;
use super::{Context, Workflow, credentials, slack};
use crate::config::{ConfigError, Env};
use crate::rotation::WORKFLOW;
use crate::rotation::config::RotationConfig;

pub(super) struct Settings(Result<RotationConfig, ConfigError>);

impl Settings {
    pub(super) fn read<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Self {
        Settings(RotationConfig::from_env(env).and_then(|config| {
            config.require_digest_target()?;
            Ok(config)
        }))
    }
}

pub(super) async fn check(list: &mut Checklist, context: &Context, settings: &Settings) {
    let config = match &settings.0 {
        Ok(config) => config,
        Err(e) => {
            settings_unreadable(list, context, Workflow::RotationChaser, e, "slack");
            return;
        }
    };
    let digest = config.sweep.digest_to.clone().unwrap_or_default();
    list.record(WORKFLOW, "settings")
        .pass("settings parse", format!("the digest goes to {digest}"));
    credentials::check(list, context, Workflow::RotationChaser);
    let mut scopes = vec!["chat:write", "users:read", "channels:read", "groups:read"];
    let groups: Vec<(&'static str, String)> = config
        .clicks
        .policy
        .security_groups
        .iter()
        .map(|g| ("ROTATION_SECURITY_GROUP", g.clone()))
        .collect();
    if !groups.is_empty() {
        scopes.push("usergroups:read");
    }
    let mut channels = vec![("ROTATION_DIGEST_TO".to_owned(), digest)];
    channels.extend(team_channels(list, context).await);
    let needs = slack::Needs {
        api_base: &config.slack_api_base,
        scopes,
        channels,
        groups,
    };
    slack::check(list, WORKFLOW, context, &needs).await;
}

/// Teams whose channels are read, at most: past that, the first ones stand for the rest.
const MAX_TEAM_CHANNELS: i64 = 50;

/// `(where it is set, channel)` for each team with a pending consumer, read (never written)
/// from `rotation_consumers`; nothing when Postgres was not reached (its check says why).
async fn team_channels(list: &mut Checklist, context: &Context) -> Vec<(String, String)> {
    let Some(db) = &context.db else {
        return Vec::new();
    };
    let rows = db
        .query(
            "SELECT team, min(channel) FROM rotation_consumers \
             WHERE status = 'pending' AND channel IS NOT NULL \
             GROUP BY team ORDER BY team LIMIT $1",
            &[&MAX_TEAM_CHANNELS],
        )
        .await;
    match rows {
        Ok(rows) => rows
            .iter()
            .map(|row| {
                let team: String = row.get(0);
                let channel: String = row.get(1);
                let place = format!("the channel of team {} (rotation consumers)", quoted(&team));
                (place, channel)
            })
            .collect(),
        Err(e) => {
            list.record(WORKFLOW, "postgres").fail(
                "team channels readable",
                format!("cannot read rotation_consumers: {e}"),
                "grant the rotation chaser's database role its tables: run `secops-local db-roles` as the schema owner",
            );
            Vec::new()
        }
    }
}
