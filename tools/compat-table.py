#!/usr/bin/python3
"""Writes the README's compatibility table from docs/compatibility.md's "At a glance" table.

tools/compat-table.py          rewrites README.md between its two compat-table markers
tools/compat-table.py --check  exits 1, saying what differs, when README.md is out of date

Rows are copied in order, whatever their number; links into compatibility.md are rewritten
to work from the README. Each row must have three cells, a status cell starting with "same",
"differs", "not yet" or "brasa only", and every "#anchor" link must name a heading of
compatibility.md.
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPAT = ROOT / "docs" / "compatibility.md"
README = ROOT / "README.md"
BEGIN = "<!-- compat-table: made by tools/compat-table.py from docs/compatibility.md -->"
END = "<!-- compat-table: end -->"
STATUS = ("same", "differs", "not yet", "brasa only")


def anchor(heading):
    """GitHub's anchor of a markdown heading."""
    a = heading.strip().lower()
    a = re.sub(r"[^\w\- ]", "", a)
    return a.replace(" ", "-")


def glance_rows(text):
    m = re.search(r"^## At a glance\n(.*?)(?=^## )", text, re.S | re.M)
    if not m:
        sys.exit("compat-table: docs/compatibility.md has no '## At a glance' section")
    rows = [l for l in m.group(1).splitlines() if l.startswith("|")]
    if len(rows) < 3:
        sys.exit("compat-table: the 'At a glance' table has no rows")
    return rows[0], rows[2:]


def cells(row):
    return [c.strip() for c in row.strip().strip("|").split(" | ")]


def check_row(row, anchors):
    c = cells(row)
    if len(c) != 3:
        sys.exit(f"compat-table: not three cells: {row}")
    if not c[1].startswith(STATUS):
        sys.exit(f"compat-table: status must start with one of {STATUS}: {row}")
    for a in re.findall(r"\]\(#([^)]+)\)", row):
        if a not in anchors:
            sys.exit(f"compat-table: no heading of compatibility.md has the anchor #{a}: {row}")


def readme_table(text):
    anchors = {anchor(h) for h in re.findall(r"^#+ (.*)$", text, re.M)}
    head, rows = glance_rows(text)
    for r in rows:
        check_row(r, anchors)
    fix = lambda r: re.sub(r"\]\((#[^)]+)\)", r"](docs/compatibility.md\1)",
                           re.sub(r"\]\(([a-z-]+\.md)\)", r"](docs/\1)", r))
    return "\n".join([head, "|---|---|---|", *(fix(r) for r in rows)])


def main():
    table = readme_table(COMPAT.read_text()) + "\n"
    readme = README.read_text()
    m = re.search(re.escape(BEGIN) + r"\n(.*?)" + re.escape(END), readme, re.S)
    if not m:
        sys.exit(f"compat-table: README.md lacks the markers {BEGIN!r} ... {END!r}")
    if "--check" in sys.argv[1:]:
        if m.group(1) != table:
            sys.exit("compat-table: README.md's table differs from docs/compatibility.md's "
                     "'At a glance' table: run tools/compat-table.py")
        return
    README.write_text(readme[:m.start(1)] + table + readme[m.end(1):])


if __name__ == "__main__":
    main()
