//! `secops-local secrets split` and `secops-local db-roles`: the two steps from one shared
//! secret and one database user to a secret and a database role per function (decision 030).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use secops_shared::credential_scope::Function;
use secops_shared::db_roles;
use secops_shared::secrets::parse_credentials;
use serde_json::{Map, Value};

#[derive(Subcommand)]
pub enum SecretsCommand {
    /// Cut a shared credentials JSON (the secret's value, as a file) into one file per function,
    /// each holding only the keys that function uses. Values are copied, never printed.
    Split {
        /// The shared secret's JSON, e.g. from `aws secretsmanager get-secret-value
        /// --query SecretString --output text > shared.json`.
        file: PathBuf,
        /// Where `<function>.json` files are written (created; files are mode 0600).
        #[arg(long, default_value = "out/secrets")]
        out: PathBuf,
    },
}

pub fn secrets(command: SecretsCommand) -> Result<()> {
    match command {
        SecretsCommand::Split { file, out } => split(&file, &out),
    }
}

fn split(file: &Path, out: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    // The same checks a function applies at start-up; errors never quote values.
    parse_credentials(&file.display().to_string(), &text)?;
    let Value::Object(shared) = serde_json::from_str::<Value>(&text)? else {
        bail!("{} is not a JSON object", file.display());
    };
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for function in Function::ALL {
        let own: Map<String, Value> = function
            .credential_keys()
            .iter()
            .filter_map(|key| {
                let value = shared.get(*key)?;
                let set = value.as_str().is_some_and(|v| !v.trim().is_empty());
                set.then(|| ((*key).to_owned(), value.clone()))
            })
            .collect();
        let path = out.join(format!("{}.json", function.name()));
        write_private(
            &path,
            &serde_json::to_string_pretty(&Value::Object(own.clone()))?,
        )?;
        let keys: Vec<&str> = own.keys().map(String::as_str).collect();
        println!(
            "{:<24} {} key(s): {}  -> {}",
            function.name(),
            keys.len(),
            keys.join(", "),
            path.display()
        );
    }
    println!(
        "\nNext, for each function: aws secretsmanager create-secret --name secops/<function> \
         --secret-string file://{}/<function>.json, then deploy with <Function>SecretArn set to \
         its ARN (docs/operations.md \"One secret per function\"). Delete the files afterwards.",
        out.display()
    );
    Ok(())
}

/// Written with mode 0600 from the start: the files hold credentials.
fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

/// Create the workflow roles (as the schema owner), grant them their tables, and print the
/// statement creating each function's login user.
pub async fn db_roles() -> Result<()> {
    let client = crate::configured_database().await?;
    let created = db_roles::create_roles(&client)
        .await
        .context("cannot create the workflow roles: connect as the schema owner with CREATEROLE")?;
    println!("roles created: {created:?} (already there if empty); grants applied to:");
    for role in db_roles::WORKFLOW_ROLES {
        println!("  {:<26} {}", role.role, role.tables.join(", "));
    }
    println!(
        "\nOne login user per function (choose the passwords; put each URL in that function's secret):"
    );
    for function in Function::ALL {
        println!("  {}", db_roles::login_user_sql(function));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_gives_each_function_only_its_keys_in_private_files() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared.json");
        std::fs::write(
            &shared,
            r#"{"database_url":"postgres://u:pw@db/x","slack_signing_secret":"sig",
                "slack_bot_token":"xoxb-1","gitlab_token":"glpat-1","linear_api_key":"lin",
                "gitlab_webhook_token":"","openai_api_key":"sk-1"}"#,
        )
        .unwrap();
        let out = dir.path().join("out");

        split(&shared, &out).unwrap();

        let read = |function: Function| -> Map<String, Value> {
            let path = out.join(format!("{}.json", function.name()));
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&path).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{}", path.display());
            }
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        };
        let slack = read(Function::SlackInteractions);
        let keys: Vec<&str> = slack.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["database_url", "slack_bot_token", "slack_signing_secret"]
        );
        assert_eq!(slack["slack_signing_secret"], "sig");
        // An empty value is absent, as the functions read it.
        assert!(
            read(Function::GitLabWebhook)
                .get("gitlab_webhook_token")
                .is_none()
        );
        assert!(!read(Function::OAuthDrift).contains_key("gitlab_token"));
    }
}
