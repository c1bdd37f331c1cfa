//! A fake of the two AWS APIs the functions call (Secrets Manager, EventBridge), for runs of the real binaries.
//!
//! Both speak the AWS JSON 1.1 protocol the SDK uses: `POST /` with `X-Amz-Target` naming the
//! operation. A binary finds the fake through `AWS_ENDPOINT_URL`, which the SDK's config loader
//! applies to every service. Secrets are served as given (any string, so a malformed secret can
//! be served); `PutEvents` entries are recorded and can be turned into the envelope an
//! EventBridge rule target receives, to hand one function's event to the next.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::lambda_emulator::{ACCOUNT, REGION};

/// One entry of a `PutEvents` call, as the SDK sent it.
#[derive(Debug, Clone)]
pub struct PutEntry {
    pub event_id: String,
    pub source: String,
    pub detail_type: String,
    /// `Detail` as sent: a JSON string.
    pub detail: String,
    pub event_bus_name: Option<String>,
    pub resources: Vec<String>,
    /// `Time`, as the SDK serialised it (epoch seconds), if sent.
    pub time: Option<Value>,
}

impl PutEntry {
    /// The envelope a rule's Lambda target receives for this entry.
    pub fn rule_envelope(&self) -> Value {
        let time = match &self.time {
            Some(Value::Number(n)) => n
                .as_f64()
                .and_then(|secs| chrono::DateTime::from_timestamp(secs as i64, 0))
                .unwrap_or_else(chrono::Utc::now),
            _ => chrono::Utc::now(),
        };
        json!({
            "version": "0",
            "id": self.event_id,
            "detail-type": self.detail_type,
            "source": self.source,
            "account": ACCOUNT,
            "time": time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "region": REGION,
            "resources": self.resources,
            "detail": serde_json::from_str::<Value>(&self.detail).unwrap_or(Value::Null),
        })
    }
}

#[derive(Default)]
struct World {
    secrets: HashMap<String, String>,
    /// Every call: the `X-Amz-Target` and the request body.
    calls: Vec<(String, Value)>,
    entries: Vec<PutEntry>,
}

/// The fake; one per test.
pub struct FakeAws {
    server: MockServer,
    world: Arc<Mutex<World>>,
}

impl FakeAws {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let world = Arc::new(Mutex::new(World::default()));
        Mock::given(method("POST"))
            .and(path("/"))
            .respond_with(Responder(world.clone()))
            .mount(&server)
            .await;
        Self { server, world }
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `AWS_ENDPOINT_URL` for a binary.
    pub fn endpoint(&self) -> String {
        self.server.uri()
    }

    /// Serve `value` as the `SecretString` of `secret_id` (its name or ARN).
    pub fn serve_secret(&self, secret_id: &str, value: &str) {
        self.world()
            .secrets
            .insert(secret_id.to_owned(), value.to_owned());
    }

    /// How many `GetSecretValue` calls asked for `secret_id`.
    pub fn secret_reads(&self, secret_id: &str) -> usize {
        self.world()
            .calls
            .iter()
            .filter(|(target, body)| {
                target == "secretsmanager.GetSecretValue" && body["SecretId"] == secret_id
            })
            .count()
    }

    /// Every operation called, in order (`secretsmanager.GetSecretValue`, `AWSEvents.PutEvents`).
    pub fn operations(&self) -> Vec<String> {
        self.world().calls.iter().map(|(t, _)| t.clone()).collect()
    }

    /// Every entry put on any bus, in order.
    pub fn put_events(&self) -> Vec<PutEntry> {
        self.world().entries.clone()
    }
}

struct Responder(Arc<Mutex<World>>);

fn aws_json(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("content-type", "application/x-amz-json-1.1")
        .insert_header("x-amzn-requestid", uuid::Uuid::new_v4().to_string())
        .set_body_string(body.to_string())
}

fn client_error(kind: &str, message: &str) -> ResponseTemplate {
    aws_json(400, json!({"__type": kind, "message": message}))
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let target = request
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            return client_error("SerializationException", "the body is not JSON");
        };
        let mut world = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        world.calls.push((target.clone(), body.clone()));
        match target.as_str() {
            "secretsmanager.GetSecretValue" => {
                let id = body["SecretId"].as_str().unwrap_or_default();
                match world.secrets.get(id) {
                    Some(value) => aws_json(
                        200,
                        json!({
                            "ARN": secret_arn(id),
                            "Name": id.rsplit(':').next().unwrap_or(id),
                            "SecretString": value,
                            "VersionId": "00000000-0000-4000-8000-000000000001",
                            "VersionStages": ["AWSCURRENT"],
                            "CreatedDate": 1_795_000_000.0,
                        }),
                    ),
                    None => client_error(
                        "ResourceNotFoundException",
                        "Secrets Manager can't find the specified secret.",
                    ),
                }
            }
            "AWSEvents.PutEvents" => {
                let mut results = Vec::new();
                for entry in body["Entries"].as_array().cloned().unwrap_or_default() {
                    let event_id = uuid::Uuid::new_v4().to_string();
                    let text = |key: &str| entry[key].as_str().unwrap_or_default().to_owned();
                    world.entries.push(PutEntry {
                        event_id: event_id.clone(),
                        source: text("Source"),
                        detail_type: text("DetailType"),
                        detail: text("Detail"),
                        event_bus_name: entry["EventBusName"].as_str().map(str::to_owned),
                        resources: entry["Resources"]
                            .as_array()
                            .map(|r| {
                                r.iter()
                                    .filter_map(|v| v.as_str().map(str::to_owned))
                                    .collect()
                            })
                            .unwrap_or_default(),
                        time: entry.get("Time").cloned(),
                    });
                    results.push(json!({"EventId": event_id}));
                }
                aws_json(200, json!({"FailedEntryCount": 0, "Entries": results}))
            }
            other => client_error(
                "UnknownOperationException",
                &format!("the AWS fake does not implement {other:?}"),
            ),
        }
    }
}

fn secret_arn(id: &str) -> String {
    if id.starts_with("arn:") {
        id.to_owned()
    } else {
        format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{id}-AbCdEf")
    }
}
