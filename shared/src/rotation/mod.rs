//! The stale-consumer rotation chaser: consumers still on a retired key past their deadline,
//! bucketed by lateness, nudged per owning team in a tone that hardens, summarised for the
//! security lead, and left alone the moment they confirm.

pub mod adapters;
pub mod bucket;
pub mod clicks;
pub mod config;
pub mod consumer;
pub mod digest;
pub mod dry_run;
pub mod input;
pub mod message;
pub mod ports;
pub mod runtime;
pub mod store;
pub mod workflow;

/// The `Workflow` dimension of every rotation metric.
pub const WORKFLOW: &str = "rotation-chaser";
