#!/usr/bin/env bash
# Validate template.yaml offline: cfn-lint with the serverless rules, `sam validate --lint`,
# checkov, and scripts/check-template.py (the project's own invariants, which cfn-lint cannot
# see on AWS::Serverless::Function), plus a self-test proving that check can fail.
#
# The tools are pinned and installed once into a virtual environment, .venv-tools/ (gitignored;
# reinstalled when the pins below change). Needs python3 and the PyPI registry for the first
# run; after that it runs without network.
#
# Usage: scripts/validate-template.sh [TEMPLATE]   (default: template.yaml)
# Env:   VALIDATE_SKIP_CHECKOV=1 skips checkov (its install is the heaviest part).
set -euo pipefail

cd "$(dirname "$0")/.."

TEMPLATE=${1:-template.yaml}
readonly VENV=.venv-tools
readonly PINS=(
  "cfn-lint==1.58.0"
  "cfn-lint-serverless==0.3.6"
  "aws-sam-cli==1.170.0"
  "checkov==3.2.459"
)

# sam needs a region even to validate; no credentials are used.
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
export SAM_CLI_TELEMETRY=0
# checkov: no Bridgecrew/Prisma platform mapping download.
export BC_SKIP_MAPPING=TRUE

say() { printf '==> %s\n' "$*"; }
step_ok() { printf '    ok (%ss)\n' "$(( $(date +%s) - step_start ))"; }
die() { printf 'validate-template: %s\n' "$*" >&2; exit 1; }

[ -f "$TEMPLATE" ] || die "no such template: $TEMPLATE"
total_start=$(date +%s)

# --- tools ---------------------------------------------------------------------------------
step_start=$(date +%s)
pins="${PINS[*]}"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.validate-pins" 2>/dev/null)" != "$pins" ]; then
  say "installing pinned tools into $VENV/: $pins"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
  printf '%s' "$pins" > "$VENV/.validate-pins"
else
  say "tools: $VENV/ (pinned: $pins)"
fi
step_ok
bin="$VENV/bin"

# --- 1. cfn-lint -----------------------------------------------------------------------------
# Warnings fail too: the template's own Metadata ignores the few checks that do not fit
# (each with its reason), so any other warning is new and worth a look.
step_start=$(date +%s)
say "cfn-lint $TEMPLATE --append-rules cfn_lint_serverless.rules"
"$bin/cfn-lint" "$TEMPLATE" --append-rules cfn_lint_serverless.rules \
  || die "cfn-lint reported errors or warnings (above)"
step_ok

# --- 2. sam validate -------------------------------------------------------------------------
step_start=$(date +%s)
say "sam validate --lint (region $AWS_DEFAULT_REGION)"
"$bin/sam" validate --lint --template-file "$TEMPLATE" || die "sam validate failed (above)"
step_ok

# --- 3. checkov ------------------------------------------------------------------------------
step_start=$(date +%s)
if [ "${VALIDATE_SKIP_CHECKOV:-0}" = 1 ]; then
  say "checkov: skipped (VALIDATE_SKIP_CHECKOV=1)"
else
  say "checkov -f $TEMPLATE (suppressions and their reasons: .checkov.yaml, Metadata.checkov)"
  "$bin/checkov" -f "$TEMPLATE" --config-file .checkov.yaml || die "checkov reported failed checks (above)"
  step_ok
fi

# --- 4. the project's own invariants ---------------------------------------------------------
step_start=$(date +%s)
say "scripts/check-template.py $TEMPLATE"
"$bin/python" scripts/check-template.py "$TEMPLATE" || die "template invariants failed (above)"
step_ok

# --- 5. self-test: the check must catch a broken copy ----------------------------------------
# A copy next to the original (CodeUri is relative), with a too-small MemorySize, one
# Throttles alarm removed and one role given another function's secret; all must be reported.
step_start=$(date +%s)
say "check-template self-test on a mutated copy"
mutated=$(mktemp "$(dirname "$TEMPLATE")/.check-template-selftest.XXXXXX.yaml")
trap 'rm -f "$mutated"' EXIT
"$bin/python" - "$TEMPLATE" "$mutated" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
text, n1 = re.subn(r"^(      MemorySize: )\d+$", r"\g<1>64", text, count=1, flags=re.M)
text, n2 = re.subn(r"^  \w+ThrottlesAlarm:\n(?:    .*\n|\s*\n)*?(?=^  \S)", "", text, count=1, flags=re.M)
# The internet-facing Slack function's role also given the MR audit's secret.
text, n3 = re.subn(r"(  SlackInteractionsRole:\n(?:    .*\n|\s*\n)*?        - \[!Ref SlackInteractionsSecretReadPolicy)",
                   r"\g<1>, !Ref MrAuditSecretReadPolicy", text, count=1, flags=re.M)
assert n1 == 1 and n2 == 1 and n3 == 1, "the self-test could not mutate the template"
open(sys.argv[2], "w").write(text)
PY
if out=$("$bin/python" scripts/check-template.py "$mutated"); then
  die "self-test: check-template.py passed a template with MemorySize 64, a Throttles alarm removed and a role reading another's secret"
fi
grep -q 'MemorySize may be 64' <<<"$out" || die "self-test: MemorySize 64 not reported: $out"
grep -q 'no Throttles alarm' <<<"$out" || die "self-test: the missing Throttles alarm not reported: $out"
grep -q 'may read the secrets of' <<<"$out" || die "self-test: a role reading another function's secret not reported: $out"
step_ok

say "template valid: all checks passed in $(( $(date +%s) - total_start ))s"
