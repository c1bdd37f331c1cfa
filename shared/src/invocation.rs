//! One Lambda invocation as the logs see it: a `cold start complete` line once per container, a
//! span carrying the run id around each workflow run, and exactly one `invocation summary` line
//! per invocation. Lambda's request id needs nothing here: `lambda_runtime::run` already wraps
//! every invocation in a span with `requestId`, which the JSON formatter prints on each line.

use std::fmt::Display;
use std::future::Future;
use std::time::Instant;

use tracing::{Instrument, Span};
use uuid::Uuid;

use crate::dry_run::DryRunReport;
use crate::failure::{self, Classify, Failure};
use crate::runtime::{StartupTimings, millis_since};

/// A function's runtime, able to say where its cold start's time went.
pub trait ColdStarted {
    fn timings(&self) -> StartupTimings;
}

/// Lambda gives an invocation's deadline as wall-clock time; the workflows measure with
/// `Instant`, which a clock step cannot move.
pub fn deadline_instant(deadline: std::time::SystemTime) -> Instant {
    let left = deadline
        .duration_since(std::time::SystemTime::now())
        .unwrap_or(std::time::Duration::ZERO);
    Instant::now() + left
}

/// Build a function's runtime: one `cold start complete` line when it is ready, or one
/// `<function> cannot start` line naming what is wrong, reported to Lambda's init-error call
/// (so the console shows its kind and message), then exit with status 1. Exiting here rather
/// than returning the error from `main` keeps that line the only one: Rust would print the
/// error's `Debug` form as a second, unstructured line. Lambda starts afresh at the next event,
/// so a bad configuration never loops.
pub async fn cold_start<R, E>(
    function: &'static str,
    start: impl Future<Output = Result<R, E>>,
) -> R
where
    R: ColdStarted,
    E: Classify + Display,
{
    let started = Instant::now();
    match start.await {
        Ok(runtime) => {
            let t = runtime.timings();
            tracing::info!(
                function,
                total_ms = millis_since(started),
                secret_ms = t.secret_ms,
                database_ms = t.database_ms,
                "cold start complete"
            );
            runtime
        }
        Err(e) => {
            let failure = Failure::of(&e);
            tracing::error!(
                function,
                error_type = failure.kind.error_type(),
                error = %failure.message,
                "{function} cannot start"
            );
            failure::report_init_error(&failure).await;
            std::process::exit(1)
        }
    }
}

/// What a run's summary line counts: the categories its EMF metrics cover, under one set of
/// field names for every workflow, so one Logs Insights query reads them all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Items the run found needing attention (grants flagged, consumers outstanding, ...).
    pub flagged: u64,
    /// External side effects made (issues filed, cards posted, nudges sent, ...).
    pub side_effects: u64,
    pub failures: u64,
    /// Work left for a later run.
    pub pending: u64,
}

/// A workflow report the invocation summary can count.
pub trait Summarised {
    fn tally(&self) -> Tally;
}

/// What a scheduled invocation answers: the run's report, or a dry run's (decision 035).
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum Answer<R> {
    Ran(R),
    DryRun(DryRunReport<R>),
}

impl<R: Summarised> Summarised for Answer<R> {
    fn tally(&self) -> Tally {
        match self {
            Answer::Ran(report) => report.tally(),
            Answer::DryRun(dry) => dry.tally(),
        }
    }
}

impl<R: Summarised> Summarised for DryRunReport<R> {
    /// A dry run made no side effect: what it would have made is in its `would` list.
    fn tally(&self) -> Tally {
        Tally {
            side_effects: 0,
            ..self.report.tally()
        }
    }
}

/// A workflow invocation in flight: its run id is on every line logged inside [`Run::run`].
pub struct Run {
    function: &'static str,
    run_id: Uuid,
    started: Instant,
    span: Span,
}

impl Run {
    pub fn start(function: &'static str) -> Self {
        let run_id = Uuid::new_v4();
        Self {
            function,
            run_id,
            started: Instant::now(),
            span: tracing::info_span!(
                "run",
                function,
                run_id = %run_id,
                dry_run = tracing::field::Empty
            ),
        }
    }

    /// Mark a dry run (decision 035): every line of the run, its summary included, then carries
    /// `dry_run: true`, so a log query can tell it from the real runs.
    pub fn dry_run(self, dry_run: bool) -> Self {
        if dry_run {
            self.span.record("dry_run", true);
        }
        self
    }

    /// Do the run (given its id, for a workflow that records it) inside the span, then log
    /// the summary.
    pub async fn run<T, E, W>(self, work: impl FnOnce(Uuid) -> W) -> Result<T, E>
    where
        T: Summarised,
        E: Display,
        W: Future<Output = Result<T, E>>,
    {
        let result = work(self.run_id).instrument(self.span.clone()).await;
        let line = match &result {
            Ok(report) => Line::ok().tally(report.tally()),
            Err(e) => Line::error(e),
        };
        summarise(
            &self.span,
            self.function,
            self.started,
            Some(self.run_id),
            line,
        );
        result
    }
}

/// An HTTP request in flight. The runtime's `requestId` already tells requests apart.
pub struct Request {
    function: &'static str,
    started: Instant,
    span: Span,
}

impl Request {
    pub fn start(function: &'static str) -> Self {
        Self {
            function,
            started: Instant::now(),
            // Who sent it, filled in once the event is decoded (`edge::decode`): every line of
            // the request, a refusal's included, then names the caller.
            span: tracing::info_span!(
                "request",
                function,
                source_ip = tracing::field::Empty,
                user_agent = tracing::field::Empty
            ),
        }
    }

    /// Answer inside the span, then log the summary with the status and what was done
    /// (`handled`). A 5xx is an error: the request was ours to answer and we could not.
    pub async fn serve<T, E: Display>(
        self,
        work: impl Future<Output = Result<T, E>>,
        answer: impl Fn(&T) -> (u16, &'static str),
    ) -> Result<T, E> {
        let result = work.instrument(self.span.clone()).await;
        let line = match &result {
            Ok(reply) => {
                let (status, handled) = answer(reply);
                let line = if status >= 500 {
                    Line::error(&format!("answered {status}"))
                } else {
                    Line::ok()
                };
                Line {
                    status: Some(status),
                    handled: Some(handled),
                    ..line
                }
            }
            Err(e) => Line::error(e),
        };
        summarise(&self.span, self.function, self.started, None, line);
        result
    }
}

fn summarise(span: &Span, function: &str, started: Instant, run_id: Option<Uuid>, line: Line) {
    let t = line.tally;
    span.in_scope(|| {
        tracing::info!(
            function,
            outcome = line.outcome,
            duration_ms = millis_since(started),
            run_id = run_id.map(tracing::field::display),
            flagged = t.map(|t| t.flagged),
            side_effects = t.map(|t| t.side_effects),
            failures = t.map(|t| t.failures),
            pending = t.map(|t| t.pending),
            status = line.status,
            handled = line.handled,
            error = line.error.as_deref(),
            "invocation summary"
        );
    });
}

/// The variable part of a summary line.
struct Line {
    outcome: &'static str,
    tally: Option<Tally>,
    status: Option<u16>,
    handled: Option<&'static str>,
    error: Option<String>,
}

impl Line {
    fn ok() -> Self {
        Self {
            outcome: "ok",
            tally: None,
            status: None,
            handled: None,
            error: None,
        }
    }

    fn error(e: &dyn Display) -> Self {
        Self {
            outcome: "error",
            error: Some(e.to_string()),
            ..Self::ok()
        }
    }

    fn tally(self, tally: Tally) -> Self {
        Self {
            tally: Some(tally),
            ..self
        }
    }
}

/// Whether a scheduled function's input asks for a dry run (`{"dry_run": true}`; decision 035).
/// Anything but `true` or `false` is refused, and so is a key that looks like a misspelt
/// `dry_run` (`dryRun`, `dry-run`, `DRY_RUN`, …): a typo must never turn a dry run into a real
/// one.
pub fn asks_for_dry_run(input: &serde_json::Value) -> Result<bool, Failure> {
    let refuse = |message: String| Err(Failure::new(failure::FailureKind::BadInput, message));
    if let Some(fields) = input.as_object()
        && let Some(typo) = fields.keys().find(|key| {
            *key != "dry_run"
                && key
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .collect::<String>()
                    .eq_ignore_ascii_case("dryrun")
        })
    {
        return refuse(format!(
            "the input names {}: did you mean dry_run? nothing was run",
            crate::text::excerpt(&serde_json::Value::from(typo.as_str()).to_string())
        ));
    }
    // The doctor's flag (read before this) is as strict: only `true` asks for it.
    if let Some(other) = input.get("doctor").filter(|v| !v.is_boolean()) {
        return refuse(format!(
            "the input's doctor must be true or false, not {}; nothing was run",
            crate::text::excerpt(&other.to_string())
        ));
    }
    match input.get("dry_run") {
        None => Ok(false),
        Some(serde_json::Value::Bool(asked)) => Ok(*asked),
        Some(other) => refuse(format!(
            "the input's dry_run must be true or false, not {}; nothing was run",
            crate::text::excerpt(&other.to_string())
        )),
    }
}

#[cfg(test)]
mod dry_run_flag {
    use super::asks_for_dry_run;
    use serde_json::json;

    #[test]
    fn only_a_boolean_asks_and_anything_else_runs_nothing() {
        assert!(!asks_for_dry_run(&json!({"workflow": "oauth-drift"})).unwrap());
        assert!(asks_for_dry_run(&json!({"dry_run": true})).unwrap());
        assert!(!asks_for_dry_run(&json!({"dry_run": false})).unwrap());
        for typo in [
            json!({"dry_run": "true"}),
            json!({"dry_run": 1}),
            json!({"dry_run": null}),
            json!({"dryRun": true}),
            json!({"dry-run": true}),
            json!({"DRY_RUN": true}),
            json!({"dryrun": false}),
            json!({"doctor": "true"}),
        ] {
            let refused = asks_for_dry_run(&typo).unwrap_err();
            assert!(refused.to_string().contains("nothing was run"), "{refused}");
        }
    }
}
