//! A cold start without its configuration fails fast with one clear log line, not a panic.

secops_tests::review_startup_tests!(
    "slack-interactions",
    env!("CARGO_BIN_EXE_slack-interactions")
);
