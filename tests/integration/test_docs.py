"""The documents kept in step with the code: the man pages with --help (every flag both ways,
the exit codes), and the README's compatibility table with docs/compatibility.md."""
import re
import shutil
import subprocess

import pytest

from conftest import BRASA, BUILD, ROOT

MAN = ROOT / "docs" / "man"
FLAG = re.compile(r"--([a-z][a-z0-9-]*[a-z0-9])")


def help_text(*argv):
    p = subprocess.run([*argv, "--help"], capture_output=True, timeout=10)
    assert p.returncode == 0, p
    return p.stdout.decode()


def man_section(page, title, next_heading=r"\.S[HS] "):
    """The roff text of section `title` (.SH or .SS) up to the next heading, with \\- as -."""
    text = (MAN / page).read_text().replace("\\-", "-")
    m = re.search(rf"^\.S[HS] {re.escape(title)}\n(.*?)(?=^{next_heading}|\Z)", text, re.S | re.M)
    assert m, f"{page} has no section {title}"
    return m.group(1)


def flags(text):
    return set(FLAG.findall(text))


def option_lines(text):
    """The lines of a --help that document options ("  --name ..."), not its prose."""
    return "\n".join(l for l in text.splitlines() if l.startswith("  --"))


def test_brasa_man_names_every_flag_of_help():
    assert flags(option_lines(help_text(str(BRASA)))) == flags(man_section("brasa.1", "OPTIONS"))


def test_brasa_run_man_names_every_flag_of_its_help():
    text = option_lines(help_text(str(BRASA), "run"))
    assert flags(text) == flags(man_section("brasa.1", "brasa run"))


def test_jailer_man_names_every_flag_of_help():
    text = option_lines(help_text(str(BUILD / "brasa-jailer")))
    assert flags(text) == flags(man_section("brasa-jailer.1", "OPTIONS"))


def test_snapshot_editor_man_names_every_flag_of_its_help():
    tool = str(BUILD / "brasa-snapshot-editor")
    text = "\n".join(help_text(tool, *cmd) for cmd in
                     (("edit-memory", "rebase"), ("info-vmstate", "version"), ()))
    assert flags(text) == flags(man_section("brasa-snapshot-editor.1", "OPTIONS"))


def test_exit_codes_match():
    text = help_text(str(BRASA)).split("Exit codes", 1)[1].split("An unreadable", 1)[0]
    in_help = {int(n) for n in re.findall(r"\b(\d{1,3})\b", text)}
    section = man_section("brasa.1", "EXIT STATUS", r"\.SH ")
    in_man = {int(n) for n in re.findall(r"^\.BR? (\d+)(?:.*)$", section, re.M)}
    in_man |= {int(n) for n in re.findall(r'"?, "? ?(\d{3})', section)}
    assert in_help == in_man == {0, 1, 2, 148, 149, 150, 151, 152, 153, 154, 156, 157}


def test_help_names_the_docs():
    assert "man brasa" in help_text(str(BRASA))
    assert "man brasa-jailer" in help_text(str(BUILD / "brasa-jailer"))


@pytest.mark.parametrize("page", ["brasa.1", "brasa-jailer.1"])
def test_man_pages_render_without_warnings(page):
    p = subprocess.run(["groff", "-man", "-Tutf8", "-P-cbou", "-ww", str(MAN / page)],
                       capture_output=True,
                       timeout=30)
    assert p.returncode == 0 and not p.stderr, p.stderr.decode()
    assert "EXIT STATUS" in p.stdout.decode()


# ---- the README's compatibility table, and the links of the docs ------------------------------

def compat_table(*args, root=ROOT):
    return subprocess.run(["/usr/bin/python3", str(root / "tools" / "compat-table.py"), *args],
                          capture_output=True, timeout=30, text=True)


def test_readme_compat_table_is_made_from_compatibility_md():
    p = compat_table("--check")
    assert p.returncode == 0, p.stderr


def copy_docs(tmp_path):
    (tmp_path / "tools").mkdir()
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / "tools" / "compat-table.py", tmp_path / "tools")
    shutil.copy(ROOT / "README.md", tmp_path)
    shutil.copy(ROOT / "docs" / "compatibility.md", tmp_path / "docs")
    return tmp_path / "docs" / "compatibility.md"


def glance_row(text):
    """A row of the "At a glance" table (its last), whatever the rows say today."""
    table = text.split("## At a glance", 1)[1].split("\n## ", 1)[0]
    rows = [l for l in table.splitlines()
            if l.startswith("| ") and not l.startswith("| Firecracker feature")]
    assert rows, "no At a glance rows"
    return rows[-1]


def test_compat_table_check_fails_on_drift_and_takes_new_rows(tmp_path):
    compat = copy_docs(tmp_path)
    text = compat.read_text()
    row = glance_row(text)
    # another developer's new row: --check fails until the table is made again
    compat.write_text(text.replace(row, row + "\n| A new thing | same | [REST API](#rest-api) |"))
    p = compat_table("--check", root=tmp_path)
    assert p.returncode == 1 and "run tools/compat-table.py" in p.stderr, p.stderr
    assert compat_table(root=tmp_path).returncode == 0
    assert compat_table("--check", root=tmp_path).returncode == 0
    assert "| A new thing | same | [REST API](docs/compatibility.md#rest-api) |" in \
        (tmp_path / "README.md").read_text()


@pytest.mark.parametrize("bad,why", [
    ("| Snapshots | maybe | [REST API](#rest-api) |", "status must start with one of"),
    ("| Snapshots | same | [REST API](#no-such-heading) |", "no heading of compatibility.md"),
    ("| Snapshots | same |", "not three cells"),
])
def test_compat_table_refuses_bad_rows(tmp_path, bad, why):
    compat = copy_docs(tmp_path)
    text = compat.read_text()
    compat.write_text(text.replace(glance_row(text), bad))
    p = compat_table(root=tmp_path)
    assert p.returncode == 1 and why in p.stderr, p.stderr


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_every_relative_link_of_the_docs_exists():
    """Everything the README and docs/ point to is in the repository."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    missing = []
    for f in files:
        for target in LINK.findall(f.read_text()):
            if "://" in target:
                continue
            if not (f.parent / target).exists():
                missing.append(f"{f.relative_to(ROOT)}: {target}")
    assert not missing, missing
