//! GitLab REST connector: reads a merge request and its approvals for the security MR audit
//! trail, on the shared HTTP client and retry policy.
//!
//! The contract, from `docs/contracts/gitlab.md` and GitLab's REST docs:
//! - `GET {base}/api/v4/projects/:id/merge_requests/:iid` and `…/:iid/approvals`, where `base` is
//!   `https://gitlab.com` or a self-managed host, possibly under a relative URL root
//!   (`https://example.com/gitlab`).
//! - The token goes in `PRIVATE-TOKEN`. 401/403 re-read the secret once, since it may have been
//!   rotated; 404 also means "exists, but the token cannot see it".
//! - 429 and 5xx are retried. A 429 is waited out as `Retry-After` (else `RateLimit-Reset`) says,
//!   but only when that wait fits the retry policy's `max_delay` (the shared rule of
//!   `http::send_with_retry`); a longer one comes back at once
//!   as [`GitLabError::RateLimited`]. No limit is hard-coded: GitLab announces its own in the
//!   `RateLimit-*` headers, and a low `RateLimit-Remaining` is logged.
//!
//! Bodies are read tolerantly (unknown fields ignored, `null` taken as absent): GitLab adds
//! fields across versions, and `merge_user` (newer) supersedes `merged_by` (deprecated).
//!
//! The token is never logged or put in an error, nor are URLs. The shared client follows
//! redirects only within the same origin (reqwest would strip only its standard credential
//! headers on a cross-host redirect, not `PRIVATE-TOKEN`), and plain `http` is refused except to
//! a loopback host.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use reqwest::header::{ACCEPT, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::connectors::credentials::{Service, connector_error, present, sensitive_header};
use crate::http::{self, HttpResponse, RetryPolicy, Verdict};
use crate::secrets::{Credentials, SecretStore};

/// GitLab.com.
pub const DEFAULT_BASE_URL: &str = "https://gitlab.com";

/// The header GitLab reads a personal, project or group access token from.
pub const TOKEN_HEADER: &str = "PRIVATE-TOKEN";

const SERVICE: &str = "gitlab";
const API_PREFIX: [&str; 2] = ["api", "v4"];
const RATE_LIMIT_LIMIT: &str = "ratelimit-limit";
const RATE_LIMIT_REMAINING: &str = "ratelimit-remaining";
const RATE_LIMIT_RESET: &str = "ratelimit-reset";
/// `RateLimit-Remaining` at or below this share of `RateLimit-Limit` is logged.
const LOW_REMAINING_PERCENT: u64 = 10;
/// Hosts that may be reached over plain `http` (a local fake in tests).
const LOOPBACK_NAMES: &[&str] = &["localhost"];
/// Longest piece of upstream text put in an error.
const EXCERPT_CHARS: usize = 200;

/// Where GitLab is and how patiently to call it.
#[derive(Debug, Clone)]
pub struct GitLabConfig {
    /// [`DEFAULT_BASE_URL`] or a self-managed host, with its relative URL root if any
    /// (`https://example.com/gitlab`); `/api/v4` is appended (and not doubled if already there).
    pub base_url: String,
    pub retry: RetryPolicy,
}

impl GitLabConfig {
    /// This host, the default retry policy.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            retry: RetryPolicy::default(),
        }
    }
}

/// A GitLab user as merge requests and approvals show one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GitLabUser {
    pub id: u64,
    pub username: String,
    /// The display name (empty when GitLab sends none).
    pub name: String,
}

/// The parts of a merge request the audit trail records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MergeRequest {
    /// Instance-wide id.
    pub id: u64,
    /// The `!iid` within the project.
    pub iid: u64,
    pub project_id: u64,
    pub title: String,
    pub description: Option<String>,
    pub source_branch: String,
    pub target_branch: String,
    pub web_url: String,
    /// `references.full`: how GitLab names the MR, `group/project!12` (absent before 12.6).
    pub reference: Option<String>,
    /// `opened`, `closed`, `merged` or `locked`.
    pub state: String,
    pub author: GitLabUser,
    /// Who merged it: `merge_user` when GitLab sends it, else the deprecated `merged_by`.
    pub merged_by: Option<GitLabUser>,
    pub merged_at: Option<DateTime<Utc>>,
    pub reviewers: Vec<GitLabUser>,
    /// Label names.
    pub labels: Vec<String>,
}

/// A merge request's approvals (`GET …/approvals`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Approvals {
    /// Everyone who approved, whether or not an approval rule counts them.
    pub approved_by: Vec<GitLabUser>,
    pub approvals_required: Option<u32>,
    pub approvals_left: Option<u32>,
    /// Absent on older GitLab.
    pub approved: Option<bool>,
}

/// A project as `GET /projects/:id` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProjectSummary {
    pub id: u64,
    pub path_with_namespace: String,
}

/// Why a GitLab call failed. No variant carries the token or a URL.
#[derive(Debug, thiserror::Error)]
pub enum GitLabError {
    /// 404: missing, or not visible to the token (GitLab does not tell the two apart).
    #[error("gitlab: {what} not found (or not visible to the token)")]
    NotFound { what: String },
    /// 401/403, even after re-reading the secret.
    #[error(
        "gitlab: the token was refused (HTTP {status}), even after re-reading the secret; it may be wrong, expired, revoked or lack the read_api scope"
    )]
    Auth { status: u16 },
    /// Still 429 when the retries ran out, or GitLab asked for a longer wait than the retry
    /// policy allows; `retry_after` is that wait when GitLab said.
    #[error("gitlab: rate limited{}", http::wait_hint("GitLab", .retry_after))]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx, 408, transport failure or the invocation deadline, after the retries.
    #[error("gitlab: unavailable: {0}")]
    Unavailable(String),
    /// Any other 4xx; `message` is the start of GitLab's message.
    #[error("gitlab: request refused (HTTP {status}): {message}")]
    Api { status: u16, message: String },
    #[error("gitlab: no gitlab_token in the credentials")]
    MissingToken,
    /// Local configuration GitLab could never accept (an unusable base URL or token).
    #[error("gitlab: misconfigured: {0}")]
    Misconfigured(String),
    /// A success whose body is not what the API documents.
    #[error("gitlab: unexpected reply: {0}")]
    Malformed(String),
}

connector_error!(GitLabError);

/// A GitLab REST client for one instance.
pub struct GitLabClient {
    http: reqwest::Client,
    secrets: Arc<SecretStore>,
    config: GitLabConfig,
    /// `{base_url}/api/v4`, or why the base URL is refused; checked once, reported on each call.
    api: Result<Url, String>,
}

impl GitLabClient {
    pub fn new(http: reqwest::Client, secrets: Arc<SecretStore>, config: GitLabConfig) -> Self {
        let api = api_root(&config.base_url);
        if let Err(why) = &api {
            tracing::warn!(%why, "GitLab base URL refused; every call will fail");
        }
        Self {
            http,
            secrets,
            config,
            api,
        }
    }

    pub fn config(&self) -> &GitLabConfig {
        &self.config
    }

    /// `GET /projects/:id/merge_requests/:iid`.
    #[tracing::instrument(skip_all, fields(project_id = project_id, iid = iid))]
    pub async fn merge_request(
        &self,
        project_id: u64,
        iid: u64,
    ) -> Result<MergeRequest, GitLabError> {
        let what = || format!("merge request !{iid} of project {project_id}");
        let wire: MergeRequestWire = self.get(&mr_segments(project_id, iid, None), what).await?;
        wire.into_merge_request()
    }

    /// `GET /projects/:id/merge_requests/:iid/approvals`.
    #[tracing::instrument(skip_all, fields(project_id = project_id, iid = iid))]
    pub async fn approvals(&self, project_id: u64, iid: u64) -> Result<Approvals, GitLabError> {
        let what = || format!("approvals of merge request !{iid} of project {project_id}");
        let segments = mr_segments(project_id, iid, Some("approvals"));
        let wire: ApprovalsWire = self.get(&segments, what).await?;
        Ok(wire.into_approvals())
    }

    /// `GET /user`: who the token acts as (its username).
    #[tracing::instrument(skip_all)]
    pub async fn current_user(&self) -> Result<GitLabUser, GitLabError> {
        let what = || "the token's user".to_owned();
        let wire: UserWire = self.get(&["user".to_owned()], what).await?;
        Ok(GitLabUser::from(wire))
    }

    /// `GET /projects/:id` by id or by `group/project` path: the project's id and path.
    #[tracing::instrument(skip_all, fields(project = id_or_path))]
    pub async fn project(&self, id_or_path: &str) -> Result<ProjectSummary, GitLabError> {
        let what = || format!("project {id_or_path}");
        let segments = ["projects".to_owned(), id_or_path.to_owned()];
        self.get(&segments, what).await
    }

    /// The iid of the project's most recently created merge request, if it has any
    /// (`GET /projects/:id/merge_requests?per_page=1`).
    #[tracing::instrument(skip_all, fields(project_id = project_id))]
    pub async fn latest_merge_request(&self, project_id: u64) -> Result<Option<u64>, GitLabError> {
        #[derive(Deserialize)]
        struct Listed {
            iid: u64,
        }
        let what = || format!("merge requests of project {project_id}");
        let segments = [
            "projects".to_owned(),
            project_id.to_string(),
            "merge_requests".to_owned(),
        ];
        let query = [
            ("per_page", "1"),
            ("order_by", "created_at"),
            ("sort", "desc"),
        ];
        let listed: Vec<Listed> = self.get_with_query(&segments, &query, what).await?;
        Ok(listed.first().map(|mr| mr.iid))
    }

    /// One logical GET through the shared [`Service`] call, the final status turned into an
    /// error unless it is a success, and the body decoded as `T`.
    async fn get<T: DeserializeOwned>(
        &self,
        segments: &[String],
        what: impl Fn() -> String,
    ) -> Result<T, GitLabError> {
        self.get_with_query(segments, &[], what).await
    }

    /// [`Self::get`] with query parameters.
    async fn get_with_query<T: DeserializeOwned>(
        &self,
        segments: &[String],
        query: &[(&str, &str)],
        what: impl Fn() -> String,
    ) -> Result<T, GitLabError> {
        let mut url = self.endpoint(segments)?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let request = |token: &HeaderValue| {
            self.http
                .get(url.clone())
                .header(TOKEN_HEADER, token.clone())
                .header(ACCEPT, "application/json")
        };
        let response = Service::new(SERVICE, &self.secrets, self.config.retry)
            .send(token_header, request, classify)
            .await?;
        check_status(&response, what)?;
        serde_json::from_slice(&response.body)
            .map_err(|e| GitLabError::Malformed(format!("{}: {e}", what_of(segments))))
    }

    fn endpoint(&self, segments: &[String]) -> Result<Url, GitLabError> {
        let mut url = self.api.clone().map_err(GitLabError::Misconfigured)?;
        url.path_segments_mut()
            .map_err(|()| GitLabError::Misconfigured("base_url cannot be a base".to_owned()))?
            .extend(segments);
        Ok(url)
    }
}

/// `{base_url}/api/v4` (once, even if `base_url` already ends with it), or why it is refused.
/// Errors name neither the URL nor its parts: a URL may carry userinfo.
fn api_root(base_url: &str) -> Result<Url, String> {
    let mut url = Url::parse(base_url.trim()).map_err(|e| format!("base_url is not a URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err("base_url must be https (the token would travel in clear text)".to_owned());
        }
        _ => return Err("base_url must be an https URL".to_owned()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("base_url must not carry credentials".to_owned());
    }
    url.set_query(None);
    url.set_fragment(None);
    let has_prefix = {
        let segments: Vec<&str> = url
            .path_segments()
            .map(|s| s.filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        segments.ends_with(&API_PREFIX)
    };
    {
        let mut segments = url
            .path_segments_mut()
            .map_err(|()| "base_url cannot be a base".to_owned())?;
        segments.pop_if_empty();
        if !has_prefix {
            segments.extend(API_PREFIX);
        }
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    LOOPBACK_NAMES.contains(&bare.to_ascii_lowercase().as_str())
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn mr_segments(project_id: u64, iid: u64, tail: Option<&str>) -> Vec<String> {
    let mut segments = vec![
        "projects".to_owned(),
        project_id.to_string(),
        "merge_requests".to_owned(),
        iid.to_string(),
    ];
    segments.extend(tail.map(str::to_owned));
    segments
}

/// What a path asks for, for error messages (the path holds nothing secret, the host is left out).
fn what_of(segments: &[String]) -> String {
    format!("GET /{}", segments.join("/"))
}

/// `PRIVATE-TOKEN: <token>`, marked sensitive so it is redacted from any debug output.
fn token_header(credentials: &Credentials) -> Result<HeaderValue, GitLabError> {
    let token = present(&credentials.gitlab_token).ok_or(GitLabError::MissingToken)?;
    sensitive_header(token).ok_or_else(|| {
        GitLabError::Misconfigured(
            "gitlab_token contains characters not allowed in an HTTP header".to_owned(),
        )
    })
}

/// `Some(wait)` when the response is a 429 (`wait` if GitLab said how long), else `None`.
fn rate_limit_of(response: &HttpResponse, now: SystemTime) -> Option<Option<Duration>> {
    (response.status == StatusCode::TOO_MANY_REQUESTS).then(|| rate_limit_wait(response, now))
}

/// `Retry-After`, else until `RateLimit-Reset` (unix seconds).
fn rate_limit_wait(response: &HttpResponse, now: SystemTime) -> Option<Duration> {
    http::retry_after_or_reset(response, RATE_LIMIT_RESET, now)
}

/// The shared rules, with GitLab's reset header standing in for a missing `Retry-After` on a
/// 429. A rate limit is waited out only when GitLab's wait fits within the policy's
/// `max_delay`; a low remaining budget is logged.
fn classify(response: &HttpResponse) -> Verdict {
    log_low_remaining(response);
    http::verdict_with(response, rate_limit_of(response, SystemTime::now()))
}

/// A debug line when `RateLimit-Remaining` is low relative to `RateLimit-Limit` (or zero when
/// the limit is not announced).
fn log_low_remaining(response: &HttpResponse) {
    let number = |name: &str| -> Option<u64> { response.header(name)?.trim().parse().ok() };
    let Some(remaining) = number(RATE_LIMIT_REMAINING) else {
        return;
    };
    let limit = number(RATE_LIMIT_LIMIT);
    let low = match limit {
        Some(limit) => remaining.saturating_mul(100) <= limit.saturating_mul(LOW_REMAINING_PERCENT),
        None => remaining == 0,
    };
    if low {
        tracing::debug!(
            remaining,
            limit,
            name = response.header("ratelimit-name").unwrap_or("-"),
            reset = response.header(RATE_LIMIT_RESET).unwrap_or("-"),
            "gitlab rate limit running low"
        );
    }
}

/// The final answer's status as an error, unless it is a success.
fn check_status(response: &HttpResponse, what: impl Fn() -> String) -> Result<(), GitLabError> {
    let status = response.status;
    if status.is_success() {
        return Ok(());
    }
    if http::is_credentials_refusal(status) {
        // GitLab's own text is left out: messages about credentials may quote them.
        return Err(GitLabError::Auth {
            status: status.as_u16(),
        });
    }
    match status {
        StatusCode::NOT_FOUND => {
            tracing::debug!(message = %error_message(response), "gitlab: not found");
            Err(GitLabError::NotFound { what: what() })
        }
        // Only here when GitLab's wait is longer than the policy allows.
        StatusCode::TOO_MANY_REQUESTS => Err(GitLabError::RateLimited {
            retry_after: rate_limit_wait(response, SystemTime::now()),
        }),
        s if s.is_client_error() => Err(GitLabError::Api {
            status: s.as_u16(),
            message: error_message(response),
        }),
        s => Err(GitLabError::Unavailable(format!(
            "unexpected HTTP {}: {}",
            s.as_u16(),
            error_message(response)
        ))),
    }
}

/// GitLab's error bodies: `{"message": "..."}`, `{"message": {field: [..]}}` (validation) or
/// `{"error": "...", "error_description": "..."}` (OAuth-style).
#[derive(Deserialize)]
struct ErrorBody {
    message: Option<Value>,
    error: Option<String>,
    error_description: Option<String>,
}

/// GitLab's message when the body is an error body, else the start of the (trimmed) body.
fn error_message(response: &HttpResponse) -> String {
    let parsed = serde_json::from_slice::<ErrorBody>(&response.body)
        .ok()
        .and_then(|body| match body.message {
            Some(Value::String(message)) => Some(message),
            Some(Value::Null) | None => body.error_description.or(body.error),
            Some(other) => Some(other.to_string()),
        });
    let message =
        parsed.unwrap_or_else(|| String::from_utf8_lossy(&response.body).trim().to_owned());
    response.error_text(Some(message), EXCERPT_CHARS)
}

/// `null` read as the type's default (serde's `default` alone only covers a missing field).
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
struct UserWire {
    id: u64,
    #[serde(default, deserialize_with = "null_default")]
    username: String,
    #[serde(default, deserialize_with = "null_default")]
    name: String,
}

impl From<UserWire> for GitLabUser {
    fn from(user: UserWire) -> Self {
        GitLabUser {
            id: user.id,
            username: user.username,
            name: user.name,
        }
    }
}

/// A label as a name (the default) or as an object (`with_labels_details=true`).
#[derive(Deserialize)]
#[serde(untagged)]
enum LabelWire {
    Name(String),
    Detailed { name: String },
}

impl LabelWire {
    fn into_name(self) -> String {
        match self {
            LabelWire::Name(name) | LabelWire::Detailed { name } => name,
        }
    }
}

/// `GET …/merge_requests/:iid` as GitLab sends it; fields not read here are ignored.
#[derive(Deserialize)]
struct MergeRequestWire {
    id: u64,
    iid: u64,
    project_id: u64,
    #[serde(default, deserialize_with = "null_default")]
    title: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    source_branch: String,
    #[serde(default, deserialize_with = "null_default")]
    target_branch: String,
    #[serde(default, deserialize_with = "null_default")]
    web_url: String,
    #[serde(default)]
    references: Option<ReferencesWire>,
    #[serde(default, deserialize_with = "null_default")]
    state: String,
    #[serde(default)]
    author: Option<UserWire>,
    #[serde(default)]
    merged_by: Option<UserWire>,
    #[serde(default)]
    merge_user: Option<UserWire>,
    #[serde(default)]
    merged_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "null_default")]
    reviewers: Vec<UserWire>,
    #[serde(default, deserialize_with = "null_default")]
    labels: Vec<LabelWire>,
}

#[derive(Deserialize)]
struct ReferencesWire {
    #[serde(default)]
    full: Option<String>,
}

impl MergeRequestWire {
    fn into_merge_request(self) -> Result<MergeRequest, GitLabError> {
        // GitLab shows a deleted author as its "ghost" user, so a missing one is a broken reply.
        let author = self.author.ok_or_else(|| {
            GitLabError::Malformed(format!(
                "merge request !{} of project {} has no author",
                self.iid, self.project_id
            ))
        })?;
        Ok(MergeRequest {
            id: self.id,
            iid: self.iid,
            project_id: self.project_id,
            title: self.title,
            description: self.description,
            source_branch: self.source_branch,
            target_branch: self.target_branch,
            web_url: self.web_url,
            reference: self.references.and_then(|r| r.full),
            state: self.state,
            author: author.into(),
            merged_by: self.merge_user.or(self.merged_by).map(GitLabUser::from),
            merged_at: self.merged_at,
            reviewers: self.reviewers.into_iter().map(GitLabUser::from).collect(),
            labels: self.labels.into_iter().map(LabelWire::into_name).collect(),
        })
    }
}

/// `GET …/merge_requests/:iid/approvals` as GitLab sends it.
#[derive(Deserialize)]
struct ApprovalsWire {
    #[serde(default, deserialize_with = "null_default")]
    approved_by: Vec<ApprovalWire>,
    #[serde(default)]
    approvals_required: Option<u32>,
    #[serde(default)]
    approvals_left: Option<u32>,
    #[serde(default)]
    approved: Option<bool>,
}

#[derive(Deserialize)]
struct ApprovalWire {
    #[serde(default)]
    user: Option<UserWire>,
}

impl ApprovalsWire {
    fn into_approvals(self) -> Approvals {
        Approvals {
            approved_by: self
                .approved_by
                .into_iter()
                .filter_map(|a| a.user.map(GitLabUser::from))
                .collect(),
            approvals_required: self.approvals_required,
            approvals_left: self.approvals_left,
            approved: self.approved,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::test_support::{at, response};
    use serde_json::json;

    #[test]
    fn api_v4_is_appended_once_under_any_relative_root() {
        for (base, root) in [
            ("https://gitlab.com", "https://gitlab.com/api/v4"),
            (
                "https://git.example.com/gitlab/",
                "https://git.example.com/gitlab/api/v4",
            ),
            (
                "https://git.example.com/gitlab/api/v4/",
                "https://git.example.com/gitlab/api/v4",
            ),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/api/v4"),
        ] {
            assert_eq!(api_root(base).unwrap().as_str(), root, "{base}");
        }
        assert!(api_root("http://[::1]:8080").is_ok());
        assert!(api_root("http://localhost").is_ok());
    }

    #[test]
    fn base_urls_that_would_leak_the_token_are_refused_without_being_quoted() {
        for base in [
            "http://gitlab.example.com",
            "https://user:hunter2@gitlab.example.com",
            "ftp://gitlab.example.com",
            "not a url hunter2",
        ] {
            let why = api_root(base).unwrap_err();
            assert!(!why.contains("hunter2"), "{why}");
            assert!(!why.contains("example"), "{why}");
        }
    }

    #[test]
    fn rate_limit_waits_are_passed_on_whole() {
        let now = SystemTime::now();
        let short = response(429, &[("retry-after", "1")], "Retry later");
        let long = response(429, &[("retry-after", "60")], "Retry later");
        let bare = response(429, &[], "Retry later");
        // A wait longer than the policy allows is refused by send_with_retry, never shortened.
        for (r, expected) in [
            (&short, Verdict::RateLimited(Some(Duration::from_secs(1)))),
            (&long, Verdict::RateLimited(Some(Duration::from_secs(60)))),
            (&bare, Verdict::RateLimited(None)),
        ] {
            assert_eq!(http::verdict_with(r, rate_limit_of(r, now)), expected);
        }
        let outage = response(503, &[("retry-after", "60")], "");
        assert_eq!(
            http::verdict_with(&outage, rate_limit_of(&outage, now)),
            Verdict::Retry(Some(Duration::from_secs(60)))
        );
        let refused = response(400, &[], "");
        assert_eq!(http::verdict_with(&refused, None), Verdict::Done);
    }

    #[test]
    fn the_reset_header_gives_the_wait_when_retry_after_is_missing() {
        let reset = response(429, &[("ratelimit-reset", "1000030")], "");
        let wait = rate_limit_wait(&reset, at(1_000_000));
        assert_eq!(wait, Some(Duration::from_secs(30)));
    }

    #[test]
    fn error_messages_are_read_from_every_gitlab_error_shape() {
        let plain = response(
            400,
            &[],
            r#"{"message":"400 Bad request - iid is invalid"}"#,
        );
        assert_eq!(error_message(&plain), "400 Bad request - iid is invalid");
        let fields = response(422, &[], r#"{"message":{"title":["can't be blank"]}}"#);
        assert_eq!(error_message(&fields), r#"{"title":["can't be blank"]}"#);
        let oauth = response(
            400,
            &[],
            r#"{"error":"invalid_request","error_description":"bad"}"#,
        );
        assert_eq!(error_message(&oauth), "bad");
        let text = response(418, &[], &"x".repeat(500));
        assert_eq!(error_message(&text).chars().count(), EXCERPT_CHARS + 1);
    }

    #[test]
    fn labels_come_as_names_or_as_objects() {
        let wire: MergeRequestWire = serde_json::from_value(json!({
            "id": 1, "iid": 2, "project_id": 3, "title": null, "state": "merged",
            "author": {"id": 9, "username": "ann", "name": null},
            "labels": ["security", {"id": 5, "name": "audit", "color": "#fff"}],
            "reviewers": null,
        }))
        .unwrap();
        let mr = wire.into_merge_request().unwrap();
        assert_eq!(mr.labels, ["security", "audit"]);
        assert_eq!(mr.title, "");
        assert_eq!(mr.author.name, "");
        assert!(mr.reviewers.is_empty());
    }

    #[test]
    fn the_token_header_is_sensitive_and_never_quoted() {
        let credentials = Credentials {
            gitlab_token: Some("glpat-abc".into()),
            ..Credentials::default()
        };
        assert!(token_header(&credentials).unwrap().is_sensitive());
        let bad = Credentials {
            gitlab_token: Some("glpat-bad\ntoken".into()),
            ..Credentials::default()
        };
        let err = token_header(&bad).unwrap_err();
        assert!(!err.to_string().contains("glpat-bad"), "{err}");
        let blank = Credentials {
            gitlab_token: Some("  ".into()),
            ..Credentials::default()
        };
        assert!(matches!(
            token_header(&blank),
            Err(GitLabError::MissingToken)
        ));
    }
}
