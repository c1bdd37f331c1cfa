//! secops-workflows shared crate: configuration, secrets, Postgres, HTTP with retries,
//! telemetry, the connectors, and the workflows themselves. Lambda binaries and the local
//! runner are thin wiring around this crate.

pub mod config;
pub mod connectors;
pub mod credential_scope;
pub mod db;
pub mod db_roles;
pub mod doctor;
pub mod drift;
pub mod dry_run;
pub mod edge;
pub mod failure;
pub mod http;
pub mod invocation;
pub mod markdown;
pub mod mr_audit;
pub mod ports;
pub mod review;
pub mod rotation;
pub mod rows;
pub mod runtime;
pub mod secrets;
pub mod signing;
pub mod slack;
pub mod slack_router;
pub mod telemetry;
pub mod text;
