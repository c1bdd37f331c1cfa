//! `doctor`: a read-only check of everything an enabled workflow needs, runnable locally
//! (`secops-local doctor`) and in Lambda (a scheduled function invoked with `{"doctor": true}`).
//! Each setting is parsed as the workflow parses it, each credential is looked for where the
//! workflow's functions look, and each service gets one read-only call that proves the
//! credential and its permissions. The answer is a [`Checklist`] whose failures carry the exact
//! fix. Nothing is written anywhere: the only POSTs are Linear's GraphQL query, Axiom's APL query
//! and the model's test prompt (and Slack's Web API methods, all of them reads here).
//!
//! An entry point like `slack_router`: it may import the connectors and each workflow's
//! settings; only the functions and the runner import it.

mod axiom;
mod checklist;
mod common;
mod confluence;
mod credentials;
mod drift;
mod gitlab;
mod linear;
mod mr_audit;
mod openai;
mod postgres;
mod review;
mod rotation;
mod slack;

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

pub use checklist::{Check, Checklist, Status};

use crate::config::{CommonSettings, ConfigError, Env};
use crate::credential_scope::Function;
use crate::secrets::{Credentials, SecretSource, SecretStore};

/// The four workflows, by the names the docs and the logs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workflow {
    OAuthDrift,
    PrivilegedReview,
    RotationChaser,
    MrAudit,
}

impl Workflow {
    pub const ALL: [Workflow; 4] = [
        Workflow::OAuthDrift,
        Workflow::PrivilegedReview,
        Workflow::RotationChaser,
        Workflow::MrAudit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workflow::OAuthDrift => crate::drift::workflow::WORKFLOW,
            Workflow::PrivilegedReview => crate::review::workflow::WORKFLOW,
            Workflow::RotationChaser => crate::rotation::WORKFLOW,
            Workflow::MrAudit => crate::mr_audit::WORKFLOW,
        }
    }

    pub fn from_name(name: &str) -> Option<Workflow> {
        Workflow::ALL.into_iter().find(|w| w.name() == name)
    }

    /// Every function of the workflow (a local run checks the credentials of each).
    fn functions(self) -> &'static [Function] {
        crate::credential_scope::functions_of(self.name())
    }

    /// The workflow a scheduled function runs.
    pub fn of_function(function: Function) -> Option<Workflow> {
        match function {
            Function::OAuthDrift => Some(Workflow::OAuthDrift),
            Function::PrivilegedGrantReview => Some(Workflow::PrivilegedReview),
            Function::RotationChaser => Some(Workflow::RotationChaser),
            Function::MrAudit => Some(Workflow::MrAudit),
            _ => None,
        }
    }
}

/// Where the doctor runs, which decides whose credentials it looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// On a workstation: one credentials source serves every function of each workflow.
    Local,
    /// In this Lambda function: its own secret, so only its own keys.
    Function(Function),
}

/// What the workflows' checks share: the settings every function reads, the secret and the
/// HTTP client.
pub(crate) struct Context {
    pub common: CommonSettings,
    pub secrets: Arc<SecretStore>,
    /// `None` when the secret could not be read (its own check failed).
    pub credentials: Option<Arc<Credentials>>,
    pub http: reqwest::Client,
    pub scope: Scope,
    /// The Postgres connection, when it was reached; only read through.
    pub db: Option<tokio_postgres::Client>,
}

impl Context {
    /// Where a missing credential must be added, for fix texts.
    pub fn secret_place(&self) -> String {
        match &self.common.secret_source {
            SecretSource::SecretsManager { secret_id } => {
                format!("the secret {}", checklist::quoted(secret_id))
            }
            SecretSource::File(path) => {
                format!(
                    "the credentials file {}",
                    checklist::quoted(&path.display().to_string())
                )
            }
            SecretSource::Environment => {
                "the environment (the key's name in upper case)".to_owned()
            }
        }
    }

    /// The credential, when the secret was read and holds a non-blank value.
    pub fn credential(&self, key: &str) -> Option<&secrecy::SecretString> {
        use secrecy::ExposeSecret;
        self.credentials
            .as_ref()?
            .get(key)
            .filter(|v| !v.expose_secret().trim().is_empty())
    }

    /// Whether every one of `keys` is present. If not, `check` is recorded as skipped, naming
    /// them: the secret's own checks already say what is missing and how to fix it.
    pub(super) fn has_credentials(
        &self,
        record: &mut checklist::Recorder<'_>,
        check: &str,
        keys: &[&str],
    ) -> bool {
        if keys.iter().all(|key| self.credential(key).is_some()) {
            return true;
        }
        record.skip(
            check,
            format!("no {} (see the secret's checks)", keys.join(" or ")),
        );
        false
    }
}

/// The settings of the workflows asked for, each parsed as its runtime parses it (an error
/// becomes a failed check, not an early exit).
struct Plan {
    workflows: Vec<Workflow>,
    scope: Scope,
    common: Result<CommonSettings, ConfigError>,
    drift: Option<drift::Settings>,
    review: Option<review::Settings>,
    rotation: Option<rotation::Settings>,
    mr_audit: Option<mr_audit::Settings>,
}

impl Plan {
    fn read<F: Fn(&str) -> Option<String>>(
        env: &Env<F>,
        workflows: &[Workflow],
        scope: Scope,
    ) -> Self {
        let wants = |w: Workflow| workflows.contains(&w);
        Plan {
            workflows: workflows.to_vec(),
            scope,
            common: CommonSettings::from_env(env),
            drift: wants(Workflow::OAuthDrift).then(|| drift::Settings::read(env)),
            review: wants(Workflow::PrivilegedReview).then(|| review::Settings::read(env)),
            rotation: wants(Workflow::RotationChaser).then(|| rotation::Settings::read(env)),
            mr_audit: wants(Workflow::MrAudit).then(|| mr_audit::Settings::read(env)),
        }
    }

    async fn check(self) -> Checklist {
        let mut list = Checklist::default();
        let Some(context) = common::check(&mut list, self.common, self.scope).await else {
            for workflow in &self.workflows {
                list.record(workflow.name(), "services").skip(
                    "every service",
                    "the common settings could not be read (see above)",
                );
            }
            return list;
        };
        // Each workflow's checks together: settings, credentials, then its services.
        if let Some(settings) = &self.drift {
            drift::check(&mut list, &context, settings).await;
        }
        if let Some(settings) = &self.review {
            review::check(&mut list, &context, settings).await;
        }
        if let Some(settings) = &self.rotation {
            rotation::check(&mut list, &context, settings).await;
        }
        if let Some(settings) = &self.mr_audit {
            mr_audit::check(&mut list, &context, settings).await;
        }
        list
    }
}

/// Check `workflows` with the process environment's settings.
pub async fn run(workflows: &[Workflow], scope: Scope) -> Checklist {
    run_with(&Env::process(), workflows, scope).await
}

/// Check `workflows` with the settings `env` gives (tests pass their own).
pub fn run_with<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    workflows: &[Workflow],
    scope: Scope,
) -> impl Future<Output = Checklist> + Send + use<F> {
    Plan::read(env, workflows, scope).check()
}

/// Whether a scheduled function's input asks for the doctor: `{"doctor": true}`.
pub fn asked(input: &Value) -> bool {
    input.get("doctor").and_then(Value::as_bool) == Some(true)
}

/// What a scheduled function answers: its run's report, or the doctor's checklist.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Reply<T> {
    Report(T),
    Doctor(Checklist),
}

impl crate::invocation::Summarised for Checklist {
    /// The invocation summary counts the failed checks as flagged: the doctor changes nothing.
    fn tally(&self) -> crate::invocation::Tally {
        crate::invocation::Tally {
            flagged: self.failures().count() as u64,
            ..crate::invocation::Tally::default()
        }
    }
}

impl<T: crate::invocation::Summarised> crate::invocation::Summarised for Reply<T> {
    fn tally(&self) -> crate::invocation::Tally {
        match self {
            Reply::Report(report) => report.tally(),
            Reply::Doctor(list) => list.tally(),
        }
    }
}

/// A scheduled function's answer to `{"doctor": true}`, as the work of its `invocation::Run`
/// (so the invocation has its run id and summary line like any other): the checklist, never an
/// error.
pub async fn answer<T, E>(function: Function, deadline: Instant) -> Result<Reply<T>, E> {
    Ok(Reply::Doctor(in_lambda(function, deadline).await))
}

/// The doctor for the workflow `function` runs, as that function sees it (its own secret and
/// settings), finishing before `deadline`; one log line per failed check.
pub async fn in_lambda(function: Function, deadline: Instant) -> Checklist {
    let workflows: Vec<Workflow> = Workflow::of_function(function).into_iter().collect();
    let list =
        crate::http::with_deadline(Some(deadline), run(&workflows, Scope::Function(function)))
            .await;
    for check in list.failures() {
        tracing::warn!(
            workflow = %check.workflow,
            subject = %check.subject,
            check = %check.name,
            detail = %check.detail,
            fix = check.fix.as_deref().unwrap_or_default(),
            "doctor: check failed"
        );
    }
    tracing::info!(
        ok = list.ok(),
        checks = list.checks.len(),
        "doctor finished"
    );
    list
}
