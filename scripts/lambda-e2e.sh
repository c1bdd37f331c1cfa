#!/usr/bin/env bash
# The built function binaries, run as Lambda runs them (tests/lambda_emulated.rs): builds the
# seven functions for this host (x86_64, no cross toolchain needed), finds or starts Postgres,
# then runs the emulated end-to-end tests against them.
#
# Usage: scripts/lambda-e2e.sh [--profile release|dev] [extra cargo test args, after --]
#   release (default) is Lambda's profile (thin LTO, one codegen unit); dev reuses what
#   `cargo test --workspace` already built (CI runs this one, right after the tests).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
while [ "$#" -gt 0 ]; do
  case "$1" in
    --profile) profile="${2:?--profile takes release or dev}"; shift 2 ;;
    --profile=*) profile="${1#--profile=}"; shift ;;
    --) shift; break ;;
    *) echo "usage: scripts/lambda-e2e.sh [--profile release|dev] [-- test args]" >&2; exit 2 ;;
  esac
done
case "$profile" in
  release) out_dir=release ;;
  dev) out_dir=debug ;;
  *) echo "lambda-e2e: --profile must be release or dev" >&2; exit 2 ;;
esac

readonly FUNCTIONS=(oauth-drift privileged-grant-review slack-interactions review-worker
  rotation-chaser gitlab-webhook mr-audit)

started=$SECONDS
packages=()
for f in "${FUNCTIONS[@]}"; do packages+=(-p "$f"); done
echo "==> building ${#FUNCTIONS[@]} functions (profile $profile)" >&2
if [ "$profile" = dev ]; then
  # The same command as scripts/test.sh: each function's own tests need its binary, so this
  # builds all seven with the workspace's test features and reuses everything `cargo test`
  # built (a `cargo build -p` of the functions alone would resolve other features and rebuild).
  cargo test --workspace --locked --no-run
else
  cargo build --locked --profile "$profile" "${packages[@]}"
fi
built=$SECONDS

source scripts/ensure-postgres.sh

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
export SECOPS_LAMBDA_BIN_DIR="$target_dir/$out_dir"
echo "==> running tests/lambda_emulated.rs against $SECOPS_LAMBDA_BIN_DIR" >&2
# --workspace, not -p secops-tests: the same feature set as scripts/test.sh, so the test crate
# and its dependencies are not compiled a second time.
cargo test --workspace --locked --test lambda_emulated -- --include-ignored "$@"
finished=$SECONDS

echo "lambda-e2e ($profile): build $((built - started)) s, tests $((finished - built)) s, total $((finished - started)) s" >&2
