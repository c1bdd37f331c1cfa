#!/usr/bin/env bash
# The test suite, against a real Postgres (found, or started for the run; see ensure-postgres.sh).
# Database tests never skip: without Postgres they fail and say how to get one.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-postgres.sh
# A snapshot that differs from tests/snapshots/ fails the run and nothing is written (no
# `.snap.new` left behind). To review a changed rendering: `INSTA_UPDATE=new scripts/test.sh`
# writes `.snap.new` files beside the old ones; `INSTA_UPDATE=always` accepts every change.
export INSTA_UPDATE="${INSTA_UPDATE:-no}"
cargo test --workspace --locked "$@"
