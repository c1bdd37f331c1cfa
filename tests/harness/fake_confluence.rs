//! A stateful fake of the Confluence Cloud REST v2 page API over wiremock: pages live in a small
//! world with version numbers and real optimistic concurrency (a PUT must carry exactly the
//! current version plus one, checked and written under one lock), titles are unique within a
//! space, children are listed by cursor two at a time, and storage bodies must be well-formed.
//! Scripted trouble (outages, rate limits, concurrent editors, refused credentials) is switched
//! on by name.
//!
//! Served under `/wiki/api/v2`: `GET /pages/{id}` (`?body-format=storage` for the body),
//! `PUT /pages/{id}`, `POST /pages`, `GET /pages/{id}/children`, and
//! `GET /pages/{id}/operations` (the operations the account may perform: `read`, plus `update`
//! and `delete` unless [`FakeConfluence::restrict_to_reading`] says otherwise).
//!
//! ```ignore
//! let confluence = FakeConfluence::start().await;
//! confluence.add_page("100", "SEC", None, "Audit", "<table><tbody></tbody></table>");
//! let config = ConfluenceConfig::new(confluence.base_url());
//! ```

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{Value, json};
use wiremock::matchers::{any, basic_auth};
use wiremock::{Match, Mock, MockServer, Request, Respond, ResponseTemplate};

/// Children per page of a listing, whatever `limit` asks: small, so tests cross the cursor.
pub const CHILDREN_PAGE_SIZE: usize = 2;

const API_PREFIX: &str = "/wiki/api/v2/";
const CREATED_AT: &str = "2026-01-01T00:00:00.000Z";
const AUTHOR_ID: &str = "557058:fake-author";

#[derive(Debug, Clone)]
struct StoredPage {
    id: String,
    space_id: String,
    parent_id: Option<String>,
    title: String,
    body: String,
    version: u64,
    message: String,
}

#[derive(Default)]
struct World {
    /// The server's own root, for `_links.base`.
    root: String,
    pages: Vec<StoredPage>,
    next_id: u64,
    calls: Vec<(String, String)>,
    failures: Vec<u16>,
    rate_limits: Vec<u64>,
    conflicts: usize,
    accepted: Option<(String, String)>,
    validate_storage: bool,
    /// Pages this account may read but not edit (a PUT answers 403).
    read_only: Vec<String>,
}

/// Fake Confluence behind a local HTTP server.
pub struct FakeConfluence {
    server: MockServer,
    world: Arc<Mutex<World>>,
}

impl FakeConfluence {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let world = Arc::new(Mutex::new(World {
            root: server.uri(),
            next_id: 900_001,
            validate_storage: true,
            ..World::default()
        }));
        Mock::given(any())
            .respond_with(Responder(world.clone()))
            .mount(&server)
            .await;
        Self { server, world }
    }

    /// The site's wiki root (`http://127.0.0.1:PORT/wiki`), for `ConfluenceConfig::base_url`.
    pub fn base_url(&self) -> String {
        format!("{}/wiki", self.server.uri())
    }

    /// A page that exists before the test starts, at version 1.
    pub fn add_page(
        &self,
        id: &str,
        space_id: &str,
        parent_id: Option<&str>,
        title: &str,
        body: &str,
    ) {
        let mut world = self.world();
        assert!(
            world.find(id).is_none(),
            "fake Confluence already has page {id}"
        );
        world.pages.push(StoredPage {
            id: id.to_owned(),
            space_id: space_id.to_owned(),
            parent_id: parent_id.map(str::to_owned),
            title: title.to_owned(),
            body: body.to_owned(),
            version: 1,
            message: String::new(),
        });
    }

    /// The page's current storage body. Panics if there is no such page.
    pub fn page_body(&self, id: &str) -> String {
        self.page(id).body
    }

    /// The page's current version. Panics if there is no such page.
    pub fn page_version(&self, id: &str) -> u64 {
        self.page(id).version
    }

    /// The message of the page's current version (`""` for one added by the test).
    pub fn version_message(&self, id: &str) -> String {
        self.page(id).message
    }

    /// Every page as `(id, parent_id, title, version)`, in creation order.
    pub fn pages(&self) -> Vec<(String, Option<String>, String, u64)> {
        self.world()
            .pages
            .iter()
            .map(|p| {
                (
                    p.id.clone(),
                    p.parent_id.clone(),
                    p.title.clone(),
                    p.version,
                )
            })
            .collect()
    }

    /// The next `n` requests answer this status with a Confluence error body.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.world().failures.extend(std::iter::repeat_n(status, n));
    }

    /// The next `n` requests answer 429 with `Retry-After: retry_after_secs`.
    pub fn rate_limit_next(&self, n: usize, retry_after_secs: u64) {
        self.world()
            .rate_limits
            .extend(std::iter::repeat_n(retry_after_secs, n));
    }

    /// The next `n` PUTs of an existing page find that someone else just saved it: its version
    /// is bumped (the body is left as it was) and the PUT answers 409, even if its version was
    /// right when it was read.
    pub fn conflict_next(&self, n: usize) {
        self.world().conflicts += n;
    }

    /// Only `Authorization: Basic base64(email:token)` is accepted from now on (401 otherwise).
    /// Until then any Basic header is.
    pub fn accept_only(&self, email: &str, token: &str) {
        self.world().accepted = Some((email.to_owned(), token.to_owned()));
    }

    /// This account may read the page but not edit it from now on, as with a page restriction:
    /// its operations lack `update`, and a PUT answers 403.
    pub fn restrict_to_reading(&self, id: &str) {
        self.world().read_only.push(id.to_owned());
    }

    /// Every request received as `(method, path)`, refused ones included, in order.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.world().calls.clone()
    }

    /// Accept PUT and POST bodies that are not well-formed storage XHTML from now on (by
    /// default they are refused with 400, as Confluence does, per [`validate_storage`]).
    pub fn accept_any_storage(&self) {
        self.world().validate_storage = false;
    }

    /// Requests received with this method whose path ends with `path_suffix`, refused ones
    /// included (`calls("PUT", "/pages/100")`, `calls("GET", "/children")`).
    pub fn calls(&self, method: &str, path_suffix: &str) -> usize {
        self.world()
            .calls
            .iter()
            .filter(|(m, p)| m.eq_ignore_ascii_case(method) && p.ends_with(path_suffix))
            .count()
    }

    /// The value of this header on every request received, in order (`""` when absent).
    pub async fn header_values(&self, name: &str) -> Vec<String> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| {
                r.headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    /// The JSON body of every request received, in order (`null` when there is none).
    pub async fn bodies(&self) -> Vec<Value> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
            .collect()
    }

    fn page(&self, id: &str) -> StoredPage {
        self.world()
            .find(id)
            .cloned()
            .unwrap_or_else(|| panic!("fake Confluence has no page {id}"))
    }

    fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }
}

fn lock(world: &Mutex<World>) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a request is for, from its method and path.
enum Route {
    Get(String),
    Put(String),
    Create,
    Children(String),
    Operations(String),
}

impl Route {
    fn of(method: &str, path: &str) -> Option<Route> {
        let rest = path.strip_prefix(API_PREFIX)?;
        let segments: Vec<&str> = rest.split('/').collect();
        match (method, segments.as_slice()) {
            ("GET", ["pages", id]) => Some(Route::Get(percent_decode(id))),
            ("PUT", ["pages", id]) => Some(Route::Put(percent_decode(id))),
            ("POST", ["pages"]) => Some(Route::Create),
            ("GET", ["pages", id, "children"]) => Some(Route::Children(percent_decode(id))),
            ("GET", ["pages", id, "operations"]) => Some(Route::Operations(percent_decode(id))),
            _ => None,
        }
    }
}

struct Responder(Arc<Mutex<World>>);

impl Respond for Responder {
    /// The lock is held for the whole answer: a PUT's version check and its write are one step,
    /// whatever other requests arrive at the same time.
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut world = lock(&self.0);
        let method = request.method.as_str().to_owned();
        world
            .calls
            .push((method.clone(), request.url.path().to_owned()));
        if let Some(refusal) = world.trouble(request) {
            return refusal;
        }
        match Route::of(&method, request.url.path()) {
            Some(Route::Get(id)) => world.get(&id, request),
            Some(Route::Put(id)) => world.put(&id, request),
            Some(Route::Create) => world.create(request),
            Some(Route::Children(id)) => world.children(&id, request),
            Some(Route::Operations(id)) => world.operations(&id),
            None => error(404, "NOT_FOUND", "No route for this request"),
        }
    }
}

impl World {
    fn find(&self, id: &str) -> Option<&StoredPage> {
        self.pages.iter().find(|p| p.id == id)
    }

    fn find_mut(&mut self, id: &str) -> Option<&mut StoredPage> {
        self.pages.iter_mut().find(|p| p.id == id)
    }

    fn title_taken(&self, space_id: &str, title: &str, except: Option<&str>) -> bool {
        self.pages
            .iter()
            .any(|p| p.space_id == space_id && p.title == title && Some(p.id.as_str()) != except)
    }

    /// Whatever stops a request before it reaches the pages, in the order Confluence would check.
    fn trouble(&mut self, request: &Request) -> Option<ResponseTemplate> {
        if !self.authorised(request) {
            return Some(
                ResponseTemplate::new(401)
                    .set_body_json(json!({ "code": 401, "message": "Unauthorized" })),
            );
        }
        if !self.rate_limits.is_empty() {
            let wait = self.rate_limits.remove(0);
            return Some(
                error(429, "TOO_MANY_REQUESTS", "Rate limit exceeded")
                    .insert_header("retry-after", wait.to_string().as_str())
                    .insert_header("x-ratelimit-remaining", "0"),
            );
        }
        if !self.failures.is_empty() {
            let status = self.failures.remove(0);
            return Some(error(status, "ERROR", "Something went wrong"));
        }
        None
    }

    fn authorised(&self, request: &Request) -> bool {
        match &self.accepted {
            Some((email, token)) => basic_auth(email, token).matches(request),
            None => request
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("Basic ") && v.len() > "Basic ".len()),
        }
    }

    fn get(&self, id: &str, request: &Request) -> ResponseTemplate {
        let Some(page) = self.find(id) else {
            return not_found();
        };
        let with_body = request
            .url
            .query_pairs()
            .any(|(k, v)| k == "body-format" && v == "storage");
        ResponseTemplate::new(200).set_body_json(self.page_json(page, with_body))
    }

    /// The v2 `PermittedOperationsResponse`: `{operations: [{operation, targetType}]}`.
    fn operations(&self, id: &str) -> ResponseTemplate {
        if self.find(id).is_none() {
            return not_found();
        }
        let mut operations = vec![json!({ "operation": "read", "targetType": "page" })];
        if !self.read_only.iter().any(|p| p == id) {
            operations.push(json!({ "operation": "update", "targetType": "page" }));
            operations.push(json!({ "operation": "delete", "targetType": "page" }));
        }
        ResponseTemplate::new(200).set_body_json(json!({ "operations": operations }))
    }

    fn put(&mut self, id: &str, request: &Request) -> ResponseTemplate {
        if self.read_only.iter().any(|p| p == id) {
            return error(
                403,
                "FORBIDDEN",
                "You do not have permission to edit this page",
            );
        }
        let Ok(payload) = serde_json::from_slice::<Value>(&request.body) else {
            return bad_request("The request body is not JSON");
        };
        if payload["id"].as_str() != Some(id) {
            return bad_request("The id in the body must match the id in the path");
        }
        if payload["status"].as_str() != Some("current") {
            return bad_request("status must be current");
        }
        let (title, body) = match title_and_body(&payload) {
            Ok(parts) => parts,
            Err(problem) => return bad_request(problem),
        };
        let Some(number) = payload["version"]["number"].as_u64() else {
            return bad_request(
                "Must supply an incremented version when updating Content. No version supplied.",
            );
        };
        let message = payload["version"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let conflict_scripted = self.conflicts > 0;
        let validate = self.validate_storage;
        let Some(page) = self.find_mut(id) else {
            return not_found();
        };
        if conflict_scripted {
            // Someone else saved first.
            page.version += 1;
            page.message = "edited by someone else".to_owned();
        }
        let current = page.version;
        let space_id = page.space_id.clone();
        if conflict_scripted {
            self.conflicts -= 1;
        }
        if number != current + 1 {
            return error(
                409,
                "CONFLICT",
                &format!("Version must be incremented on update. Current version is: {current}"),
            );
        }
        if self.title_taken(&space_id, &title, Some(id)) {
            return title_exists();
        }
        if validate && let Err(problem) = validate_storage(&body) {
            return invalid_storage(&problem);
        }
        let Some(page) = self.find_mut(id) else {
            return not_found();
        };
        page.title = title;
        page.body = body;
        page.version = number;
        page.message = message;
        let page = page.clone();
        ResponseTemplate::new(200).set_body_json(self.page_json(&page, true))
    }

    fn create(&mut self, request: &Request) -> ResponseTemplate {
        let Ok(payload) = serde_json::from_slice::<Value>(&request.body) else {
            return bad_request("The request body is not JSON");
        };
        let Some(space_id) = payload["spaceId"].as_str().filter(|s| !s.is_empty()) else {
            return bad_request("spaceId is required");
        };
        if payload["status"].as_str().is_some_and(|s| s != "current") {
            return bad_request("this fake creates current pages only");
        }
        let (title, body) = match title_and_body(&payload) {
            Ok(parts) => parts,
            Err(problem) => return bad_request(problem),
        };
        let parent_id = match &payload["parentId"] {
            Value::Null => None,
            Value::String(parent) => match self.find(parent) {
                Some(p) if p.space_id == space_id => Some(parent.clone()),
                Some(_) => return bad_request("The parent page is in another space"),
                None => return not_found(),
            },
            _ => return bad_request("parentId must be a string"),
        };
        if self.title_taken(space_id, &title, None) {
            return title_exists();
        }
        if self.validate_storage
            && let Err(problem) = validate_storage(&body)
        {
            return invalid_storage(&problem);
        }
        let id = loop {
            let candidate = self.next_id.to_string();
            self.next_id += 1;
            if self.find(&candidate).is_none() {
                break candidate;
            }
        };
        let page = StoredPage {
            id,
            space_id: space_id.to_owned(),
            parent_id,
            title,
            body,
            version: 1,
            message: String::new(),
        };
        self.pages.push(page.clone());
        ResponseTemplate::new(200).set_body_json(self.page_json(&page, true))
    }

    fn children(&self, id: &str, request: &Request) -> ResponseTemplate {
        if self.find(id).is_none() {
            return not_found();
        }
        let mut offset = 0;
        let mut limit = CHILDREN_PAGE_SIZE;
        for (key, value) in request.url.query_pairs() {
            match key.as_ref() {
                "cursor" => match value
                    .strip_prefix("fake-cursor-")
                    .and_then(|n| n.parse().ok())
                {
                    Some(n) => offset = n,
                    None => return bad_request("Invalid cursor"),
                },
                "limit" => match value.parse::<usize>() {
                    Ok(n) if (1..=250).contains(&n) => limit = n.min(CHILDREN_PAGE_SIZE),
                    _ => return bad_request("limit must be between 1 and 250"),
                },
                _ => {}
            }
        }
        let all: Vec<&StoredPage> = self
            .pages
            .iter()
            .filter(|p| p.parent_id.as_deref() == Some(id))
            .collect();
        let results: Vec<Value> = all
            .iter()
            .enumerate()
            .skip(offset)
            .take(limit)
            .map(|(position, p)| {
                json!({
                    "id": p.id, "status": "current", "title": p.title,
                    "spaceId": p.space_id, "childPosition": position,
                })
            })
            .collect();
        let mut links = json!({ "base": format!("{}/wiki", self.root) });
        let mut response = ResponseTemplate::new(200);
        if offset + limit < all.len() {
            let next = format!(
                "{API_PREFIX}pages/{id}/children?cursor=fake-cursor-{}&limit={limit}",
                offset + limit
            );
            response = response.insert_header(
                "link",
                format!("<{next}>; rel=\"next\", <{}/wiki>; rel=\"base\"", self.root).as_str(),
            );
            links["next"] = json!(next);
        }
        response.set_body_json(json!({ "results": results, "_links": links }))
    }

    /// A page in the v2 shape.
    fn page_json(&self, page: &StoredPage, with_body: bool) -> Value {
        let webui = format!(
            "/spaces/{}/pages/{}/{}",
            page.space_id,
            page.id,
            page.title.replace(' ', "+")
        );
        let mut value = json!({
            "id": page.id,
            "status": "current",
            "title": page.title,
            "spaceId": page.space_id,
            "parentId": page.parent_id,
            "parentType": page.parent_id.as_ref().map(|_| "page"),
            "position": 0,
            "authorId": AUTHOR_ID,
            "ownerId": AUTHOR_ID,
            "createdAt": CREATED_AT,
            "version": {
                "createdAt": CREATED_AT,
                "message": page.message,
                "number": page.version,
                "minorEdit": false,
                "authorId": AUTHOR_ID,
            },
            "body": {},
            "_links": {
                "webui": webui,
                "editui": format!("/pages/resumedraft.action?draftId={}", page.id),
                "tinyui": format!("/x/{}", page.id),
                "base": format!("{}/wiki", self.root),
            },
        });
        if with_body {
            value["body"] =
                json!({ "storage": { "representation": "storage", "value": page.body } });
        }
        value
    }
}

/// `(title, body.value)` of a PUT or POST, or why it is refused.
fn title_and_body(payload: &Value) -> Result<(String, String), &'static str> {
    let title = payload["title"]
        .as_str()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or("A published page must have a title")?;
    if payload["body"]["representation"].as_str() != Some("storage") {
        return Err("this fake accepts the storage representation only");
    }
    let body = payload["body"]["value"]
        .as_str()
        .ok_or("body.value is required")?;
    Ok((title.to_owned(), body.to_owned()))
}

/// Whether `body` is well-formed enough to be storage XHTML: tags balanced and properly nested,
/// attribute values quoted, `&` only in `&name;`/`&#n;`/`&#xh;` (named entities: XML's five and
/// HTML's by name, since the storage format itself writes `&nbsp;` and `&mdash;` per
/// Atlassian's "Confluence Storage Format" page; a name is checked for form only), comments
/// and CDATA closed, no `--` inside a comment, no raw `<` (nor `]]>`) in text outside them, and
/// no XML-invalid control characters.
pub fn validate_storage(body: &str) -> Result<(), String> {
    let mut open: Vec<&str> = Vec::new();
    let mut rest = body;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                rest = if let Some(after) = rest.strip_prefix("<![CDATA[") {
                    let end = after.find("]]>").ok_or("an unclosed CDATA section")?;
                    check_chars(&after[..end])?;
                    &after[end + 3..]
                } else if let Some(after) = rest.strip_prefix("<!--") {
                    let end = after.find("--").ok_or("an unclosed comment")?;
                    if !after[end..].starts_with("-->") {
                        return Err("`--` inside a comment".to_owned());
                    }
                    &after[end + 3..]
                } else {
                    let (tag, after) = read_tag(rest)?;
                    match tag {
                        Tag::Open(name) => open.push(name),
                        Tag::SelfClosing => {}
                        Tag::Close(name) => match open.pop() {
                            Some(expected) if expected == name => {}
                            Some(expected) => {
                                return Err(format!("</{name}> closes <{expected}>"));
                            }
                            None => return Err(format!("</{name}> closes nothing")),
                        },
                    }
                    after
                };
            }
            ']' if rest.starts_with("]]>") => return Err("a raw `]]>` in text".to_owned()),
            '&' => rest = read_entity(rest)?,
            c => {
                check_chars(&rest[..c.len_utf8()])?;
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    match open.pop() {
        Some(name) => Err(format!("<{name}> is never closed")),
        None => Ok(()),
    }
}

enum Tag<'a> {
    Open(&'a str),
    Close(&'a str),
    SelfClosing,
}

/// The tag at the start of `text` (which starts with `<`) and what follows it.
fn read_tag(text: &str) -> Result<(Tag<'_>, &str), String> {
    let inner = &text[1..];
    if let Some(closing) = inner.strip_prefix('/') {
        let (name, after) = read_name(closing)?;
        let after = after.trim_start();
        let after = after
            .strip_prefix('>')
            .ok_or_else(|| format!("</{name} is not closed by `>`"))?;
        return Ok((Tag::Close(name), after));
    }
    let (name, mut after) = read_name(inner)?;
    loop {
        let trimmed = after.trim_start();
        if let Some(rest) = trimmed.strip_prefix("/>") {
            return Ok((Tag::SelfClosing, rest));
        }
        if let Some(rest) = trimmed.strip_prefix('>') {
            return Ok((Tag::Open(name), rest));
        }
        if trimmed.len() == after.len() {
            return Err(format!("<{name}: expected whitespace before an attribute"));
        }
        let (attribute, rest) = read_name(trimmed)?;
        let rest = rest
            .trim_start()
            .strip_prefix('=')
            .ok_or_else(|| format!("attribute {attribute} of <{name}> has no value"))?
            .trim_start();
        let quote = rest
            .chars()
            .next()
            .filter(|q| *q == '"' || *q == '\'')
            .ok_or_else(|| format!("attribute {attribute} of <{name}> is not quoted"))?;
        let value_and_rest = &rest[1..];
        let end = value_and_rest
            .find(quote)
            .ok_or_else(|| format!("attribute {attribute} of <{name}> is never closed"))?;
        let value = &value_and_rest[..end];
        if value.contains('<') {
            return Err(format!("a raw `<` in attribute {attribute} of <{name}>"));
        }
        check_text(value)?;
        after = &value_and_rest[end + 1..];
    }
}

/// An XML name (`ac:structured-macro`, `td`) at the start of `text`, and what follows it.
fn read_name(text: &str) -> Result<(&str, &str), String> {
    let end = text
        .char_indices()
        .find(|(i, c)| {
            !(c.is_alphanumeric() || matches!(c, ':' | '_') || (*i > 0 && matches!(c, '-' | '.')))
        })
        .map_or(text.len(), |(i, _)| i);
    if end == 0 || text.starts_with(|c: char| c.is_ascii_digit()) {
        let shown: String = text.chars().take(10).collect();
        return Err(format!("a raw `<` in text (before {shown:?})"));
    }
    Ok((&text[..end], &text[end..]))
}

/// Text with entities: each `&` must start one.
fn check_text(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        check_chars(&rest[..at])?;
        rest = read_entity(&rest[at..])?;
    }
    check_chars(rest)
}

/// The entity at the start of `text` (which starts with `&`) checked, and what follows it.
fn read_entity(text: &str) -> Result<&str, String> {
    let end = text[1..]
        .find(';')
        .filter(|end| *end <= 10)
        .ok_or("a raw `&` in text")?;
    let name = &text[1..=end];
    let valid = match name.strip_prefix('#') {
        Some(hex) if hex.starts_with(['x', 'X']) => {
            u32::from_str_radix(&hex[1..], 16).is_ok_and(is_xml_char_code)
        }
        Some(decimal) => decimal.parse::<u32>().is_ok_and(is_xml_char_code),
        None => {
            name.starts_with(|c: char| c.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric())
        }
    };
    if !valid {
        return Err(format!("&{name}; is not an XML entity"));
    }
    Ok(&text[end + 2..])
}

fn check_chars(text: &str) -> Result<(), String> {
    match text.chars().find(|c| !is_xml_char_code(u32::from(*c))) {
        Some(c) => Err(format!(
            "character U+{:04X} is not allowed in XML",
            u32::from(c)
        )),
        None => Ok(()),
    }
}

fn is_xml_char_code(code: u32) -> bool {
    matches!(code, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// A v2 error body: `{"errors":[{status, code, title, detail}]}`.
fn error(status: u16, code: &str, title: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "errors": [{ "status": status, "code": code, "title": title, "detail": null }]
    }))
}

fn bad_request(title: &str) -> ResponseTemplate {
    error(400, "INVALID_REQUEST_PARAMETER", title)
}

fn not_found() -> ResponseTemplate {
    error(404, "NOT_FOUND", "Not Found")
}

fn title_exists() -> ResponseTemplate {
    bad_request(
        "A page with this title already exists: A page already exists with the same TITLE in this space",
    )
}

fn invalid_storage(problem: &str) -> ResponseTemplate {
    error(
        400,
        "INVALID_REQUEST_PARAMETER",
        &format!("Error parsing xhtml: {problem}"),
    )
}

/// `%XX` escapes in a path segment, decoded (no extra dependency for this one job).
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| segment.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
