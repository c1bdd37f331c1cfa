//! Slack Web API client: posts and updates messages (review cards), reads user-group and
//! channel members (who may decide, who is chased) and a user's identity (so nobody reviews their
//! own grant), answers a click through its `response_url`, and opens a modal for a click.
//!
//! Slack answers API errors with HTTP 200 and `{"ok": false, "error": "<code>"}`; those codes
//! are mapped to [`SlackError`] so callers can tell a channel that will never work
//! ([`SlackError::ChannelUnusable`]) from a refused token or a passing outage. HTTP 429 (and a
//! `ratelimited` code) is waited out when Slack's `Retry-After` fits the retry policy; 5xx and
//! transport failures are retried by [`crate::http::send_with_retry`]. A refused token makes the
//! secret be re-read once (it may have been rotated).
//!
//! `chat.postMessage` has no idempotency key: a retry after a 5xx or a timeout may post twice.
//! Callers record the returned `ts` before doing anything else.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::connectors::credentials::{Service, connector_error, present, sensitive_header};
use crate::http::{self, HttpError, HttpResponse, RetryPolicy, Verdict};
use crate::secrets::{Credentials, SecretStore};

/// Slack's Web API.
pub const DEFAULT_API_BASE: &str = "https://slack.com/api";

const SERVICE: &str = "slack";
const JSON_UTF8: &str = "application/json; charset=utf-8";
const FORM: &str = "application/x-www-form-urlencoded";

/// The pseudo-method named in errors about a `response_url` post.
pub const RESPONSE_URL: &str = "response_url";

/// Error codes meaning the token is not (or no longer) accepted.
const AUTH_CODES: &[&str] = &[
    "invalid_auth",
    "token_revoked",
    "token_expired",
    "not_authed",
    "account_inactive",
];

/// Error codes meaning this channel cannot take our messages until someone fixes it.
const CHANNEL_CODES: &[&str] = &["channel_not_found", "not_in_channel", "is_archived"];

/// Error codes meaning "slow down" inside a reply body.
const RATE_LIMIT_CODES: &[&str] = &["ratelimited", "rate_limited"];

/// Members asked for per `conversations.members` page.
const MEMBERS_PAGE_SIZE: &str = "200";

/// Pages of `conversations.members` read before giving up (10 000 members): a cursor that never
/// runs out must not keep an invocation looping.
const MAX_MEMBER_PAGES: usize = 50;

#[derive(Debug, Clone)]
pub struct SlackConfig {
    /// [`DEFAULT_API_BASE`] outside tests; methods are appended as `{base_url}/{method}`.
    pub base_url: String,
    pub retry: RetryPolicy,
    /// How long a user group's or a channel's member list, or a user's identity, is trusted.
    pub group_cache_ttl: Duration,
}

impl Default for SlackConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_API_BASE.to_owned(),
            retry: RetryPolicy::default(),
            group_cache_ttl: Duration::from_secs(300),
        }
    }
}

/// Where a posted message lives, for `chat.update` later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedMessage {
    pub channel: String,
    pub ts: String,
}

/// Who a Slack user is (`users.info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackUser {
    pub id: String,
    /// The user's `name` (their handle), not the display or real name.
    pub name: String,
    /// The profile email; `None` without the `users:read.email` scope, or for bots.
    pub email: Option<String>,
    /// The user's own workspace (`team_id`).
    pub team_id: Option<String>,
    /// On Enterprise Grid, the organisation the user belongs to (`enterprise_user.enterprise_id`).
    pub enterprise_id: Option<String>,
    /// Not a full member of this workspace: `is_stranger` (a Slack Connect member of another
    /// organisation), `is_restricted` or `is_ultra_restricted` (a guest).
    pub external: bool,
}

/// This token's workspace (`auth.test`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackWorkspace {
    pub team_id: String,
    /// Set for a workspace of an Enterprise Grid organisation.
    pub enterprise_id: Option<String>,
}

/// Who the bot token belongs to (`auth.test`), and the scopes it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIdentity {
    pub team_id: String,
    /// The workspace's name.
    pub team: String,
    /// The bot user's name (what `/invite @…` takes).
    pub user: String,
    pub user_id: String,
    /// The token's scopes from `x-oauth-scopes`; `None` when Slack did not send the header.
    pub scopes: Option<Vec<String>>,
}

/// A channel as `conversations.info` shows it to the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    pub name: String,
    pub is_member: bool,
    pub is_archived: bool,
    pub is_private: bool,
}

/// Why a Slack call failed. No variant carries the bot token or a `response_url`.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("slack: no slack_bot_token in the credentials")]
    MissingToken,
    /// Still rate limited after the retries, or Slack asked for a longer wait than the retry
    /// policy allows; `retry_after` is Slack's `Retry-After` when it sent one.
    #[error("slack: rate limited (retry after: {retry_after:?})")]
    RateLimited { retry_after: Option<Duration> },
    /// `channel_not_found`, `not_in_channel` or `is_archived`: retrying will not help; the caller
    /// marks the target undeliverable.
    #[error("slack: channel {channel} cannot take messages: {code}")]
    ChannelUnusable { channel: String, code: String },
    /// The bot token was refused, even after re-reading the secret.
    #[error("slack: the bot token was refused ({code}), even after re-reading the secret")]
    Auth { code: String },
    /// Any other `ok: false` (or an unexpected HTTP 4xx).
    #[error("slack: {method} failed: {code}")]
    Api { method: &'static str, code: String },
    /// 5xx, transport failure or the invocation deadline, after the retries.
    #[error("slack unavailable: {0}")]
    Unavailable(String),
}

// Slack's failures read as its `give_up` says, which `respond` (whose URL is a credential) shares.
connector_error!(SlackError {
    fn gave_up(error: HttpError) -> Self {
        give_up(error, false)
    }
});

/// A Slack Web API client for one workspace (one bot token).
pub struct SlackClient {
    http: reqwest::Client,
    secrets: Arc<SecretStore>,
    config: SlackConfig,
    /// Member ids by user-group id, with when they were fetched.
    groups: Cache<Vec<String>>,
    /// Member ids by channel id, with when they were fetched.
    channels: Cache<Vec<String>>,
    /// Identities by user id, with when they were fetched.
    users: Cache<SlackUser>,
}

/// Values by id, each with when it was fetched.
type Cache<T> = Mutex<HashMap<String, (Instant, T)>>;

/// A request body, encoded once and re-sent as is on every attempt.
struct Body {
    content_type: &'static str,
    bytes: Bytes,
}

impl Body {
    fn json(value: &Value) -> Self {
        Self {
            content_type: JSON_UTF8,
            bytes: Bytes::from(value.to_string()),
        }
    }

    fn form(pairs: &[(&str, &str)]) -> Self {
        let encoded = serde_urlencoded::to_string(pairs).expect("string pairs always form-encode");
        Self {
            content_type: FORM,
            bytes: Bytes::from(encoded),
        }
    }
}

/// The `{ok, error}` envelope of every Web API reply.
#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
}

impl SlackClient {
    pub fn new(http: reqwest::Client, secrets: Arc<SecretStore>, config: SlackConfig) -> Self {
        Self {
            http,
            secrets,
            config,
            groups: Mutex::new(HashMap::new()),
            channels: Mutex::new(HashMap::new()),
            users: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &SlackConfig {
        &self.config
    }

    /// `chat.postMessage`. `text` is always sent: it is the notification and accessibility
    /// fallback for `blocks`. A `Value::Null` `blocks` posts text only.
    #[tracing::instrument(skip_all, fields(channel = channel))]
    pub async fn post_message(
        &self,
        channel: &str,
        text: &str,
        blocks: &Value,
    ) -> Result<PostedMessage, SlackError> {
        const METHOD: &str = "chat.postMessage";
        let mut body = json!({ "channel": channel, "text": text });
        if !blocks.is_null() {
            body["blocks"] = blocks.clone();
        }
        let reply = self.call(METHOD, Some(channel), Body::json(&body)).await?;
        let posted = PostedMessage {
            ts: reply_field(&reply, METHOD, "ts")?,
            channel: reply_field(&reply, METHOD, "channel").unwrap_or_else(|_| channel.to_owned()),
        };
        tracing::info!(channel = %posted.channel, ts = %posted.ts, "posted Slack message");
        Ok(posted)
    }

    /// `chat.update` of a message this bot posted. A `Value::Null` `blocks` keeps the old
    /// blocks (Slack's rule when `blocks` is left out); `json!([])` clears them.
    #[tracing::instrument(skip_all, fields(channel = channel, ts = ts))]
    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: &Value,
    ) -> Result<(), SlackError> {
        let mut body = json!({ "channel": channel, "ts": ts, "text": text });
        if !blocks.is_null() {
            body["blocks"] = blocks.clone();
        }
        self.call("chat.update", Some(channel), Body::json(&body))
            .await
            .map(drop)
    }

    /// The user ids in a user group (`usergroups.users.list`), cached per group for
    /// `group_cache_ttl`.
    #[tracing::instrument(skip_all, fields(usergroup = usergroup))]
    pub async fn usergroup_members(&self, usergroup: &str) -> Result<Vec<String>, SlackError> {
        const METHOD: &str = "usergroups.users.list";
        let fetch = async {
            let form = Body::form(&[("usergroup", usergroup)]);
            let reply = self.call(METHOD, None, form).await?;
            reply_field(&reply, METHOD, "users")
        };
        self.through_cache(&self.groups, usergroup, fetch).await
    }

    /// The user ids in a channel (`conversations.members`, bot scopes `channels:read` for public
    /// and `groups:read` for private channels), every page followed, cached per channel for
    /// `group_cache_ttl`. An unknown channel (or a private one without the bot) is
    /// [`SlackError::ChannelUnusable`] with `channel_not_found`; more than 50 pages (10 000
    /// members) is [`SlackError::Api`] with `too_many_members`.
    #[tracing::instrument(skip_all, fields(channel = channel))]
    pub async fn channel_members(&self, channel: &str) -> Result<Vec<String>, SlackError> {
        let fetch = self.all_channel_members(channel);
        self.through_cache(&self.channels, channel, fetch).await
    }

    /// Every page of `conversations.members`, up to [`MAX_MEMBER_PAGES`].
    async fn all_channel_members(&self, channel: &str) -> Result<Vec<String>, SlackError> {
        const METHOD: &str = "conversations.members";
        let mut members = Vec::new();
        let mut cursor = String::new();
        for _ in 0..MAX_MEMBER_PAGES {
            let mut form = vec![("channel", channel), ("limit", MEMBERS_PAGE_SIZE)];
            if !cursor.is_empty() {
                form.push(("cursor", cursor.as_str()));
            }
            let reply = self.call(METHOD, Some(channel), Body::form(&form)).await?;
            let page: Vec<String> = reply_field(&reply, METHOD, "members")?;
            members.extend(page);
            cursor = reply
                .pointer("/response_metadata/next_cursor")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if cursor.is_empty() {
                return Ok(members);
            }
        }
        tracing::warn!(
            pages = MAX_MEMBER_PAGES,
            "Slack channel has more members than we read"
        );
        Err(SlackError::Api {
            method: METHOD,
            code: "too_many_members".to_owned(),
        })
    }

    /// The user's profile email (scope `users:read.email`) and name (`users.info`), cached per
    /// user for `group_cache_ttl` like user groups. An unknown user is
    /// [`SlackError::Api`] with `user_not_found`.
    #[tracing::instrument(skip_all, fields(user = user_id))]
    pub async fn user_identity(&self, user_id: &str) -> Result<SlackUser, SlackError> {
        const METHOD: &str = "users.info";
        let fetch = async {
            let reply = self
                .call(METHOD, None, Body::form(&[("user", user_id)]))
                .await?;
            let user = reply.get("user").and_then(slack_user);
            user.ok_or_else(|| reply_without(METHOD, "user"))
        };
        self.through_cache(&self.users, user_id, fetch).await
    }

    /// `auth.test`: the workspace (and Enterprise Grid organisation) this token belongs to.
    #[tracing::instrument(skip_all)]
    pub async fn workspace(&self) -> Result<SlackWorkspace, SlackError> {
        const METHOD: &str = "auth.test";
        let reply = self.call(METHOD, None, Body::form(&[])).await?;
        let text = |name: &str| {
            reply
                .get(name)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        Ok(SlackWorkspace {
            team_id: text("team_id").ok_or_else(|| reply_without(METHOD, "team_id"))?,
            enterprise_id: text("enterprise_id"),
        })
    }

    /// `auth.test` read for the doctor: who the bot is and, from the `x-oauth-scopes` header
    /// Slack puts on Web API answers, the scopes its token holds (`None` when the header is
    /// absent, so nothing can be said about them).
    #[tracing::instrument(skip_all)]
    pub async fn bot_identity(&self) -> Result<BotIdentity, SlackError> {
        const METHOD: &str = "auth.test";
        let (headers, reply) = self
            .call_with_headers(METHOD, None, Body::form(&[]))
            .await?;
        let text = |name: &str| {
            reply
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let scopes = headers
            .get("x-oauth-scopes")
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            });
        Ok(BotIdentity {
            team_id: text("team_id"),
            team: text("team"),
            user: text("user"),
            user_id: text("user_id"),
            scopes,
        })
    }

    /// `conversations.info` (bot scope `channels:read` for public, `groups:read` for private
    /// channels): whether the channel exists for this bot, is archived, and has the bot in it.
    /// An unknown channel (or a private one without the bot) is
    /// [`SlackError::ChannelUnusable`] with `channel_not_found`.
    #[tracing::instrument(skip_all, fields(channel = channel))]
    pub async fn channel_info(&self, channel: &str) -> Result<ChannelInfo, SlackError> {
        const METHOD: &str = "conversations.info";
        let form = Body::form(&[("channel", channel)]);
        let reply = self.call(METHOD, Some(channel), form).await?;
        let info = reply
            .get("channel")
            .ok_or_else(|| reply_without(METHOD, "channel"))?;
        let flag = |name: &str| info.get(name).and_then(Value::as_bool).unwrap_or(false);
        Ok(ChannelInfo {
            name: info
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            is_member: flag("is_member"),
            is_archived: flag("is_archived"),
            is_private: flag("is_private"),
        })
    }

    /// `views.open`: show `view` (a modal) to the user whose click gave `trigger_id`. A trigger
    /// id lives three seconds, so nothing is retried beyond what every call does; a late one is
    /// [`SlackError::Api`] with `expired_trigger_id` (or `invalid_trigger_id`).
    #[tracing::instrument(skip_all)]
    pub async fn open_view(&self, trigger_id: &str, view: &Value) -> Result<(), SlackError> {
        let body = json!({ "trigger_id": trigger_id, "view": view });
        self.call("views.open", None, Body::json(&body))
            .await
            .map(drop)
    }

    /// POST `body` (e.g. `{"response_type":"ephemeral","replace_original":false,"text":…}`) to
    /// an interaction's `response_url`. The bot token is never sent there: the URL is itself the
    /// credential.
    ///
    /// The URL must be `https`; plain `http` is accepted only on the same scheme, host and port
    /// as `base_url` (a local fake in tests). Any other host is accepted: the URL comes from a
    /// request whose signature was verified. The URL never appears in the errors returned
    /// (caveat: `crate::http::send_and_read` logs a transport error, URL included, at DEBUG
    /// before retrying).
    #[tracing::instrument(skip_all)]
    pub async fn respond(&self, response_url: &str, body: &Value) -> Result<(), SlackError> {
        let url = self.checked_response_url(response_url)?;
        let body = Body::json(body);
        let make = || {
            self.http
                .post(url.clone())
                .header(CONTENT_TYPE, body.content_type)
                .body(body.bytes.clone())
        };
        let read =
            |response: &HttpResponse| serde_json::from_slice::<Envelope>(&response.body).ok();
        let classify = |response: &HttpResponse, envelope: &Option<Envelope>| {
            http::verdict_with(response, rate_limit_of(response, envelope.as_ref()))
        };
        let (response, envelope) =
            http::send_and_read(SERVICE, self.config.retry, make, read, classify)
                .await
                .map_err(|e| give_up(e, true))?;
        if let Some(wait) = rate_limit_of(&response, envelope.as_ref()) {
            return Err(SlackError::RateLimited { retry_after: wait });
        }
        match envelope {
            Some(Envelope { ok: false, error }) => Err(SlackError::Api {
                method: RESPONSE_URL,
                code: error.unwrap_or_else(|| "unknown_error".to_owned()),
            }),
            // Slack answers a plain `ok` (or `{"ok":true}`) on success.
            _ if response.status.is_success() => Ok(()),
            _ => Err(SlackError::Api {
                method: RESPONSE_URL,
                code: error_code_of(&response),
            }),
        }
    }

    fn checked_response_url(&self, response_url: &str) -> Result<Url, SlackError> {
        let refused = |code: &str| SlackError::Api {
            method: RESPONSE_URL,
            code: code.to_owned(),
        };
        let url = Url::parse(response_url).map_err(|_| refused("invalid_response_url"))?;
        let same_origin_as_api =
            Url::parse(&self.config.base_url).is_ok_and(|api| api.origin() == url.origin());
        match url.scheme() {
            "https" => Ok(url),
            "http" if same_origin_as_api => Ok(url),
            _ => Err(refused("insecure_response_url")),
        }
    }

    /// One Web API method: token, retries, one re-read of a refused token, and the reply mapped
    /// to `Ok(reply)` (with `"ok": true`) or a [`SlackError`].
    async fn call(
        &self,
        method: &'static str,
        channel: Option<&str>,
        body: Body,
    ) -> Result<Value, SlackError> {
        self.call_with_headers(method, channel, body)
            .await
            .map(|(_, reply)| reply)
    }

    /// [`Self::call`], also giving the answer's headers (Slack names the token's scopes there).
    #[tracing::instrument(skip_all, fields(method = method))]
    async fn call_with_headers(
        &self,
        method: &'static str,
        channel: Option<&str>,
        body: Body,
    ) -> Result<(HeaderMap, Value), SlackError> {
        let url = format!("{}/{method}", self.config.base_url.trim_end_matches('/'));
        let request = |auth: &HeaderValue| {
            self.http
                .post(&url)
                .header(AUTHORIZATION, auth.clone())
                .header(CONTENT_TYPE, body.content_type)
                .body(body.bytes.clone())
        };
        let read = move |response: &HttpResponse| interpret(method, response);
        let (response, reply) = Service::new(SERVICE, &self.secrets, self.config.retry)
            .send_and_read(authorization, request, read, classify, is_token_refusal)
            .await?;
        let code = match reply {
            Ok(reply) => return Ok((response.headers, reply)),
            Err(Failure::Slack(e)) => return Err(e),
            Err(Failure::Code(code)) => code,
        };
        Err(match channel {
            _ if AUTH_CODES.contains(&code.as_str()) => SlackError::Auth { code },
            Some(channel) if CHANNEL_CODES.contains(&code.as_str()) => {
                tracing::warn!(channel, %code, "Slack channel cannot take messages");
                SlackError::ChannelUnusable {
                    channel: channel.to_owned(),
                    code,
                }
            }
            _ => SlackError::Api { method, code },
        })
    }

    /// What `cache` holds for `key` while it is younger than `group_cache_ttl`, else what
    /// `fetch` gets, kept from now on. `fetch` is not run when the cache answers.
    async fn through_cache<T: Clone>(
        &self,
        cache: &Cache<T>,
        key: &str,
        fetch: impl Future<Output = Result<T, SlackError>>,
    ) -> Result<T, SlackError> {
        let ttl = self.config.group_cache_ttl;
        if let Some((at, value)) = lock(cache).get(key)
            && at.elapsed() < ttl
        {
            return Ok(value.clone());
        }
        let value = fetch.await?;
        lock(cache).insert(key.to_owned(), (Instant::now(), value.clone()));
        Ok(value)
    }
}

/// `reply[field]` read as `T`, or [`reply_without`] when it is missing or of another shape.
fn reply_field<T: DeserializeOwned>(
    reply: &Value,
    method: &'static str,
    field: &str,
) -> Result<T, SlackError> {
    reply
        .get(field)
        .and_then(|value| T::deserialize(value).ok())
        .ok_or_else(|| reply_without(method, field))
}

/// Slack answered `ok` without the field `method`'s reply must carry.
fn reply_without(method: &'static str, field: &str) -> SlackError {
    SlackError::Api {
        method,
        code: format!("reply_without_{field}"),
    }
}

enum Failure {
    /// `ok: false` with this code; the caller decides what it means.
    Code(String),
    Slack(SlackError),
}

/// A Web API answer as read once: the body when `ok`, else why not.
type Reply = Result<Value, Failure>;

/// `Bearer <slack_bot_token>`, marked sensitive so it is redacted from any debug output.
fn authorization(credentials: &Credentials) -> Result<HeaderValue, SlackError> {
    let token = present(&credentials.slack_bot_token).ok_or(SlackError::MissingToken)?;
    sensitive_header(&format!("Bearer {token}")).ok_or_else(|| SlackError::Auth {
        code: "token_not_usable_in_a_header".to_owned(),
    })
}

/// A Web API answer, its body parsed once: the reply when `ok`, else why not.
fn interpret(method: &'static str, response: &HttpResponse) -> Reply {
    let reply: Option<Value> = serde_json::from_slice(&response.body).ok();
    let envelope = reply.as_ref().and_then(|r| Envelope::deserialize(r).ok());
    if let Some(wait) = rate_limit_of(response, envelope.as_ref()) {
        return Err(Failure::Slack(SlackError::RateLimited {
            retry_after: wait,
        }));
    }
    match envelope {
        Some(Envelope { ok: true, .. }) if response.status.is_success() => {
            Ok(reply.unwrap_or(Value::Null))
        }
        Some(Envelope { ok: false, error }) => Err(Failure::Code(
            error.unwrap_or_else(|| "unknown_error".to_owned()),
        )),
        _ if response.status.is_success() => Err(Failure::Slack(SlackError::Unavailable(format!(
            "{method}: unexpected reply: {}",
            response.excerpt()
        )))),
        _ => Err(Failure::Slack(SlackError::Api {
            method,
            code: error_code_of(response),
        })),
    }
}

/// A `users.info` `user` object; an empty email counts as none.
fn slack_user(user: &Value) -> Option<SlackUser> {
    let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
    let email = text(user.pointer("/profile/email")).filter(|e| !e.is_empty());
    let flag = |name: &str| user.get(name).and_then(Value::as_bool).unwrap_or(false);
    Some(SlackUser {
        id: text(user.get("id"))?,
        name: text(user.get("name")).unwrap_or_default(),
        email,
        team_id: text(user.get("team_id")).filter(|t| !t.is_empty()),
        enterprise_id: text(user.pointer("/enterprise_user/enterprise_id"))
            .filter(|e| !e.is_empty()),
        external: flag("is_stranger") || flag("is_restricted") || flag("is_ultra_restricted"),
    })
}

/// `Some(wait)` when the response says "rate limited" (HTTP 429, or a `ratelimited` code in
/// its envelope), with Slack's `Retry-After` if given.
fn rate_limit_of(response: &HttpResponse, envelope: Option<&Envelope>) -> Option<Option<Duration>> {
    let limited = response.status == StatusCode::TOO_MANY_REQUESTS
        || envelope.is_some_and(|e| {
            !e.ok
                && e.error
                    .as_deref()
                    .is_some_and(|code| RATE_LIMIT_CODES.contains(&code))
        });
    limited.then(|| http::retry_after(&response.headers))
}

/// The shared rules, and a rate limit [`interpret`] found waited out as Slack says (only when
/// Slack's wait fits within the policy's `max_delay`).
fn classify(response: &HttpResponse, reply: &Reply) -> Verdict {
    let rate_limit = match reply {
        Err(Failure::Slack(SlackError::RateLimited { retry_after })) => Some(*retry_after),
        _ => None,
    };
    http::verdict_with(response, rate_limit)
}

/// Whether the reply says the bot token was not accepted.
fn is_token_refusal(_: &HttpResponse, reply: &Reply) -> bool {
    matches!(reply, Err(Failure::Code(code)) if AUTH_CODES.contains(&code.as_str()))
}

/// A short error code from a non-2xx reply: the body when it looks like one (`expired_url`),
/// else `http_<status>`.
fn error_code_of(response: &HttpResponse) -> String {
    let text = String::from_utf8_lossy(&response.body);
    let text = text.trim();
    let looks_like_code = !text.is_empty()
        && text.len() <= 64
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if looks_like_code {
        text.to_owned()
    } else {
        format!("http_{}", response.status.as_u16())
    }
}

/// Retries ran out (or the deadline came): rate limited if the last answer was a rate limit,
/// else unavailable. With `hide_url` (a `response_url`, itself a credential) transport details are given
/// without the URL that reqwest would otherwise quote.
fn give_up(error: HttpError, hide_url: bool) -> SlackError {
    if let Some(retry_after) = error.rate_limit_wait() {
        return SlackError::RateLimited { retry_after };
    }
    match error {
        HttpError::Transport {
            service,
            attempts,
            source,
        } if hide_url => SlackError::Unavailable(format!(
            "{service}: request failed after {attempts} attempt(s): {}",
            error_chain(&source.without_url())
        )),
        // `last` may quote a transport error, and so the URL.
        HttpError::Deadline {
            service, attempts, ..
        } if hide_url => SlackError::Unavailable(format!(
            "{service}: stopped retrying to stay within the invocation deadline ({attempts} attempt(s))"
        )),
        other => SlackError::Unavailable(other.to_string()),
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::test_support::response;

    /// [`rate_limit_of`] as a call reads it, the envelope parsed from the body.
    fn rate_limit(response: &HttpResponse) -> Option<Option<Duration>> {
        let envelope = serde_json::from_slice::<Envelope>(&response.body).ok();
        rate_limit_of(response, envelope.as_ref())
    }

    #[test]
    fn rate_limits_are_recognised_by_status_or_code() {
        let by_status = response(429, &[("retry-after", "3")], "");
        assert_eq!(rate_limit(&by_status), Some(Some(Duration::from_secs(3))));
        let by_code = response(200, &[], r#"{"ok":false,"error":"ratelimited"}"#);
        assert_eq!(rate_limit(&by_code), Some(None));
        assert!(matches!(
            interpret("chat.update", &by_code),
            Err(Failure::Slack(SlackError::RateLimited {
                retry_after: None
            }))
        ));
        let other = response(200, &[], r#"{"ok":false,"error":"channel_not_found"}"#);
        assert_eq!(rate_limit(&other), None);
    }

    #[test]
    fn ok_false_is_a_failure_code_even_on_http_200() {
        let reply = response(200, &[], r#"{"ok":false,"error":"msg_too_long"}"#);
        assert!(matches!(
            interpret("chat.postMessage", &reply),
            Err(Failure::Code(code)) if code == "msg_too_long"
        ));
    }

    #[test]
    fn a_non_json_success_reply_is_unavailable_and_a_bare_4xx_is_an_api_error() {
        let html = response(200, &[], "<html>maintenance</html>");
        assert!(matches!(
            interpret("chat.update", &html),
            Err(Failure::Slack(SlackError::Unavailable(_)))
        ));
        let gone = response(404, &[], "expired_url");
        assert!(matches!(
            interpret("chat.update", &gone),
            Err(Failure::Slack(SlackError::Api { code, .. })) if code == "expired_url"
        ));
        let page = response(403, &[], "<html>Forbidden</html>");
        assert_eq!(error_code_of(&page), "http_403");
    }

    #[test]
    fn a_users_info_user_gives_its_id_name_and_email_and_an_empty_email_is_none() {
        let user = json!({ "id": "U1", "name": "dana", "real_name": "Dana Scully",
                           "profile": { "email": "dana@acme.test", "real_name": "Dana Scully" } });
        assert_eq!(
            slack_user(&user),
            Some(SlackUser {
                id: "U1".into(),
                name: "dana".into(),
                email: Some("dana@acme.test".into()),
                team_id: None,
                enterprise_id: None,
                external: false,
            })
        );
        let grid = json!({ "id": "U4", "team_id": "T2",
                           "enterprise_user": { "enterprise_id": "E0ORG", "teams": ["T2"] } });
        assert_eq!(
            slack_user(&grid).unwrap().enterprise_id.as_deref(),
            Some("E0ORG")
        );
        for flag in ["is_stranger", "is_restricted", "is_ultra_restricted"] {
            let guest = json!({ "id": "U3", "team_id": "T9", flag: true });
            assert!(slack_user(&guest).unwrap().external, "{flag}");
        }
        let no_email = json!({ "id": "U2", "name": "bot", "profile": { "email": "" } });
        assert_eq!(slack_user(&no_email).unwrap().email, None);
        assert_eq!(slack_user(&json!({ "name": "no-id" })), None);
    }

    #[test]
    fn response_urls_must_be_https_unless_they_point_at_the_configured_api_host() {
        let client = SlackClient::new(
            reqwest::Client::new(),
            Arc::new(SecretStore::fixed(Default::default())),
            SlackConfig {
                base_url: "http://127.0.0.1:4000/api".to_owned(),
                ..SlackConfig::default()
            },
        );
        assert!(
            client
                .checked_response_url("https://hooks.slack.com/actions/T1/2/abc")
                .is_ok()
        );
        assert!(
            client
                .checked_response_url("http://127.0.0.1:4000/response/1")
                .is_ok()
        );
        for refused in [
            "http://127.0.0.1:4001/response/1",
            "http://hooks.slack.com/actions/T1/2/abc",
            "file:///etc/passwd",
            "not a url",
        ] {
            let err = client.checked_response_url(refused).unwrap_err();
            assert!(
                matches!(
                    &err,
                    SlackError::Api {
                        method: RESPONSE_URL,
                        ..
                    }
                ),
                "{refused}: {err}"
            );
            assert!(!err.to_string().contains(refused), "{err}");
        }
    }
}
