//! A stateful fake of the GitLab REST API over wiremock: merge requests and their approvals live
//! in a small world that tests fill with GitLab-shaped JSON, and scripted trouble (rate limits,
//! outages, refused tokens) is switched on by name.
//!
//! It serves `GET {root}/api/v4/projects/:id/merge_requests/:iid` and `…/:iid/approvals`,
//! `GET …/projects/:id` (by id or URL-encoded path), `GET …/projects/:id/merge_requests` (newest
//! first, `per_page`) and `GET …/user`, where
//! `root` is empty unless [`FakeGitLab::serve_under`] sets a relative URL root. Every answer
//! carries GitLab's `RateLimit-*` headers; errors have GitLab's bodies (`{"message": "..."}`,
//! and plain text `Retry later` on a 429).
//!
//! ```ignore
//! let gitlab = FakeGitLab::start().await;
//! gitlab.add_merge_request(42, 7, merge_request_json(42, 7, "Bump", (1, "ann"), (2, "bob"), &[], &[]));
//! let client = GitLabClient::new(http, secrets, GitLabConfig::new(gitlab.base_url()));
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers::any};

/// The per-minute budget the fake announces in `RateLimit-Limit`.
pub const RATE_LIMIT: u64 = 2000;

/// A request as the fake received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedRequest {
    pub method: String,
    /// The path, with the query string if any.
    pub path: String,
    /// The `PRIVATE-TOKEN` header, if sent.
    pub private_token: Option<String>,
}

#[derive(Default)]
struct World {
    root: String,
    merge_requests: HashMap<(u64, u64), Value>,
    approvals: HashMap<(u64, u64), Value>,
    requests: Vec<ReceivedRequest>,
    rate_limits: Vec<u64>,
    failures: Vec<u16>,
    accepted_token: Option<String>,
    /// `(id, path_with_namespace)` of each project `GET /projects/:id` knows.
    projects: Vec<(u64, String)>,
    /// The token's scopes; `None` is a token with `api`. Without `api` or `read_api`, project
    /// routes answer 403 `insufficient_scope` (and `/user` too, without `read_user`).
    token_scopes: Option<Vec<String>>,
}

/// Fake GitLab behind a local HTTP server.
pub struct FakeGitLab {
    server: MockServer,
    world: Arc<Mutex<World>>,
}

impl FakeGitLab {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let world = Arc::new(Mutex::new(World::default()));
        Mock::given(any())
            .respond_with(Responder(world.clone()))
            .mount(&server)
            .await;
        Self { server, world }
    }

    /// The URL to configure as `GitLabConfig::base_url` (the relative URL root included).
    pub fn base_url(&self) -> String {
        format!("{}{}", self.server.uri(), self.world().root)
    }

    /// Serve the API under a relative URL root only (`/gitlab`), as a self-managed instance
    /// installed there does; requests outside it get 404.
    pub fn serve_under(&self, root: &str) {
        self.world().root = format!("/{}", root.trim_matches('/'));
    }

    /// A merge request, stored and served exactly as given (see [`merge_request_json`]).
    pub fn add_merge_request(&self, project_id: u64, iid: u64, json: Value) {
        self.world().merge_requests.insert((project_id, iid), json);
    }

    /// The approvals body served for this merge request (see [`approvals_json`]). Without it, a
    /// known merge request has no approvals and needs none.
    pub fn set_approvals(&self, project_id: u64, iid: u64, json: Value) {
        self.world().approvals.insert((project_id, iid), json);
    }

    /// A project `GET /projects/:id` finds by id or by path; its merge requests are those added
    /// with [`Self::add_merge_request`].
    pub fn add_project(&self, id: u64, path_with_namespace: &str) {
        self.world()
            .projects
            .push((id, path_with_namespace.to_owned()));
    }

    /// The token holds only these scopes from now on (`read_api`, `read_user`, …).
    pub fn set_token_scopes(&self, scopes: &[&str]) {
        self.world().token_scopes = Some(scopes.iter().map(|s| (*s).to_owned()).collect());
    }

    /// The next `n` requests get 429 with `Retry-After: retry_after_secs`, the `RateLimit-*`
    /// headers and the plain text body `Retry later`.
    pub fn rate_limit_next(&self, n: usize, retry_after_secs: u64) {
        self.world()
            .rate_limits
            .extend(std::iter::repeat_n(retry_after_secs, n));
    }

    /// The next `n` requests answer this status with a GitLab error body.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.world().failures.extend(std::iter::repeat_n(status, n));
    }

    /// Only `PRIVATE-TOKEN: <token>` is accepted from now on; anything else gets 401. (Until
    /// then any non-empty token is.)
    pub fn accept_only_token(&self, token: &str) {
        self.world().accepted_token = Some(token.to_owned());
    }

    /// Requests received whose path (without query string) ends with `path_suffix`.
    pub fn calls(&self, path_suffix: &str) -> usize {
        self.world()
            .requests
            .iter()
            .filter(|r| {
                r.path
                    .split('?')
                    .next()
                    .unwrap_or_default()
                    .ends_with(path_suffix)
            })
            .count()
    }

    /// Every request received, refused ones included, in order.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.world().requests.clone()
    }

    fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }
}

fn lock(world: &Mutex<World>) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a request is for, from its path below the API root.
enum Route {
    MergeRequest(u64, u64),
    Approvals(u64, u64),
    /// By id or by (decoded) path.
    Project(String),
    MergeRequests(String),
    User,
}

impl Route {
    fn of(path: &str, root: &str) -> Option<Route> {
        let rest = path.strip_prefix(root)?.strip_prefix("/api/v4/")?;
        let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        let number = |s: &str| s.parse::<u64>().ok();
        match segments.as_slice() {
            ["projects", id, "merge_requests", iid] => {
                Some(Route::MergeRequest(number(id)?, number(iid)?))
            }
            ["projects", id, "merge_requests", iid, "approvals"] => {
                Some(Route::Approvals(number(id)?, number(iid)?))
            }
            ["projects", id] => Some(Route::Project(decode(id))),
            ["projects", id, "merge_requests"] => Some(Route::MergeRequests(decode(id))),
            ["user"] => Some(Route::User),
            _ => None,
        }
    }
}

struct Responder(Arc<Mutex<World>>);

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut world = lock(&self.0);
        let path = match request.url.query() {
            Some(q) => format!("{}?{q}", request.url.path()),
            None => request.url.path().to_owned(),
        };
        let private_token = request
            .headers
            .get("private-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        world.requests.push(ReceivedRequest {
            method: request.method.to_string(),
            path,
            private_token: private_token.clone(),
        });
        let observed = world.requests.len() as u64;
        world.answer(request, private_token.as_deref(), observed)
    }
}

impl World {
    /// In the order GitLab's stack would answer: the load balancer, then Rack::Attack, then the
    /// API's authentication, then the route.
    fn answer(
        &mut self,
        request: &Request,
        token: Option<&str>,
        observed: u64,
    ) -> ResponseTemplate {
        if !self.failures.is_empty() {
            let status = self.failures.remove(0);
            return error(status, &status_message(status));
        }
        if !self.rate_limits.is_empty() {
            let retry_after = self.rate_limits.remove(0);
            return rate_limited(retry_after);
        }
        let within_budget = |response: ResponseTemplate| with_budget(response, observed);
        let authorized = match (token, &self.accepted_token) {
            (None, _) => false,
            (Some(sent), Some(accepted)) => sent == accepted,
            (Some(sent), None) => !sent.is_empty(),
        };
        if !authorized {
            return within_budget(error(401, "401 Unauthorized"));
        }
        if request.method.as_str() != "GET" {
            return within_budget(error(405, "405 Method Not Allowed"));
        }
        let route = Route::of(request.url.path(), &self.root);
        if let Some(scopes) = &self.token_scopes {
            let holds = |scope: &str| scopes.iter().any(|s| s == scope);
            let api = holds("api") || holds("read_api");
            let allowed = api || (matches!(route, Some(Route::User)) && holds("read_user"));
            if !allowed {
                return within_budget(insufficient_scope());
            }
        }
        let response = match route {
            Some(Route::User) => ResponseTemplate::new(200).set_body_json(json!({
                "id": 77, "username": "secops-bot", "name": "SecOps Bot", "state": "active",
                "bot": true,
            })),
            Some(Route::Project(id)) => match self.project(&id) {
                Some((id, path)) => ResponseTemplate::new(200).set_body_json(json!({
                    "id": id, "path_with_namespace": path,
                    "web_url": format!("https://gitlab.example/{path}"),
                })),
                None => error(404, "404 Project Not Found"),
            },
            Some(Route::MergeRequests(id)) => match self.project(&id) {
                Some((id, _)) => {
                    let per_page = request
                        .url
                        .query_pairs()
                        .find(|(k, _)| k == "per_page")
                        .and_then(|(_, v)| v.parse::<usize>().ok())
                        .unwrap_or(20);
                    let mut listed: Vec<(u64, &Value)> = self
                        .merge_requests
                        .iter()
                        .filter(|((project, _), _)| *project == id)
                        .map(|((_, iid), mr)| (*iid, mr))
                        .collect();
                    listed.sort_by_key(|(iid, _)| std::cmp::Reverse(*iid));
                    let page: Vec<&Value> = listed
                        .into_iter()
                        .take(per_page)
                        .map(|(_, mr)| mr)
                        .collect();
                    ResponseTemplate::new(200).set_body_json(page)
                }
                None => error(404, "404 Project Not Found"),
            },
            Some(Route::MergeRequest(project, iid)) => {
                match self.merge_requests.get(&(project, iid)) {
                    Some(mr) => ResponseTemplate::new(200).set_body_json(mr),
                    None => error(404, "404 Not found"),
                }
            }
            Some(Route::Approvals(project, iid)) => {
                match (
                    self.approvals.get(&(project, iid)),
                    self.merge_requests.get(&(project, iid)),
                ) {
                    (Some(approvals), _) => ResponseTemplate::new(200)
                        .set_body_json(identified(approvals, project, iid)),
                    (None, Some(mr)) => {
                        ResponseTemplate::new(200).set_body_json(no_approvals(project, iid, mr))
                    }
                    (None, None) => error(404, "404 Not found"),
                }
            }
            None => error(404, "404 Not Found"),
        };
        within_budget(response)
    }

    /// The project with this id or (case-insensitive) path.
    fn project(&self, id_or_path: &str) -> Option<(u64, String)> {
        self.projects
            .iter()
            .find(|(id, path)| {
                id.to_string() == id_or_path || path.eq_ignore_ascii_case(id_or_path)
            })
            .cloned()
    }
}

/// A path segment with its percent-escapes (`group%2Fproject`) decoded.
fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = segment
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// GitLab's answer to a token whose scopes do not cover the route.
fn insufficient_scope() -> ResponseTemplate {
    ResponseTemplate::new(403).set_body_json(json!({
        "error": "insufficient_scope",
        "error_description": "The request requires higher privileges than provided by the access token.",
        "scope": "api read_api",
    }))
}

/// The approvals body with the merge request's identity filled in where it was left out.
fn identified(approvals: &Value, project_id: u64, iid: u64) -> Value {
    let mut body = approvals.clone();
    if let Value::Object(fields) = &mut body {
        fields.entry("iid").or_insert(json!(iid));
        fields.entry("project_id").or_insert(json!(project_id));
    }
    body
}

/// GitLab's error body.
fn error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({ "message": message }))
}

fn status_message(status: u16) -> String {
    let reason = match status {
        400 => "Bad request",
        403 => "Forbidden",
        404 => "Not found",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    };
    format!("{status} {reason}")
}

/// The headers GitLab.com puts on every API answer (authenticated API throttle).
fn with_budget(response: ResponseTemplate, observed: u64) -> ResponseTemplate {
    let reset = (Utc::now() + TimeDelta::seconds(60)).timestamp();
    response
        .insert_header("ratelimit-name", "throttle_authenticated_api")
        .insert_header("ratelimit-limit", RATE_LIMIT.to_string().as_str())
        .insert_header("ratelimit-observed", observed.to_string().as_str())
        .insert_header(
            "ratelimit-remaining",
            RATE_LIMIT.saturating_sub(observed).to_string().as_str(),
        )
        .insert_header("ratelimit-reset", reset.to_string().as_str())
}

/// A 429 as Rack::Attack sends it.
fn rate_limited(retry_after: u64) -> ResponseTemplate {
    let at = Utc::now() + TimeDelta::seconds(i64::try_from(retry_after).unwrap_or(i64::MAX / 2));
    ResponseTemplate::new(429)
        .set_body_raw("Retry later\n", "text/plain")
        .insert_header("retry-after", retry_after.to_string().as_str())
        .insert_header("ratelimit-name", "throttle_authenticated_api")
        .insert_header("ratelimit-limit", RATE_LIMIT.to_string().as_str())
        .insert_header("ratelimit-observed", (RATE_LIMIT + 1).to_string().as_str())
        .insert_header("ratelimit-remaining", "0")
        .insert_header("ratelimit-reset", at.timestamp().to_string().as_str())
        .insert_header(
            "ratelimit-resettime",
            at.format("%a, %d %b %Y %H:%M:%S GMT").to_string().as_str(),
        )
}

/// The approvals of a merge request nobody approved and no rule requires approving.
fn no_approvals(project_id: u64, iid: u64, mr: &Value) -> Value {
    json!({
        "id": mr["id"],
        "iid": iid,
        "project_id": project_id,
        "title": mr["title"],
        "description": mr["description"],
        "state": mr["state"],
        "created_at": mr["created_at"],
        "updated_at": mr["updated_at"],
        "merge_status": "can_be_merged",
        "approved": true,
        "approvals_required": 0,
        "approvals_left": 0,
        "require_password_to_approve": false,
        "approved_by": [],
        "suggested_approvers": [],
        "approvers": [],
        "approver_groups": [],
        "user_has_approved": false,
        "user_can_approve": false,
        "approval_rules_left": [],
        "has_approval_rules": false,
        "merge_request_approvers_available": true,
        "multiple_approval_rules_available": true,
        "invalid_approvers_rules": [],
    })
}

/// A user as the API shows one in merge requests and approvals.
pub fn user_json((id, username): (u64, &str)) -> Value {
    json!({
        "id": id,
        "username": username,
        "name": display_name(username),
        "state": "active",
        "locked": false,
        "avatar_url": format!("https://secure.gravatar.com/avatar/{id}?s=80&d=identicon"),
        "web_url": format!("https://gitlab.example.com/{username}"),
    })
}

/// `ann.lee` → `Ann Lee`.
fn display_name(username: &str) -> String {
    username
        .split(['.', '_', '-'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A merged merge request as `GET /projects/:id/merge_requests/:iid` returns it (GitLab 16/17,
/// the fields of the API doc's example), merged by `merged_by` (in both `merged_by` and
/// `merge_user`).
pub fn merge_request_json(
    project_id: u64,
    iid: u64,
    title: &str,
    author: (u64, &str),
    merged_by: (u64, &str),
    reviewers: &[(u64, &str)],
    labels: &[&str],
) -> Value {
    let id = project_id * 1000 + iid;
    let source_branch = format!("{}-{iid}", author.1);
    let web_url = format!("https://gitlab.example.com/security/app/-/merge_requests/{iid}");
    let sha = format!("{:040x}", id);
    let merge_sha = format!("{:040x}", id + 1);
    // In parts: one `json!` this size exceeds the macro recursion limit.
    let mut mr = json!({
        "id": id,
        "iid": iid,
        "project_id": project_id,
        "title": title,
        "description": format!("{title}\n\nCloses #{iid}."),
        "state": "merged",
        "created_at": "2026-03-01T09:00:00.000Z",
        "updated_at": "2026-03-02T14:30:05.120Z",
        "merged_by": user_json(merged_by),
        "merge_user": user_json(merged_by),
        "merged_at": "2026-03-02T14:30:04.876Z",
        "merge_after": null,
        "closed_by": null,
        "closed_at": null,
        "target_branch": "main",
        "source_branch": source_branch,
        "user_notes_count": 2,
        "upvotes": 0,
        "downvotes": 0,
        "author": user_json(author),
        "assignees": [],
        "assignee": null,
        "reviewers": reviewers.iter().copied().map(user_json).collect::<Vec<_>>(),
    });
    let middle = json!({
        "source_project_id": project_id,
        "target_project_id": project_id,
        "labels": labels,
        "draft": false,
        "imported": false,
        "imported_from": "none",
        "work_in_progress": false,
        "milestone": null,
        "merge_when_pipeline_succeeds": false,
        "merge_status": "can_be_merged",
        "detailed_merge_status": "not_open",
        "sha": sha,
        "merge_commit_sha": merge_sha,
        "squash_commit_sha": null,
        "discussion_locked": null,
        "should_remove_source_branch": true,
        "force_remove_source_branch": true,
        "prepared_at": "2026-03-01T09:00:02.000Z",
        "reference": format!("!{iid}"),
        "references": {
            "short": format!("!{iid}"),
            "relative": format!("!{iid}"),
            "full": format!("security/app!{iid}"),
        },
        "web_url": web_url,
    });
    let rest = json!({
        "time_stats": {
            "time_estimate": 0,
            "total_time_spent": 0,
            "human_time_estimate": null,
            "human_total_time_spent": null,
        },
        "squash": false,
        "squash_on_merge": false,
        "task_completion_status": { "count": 0, "completed_count": 0 },
        "has_conflicts": false,
        "blocking_discussions_resolved": true,
        "approvals_before_merge": null,
        "subscribed": false,
        "changes_count": "3",
        "latest_build_started_at": "2026-03-02T14:00:00.000Z",
        "latest_build_finished_at": "2026-03-02T14:10:00.000Z",
        "first_deployed_to_production_at": null,
        "pipeline": null,
        "head_pipeline": null,
        "diff_refs": {
            "base_sha": format!("{:040x}", id + 2),
            "head_sha": sha,
            "start_sha": format!("{:040x}", id + 2),
        },
        "merge_error": null,
        "first_contribution": false,
        "user": { "can_merge": false },
    });
    for part in [middle, rest] {
        if let (Value::Object(mr), Value::Object(part)) = (&mut mr, part) {
            mr.extend(part);
        }
    }
    mr
}

/// `GET …/approvals` for a merge request approved by these users, with `required` approvals
/// required and `left` still missing (the MR's `iid` and `project_id` are added when served).
pub fn approvals_json(approved_by: &[(u64, &str)], required: u32, left: u32) -> Value {
    let approved_by: Vec<Value> = approved_by
        .iter()
        .copied()
        .map(|user| json!({ "user": user_json(user), "approved_at": "2026-03-02T12:00:00.000Z" }))
        .collect();
    // `iid` and `project_id` are filled in by the fake from the request's path.
    json!({
        "state": "merged",
        "created_at": "2026-03-01T09:00:00.000Z",
        "updated_at": "2026-03-02T12:00:00.000Z",
        "merge_status": "can_be_merged",
        "approved": left == 0,
        "approvals_required": required,
        "approvals_left": left,
        "require_password_to_approve": false,
        "approved_by": approved_by,
        "suggested_approvers": [],
        "approvers": [],
        "approver_groups": [],
        "user_has_approved": false,
        "user_can_approve": false,
        "approval_rules_left": [],
        "has_approval_rules": required > 0,
        "merge_request_approvers_available": true,
        "multiple_approval_rules_available": true,
        "invalid_approvers_rules": [],
    })
}
