#!/usr/bin/env bash
# Fuzz the parsers and renderers with cargo-fuzz (libFuzzer): every target in fuzz/fuzz_targets/,
# or the ones named, each for N seconds, starting from its seed corpus in fuzz/corpus/<target>/.
# cargo-fuzz needs nightly rustc flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
# Crashes land in fuzz/artifacts/<target>/ (ignored by git); minimise one with
# `RUSTC_BOOTSTRAP=1 cargo fuzz tmin <target> <file>` and keep it in fuzz/regressions/<target>/.
# New inputs libFuzzer finds go to a scratch copy of the corpus, so the committed seeds stay small.
#
# Usage: scripts/fuzz.sh [--time N] [target ...]    (default: 60 s per target, every target)
#        scripts/fuzz.sh --list
# Extra libFuzzer flags: FUZZ_ARGS="-max_len=65536 -jobs=2" scripts/fuzz.sh linear_issue
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --time) seconds="$2"; shift 2 ;;
    --list) ls fuzz/fuzz_targets | sed 's/\.rs$//'; exit 0 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [[ ${#targets[@]} -eq 0 ]]; then
  mapfile -t targets < <(ls fuzz/fuzz_targets | sed 's/\.rs$//')
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing; installing it (cargo install cargo-fuzz --locked)" >&2
  cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
failed=()
for target in "${targets[@]}"; do
  if [[ ! -f "fuzz/fuzz_targets/$target.rs" ]]; then
    echo "no such target: $target (scripts/fuzz.sh --list)" >&2
    exit 2
  fi
  scratch="fuzz/target/corpus/$target"
  mkdir -p "$scratch"
  cp -n "fuzz/corpus/$target"/* "$scratch"/ 2>/dev/null || true
  echo "== $target: ${seconds} s" >&2
  # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
  if ! cargo fuzz run --fuzz-dir fuzz "$target" "$scratch" "fuzz/corpus/$target" \
      -- -max_total_time="$seconds" ${FUZZ_ARGS:-}; then
    failed+=("$target")
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "failed: ${failed[*]} (crashes in fuzz/artifacts/)" >&2
  exit 1
fi
echo "all ${#targets[@]} target(s) ran ${seconds} s without a failure" >&2
