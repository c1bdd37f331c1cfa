//! The privileged-grant anomaly review: grants read from an audit source, scored by rules and a
//! model, auto-resolved when routine, sent to people when not.

pub mod adapters;
pub mod card;
pub mod config;
pub mod decision;
pub mod dry_run;
pub mod event;
pub mod history;
pub mod identity;
pub mod identity_map;
pub mod ports;
pub mod quarantine;
pub mod risk;
pub mod risk_scoring;
pub mod runtime;
pub mod source;
pub mod store;
pub mod workflow;
