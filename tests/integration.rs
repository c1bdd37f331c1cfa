//! Every end-to-end test of the workspace in one test binary: each file beside this one is a
//! module here instead of a binary of its own, so the AWS SDK, the fakes and the harness are
//! linked once rather than twenty times. Run one file's tests with a filter on its module, e.g.
//! `scripts/test.sh --test integration -- drift_workflow::`.
//!
//! `lambda_emulated.rs` stays a binary of its own: its tests spawn the built functions and run
//! only through `scripts/lambda-e2e.sh`.

mod axiom_connector;
mod confluence_connector;
mod database_handle;
mod doctor;
mod drift_data;
mod drift_render;
mod drift_workflow;
mod eventbridge_connector;
mod gitlab_connector;
mod least_privilege;
mod linear_connector;
mod mr_audit_hook;
mod mr_audit_workflow;
mod openai_connector;
mod review_decisions;
mod review_workflow;
mod rotation_clicks;
mod rotation_sweep;
mod secrets_in_logs;
mod shadow_state;
mod slack_connector;
mod store_contract;
mod webhook_connector;
