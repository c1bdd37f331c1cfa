#!/usr/bin/env bash
# Build every Lambda function as Lambda runs it: release profile, arm64 (Graviton), one
# `bootstrap` per function under target/lambda/<name>/ (the layout `sam build` and
# `cargo lambda deploy` use). Then print each binary's size, check it is an aarch64 ELF and
# that the newest glibc symbol it needs is no newer than provided.al2023's glibc (2.34).
#
# Needs cargo-lambda and Zig (the cross linker). If `cargo-lambda` is not on PATH, both are
# pip-installed into the tools venv (.venv-tools/, shared with scripts/validate-template.sh).
#
# Usage: scripts/build-lambdas.sh            all functions (functions/*)
#        scripts/build-lambdas.sh NAME...    only these
set -euo pipefail

cd "$(dirname "$0")/.."

# provided.al2023 ships glibc 2.34; a binary linked against newer symbols fails at start-up.
readonly MAX_GLIBC=2.34
readonly TARGET=aarch64-unknown-linux-gnu
readonly VENV=.venv-tools
# Pinned, so a build today and a build next month use the same toolchain.
readonly CARGO_LAMBDA_VERSION=1.9.2
readonly ZIGLANG_VERSION=0.17.1

say() { printf '==> %s\n' "$*"; }
die() { printf 'build-lambdas: %s\n' "$*" >&2; exit 1; }

if [ "$#" -gt 0 ]; then
  names=("$@")
else
  names=()
  for manifest in functions/*/Cargo.toml; do
    names+=("$(basename "$(dirname "$manifest")")")
  done
fi
[ "${#names[@]}" -gt 0 ] || die "no functions found under functions/"
for name in "${names[@]}"; do
  [ -f "functions/$name/Cargo.toml" ] || die "unknown function: $name (no functions/$name/Cargo.toml)"
done

if ! command -v cargo-lambda >/dev/null 2>&1; then
  say "cargo-lambda not on PATH: installing cargo-lambda $CARGO_LAMBDA_VERSION and ziglang $ZIGLANG_VERSION into $VENV/"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "cargo-lambda==$CARGO_LAMBDA_VERSION" "ziglang==$ZIGLANG_VERSION"
  # The venv's python comes first too, so cargo-lambda finds Zig through `python -m ziglang`.
  export PATH="$PWD/$VENV/bin:$PATH"
fi

if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$TARGET"; then
  say "adding the Rust target $TARGET"
  rustup target add "$TARGET"
fi

packages=()
for name in "${names[@]}"; do packages+=(-p "$name"); done

# --disable-optimizations: without it cargo-lambda adds its own release settings for every key
# the workspace's [profile.release] leaves unset, panic = "abort" among them, which would turn
# a panic into a crashed runtime instead of an invocation error. The workspace profile (thin
# LTO, one codegen unit, strip) is used exactly as written.
say "cargo lambda build --release --arm64 (${#names[@]} functions: ${names[*]})"
start=$(date +%s)
cargo lambda build --release --arm64 --disable-optimizations --locked "${packages[@]}"
elapsed=$(( $(date +%s) - start ))
say "build wall time: ${elapsed}s"

# The newest GLIBC_x.y version a binary needs (readelf reads any architecture's ELF).
glibc_max() {
  { readelf --dyn-syms --wide "$1" 2>/dev/null || true; } \
    | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -t. -k1,1n -k2,2n -k3,3n | tail -n 1
}

failed=0
printf '%-26s %12s %9s  %-8s %s\n' function bytes MB glibc arch
for name in "${names[@]}"; do
  bin="target/lambda/$name/bootstrap"
  if [ ! -f "$bin" ]; then
    printf '%-26s missing: %s\n' "$name" "$bin"
    failed=1
    continue
  fi
  bytes=$(stat -c %s "$bin")
  mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
  glibc=$(glibc_max "$bin")
  arch=$(file -b "$bin" | grep -o 'ARM aarch64' || echo "NOT aarch64: $(file -b "$bin")")
  printf '%-26s %12s %9s  %-8s %s\n' "$name" "$bytes" "$mb" "${glibc:-none}" "$arch"
  case "$arch" in "ARM aarch64") ;; *) failed=1 ;; esac
  if [ -n "$glibc" ] && [ "$(printf '%s\n%s\n' "$glibc" "$MAX_GLIBC" | sort -V | tail -n 1)" != "$MAX_GLIBC" ]; then
    printf '%-26s needs GLIBC_%s, newer than provided.al2023 (%s)\n' "$name" "$glibc" "$MAX_GLIBC"
    failed=1
  fi
done

[ "$failed" -eq 0 ] || die "some binaries are missing or unfit for provided.al2023 (see above)"
say "all ${#names[@]} binaries: aarch64, glibc <= $MAX_GLIBC"
