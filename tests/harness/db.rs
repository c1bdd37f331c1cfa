//! Per-test Postgres databases (in progress).
