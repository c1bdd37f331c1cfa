//! `secops-local doctor`: the read-only check of everything the chosen workflows need (all four
//! by default), printed as a checklist (or JSON); the process exits with 1 when a check failed.

use anyhow::{Result, bail};
use clap::Args;
use secops_shared::doctor::{self, Scope, Workflow};

#[derive(Args)]
pub struct DoctorArgs {
    /// A workflow to check (repeatable): oauth-drift, privileged-review, rotation-chaser,
    /// mr-audit [default: all four].
    #[arg(long = "workflow", value_name = "NAME")]
    workflows: Vec<String>,
    /// Print the checklist as JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Run the doctor and print its checklist; the exit code the process should end with.
pub async fn doctor(args: DoctorArgs) -> Result<i32> {
    let workflows = chosen(&args.workflows)?;
    let list = doctor::run(&workflows, Scope::Local).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        print!("{}", list.render());
    }
    // The caller exits the process at once: nothing printed may stay in a buffer.
    std::io::Write::flush(&mut std::io::stdout())?;
    Ok(list.exit_code())
}

fn chosen(names: &[String]) -> Result<Vec<Workflow>> {
    if names.is_empty() {
        return Ok(Workflow::ALL.to_vec());
    }
    let mut workflows = Vec::new();
    for name in names {
        let Some(workflow) = Workflow::from_name(name) else {
            let known: Vec<&str> = Workflow::ALL.iter().map(|w| w.name()).collect();
            bail!(
                "unknown workflow {name:?}: expected one of {}",
                known.join(", ")
            );
        };
        if !workflows.contains(&workflow) {
            workflows.push(workflow);
        }
    }
    Ok(workflows)
}
