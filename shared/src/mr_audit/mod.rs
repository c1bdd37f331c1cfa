//! The security MR audit trail: a GitLab merge of a `security::*` MR is recorded once, then
//! audited: approvals fetched, separation of duties judged, the linked Linear issues closed as
//! audited (or left open on a violation), an evidence row added to a Confluence page, and a
//! confirmation (or an alert) posted in Slack.

pub mod adapters;
pub mod config;
pub mod dry_run;
pub mod duties;
pub mod event;
pub mod evidence;
pub mod facts;
pub mod hook;
pub mod links;
pub mod ports;
pub mod projects;
pub mod render;
pub mod resolves;
pub mod runtime;
pub mod steps;
pub mod store;
pub mod table;
pub mod workflow;

/// The workflow's name in logs, metrics, roles and settings.
pub const WORKFLOW: &str = "mr-audit";
