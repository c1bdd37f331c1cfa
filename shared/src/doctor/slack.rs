//! Slack: the bot token is accepted (`auth.test`), holds the scopes the workflow needs (Slack
//! names them in the `x-oauth-scopes` header of every Web API answer), the bot is in each
//! configured channel (`conversations.info`), and each configured user group is readable
//! (`usergroups.users.list`). Only read methods are called.

use super::Context;
use super::checklist::{Checklist, Recorder, quoted};
use crate::slack::client::{BotIdentity, SlackClient, SlackConfig, SlackError};

const SUBJECT: &str = "slack";

/// What one workflow needs from Slack.
pub(super) struct Needs<'a> {
    pub api_base: &'a str,
    /// Bot scopes the workflow's calls need.
    pub scopes: Vec<&'static str>,
    /// `(where it is set, channel or user id)`: where the workflow posts; `where` is a setting's
    /// name, or names the data it comes from.
    pub channels: Vec<(String, String)>,
    /// `(setting, user group id)`: whose members the workflow reads.
    pub groups: Vec<(&'static str, String)>,
}

pub(super) async fn check(
    list: &mut Checklist,
    workflow: &'static str,
    context: &Context,
    needs: &Needs<'_>,
) {
    let mut record = list.record(workflow, SUBJECT);
    if !context.has_credentials(&mut record, "bot token accepted", &["slack_bot_token"]) {
        return;
    }
    let client = SlackClient::new(
        context.http.clone(),
        context.secrets.clone(),
        SlackConfig {
            base_url: needs.api_base.to_owned(),
            retry: context.common.retry,
            ..SlackConfig::default()
        },
    );
    let bot = match client.bot_identity().await {
        Ok(bot) => {
            record.pass(
                "bot token accepted",
                format!(
                    "auth.test: bot {} in workspace {} ({})",
                    quoted(&bot.user),
                    quoted(&bot.team),
                    bot.team_id
                ),
            );
            bot
        }
        Err(e) => {
            let fix = match &e {
                SlackError::Auth { .. } => "put the app's current Bot User OAuth Token (OAuth & Permissions, xoxb-…) in slack_bot_token; reinstall the app if it was revoked".to_owned(),
                _ => format!("check SLACK_API_BASE ({}) and the network path to Slack", needs.api_base),
            };
            record.fail("bot token accepted", e.to_string(), fix);
            return;
        }
    };
    check_scopes(&mut record, &bot, &needs.scopes);
    for (setting, channel) in &needs.channels {
        check_channel(&mut record, &client, &bot, setting, channel).await;
    }
    for (setting, group) in &needs.groups {
        check_group(&mut record, &client, setting, group).await;
    }
}

fn check_scopes(record: &mut Recorder<'_>, bot: &BotIdentity, wanted: &[&str]) {
    let Some(held) = &bot.scopes else {
        record.skip(
            "bot scopes",
            "Slack sent no x-oauth-scopes header, so the scopes cannot be read",
        );
        return;
    };
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|scope| !held.iter().any(|h| h == scope))
        .collect();
    if missing.is_empty() {
        record.pass("bot scopes", format!("holds {}", wanted.join(", ")));
        return;
    }
    let (noun, names) = match missing.as_slice() {
        [one] => ("scope", (*one).to_owned()),
        many => ("scopes", many.join(", ")),
    };
    record.fail(
        "bot scopes",
        format!("the bot token lacks the {noun} {names}"),
        format!(
            "add the {noun} {names} to the Slack app (OAuth & Permissions → Bot Token Scopes; infra/slack-app-manifest.yaml lists them all) and reinstall it"
        ),
    );
}

async fn check_channel(
    record: &mut Recorder<'_>,
    client: &SlackClient,
    bot: &BotIdentity,
    setting: &str,
    channel: &str,
) {
    let name = format!("{setting} {channel}");
    if channel.starts_with(['U', 'W']) {
        record.pass(
            &name,
            "a user id: messages go to the user by DM (chat:write)",
        );
        return;
    }
    let invite = |label: &str| {
        format!(
            "invite the bot: /invite @{} in {label} ({channel})",
            crate::text::excerpt(&bot.user)
        )
    };
    match client.channel_info(channel).await {
        Ok(info) if info.is_archived => record.fail(
            &name,
            format!("#{} is archived", crate::text::excerpt(&info.name)),
            format!("unarchive the channel or set {setting} to a channel in use"),
        ),
        Ok(info) if !info.is_member => record.fail(
            &name,
            format!(
                "the bot is not in #{}",
                crate::text::excerpt(&info.name)
            ),
            invite(&format!("#{}", crate::text::excerpt(&info.name))),
        ),
        Ok(info) => record.pass(
            &name,
            format!("the bot is in #{}", crate::text::excerpt(&info.name)),
        ),
        Err(SlackError::ChannelUnusable { code, .. }) => record.fail(
            &name,
            format!("{code}: no such channel for the bot (a private channel without the bot looks the same)"),
            format!("set {setting} to the channel's id (C… from its details), or, for a private channel, {}", invite("it")),
        ),
        Err(SlackError::Api { code, .. }) if code == "missing_scope" => record.fail(
            &name,
            "conversations.info answered missing_scope: membership cannot be read",
            "add the scopes channels:read and groups:read to the Slack app (OAuth & Permissions) and reinstall it",
        ),
        Err(e) => record.fail(&name, e.to_string(), "retry; if it persists, check the network path to Slack"),
    }
}

async fn check_group(record: &mut Recorder<'_>, client: &SlackClient, setting: &str, group: &str) {
    let name = format!("{setting} {group}");
    match client.usergroup_members(group).await {
        Ok(members) => record.pass(&name, format!("readable: {} member(s)", members.len())),
        Err(SlackError::Api { code, .. }) if code == "missing_scope" => record.fail(
            &name,
            "usergroups.users.list answered missing_scope",
            "add the scope usergroups:read to the Slack app (OAuth & Permissions) and reinstall it",
        ),
        Err(SlackError::Api { code, .. }) => record.fail(
            &name,
            format!("usergroups.users.list answered {code}"),
            format!("set {setting} to user group ids (S…) that exist in this workspace"),
        ),
        Err(e) => record.fail(
            &name,
            e.to_string(),
            "retry; if it persists, check the network path to Slack",
        ),
    }
}
