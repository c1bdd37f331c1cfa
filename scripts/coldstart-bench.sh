#!/usr/bin/env bash
# Cold-start benchmark (tests/coldstart_bench.rs): builds the seven functions and hello-lambda
# with the release profile (Lambda's), finds or starts Postgres, then starts each binary N times
# under the Runtime API emulator and prints median and p90 init (spawn → first /next) against
# hello-lambda.
#
# Usage: scripts/coldstart-bench.sh [runs] [rtt-ms]   (defaults 20 and 0: see tests/coldstart_bench.rs)
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-20}"
rtt_ms="${2:-0}"
cargo build --locked --release -p oauth-drift -p privileged-grant-review -p slack-interactions \
  -p review-worker -p rotation-chaser -p gitlab-webhook -p mr-audit -p hello-lambda

source scripts/ensure-postgres.sh

export SECOPS_LAMBDA_BIN_DIR="${CARGO_TARGET_DIR:-$PWD/target}/release"
# The bench itself only spawns processes and serves the Runtime API: the test profile is enough.
cargo run --locked -p secops-tests --bin coldstart-bench -- --runs "$runs" --rtt-ms "$rtt_ms"
