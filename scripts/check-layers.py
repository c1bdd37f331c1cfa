#!/usr/bin/env python3
"""The module graph of shared/src: cycles and imports against the layering.

Layers, lowest first: foundation (config, secrets, db, http, telemetry, ...), connectors (one
per external service, knowing no workflow), workflows (drift, review, rotation, mr_audit, each
importing no other), and entry points (the functions and the runner, outside shared/). A module
may import its own layer or lower; a workflow never imports another workflow.

Reads `use` declarations and inline `crate::`/`super::` paths (comments and strings skipped),
resolves each to the module file it names, and prints:
  - every import that goes up a layer or across workflows,
  - every cycle between modules (strongly connected components of the file graph),
  - a one-line summary with the counts.

Usage: check-layers.py [--strict] [--self-test]
  --strict     exit 1 when anything is found (CI runs it so)
  --self-test  check the checker on a small made-up crate with one of each fault
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "shared" / "src"

# Top-level module -> layer. A module missing here is reported, so a new one gets a layer.
LAYERS = {
    "config": 0, "credential_scope": 0, "db": 0, "db_roles": 0, "edge": 0, "failure": 0,
    "http": 0, "invocation": 0, "markdown": 0, "rows": 0, "runtime": 0, "secrets": 0, "dry_run": 0,
    "signing": 0, "telemetry": 0, "text": 0,
    "ports": 0,
    "connectors": 1, "slack": 1,
    "drift": 2, "review": 2, "rotation": 2, "mr_audit": 2,
    "slack_router": 3, "doctor": 3,
}
LAYER_NAMES = ["foundation", "connectors", "workflows", "entry points"]
WORKFLOWS = {"drift", "review", "rotation", "mr_audit"}


def module_of(path: Path, root: Path) -> tuple[str, ...]:
    rel = path.relative_to(root).with_suffix("")
    parts = rel.parts
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return tuple(parts)


def strip_comments_and_strings(text: str) -> str:
    """Rust source with comments removed and string/char literals emptied, in one scan (a
    `//` inside a string is not a comment; a `"` inside a comment or char is not a string)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")) and re.match(r'r#*"', text[i:]):
            hashes = re.match(r"r(#*)", text[i:]).group(1)
            close = text.find('"' + hashes, i + 1 + len(hashes) + 1)
            out.append('""')
            i = n if close < 0 else close + 1 + len(hashes)
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            out.append('""')
            i += 1
        elif c == "'" and re.match(r"'(\\.[^']*|[^\\'])'", text[i:]):
            # A char literal; a lifetime (`'a`) has no closing quote and is kept.
            i += re.match(r"'(\\.[^']*|[^\\'])'", text[i:]).end()
            out.append("' '")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def expand(tree: str) -> list[str]:
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    tree = tree.strip()
    brace = tree.find("{")
    if brace < 0:
        return [tree.split(" as ")[0].strip()]
    prefix, inner = tree[:brace], tree[brace + 1 : tree.rfind("}")]
    items, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    items.append(cur)
    return [p for item in items if item.strip() for p in expand(prefix + item.strip())]


def resolve(path: str, here: tuple[str, ...], known: set) -> tuple | None:
    segments = [s for s in path.split("::") if s]
    if not segments:
        return None
    if segments[0] == "crate":
        base, rest = (), segments[1:]
    elif segments[0] in ("super", "self"):
        # `self` is the module itself (a `mod.rs` is its directory's module), `super` its parent.
        base = here
        rest = segments
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
    else:
        return None
    # The longest prefix that is a module file.
    for n in range(len(rest), -1, -1):
        candidate = base + tuple(rest[:n])
        if candidate in known:
            return candidate
    return None


def main() -> int:
    if "--self-test" in sys.argv:
        return self_test()
    problems = check(ROOT)
    return 1 if "--strict" in sys.argv and problems else 0


def check(root: Path) -> int:
    """Print what is wrong under `root`; return how many problems were found."""
    files = {module_of(p, root): p for p in root.rglob("*.rs")}
    known = set(files)
    edges: dict[tuple, set[tuple]] = defaultdict(set)
    for module, path in files.items():
        text = strip_comments_and_strings(path.read_text())
        paths = []
        for m in re.finditer(r"\buse\s+([^;]+);", text):
            paths += expand(m.group(1))
        paths += re.findall(r"\b((?:crate|super)(?:::\w+)+)", text)
        for p in paths:
            target = resolve(p, module, known)
            # An ancestor (a parent's `mod.rs`, the crate root) is where the module is declared,
            # not a dependency.
            if target is not None and target != module[: len(target)]:
                edges[module].add(target)

    problems = 0
    unknown = sorted({m[0] for m in known if m and m[0] not in LAYERS})
    for name in unknown:
        print(f"UNLAYERED {name}: add it to LAYERS in scripts/check-layers.py")
        problems += 1

    upward = 0
    for src, targets in sorted(edges.items()):
        for dst in sorted(targets):
            if not src or not dst or src[0] == dst[0]:
                continue
            ls, ld = LAYERS.get(src[0]), LAYERS.get(dst[0])
            if ls is None or ld is None:
                continue
            if ld > ls:
                print(f"UPWARD   {'::'.join(src)} ({LAYER_NAMES[ls]}) -> {'::'.join(dst)} ({LAYER_NAMES[ld]})")
                upward += 1
            elif src[0] in WORKFLOWS and dst[0] in WORKFLOWS:
                print(f"ACROSS   {'::'.join(src)} -> {'::'.join(dst)} (one workflow imports another)")
                upward += 1

    cycles = strongly_connected(known, edges)
    for component in cycles:
        print("CYCLE    " + " <-> ".join(sorted("::".join(m) for m in component)))

    print(
        f"check-layers: {len(known)} modules, {sum(len(t) for t in edges.values())} imports, "
        f"{upward} upward or cross-workflow, {len(cycles)} cycle(s), {len(unknown)} unlayered"
    )
    return upward + len(cycles) + len(unknown)


def self_test() -> int:
    """The checker finds each kind of fault, and is not fooled by `//` or `use` in a string."""
    import tempfile

    faults = {
        "connectors/mod.rs": "pub mod linear;",
        # A connector that knows a workflow.
        "connectors/linear.rs": 'const URL: &str = "https://x//y"; use crate::drift::ports::Tracker;',
        "drift/mod.rs": "pub mod ports; pub mod filing;",
        # A cycle inside a workflow, its imports beside a raw string and a char literal.
        "drift/ports.rs": 'const R: &str = r#"a "quote use crate::review::x;"#; use super::filing::F;',
        "drift/filing.rs": "const Q: char = '\"'; use super::ports::Tracker; const S: &str = \"x\";",
        # One workflow importing another.
        "review/mod.rs": "use crate::drift::filing::F;",
        # A commented-out import is no import.
        "text.rs": "// use crate::review::y;\n/* use crate::drift::ports::Tracker; */",
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, body in faults.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(body)
        import contextlib
        import io

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            found = check(root)
    report = out.getvalue()
    expected = [
        "UPWARD   connectors::linear (connectors) -> drift::ports (workflows)",
        "ACROSS   review -> drift::filing",
        "CYCLE    drift::filing <-> drift::ports",
    ]
    missing = [e for e in expected if e not in report]
    unexpected = "drift::ports -> review" in report
    if missing or unexpected or found != 3:
        print(report)
        print(f"check-layers self-test FAILED: missing {missing}, {found} problems (expected 3)")
        return 1
    print("check-layers self-test: the three planted faults found, nothing else")
    return 0


def strongly_connected(nodes: set, edges: dict) -> list[list]:
    """Tarjan's algorithm; components of more than one module are cycles."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


if __name__ == "__main__":
    sys.exit(main())
