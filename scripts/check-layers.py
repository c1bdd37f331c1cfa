#!/usr/bin/env python3
"""The module graph of shared/src: cycles and imports against the layering (issue 15).

Layers, lowest first: foundation (config, secrets, db, http, telemetry, ...), connectors (one
per external service, knowing no workflow), workflows (drift, review, rotation, mr_audit, each
importing no other), and entry points (the functions and the runner, outside shared/). A module
may import its own layer or lower; a workflow never imports another workflow.

Reads `use` declarations and inline `crate::`/`super::` paths (comments and strings skipped),
resolves each to the module file it names, and prints:
  - every import that goes up a layer or across workflows,
  - every cycle between modules (strongly connected components of the file graph),
  - a one-line summary with the counts.

Usage: check-layers.py [--strict]   (--strict: exit 1 when anything is found)
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
    "http": 0, "invocation": 0, "markdown": 0, "rows": 0, "runtime": 0, "secrets": 0,
    "signing": 0, "telemetry": 0, "text": 0,
    "connectors": 1, "slack": 1,
    "prompts": 2, "drift": 2, "review": 2, "rotation": 2, "mr_audit": 2,
}
LAYER_NAMES = ["foundation", "connectors", "workflows"]
WORKFLOWS = {"drift", "review", "rotation", "mr_audit"}


def module_of(path: Path) -> tuple[str, ...]:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return tuple(parts)


def strip_comments_and_strings(text: str) -> str:
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', text)


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
    strict = "--strict" in sys.argv
    files = {module_of(p): p for p in ROOT.rglob("*.rs")}
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
            elif src[0] in WORKFLOWS | {"prompts"} and dst[0] in WORKFLOWS | {"prompts"}:
                print(f"ACROSS   {'::'.join(src)} -> {'::'.join(dst)} (one workflow imports another)")
                upward += 1

    cycles = strongly_connected(known, edges)
    for component in cycles:
        print("CYCLE    " + " <-> ".join(sorted("::".join(m) for m in component)))

    print(
        f"check-layers: {len(known)} modules, {sum(len(t) for t in edges.values())} imports, "
        f"{upward} upward or cross-workflow, {len(cycles)} cycle(s), {len(unknown)} unlayered"
    )
    return 1 if strict and (upward or cycles or unknown) else 0


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
