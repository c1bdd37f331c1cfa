//! Confluence Cloud REST v2 connector: read a page in storage format, replace it under optimistic
//! concurrency, create pages, and list a page's children; plus the escaping the storage format
//! (XHTML) needs. Used to append rows to the security audit table page.
//!
//! The contract, from `docs/contracts/confluence.md`:
//! - Base URL `https://<site>.atlassian.net/wiki`; every path is under `/api/v2`.
//! - `Authorization: Basic base64(email:api_token)`; a 401/403 re-reads the secret once, since
//!   the token may have been rotated.
//! - `PUT /pages/{id}` must carry `version.number` = current + 1. A stale number answers 409,
//!   which is [`ConfluenceError::Conflict`] and is never retried here: only the caller can re-read
//!   the page and re-apply its change to the fresh body. (Third-party clients and Atlassian's
//!   `ConflictException` agree on 409; no source shows a stale version answered as 400, so a 400
//!   is never taken for a conflict.)
//! - A title already used in the space answers 400 ("A page with this title already exists: A
//!   page already exists with the same TITLE in this space"): [`ConfluenceError::TitleTaken`].
//! - 429, 408 and 5xx are retried with backoff, honouring `Retry-After` (a longer wait than the
//!   policy's `max_delay` ends the call as rate limited, never cut short). A create retried
//!   after a lost reply may find its own page: `TitleTaken` then.
//! - Children are paginated by cursor: `_links.next` is a path (`/wiki/api/v2/...`) resolved
//!   against the base URL's origin, and never followed to another origin (it would carry the
//!   credentials there).
//!
//! The email and token are never logged or put in an error.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use crate::connectors::credentials::{Service, connector_error, present, sensitive_header};
use crate::http::{self, HttpResponse, RetryPolicy};
use crate::secrets::{Credentials, SecretStore};

const SERVICE: &str = "confluence";

/// Children asked for per request (the v2 maximum).
const CHILDREN_PER_REQUEST: u32 = 250;

/// Requests at most for one page's children: a listing that never ends is an error, not a hang.
pub const MAX_CHILDREN_REQUESTS: usize = 100;

/// Longest piece of upstream text put in an error.
const EXCERPT_CHARS: usize = 300;

/// Where Confluence is and how patiently to call it.
#[derive(Debug, Clone)]
pub struct ConfluenceConfig {
    /// The site's wiki root, such as `https://acme.atlassian.net/wiki` (`/api/v2` is appended;
    /// a trailing `/` is ignored).
    pub base_url: String,
    pub retry: RetryPolicy,
}

impl ConfluenceConfig {
    /// This site, the default retry policy.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            retry: RetryPolicy::default(),
        }
    }
}

/// A page with its storage-format body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub id: String,
    pub title: String,
    pub space_id: String,
    /// `None` at the top of a space.
    pub parent_id: Option<String>,
    /// The current version: an update must send `version + 1`.
    pub version: u64,
    /// `body.storage.value`: XHTML.
    pub body: String,
    /// Where a person reads the page, when Confluence said.
    pub web_url: Option<String>,
}

/// One child page, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSummary {
    pub id: String,
    pub title: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfluenceError {
    #[error("confluence: page not found (or not visible to this account)")]
    NotFound,
    /// The page changed since it was read (the version sent was not current + 1). Re-read it,
    /// re-apply the change to the fresh body, and try again.
    #[error("confluence: the page was changed by someone else since it was read (HTTP 409)")]
    Conflict,
    #[error("confluence: a page with this title already exists in the space")]
    TitleTaken,
    /// 401/403 even after re-reading the secret: wrong, expired or rotated credentials, or an
    /// account without permission on this page or space.
    #[error(
        "confluence: the credentials were refused (HTTP 401/403), even after re-reading the secret; or the account lacks permission here"
    )]
    Auth,
    /// Still 429 when the retries ran out.
    #[error("confluence: still rate limited after retrying{}", http::wait_hint("Confluence", .retry_after))]
    RateLimited { retry_after: Option<Duration> },
    #[error("confluence: unavailable: {0}")]
    Unavailable(String),
    #[error("confluence: request refused (HTTP {status}): {message}")]
    Api { status: u16, message: String },
    #[error("confluence: no confluence_email or confluence_api_token in the credentials")]
    MissingCredentials,
    #[error("confluence: unexpected reply: {0}")]
    Malformed(String),
    /// Local configuration Confluence could never accept (an unusable base URL).
    #[error("confluence: misconfigured: {0}")]
    Misconfigured(String),
}

// Transient: rate limits and outages. Not [`ConfluenceError::Conflict`]: the same request would
// fail the same way; the change must be re-applied to a fresh read.
connector_error!(ConfluenceError);

/// What a call does, for reading its refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Read,
    Update,
    Create,
}

impl Operation {
    fn method(self) -> Method {
        match self {
            Operation::Read => Method::GET,
            Operation::Update => Method::PUT,
            Operation::Create => Method::POST,
        }
    }
}

/// A Confluence client for one site.
pub struct ConfluenceClient {
    http: reqwest::Client,
    secrets: Arc<SecretStore>,
    config: ConfluenceConfig,
}

impl ConfluenceClient {
    pub fn new(http: reqwest::Client, secrets: Arc<SecretStore>, config: ConfluenceConfig) -> Self {
        Self {
            http,
            secrets,
            config,
        }
    }

    pub fn config(&self) -> &ConfluenceConfig {
        &self.config
    }

    /// The page with its body in storage format.
    #[tracing::instrument(skip_all, fields(page_id = %page_id))]
    pub async fn page(&self, page_id: &str) -> Result<Page, ConfluenceError> {
        let mut url = self.api_url(&["pages", page_id])?;
        url.query_pairs_mut().append_pair("body-format", "storage");
        let response = self.call(Operation::Read, url, None).await?;
        let reply: PageReply = decode(&response)?;
        let body = reply
            .body
            .as_ref()
            .and_then(|b| b.storage.as_ref())
            .map(|s| s.value.clone())
            .ok_or_else(|| {
                ConfluenceError::Malformed("the page has no body.storage.value".to_owned())
            })?;
        Ok(reply.into_page(body, &self.config.base_url))
    }

    /// Replace the page's title and whole body, as version `new_version` (the version read plus
    /// one). [`ConfluenceError::Conflict`] when someone saved in between.
    #[tracing::instrument(skip_all, fields(page_id = %page_id, version = new_version))]
    pub async fn update_page(
        &self,
        page_id: &str,
        title: &str,
        body: &str,
        new_version: u64,
        message: &str,
    ) -> Result<Page, ConfluenceError> {
        let url = self.api_url(&["pages", page_id])?;
        let payload = json!({
            "id": page_id,
            "status": "current",
            "title": title,
            "body": { "representation": "storage", "value": body },
            "version": { "number": new_version, "message": message },
        });
        let page = self.write(Operation::Update, url, &payload, body).await?;
        tracing::info!(version = page.version, "updated Confluence page");
        Ok(page)
    }

    /// Create a page in the space, under `parent_id` if given (else Confluence picks, usually
    /// the space's home page). [`ConfluenceError::TitleTaken`] if the space already has the
    /// title.
    #[tracing::instrument(skip_all, fields(space_id = %space_id))]
    pub async fn create_page(
        &self,
        space_id: &str,
        parent_id: Option<&str>,
        title: &str,
        body: &str,
    ) -> Result<Page, ConfluenceError> {
        let url = self.api_url(&["pages"])?;
        let mut payload = json!({
            "spaceId": space_id,
            "status": "current",
            "title": title,
            "body": { "representation": "storage", "value": body },
        });
        if let Some(parent) = parent_id {
            payload["parentId"] = json!(parent);
        }
        let page = self.write(Operation::Create, url, &payload, body).await?;
        tracing::info!(page_id = %page.id, "created Confluence page");
        Ok(page)
    }

    /// What this account may do with the page (`GET /pages/{id}/operations`), as
    /// `(operation, targetType)` pairs such as `("update", "page")`: read only, so the doctor
    /// can tell whether the page is writable without writing to it.
    #[tracing::instrument(skip_all, fields(page_id = %page_id))]
    pub async fn permitted_operations(
        &self,
        page_id: &str,
    ) -> Result<Vec<(String, String)>, ConfluenceError> {
        #[derive(Deserialize)]
        struct Reply {
            #[serde(default)]
            operations: Option<Vec<Permitted>>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Permitted {
            #[serde(default)]
            operation: String,
            #[serde(default)]
            target_type: String,
        }
        let url = self.api_url(&["pages", page_id, "operations"])?;
        let response = self.call(Operation::Read, url, None).await?;
        let reply: Reply = decode(&response)?;
        Ok(reply
            .operations
            .unwrap_or_default()
            .into_iter()
            .map(|o| (o.operation, o.target_type))
            .collect())
    }

    /// Every direct child page, following the cursor to the end (at most
    /// [`MAX_CHILDREN_REQUESTS`] requests; more is an error, never a silent cut).
    #[tracing::instrument(skip_all, fields(page_id = %page_id))]
    pub async fn child_pages(&self, page_id: &str) -> Result<Vec<PageSummary>, ConfluenceError> {
        let mut url = self.api_url(&["pages", page_id, "children"])?;
        url.query_pairs_mut()
            .append_pair("limit", &CHILDREN_PER_REQUEST.to_string());
        let mut seen = vec![url.clone()];
        let mut children = Vec::new();
        loop {
            let response = self.call(Operation::Read, url, None).await?;
            let reply: ChildrenReply = decode(&response)?;
            children.extend(reply.results.into_iter().map(|c| PageSummary {
                id: c.id,
                title: c.title,
            }));
            let Some(next) = reply.links.and_then(|l| l.next).filter(|n| !n.is_empty()) else {
                return Ok(children);
            };
            url = self.next_url(&next)?;
            if seen.contains(&url) {
                return Err(ConfluenceError::Malformed(
                    "the children cursor points back to a page already read".to_owned(),
                ));
            }
            if seen.len() >= MAX_CHILDREN_REQUESTS {
                return Err(ConfluenceError::Malformed(format!(
                    "more than {MAX_CHILDREN_REQUESTS} pages of children; not reading further"
                )));
            }
            seen.push(url.clone());
        }
    }

    /// `{base_url}/api/v2/{segments…}`, each segment percent-encoded.
    fn api_url(&self, segments: &[&str]) -> Result<Url, ConfluenceError> {
        let mut url = self.base()?;
        url.path_segments_mut()
            .map_err(|()| unusable_base_url())?
            .pop_if_empty()
            .extend(["api", "v2"])
            .extend(segments);
        Ok(url)
    }

    fn base(&self) -> Result<Url, ConfluenceError> {
        let url = Url::parse(self.config.base_url.trim()).map_err(|_| unusable_base_url())?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(unusable_base_url());
        }
        Ok(url)
    }

    /// A `_links.next`, resolved against the base URL's origin; never another origin.
    fn next_url(&self, next: &str) -> Result<Url, ConfluenceError> {
        let base = self.base()?;
        let url = base.join(next).map_err(|_| {
            ConfluenceError::Malformed("the children cursor link is not a URL".to_owned())
        })?;
        if url.origin() != base.origin() {
            return Err(ConfluenceError::Malformed(
                "the children cursor link points to another host; not following it".to_owned(),
            ));
        }
        Ok(url)
    }

    /// An update or a create: the page as Confluence stored it, whose body (which the reply may
    /// leave out) is what was sent.
    async fn write(
        &self,
        operation: Operation,
        url: Url,
        payload: &Value,
        body: &str,
    ) -> Result<Page, ConfluenceError> {
        let response = self.call(operation, url, Some(payload)).await?;
        let reply: PageReply = decode(&response)?;
        let stored = reply.storage_value().unwrap_or(body).to_owned();
        Ok(reply.into_page(stored, &self.config.base_url))
    }

    /// One logical call through the shared [`Service`] call, and the final status turned into an
    /// error unless it is a success.
    async fn call(
        &self,
        operation: Operation,
        url: Url,
        payload: Option<&Value>,
    ) -> Result<HttpResponse, ConfluenceError> {
        let method = operation.method();
        let body = match payload {
            Some(value) => Some(Bytes::from(serde_json::to_vec(value).map_err(|e| {
                ConfluenceError::Malformed(format!("the request cannot be serialised: {e}"))
            })?)),
            None => None,
        };
        let request = |auth: &HeaderValue| {
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, auth.clone());
            headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
            let request = self.http.request(method.clone(), url.clone());
            match &body {
                Some(bytes) => {
                    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    request.headers(headers).body(bytes.clone())
                }
                None => request.headers(headers),
            }
        };
        let response = Service::new(SERVICE, &self.secrets, self.config.retry)
            .send(basic_auth, request, http::default_verdict)
            .await?;
        check_status(operation, &response)?;
        Ok(response)
    }
}

fn unusable_base_url() -> ConfluenceError {
    ConfluenceError::Misconfigured("base_url is not an http(s) URL".to_owned())
}

/// `Basic base64(email:token)`, marked sensitive so it is never printed.
fn basic_auth(credentials: &Credentials) -> Result<HeaderValue, ConfluenceError> {
    let (Some(email), Some(token)) = (
        present(&credentials.confluence_email),
        present(&credentials.confluence_api_token),
    ) else {
        return Err(ConfluenceError::MissingCredentials);
    };
    let encoded = BASE64.encode(format!("{email}:{token}"));
    sensitive_header(&format!("Basic {encoded}")).ok_or_else(|| {
        ConfluenceError::Misconfigured("the credentials do not make a header value".to_owned())
    })
}

/// The final answer's status as an error, unless it is a success.
fn check_status(operation: Operation, response: &HttpResponse) -> Result<(), ConfluenceError> {
    let status = response.status;
    if status.is_success() {
        return Ok(());
    }
    if http::is_credentials_refusal(status) {
        // Confluence's own text is left out: messages about credentials may quote them.
        return Err(ConfluenceError::Auth);
    }
    let message = error_message(response);
    match status {
        StatusCode::NOT_FOUND => Err(ConfluenceError::NotFound),
        StatusCode::CONFLICT if operation == Operation::Update => Err(ConfluenceError::Conflict),
        StatusCode::BAD_REQUEST
            if operation != Operation::Read && mentions_title_taken(&message) =>
        {
            Err(ConfluenceError::TitleTaken)
        }
        _ if status.is_server_error() => Err(ConfluenceError::Unavailable(format!(
            "HTTP {}: {message}",
            status.as_u16()
        ))),
        _ => Err(ConfluenceError::Api {
            status: status.as_u16(),
            message,
        }),
    }
}

/// "A page with this title already exists…", "A folder exists with the same title…".
fn mentions_title_taken(message: &str) -> bool {
    let lower = message.to_lowercase();
    lower.contains("title") && lower.contains("exist")
}

/// Confluence's error bodies: v2 `{"errors":[{status, code, title, detail}]}`, v1
/// `{"statusCode", "message"}`.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorItem>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct ErrorItem {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

/// The errors' titles and details (or `message`), else the start of the body.
fn error_message(response: &HttpResponse) -> String {
    let parsed = serde_json::from_slice::<ErrorBody>(&response.body)
        .ok()
        .and_then(|body| {
            let parts: Vec<String> = body
                .errors
                .into_iter()
                .flat_map(|e| [e.title, e.detail])
                .flatten()
                .filter(|s| !s.trim().is_empty())
                .collect();
            if parts.is_empty() {
                body.message
            } else {
                Some(parts.join("; "))
            }
        });
    response.error_text(parsed, EXCERPT_CHARS)
}

fn decode<T: DeserializeOwned>(response: &HttpResponse) -> Result<T, ConfluenceError> {
    serde_json::from_slice(&response.body)
        .map_err(|e| ConfluenceError::Malformed(format!("{e}: {}", response.excerpt())))
}

/// The parts of a v2 page we read; the rest is ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageReply {
    #[serde(deserialize_with = "id_string")]
    id: String,
    title: String,
    #[serde(deserialize_with = "id_string")]
    space_id: String,
    #[serde(default, deserialize_with = "optional_id_string")]
    parent_id: Option<String>,
    version: VersionReply,
    #[serde(default)]
    body: Option<BodyReply>,
    #[serde(default, rename = "_links")]
    links: Option<PageLinks>,
}

impl PageReply {
    fn storage_value(&self) -> Option<&str> {
        self.body
            .as_ref()
            .and_then(|b| b.storage.as_ref())
            .map(|s| s.value.as_str())
    }

    fn into_page(self, body: String, base_url: &str) -> Page {
        let web_url = self.links.and_then(|links| {
            let webui = links.webui.filter(|w| !w.is_empty())?;
            if webui.starts_with("http://") || webui.starts_with("https://") {
                return Some(webui);
            }
            let base = links.base.unwrap_or_else(|| base_url.trim().to_owned());
            Some(format!("{}{webui}", base.trim_end_matches('/')))
        });
        Page {
            id: self.id,
            title: self.title,
            space_id: self.space_id,
            parent_id: self.parent_id.filter(|p| !p.is_empty()),
            version: self.version.number,
            body,
            web_url,
        }
    }
}

#[derive(Deserialize)]
struct VersionReply {
    number: u64,
}

#[derive(Deserialize)]
struct BodyReply {
    #[serde(default)]
    storage: Option<StorageReply>,
}

#[derive(Deserialize)]
struct StorageReply {
    value: String,
}

#[derive(Deserialize)]
struct PageLinks {
    #[serde(default)]
    webui: Option<String>,
    #[serde(default)]
    base: Option<String>,
}

#[derive(Deserialize)]
struct ChildrenReply {
    #[serde(default)]
    results: Vec<ChildReply>,
    #[serde(default, rename = "_links")]
    links: Option<ListLinks>,
}

#[derive(Deserialize)]
struct ChildReply {
    #[serde(deserialize_with = "id_string")]
    id: String,
    #[serde(default)]
    title: String,
}

#[derive(Deserialize)]
struct ListLinks {
    #[serde(default)]
    next: Option<String>,
}

/// Ids are strings in v2, numbers in some older answers: take either.
fn id_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    optional_id_string(d)?.ok_or_else(|| serde::de::Error::custom("an id is null"))
}

fn optional_id_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!(
            "an id must be a string or a number, not {other}"
        ))),
    }
}

/// Text made safe for the storage format (XHTML), in element content and in quoted attribute
/// values alike: `&`, `<`, `>`, `"` and `'` become entities (numeric for the apostrophe: HTML's
/// named entities are not XML), and characters XML 1.0 cannot carry (control characters other
/// than tab, newline and carriage return; U+FFFE, U+FFFF) become U+FFFD, so tampering stays
/// visible. Since `>` is escaped, `]]>` never survives.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(xml_safe(c)),
        }
    }
    out
}

/// `c`, or U+FFFD where XML 1.0 cannot carry it (control characters other than tab, newline
/// and carriage return; U+FFFE, U+FFFF), so tampering stays visible.
pub fn xml_safe(c: char) -> char {
    match c {
        '\t' | '\n' | '\r' => c,
        '\u{FFFE}' | '\u{FFFF}' => '\u{FFFD}',
        c if c.is_control() => '\u{FFFD}',
        c => c,
    }
}

/// One table row, `<tr><td>…</td>…</tr>`, every cell escaped with [`escape_text`].
pub fn table_row<S: AsRef<str>>(cells: &[S]) -> String {
    let mut row = String::from("<tr>");
    for cell in cells {
        row.push_str("<td>");
        row.push_str(&escape_text(cell.as_ref()));
        row.push_str("</td>");
    }
    row.push_str("</tr>");
    row
}

/// `<![CDATA[…]]>` around `s` (for a code macro's plain-text body), with any `]]>` inside split
/// across two sections and XML-invalid characters replaced as in [`escape_text`].
pub fn cdata(s: &str) -> String {
    let clean: String = s.chars().map(xml_safe).collect();
    format!("<![CDATA[{}]]>", clean.replace("]]>", "]]]]><![CDATA[>"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::test_support;
    use secrecy::SecretString;

    fn response(status: u16, body: &str) -> HttpResponse {
        test_support::response(status, &[], body)
    }

    fn client(base_url: &str) -> ConfluenceClient {
        ConfluenceClient::new(
            reqwest::Client::new(),
            Arc::new(SecretStore::fixed(Credentials::default())),
            ConfluenceConfig::new(base_url),
        )
    }

    #[test]
    fn markup_becomes_entities_and_only_characters_xml_cannot_carry_are_replaced() {
        for (text, escaped) in [
            (
                r#"<b>Tom & "Jerry"</b>"#,
                "&lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt;",
            ),
            ("it's", "it&#39;s"),
            ("a < b > c", "a &lt; b &gt; c"),
            // Entities already in the text are escaped again.
            ("&amp; &#160;", "&amp;amp; &amp;#160;"),
            (
                "a\u{0}b\u{7}c\u{1b}[31md\u{7f}e\u{85}f",
                "a\u{FFFD}b\u{FFFD}c\u{FFFD}[31md\u{FFFD}e\u{FFFD}f",
            ),
            ("\u{FFFE}\u{FFFF}", "\u{FFFD}\u{FFFD}"),
            // Whitespace and any other Unicode text pass through.
            ("a\tb\nc\r\n", "a\tb\nc\r\n"),
            ("Zoë 🔐 日本 \u{a0}", "Zoë 🔐 日本 \u{a0}"),
            ("", ""),
        ] {
            assert_eq!(escape_text(text), escaped, "{text:?}");
        }
    }

    #[test]
    fn a_cdata_terminator_never_survives() {
        let escaped = escape_text("x]]>y <![CDATA[z]]>");
        assert!(!escaped.contains("]]>"), "{escaped}");
        assert!(!escaped.contains("<!"), "{escaped}");
        assert_eq!(escaped, "x]]&gt;y &lt;![CDATA[z]]&gt;");
    }

    #[test]
    fn table_rows_escape_every_cell() {
        assert_eq!(
            table_row(&["SEC-1", "<script>", "a&b"]),
            "<tr><td>SEC-1</td><td>&lt;script&gt;</td><td>a&amp;b</td></tr>"
        );
        assert_eq!(table_row::<&str>(&[]), "<tr></tr>");
    }

    #[test]
    fn cdata_splits_a_terminator_inside() {
        assert_eq!(cdata("a]]>b"), "<![CDATA[a]]]]><![CDATA[>b]]>");
        assert_eq!(cdata("x\u{0}<y>"), "<![CDATA[x\u{FFFD}<y>]]>");
    }

    #[test]
    fn the_api_path_is_under_the_wiki_root_with_ids_encoded() {
        let c = client("https://acme.atlassian.net/wiki/");
        assert_eq!(
            c.api_url(&["pages", "123", "children"]).unwrap().as_str(),
            "https://acme.atlassian.net/wiki/api/v2/pages/123/children"
        );
        assert_eq!(
            c.api_url(&["pages", "1/../2?x"]).unwrap().as_str(),
            "https://acme.atlassian.net/wiki/api/v2/pages/1%2F..%2F2%3Fx"
        );
        assert!(matches!(
            client("not a url").api_url(&["pages"]),
            Err(ConfluenceError::Misconfigured(_))
        ));
    }

    #[test]
    fn the_next_link_is_resolved_against_the_origin_and_never_leaves_it() {
        let c = client("https://acme.atlassian.net/wiki");
        assert_eq!(
            c.next_url("/wiki/api/v2/pages/1/children?cursor=abc")
                .unwrap()
                .as_str(),
            "https://acme.atlassian.net/wiki/api/v2/pages/1/children?cursor=abc"
        );
        assert!(matches!(
            c.next_url("https://evil.example/wiki/api/v2/pages/1/children"),
            Err(ConfluenceError::Malformed(_))
        ));
        assert!(matches!(
            c.next_url("//evil.example/wiki"),
            Err(ConfluenceError::Malformed(_))
        ));
    }

    #[test]
    fn refusals_are_read_by_status_and_operation() {
        let conflict = response(
            409,
            r#"{"errors":[{"status":409,"code":"CONFLICT","title":"Version must be incremented on update. Current version is: 5"}]}"#,
        );
        assert!(matches!(
            check_status(Operation::Update, &conflict),
            Err(ConfluenceError::Conflict)
        ));
        let taken = response(
            400,
            r#"{"errors":[{"status":400,"code":"INVALID_REQUEST_PARAMETER","title":"A page with this title already exists: A page already exists with the same TITLE in this space","detail":null}]}"#,
        );
        assert!(matches!(
            check_status(Operation::Create, &taken),
            Err(ConfluenceError::TitleTaken)
        ));
        // Every v2 error body has a `title` key: only the text counts.
        let invalid = response(
            400,
            r#"{"errors":[{"status":400,"code":"INVALID","title":"Error parsing xhtml","detail":"Unexpected close tag"}]}"#,
        );
        let err = check_status(Operation::Create, &invalid).unwrap_err();
        assert!(
            matches!(&err, ConfluenceError::Api { status: 400, message } if message == "Error parsing xhtml; Unexpected close tag"),
            "{err:?}"
        );
        let stale_400 = response(
            400,
            r#"{"message":"Must supply an incremented version when updating Content. No version supplied."}"#,
        );
        assert!(matches!(
            check_status(Operation::Update, &stale_400),
            Err(ConfluenceError::Api { status: 400, .. })
        ));
        assert!(matches!(
            check_status(Operation::Read, &response(404, "{}")),
            Err(ConfluenceError::NotFound)
        ));
        assert!(matches!(
            check_status(Operation::Read, &response(403, "token abc refused")),
            Err(ConfluenceError::Auth)
        ));
        assert!(check_status(Operation::Read, &response(200, "{}")).is_ok());
    }

    #[test]
    fn pages_parse_with_string_or_number_ids_and_a_web_url() {
        let reply: PageReply = serde_json::from_str(
            r#"{"id":"42","title":"Audit","spaceId":7,"parentId":null,"version":{"number":3},
                "_links":{"webui":"/spaces/SEC/pages/42/Audit"}}"#,
        )
        .unwrap();
        let page = reply.into_page("<p/>".to_owned(), "https://acme.atlassian.net/wiki/");
        assert_eq!(page.space_id, "7");
        assert_eq!(page.parent_id, None);
        assert_eq!(page.version, 3);
        assert_eq!(
            page.web_url.as_deref(),
            Some("https://acme.atlassian.net/wiki/spaces/SEC/pages/42/Audit")
        );
    }

    #[test]
    fn the_authorization_header_is_basic_and_sensitive() {
        let credentials = Credentials {
            confluence_email: Some(SecretString::from(" bot@acme.example ")),
            confluence_api_token: Some(SecretString::from("tok")),
            ..Credentials::default()
        };
        let value = basic_auth(&credentials).unwrap();
        assert!(value.is_sensitive());
        assert_eq!(
            value.to_str().unwrap(),
            "Basic Ym90QGFjbWUuZXhhbXBsZTp0b2s="
        );
        let missing = Credentials {
            confluence_api_token: Some(SecretString::from("tok")),
            ..Credentials::default()
        };
        assert!(matches!(
            basic_auth(&missing),
            Err(ConfluenceError::MissingCredentials)
        ));
    }

    #[test]
    fn only_outages_and_rate_limits_are_transient() {
        assert!(ConfluenceError::Unavailable("x".into()).is_transient());
        assert!(ConfluenceError::RateLimited { retry_after: None }.is_transient());
        assert!(!ConfluenceError::Conflict.is_transient());
        assert!(!ConfluenceError::Auth.is_transient());
        assert!(!ConfluenceError::TitleTaken.is_transient());
    }
}
