//! GitLab: the token is accepted (`GET /user`), and for each configured project it reads the
//! project, its merge requests and the latest one's approvals: what the audit worker reads.
//! Only GETs.

use super::Context;
use super::checklist::{Checklist, Recorder, quoted};
use crate::connectors::gitlab::{GitLabClient, GitLabConfig, GitLabError};
use crate::mr_audit::projects::ProjectAllowlist;

const SUBJECT: &str = "gitlab";
const SCOPE_FIX: &str = "the token needs the read_api scope (a personal, project or group access token), and its user at least the Reporter role in the project";

pub(super) async fn check(
    list: &mut Checklist,
    workflow: &'static str,
    context: &Context,
    gitlab_url: &str,
    projects: Option<&ProjectAllowlist>,
) {
    let mut record = list.record(workflow, SUBJECT);
    if !context.has_credentials(&mut record, "token accepted", &["gitlab_token"]) {
        return;
    }
    let client = GitLabClient::new(
        context.http.clone(),
        context.secrets.clone(),
        GitLabConfig {
            retry: context.common.retry,
            ..GitLabConfig::new(gitlab_url)
        },
    );
    let user = match client.current_user().await {
        Ok(user) => {
            record.pass(
                "token accepted",
                format!("acting as @{}", crate::text::excerpt(&user.username)),
            );
            user.username
        }
        Err(e) => {
            record.fail("token accepted", e.to_string(), token_fix(&e, gitlab_url));
            return;
        }
    };
    let Some(projects) = projects else {
        record.skip(
            "projects",
            "MR_AUDIT_GITLAB_PROJECTS is unset: every project the token reaches is audited, so no project can be checked ahead",
        );
        return;
    };
    for project in projects.projects() {
        check_project(&mut record, &client, &user, &project).await;
    }
    for group in projects.groups() {
        record.skip(
            &format!("MR_AUDIT_GITLAB_PROJECTS {group}/*"),
            "a group: its projects are checked per delivery",
        );
    }
}

async fn check_project(
    record: &mut Recorder<'_>,
    client: &GitLabClient,
    user: &str,
    project: &str,
) {
    let name = format!("project {project}");
    let found = match client.project(project).await {
        Ok(found) => found,
        Err(e) => {
            let fix = match &e {
                GitLabError::NotFound { .. } => format!(
                    "add @{} to {} with at least the Reporter role, or fix MR_AUDIT_GITLAB_PROJECTS",
                    crate::text::excerpt(user),
                    quoted(project)
                ),
                _ => SCOPE_FIX.to_owned(),
            };
            record.fail(&name, e.to_string(), fix);
            return;
        }
    };
    let latest = match client.latest_merge_request(found.id).await {
        Ok(latest) => latest,
        Err(e) => {
            record.fail(
                &name,
                format!("the project is readable, its merge requests are not: {e}"),
                SCOPE_FIX,
            );
            return;
        }
    };
    let Some(iid) = latest else {
        record.pass(
            &name,
            format!(
                "{} readable; no merge request yet, so approvals were not read",
                quoted(&found.path_with_namespace)
            ),
        );
        return;
    };
    match client.approvals(found.id, iid).await {
        Ok(_) => record.pass(
            &name,
            format!(
                "{}: merge requests and the approvals of !{iid} readable",
                quoted(&found.path_with_namespace)
            ),
        ),
        Err(e) => record.fail(
            &name,
            format!("the approvals of !{iid} are not readable: {e}"),
            SCOPE_FIX,
        ),
    }
}

fn token_fix(error: &GitLabError, gitlab_url: &str) -> String {
    match error {
        GitLabError::Auth { status: 403 } => SCOPE_FIX.to_owned(),
        GitLabError::Auth { .. } => {
            "put a valid, unexpired token with the read_api scope in gitlab_token".to_owned()
        }
        GitLabError::Misconfigured(_) => format!(
            "set GITLAB_URL to the instance's https URL (now {})",
            quoted(gitlab_url)
        ),
        _ => format!(
            "check GITLAB_URL ({}) and the network path to GitLab",
            quoted(gitlab_url)
        ),
    }
}
