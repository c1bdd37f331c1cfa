//! "Confirmed: on the new key" and "Snooze" on a team's nudge, as the Slack interactivity
//! endpoint hands them over (already verified). Only members of the consumer's team channel or
//! of the security group may act (configurable), and permission is checked again when the
//! snooze form is submitted. The first confirmation wins; the nudge is redrawn in place.

use chrono::{DateTime, Days, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::message::{CONFIRM, LineState, SNOOZE, counted, nudge_of_block};
use super::ports::{RotationSlack, Standing};
use super::store::{ClickWrite, ConsumerRecord, RotationStore, RotationStoreError};
use crate::ports::PortError;
use crate::slack::blocks::slack_escape;
use crate::slack::interaction::{BlockAction, ViewSubmission};
use crate::slack::workspace::HomeWorkspace;

/// The snooze form's `callback_id`, and its fields.
pub const SNOOZE_FORM: &str = "rotation_snooze_form";
const REASON_BLOCK: &str = "reason";
const REASON_INPUT: &str = "reason_input";
const DAYS_BLOCK: &str = "days";
const DAYS_SELECT: &str = "days_select";
/// Longest snooze reason kept.
pub const MAX_REASON_CHARS: usize = 300;

/// Who may confirm or snooze a consumer.
#[derive(Debug, Clone)]
pub struct ConfirmPolicy {
    /// Members of the consumer's team channel.
    pub team_channel: bool,
    /// Members of these Slack user groups (the security team).
    pub security_groups: Vec<String>,
}

impl Default for ConfirmPolicy {
    fn default() -> Self {
        Self {
            team_channel: true,
            security_groups: Vec::new(),
        }
    }
}

/// Settings for the clicks.
#[derive(Debug, Clone)]
pub struct ClickSettings {
    pub policy: ConfirmPolicy,
    /// The longest snooze offered, in days.
    pub max_snooze_days: u32,
    /// Snoozes end on a date counted in this timezone.
    pub timezone: Tz,
}

impl Default for ClickSettings {
    fn default() -> Self {
        Self {
            policy: ConfirmPolicy::default(),
            max_snooze_days: 7,
            timezone: Tz::UTC,
        }
    }
}

/// How to answer Slack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClickReply {
    /// Done: the redrawn message is the feedback.
    Ack,
    /// Tell the clicker only.
    Ephemeral(String),
    /// Keep the snooze form open with these errors by block id.
    FormErrors(Value),
}

/// Where the clicked nudge lives, carried through the snooze form.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FormContext {
    consumer_id: i64,
    channel: Option<String>,
    ts: Option<String>,
    /// The nudge the clicked message shows (absent in forms opened before it was carried).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nudge: Option<i64>,
}

/// Where a click came from: the message, and the nudge its block names.
#[derive(Debug, Clone, Copy)]
struct Clicked<'a> {
    channel: Option<&'a str>,
    ts: Option<&'a str>,
    nudge: Option<i64>,
}

/// The rotation side of the interactivity endpoint.
pub struct RotationClicks<'a, S> {
    pub store: RotationStore<'a>,
    pub slack: &'a S,
    pub settings: &'a ClickSettings,
}

/// Whether this block action belongs to the rotation chaser.
pub fn is_rotation_action(action_id: &str) -> bool {
    action_id == CONFIRM || action_id == SNOOZE
}

impl<S: RotationSlack> RotationClicks<'_, S> {
    /// A "Confirmed" or "Snooze" button.
    #[tracing::instrument(skip_all, fields(action = %action.action.action_id, user = %action.user_id))]
    pub async fn on_action(
        &self,
        action: &BlockAction,
        home: &HomeWorkspace,
        now: DateTime<Utc>,
    ) -> Result<ClickReply, RotationStoreError> {
        let Some(id) = action
            .action
            .value
            .as_deref()
            .and_then(|v| v.parse::<i64>().ok())
        else {
            return Ok(ClickReply::Ephemeral(
                "This button does not name a consumer.".to_owned(),
            ));
        };
        let Some(consumer) = self.store.consumer(id).await? else {
            return Ok(ClickReply::Ephemeral(
                "This consumer is no longer tracked.".to_owned(),
            ));
        };
        if let Some(already) = already_confirmed(&consumer) {
            return Ok(ClickReply::Ephemeral(already));
        }
        if action.action.action_id == SNOOZE {
            // The form opens first: Slack's trigger id lives 3 seconds, and a large channel's
            // membership can take most of that. Permission is checked when the form is sent.
            let context = FormContext {
                consumer_id: id,
                channel: action.channel_id.clone(),
                ts: action.message_ts.clone(),
                nudge: action.action.block_id.as_deref().and_then(nudge_of_block),
            };
            let Some(trigger) = action.trigger_id.as_deref() else {
                return Ok(ClickReply::Ephemeral(
                    "Slack sent no form trigger; please click Snooze again.".to_owned(),
                ));
            };
            let form = snooze_form(&consumer, &context, self.settings.max_snooze_days);
            return Ok(match self.slack.open_view(trigger, &form).await {
                Ok(()) => ClickReply::Ack,
                Err(e) => {
                    tracing::warn!(error = %e, "could not open the snooze form");
                    ClickReply::Ephemeral(format!(
                        "The snooze form could not be opened ({e}); please try again."
                    ))
                }
            });
        }
        if let Err(why) = self.authorise(&action.user_id, &consumer, home).await {
            tracing::info!(%why, "rotation click refused");
            return Ok(ClickReply::Ephemeral(why));
        }
        match self.store.confirm(id, &action.user_id, now).await? {
            ClickWrite::Done => {
                tracing::info!(consumer = id, "consumer confirmed on the new key");
                let clicked = Clicked {
                    channel: action.channel_id.as_deref(),
                    ts: action.message_ts.as_deref(),
                    nudge: action.action.block_id.as_deref().and_then(nudge_of_block),
                };
                if let Err(why) = self.redraw(clicked, now).await? {
                    // The confirmation is recorded, but the message does not show it: the
                    // clicker must not be left wondering whether the click worked.
                    tracing::warn!(consumer = id, %why, "confirmed, but the nudge was not redrawn");
                    self.tell(
                        action.response_url.as_deref(),
                        &format!(
                            "Recorded: *{}* is confirmed on the new key and will not be chased again. This message could not be updated to show it.",
                            slack_escape(&consumer.name)
                        ),
                    )
                    .await;
                }
                Ok(ClickReply::Ack)
            }
            ClickWrite::AlreadyConfirmed { by, .. } => Ok(ClickReply::Ephemeral(format!(
                "Already confirmed{}.",
                by.map(|b| format!(" by <@{}>", slack_escape(&b)))
                    .unwrap_or_default()
            ))),
            ClickWrite::Unknown => Ok(ClickReply::Ephemeral(
                "This consumer is no longer tracked.".to_owned(),
            )),
        }
    }

    /// The submitted snooze form.
    #[tracing::instrument(skip_all, fields(user = %view.user_id))]
    pub async fn on_snooze_form(
        &self,
        view: &ViewSubmission,
        home: &HomeWorkspace,
        now: DateTime<Utc>,
    ) -> Result<ClickReply, RotationStoreError> {
        let form_error = |block: &str, text: String| ClickReply::FormErrors(json!({ block: text }));
        let Ok(context) = serde_json::from_str::<FormContext>(&view.private_metadata) else {
            return Ok(form_error(
                REASON_BLOCK,
                "This form is out of date; close it and click Snooze again.".to_owned(),
            ));
        };
        let Some(consumer) = self.store.consumer(context.consumer_id).await? else {
            return Ok(form_error(
                REASON_BLOCK,
                "This consumer is no longer tracked.".to_owned(),
            ));
        };
        if let Some(already) = already_confirmed(&consumer) {
            return Ok(form_error(REASON_BLOCK, already));
        }
        if let Err(why) = self.authorise(&view.user_id, &consumer, home).await {
            tracing::info!(%why, "snooze refused");
            return Ok(form_error(REASON_BLOCK, why));
        }
        let reason = view
            .value(REASON_BLOCK, REASON_INPUT)
            .map(str::trim)
            .unwrap_or_default();
        if reason.is_empty() {
            return Ok(form_error(
                REASON_BLOCK,
                "Say why the move has to wait.".to_owned(),
            ));
        }
        if reason.chars().count() > MAX_REASON_CHARS {
            return Ok(form_error(
                REASON_BLOCK,
                format!("Keep the reason under {MAX_REASON_CHARS} characters."),
            ));
        }
        let max = self.settings.max_snooze_days;
        let days = match view.value(DAYS_BLOCK, DAYS_SELECT).map(str::parse::<u32>) {
            Some(Ok(d)) if (1..=max).contains(&d) => d,
            _ => {
                return Ok(form_error(
                    DAYS_BLOCK,
                    format!("Choose between 1 and {max} days."),
                ));
            }
        };
        let today = now.with_timezone(&self.settings.timezone).date_naive();
        let until = today + Days::new(u64::from(days));
        match self
            .store
            .snooze(context.consumer_id, &view.user_id, until, reason, now)
            .await?
        {
            ClickWrite::Done => {
                tracing::info!(consumer = context.consumer_id, %until, "consumer snoozed");
                let clicked = Clicked {
                    channel: context.channel.as_deref(),
                    ts: context.ts.as_deref(),
                    nudge: context.nudge,
                };
                if let Err(why) = self.redraw(clicked, now).await? {
                    // The form closes on success, which is the clicker's feedback.
                    tracing::warn!(consumer = context.consumer_id, %why, "snoozed, but the nudge was not redrawn");
                }
                Ok(ClickReply::Ack)
            }
            ClickWrite::AlreadyConfirmed { .. } => Ok(form_error(
                REASON_BLOCK,
                "This consumer has been confirmed in the meantime.".to_owned(),
            )),
            ClickWrite::Unknown => Ok(form_error(
                REASON_BLOCK,
                "This consumer is no longer tracked.".to_owned(),
            )),
        }
    }

    /// Fails closed: refused unless one of the allowed memberships is confirmed. A membership
    /// that cannot be checked (say the team channel is gone) does not stop the other check: that
    /// is when the security group most needs to act.
    async fn authorise(
        &self,
        user: &str,
        consumer: &ConsumerRecord,
        home: &HomeWorkspace,
    ) -> Result<(), String> {
        let policy = &self.settings.policy;
        let mut unverified: Option<PortError> = None;
        let mut outsider = false;
        if policy.team_channel
            && let Some(channel) = &consumer.channel
        {
            match self.slack.channel_members(channel).await {
                // `conversations.members` lists a shared channel's Slack Connect members too:
                // only members of our own workspace confirm for its teams.
                Ok(members) if members.iter().any(|m| m == user) => {
                    match self.slack.standing(user).await {
                        Ok(standing) if is_ours(&standing, home) => return Ok(()),
                        Ok(_) => outsider = true,
                        Err(e) => unverified = Some(e),
                    }
                }
                Ok(_) => {}
                Err(e) => unverified = Some(e),
            }
        }
        for group in &policy.security_groups {
            match self.slack.group_members(group).await {
                Ok(members) if members.iter().any(|m| m == user) => return Ok(()),
                Ok(_) => {}
                Err(e) => unverified = Some(e),
            }
        }
        if outsider {
            return Err(format!(
                "Only full members of this workspace can confirm or snooze {} (guests and members of other organisations in a shared channel cannot).",
                slack_escape(&consumer.name)
            ));
        }
        if let Some(e) = unverified {
            return Err(format!(
                "Your permission could not be checked ({e}); please try again."
            ));
        }
        let who = match (policy.team_channel, policy.security_groups.is_empty()) {
            (true, false) => "members of the team's channel or the security group",
            (true, true) => "members of the team's channel",
            (false, false) => "the security group",
            (false, true) => "nobody (no confirmers are configured)",
        };
        Err(format!(
            "Only {who} can confirm or snooze {}.",
            slack_escape(&consumer.name)
        ))
    }

    /// Send the clicker a private note; a failure is logged (there is no one else to tell).
    async fn tell(&self, response_url: Option<&str>, text: &str) {
        let Some(url) = response_url else {
            tracing::warn!("the click carried no response_url; the clicker was not told");
            return;
        };
        if let Err(e) = self.slack.tell(url, text).await {
            tracing::warn!(error = %e, "could not tell the clicker");
        }
    }

    /// Redraw the clicked nudge with each consumer's current state. The click is already
    /// recorded; `Ok(Err(why))` says the message does not show it.
    ///
    /// The message is found by its place in Slack, or else by the nudge its block names: a
    /// sweep that died after posting it never learned its `ts`, and the click supplies it.
    async fn redraw(
        &self,
        clicked: Clicked<'_>,
        now: DateTime<Utc>,
    ) -> Result<Result<(), &'static str>, RotationStoreError> {
        let (Some(channel), Some(ts)) = (clicked.channel, clicked.ts) else {
            return Ok(Err("the click named no message"));
        };
        let stored = match self.store.nudge_at(channel, ts).await? {
            Some(stored) => stored,
            None => {
                let found = match clicked.nudge {
                    Some(id) => self.store.nudge_by_id(id).await?,
                    None => None,
                };
                let Some(stored) = found.filter(|n| n.channel == channel && n.ts.is_none()) else {
                    tracing::warn!(%channel, %ts, "the clicked message is not a recorded nudge");
                    return Ok(Err("the clicked message is not a recorded nudge"));
                };
                tracing::info!(
                    nudge = stored.nudge_id,
                    state = %stored.state,
                    "a nudge whose sweep died before recording it was clicked; recorded with its ts"
                );
                self.store
                    .mark_sent(stored.nudge_id, channel, ts, None)
                    .await?;
                stored
            }
        };
        let mut message = stored.message;
        let ids: Vec<i64> = message
            .lines
            .iter()
            .filter_map(|l| l.consumer_ref.parse().ok())
            .collect();
        let today = now.with_timezone(&self.settings.timezone).date_naive();
        let states = self
            .store
            .line_states(&ids, today, self.settings.timezone)
            .await?;
        for line in &mut message.lines {
            line.state = line
                .consumer_ref
                .parse::<i64>()
                .ok()
                .and_then(|id| states.get(&id).cloned())
                .unwrap_or(LineState::Open);
        }
        let (text, blocks) = message.render();
        if let Err(e) = self.slack.update(channel, ts, &text, &blocks).await {
            tracing::warn!(error = %e, "could not redraw the nudge");
            return Ok(Err("Slack refused the update"));
        }
        Ok(Ok(()))
    }
}

/// A full member of our workspace: not a Slack Connect member of another organisation, not a
/// guest, and of one of our workspaces, or (on Enterprise Grid) of our organisation as their own
/// user record says. `is_stranger` alone is not trusted to tell: Slack leaves it false for another
/// organisation's member in a shared channel the app can see.
fn is_ours(standing: &Standing, home: &HomeWorkspace) -> bool {
    let our_team = standing
        .team_id
        .as_ref()
        .is_some_and(|t| home.team_ids.iter().any(|h| h == t));
    let our_org = home.enterprise_id.is_some() && standing.enterprise_id == home.enterprise_id;
    !standing.external && (our_team || our_org)
}

fn already_confirmed(consumer: &ConsumerRecord) -> Option<String> {
    (consumer.status == "confirmed").then(|| match &consumer.confirmed_by {
        Some(by) if by.starts_with(['U', 'W']) => {
            format!("Already confirmed by <@{}>.", slack_escape(by))
        }
        _ => "Already confirmed.".to_owned(),
    })
}

/// The snooze form: a required reason and a number of days up to `max_days`.
fn snooze_form(consumer: &ConsumerRecord, context: &FormContext, max_days: u32) -> Value {
    let options: Vec<Value> = (1..=max_days)
        .map(|d| {
            json!({"text": {"type": "plain_text", "text": counted(d, "day", "days")},
                   "value": d.to_string()})
        })
        .collect();
    let name: String = consumer.name.chars().take(120).collect();
    json!({
        "type": "modal",
        "callback_id": SNOOZE_FORM,
        "private_metadata": serde_json::to_string(context).unwrap_or_default(),
        "title": {"type": "plain_text", "text": "Snooze reminders"},
        "submit": {"type": "plain_text", "text": "Snooze"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": format!(
                "Pause reminders for *{}* ({}). The security lead's digest still lists it.",
                slack_escape(&name), slack_escape(&consumer.team))}},
            {"type": "input", "block_id": REASON_BLOCK, "label": {"type": "plain_text", "text": "Why does the move have to wait?"},
             "element": {"type": "plain_text_input", "action_id": REASON_INPUT, "multiline": true,
                         "max_length": MAX_REASON_CHARS}},
            {"type": "input", "block_id": DAYS_BLOCK, "label": {"type": "plain_text", "text": "For how long?"},
             "element": {"type": "static_select", "action_id": DAYS_SELECT, "options": options,
                         "initial_option": options.first().cloned().unwrap_or(Value::Null)}}
        ]
    })
}

/// Used by tests and tooling: the values the snooze form submits.
pub fn snooze_form_values<'a>(
    reason: Option<&'a str>,
    days: Option<&'a str>,
) -> [(&'static str, &'static str, &'static str, Option<&'a str>); 2] {
    [
        (REASON_BLOCK, REASON_INPUT, "plain_text_input", reason),
        (DAYS_BLOCK, DAYS_SELECT, "static_select", days),
    ]
}

/// Used by tests and tooling: the form's private metadata for a click on a nudge.
pub fn snooze_form_context(consumer_id: i64, channel: &str, ts: &str) -> String {
    serde_json::to_string(&FormContext {
        consumer_id,
        channel: Some(channel.to_owned()),
        ts: Some(ts.to_owned()),
        nudge: None,
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standing(team: &str, enterprise: Option<&str>, external: bool) -> Standing {
        Standing {
            team_id: Some(team.to_owned()),
            enterprise_id: enterprise.map(str::to_owned),
            external,
        }
    }

    #[test]
    fn on_enterprise_grid_only_members_of_our_organisation_are_ours() {
        let grid = HomeWorkspace {
            team_ids: vec!["T1".into()],
            enterprise_id: Some("E0ORG".into()),
        };
        assert!(is_ours(&standing("T1", Some("E0ORG"), false), &grid));
        assert!(
            is_ours(&standing("T2", Some("E0ORG"), false), &grid),
            "a sister workspace"
        );
        // Another organisation's member in a shared channel, `is_stranger` left false.
        assert!(!is_ours(&standing("T9", Some("E0OTHER"), false), &grid));
        assert!(!is_ours(&standing("T9", None, false), &grid));
        assert!(
            !is_ours(&standing("T1", Some("E0ORG"), true), &grid),
            "a guest"
        );
    }

    #[test]
    fn outside_grid_only_our_workspaces_are_ours() {
        let single = HomeWorkspace {
            team_ids: vec!["T1".into()],
            enterprise_id: None,
        };
        assert!(is_ours(&standing("T1", None, false), &single));
        assert!(!is_ours(&standing("T9", None, false), &single));
        assert!(!is_ours(
            &standing("T9", None, false),
            &HomeWorkspace::default()
        ));
    }
}
