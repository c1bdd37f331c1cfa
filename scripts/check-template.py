#!/usr/bin/env python3
"""Invariants of template.yaml that cfn-lint does not check.

cfn-lint validates CloudFormation resources, but an AWS::Serverless::Function is only expanded
by the SAM transform at deploy time: a wrong Runtime, MemorySize or Timeout there passes it.
This script reads the template with cfn-lint's own loader (so !Ref, !GetAtt, !If... are
understood), merges Globals into each function the way SAM does, and asserts what this project
promises about every function, queue, schedule, alarm and IAM statement.

Each workflow can be enabled on its own (Enable<Workflow>), so the template is checked once per
combination that CI promises (each workflow alone, all four; and all four with their schedules
on): the Conditions are evaluated for that combination's switches, resources and outputs whose
Condition is false are dropped, an Fn::If on a known condition becomes its branch, and every
check runs on what is left. Conditions on other parameters (InVpc, Has<Function>Secret...) stay
unknown: their resources are kept and both branches of their Fn::If are checked, as before.
Per combination it also asserts that a disabled workflow leaves no resource or output of its
own, that a shared piece (Slack endpoint, HTTP API, bus) exists exactly when an enabled workflow
needs it, that nothing left refers to a dropped resource, that each schedule's State follows
its <Workflow>Schedule switch, and that the Slack endpoint is told the workflows it serves.

Prints one line per failed assertion, naming the resource (and the template line) and the
combinations it failed in, and exits 1 if any failed; exits 0 with a one-line summary otherwise.

Usage: check-template.py [TEMPLATE]   (default: template.yaml next to this script's parent)
Needs: cfn-lint installed in the running Python (scripts/validate-template.sh provides one).
"""

from __future__ import annotations

import copy
import re
import sys
import tomllib
from pathlib import Path
from typing import Any, Iterator

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parent.parent

# Lambda limits, and API Gateway's integration timeout (30 s for HTTP APIs, 29 s for REST).
MIN_MEMORY, MAX_MEMORY = 128, 10240
MAX_TIMEOUT = 900
MAX_HTTP_TIMEOUT = 29

HTTP_EVENTS = {"HttpApi", "Api"}
# Event sources that invoke Lambda asynchronously (Lambda's own retries and destinations apply).
ASYNC_EVENTS = {"ScheduleV2", "Schedule", "EventBridgeRule", "CloudWatchEvent", "SNS", "S3"}
SCHEDULE_EVENTS = {"ScheduleV2"}
BUS_EVENTS = {"EventBridgeRule", "CloudWatchEvent"}

# Every function reads the secret and connects to Postgres (directly or through the proxy).
REQUIRED_ENV = ("SECRET_ID", "DATABASE_PROXY_ENDPOINT", "DATABASE_CA_BUNDLE")

# The only IAM actions allowed on Resource '*', and why AWS leaves no narrower choice.
STAR_RESOURCE_ALLOWED = {
    "ec2:CreateNetworkInterface": "Lambda checks it on '*' when it creates a VPC function's interfaces",
    "ec2:DescribeNetworkInterfaces": "Describe actions support no resource-level permissions",
    "ec2:DescribeSubnets": "Describe actions support no resource-level permissions",
    "xray:PutTraceSegments": "X-Ray supports no resource-level permissions",
    "xray:PutTelemetryRecords": "X-Ray supports no resource-level permissions",
}

# The workflows: the parameter that enables each, and the one that turns its schedule on.
WORKFLOWS = {
    "oauth-drift": ("EnableOAuthDrift", "OAuthDriftSchedule"),
    "privileged-review": ("EnablePrivilegedReview", "PrivilegedReviewSchedule"),
    "rotation-chaser": ("EnableRotationChaser", "RotationChaserSchedule"),
    "mr-audit": ("EnableMrAudit", "MrAuditSchedule"),
}
# The shared pieces and the workflows that need them: each exists iff one of those is enabled.
SHARED = {
    "slack-router": {"privileged-review", "rotation-chaser"},
    "http-api": {"privileged-review", "rotation-chaser", "mr-audit"},
    "bus": {"privileged-review", "mr-audit"},
}
# Who owns a resource or output, by its logical id: the first matching prefix wins. A new
# resource must fit one (or be added here), so none escapes the per-workflow checks.
OWNERS = [
    ("SecOpsEventBus", "bus"),
    ("EventBus", "bus"),
    ("SecOpsHttpApi", "http-api"),
    ("HttpApi", "http-api"),
    ("Slack", "slack-router"),
    ("OAuthDrift", "oauth-drift"),
    ("PrivilegedGrantReview", "privileged-review"),
    ("ReviewWorker", "privileged-review"),
    ("ReviewDecided", "privileged-review"),
    ("Rotation", "rotation-chaser"),
    ("GitLab", "mr-audit"),
    ("MrAudit", "mr-audit"),
    ("VpcNetworkInterfacePolicy", "every function"),
]
# The Slack endpoint's SLACK_ROUTER_WORKFLOWS: the enabled ones of these, in this order.
SLACK_ROUTED = ("privileged-review", "rotation-chaser")
# The variables (by prefix) the Slack endpoint gets for each of them.
SLACK_SETTINGS = {"privileged-review": ("REVIEW_", "EVENT_BUS_NAME"), "rotation-chaser": ("ROTATION_",)}


def combinations() -> list[tuple[str, dict[str, str]]]:
    """The switch settings checked: each workflow alone and all four (schedules off, their
    default), and all four with every schedule on."""
    def switches(enabled: set[str], schedules: str) -> dict[str, str]:
        values = {}
        for wf, (enable, schedule) in WORKFLOWS.items():
            values[enable] = "true" if wf in enabled else "false"
            values[schedule] = schedules
        return values
    combos = [(wf, switches({wf}, "off")) for wf in WORKFLOWS]
    combos.append(("all four", switches(set(WORKFLOWS), "off")))
    combos.append(("all four, schedules on", switches(set(WORKFLOWS), "on")))
    return combos


# Failed assertions: the message (with resource and line) -> the combinations it failed in.
failures: dict[str, list[str]] = {}
current_combination = ""


def fail(resource: str, node: Any, message: str) -> None:
    line = getattr(getattr(node, "start_mark", None), "line", None)
    where = f" (line {line + 1})" if line is not None else ""
    seen_in = failures.setdefault(f"FAIL {resource}{where}: {message}", [])
    if current_combination and current_combination not in seen_in:
        seen_in.append(current_combination)


# --- template helpers ----------------------------------------------------------------------


def merge_globals(glob: Any, props: Any) -> Any:
    """SAM's Globals rules: maps merge, lists append to the global list, scalars override."""
    if isinstance(glob, dict) and isinstance(props, dict):
        merged = dict(glob)
        for key, value in props.items():
            merged[key] = merge_globals(glob[key], value) if key in glob else value
        return merged
    if isinstance(glob, list) and isinstance(props, list):
        return list(glob) + list(props)
    return props


def ref_name(value: Any) -> str | None:
    """The logical id a !Ref or !GetAtt points at."""
    if isinstance(value, dict) and len(value) == 1:
        if "Ref" in value and isinstance(value["Ref"], str):
            return value["Ref"]
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            if isinstance(target, list) and target:
                return str(target[0])
            if isinstance(target, str):
                return target.split(".")[0]
    return None


def number_range(value: Any, params: dict) -> tuple[float, float] | None:
    """The values a number may take: a literal, or a parameter's declared bounds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return (value, value)
    if isinstance(value, str):
        try:
            v = float(value)
            return (v, v)
        except ValueError:
            return None
    name = ref_name(value)
    if name and "Ref" in value and name in params:
        p = params[name]
        if "AllowedValues" in p:
            vals = [float(v) for v in p["AllowedValues"]]
            return (min(vals), max(vals))
        if "MinValue" in p and "MaxValue" in p:
            return (float(p["MinValue"]), float(p["MaxValue"]))
    return None


def check_range(res: str, node: Any, what: str, value: Any, lo: float, hi: float, params: dict) -> None:
    rng = number_range(value, params)
    if rng is None:
        fail(res, node, f"{what} is unset or not a bounded number ({value!r})")
    elif rng[0] < lo or rng[1] > hi:
        fail(res, node, f"{what} may be {rng[0]:g}..{rng[1]:g}, outside {lo:g}..{hi:g}")


def if_branches(value: Any) -> Iterator[Any]:
    """Both branches of an Fn::If (recursively), or the value itself; AWS::NoValue dropped."""
    if isinstance(value, dict) and "Fn::If" in value:
        _, yes, no = value["Fn::If"]
        yield from if_branches(yes)
        yield from if_branches(no)
    elif not (isinstance(value, dict) and value.get("Ref") == "AWS::NoValue"):
        yield value


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def owner(logical_id: str) -> str | None:
    return next((o for prefix, o in OWNERS if logical_id.startswith(prefix)), None)


# --- conditions ----------------------------------------------------------------------------

PSEUDO_PARAMETERS = ("AWS::",)


def evaluate(expr: Any, params: dict[str, str], conditions: dict, template_conditions: dict) -> bool | None:
    """A condition's value for the known parameters, or None when it depends on others
    (three-valued: an unknown operand decides nothing unless the others already do)."""
    def value(operand: Any) -> str | None:
        if isinstance(operand, (str, int, float)) and not isinstance(operand, bool):
            return str(operand)
        if isinstance(operand, dict) and set(operand) == {"Ref"}:
            return params.get(operand["Ref"])
        return None

    if not isinstance(expr, dict) or len(expr) != 1:
        return None
    (fn, args), = expr.items()
    if fn == "Condition":
        return condition_value(args, params, conditions, template_conditions)
    if fn == "Fn::Equals":
        a, b = (value(x) for x in args)
        return None if a is None or b is None else a == b
    if fn == "Fn::Not":
        v = evaluate(args[0], params, conditions, template_conditions)
        return None if v is None else not v
    if fn in ("Fn::And", "Fn::Or"):
        values = [evaluate(x, params, conditions, template_conditions) for x in args]
        decisive = fn == "Fn::Or"  # True decides an Or, False an And
        if decisive in values:
            return decisive
        return None if None in values else not decisive
    return None


def condition_value(name: str, params: dict[str, str], conditions: dict, template_conditions: dict) -> bool | None:
    if name not in conditions:
        conditions[name] = None  # a cycle stays unknown (CloudFormation refuses one anyway)
        conditions[name] = evaluate(template_conditions.get(name), params, conditions, template_conditions)
    return conditions[name]


NO_VALUE = object()


def resolve(node: Any, conditions: dict) -> Any:
    """`node` with every Fn::If on a known condition replaced by its branch, in place (the
    template's line numbers stay); AWS::NoValue left by a resolved branch removes its key or
    item. Fn::If on an unknown condition stays, its branches resolved."""
    if isinstance(node, dict):
        if len(node) == 1 and "Fn::If" in node and isinstance(node["Fn::If"], list) and len(node["Fn::If"]) == 3:
            name, yes, no = node["Fn::If"]
            known = conditions.get(name) if isinstance(name, str) else None
            if known is not None:
                return resolve(yes if known else no, conditions)
            for i in (1, 2):
                branch = resolve(node["Fn::If"][i], conditions)
                if branch is not NO_VALUE:
                    node["Fn::If"][i] = branch
            return node
        if node == {"Ref": "AWS::NoValue"}:
            return NO_VALUE
        for key in list(node):
            value = resolve(node[key], conditions)
            if value is NO_VALUE:
                del node[key]
            else:
                node[key] = value
        return node
    if isinstance(node, list):
        items = [resolve(v, conditions) for v in node]
        node[:] = [v for v in items if v is not NO_VALUE]
        return node
    return node


def for_combination(template: dict, params: dict[str, str]) -> dict:
    """A copy of the template as CloudFormation would deploy it with these switches: resources
    and outputs whose Condition is false dropped, known Fn::If resolved."""
    template_conditions = template.get("Conditions") or {}
    conditions: dict = {}
    for name in template_conditions:
        condition_value(name, params, conditions, template_conditions)
    t = copy.deepcopy(template)
    for section in ("Resources", "Outputs"):
        items = t.get(section) or {}
        for name in list(items):
            if conditions.get(items[name].get("Condition")) is False:
                del items[name]
    for section in ("Resources", "Outputs", "Globals"):
        if section in t:
            resolve(t[section], conditions)
    return t


def references(node: Any) -> Iterator[tuple[str, Any]]:
    """Every logical id or parameter that `node` refers to (Ref, GetAtt, Sub), with the node."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                yield value, node
            elif key == "Fn::GetAtt":
                target = ref_name({key: value})
                if target:
                    yield target, node
            elif key == "Fn::Sub":
                text, variables = (value[0], value[1]) if isinstance(value, list) else (value, {})
                for name in re.findall(r"\$\{([^}!][^}]*)\}", text if isinstance(text, str) else ""):
                    name = name.split(".")[0]
                    if name not in (variables or {}):
                        yield name, node
                yield from references(variables)
                continue
            yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


# --- workspace -----------------------------------------------------------------------------


def workspace_binaries() -> dict[str, str]:
    """Binary name -> package, for every crate under functions/."""
    bins: dict[str, str] = {}
    for manifest in sorted((ROOT / "functions").glob("*/Cargo.toml")):
        data = tomllib.loads(manifest.read_text())
        package = data["package"]["name"]
        declared = data.get("bin", [])
        for b in declared:
            bins[b.get("name", package)] = package
        if not declared and (manifest.parent / "src" / "main.rs").exists():
            bins[package] = package
    return bins


def is_workspace_root(code_uri: Any, template_dir: Path) -> bool:
    if not isinstance(code_uri, str):
        return False
    manifest = (template_dir / code_uri / "Cargo.toml").resolve()
    return manifest.exists() and "workspace" in tomllib.loads(manifest.read_text())


# --- checks --------------------------------------------------------------------------------


def iam_statements(resources: dict) -> Iterator[tuple[str, Any]]:
    """Every IAM policy statement in the template, with the resource that holds it."""
    for name, res in resources.items():
        rtype, props = res.get("Type"), res.get("Properties") or {}
        docs = []
        if rtype == "AWS::IAM::Role":
            docs = [p.get("PolicyDocument") for policy in props.get("Policies") or []
                    for p in if_branches(policy) if isinstance(p, dict)]
        elif rtype in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            docs = [props.get("PolicyDocument")]
        elif rtype == "AWS::Serverless::Function":
            docs = [p for p in as_list(props.get("Policies") or []) if isinstance(p, dict) and "Statement" in p]
        for doc in docs:
            for branch in if_branches(doc):
                if not isinstance(branch, dict):
                    continue
                for stmt in as_list(branch.get("Statement") or []):
                    for s in if_branches(stmt):
                        yield name, s


def own_secret(prefix: str) -> dict:
    """The one secret function `prefix` may read: its own if set, else the shared one."""
    return {"Fn::If": [f"Has{prefix}Secret", {"Ref": f"{prefix}SecretArn"}, {"Ref": "SecretArn"}]}


def check_secret_scopes(resources: dict, functions: dict) -> None:
    """Each function reads one secret (SECRET_ID) and its role may read that one and no other:
    only its own <Prefix>SecretReadPolicy grants secretsmanager:GetSecretValue, on that secret."""
    readers: dict[str, str] = {}
    for holder, stmt in iam_statements(resources):
        if isinstance(stmt, dict) and "secretsmanager:GetSecretValue" in as_list(stmt.get("Action") or []):
            prefix = holder.removesuffix("SecretReadPolicy")
            if holder == prefix or f"{prefix}Function" not in functions:
                fail(holder, stmt, "grants GetSecretValue outside a <Function>SecretReadPolicy")
            elif stmt.get("Resource") != own_secret(prefix):
                fail(holder, stmt, f"GetSecretValue on {stmt.get('Resource')!r}, not {prefix}'s own secret")
            readers[holder] = prefix
    for fn, res in functions.items():
        prefix = fn.removesuffix("Function")
        env = ((res.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}
        if env.get("SECRET_ID") != own_secret(prefix):
            fail(fn, res, f"SECRET_ID is {env.get('SECRET_ID')!r}, not its own secret (Has{prefix}Secret)")
        role = ((res.get("Properties") or {}).get("Role") or {}).get("Fn::GetAtt")
        role_name = role[0] if isinstance(role, list) else str(role or "").split(".")[0]
        attached: set[str] = set()
        arns = ((resources.get(role_name) or {}).get("Properties") or {}).get("ManagedPolicyArns")
        for branch in if_branches(arns):
            attached |= {ref_name(a) for a in as_list(branch or []) if ref_name(a) in readers}
        if attached != {f"{prefix}SecretReadPolicy"}:
            fail(fn, res, f"role {role_name} may read the secrets of {sorted(attached)}, not only {prefix}SecretReadPolicy")


def check(template: dict, path: Path, binaries: dict[str, str], every_workflow: bool) -> tuple[int, int, int]:
    """The invariants of one combination; returns (functions, alarms, failure queues)."""
    resources: dict = template.get("Resources") or {}
    params: dict = template.get("Parameters") or {}
    glob = (template.get("Globals") or {}).get("Function") or {}

    alarms = {n: r.get("Properties") or {} for n, r in resources.items() if r.get("Type") == "AWS::CloudWatch::Alarm"}

    def alarm_on(namespace: str, metric: str, dim: str, target: str) -> bool:
        for props in alarms.values():
            if props.get("Namespace") == namespace and props.get("MetricName") == metric:
                for d in props.get("Dimensions") or []:
                    if d.get("Name") == dim and ref_name(d.get("Value")) == target:
                        return True
        return False

    # Queues that receive failures: schedule/rule DLQs, async destinations, redrive targets.
    failure_queues: dict[str, Any] = {}
    functions = {n: r for n, r in resources.items() if r.get("Type") == "AWS::Serverless::Function"}
    used_binaries: set[str] = set()

    for fn, res in functions.items():
        props = merge_globals(glob, res.get("Properties") or {})
        meta = res.get("Metadata") or {}
        events = props.get("Events") or {}
        event_types = {e.get("Type") for e in events.values() if isinstance(e, dict)}

        if props.get("Runtime") != "provided.al2023":
            fail(fn, res, f"Runtime is {props.get('Runtime')!r}, not provided.al2023")
        if props.get("Architectures") != ["arm64"]:
            fail(fn, res, f"Architectures is {props.get('Architectures')!r}, not [arm64]")
        if meta.get("BuildMethod") != "rust-cargolambda":
            fail(fn, res, f"Metadata.BuildMethod is {meta.get('BuildMethod')!r}, not rust-cargolambda")
        binary = (meta.get("BuildProperties") or {}).get("Binary")
        if binary not in binaries:
            fail(fn, res, f"BuildProperties.Binary {binary!r} is not a binary of functions/*: {sorted(binaries)}")
        else:
            used_binaries.add(binary)
        if not is_workspace_root(props.get("CodeUri"), path.parent):
            fail(fn, res, f"CodeUri {props.get('CodeUri')!r} is not the Cargo workspace root")

        check_range(fn, res, "MemorySize", props.get("MemorySize"), MIN_MEMORY, MAX_MEMORY, params)
        http = event_types & HTTP_EVENTS
        check_range(fn, res, "Timeout" + (" (HTTP API caller)" if http else ""), props.get("Timeout"),
                    1, MAX_HTTP_TIMEOUT if http else MAX_TIMEOUT, params)
        reserved = props.get("ReservedConcurrentExecutions")
        if reserved is None:
            fail(fn, res, "ReservedConcurrentExecutions is not set (it bounds Postgres connections)")
        else:
            check_range(fn, res, "ReservedConcurrentExecutions", reserved, 1, 1000, params)

        logging = props.get("LoggingConfig") or {}
        if logging.get("LogFormat") != "JSON":
            fail(fn, res, f"LoggingConfig.LogFormat is {logging.get('LogFormat')!r}, not JSON")
        group = ref_name(logging.get("LogGroup"))
        if group is None:
            fail(fn, res, "LoggingConfig.LogGroup does not reference a log group of this template")
        elif (resources.get(group) or {}).get("Type") != "AWS::Logs::LogGroup":
            fail(fn, res, f"LoggingConfig.LogGroup {group} is not an AWS::Logs::LogGroup")
        elif "RetentionInDays" not in (resources[group].get("Properties") or {}):
            fail(group, resources[group], "log group has no RetentionInDays")

        env = (props.get("Environment") or {}).get("Variables") or {}
        for var in REQUIRED_ENV:
            if var not in env:
                fail(fn, res, f"environment has no {var}")

        if event_types & ASYNC_EVENTS:
            eic = props.get("EventInvokeConfig") or {}
            for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
                if key not in eic:
                    fail(fn, res, f"invoked asynchronously but EventInvokeConfig.{key} is not set")
            dest = ((eic.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
            if dest is None:
                fail(fn, res, "invoked asynchronously but has no EventInvokeConfig OnFailure destination")
            elif ref_name(dest):
                failure_queues[ref_name(dest)] = res

        for metric in ("Errors", "Throttles"):
            if not alarm_on("AWS/Lambda", metric, "FunctionName", fn):
                fail(fn, res, f"no {metric} alarm")

        for ev_name, ev in events.items():
            etype, eprops = ev.get("Type"), ev.get("Properties") or {}
            label = f"{fn}.Events.{ev_name}"
            if etype in SCHEDULE_EVENTS:
                for key in ("ScheduleExpressionTimezone", "RetryPolicy", "DeadLetterConfig"):
                    if key not in eprops:
                        fail(label, ev, f"schedule has no {key}")
            if etype in BUS_EVENTS:
                for key in ("RetryPolicy", "DeadLetterConfig"):
                    if key not in eprops:
                        fail(label, ev, f"bus rule has no {key}")
            dlq = ref_name((eprops.get("DeadLetterConfig") or {}).get("Arn"))
            if dlq:
                failure_queues[dlq] = ev

    if every_workflow:
        for binary in sorted(set(binaries) - used_binaries):
            fail(f"functions/{binaries[binary]}", None, f"binary {binary} is built but no function deploys it")

    for name, res in resources.items():
        props = res.get("Properties") or {}
        if res.get("Type") == "AWS::Scheduler::Schedule":
            if "ScheduleExpressionTimezone" not in props:
                fail(name, res, "schedule has no ScheduleExpressionTimezone")
            target = props.get("Target") or {}
            for key in ("RetryPolicy", "DeadLetterConfig"):
                if key not in target:
                    fail(name, res, f"schedule target has no {key}")
            dlq = ref_name((target.get("DeadLetterConfig") or {}).get("Arn"))
            if dlq:
                failure_queues[dlq] = res
        if res.get("Type") == "AWS::SQS::Queue":
            dlq = ref_name((props.get("RedrivePolicy") or {}).get("deadLetterTargetArn"))
            if dlq:
                failure_queues[dlq] = res

    for queue, node in sorted(failure_queues.items()):
        if (resources.get(queue) or {}).get("Type") != "AWS::SQS::Queue":
            fail(queue, node, "failure destination / DLQ is not an SQS queue of this template")
        elif not alarm_on("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue):
            fail(queue, resources[queue], "failure queue / DLQ has no depth alarm (ApproximateNumberOfMessagesVisible)")

    for name, props in alarms.items():
        actions = props.get("AlarmActions")
        if "AlarmTopicArn" not in repr(actions):
            fail(name, resources[name], "alarm does not notify the AlarmTopicArn topic")

    check_secret_scopes(resources, functions)

    for holder, stmt in iam_statements(resources):
        if not isinstance(stmt, dict) or stmt.get("Effect") != "Allow":
            continue
        actions = [a for a in as_list(stmt.get("Action") or []) if isinstance(a, str)]
        if any(a == "*" or a.endswith(":*") for a in actions):
            fail(holder, stmt, f"IAM statement allows a wildcard action: {actions}")
        if "*" in as_list(stmt.get("Resource")):
            extra = sorted(set(actions) - set(STAR_RESOURCE_ALLOWED))
            if extra:
                fail(holder, stmt, f"IAM statement on Resource '*' for actions not on the allow-list: {extra}")

    return len(functions), len(alarms), len(failure_queues)


def check_combination(full: dict, deployed: dict, switches: dict[str, str]) -> None:
    """What a combination leaves: only the enabled workflows' own resources and outputs, the
    shared pieces they need, no reference to a dropped resource, schedules as switched."""
    enabled = {wf for wf, (enable, _) in WORKFLOWS.items() if switches[enable] == "true"}
    active = enabled | {piece for piece, users in SHARED.items() if users & enabled} | {"every function"}
    for section in ("Resources", "Outputs"):
        kept = deployed.get(section) or {}
        for name, node in (full.get(section) or {}).items():
            who = owner(name)
            if who is None:
                fail(name, node, "belongs to no workflow or shared piece (add its prefix to OWNERS in scripts/check-template.py)")
            elif who in active and name not in kept:
                fail(name, node, f"is missing although {who} is {'enabled' if who in WORKFLOWS else 'needed'} (its Condition is wrong)")
            elif who not in active and name in kept:
                state = "disabled" if who in WORKFLOWS else f"needed by none of the enabled workflows (only by {sorted(SHARED[who])})"
                fail(name, node, f"belongs to {who}, which is {state}, yet it is deployed (its Condition is missing or wrong)")
    resources = deployed.get("Resources") or {}
    known = set(resources) | set(deployed.get("Parameters") or {})
    for section in ("Resources", "Outputs"):
        for name, node in (deployed.get(section) or {}).items():
            for target, at in references(node):
                if target not in known and not target.startswith(PSEUDO_PARAMETERS):
                    fail(name, at, f"refers to {target}, which this combination does not deploy")
            depends = node.get("DependsOn") if section == "Resources" else None
            for target in as_list(depends or []):
                if target not in resources:
                    fail(name, node, f"DependsOn {target}, which this combination does not deploy")
    for fn, res in resources.items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        schedule_param = WORKFLOWS.get(owner(fn) or "", (None, None))[1]
        for ev_name, ev in ((res.get("Properties") or {}).get("Events") or {}).items():
            if ev.get("Type") not in SCHEDULE_EVENTS:
                continue
            expected = "ENABLED" if schedule_param and switches[schedule_param] == "on" else "DISABLED"
            state = (ev.get("Properties") or {}).get("State")
            if state != expected:
                fail(f"{fn}.Events.{ev_name}", ev,
                     f"State is {state!r}, not {expected} ({schedule_param}={switches.get(schedule_param)})")
    router = resources.get("SlackInteractionsFunction")
    if router:
        env = ((router.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}
        expected = ",".join(wf for wf in SLACK_ROUTED if wf in enabled)
        if env.get("SLACK_ROUTER_WORKFLOWS") != expected:
            fail("SlackInteractionsFunction", router,
                 f"SLACK_ROUTER_WORKFLOWS is {env.get('SLACK_ROUTER_WORKFLOWS')!r}, not {expected!r}")
        # A workflow's click settings only while it is enabled (the review's decisions are
        # also the only thing the endpoint puts on the bus).
        for workflow, prefixes in SLACK_SETTINGS.items():
            if workflow not in enabled:
                extra = sorted(v for v in env if v.startswith(prefixes))
                if extra:
                    fail("SlackInteractionsFunction", router, f"gets {workflow}'s settings {extra} while it is disabled")


def check_parameter_groups(template: dict) -> None:
    """Every parameter is in exactly one of the console's groups (a new one must be placed)."""
    interface = (template.get("Metadata") or {}).get("AWS::CloudFormation::Interface") or {}
    placed: dict[str, int] = {}
    for group in interface.get("ParameterGroups") or []:
        for name in group.get("Parameters") or []:
            placed[name] = placed.get(name, 0) + 1
    params = template.get("Parameters") or {}
    for name, node in params.items():
        if placed.get(name, 0) != 1:
            fail(name, node, f"is in {placed.get(name, 0)} ParameterGroups of AWS::CloudFormation::Interface, not exactly 1")
    for name in sorted(set(placed) - set(params)):
        fail("AWS::CloudFormation::Interface", interface, f"groups {name}, which is not a parameter")


def main() -> int:
    global current_combination
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "template.yaml"
    template, matches = decode(str(path))
    if template is None or matches:
        for m in matches:
            print(f"FAIL {path}: cannot be read: {m}")
        return 1
    binaries = workspace_binaries()
    check_parameter_groups(template)
    summary = []
    for label, switches in combinations():
        current_combination = label
        missing = [p for p in switches if p not in (template.get("Parameters") or {})]
        if missing:
            fail(str(path.name), None, f"has no parameter {', '.join(missing)}")
            break
        deployed = for_combination(template, switches)
        check_combination(template, deployed, switches)
        counts = check(deployed, path, binaries, every_workflow=label.startswith("all four"))
        summary.append(f"{label}: {counts[0]} functions, {counts[1]} alarms, {counts[2]} failure queues/DLQs")

    if failures:
        for message, seen_in in failures.items():
            print(message + (f" [in: {'; '.join(seen_in)}]" if seen_in else ""))
        print(f"check-template: {len(failures)} failed assertion(s) in {path.name}")
        return 1
    print(f"check-template: {path.name} OK in {len(summary)} combinations ({'; '.join(summary)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
