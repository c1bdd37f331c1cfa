#!/usr/bin/env bash
# The test suite, against a real Postgres (found, or started for the run; see ensure-postgres.sh).
# Database tests never skip: without Postgres they fail and say how to get one.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-postgres.sh
cargo test --workspace --locked "$@"
