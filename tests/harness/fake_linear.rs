//! A stateful fake of Linear's GraphQL API: teams, workflow states, issues, labels and comments
//! live in a small world that tests read back, and scripted trouble (rate limits, outages, lost
//! replies, refusals) is switched on by name. It answers the operations the connector sends,
//! nothing more.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The team key behind identifiers like `SEC-1` for a team the test did not add.
const TEAM_KEY: &str = "SEC";

/// What `issue_state` reports for an issue created without a state (Linear would put it in the
/// team's default state).
pub const DEFAULT_STATE_NAME: &str = "Backlog";

/// An issue as the fake stored it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeIssue {
    pub id: String,
    pub identifier: String,
    pub number: u64,
    pub url: String,
    pub title: String,
    pub description: String,
    pub priority: i64,
    /// Ids of the issue's labels, in the order they were applied.
    pub label_ids: Vec<String>,
    /// Names of the issue's labels, in the order they were applied.
    pub label_names: Vec<String>,
    pub team_id: String,
    pub project_id: Option<String>,
    /// `None` for the team's default state.
    pub state_id: Option<String>,
    /// `(url, sourceType)` of the issue's attachments, e.g. an MR Linear's GitLab integration
    /// linked (`sourceType` `gitlab`).
    pub attachments: Vec<(String, String)>,
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

#[derive(Debug, Clone)]
struct FakeTeam {
    id: String,
    key: String,
}

#[derive(Debug, Clone)]
struct FakeState {
    id: String,
    team_id: String,
    name: String,
    kind: String,
    position: f64,
}

#[derive(Debug, Clone)]
struct FakeComment {
    id: String,
    /// The issue's id (never its identifier).
    issue_id: String,
    body: String,
}

#[derive(Default)]
struct World {
    teams: Vec<FakeTeam>,
    states: Vec<FakeState>,
    issues: Vec<FakeIssue>,
    labels: Vec<FakeLabel>,
    comments: Vec<FakeComment>,
    lost_comment_replies: usize,
    /// While set, every `commentCreate` answers HTTP 500 and stores nothing.
    comment_outage: bool,
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
    /// `(id, name)` of each project.
    projects: Vec<(String, String)>,
    /// The text of every GraphQL document received, in order.
    documents: Vec<String>,
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

    /// The GraphQL endpoint, for `LinearConfig::base_url`.
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

    /// A team that exists before the test starts; its key prefixes its issues' identifiers.
    pub fn add_team(&self, id: &str, key: &str) {
        self.world().teams.push(FakeTeam {
            id: id.to_owned(),
            key: key.to_owned(),
        });
    }

    /// A project that exists (`project(id:)` finds it).
    pub fn add_project(&self, id: &str, name: &str) {
        self.world().projects.push((id.to_owned(), name.to_owned()));
    }

    /// The text of every GraphQL document received (queries and mutations), in order.
    pub fn documents(&self) -> Vec<String> {
        self.world().documents.clone()
    }

    /// A workflow state of the team; `kind` is Linear's state type (`completed`, `started`, ...).
    pub fn add_workflow_state(
        &self,
        team_id: &str,
        id: &str,
        name: &str,
        kind: &str,
        position: f64,
    ) {
        self.world().states.push(FakeState {
            id: id.to_owned(),
            team_id: team_id.to_owned(),
            name: name.to_owned(),
            kind: kind.to_owned(),
            position,
        });
    }

    /// An issue that exists before the test starts, identified `<team key>-<number>`, in the
    /// state with this id and carrying these labels (ids from [`Self::add_label`]); returns its id.
    pub fn add_issue(
        &self,
        team_id: &str,
        number: u64,
        title: &str,
        state_id: &str,
        label_ids: &[&str],
    ) -> String {
        let mut world = self.world();
        let identifier = format!("{}-{number}", world.team_key(team_id));
        let label_names = label_ids
            .iter()
            .map(|id| {
                world
                    .labels
                    .iter()
                    .find(|l| l.id == *id)
                    .map(|l| l.name.clone())
                    .unwrap_or_else(|| panic!("add_issue: no label {id}"))
            })
            .collect();
        let id = uuid::Uuid::new_v4().to_string();
        world.issues.push(FakeIssue {
            id: id.clone(),
            url: format!("https://linear.app/acme/issue/{identifier}"),
            identifier,
            number,
            title: title.to_owned(),
            description: String::new(),
            priority: 0,
            label_ids: label_ids.iter().map(|id| (*id).to_owned()).collect(),
            label_names,
            team_id: team_id.to_owned(),
            project_id: None,
            state_id: Some(state_id.to_owned()),
            attachments: Vec::new(),
        });
        id
    }

    /// Attach a URL to the issue, as an integration does (Linear's GitLab integration attaches
    /// each MR it links, `sourceType` `gitlab`). Attachment URLs are unique per issue.
    pub fn attach(&self, issue_id: &str, url: &str, source_type: &str) {
        let mut world = self.world();
        let issue = world
            .issues
            .iter_mut()
            .find(|i| i.id == issue_id)
            .unwrap_or_else(|| panic!("attach: no issue {issue_id}"));
        if !issue.attachments.iter().any(|(u, _)| u == url) {
            issue
                .attachments
                .push((url.to_owned(), source_type.to_owned()));
        }
    }

    /// The name of the issue's workflow state ([`DEFAULT_STATE_NAME`] if it never had one).
    pub fn issue_state(&self, issue_id: &str) -> String {
        let world = self.world();
        let issue = world.issue(issue_id).expect("no such issue");
        match &issue.state_id {
            Some(state) => world
                .states
                .iter()
                .find(|s| &s.id == state)
                .map_or_else(|| state.clone(), |s| s.name.clone()),
            None => DEFAULT_STATE_NAME.to_owned(),
        }
    }

    /// The names of the issue's labels, in the order they were applied.
    pub fn issue_labels(&self, issue_id: &str) -> Vec<String> {
        self.world()
            .issue(issue_id)
            .expect("no such issue")
            .label_names
            .clone()
    }

    /// The bodies of the comments on the issue, oldest first.
    pub fn comments(&self, issue_id: &str) -> Vec<String> {
        self.world()
            .comments
            .iter()
            .filter(|c| c.issue_id == issue_id)
            .map(|c| c.body.clone())
            .collect()
    }

    /// Every `commentCreate` fails with HTTP 500 (nothing stored) until [`Self::end_comment_outage`].
    pub fn comment_outage(&self) {
        self.world().comment_outage = true;
    }

    pub fn end_comment_outage(&self) {
        self.world().comment_outage = false;
    }

    /// The next `commentCreate` stores the comment but answers HTTP 500, as if the reply were
    /// lost.
    pub fn lose_next_comment_response(&self) {
        self.world().lost_comment_replies += 1;
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

    /// GraphQL mutations received (any operation that could write), refused ones included.
    pub async fn mutations(&self) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| {
                serde_json::from_slice::<serde_json::Value>(&r.body)
                    .ok()
                    .and_then(|body| body["query"].as_str().map(str::to_owned))
                    .is_some_and(|query| query.trim_start().starts_with("mutation"))
            })
            .count()
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
        world.documents.push(query.to_owned());
        let variables = &body["variables"];
        // Most specific first: `issueLabelCreate` also contains `issueLabel`, and so on.
        if query.contains("issueLabelCreate") {
            world.create_label(&variables["input"])
        } else if query.contains("issueLabels") {
            world.find_labels(variables)
        } else if query.contains("issueCreate") {
            world.create_issue(&variables["input"])
        } else if query.contains("issueUpdate") {
            world.update_issue(variables)
        } else if query.contains("commentCreate") {
            world.create_comment(&variables["input"])
        } else if query.contains("comment(") {
            world.find_comment(variables)
        } else if query.contains("viewer") {
            world.overview()
        } else if query.contains("project(") {
            world.find_project(variables)
        } else if query.contains("workflowStates(") {
            world.find_states(&variables["filter"])
        } else if query.contains("issues(") {
            world.find_issues(&variables["filter"])
        } else if query.contains("issue(") {
            world.find_issue(variables)
        } else {
            graphql_error(400, "Unknown operation for this fake", "graphql error")
        }
    }
}

impl World {
    /// `viewer` and every team with its workflow states (Linear's `teams` and `Team.states`
    /// connections, `nodes` only).
    fn overview(&self) -> ResponseTemplate {
        let teams: Vec<Value> = self
            .teams
            .iter()
            .map(|t| {
                let states: Vec<Value> = self
                    .states
                    .iter()
                    .filter(|s| s.team_id == t.id)
                    .map(|s| json!({ "name": s.name, "type": s.kind }))
                    .collect();
                json!({ "id": t.id, "key": t.key, "name": format!("Team {}", t.key),
                        "states": { "nodes": states } })
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({ "data": {
            "viewer": { "id": "user-secops-bot", "name": "SecOps Bot" },
            "teams": { "nodes": teams },
        }}))
    }

    /// `project(id:)`: like Linear, an unknown id is an "Entity not found" error.
    fn find_project(&self, variables: &Value) -> ResponseTemplate {
        let id = variables["id"].as_str().unwrap_or_default();
        match self.projects.iter().find(|(p, _)| p == id) {
            Some((id, name)) => ResponseTemplate::new(200)
                .set_body_json(json!({ "data": { "project": { "id": id, "name": name } } })),
            None => graphql_error(200, "Entity not found: Project", "invalid input"),
        }
    }

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
        let number = self
            .issues
            .iter()
            .filter(|i| i.team_id == team_id)
            .map(|i| i.number)
            .max()
            .unwrap_or(0)
            + 1;
        let identifier = format!("{}-{number}", self.team_key(team_id));
        Ok(FakeIssue {
            url: format!("https://linear.app/acme/issue/{identifier}"),
            identifier,
            number,
            id,
            title: input["title"].as_str().unwrap_or_default().to_owned(),
            description: input["description"].as_str().unwrap_or_default().to_owned(),
            priority: input["priority"].as_i64().unwrap_or(0),
            label_ids: input["labelIds"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            label_names,
            team_id: team_id.to_owned(),
            project_id: input["projectId"].as_str().map(str::to_owned),
            state_id: input["stateId"].as_str().map(str::to_owned),
            attachments: Vec::new(),
        })
    }

    fn team_key(&self, team_id: &str) -> String {
        self.teams
            .iter()
            .find(|t| t.id == team_id)
            .map_or_else(|| TEAM_KEY.to_owned(), |t| t.key.clone())
    }

    /// By id or by identifier, as Linear's `id` arguments accept both.
    fn issue(&self, wanted: &str) -> Option<&FakeIssue> {
        self.issues
            .iter()
            .find(|i| i.id == wanted || i.identifier == wanted)
    }

    fn issue_index(&self, wanted: &str) -> Option<usize> {
        self.issues
            .iter()
            .position(|i| i.id == wanted || i.identifier == wanted)
    }

    /// The label's name if it exists and the team may use it.
    fn usable_label(&self, label_id: &Value, team_id: &str) -> Option<String> {
        self.labels
            .iter()
            .find(|l| {
                Some(l.id.as_str()) == label_id.as_str()
                    && l.team.as_deref().is_none_or(|t| t == team_id)
            })
            .map(|l| l.name.clone())
    }

    /// `issues(filter:)` for the comparators the connector uses: `team.key.eq`, `team.id.eq`,
    /// `number.eq`. Anything else is refused, so a query drifting from the schema shows up.
    fn find_issues(&self, filter: &Value) -> ResponseTemplate {
        let Some(fields) = filter.as_object() else {
            return graphql_error(
                400,
                "Variable \"$filter\" of required type \"IssueFilter!\" was not provided.",
                "graphql error",
            );
        };
        let (mut team_key, mut team_id, mut number) = (None, None, None);
        for (field, value) in fields {
            match (field.as_str(), value) {
                ("team", team) => {
                    for (team_field, comparator) in team.as_object().into_iter().flatten() {
                        match (team_field.as_str(), comparator["eq"].as_str()) {
                            ("key", Some(key)) => team_key = Some(key),
                            ("id", Some(id)) => team_id = Some(id),
                            _ => return unsupported_filter(),
                        }
                    }
                }
                ("number", comparator) if comparator["eq"].is_number() => {
                    number = comparator["eq"].as_f64();
                }
                _ => return unsupported_filter(),
            }
        }
        let nodes: Vec<Value> = self
            .issues
            .iter()
            .filter(|i| team_key.is_none_or(|k| self.team_key(&i.team_id) == k))
            .filter(|i| team_id.is_none_or(|t| i.team_id == t))
            .filter(|i| number.is_none_or(|n| i.number as f64 == n))
            .take(1)
            .map(|i| self.issue_node(i))
            .collect();
        ResponseTemplate::new(200)
            .set_body_json(json!({ "data": { "issues": { "nodes": nodes } } }))
    }

    fn issue_node(&self, issue: &FakeIssue) -> Value {
        let state = issue
            .state_id
            .as_ref()
            .and_then(|id| self.states.iter().find(|s| &s.id == id));
        let state = match state {
            Some(s) => json!({ "id": s.id, "name": s.name, "type": s.kind }),
            None => json!({ "id": "state-default", "name": DEFAULT_STATE_NAME, "type": "backlog" }),
        };
        json!({
            "id": issue.id, "identifier": issue.identifier, "url": issue.url, "title": issue.title,
            "number": issue.number,
            "team": { "id": issue.team_id, "key": self.team_key(&issue.team_id) },
            "state": state,
            "labelIds": issue.label_ids,
            "branchName": branch_name(&issue.identifier, &issue.title),
            "attachments": { "nodes": issue.attachments.iter().map(|(url, source)| {
                json!({ "url": url, "sourceType": source })
            }).collect::<Vec<_>>() },
        })
    }

    /// `workflowStates(filter:)` for `team.id.eq` and `type.eq`, in the order states were added
    /// (not by position: choosing is the client's job).
    fn find_states(&self, filter: &Value) -> ResponseTemplate {
        let Some(fields) = filter.as_object() else {
            return unsupported_filter();
        };
        let (mut team_id, mut kind) = (None, None);
        for (field, value) in fields {
            match (
                field.as_str(),
                value["id"]["eq"].as_str(),
                value["eq"].as_str(),
            ) {
                ("team", Some(id), _) => team_id = Some(id),
                ("type", _, Some(k)) => kind = Some(k),
                _ => return unsupported_filter(),
            }
        }
        let nodes: Vec<Value> = self
            .states
            .iter()
            .filter(|s| team_id.is_none_or(|t| s.team_id == t))
            .filter(|s| kind.is_none_or(|k| s.kind == k))
            .map(|s| json!({ "id": s.id, "name": s.name, "position": s.position, "type": s.kind }))
            .collect();
        ResponseTemplate::new(200)
            .set_body_json(json!({ "data": { "workflowStates": { "nodes": nodes } } }))
    }

    /// `issueUpdate`: `stateId`, `addedLabelIds`, `removedLabelIds`, and `labelIds` (which
    /// replaces the whole set).
    fn update_issue(&mut self, variables: &Value) -> ResponseTemplate {
        let wanted = variables["id"].as_str().unwrap_or_default();
        let input = &variables["input"];
        let Some(index) = self.issue_index(wanted) else {
            return graphql_error(200, "Entity not found: Issue", "invalid input");
        };
        let team_id = self.issues[index].team_id.clone();
        if let Some(state_id) = input.get("stateId") {
            let known = self
                .states
                .iter()
                .any(|s| Some(s.id.as_str()) == state_id.as_str() && s.team_id == team_id);
            if !known {
                return graphql_error(200, "Entity not found: WorkflowState", "invalid input");
            }
        }
        let mut labels: Vec<(String, String)> = {
            let issue = &self.issues[index];
            issue
                .label_ids
                .iter()
                .cloned()
                .zip(issue.label_names.iter().cloned())
                .collect()
        };
        if let Some(replacement) = input.get("labelIds") {
            labels.clear();
            for id in replacement.as_array().into_iter().flatten() {
                let Some(name) = self.usable_label(id, &team_id) else {
                    return graphql_error(200, "Entity not found: IssueLabel", "invalid input");
                };
                labels.push((id.as_str().unwrap_or_default().to_owned(), name));
            }
        }
        for id in input["addedLabelIds"].as_array().into_iter().flatten() {
            let Some(name) = self.usable_label(id, &team_id) else {
                return graphql_error(200, "Entity not found: IssueLabel", "invalid input");
            };
            if !labels.iter().any(|(l, _)| Some(l.as_str()) == id.as_str()) {
                labels.push((id.as_str().unwrap_or_default().to_owned(), name));
            }
        }
        for id in input["removedLabelIds"].as_array().into_iter().flatten() {
            labels.retain(|(l, _)| Some(l.as_str()) != id.as_str());
        }
        let issue = &mut self.issues[index];
        if let Some(state_id) = input["stateId"].as_str() {
            issue.state_id = Some(state_id.to_owned());
        }
        (issue.label_ids, issue.label_names) = labels.into_iter().unzip();
        let node = json!({ "id": issue.id, "identifier": issue.identifier, "url": issue.url });
        ResponseTemplate::new(200)
            .set_body_json(json!({ "data": { "issueUpdate": { "success": true, "issue": node } } }))
    }

    /// `commentCreate` under a client-chosen id; a taken id is refused as Linear refuses it.
    fn create_comment(&mut self, input: &Value) -> ResponseTemplate {
        if self.comment_outage {
            return graphql_error(500, "Internal server error", "internal error");
        }
        let Some(issue_id) = input["issueId"].as_str() else {
            return graphql_error(
                200,
                "Argument Validation Error: issueId is required",
                "invalid input",
            );
        };
        let Some(issue) = self.issue(issue_id) else {
            return graphql_error(200, "Entity not found: Issue", "invalid input");
        };
        let issue_id = issue.id.clone();
        let id = input["id"]
            .as_str()
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        if self.comments.iter().any(|c| c.id == id) {
            return graphql_error(200, "Entity already exists", "invalid input");
        }
        let body = input["body"].as_str().unwrap_or_default().to_owned();
        self.comments.push(FakeComment {
            id: id.clone(),
            issue_id,
            body: body.clone(),
        });
        if self.lost_comment_replies > 0 {
            self.lost_comment_replies -= 1;
            return graphql_error(500, "Internal server error", "internal error");
        }
        ResponseTemplate::new(200).set_body_json(json!({ "data": { "commentCreate": {
            "success": true, "comment": { "id": id, "body": body },
        } } }))
    }

    /// `comment(id:)`: `Comment!`, so a missing one is an error, as for `issue(id:)`.
    fn find_comment(&self, variables: &Value) -> ResponseTemplate {
        let wanted = variables["id"].as_str().unwrap_or_default();
        let Some(comment) = self.comments.iter().find(|c| c.id == wanted) else {
            return graphql_error(200, "Entity not found: Comment", "invalid input");
        };
        let issue = self
            .issue(&comment.issue_id)
            .map(|i| json!({ "id": i.id, "identifier": i.identifier }));
        ResponseTemplate::new(200).set_body_json(json!({ "data": { "comment": {
            "id": comment.id, "body": comment.body, "issue": issue,
        } } }))
    }

    fn find_issue(&self, variables: &Value) -> ResponseTemplate {
        let wanted = variables["id"].as_str().unwrap_or_default();
        match self.issue(wanted) {
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

/// Linear's suggested branch name in its default form: the identifier and the title, lower-cased,
/// runs of anything else turned into one dash (`sec-123-rotate-the-deploy-key`).
pub fn branch_name(identifier: &str, title: &str) -> String {
    let mut out = identifier.to_lowercase();
    let mut dash = true;
    out.push('-');
    for c in title.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
            dash = false;
        } else if !dash {
            out.push('-');
            dash = true;
        }
    }
    out.trim_end_matches('-').to_owned()
}

fn unsupported_filter() -> ResponseTemplate {
    graphql_error(
        400,
        "This fake does not support that filter",
        "graphql error",
    )
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
