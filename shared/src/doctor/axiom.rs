//! Axiom: a one-row APL query on each configured dataset with the configured token proves the
//! token, its kind (an API token `xaat-`, or a personal token `xapt-` that needs `AXIOM_ORG_ID`
//! and cannot use edge endpoints; the connector refuses a wrong pairing before any request)
//! and that the dataset exists and is queryable. Ingest is never tried: it would write.

use chrono::{Duration, Utc};

use super::Context;
use super::checklist::{Checklist, quoted};
use crate::connectors::axiom::{AxiomClient, AxiomConfig, AxiomError};

const SUBJECT: &str = "axiom";

/// What the review needs from Axiom.
pub(super) struct Needs<'a> {
    pub url: &'a str,
    pub org_id: Option<&'a str>,
    /// `(setting, dataset)`: the audit events it reads, the review events it writes.
    pub datasets: Vec<(&'static str, &'a str)>,
}

pub(super) async fn check(
    list: &mut Checklist,
    workflow: &'static str,
    context: &Context,
    needs: &Needs<'_>,
) {
    let mut record = list.record(workflow, SUBJECT);
    if !context.has_credentials(&mut record, "datasets queryable", &["axiom_token"]) {
        return;
    }
    let client = AxiomClient::new(
        context.http.clone(),
        context.secrets.clone(),
        AxiomConfig {
            org_id: needs.org_id.map(str::to_owned),
            retry: context.common.retry,
            ..AxiomConfig::new(needs.url)
        },
    );
    let end = Utc::now();
    let start = end - Duration::hours(1);
    for (setting, dataset) in &needs.datasets {
        let name = format!("{setting} {}", quoted(dataset));
        let apl = format!("['{}'] | limit 1", dataset.replace('\'', "\\'"));
        match client.query(&apl, start, end).await {
            Ok(_) => record.pass(
                &name,
                "an APL query on the dataset is answered with this token",
            ),
            Err(e) => {
                let fix = fix(&e, setting, dataset);
                record.fail(&name, e.to_string(), fix);
            }
        }
    }
}

fn fix(error: &AxiomError, setting: &str, dataset: &str) -> String {
    let dataset = crate::text::excerpt(dataset);
    match error {
        AxiomError::PersonalTokenNeedsOrg => "this is a personal token (xapt-): set AXIOM_ORG_ID to your organisation's id, or use an API token (xaat-) with query and ingest on the datasets".to_owned(),
        AxiomError::PersonalTokenOnEdge => "edge endpoints accept API tokens only: use an API token (xaat-) in axiom_token, or set AXIOM_URL to https://api.axiom.co".to_owned(),
        AxiomError::Rejected { status: 404, .. } => format!(
            "create the dataset {dataset} in Axiom, or set {setting} to a dataset that exists"
        ),
        AxiomError::Rejected { status: 401 | 403, .. } => format!(
            "give axiom_token query permission on the dataset {dataset} (and ingest on REVIEW_EVENTS_DATASET's) in Axiom → Settings → API tokens; a personal token also needs the right AXIOM_ORG_ID"
        ),
        AxiomError::Rejected { .. } | AxiomError::Misconfigured(_) => format!(
            "check AXIOM_URL, AXIOM_ORG_ID and {setting}"
        ),
        AxiomError::QueryLimit => "the organisation's query budget is spent: wait for it to reset or raise the plan".to_owned(),
        _ => "retry; if it persists, check AXIOM_URL and the network path to Axiom".to_owned(),
    }
}
