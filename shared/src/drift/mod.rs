//! The OAuth grant drift audit: grant model, inventory contract and import, the snapshot diff,
//! the scope risk catalog, filings (the outbox), issue rendering, storage and the workflow.

pub mod adapters;
pub mod catalog;
pub mod config;
pub mod diff;
pub mod dry_run;
pub mod file_store;
pub mod filing;
pub mod grant;
pub mod import;
pub mod inventory;
pub mod justification;
pub mod pg_store;
pub mod ports;
pub mod provider;
pub mod render;
pub mod runtime;
pub mod scopes;
pub mod store;
pub mod workflow;
