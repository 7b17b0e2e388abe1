#!/usr/bin/env python3
"""Generate single_include/ctmqtt/ctmqtt.hpp from include/ctmqtt/ctmqtt.hpp.

Project includes (`#include <ctmqtt/...>` and `#include "..."` that resolve to
a file under include/) are inlined recursively, in dependency order, each file
once, with its `#pragma once` removed. System includes are left in place; one
that was already included unconditionally earlier is dropped.

Rules that keep the output equivalent to the multi-header build:
  * "Once" follows `#pragma once` semantics: a header is skipped if it was
    already inlined unconditionally (outside any #if block) or is currently
    being inlined (include cycle). A header that was first inlined inside an
    #if block and is needed again later is inlined again, and every copy of
    such a header is wrapped in a CTMQTT_AMALGAMATED_* guard.
  * System includes are only de-duplicated when both the earlier and the
    current occurrence are outside every #if block.

Usage:
  python3 scripts/amalgamate.py           # (re)write the single header
  python3 scripts/amalgamate.py --check   # exit 1 if it is stale

The output is deterministic: it depends only on the header files' contents.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INCLUDE_DIR = ROOT / "include"
ENTRY = INCLUDE_DIR / "ctmqtt" / "ctmqtt.hpp"
OUTPUT = ROOT / "single_include" / "ctmqtt" / "ctmqtt.hpp"
SCRIPT = "scripts/amalgamate.py"

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
PRAGMA_ONCE_RE = re.compile(r"^\s*#\s*pragma\s+once\b")
IF_RE = re.compile(r"^\s*#\s*if(n?def)?\b")
ENDIF_RE = re.compile(r"^\s*#\s*endif\b")
IFNDEF_RE = re.compile(r"^\s*#\s*ifndef\s+(\w+)")
DEFINE_RE = re.compile(r"^\s*#\s*define\s+(\w+)\s*$")
DIRECTIVE_RE = re.compile(r"^\s*#")


class AmalgamateError(Exception):
    pass


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def read_lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def code_mask(lines: list[str]) -> list[bool]:
    """True for lines that start outside a /* */ comment (directives count)."""
    mask = []
    in_comment = False
    for line in lines:
        mask.append(not in_comment)
        # Good enough for headers: ignores comment markers inside string
        # literals, which project headers are not expected to contain at
        # line level next to directives.
        i = 0
        while i < len(line):
            if in_comment:
                end = line.find("*/", i)
                if end < 0:
                    break
                in_comment = False
                i = end + 2
            else:
                line_comment = line.find("//", i)
                start = line.find("/*", i)
                if start < 0 or (0 <= line_comment < start):
                    break
                in_comment = True
                i = start + 2
    return mask


def include_guard(lines: list[str], mask: list[bool]) -> tuple[int, int] | None:
    """Line indices (#ifndef, #endif) of a classic include guard, if any."""
    directives = [i for i, l in enumerate(lines) if mask[i] and DIRECTIVE_RE.match(l)]
    directives = [i for i in directives if not PRAGMA_ONCE_RE.match(lines[i])]
    if len(directives) < 3:
        return None
    first, second, last = directives[0], directives[1], directives[-1]
    m1 = IFNDEF_RE.match(lines[first])
    m2 = DEFINE_RE.match(lines[second])
    if m1 and m2 and m1.group(1) == m2.group(1) and ENDIF_RE.match(lines[last]):
        # The guard's #endif must close the guard's #ifndef.
        depth = 0
        for i in directives:
            if IF_RE.match(lines[i]):
                depth += 1
            elif ENDIF_RE.match(lines[i]):
                depth -= 1
                if depth == 0 and i != last:
                    return None
        return first, last
    return None


def guard_macro(path: Path) -> str:
    return "CTMQTT_AMALGAMATED_" + re.sub(r"\W", "_", rel(path)).upper()


class Amalgamator:
    def __init__(self, guarded: frozenset[Path] = frozenset()):
        self.guarded = guarded
        self.out: list[str] = []
        self.unconditional: set[Path] = set()  # inlined outside every #if
        self.active: list[Path] = []  # include stack
        self.inline_count: dict[Path, int] = {}
        self.system_seen: set[str] = set()

    def resolve(self, kind: str, name: str, current: Path) -> Path | None:
        candidates = []
        if kind == '"':
            candidates.append(current.parent / name)
        candidates.append(INCLUDE_DIR / name)
        for c in candidates:
            c = c.resolve()
            if c.is_file() and INCLUDE_DIR in c.parents:
                return c
        if name.startswith("ctmqtt/") or kind == '"':
            raise AmalgamateError(
                f"{rel(current)}: cannot resolve project include {kind}{name}"
                f"{'>' if kind == '<' else kind}"
            )
        return None

    def inline(self, path: Path, depth: int) -> None:
        self.active.append(path)
        if depth == 0:
            self.unconditional.add(path)
        self.inline_count[path] = self.inline_count.get(path, 0) + 1

        lines = read_lines(path)
        while lines and lines[-1].strip() == "":
            lines.pop()
        mask = code_mask(lines)
        guard = include_guard(lines, mask)
        wrap = path in self.guarded

        self.out.append(f"// ---- begin {rel(path)} ----")
        if wrap:
            self.out.append(f"#ifndef {guard_macro(path)}")
            self.out.append(f"#define {guard_macro(path)}")
        level = depth
        for i, line in enumerate(lines):
            if not mask[i]:
                self.out.append(line)
                continue
            if PRAGMA_ONCE_RE.match(line):
                continue
            if guard and i in guard:
                self.out.append(line)
                continue
            if IF_RE.match(line):
                self.out.append(line)
                level += 1
                continue
            if ENDIF_RE.match(line):
                self.out.append(line)
                level -= 1
                continue
            m = INCLUDE_RE.match(line)
            if not m:
                self.out.append(line)
                continue
            kind, name = m.group(1), m.group(2).strip()
            target = self.resolve(kind, name, path)
            if target is None:
                key = f"<{name}>" if kind == "<" else f'"{name}"'
                if level == 0 and key in self.system_seen:
                    continue
                if level == 0:
                    self.system_seen.add(key)
                self.out.append(line)
                continue
            if target in self.unconditional or target in self.active:
                continue
            self.inline(target, level)
        if wrap:
            self.out.append(f"#endif // {guard_macro(path)}")
        self.out.append(f"// ---- end {rel(path)} ----")
        self.active.pop()


def generate() -> str:
    if not ENTRY.is_file():
        raise AmalgamateError(f"missing {rel(ENTRY)}")
    guarded: frozenset[Path] = frozenset()
    while True:
        am = Amalgamator(guarded)
        am.inline(ENTRY.resolve(), 0)
        multiple = frozenset(p for p, n in am.inline_count.items() if n > 1)
        if multiple <= guarded:
            break
        guarded = guarded | multiple
    header = [
        "// ctmqtt: header-only C++20 MQTT client library, single-header edition.",
        "//",
        f"// GENERATED FILE - DO NOT EDIT. Produced by {SCRIPT} from",
        f"// {rel(ENTRY)} and the headers it includes; regenerate with",
        f"//     python3 {SCRIPT}",
        "#pragma once",
        "",
    ]
    return "\n".join(header + am.out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"do not write; exit 1 if {rel(OUTPUT)} differs from what would be generated",
    )
    args = parser.parse_args()

    try:
        text = generate()
    except AmalgamateError as e:
        print(f"amalgamate: error: {e}", file=sys.stderr)
        return 2

    if args.check:
        if not OUTPUT.is_file():
            print(f"amalgamate: {rel(OUTPUT)} is missing; run: python3 {SCRIPT}", file=sys.stderr)
            return 1
        current = OUTPUT.read_text(encoding="utf-8")
        if current != text:
            diff = list(
                difflib.unified_diff(
                    current.splitlines(),
                    text.splitlines(),
                    f"{rel(OUTPUT)} (committed)",
                    f"{rel(OUTPUT)} (generated)",
                    lineterm="",
                )
            )
            print(
                f"amalgamate: {rel(OUTPUT)} is stale; run: python3 {SCRIPT}",
                file=sys.stderr,
            )
            shown = diff[:40]
            print("\n".join(shown), file=sys.stderr)
            if len(diff) > len(shown):
                print(f"... ({len(diff) - len(shown)} more diff lines)", file=sys.stderr)
            return 1
        print(f"amalgamate: {rel(OUTPUT)} is up to date")
        return 0

    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    if OUTPUT.is_file() and OUTPUT.read_text(encoding="utf-8") == text:
        print(f"amalgamate: {rel(OUTPUT)} already up to date")
        return 0
    with open(OUTPUT, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print(f"amalgamate: wrote {rel(OUTPUT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
