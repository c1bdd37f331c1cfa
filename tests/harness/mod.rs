//! The test harness: a fresh Postgres database per test, stateful fakes of the external APIs,
//! and verbs that read like the feature.

pub mod db;
pub mod drift;
pub mod fake_aws;
pub mod fake_axiom;
pub mod fake_confluence;
pub mod fake_gitlab;
pub mod fake_linear;
pub mod fake_openai;
pub mod fake_slack;
pub mod grants;
pub mod lambda_emulator;
pub mod logs;
pub mod mr_audit;
pub mod review;
pub mod rotation;
pub mod snapshots;
pub mod startup;
