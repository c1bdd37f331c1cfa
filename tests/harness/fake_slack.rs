//! A stateful fake of the Slack Web API: channels, their members (`conversations.members`, paged),
//! the messages posted to them and their updates, user groups, users (`users.info`), the modals
//! opened (`views.open`), and the replies sent to interaction `response_url`s, all readable back
//! by tests. Trouble (rate limits, outages, a revoked token, archived channels, a bot removed
//! from a channel) is switched on by name. Methods live at `{uri}/api/<method>`, response URLs
//! at `{uri}/response/<id>`.
//!
//! Like Slack, API errors are HTTP 200 with `{"ok": false, "error": "<code>"}`. Stricter than
//! Slack in one way: `chat.postMessage` without a non-empty `text` is refused with `no_text`,
//! because the contract says the fallback text is always sent. Like Slack, blocks over Block
//! Kit's documented size limits (section text 3,000 characters, a section field 2,000, a
//! context element's text 3,000, a header 150, a button's label 75 and value 2,000, 50 blocks)
//! are refused with `invalid_blocks`, and nothing is posted or updated.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use serde_json::{Map, Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A message as the fake stored it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeMessage {
    pub channel: String,
    pub ts: String,
    /// The text and blocks it was posted with (`Value::Null` when posted without blocks).
    pub text: String,
    pub blocks: Value,
    /// Every `chat.update` in order, as `(text, blocks)`; blocks are `Value::Null` when the
    /// update left them out.
    pub updates: Vec<(String, Value)>,
}

impl FakeMessage {
    /// What a user sees now: the last update's text and blocks, else the original ones. An
    /// update without blocks keeps the blocks shown before it.
    pub fn shown(&self) -> (&str, &Value) {
        let mut shown = (self.text.as_str(), &self.blocks);
        for (text, blocks) in &self.updates {
            shown.0 = text;
            if !blocks.is_null() {
                shown.1 = blocks;
            }
        }
        shown
    }
}

/// A request as the fake received it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeenRequest {
    /// `/api/chat.postMessage`, `/response/abc`, …
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

#[derive(Debug, Clone)]
struct Channel {
    archived: bool,
    bot_is_member: bool,
    /// A private channel: `conversations.info` needs `groups:read` for it (else
    /// `channels:read`), and shows it to the bot only while the bot is in it.
    private: bool,
    name: String,
}

impl Channel {
    fn new(id: &str) -> Self {
        Channel {
            archived: false,
            bot_is_member: true,
            private: false,
            name: format!("chan-{}", id.to_ascii_lowercase()),
        }
    }
}

/// The bot scopes of `infra/slack-app-manifest.yaml`: what the fake's token holds unless a test
/// says otherwise ([`FakeSlack::set_scopes`]).
pub const MANIFEST_SCOPES: &[&str] = &[
    "chat:write",
    "usergroups:read",
    "users:read",
    "users:read.email",
    "channels:read",
    "groups:read",
];

#[derive(Debug, Clone, Default)]
enum Tokens {
    #[default]
    Any,
    Only(String),
    Nothing,
}

/// Slack's page size when `conversations.members` is asked without a `limit`.
const DEFAULT_MEMBERS_LIMIT: usize = 100;

#[derive(Default)]
struct World {
    channels: HashMap<String, Channel>,
    /// Member ids by channel, for `conversations.members`.
    channel_members: HashMap<String, Vec<String>>,
    messages: Vec<FakeMessage>,
    usergroups: HashMap<String, Vec<String>>,
    /// `(name, email)` by user id.
    users: HashMap<String, (String, Option<String>)>,
    /// Users who are not full members of this workspace, by id: `(their team_id, users.info
    /// flag)`, the flag being `is_stranger` (Slack Connect) or `is_restricted` (a guest).
    outsiders: HashMap<String, (String, &'static str)>,
    /// This workspace's team id (`auth.test`, and every member's `team_id`).
    team_id: String,
    /// Its Enterprise Grid organisation, if any (`auth.test`'s `enterprise_id`).
    enterprise_id: Option<String>,
    responses: Vec<(String, Value)>,
    /// `(trigger_id, view)` of every modal opened.
    views: Vec<(String, Value)>,
    seen: Vec<SeenRequest>,
    /// `(channel, received)` of every `chat.postMessage` request, refused ones included.
    post_times: Vec<(String, Instant)>,
    /// Retry-After seconds of the next rate-limited answers, in order.
    rate_limits: Vec<u64>,
    failures: Vec<u16>,
    tokens: Tokens,
    posted: u64,
    /// The token's scopes, sent as `x-oauth-scopes` on every answer to an accepted token.
    scopes: Vec<String>,
}

/// The fake workspace's team id (the one `click_body` and the form fixtures sign for).
pub const HOME_TEAM: &str = "T1";

/// Fake Slack behind a local HTTP server.
pub struct FakeSlack {
    server: MockServer,
    world: Arc<Mutex<World>>,
}

impl FakeSlack {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let world = Arc::new(Mutex::new(World {
            team_id: HOME_TEAM.to_owned(),
            scopes: MANIFEST_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            ..World::default()
        }));
        Mock::given(any())
            .respond_with(Responder(world.clone()))
            .mount(&server)
            .await;
        Self { server, world }
    }

    /// For `SlackConfig::base_url`.
    pub fn api_base(&self) -> String {
        format!("{}/api", self.server.uri())
    }

    /// A response URL served by this fake (plain http on the same host as `base_url`).
    pub fn response_url(&self, id: &str) -> String {
        format!("{}/response/{id}", self.server.uri())
    }

    /// A channel that exists and has the bot in it. Others answer `channel_not_found`.
    pub fn add_channel(&self, channel: &str) {
        self.world()
            .channels
            .insert(channel.to_owned(), Channel::new(channel));
    }

    /// A private channel with the bot in it (`conversations.info` needs `groups:read`).
    pub fn add_private_channel(&self, channel: &str) {
        let mut state = Channel::new(channel);
        state.private = true;
        self.world().channels.insert(channel.to_owned(), state);
    }

    /// The bot token's scopes from now on (by default [`MANIFEST_SCOPES`]): sent as
    /// `x-oauth-scopes`, and a read method whose scope is missing answers `missing_scope`.
    pub fn set_scopes(&self, scopes: &[&str]) {
        self.world().scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
    }

    /// Every Web API method called, in order (`auth.test`, `chat.postMessage`, …).
    pub fn methods_called(&self) -> Vec<String> {
        self.world()
            .seen
            .iter()
            .filter_map(|r| r.path.strip_prefix("/api/").map(str::to_owned))
            .collect()
    }

    /// Posting or updating in this channel answers `is_archived` from now on.
    pub fn archive(&self, channel: &str) {
        self.change_channel(channel, |c| c.archived = true);
    }

    /// Posting in this channel answers `not_in_channel` from now on.
    pub fn remove_bot_from(&self, channel: &str) {
        self.change_channel(channel, |c| c.bot_is_member = false);
    }

    /// A channel's members for `conversations.members` (replacing any previous ones); the
    /// channel is added if it was not. A channel added without members has none.
    pub fn set_channel_members(&self, channel: &str, members: &[&str]) {
        let mut world = self.world();
        world
            .channels
            .entry(channel.to_owned())
            .or_insert_with(|| Channel::new(channel));
        world.channel_members.insert(
            channel.to_owned(),
            members.iter().map(|m| (*m).to_owned()).collect(),
        );
    }

    /// A user group and its members (replacing any previous members).
    pub fn set_usergroup(&self, id: &str, members: &[&str]) {
        self.world().usergroups.insert(
            id.to_owned(),
            members.iter().map(|m| (*m).to_owned()).collect(),
        );
    }

    /// A user `users.info` knows (replacing any previous one); `email: None` answers like
    /// Slack without the `users:read.email` scope: no `email` in the profile. Others answer
    /// `user_not_found`.
    pub fn set_user(&self, id: &str, name: &str, email: Option<&str>) {
        self.world()
            .users
            .insert(id.to_owned(), (name.to_owned(), email.map(str::to_owned)));
    }

    /// A Slack Connect member from another organisation's workspace `team`: `users.info`
    /// answers with their `team_id` and `is_stranger: true` (and they can be in a shared
    /// channel's `conversations.members`).
    pub fn set_external_user(&self, id: &str, name: &str, team: &str) {
        self.set_user(id, name, None);
        self.world()
            .outsiders
            .insert(id.to_owned(), (team.to_owned(), "is_stranger"));
    }

    /// A guest of this workspace (`is_restricted: true`).
    pub fn set_guest(&self, id: &str, name: &str) {
        self.set_user(id, name, None);
        let team = self.world().team_id.clone();
        self.world()
            .outsiders
            .insert(id.to_owned(), (team, "is_restricted"));
    }

    /// Make this workspace part of an Enterprise Grid organisation.
    pub fn set_enterprise(&self, id: &str) {
        self.world().enterprise_id = Some(id.to_owned());
    }

    /// The next `n` requests, whatever they ask, answer HTTP 429 with `Retry-After: 0`.
    pub fn rate_limit_next(&self, n: usize) {
        self.rate_limit_next_with_retry_after(n, 0);
    }

    /// The next `n` requests answer HTTP 429 with `Retry-After: <secs>`.
    pub fn rate_limit_next_with_retry_after(&self, n: usize, secs: u64) {
        self.world()
            .rate_limits
            .extend(std::iter::repeat_n(secs, n));
    }

    /// The next `n` requests, whatever they ask, answer this HTTP status and change nothing.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.world().failures.extend(std::iter::repeat_n(status, n));
    }

    /// Every token is refused with `invalid_auth` from now on (until
    /// [`Self::accept_only_token`]).
    pub fn revoke_token(&self) {
        self.world().tokens = Tokens::Nothing;
    }

    /// Only this bot token is accepted from now on; others get `invalid_auth`.
    pub fn accept_only_token(&self, token: &str) {
        self.world().tokens = Tokens::Only(token.to_owned());
    }

    /// Every message posted, in posting order.
    pub fn messages(&self) -> Vec<FakeMessage> {
        self.world().messages.clone()
    }

    /// Every JSON body posted to a response URL, as `(path, body)`, in order.
    pub fn responses(&self) -> Vec<(String, Value)> {
        self.world().responses.clone()
    }

    /// Every modal opened, as `(trigger_id, view)`, in order. A trigger id starting with
    /// `expired` is answered `expired_trigger_id` and opens nothing.
    pub fn opened_views(&self) -> Vec<(String, Value)> {
        self.world().views.clone()
    }

    /// When each `chat.postMessage` to this channel was received, in order: refused, failed and
    /// rate-limited requests included, since pacing is about what the client sends.
    pub fn post_times(&self, channel: &str) -> Vec<Instant> {
        self.world()
            .post_times
            .iter()
            .filter(|(c, _)| c == channel)
            .map(|(_, at)| *at)
            .collect()
    }

    /// Requests received for this Web API method (`"chat.postMessage"`), refused ones included.
    pub fn calls(&self, method: &str) -> usize {
        let path = format!("/api/{method}");
        self.world().seen.iter().filter(|r| r.path == path).count()
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.world().seen.clone()
    }

    fn change_channel(&self, channel: &str, change: impl FnOnce(&mut Channel)) {
        let mut world = self.world();
        let state = world
            .channels
            .get_mut(channel)
            .unwrap_or_else(|| panic!("channel {channel} was never added to the fake"));
        change(state);
    }

    fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }
}

fn lock(world: &Mutex<World>) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(PoisonError::into_inner)
}

fn header(request: &Request, name: &str) -> Option<String> {
    request
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

struct Responder(Arc<Mutex<World>>);

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let received = Instant::now();
        let mut world = lock(&self.0);
        let path = request.url.path().to_owned();
        if path == "/api/chat.postMessage" {
            let channel = arguments(request)
                .get("channel")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            world.post_times.push((channel, received));
        }
        world.seen.push(SeenRequest {
            path: path.clone(),
            authorization: header(request, "authorization"),
            content_type: header(request, "content-type"),
            body: String::from_utf8_lossy(&request.body).into_owned(),
        });
        if !world.failures.is_empty() {
            let status = world.failures.remove(0);
            return ResponseTemplate::new(status).set_body_string("Internal Server Error");
        }
        if !world.rate_limits.is_empty() {
            let secs = world.rate_limits.remove(0);
            return ResponseTemplate::new(429)
                .insert_header("retry-after", secs.to_string().as_str())
                .set_body_json(json!({ "ok": false, "error": "ratelimited" }));
        }
        if let Some(id) = path.strip_prefix("/response/") {
            return world.respond_to_interaction(id, request);
        }
        let Some(method) = path.strip_prefix("/api/") else {
            return ResponseTemplate::new(404).set_body_string("Not Found");
        };
        if let Err(code) = world.authorize(header(request, "authorization").as_deref()) {
            return fail(code);
        }
        let args = arguments(request);
        let answer = match method {
            "chat.postMessage" => world.post_message(&args),
            "chat.update" => world.update_message(&args),
            "usergroups.users.list" => world.usergroup_users(request),
            "users.info" => world.users_info(request),
            "auth.test" => world.auth_test(),
            "conversations.members" => world.conversations_members(request),
            "conversations.info" => world.conversations_info(request),
            "views.open" => world.open_view(&args),
            _ => fail("unknown_method"),
        };
        // Slack names the token's scopes on every Web API answer to an accepted token.
        answer.insert_header("x-oauth-scopes", world.scopes.join(",").as_str())
    }
}

impl World {
    fn authorize(&self, authorization: Option<&str>) -> Result<(), &'static str> {
        let token = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or("not_authed")?;
        match &self.tokens {
            Tokens::Any => Ok(()),
            Tokens::Only(accepted) if accepted == token => Ok(()),
            _ => Err("invalid_auth"),
        }
    }

    /// `Ok` when the bot may write in `channel`, else Slack's error code.
    fn writable(&self, channel: Option<&str>, posting: bool) -> Result<String, &'static str> {
        let id = channel.ok_or("channel_not_found")?;
        let state = self.channels.get(id).ok_or("channel_not_found")?;
        if state.archived {
            return Err("is_archived");
        }
        if posting && !state.bot_is_member {
            return Err("not_in_channel");
        }
        Ok(id.to_owned())
    }

    fn post_message(&mut self, args: &Map<String, Value>) -> ResponseTemplate {
        let channel = match self.writable(args.get("channel").and_then(Value::as_str), true) {
            Ok(channel) => channel,
            Err(code) => return fail(code),
        };
        let (text, blocks) = match content(args) {
            Ok(content) => content,
            Err(code) => return fail(code),
        };
        if text.is_empty() {
            return fail("no_text");
        }
        self.posted += 1;
        let ts = format!("1700000000.{:06}", self.posted * 100);
        let message = json!({ "type": "message", "text": text, "blocks": blocks, "ts": ts });
        self.messages.push(FakeMessage {
            channel: channel.clone(),
            ts: ts.clone(),
            text,
            blocks,
            updates: Vec::new(),
        });
        ResponseTemplate::new(200)
            .set_body_json(json!({ "ok": true, "channel": channel, "ts": ts, "message": message }))
    }

    fn update_message(&mut self, args: &Map<String, Value>) -> ResponseTemplate {
        let channel = match self.writable(args.get("channel").and_then(Value::as_str), false) {
            Ok(channel) => channel,
            Err(code) => return fail(code),
        };
        let (text, blocks) = match content(args) {
            Ok(content) => content,
            Err(code) => return fail(code),
        };
        if text.is_empty() && blocks.is_null() {
            return fail("no_text");
        }
        let ts = args.get("ts").and_then(Value::as_str).unwrap_or_default();
        let Some(message) = self
            .messages
            .iter_mut()
            .find(|m| m.channel == channel && m.ts == ts)
        else {
            return fail("message_not_found");
        };
        message.updates.push((text.clone(), blocks));
        ResponseTemplate::new(200)
            .set_body_json(json!({ "ok": true, "channel": channel, "ts": ts, "text": text }))
    }

    fn holds(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Slack's answer to a method the token lacks the scope for.
    fn missing_scope(&self, needed: &str) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({
            "ok": false, "error": "missing_scope", "needed": needed,
            "provided": self.scopes.join(","),
        }))
    }

    /// `conversations.info`: the channel as the bot sees it; a private channel without the bot
    /// is not found, as in Slack.
    fn conversations_info(&self, request: &Request) -> ResponseTemplate {
        let Some(id) = form_or_query_argument(request, "channel") else {
            return fail("invalid_arguments");
        };
        let Some(channel) = self.channels.get(&id) else {
            return fail("channel_not_found");
        };
        let needed = if channel.private {
            "groups:read"
        } else {
            "channels:read"
        };
        if !self.holds(needed) {
            return self.missing_scope(needed);
        }
        if channel.private && !channel.bot_is_member {
            return fail("channel_not_found");
        }
        ResponseTemplate::new(200).set_body_json(json!({ "ok": true, "channel": {
            "id": id, "name": channel.name, "is_channel": true, "is_private": channel.private,
            "is_archived": channel.archived, "is_member": channel.bot_is_member,
        }}))
    }

    fn usergroup_users(&self, request: &Request) -> ResponseTemplate {
        if !self.holds("usergroups:read") {
            return self.missing_scope("usergroups:read");
        }
        // Form or query encoded only: whether Slack takes a JSON body here is unverified.
        let mut pairs = query_pairs(request, request.url.query().unwrap_or_default());
        if is_form(request) {
            pairs.extend(query_pairs(
                request,
                &String::from_utf8_lossy(&request.body),
            ));
        }
        let Some(group) = pairs
            .into_iter()
            .find_map(|(k, v)| (k == "usergroup").then_some(v))
        else {
            return fail("invalid_arguments");
        };
        match self.usergroups.get(&group) {
            Some(users) => {
                ResponseTemplate::new(200).set_body_json(json!({ "ok": true, "users": users }))
            }
            None => fail("no_such_subteam"),
        }
    }

    fn users_info(&self, request: &Request) -> ResponseTemplate {
        let Some(id) = form_or_query_argument(request, "user") else {
            return fail("invalid_arguments");
        };
        // Slack knows every member of its channels and user groups; a test names (with
        // `set_user`) only those whose name or email matters.
        let known = self
            .channel_members
            .values()
            .chain(self.usergroups.values());
        let member = (id.clone(), None);
        let Some((name, email)) = self.users.get(&id).or_else(|| {
            known
                .clone()
                .any(|members| members.contains(&id))
                .then_some(&member)
        }) else {
            return fail("user_not_found");
        };
        let mut profile = json!({ "real_name": name, "display_name": name });
        if let Some(email) = email {
            profile["email"] = json!(email);
        }
        let mut user = json!({ "id": id, "name": name, "real_name": name, "is_bot": false,
                               "team_id": self.team_id, "is_restricted": false,
                               "is_ultra_restricted": false, "profile": profile });
        if let Some((team, flag)) = self.outsiders.get(&id) {
            user["team_id"] = json!(team);
            user[*flag] = json!(true);
        }
        ResponseTemplate::new(200).set_body_json(json!({ "ok": true, "user": user }))
    }

    /// Who the token is: this workspace (and its organisation on Enterprise Grid).
    fn auth_test(&self) -> ResponseTemplate {
        let mut reply = json!({
            "ok": true, "url": "https://acme.slack.com/", "team": "Acme",
            "user": "secops-bot", "team_id": self.team_id, "user_id": "U0BOT", "bot_id": "B0BOT",
            "is_enterprise_install": false,
        });
        if let Some(enterprise) = &self.enterprise_id {
            reply["enterprise_id"] = json!(enterprise);
        }
        ResponseTemplate::new(200).set_body_json(reply)
    }

    /// One page of members; the cursor is opaque to clients (`offset:<n>` here).
    fn conversations_members(&self, request: &Request) -> ResponseTemplate {
        let Some(channel) = form_or_query_argument(request, "channel") else {
            return fail("invalid_arguments");
        };
        if !self.channels.contains_key(&channel) {
            return fail("channel_not_found");
        }
        let limit = match form_or_query_argument(request, "limit") {
            None => DEFAULT_MEMBERS_LIMIT,
            Some(limit) => match limit.parse::<usize>() {
                Ok(limit) if (1..=1000).contains(&limit) => limit,
                _ => return fail("invalid_limit"),
            },
        };
        let start = match form_or_query_argument(request, "cursor").filter(|c| !c.is_empty()) {
            None => 0,
            Some(cursor) => match cursor
                .strip_prefix("offset:")
                .and_then(|n| n.parse::<usize>().ok())
            {
                Some(start) => start,
                None => return fail("invalid_cursor"),
            },
        };
        let members = self
            .channel_members
            .get(&channel)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let end = start.saturating_add(limit).min(members.len());
        let page = members.get(start..end).unwrap_or_default();
        let next_cursor = if end < members.len() {
            format!("offset:{end}")
        } else {
            String::new()
        };
        ResponseTemplate::new(200).set_body_json(json!({
            "ok": true,
            "members": page,
            "response_metadata": { "next_cursor": next_cursor }
        }))
    }

    fn open_view(&mut self, args: &Map<String, Value>) -> ResponseTemplate {
        let Some(trigger_id) = args.get("trigger_id").and_then(Value::as_str) else {
            return fail("invalid_arguments");
        };
        let view = match args.get("view") {
            Some(view @ Value::Object(_)) => view.clone(),
            // Form-encoded calls carry the view as a JSON string.
            Some(Value::String(encoded)) => match serde_json::from_str(encoded) {
                Ok(view @ Value::Object(_)) => view,
                _ => return fail("invalid_arguments"),
            },
            _ => return fail("invalid_arguments"),
        };
        if trigger_id.starts_with("expired") {
            return fail("expired_trigger_id");
        }
        self.views.push((trigger_id.to_owned(), view.clone()));
        let mut shown = view;
        shown["id"] = json!(format!("V{:08}", self.views.len()));
        ResponseTemplate::new(200).set_body_json(json!({ "ok": true, "view": shown }))
    }

    fn respond_to_interaction(&mut self, id: &str, request: &Request) -> ResponseTemplate {
        match serde_json::from_slice::<Value>(&request.body) {
            Ok(body) if body.is_object() => {
                self.responses.push((format!("/response/{id}"), body));
                ResponseTemplate::new(200).set_body_string("ok")
            }
            _ => ResponseTemplate::new(400).set_body_string("invalid_payload"),
        }
    }
}

/// A message's `text` (empty when absent) and `blocks` (`Null` when absent), or Slack's code.
fn content(args: &Map<String, Value>) -> Result<(String, Value), &'static str> {
    let text = args
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if text.chars().count() > 40_000 {
        return Err("msg_too_long");
    }
    let blocks = match args.get("blocks") {
        None | Some(Value::Null) => Value::Null,
        Some(blocks @ Value::Array(_)) => blocks.clone(),
        // Form-encoded calls carry blocks as a JSON string.
        Some(Value::String(encoded)) => match serde_json::from_str(encoded) {
            Ok(blocks @ Value::Array(_)) => blocks,
            _ => return Err("invalid_blocks"),
        },
        Some(_) => return Err("invalid_blocks"),
    };
    if !within_block_kit_limits(&blocks) {
        return Err("invalid_blocks");
    }
    Ok((text, blocks))
}

/// Block Kit's documented size limits, counted in characters, written from Slack's reference
/// (not shared with the product's own checker, so the two can disagree).
fn within_block_kit_limits(blocks: &Value) -> bool {
    let Some(list) = blocks.as_array() else {
        return true;
    };
    let fits = |v: &Value, max: usize| v.as_str().is_none_or(|t| t.chars().count() <= max);
    let each = |v: &Value, ok: &dyn Fn(&Value) -> bool| {
        v.as_array().is_none_or(|items| items.iter().all(ok))
    };
    list.len() <= 50
        && list.iter().all(|block| {
            fits(&block["block_id"], 255)
                && match block["type"].as_str() {
                    Some("header") => fits(&block["text"]["text"], 150),
                    Some("section") => {
                        fits(&block["text"]["text"], 3_000)
                            && block["fields"].as_array().is_none_or(|f| f.len() <= 10)
                            && each(&block["fields"], &|f| fits(&f["text"], 2_000))
                    }
                    Some("context") => {
                        block["elements"].as_array().is_none_or(|e| e.len() <= 10)
                            && each(&block["elements"], &|e| fits(&e["text"], 3_000))
                    }
                    Some("actions") => each(&block["elements"], &|e| {
                        fits(&e["text"]["text"], 75) && fits(&e["value"], 2_000)
                    }),
                    _ => true,
                }
        })
}

/// The method's arguments from a JSON or form body.
fn arguments(request: &Request) -> Map<String, Value> {
    if is_form(request) {
        let body = String::from_utf8_lossy(&request.body);
        return query_pairs(request, &body)
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
    }
    serde_json::from_slice::<Value>(&request.body)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default()
}

/// One argument from the query or a form body (read methods take either).
fn form_or_query_argument(request: &Request, name: &str) -> Option<String> {
    let mut pairs = query_pairs(request, request.url.query().unwrap_or_default());
    if is_form(request) {
        pairs.extend(query_pairs(
            request,
            &String::from_utf8_lossy(&request.body),
        ));
    }
    pairs
        .into_iter()
        .find_map(|(k, v)| (k == name).then_some(v))
}

fn is_form(request: &Request) -> bool {
    header(request, "content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"))
}

/// Decode `a=1&b=2` as a form (the request's URL lends its parser).
fn query_pairs(request: &Request, encoded: &str) -> Vec<(String, String)> {
    let mut url = request.url.clone();
    url.set_query(Some(encoded));
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn fail(code: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({ "ok": false, "error": code }))
}
