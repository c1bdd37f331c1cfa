//! The doctor's answer: one line per check (passed, failed with its fix, or skipped with the
//! reason), rendered for a terminal or as JSON. Text from a service (a team, channel or page
//! name) is quoted as one bounded line, so it cannot forge a line of the checklist.

use serde::{Serialize, Serializer};

use crate::text;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// Not run: something it needs failed first (the detail says what).
    Skip,
}

/// One check of one thing a workflow needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// `oauth-drift`, `privileged-review`, `rotation-chaser`, `mr-audit`, or `common` for what
    /// every workflow shares (the secret, Postgres).
    pub workflow: String,
    /// What is checked: `settings`, `secret`, `postgres`, `slack`, `linear`, `axiom`,
    /// `gitlab`, `confluence`, `openai`.
    pub subject: String,
    pub name: String,
    pub status: Status,
    pub detail: String,
    /// For a failure: exactly what to change.
    pub fix: Option<String>,
}

/// Quote text that came from a service or a setting: one line, bounded.
pub fn quoted(value: &str) -> String {
    format!("\"{}\"", text::excerpt(value))
}

/// Every check, in the order they ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checklist {
    pub checks: Vec<Check>,
}

/// Adds checks for one workflow and subject.
pub struct Recorder<'a> {
    list: &'a mut Checklist,
    workflow: &'static str,
    subject: &'static str,
}

impl Checklist {
    /// A recorder of `workflow`'s checks about `subject`.
    pub fn record(&mut self, workflow: &'static str, subject: &'static str) -> Recorder<'_> {
        Recorder {
            list: self,
            workflow,
            subject,
        }
    }

    /// No check failed.
    pub fn ok(&self) -> bool {
        self.failures().next().is_none()
    }

    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status == Status::Fail)
    }

    /// The process exit code for `secops-local doctor`: 0 when nothing failed, else 1.
    pub fn exit_code(&self) -> i32 {
        if self.ok() { 0 } else { 1 }
    }

    fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// The checklist for a terminal: a summary line, then each workflow's checks, `✓` passed,
    /// `✗` failed (with its fix indented below), `–` skipped.
    pub fn render(&self) -> String {
        let mut out = format!(
            "secops doctor: {} passed, {} failed, {} skipped\n",
            self.count(Status::Pass),
            self.count(Status::Fail),
            self.count(Status::Skip)
        );
        let mut workflow = "";
        for check in &self.checks {
            if check.workflow != workflow {
                workflow = &check.workflow;
                out.push_str(&format!("\n{workflow}\n"));
            }
            let mark = match check.status {
                Status::Pass => '✓',
                Status::Fail => '✗',
                Status::Skip => '–',
            };
            out.push_str(&format!(
                "  {mark} {}: {} — {}\n",
                check.subject, check.name, check.detail
            ));
            if let Some(fix) = &check.fix {
                out.push_str(&format!("      fix: {fix}\n"));
            }
        }
        out
    }
}

impl Serialize for Checklist {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View<'a> {
            ok: bool,
            passed: usize,
            failed: usize,
            skipped: usize,
            checks: &'a [Check],
        }
        View {
            ok: self.ok(),
            passed: self.count(Status::Pass),
            failed: self.count(Status::Fail),
            skipped: self.count(Status::Skip),
            checks: &self.checks,
        }
        .serialize(serializer)
    }
}

impl Recorder<'_> {
    fn push(&mut self, name: &str, status: Status, detail: String, fix: Option<String>) {
        self.list.checks.push(Check {
            workflow: self.workflow.to_owned(),
            subject: self.subject.to_owned(),
            name: name.to_owned(),
            status,
            detail,
            fix,
        });
    }

    pub fn pass(&mut self, name: &str, detail: impl Into<String>) {
        self.push(name, Status::Pass, detail.into(), None);
    }

    pub fn fail(&mut self, name: &str, detail: impl Into<String>, fix: impl Into<String>) {
        self.push(name, Status::Fail, detail.into(), Some(fix.into()));
    }

    pub fn skip(&mut self, name: &str, reason: impl Into<String>) {
        self.push(name, Status::Skip, reason.into(), None);
    }

    /// Pass or fail by `result`: `Ok(detail)` or `Err((detail, fix))`.
    pub fn outcome(&mut self, name: &str, result: Result<String, (String, String)>) -> bool {
        match result {
            Ok(detail) => {
                self.pass(name, detail);
                true
            }
            Err((detail, fix)) => {
                self.fail(name, detail, fix);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_shows_its_fix_and_fails_the_list() {
        let mut list = Checklist::default();
        list.record("common", "secret").pass("parses", "13 keys");
        list.record("oauth-drift", "linear")
            .fail("team", "no team \"X\"", "set LINEAR_TEAM_ID");
        list.record("oauth-drift", "openai")
            .skip("model", "no OPENAI_MODEL");
        let text = list.render();
        assert!(text.starts_with("secops doctor: 1 passed, 1 failed, 1 skipped"));
        assert!(text.contains("  ✗ linear: team — no team \"X\"\n      fix: set LINEAR_TEAM_ID\n"));
        assert!(text.contains("  – openai: model — no OPENAI_MODEL"));
        assert!(!list.ok());
        assert_eq!(list.exit_code(), 1);
        let json = serde_json::to_value(&list).unwrap();
        assert_eq!(json["ok"], false);
        assert_eq!(json["checks"][1]["status"], "fail");
        assert_eq!(json["checks"][1]["fix"], "set LINEAR_TEAM_ID");
    }

    #[test]
    fn quoted_service_text_stays_on_one_line() {
        assert_eq!(quoted("a\nb"), "\"a b\"");
    }
}
