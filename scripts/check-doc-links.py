#!/usr/bin/env python3
"""Every relative link in the repository's Markdown resolves: the file (or directory) exists,
and a `#fragment` names a heading of the target page, slugged as GitHub does.

Usage: scripts/check-doc-links.py [FILE.md ...]   (default: every *.md outside target dirs,
hidden dirs and fuzz/corpus). Prints each broken link as `file:line: target (why)` and exits 1
if there is any; links to other sites (`https:`, `mailto:`, ...) are not checked.
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {"target", "node_modules", "corpus"}

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+\1")
# [text](target) or [text](target "title"); images alike.
INLINE_LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\".*\")?\s*$")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def markdown_files(args):
    if args:
        return [Path(a).resolve() for a in args]
    found = []
    for path in sorted(ROOT.rglob("*.md")):
        parts = path.relative_to(ROOT).parts
        if any(p.startswith(".") or p in SKIP_DIRS or p.endswith("-target") for p in parts[:-1]):
            continue
        found.append(path)
    return found


def lines_outside_fences(text):
    """(line number, line) for every line not inside a fenced code block."""
    fenced = None
    for number, line in enumerate(text.split("\n"), 1):
        match = FENCE.match(line)
        if match:
            if fenced is None:
                fenced = match.group(1)
            elif fenced == match.group(1):
                fenced = None
            continue
        if fenced is None:
            yield number, line


def slug(heading):
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation other than `-`
    and `_` removed, spaces turned into `-`."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


_anchor_cache = {}


def anchors(path):
    if path not in _anchor_cache:
        seen = {}
        found = set()
        text = path.read_text(encoding="utf-8")
        for _, line in lines_outside_fences(text):
            match = HEADING.match(line)
            if match:
                base = slug(match.group(2))
                count = seen.get(base, 0)
                seen[base] = count + 1
                found.add(base if count == 0 else f"{base}-{count}")
            for explicit in re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", line):
                found.add(explicit)
        _anchor_cache[path] = found
    return _anchor_cache[path]


def links(path):
    text = path.read_text(encoding="utf-8")
    for number, line in lines_outside_fences(text):
        definition = REFERENCE_DEF.match(line)
        if definition:
            yield number, definition.group(1)
            continue
        for match in INLINE_LINK.finditer(INLINE_CODE.sub("", line)):
            yield number, match.group(1)


def problem(source, target):
    """Why `target`, linked from `source`, does not resolve, or None."""
    if SCHEME.match(target) or target.startswith("//"):
        return None
    file_part, _, fragment = target.partition("#")
    if file_part:
        resolved = (source.parent / file_part).resolve()
        if not resolved.exists():
            return "no such file"
    else:
        resolved = source
    if fragment and resolved.is_file() and resolved.suffix == ".md":
        if fragment not in anchors(resolved):
            return f"no heading #{fragment} in {resolved.relative_to(ROOT)}"
    return None


def main(args):
    broken = 0
    files = markdown_files(args)
    for path in files:
        for number, target in links(path):
            why = problem(path, target)
            if why:
                broken += 1
                print(f"{path.relative_to(ROOT)}:{number}: {target} ({why})")
    checked = f"{len(files)} Markdown file(s)"
    if broken:
        print(f"check-doc-links: {broken} broken link(s) in {checked}")
        return 1
    print(f"check-doc-links: every relative link resolves ({checked})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
