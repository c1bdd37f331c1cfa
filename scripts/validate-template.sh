#!/usr/bin/env bash
# Validate template.yaml offline: cfn-lint with the serverless rules, `sam validate --lint`,
# checkov, and scripts/check-template.py (the project's own invariants, which cfn-lint cannot
# see on AWS::Serverless::Function), plus a self-test proving that check can fail.
#
# Every workflow can be deployed alone (Enable<Workflow>), so five combinations are validated:
# each workflow alone and all four. The first three tools see each combination as a variant
# of the template whose Enable<Workflow> defaults are rewritten (generated into a temporary
# directory, removed on exit); check-template.py evaluates the combinations itself. To keep
# the time small every tool starts once for all five (tool start-up is most of the cost) and
# the three external tools run side by side, each one's output printed when it is done.
#
# The tools are pinned and installed once into a virtual environment, .venv-tools/ (gitignored;
# reinstalled when the pins below change). Needs python3 and the PyPI registry for the first
# run; after that it runs without network.
#
# Usage: scripts/validate-template.sh [TEMPLATE]   (default: template.yaml)
# Env:   VALIDATE_SKIP_CHECKOV=1 skips checkov (its install is the heaviest part).
#        VALIDATE_SEQUENTIAL=1 runs the tools one after the other (easier to read when one fails).
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

# --- the five combinations ------------------------------------------------------------------
# Variants with every other workflow's Enable default rewritten to 'false'; the template itself
# (all four enabled by default) is the fifth. A temporary directory next to the template, as the
# functions' CodeUri is relative to it.
workdir=$(mktemp -d "$(dirname "$TEMPLATE")/.validate-variants.XXXXXX")
mutated=""
declare -A tool_pid
# On any exit: stop the tools still running (one failed first) and remove the copies.
cleanup() {
  local pid
  for pid in "${tool_pid[@]}"; do pkill -P "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
  rm -rf "$workdir" ${mutated:+"$mutated"}
}
trap cleanup EXIT
"$bin/python" - "$TEMPLATE" "$workdir" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
switches = {"oauth-drift": "EnableOAuthDrift", "privileged-review": "EnablePrivilegedReview",
            "rotation-chaser": "EnableRotationChaser", "mr-audit": "EnableMrAudit"}
for workflow, keep in switches.items():
    variant = text
    for switch in switches.values():
        if switch != keep:
            variant, n = re.subn(rf"^(  {switch}:\n    Type: String\n    Default: )'true'$", r"\1'false'",
                                 variant, count=1, flags=re.M)
            assert n == 1, f"{switch} has no Default: 'true' to rewrite"
    open(f"{sys.argv[2]}/{workflow}.yaml", "w").write(variant)
PY
templates=("$TEMPLATE" "$workdir"/oauth-drift.yaml "$workdir"/privileged-review.yaml \
  "$workdir"/rotation-chaser.yaml "$workdir"/mr-audit.yaml)
say "combinations: all four ($TEMPLATE) and each alone (${templates[*]:1})"

# One tool over the five templates: `run_tool NAME COMMAND...` starts it in the background
# (or runs it, with VALIDATE_SEQUENTIAL=1), output and time kept for report_tool.
run_tool() {
  local name=$1
  if [ "${VALIDATE_SEQUENTIAL:-0}" = 1 ]; then
    tool_status "$@"
  else
    tool_status "$@" &
    tool_pid[$name]=$!
  fi
}
tool_status() {
  local name=$1 rc=0; shift
  date +%s >"$workdir/$name.start"
  "$@" >"$workdir/$name.log" 2>&1 || rc=$?
  date +%s >"$workdir/$name.end"
  echo "$rc" >"$workdir/$name.rc"
}
report_tool() {
  local name=$1 what=$2 failure=$3
  if [ -n "${tool_pid[$name]:-}" ]; then wait "${tool_pid[$name]}" || true; fi
  say "$what"
  cat "$workdir/$name.log"
  [ "$(cat "$workdir/$name.rc" 2>/dev/null)" = 0 ] || die "$failure"
  printf '    ok (%ss)\n' "$(( $(cat "$workdir/$name.end") - $(cat "$workdir/$name.start") ))"
}

# `sam validate --lint` on each template, in one Python process: sam's start-up paid once. It is
# the entry point the `sam` command itself calls (samcli.cli.main:cli).
sam_validate_all() {
  "$bin/python" - "$@" <<'PY'
import sys
from samcli.cli.main import cli
failed = []
for path in sys.argv[1:]:
    try:
        cli.main(["validate", "--lint", "--template-file", path], prog_name="sam", standalone_mode=False)
    except SystemExit as e:
        if e.code:
            failed.append(path)
    except Exception as e:  # a lint finding arrives as sam's LinterRuleMatchedException
        print(f"{path}: {e}")
        failed.append(path)
sys.exit(1 if failed else 0)
PY
}

checkov_files=()
for t in "${templates[@]}"; do checkov_files+=(-f "$t"); done

# --- 1-3. cfn-lint, sam validate, checkov ---------------------------------------------------
# cfn-lint: warnings fail too: the template's own Metadata ignores the few checks that do not
# fit (each with its reason), so any other warning is new and worth a look.
run_tool cfn-lint "$bin/cfn-lint" "${templates[@]}" --append-rules cfn_lint_serverless.rules
run_tool sam-validate sam_validate_all "${templates[@]}"
if [ "${VALIDATE_SKIP_CHECKOV:-0}" != 1 ]; then
  run_tool checkov "$bin/checkov" "${checkov_files[@]}" --config-file .checkov.yaml
fi
report_tool cfn-lint "cfn-lint (5 templates) --append-rules cfn_lint_serverless.rules" \
  "cfn-lint reported errors or warnings (above)"
report_tool sam-validate "sam validate --lint (5 templates, region $AWS_DEFAULT_REGION)" "sam validate failed (above)"
if [ "${VALIDATE_SKIP_CHECKOV:-0}" = 1 ]; then
  say "checkov: skipped (VALIDATE_SKIP_CHECKOV=1)"
else
  report_tool checkov "checkov (5 templates; suppressions and their reasons: .checkov.yaml, Metadata.checkov)" \
    "checkov reported failed checks (above)"
fi

# --- 4. the project's own invariants ---------------------------------------------------------
step_start=$(date +%s)
say "scripts/check-template.py $TEMPLATE (every combination, evaluated in-process)"
"$bin/python" scripts/check-template.py "$TEMPLATE" || die "template invariants failed (above)"
step_ok

# --- 5. self-test: the check must catch a broken copy ----------------------------------------
# A copy next to the original (CodeUri is relative), with a too-small MemorySize, one
# Throttles alarm removed, one role given another function's secret, an MR audit queue and the
# bus without their Condition (so they stay when their workflows are disabled), a schedule
# on regardless of OAuthDriftSchedule and the Slack endpoint given a review setting without the
# review; each must be reported.
step_start=$(date +%s)
say "check-template self-test on a mutated copy"
mutated=$(mktemp "$(dirname "$TEMPLATE")/.check-template-selftest.XXXXXX.yaml")
"$bin/python" - "$TEMPLATE" "$mutated" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
text, n1 = re.subn(r"^(      MemorySize: )\d+$", r"\g<1>64", text, count=1, flags=re.M)
text, n2 = re.subn(r"^  \w+ThrottlesAlarm:\n(?:    .*\n|\s*\n)*?(?=^  \S)", "", text, count=1, flags=re.M)
# The internet-facing Slack function's role also given the MR audit's secret.
text, n3 = re.subn(r"(  SlackInteractionsRole:\n(?:    .*\n|\s*\n)*?        - \[!Ref SlackInteractionsSecretReadPolicy)",
                   r"\g<1>, !Ref MrAuditSecretReadPolicy", text, count=1, flags=re.M)
text, n4 = re.subn(r"^(  MrAuditFailureQueue:\n    Type: .*\n)    Condition: MrAuditEnabled\n", r"\g<1>", text, count=1, flags=re.M)
text, n5 = re.subn(r"^(  SecOpsEventBus:\n    Type: .*\n)    Condition: EventBusNeeded\n", r"\g<1>", text, count=1, flags=re.M)
text, n6 = re.subn(r"State: !If \[OAuthDriftScheduleOn, ENABLED, DISABLED\]", "State: ENABLED", text, count=1)
# The Slack endpoint given a review setting even without the review.
text, n7 = re.subn(r"REVIEW_TIMEZONE: !If \[PrivilegedReviewEnabled, !Ref ReviewTimezone, !Ref AWS::NoValue\]",
                   "REVIEW_TIMEZONE: !Ref ReviewTimezone", text, count=1)
assert (n1, n2, n3, n4, n5, n6, n7) == (1,) * 7, "the self-test could not mutate the template"
open(sys.argv[2], "w").write(text)
PY
if out=$("$bin/python" scripts/check-template.py "$mutated"); then
  die "self-test: check-template.py passed a template with MemorySize 64, a Throttles alarm removed, a role reading another's secret, resources without their Condition, a schedule always on and a stray Slack setting"
fi
grep -q 'MemorySize may be 64' <<<"$out" || die "self-test: MemorySize 64 not reported: $out"
grep -q 'no Throttles alarm' <<<"$out" || die "self-test: the missing Throttles alarm not reported: $out"
grep -q 'may read the secrets of' <<<"$out" || die "self-test: a role reading another function's secret not reported: $out"
# ... and, without the MR audit, that secret's policy does not exist: a reference to it is caught.
grep -q 'refers to MrAuditSecretReadPolicy, which this combination does not deploy' <<<"$out" \
  || die "self-test: a reference to a resource the combination drops not reported: $out"
grep -q 'MrAuditFailureQueue .*belongs to mr-audit, which is disabled' <<<"$out" \
  || die "self-test: an MR audit queue left in a stack without the MR audit not reported: $out"
grep -q 'SecOpsEventBus .*needed by none of the enabled workflows' <<<"$out" \
  || die "self-test: the bus left in a stack that does not need it not reported: $out"
grep -q "DailySchedule.*State is 'ENABLED', not DISABLED" <<<"$out" \
  || die "self-test: a schedule on while OAuthDriftSchedule=off not reported: $out"
grep -q "gets privileged-review's settings \['REVIEW_TIMEZONE'\] while it is disabled" <<<"$out" \
  || die "self-test: the Slack endpoint given a disabled workflow's setting not reported: $out"
step_ok

say "template valid: all checks passed in $(( $(date +%s) - total_start ))s"
