//! Every benchmark binary answers `--help` with its usage (`drift-bench --help` once
//! used to print `Error: --help needs a value`) and refuses an unknown flag without running.

use std::process::Command;

const BENCHES: &[(&str, &str, &[&str])] = &[
    (
        env!("CARGO_BIN_EXE_drift-bench"),
        "drift-bench",
        &["--sizes", "--churn"],
    ),
    (
        env!("CARGO_BIN_EXE_review-bench"),
        "review-bench",
        &[
            "--events",
            "--latency-ms",
            "--concurrency",
            "--serial-sample",
        ],
    ),
    (
        env!("CARGO_BIN_EXE_rotation-bench"),
        "rotation-bench",
        &["--consumers", "--teams"],
    ),
    (
        env!("CARGO_BIN_EXE_audit-page-bench"),
        "audit-page-bench",
        &["--sizes", "--runs"],
    ),
];

#[test]
fn every_benchmark_prints_its_usage_on_help() {
    for (exe, name, flags) in BENCHES {
        let out = Command::new(exe).arg("--help").output().expect("runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name} --help failed: {text}");
        assert!(text.contains(&format!("Usage: {name}")), "{name}: {text}");
        for flag in *flags {
            assert!(text.contains(flag), "{name} --help does not list {flag}");
        }
    }
}

#[test]
fn an_unknown_flag_is_refused_before_any_work() {
    for (exe, name, _) in BENCHES {
        let out = Command::new(exe)
            .arg("--no-such-flag")
            .output()
            .expect("runs");
        assert!(!out.status.success(), "{name} accepted an unknown flag");
    }
}
