#!/usr/bin/python3
"""Function-length statistics for src/: median, the longest, and any over the limit.

A function is a top-level '{' ... '}' pair at column 0 whose opening follows a ')' line;
its length counts the lines from its name to its closing brace. Tables (initialisers)
are not functions and are skipped. Exits 1 when a function is longer than --max.
"""
import argparse
import pathlib
import re
import statistics
import sys


def functions(path):
    lines = path.read_text(errors="replace").splitlines()
    i = 0
    while i < len(lines):
        if lines[i] == "{" and i > 0 and lines[i - 1].rstrip().endswith(")"):
            start = i - 1
            while start > 0 and lines[start - 1].strip() and not lines[start - 1].startswith(
                    ("}", "#", "/*", " *", "static const", "//")) and not lines[start - 1].rstrip().endswith(";"):
                start -= 1
            m = re.search(r"(\w+)\s*\(", "".join(lines[start:i]))
            end = i
            while end < len(lines) and lines[end] != "}":
                end += 1
            yield (m.group(1) if m else "?", end - start + 1, start + 1)
            i = end
        i += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max", type=int, default=60)
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("root", nargs="?", default="src")
    a = ap.parse_args()
    found = []
    for p in sorted(pathlib.Path(a.root).rglob("*.[ch]")):
        found += [(n, ln, f"{p}:{at}") for n, ln, at in functions(p)]
    lens = sorted(ln for _, ln, _ in found)
    print(f"functions: {len(found)}, median {statistics.median(lens)} lines, "
          f"mean {statistics.mean(lens):.1f}")
    for n, ln, at in sorted(found, key=lambda f: -f[1])[: a.top]:
        print(f"  {ln:4d}  {n}  {at}")
    over = [f for f in found if f[1] > a.max]
    for n, ln, at in over:
        print(f"over {a.max} lines: {n} ({ln}) at {at}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
