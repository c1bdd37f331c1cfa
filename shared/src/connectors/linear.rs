//! Linear GraphQL connector: files issues under client-chosen ids (so a retried filing never
//! makes a second issue), finds them again (by that id or by a human key like `SEC-123`),
//! resolves label names to label ids, and closes issues as audited with a comment posted under a
//! client-chosen id (so a retried comment never appears twice).

use std::collections::HashMap;
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::connectors::credentials::{ConnectorError, Service, sensitive_header};
use crate::http::{self, HttpError, HttpResponse, RetryPolicy, Verdict};
use crate::ports::TrackerError;
use crate::secrets::{Credentials, SecretStore};

/// Linear's public GraphQL endpoint.
pub const DEFAULT_API_URL: &str = "https://api.linear.app/graphql";

const SERVICE: &str = "linear";

const CREATE_ISSUE: &str = "mutation($input: IssueCreateInput!) { \
     issueCreate(input: $input) { success issue { id identifier url } } }";

const FIND_ISSUE: &str = "query($id: String!) { issue(id: $id) { id identifier url } }";

const FIND_LABELS: &str = "query($name: String!) { \
     issueLabels(filter: { name: { eqIgnoreCase: $name } }, first: 50) { \
     nodes { id name team { id } } } }";

const CREATE_LABEL: &str = "mutation($input: IssueLabelCreateInput!) { \
     issueLabelCreate(input: $input) { success issueLabel { id } } }";

// The filter travels as a variable (`{ team: { key: { eq } }, number: { eq } }`): the schema-backed
// way to find `SEC-123`, where `issue(id:)` accepting the human key is only third-party lore.
const FIND_BY_NUMBER: &str = "query($filter: IssueFilter!) { \
     issues(filter: $filter, first: 1) { \
     nodes { id identifier url title team { id key } state { name type } labelIds branchName \
     attachments(first: 50) { nodes { url sourceType } } } } }";

const FIND_STATES: &str = "query($filter: WorkflowStateFilter!) { \
     workflowStates(filter: $filter, first: 50) { nodes { id name position } } }";

const UPDATE_ISSUE: &str = "mutation($id: String!, $input: IssueUpdateInput!) { \
     issueUpdate(id: $id, input: $input) { success } }";

const CREATE_COMMENT: &str = "mutation($input: CommentCreateInput!) { \
     commentCreate(input: $input) { success comment { id } } }";

const FIND_COMMENT: &str =
    "query($id: String!) { comment(id: $id) { id issue { id identifier } } }";

/// Where issues go.
#[derive(Debug, Clone)]
pub struct LinearConfig {
    /// The GraphQL endpoint ([`DEFAULT_API_URL`] outside tests).
    pub base_url: String,
    pub team_id: String,
    pub project_id: Option<String>,
    pub retry: RetryPolicy,
}

/// An existing Linear issue, as the audit trail needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinearIssue {
    pub id: String,
    /// The human key, e.g. `SEC-123`.
    pub identifier: String,
    pub url: String,
    pub title: String,
    pub team_id: String,
    pub team_key: String,
    /// The workflow state's type: `triage`, `backlog`, `unstarted`, `started`, `completed`,
    /// `canceled` or `duplicate`.
    pub state_type: String,
    pub state_name: String,
    pub label_ids: Vec<String>,
    /// The branch name Linear suggests for the issue (`alice/sec-123-rotate-keys`).
    pub branch_name: String,
    /// The issue's attachments (the first 50), as `(url, sourceType)`: Linear's GitLab
    /// integration attaches each MR it links to the issue, with the MR's URL.
    pub attachments: Vec<(String, String)>,
}

/// An issue as Linear identifies it: its id, its human key (`SEC-123`) and its page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRef {
    pub id: String,
    pub identifier: String,
    pub url: String,
}

/// An issue to create under a client-chosen id.
#[derive(Debug, Clone, Copy)]
pub struct IssueDraft<'a> {
    pub id: Uuid,
    pub title: &'a str,
    pub description: &'a str,
    /// Linear priority: 1 urgent .. 4 low.
    pub priority: i32,
    /// Label names; missing labels are created.
    pub labels: &'a [String],
}

impl LinearConfig {
    /// The public endpoint, no project, the default retry policy.
    pub fn new(team_id: impl Into<String>) -> Self {
        Self {
            base_url: DEFAULT_API_URL.to_owned(),
            team_id: team_id.into(),
            project_id: None,
            retry: RetryPolicy::default(),
        }
    }
}

/// A Linear client for one team.
pub struct LinearClient {
    http: reqwest::Client,
    secrets: Arc<SecretStore>,
    config: LinearConfig,
    /// Label ids by (team, lowercase name), no team for workspace labels: Linear matches label
    /// names case-insensitively.
    labels: Mutex<HashMap<(Option<String>, String), String>>,
    /// Each team's completed state by team id: it rarely changes, and every close needs it.
    completed_states: SyncMutex<HashMap<String, String>>,
}

impl LinearClient {
    pub fn new(http: reqwest::Client, secrets: Arc<SecretStore>, config: LinearConfig) -> Self {
        Self {
            http,
            secrets,
            config,
            labels: Mutex::new(HashMap::new()),
            completed_states: SyncMutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &LinearConfig {
        &self.config
    }

    /// The id of the label with this name usable in the team (a workspace label or the team's
    /// own), created in the team if missing. Cached for the life of the client.
    pub async fn ensure_label(&self, name: &str) -> Result<String, TrackerError> {
        self.label_id(name, Some(&self.config.team_id)).await
    }

    /// The id of the label with this name. With a team: a workspace label or that team's own,
    /// created in that team if missing. Without: a workspace label, created in the workspace if
    /// missing. Cached for the life of the client.
    #[tracing::instrument(skip_all, fields(label = name, team = team_id))]
    pub async fn label_id(
        &self,
        name: &str,
        team_id: Option<&str>,
    ) -> Result<String, TrackerError> {
        // Held across the lookup so two callers in this process never both create the label.
        let mut cache = self.labels.lock().await;
        let key = (team_id.map(str::to_owned), name.to_lowercase());
        if let Some(id) = cache.get(&key) {
            return Ok(id.clone());
        }
        let id = self.find_or_create_label(name, team_id).await?;
        cache.insert(key, id.clone());
        Ok(id)
    }

    async fn find_or_create_label(
        &self,
        name: &str,
        team_id: Option<&str>,
    ) -> Result<String, TrackerError> {
        if let Some(id) = self.find_label(name, team_id).await? {
            return Ok(id);
        }
        match self.create_label(name, team_id).await {
            Ok(id) => {
                tracing::info!(label = name, team = team_id, "created Linear label");
                Ok(id)
            }
            // Most likely someone created it between our lookup and our create.
            Err(CallError::Graphql(errors)) => self
                .find_label(name, team_id)
                .await?
                .ok_or_else(|| rejected(&errors)),
            Err(CallError::Tracker(e)) => Err(e),
        }
    }

    async fn find_label(
        &self,
        name: &str,
        team_id: Option<&str>,
    ) -> Result<Option<String>, TrackerError> {
        let data: LabelsData = self
            .call("issueLabels", FIND_LABELS, json!({ "name": name }))
            .await
            .map_err(CallError::into_tracker)?;
        // The lookup returns workspace labels and every team's labels alike.
        Ok(data
            .issue_labels
            .nodes
            .into_iter()
            .find(|label| match (&label.team, team_id) {
                (None, _) => true,
                (Some(owner), Some(team)) => owner.id == team,
                (Some(_), None) => false,
            })
            .map(|label| label.id))
    }

    async fn create_label(&self, name: &str, team_id: Option<&str>) -> Result<String, CallError> {
        let mut input = json!({ "name": name });
        if let Some(team) = team_id {
            input["teamId"] = json!(team);
        }
        let data: LabelCreateData = self
            .call("issueLabelCreate", CREATE_LABEL, json!({ "input": input }))
            .await?;
        match data.issue_label_create {
            LabelPayload {
                success: true,
                issue_label: Some(label),
            } => Ok(label.id),
            _ => Err(CallError::Graphql(vec![GraphqlError::plain(
                "issueLabelCreate did not succeed",
            )])),
        }
    }

    /// The issue with this human key (`SEC-123`), or `None` if there is none (or it is archived).
    /// Anything not shaped like a team key, a dash and a positive number is refused before
    /// calling Linear; the team key is matched in upper case, as Linear writes it.
    #[tracing::instrument(skip_all, fields(identifier = identifier))]
    pub async fn issue_by_identifier(
        &self,
        identifier: &str,
    ) -> Result<Option<LinearIssue>, TrackerError> {
        let wanted = IssueKey::parse(identifier)?;
        let filter = json!({
            "team": { "key": { "eq": wanted.team_key } },
            "number": { "eq": wanted.number },
        });
        let data: IssuesData = self
            .call("issues", FIND_BY_NUMBER, json!({ "filter": filter }))
            .await
            .map_err(CallError::into_tracker)?;
        Ok(data
            .issues
            .nodes
            .into_iter()
            .next()
            .map(IssueDetail::into_issue))
    }

    /// The id of the team's completed state with the lowest position (a team may have several,
    /// "Done" first). Cached per team for the life of the client.
    #[tracing::instrument(skip_all, fields(team = team_id))]
    pub async fn completed_state(&self, team_id: &str) -> Result<String, TrackerError> {
        if let Some(id) = lock(&self.completed_states).get(team_id) {
            return Ok(id.clone());
        }
        let filter = json!({
            "team": { "id": { "eq": team_id } },
            "type": { "eq": "completed" },
        });
        let data: StatesData = self
            .call("workflowStates", FIND_STATES, json!({ "filter": filter }))
            .await
            .map_err(CallError::into_tracker)?;
        let state = data
            .workflow_states
            .nodes
            .into_iter()
            .min_by(|a, b| a.position.total_cmp(&b.position))
            .ok_or_else(|| TrackerError::Rejected {
                service: SERVICE,
                message: format!("team {team_id} has no workflow state of type \"completed\""),
            })?;
        tracing::debug!(state = %state.name, "found the team's completed state");
        lock(&self.completed_states).insert(team_id.to_owned(), state.id.clone());
        Ok(state.id)
    }

    /// Move the issue to the completed state and add the label, keeping its other labels
    /// (`addedLabelIds` adds; `labelIds` would replace the set). Re-applying is harmless, so a
    /// retry needs no bookkeeping.
    #[tracing::instrument(skip_all, fields(identifier = %issue.identifier))]
    pub async fn close_as_audited(
        &self,
        issue: &LinearIssue,
        completed_state_id: &str,
        label_id: &str,
    ) -> Result<(), TrackerError> {
        let input = json!({ "stateId": completed_state_id, "addedLabelIds": [label_id] });
        let data: IssueUpdateData = self
            .call(
                "issueUpdate",
                UPDATE_ISSUE,
                json!({ "id": issue.id, "input": input }),
            )
            .await
            .map_err(CallError::into_tracker)?;
        if !data.issue_update.success {
            return Err(TrackerError::Rejected {
                service: SERVICE,
                message: "issueUpdate did not succeed".to_owned(),
            });
        }
        tracing::info!("closed Linear issue as audited");
        Ok(())
    }

    /// Comment on the issue (its id or its `SEC-123` key) under `comment_id`, a UUID the caller
    /// chose once and sends on every retry: if an earlier attempt got through and only its reply
    /// was lost, Linear refuses the id and the comment found under it is the answer.
    #[tracing::instrument(skip_all, fields(issue = issue_id, comment_id = comment_id))]
    pub async fn comment_once(
        &self,
        issue_id: &str,
        comment_id: &str,
        body: &str,
    ) -> Result<(), TrackerError> {
        if Uuid::parse_str(comment_id).is_err() {
            return Err(TrackerError::Rejected {
                service: SERVICE,
                message: format!("comment id {comment_id:?} is not a UUID"),
            });
        }
        let input = json!({ "id": comment_id, "issueId": issue_id, "body": body });
        let created: Result<CommentCreateData, _> = self
            .call("commentCreate", CREATE_COMMENT, json!({ "input": input }))
            .await;
        let refusal = match created {
            Ok(CommentCreateData {
                comment_create: SuccessPayload { success: true },
            }) => {
                tracing::info!("commented on Linear issue");
                return Ok(());
            }
            Ok(_) => TrackerError::Rejected {
                service: SERVICE,
                message: "commentCreate did not succeed".to_owned(),
            },
            // Nothing got through a rate limit; the caller's retry will settle it.
            Err(CallError::Tracker(e @ TrackerError::RateLimited { .. })) => return Err(e),
            Err(e) => e.into_tracker(),
        };
        self.adopt_comment(issue_id, comment_id, refusal).await
    }

    /// After a failed comment: if the id already exists on this issue, an earlier attempt got
    /// through.
    async fn adopt_comment(
        &self,
        issue_id: &str,
        comment_id: &str,
        refusal: TrackerError,
    ) -> Result<(), TrackerError> {
        let found: Result<CommentData, _> = self
            .call("comment", FIND_COMMENT, json!({ "id": comment_id }))
            .await;
        match found {
            Ok(CommentData {
                comment: Some(comment),
            }) => {
                let on_issue = comment.issue.is_some_and(|i| {
                    i.id == issue_id || i.identifier.eq_ignore_ascii_case(issue_id)
                });
                if on_issue {
                    tracing::info!("the comment already existed; not posting it again");
                    Ok(())
                } else {
                    Err(TrackerError::Rejected {
                        service: SERVICE,
                        message: format!("comment id {comment_id} belongs to another issue"),
                    })
                }
            }
            Ok(CommentData { comment: None }) => Err(refusal),
            Err(CallError::Graphql(errors)) if errors.iter().any(GraphqlError::is_not_found) => {
                Err(refusal)
            }
            // Transient: the caller's retry will settle it either way.
            Err(CallError::Tracker(
                e @ (TrackerError::RateLimited { .. } | TrackerError::Unavailable { .. }),
            )) => Err(e),
            Err(_) => Err(refusal),
        }
    }

    /// Label ids for these names, in order, without repeats.
    async fn label_ids(&self, names: &[String]) -> Result<Vec<String>, TrackerError> {
        let mut ids = Vec::with_capacity(names.len());
        for name in names {
            let id = self.ensure_label(name).await?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    fn create_input(&self, issue: &IssueDraft<'_>, label_ids: Vec<String>) -> Value {
        let mut input = json!({
            "id": issue.id.to_string(),
            "teamId": self.config.team_id,
            "title": issue.title,
            "description": issue.description,
            "priority": issue.priority,
            "labelIds": label_ids,
        });
        if let Some(project) = &self.config.project_id {
            input["projectId"] = json!(project);
        }
        input
    }

    /// After a refused create: if the id already exists, an earlier attempt got through and only
    /// its reply was lost, so that issue is the answer.
    async fn adopt_existing(
        &self,
        id: Uuid,
        refusal: TrackerError,
    ) -> Result<IssueRef, TrackerError> {
        match self.find_issue_by_id(id).await {
            Ok(Some(existing)) => {
                tracing::info!(
                    identifier = %existing.identifier,
                    "the issue already existed; reusing it"
                );
                Ok(existing)
            }
            Ok(None) => Err(refusal),
            // Transient: the next run's retry will settle it either way.
            Err(e @ (TrackerError::RateLimited { .. } | TrackerError::Unavailable { .. })) => {
                Err(e)
            }
            Err(TrackerError::Rejected { .. }) => Err(refusal),
        }
    }

    /// One GraphQL operation through the shared [`Service`] call, each reply parsed once, and
    /// the reply's `data` decoded as `T`.
    #[tracing::instrument(skip_all, fields(operation = operation))]
    async fn call<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        query: &'static str,
        variables: Value,
    ) -> Result<T, CallError> {
        let payload = json!({ "query": query, "variables": variables });
        let request = |auth: &HeaderValue| {
            self.http
                .post(&self.config.base_url)
                .header(AUTHORIZATION, auth.clone())
                .json(&payload)
        };
        let (response, reply) = Service::new(SERVICE, &self.secrets, self.config.retry)
            .send_and_read(
                authorization,
                request,
                Reply::parse,
                classify,
                is_auth_failure,
            )
            .await?;
        if is_auth_failure(&response, &reply) {
            return Err(CallError::Tracker(TrackerError::Rejected {
                service: SERVICE,
                message: format!(
                    "the API key was not accepted (HTTP {}), even after re-reading the secret",
                    response.status.as_u16()
                ),
            }));
        }
        decode(operation, &response, reply)
    }
}

impl LinearClient {
    #[tracing::instrument(skip_all, fields(issue_id = %id))]
    /// The issue created earlier under this client-chosen id, if it exists.
    pub async fn find_issue_by_id(&self, id: Uuid) -> Result<Option<IssueRef>, TrackerError> {
        let found: Result<FindIssueData, _> = self
            .call("issue", FIND_ISSUE, json!({ "id": id.to_string() }))
            .await;
        match found {
            Ok(data) => Ok(data.issue.map(IssueNode::into_ref)),
            Err(CallError::Graphql(errors)) if errors.iter().any(GraphqlError::is_not_found) => {
                Ok(None)
            }
            Err(e) => Err(e.into_tracker()),
        }
    }

    #[tracing::instrument(skip_all, fields(issue_id = %issue.id))]
    /// Create the issue under `issue.id`. A retry never makes a second one: when Linear refuses
    /// the id because an earlier attempt got through, that issue is the answer.
    pub async fn create_issue_once(
        &self,
        issue: &IssueDraft<'_>,
    ) -> Result<IssueRef, TrackerError> {
        let label_ids = self.label_ids(issue.labels).await?;
        let variables = json!({ "input": self.create_input(issue, label_ids) });
        let created: Result<IssueCreateData, _> =
            self.call("issueCreate", CREATE_ISSUE, variables).await;
        match created {
            Ok(IssueCreateData {
                issue_create:
                    IssuePayload {
                        success: true,
                        issue: Some(node),
                    },
            }) => {
                let filed = node.into_ref();
                tracing::info!(identifier = %filed.identifier, "created Linear issue");
                Ok(filed)
            }
            // The issue may exist all the same (an `issue` Linear would not show us).
            Ok(_) => {
                let refusal = TrackerError::Rejected {
                    service: SERVICE,
                    message: "issueCreate did not succeed".to_owned(),
                };
                self.adopt_existing(issue.id, refusal).await
            }
            Err(CallError::Graphql(errors)) => {
                self.adopt_existing(issue.id, rejected(&errors)).await
            }
            Err(CallError::Tracker(e)) => Err(e),
        }
    }
}

/// Read for the doctor: who the key acts as, and the teams it sees with their workflow states.
const OVERVIEW: &str = "query { viewer { id name } \
     teams(first: 250) { nodes { id key name states(first: 100) { nodes { name type } } } } }";

const FIND_PROJECT: &str = "query($id: String!) { project(id: $id) { id name } }";

/// What a key sees of the workspace (read only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceOverview {
    /// The key's user (`viewer.name`).
    pub viewer: String,
    pub teams: Vec<TeamOverview>,
}

/// A team with its workflow states as `(name, type)`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TeamOverview {
    pub id: String,
    pub key: String,
    pub name: String,
    #[serde(deserialize_with = "state_nodes")]
    pub states: Vec<(String, String)>,
}

fn state_nodes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    #[derive(Deserialize)]
    struct Connection {
        nodes: Vec<StateNode>,
    }
    let connection = Connection::deserialize(d)?;
    Ok(connection
        .nodes
        .into_iter()
        .map(|s| (s.name, s.kind))
        .collect())
}

impl LinearClient {
    /// The key's user and every team it sees with its workflow states: one read-only query.
    #[tracing::instrument(skip_all)]
    pub async fn overview(&self) -> Result<WorkspaceOverview, TrackerError> {
        #[derive(Deserialize)]
        struct Data {
            viewer: Viewer,
            teams: Teams,
        }
        #[derive(Deserialize)]
        struct Viewer {
            name: String,
        }
        #[derive(Deserialize)]
        struct Teams {
            nodes: Vec<TeamOverview>,
        }
        let data: Data = self
            .call("overview", OVERVIEW, json!({}))
            .await
            .map_err(CallError::into_tracker)?;
        Ok(WorkspaceOverview {
            viewer: data.viewer.name,
            teams: data.teams.nodes,
        })
    }

    /// The name of the project with this id, or `None` when the key sees no such project.
    #[tracing::instrument(skip_all, fields(project = id))]
    pub async fn project_name(&self, id: &str) -> Result<Option<String>, TrackerError> {
        #[derive(Deserialize)]
        struct Data {
            project: Option<Project>,
        }
        #[derive(Deserialize)]
        struct Project {
            name: String,
        }
        let found: Result<Data, _> = self
            .call("project", FIND_PROJECT, json!({ "id": id }))
            .await;
        match found {
            Ok(data) => Ok(data.project.map(|p| p.name)),
            Err(CallError::Graphql(errors)) if errors.iter().any(GraphqlError::is_not_found) => {
                Ok(None)
            }
            Err(e) => Err(e.into_tracker()),
        }
    }
}

/// The `Authorization` header for the credentials' `linear_api_key`.
fn authorization(credentials: &Credentials) -> Result<HeaderValue, CallError> {
    let key = credentials
        .linear_api_key
        .as_ref()
        .ok_or_else(|| TrackerError::Rejected {
            service: SERVICE,
            message: "no linear_api_key in the credentials".to_owned(),
        })?;
    Ok(authorization_value(key)?)
}

/// A personal API key goes in raw; anything else is an OAuth token and needs `Bearer`.
fn authorization_value(key: &SecretString) -> Result<HeaderValue, TrackerError> {
    let key = key.expose_secret().trim();
    let text = if key.starts_with("lin_api_") || key.starts_with("Bearer ") {
        key.to_owned()
    } else {
        format!("Bearer {key}")
    };
    sensitive_header(&text).ok_or_else(|| TrackerError::Rejected {
        service: SERVICE,
        message: "linear_api_key contains characters not allowed in an HTTP header".to_owned(),
    })
}

/// Why a call failed: Linear's own GraphQL errors (callers decide what they mean), or a failure
/// already in the tracker's terms.
enum CallError {
    Graphql(Vec<GraphqlError>),
    Tracker(TrackerError),
}

impl CallError {
    fn into_tracker(self) -> TrackerError {
        match self {
            CallError::Graphql(errors) => rejected(&errors),
            CallError::Tracker(e) => e,
        }
    }
}

impl From<TrackerError> for CallError {
    fn from(e: TrackerError) -> Self {
        CallError::Tracker(e)
    }
}

impl ConnectorError for CallError {
    fn rate_limited(retry_after: Option<Duration>) -> Self {
        CallError::Tracker(TrackerError::RateLimited {
            service: SERVICE,
            retry_after,
        })
    }

    fn unavailable(message: String) -> Self {
        CallError::Tracker(TrackerError::Unavailable {
            service: SERVICE,
            message,
        })
    }

    /// As every connector reads it, but naming the failure without its causes.
    fn gave_up(error: HttpError) -> Self {
        let wait = error.rate_limit_wait();
        wait.map_or_else(|| Self::unavailable(error.to_string()), Self::rate_limited)
    }
}

/// `SEC-123` split for the `issues` filter.
#[derive(Debug, PartialEq, Eq)]
struct IssueKey {
    team_key: String,
    number: u32,
}

impl IssueKey {
    fn parse(text: &str) -> Result<Self, TrackerError> {
        let refuse = || TrackerError::Rejected {
            service: SERVICE,
            message: format!(
                "{text:?} is not a Linear issue identifier (expected a team key, a dash and a \
                 number, like SEC-123)"
            ),
        };
        let (key, number) = text.split_once('-').ok_or_else(refuse)?;
        let key_ok = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric());
        // Digits only: `parse` would also take a sign; Linear never writes leading zeros.
        let number_ok = !number.is_empty()
            && number.chars().all(|c| c.is_ascii_digit())
            && !number.starts_with('0');
        if !key_ok || !number_ok {
            return Err(refuse());
        }
        Ok(Self {
            team_key: key.to_ascii_uppercase(),
            number: number.parse().map_err(|_| refuse())?,
        })
    }
}

fn rejected(errors: &[GraphqlError]) -> TrackerError {
    let message = errors
        .iter()
        .map(GraphqlError::readable)
        .collect::<Vec<_>>()
        .join("; ");
    TrackerError::Rejected {
        service: SERVICE,
        message,
    }
}

fn decode<T: DeserializeOwned>(
    operation: &str,
    response: &HttpResponse,
    reply: Option<Reply>,
) -> Result<T, CallError> {
    let status = response.status;
    let unavailable = |message: String| {
        CallError::Tracker(TrackerError::Unavailable {
            service: SERVICE,
            message,
        })
    };
    // GraphQL errors count even on HTTP 200; and they say more than a bare 4xx status.
    if let Some(reply) = &reply
        && !reply.errors.is_empty()
    {
        return Err(CallError::Graphql(reply.errors.clone()));
    }
    if !status.is_success() {
        return Err(CallError::Tracker(TrackerError::Rejected {
            service: SERVICE,
            message: format!("HTTP {}: {}", status.as_u16(), response.excerpt()),
        }));
    }
    let data = reply
        .and_then(|r| r.data)
        .filter(|d| !d.is_null())
        .ok_or_else(|| {
            unavailable(format!(
                "{operation}: reply has no data: {}",
                response.excerpt()
            ))
        })?;
    // A surprise shape after a create may hide a created issue: Unavailable makes the caller
    // retry, and the retry adopts it.
    serde_json::from_value(data)
        .map_err(|e| unavailable(format!("{operation}: unexpected reply: {e}")))
}

fn is_auth_failure(response: &HttpResponse, reply: &Option<Reply>) -> bool {
    http::is_credentials_refusal(response.status)
        || reply
            .as_ref()
            .is_some_and(|r| r.errors.iter().any(GraphqlError::is_authentication))
}

/// The shared rules, and a rate limit waited out as Linear says (the wait is a floor:
/// `send_and_read` refuses one longer than the policy allows).
fn classify(response: &HttpResponse, reply: &Option<Reply>) -> Verdict {
    http::verdict_with(
        response,
        rate_limit_of(response, reply.as_ref(), SystemTime::now()),
    )
}

/// `Some(wait)` when the response is a rate limit (`wait` if Linear said how long), else `None`.
fn rate_limit_of(
    response: &HttpResponse,
    reply: Option<&Reply>,
    now: SystemTime,
) -> Option<Option<Duration>> {
    let limited = response.status == StatusCode::TOO_MANY_REQUESTS
        || (matches!(response.status, StatusCode::OK | StatusCode::BAD_REQUEST)
            && reply.is_some_and(|r| r.errors.iter().any(GraphqlError::is_rate_limit)));
    limited.then(|| rate_limit_wait(&response.headers, now))
}

/// `retry-after`, else until the later of the two budget resets.
fn rate_limit_wait(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(wait) = http::retry_after(headers) {
        return Some(wait);
    }
    ["x-ratelimit-requests-reset", "x-ratelimit-complexity-reset"]
        .iter()
        .filter_map(|name| reset_time(headers, name))
        .max()
        .and_then(|reset| reset.duration_since(now).ok())
}

/// A unix time in seconds, or in milliseconds as some deployments send it.
fn reset_time(headers: &HeaderMap, name: &str) -> Option<SystemTime> {
    let value: f64 = headers.get(name)?.to_str().ok()?.trim().parse().ok()?;
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    let since_epoch = if value > 1e11 {
        Duration::try_from_secs_f64(value / 1000.0).ok()?
    } else {
        Duration::try_from_secs_f64(value).ok()?
    };
    UNIX_EPOCH.checked_add(since_epoch)
}

fn lock<T>(mutex: &SyncMutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The envelope of every GraphQL reply.
#[derive(Deserialize)]
struct Reply {
    data: Option<Value>,
    #[serde(default, deserialize_with = "null_as_empty")]
    errors: Vec<GraphqlError>,
}

impl Reply {
    fn parse(response: &HttpResponse) -> Option<Reply> {
        serde_json::from_slice(&response.body).ok()
    }
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<GraphqlError>, D::Error> {
    Ok(Option::<Vec<GraphqlError>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, Default, Deserialize)]
struct GraphqlError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    extensions: Option<Extensions>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Extensions {
    code: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    user_presentable_message: Option<String>,
}

impl GraphqlError {
    fn plain(message: &str) -> Self {
        Self {
            message: message.to_owned(),
            extensions: None,
        }
    }

    fn readable(&self) -> String {
        self.extensions
            .as_ref()
            .and_then(|e| e.user_presentable_message.clone())
            .unwrap_or_else(|| self.message.clone())
    }

    /// `code` and `type`, normalised: Linear's SDK uses `type` ("ratelimited"), third-party
    /// reports show `code` ("RATELIMITED").
    fn classes(&self) -> impl Iterator<Item = String> + '_ {
        self.extensions
            .iter()
            .flat_map(|e| [e.code.as_deref(), e.kind.as_deref()])
            .flatten()
            .map(|c| c.to_ascii_lowercase().replace(['_', ' '], ""))
    }

    fn is_rate_limit(&self) -> bool {
        self.classes().any(|c| c == "ratelimited")
    }

    fn is_authentication(&self) -> bool {
        self.classes().any(|c| c == "authenticationerror")
    }

    fn is_not_found(&self) -> bool {
        self.message.to_ascii_lowercase().contains("not found")
            || self.classes().any(|c| c.contains("notfound"))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IssueCreateData {
    issue_create: IssuePayload,
}

#[derive(Deserialize)]
struct IssuePayload {
    success: bool,
    issue: Option<IssueNode>,
}

#[derive(Deserialize)]
struct FindIssueData {
    issue: Option<IssueNode>,
}

#[derive(Deserialize)]
struct IssueNode {
    id: String,
    identifier: String,
    url: String,
}

impl IssueNode {
    fn into_ref(self) -> IssueRef {
        IssueRef {
            id: self.id,
            identifier: self.identifier,
            url: self.url,
        }
    }
}

#[derive(Deserialize)]
struct IssuesData {
    issues: IssueDetailConnection,
}

#[derive(Deserialize)]
struct IssueDetailConnection {
    nodes: Vec<IssueDetail>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IssueDetail {
    id: String,
    identifier: String,
    url: String,
    title: String,
    team: TeamNode,
    state: StateNode,
    #[serde(default)]
    label_ids: Vec<String>,
    #[serde(default)]
    branch_name: Option<String>,
    #[serde(default)]
    attachments: Option<AttachmentConnection>,
}

#[derive(Deserialize)]
struct AttachmentConnection {
    #[serde(default)]
    nodes: Vec<AttachmentNode>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttachmentNode {
    #[serde(default)]
    url: String,
    #[serde(default)]
    source_type: Option<String>,
}

#[derive(Deserialize)]
struct TeamNode {
    id: String,
    key: String,
}

#[derive(Deserialize)]
struct StateNode {
    name: String,
    #[serde(rename = "type")]
    kind: String,
}

impl IssueDetail {
    fn into_issue(self) -> LinearIssue {
        LinearIssue {
            id: self.id,
            identifier: self.identifier,
            url: self.url,
            title: self.title,
            team_id: self.team.id,
            team_key: self.team.key,
            state_type: self.state.kind,
            state_name: self.state.name,
            label_ids: self.label_ids,
            branch_name: self.branch_name.unwrap_or_default(),
            attachments: self
                .attachments
                .map(|a| a.nodes)
                .unwrap_or_default()
                .into_iter()
                .map(|a| (a.url, a.source_type.unwrap_or_default()))
                .collect(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatesData {
    workflow_states: StateConnection,
}

#[derive(Deserialize)]
struct StateConnection {
    nodes: Vec<WorkflowStateNode>,
}

#[derive(Deserialize)]
struct WorkflowStateNode {
    id: String,
    name: String,
    position: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IssueUpdateData {
    issue_update: SuccessPayload,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommentCreateData {
    comment_create: SuccessPayload,
}

#[derive(Deserialize)]
struct SuccessPayload {
    success: bool,
}

#[derive(Deserialize)]
struct CommentData {
    comment: Option<CommentNode>,
}

#[derive(Deserialize)]
struct CommentNode {
    issue: Option<IssueKeyNode>,
}

#[derive(Deserialize)]
struct IssueKeyNode {
    id: String,
    identifier: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LabelsData {
    issue_labels: LabelConnection,
}

#[derive(Deserialize)]
struct LabelConnection {
    nodes: Vec<LabelNode>,
}

#[derive(Deserialize)]
struct LabelNode {
    id: String,
    team: Option<TeamRef>,
}

#[derive(Deserialize)]
struct TeamRef {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LabelCreateData {
    issue_label_create: LabelPayload,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LabelPayload {
    success: bool,
    issue_label: Option<LabelId>,
}

#[derive(Deserialize)]
struct LabelId {
    id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::test_support::{at, headers, response};

    #[test]
    fn retry_after_wins_and_else_the_later_reset_decides_the_wait() {
        let retry_after = [
            ("retry-after", "3"),
            ("x-ratelimit-requests-reset", "1000060"),
        ];
        let resets = [
            ("x-ratelimit-requests-reset", "1000010"),
            ("x-ratelimit-complexity-reset", "1000040"),
        ];
        for (pairs, wait) in [(&retry_after, 3), (&resets, 40)] {
            let wait = Some(Duration::from_secs(wait));
            assert_eq!(rate_limit_wait(&headers(pairs), at(1_000_000)), wait);
        }
    }

    #[test]
    fn absurd_reset_headers_do_not_panic() {
        for value in ["1e300", "1e20", "18446744073709551615"] {
            let h = headers(&[("x-ratelimit-requests-reset", value)]);
            let _ = rate_limit_wait(&h, SystemTime::now());
        }
    }

    #[test]
    fn reset_times_in_milliseconds_are_recognised() {
        let h = headers(&[("x-ratelimit-requests-reset", "1700000005000")]);
        assert_eq!(
            rate_limit_wait(&h, at(1_700_000_000)),
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn a_reset_in_the_past_leaves_the_wait_to_the_policy() {
        let h = headers(&[("x-ratelimit-requests-reset", "999990")]);
        assert_eq!(rate_limit_wait(&h, at(1_000_000)), None);
    }

    #[test]
    fn rate_limits_are_recognised_in_every_shape_linear_uses() {
        let limited = |status, body| {
            let answer = response(status, &[], body);
            rate_limit_of(&answer, Reply::parse(&answer).as_ref(), at(1_000_000))
        };
        assert_eq!(limited(429, ""), Some(None));
        let coded = r#"{"errors":[{"message":"slow down","extensions":{"code":"RATELIMITED"}}]}"#;
        assert_eq!(limited(400, coded), Some(None));
        let typed =
            r#"{"data":null,"errors":[{"message":"x","extensions":{"type":"Ratelimited"}}]}"#;
        assert_eq!(limited(200, typed), Some(None));
        let other = r#"{"errors":[{"message":"bad","extensions":{"type":"invalid input"}}]}"#;
        assert_eq!(limited(400, other), None);
        assert_eq!(limited(500, ""), None);
    }

    #[test]
    fn personal_keys_go_raw_and_tokens_as_bearer() {
        let raw = authorization_value(&SecretString::from("lin_api_abc")).unwrap();
        assert_eq!(raw.to_str().unwrap(), "lin_api_abc");
        assert!(raw.is_sensitive());
        let oauth = authorization_value(&SecretString::from("tok123")).unwrap();
        assert_eq!(oauth.to_str().unwrap(), "Bearer tok123");
    }

    #[test]
    fn an_unusable_key_is_refused_without_showing_it() {
        let err = authorization_value(&SecretString::from("lin_api_bad\nkey")).unwrap_err();
        assert!(!err.to_string().contains("lin_api_bad"), "{err}");
    }

    #[test]
    fn issue_keys_split_into_team_key_and_number() {
        assert_eq!(
            IssueKey::parse("SEC-123").unwrap(),
            IssueKey {
                team_key: "SEC".to_owned(),
                number: 123
            }
        );
        assert_eq!(IssueKey::parse("sec2-7").unwrap().team_key, "SEC2");
        for bad in [
            "",
            "SEC",
            "SEC-",
            "-1",
            "SEC-0",
            "SEC-01",
            "SEC-+1",
            "SEC--1",
            "SEC-1a",
            "SE C-1",
            " SEC-1",
            "SEC-1-2",
            "SÉC-1",
            "SEC-99999999999",
        ] {
            assert!(IssueKey::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn not_found_is_read_from_the_message_or_the_extensions() {
        assert!(GraphqlError::plain("Entity not found: Issue").is_not_found());
        let coded: GraphqlError =
            serde_json::from_str(r#"{"message":"x","extensions":{"code":"ENTITY_NOT_FOUND"}}"#)
                .unwrap();
        assert!(coded.is_not_found());
        assert!(!GraphqlError::plain("Argument validation error").is_not_found());
    }
}
