//! Database roles per workflow (decision 030): each workflow's functions log in as a role that
//! may use that workflow's tables and no other, so a leaked credential of the internet-facing
//! Slack function cannot read the grant inventory, and the drift audit cannot edit reviews.
//!
//! The roles are `NOLOGIN` groups; an operator creates one login user per function and makes it
//! a member (docs/operations.md "Database roles"). Migrations are applied by the schema owner, which
//! re-grants after every migration run, so a table added later reaches its workflow's role
//! without a manual step.

use std::collections::HashMap;

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use crate::credential_scope::Function;

/// One workflow's role and the tables it reads and writes.
#[derive(Debug)]
pub struct WorkflowRole {
    pub role: &'static str,
    pub workflow: &'static str,
    pub tables: &'static [&'static str],
}

/// Every workflow role. A new table goes in exactly one list (the test
/// `every_table_belongs_to_one_workflow_role` fails otherwise).
pub const WORKFLOW_ROLES: &[WorkflowRole] = &[
    WorkflowRole {
        role: "secops_oauth_drift",
        workflow: "oauth-drift",
        tables: &[
            "oauth_grant_inventory",
            "oauth_grant_baseline",
            "oauth_drift_runs",
            "oauth_grant_filings",
            "oauth_grant_changes",
        ],
    },
    WorkflowRole {
        role: "secops_privileged_review",
        workflow: "privileged-review",
        tables: &[
            "privileged_review_checkpoint",
            "privileged_reviews",
            "privileged_review_outbox",
            "privileged_review_quarantine",
            "review_identity_map",
        ],
    },
    WorkflowRole {
        role: "secops_rotation_chaser",
        workflow: "rotation-chaser",
        tables: &[
            "rotation_campaigns",
            "rotation_consumers",
            "rotation_nudges",
            "rotation_digests",
        ],
    },
    WorkflowRole {
        role: "secops_mr_audit",
        workflow: "mr-audit",
        tables: &[
            "mr_audit_merges",
            "mr_audit_deliveries",
            "mr_audit_steps",
            "mr_audit_label_history",
        ],
    },
];

/// The tables `workflow` writes (a dry run shadows exactly these); empty for an unknown name.
pub fn tables_of(workflow: &str) -> &'static [&'static str] {
    WORKFLOW_ROLES
        .iter()
        .find(|role| role.workflow == workflow)
        .map_or(&[], |role| role.tables)
}

/// Readable by every role: a cold start checks that the schema is current.
const SHARED_READ_ONLY: &[&str] = &["schema_migrations"];

/// The roles a function's login user is a member of.
pub fn roles_for(function: Function) -> Vec<&'static WorkflowRole> {
    let workflows: &[&str] = match function {
        Function::OAuthDrift => &["oauth-drift"],
        Function::PrivilegedGrantReview | Function::ReviewWorker => &["privileged-review"],
        // One Slack interactivity URL serves review decisions and rotation confirmations.
        Function::SlackInteractions => &["privileged-review", "rotation-chaser"],
        Function::RotationChaser => &["rotation-chaser"],
        Function::GitLabWebhook | Function::MrAudit => &["mr-audit"],
    };
    WORKFLOW_ROLES
        .iter()
        .filter(|r| workflows.contains(&r.workflow))
        .collect()
}

/// Create the roles that do not exist yet (`NOLOGIN`; needs CREATEROLE), then grant.
/// Returns the roles created.
pub async fn create_roles(client: &Client) -> Result<Vec<&'static str>, tokio_postgres::Error> {
    let mut created = Vec::new();
    for role in WORKFLOW_ROLES {
        if role_exists(client, role.role).await? {
            continue;
        }
        match client
            .batch_execute(&format!("CREATE ROLE {} NOLOGIN", role.role))
            .await
        {
            Ok(()) => created.push(role.role),
            // Another session created it between the check and here.
            Err(e) if is_duplicate_role(&e) => {}
            Err(e) => return Err(e),
        }
    }
    grant(client).await?;
    Ok(created)
}

/// Give every existing workflow role exactly its tables (and their sequences), read access to
/// the migration record, and nothing on the other workflows' tables. Idempotent; run by the
/// schema owner after each migration. Returns the roles granted.
pub async fn grant(client: &Client) -> Result<Vec<&'static str>, tokio_postgres::Error> {
    let present = present_tables(client).await?;
    let mut granted = Vec::new();
    for role in WORKFLOW_ROLES {
        if !role_exists(client, role.role).await? {
            continue;
        }
        let mut sql = format!("GRANT USAGE ON SCHEMA public TO {};\n", role.role);
        for table in SHARED_READ_ONLY {
            sql += &format!("GRANT SELECT ON TABLE {table} TO {};\n", role.role);
        }
        for other in WORKFLOW_ROLES {
            for table in other.tables {
                let Some(sequences) = present.get(*table) else {
                    continue;
                };
                if other.role == role.role {
                    sql += &format!(
                        "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE {table} TO {};\n",
                        role.role
                    );
                    for sequence in sequences {
                        sql += &format!(
                            "GRANT USAGE, SELECT ON SEQUENCE {sequence} TO {};\n",
                            role.role
                        );
                    }
                } else {
                    sql += &format!("REVOKE ALL ON TABLE {table} FROM {};\n", role.role);
                }
            }
        }
        client.batch_execute(&sql).await?;
        granted.push(role.role);
    }
    Ok(granted)
}

async fn role_exists(client: &Client, role: &str) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
        .await?
        .is_some())
}

/// The workflow tables that exist, each with the sequences behind its serial and identity
/// columns: one query, read once for every role.
async fn present_tables(
    client: &Client,
) -> Result<HashMap<String, Vec<String>>, tokio_postgres::Error> {
    let tables: Vec<&str> = WORKFLOW_ROLES
        .iter()
        .flat_map(|r| r.tables.iter().copied())
        .collect();
    let rows = client
        .query(
            "SELECT t.relname::text, s.relname::text
               FROM pg_class t
               LEFT JOIN pg_depend d ON d.refobjid = t.oid AND d.deptype IN ('a', 'i')
                     AND d.classid = 'pg_class'::regclass
               LEFT JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
              WHERE t.oid IN (SELECT to_regclass(name) FROM unnest($1::text[]) AS name)",
            &[&tables],
        )
        .await?;
    let mut present: HashMap<String, Vec<String>> = HashMap::new();
    for row in rows {
        let sequences = present.entry(row.get(0)).or_default();
        if let Some(sequence) = row.get::<_, Option<String>>(1) {
            sequences.push(sequence);
        }
    }
    Ok(present)
}

fn is_duplicate_role(error: &tokio_postgres::Error) -> bool {
    matches!(
        error.code(),
        Some(&SqlState::DUPLICATE_OBJECT) | Some(&SqlState::UNIQUE_VIOLATION)
    )
}

/// The statement an operator runs to create a function's login user (password to be chosen).
pub fn login_user_sql(function: Function) -> String {
    let user = format!("secops_{}", function.name().replace('-', "_"));
    let groups: Vec<&str> = roles_for(function).iter().map(|r| r.role).collect();
    format!(
        "CREATE ROLE {user} LOGIN PASSWORD '<choose one>' IN ROLE {};",
        groups.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_table_belongs_to_one_role_and_each_function_has_one() {
        let mut seen = std::collections::HashSet::new();
        for role in WORKFLOW_ROLES {
            for table in role.tables {
                assert!(seen.insert(*table), "{table} is in two roles");
            }
        }
        for function in Function::ALL {
            assert!(!roles_for(function).is_empty(), "{}", function.name());
        }
    }

    #[test]
    fn the_internet_facing_functions_cannot_touch_the_grant_inventory() {
        for function in [Function::SlackInteractions, Function::GitLabWebhook] {
            for role in roles_for(function) {
                assert!(
                    !role.tables.contains(&"oauth_grant_inventory"),
                    "{}",
                    function.name()
                );
            }
        }
        assert_eq!(
            login_user_sql(Function::SlackInteractions),
            "CREATE ROLE secops_slack_interactions LOGIN PASSWORD '<choose one>' IN ROLE secops_privileged_review, secops_rotation_chaser;"
        );
    }
}
