"""The documents kept in step with the code: the man pages with --help (every flag both ways,
the exit codes), and the README's compatibility table with docs/compatibility.md."""
import re
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
