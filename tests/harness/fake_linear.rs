//! A stateful fake of Linear's GraphQL API: issues and labels live in a small world that tests
//! read back, and scripted trouble (rate limits, outages, lost replies, refusals) is switched on
//! by name. It answers the operations the connector sends, nothing more.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The team key behind identifiers like `SEC-1`.
const TEAM_KEY: &str = "SEC";

/// An issue as the fake stored it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeIssue {
    pub id: String,
    pub identifier: String,
    pub url: String,
    pub title: String,
    pub description: String,
    pub priority: i64,
    /// Names of the labels the issue was created with, in the order given.
    pub label_names: Vec<String>,
    pub team_id: String,
    pub project_id: Option<String>,
}

/// How a rate limit is announced; third-party reports disagree, so the fake can do each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitStyle {
    /// HTTP 429.
    Http429,
    /// HTTP 400 with `errors[].extensions.code == "RATELIMITED"`.
    Http400Ratelimited,
    /// HTTP 200 with `errors[].extensions.type == "ratelimited"`.
    Http200ErrorsRatelimited,
}

#[derive(Debug, Clone)]
struct FakeLabel {
    id: String,
    name: String,
    team: Option<String>,
}

#[derive(Default)]
struct World {
    issues: Vec<FakeIssue>,
    labels: Vec<FakeLabel>,
    requests: usize,
    create_attempts: usize,
    accepted_key: Option<String>,
    rate_limits: Vec<RateLimitStyle>,
    rate_limit_reset_after: Duration,
    failing_creates: Vec<u16>,
    lost_create_replies: usize,
    create_refusal: Option<String>,
    label_behind_next_lookup: Option<FakeLabel>,
    /// Once this many issues exist, every create answers the status (until the outage ends).
    outage_after: Option<(usize, u16)>,
}

/// Fake Linear behind a local HTTP server.
pub struct FakeLinear {
    server: MockServer,
    world: Arc<Mutex<World>>,
}

impl FakeLinear {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let world = Arc::new(Mutex::new(World {
            rate_limit_reset_after: Duration::from_millis(20),
            ..World::default()
        }));
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .respond_with(Responder(world.clone()))
            .mount(&server)
            .await;
        Self { server, world }
    }

    /// The GraphQL endpoint, for `LinearConfig::api_url`.
    pub fn url(&self) -> String {
        format!("{}/graphql", self.server.uri())
    }

    /// Every issue created, in creation order.
    pub fn issues(&self) -> Vec<FakeIssue> {
        self.world().issues.clone()
    }

    /// Every label as `(id, name, team)`; `team` is `None` for a workspace label.
    pub fn labels(&self) -> Vec<(String, String, Option<String>)> {
        self.world()
            .labels
            .iter()
            .map(|l| (l.id.clone(), l.name.clone(), l.team.clone()))
            .collect()
    }

    /// A label that exists before the test starts; returns its id.
    pub fn add_label(&self, name: &str, team: Option<&str>) -> String {
        let label = new_label(name, team);
        let id = label.id.clone();
        self.world().labels.push(label);
        id
    }

    /// Someone else creates this label right after the next label lookup answers (a race).
    pub fn add_label_behind_next_lookup(&self, name: &str, team: Option<&str>) -> String {
        let label = new_label(name, team);
        let id = label.id.clone();
        self.world().label_behind_next_lookup = Some(label);
        id
    }

    /// The next `n` requests, whatever they ask, are rate limited.
    pub fn rate_limit_next(&self, n: usize, style: RateLimitStyle) {
        self.world()
            .rate_limits
            .extend(std::iter::repeat_n(style, n));
    }

    /// When rate-limit answers say the budget resets (from the moment they are sent, in the
    /// `x-ratelimit-*-reset` headers as unix milliseconds). 20 ms unless changed.
    pub fn rate_limit_resets_after(&self, after: Duration) {
        self.world().rate_limit_reset_after = after;
    }

    /// The next `n` `issueCreate` calls answer this HTTP status and create nothing.
    pub fn fail_next_creates(&self, n: usize, status: u16) {
        self.world()
            .failing_creates
            .extend(std::iter::repeat_n(status, n));
    }

    /// Once `issues` issues exist, every `issueCreate` answers `status` until [`Self::end_outage`].
    pub fn outage_after_creates(&self, issues: usize, status: u16) {
        self.world().outage_after = Some((issues, status));
    }

    pub fn end_outage(&self) {
        self.world().outage_after = None;
    }

    /// The next `issueCreate` creates the issue but answers HTTP 500, as if the reply were lost.
    pub fn lose_next_create_response(&self) {
        self.world().lost_create_replies += 1;
    }

    /// Every `issueCreate` from now on answers HTTP 200 with this GraphQL error.
    pub fn reject_creates_with_graphql_error(&self, message: &str) {
        self.world().create_refusal = Some(message.to_owned());
    }

    /// Only this credential is accepted from now on, raw or as `Bearer <key>`; others get 401.
    pub fn accept_only_key(&self, key: &str) {
        self.world().accepted_key = Some(key.to_owned());
    }

    /// GraphQL requests received, refused ones included.
    pub fn requests(&self) -> usize {
        self.world().requests
    }

    /// `issueCreate` requests received (rate-limited or refused-credential ones not counted:
    /// those never reach the operation).
    pub fn create_attempts(&self) -> usize {
        self.world().create_attempts
    }

    /// The `Authorization` header of every request received, in order (`""` when absent).
    pub async fn authorization_headers(&self) -> Vec<String> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| header(r, "authorization").unwrap_or_default().to_owned())
            .collect()
    }

    fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }
}

fn lock(world: &Mutex<World>) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(PoisonError::into_inner)
}

fn new_label(name: &str, team: Option<&str>) -> FakeLabel {
    FakeLabel {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.to_owned(),
        team: team.map(str::to_owned),
    }
}

fn header<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

struct Responder(Arc<Mutex<World>>);

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut world = lock(&self.0);
        world.requests += 1;
        if !world.authorized(header(request, "authorization")) {
            return graphql_error(
                401,
                "Authentication required, not authenticated",
                "authentication error",
            );
        }
        if !world.rate_limits.is_empty() {
            let style = world.rate_limits.remove(0);
            return rate_limited(style, world.rate_limit_reset_after);
        }
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            return graphql_error(400, "Body is not valid JSON", "graphql error");
        };
        let query = body["query"].as_str().unwrap_or_default();
        let variables = &body["variables"];
        // Most specific first: `issueLabelCreate` also contains `issueLabel`, and so on.
        if query.contains("issueLabelCreate") {
            world.create_label(&variables["input"])
        } else if query.contains("issueLabels") {
            world.find_labels(variables)
        } else if query.contains("issueCreate") {
            world.create_issue(&variables["input"])
        } else if query.contains("issue(") {
            world.find_issue(variables)
        } else {
            graphql_error(400, "Unknown operation for this fake", "graphql error")
        }
    }
}

impl World {
    fn authorized(&self, header: Option<&str>) -> bool {
        match (header, &self.accepted_key) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(sent), Some(key)) => sent == key || sent.strip_prefix("Bearer ") == Some(key),
        }
    }

    fn create_issue(&mut self, input: &Value) -> ResponseTemplate {
        self.create_attempts += 1;
        if !self.failing_creates.is_empty() {
            let status = self.failing_creates.remove(0);
            return graphql_error(status, "Internal server error", "internal error");
        }
        if let Some((after, status)) = self.outage_after
            && self.issues.len() >= after
        {
            return graphql_error(status, "Internal server error", "internal error");
        }
        if let Some(message) = &self.create_refusal {
            return graphql_error(200, message, "invalid input");
        }
        let issue = match self.validate_issue(input) {
            Ok(issue) => issue,
            Err((status, message)) => return graphql_error(status, message, "invalid input"),
        };
        let created = json!({
            "id": issue.id, "identifier": issue.identifier, "url": issue.url, "title": issue.title,
        });
        let reply = json!({ "data": { "issueCreate": { "success": true, "issue": created } } });
        self.issues.push(issue);
        if self.lost_create_replies > 0 {
            self.lost_create_replies -= 1;
            return graphql_error(500, "Internal server error", "internal error");
        }
        ResponseTemplate::new(200).set_body_json(reply)
    }

    /// The issue this input would create, or Linear's refusal as (HTTP status, message).
    fn validate_issue(&self, input: &Value) -> Result<FakeIssue, (u16, &'static str)> {
        let Some(team_id) = input["teamId"].as_str() else {
            return Err((400, "Argument Validation Error: teamId is required"));
        };
        let id = input["id"]
            .as_str()
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        if self.issues.iter().any(|i| i.id == id) {
            return Err((200, "Entity already exists"));
        }
        let mut label_names = Vec::new();
        for label_id in input["labelIds"].as_array().into_iter().flatten() {
            let usable = self
                .labels
                .iter()
                .find(|l| {
                    Some(l.id.as_str()) == label_id.as_str()
                        && l.team.as_deref().is_none_or(|t| t == team_id)
                })
                .ok_or((200, "Entity not found: IssueLabel"))?;
            label_names.push(usable.name.clone());
        }
        let identifier = format!("{TEAM_KEY}-{}", self.issues.len() + 1);
        Ok(FakeIssue {
            url: format!("https://linear.app/acme/issue/{identifier}"),
            identifier,
            id,
            title: input["title"].as_str().unwrap_or_default().to_owned(),
            description: input["description"].as_str().unwrap_or_default().to_owned(),
            priority: input["priority"].as_i64().unwrap_or(0),
            label_names,
            team_id: team_id.to_owned(),
            project_id: input["projectId"].as_str().map(str::to_owned),
        })
    }

    fn find_issue(&self, variables: &Value) -> ResponseTemplate {
        let wanted = variables["id"].as_str().unwrap_or_default();
        match self
            .issues
            .iter()
            .find(|i| i.id == wanted || i.identifier == wanted)
        {
            Some(issue) => ResponseTemplate::new(200).set_body_json(json!({ "data": { "issue": {
                "id": issue.id, "identifier": issue.identifier, "url": issue.url,
            } } })),
            None => graphql_error(200, "Entity not found: Issue", "invalid input"),
        }
    }

    fn find_labels(&mut self, variables: &Value) -> ResponseTemplate {
        let name = variables["name"].as_str().unwrap_or_default();
        let nodes: Vec<Value> = self
            .labels
            .iter()
            .filter(|l| l.name.eq_ignore_ascii_case(name))
            .map(|l| {
                let team = l.team.as_ref().map(|id| json!({ "id": id }));
                json!({ "id": l.id, "name": l.name, "team": team })
            })
            .collect();
        if let Some(late) = self.label_behind_next_lookup.take() {
            self.labels.push(late);
        }
        ResponseTemplate::new(200)
            .set_body_json(json!({ "data": { "issueLabels": { "nodes": nodes } } }))
    }

    fn create_label(&mut self, input: &Value) -> ResponseTemplate {
        let Some(name) = input["name"].as_str() else {
            return graphql_error(
                400,
                "Argument Validation Error: name is required",
                "invalid input",
            );
        };
        let team = input["teamId"].as_str();
        // A name is taken if a workspace label or a label of the same team already has it.
        let taken = self.labels.iter().any(|l| {
            l.name.eq_ignore_ascii_case(name) && (l.team.is_none() || l.team.as_deref() == team)
        });
        if taken {
            return graphql_error(200, "Duplicate label name", "invalid input");
        }
        let label = new_label(name, team);
        let reply = json!({ "data": { "issueLabelCreate": {
            "success": true, "issueLabel": { "id": label.id, "name": label.name },
        } } });
        self.labels.push(label);
        ResponseTemplate::new(200).set_body_json(reply)
    }
}

fn graphql_error(status: u16, message: &str, kind: &str) -> ResponseTemplate {
    let extensions = json!({ "type": kind, "userPresentableMessage": message });
    ResponseTemplate::new(status).set_body_json(json!({
        "data": null,
        "errors": [{ "message": message, "extensions": extensions }],
    }))
}

fn rate_limited(style: RateLimitStyle, reset_after: Duration) -> ResponseTemplate {
    let (status, extensions) = match style {
        RateLimitStyle::Http429 => (429, json!({ "type": "ratelimited" })),
        RateLimitStyle::Http400Ratelimited => {
            (400, json!({ "code": "RATELIMITED", "statusCode": 429 }))
        }
        RateLimitStyle::Http200ErrorsRatelimited => (200, json!({ "type": "ratelimited" })),
    };
    let reset_ms = (SystemTime::now() + reset_after)
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis();
    ResponseTemplate::new(status)
        .insert_header("x-ratelimit-requests-limit", "5000")
        .insert_header("x-ratelimit-requests-remaining", "0")
        .insert_header("x-ratelimit-requests-reset", reset_ms.to_string().as_str())
        .set_body_json(json!({
            "data": null,
            "errors": [{ "message": "Rate limit exceeded", "extensions": extensions }],
        }))
}
