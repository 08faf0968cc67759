"""brasa-snapshot-editor: Firecracker's snapshot-editor command line over brasa's files.
edit-memory rebase lays the data extents of a sparse diff over a base memory file;
info-vmstate version reads a state file's version; bad input fails with Firecracker's words."""
import os
import subprocess

import pytest

from conftest import BUILD, KERNELS

TOOL = BUILD / "brasa-snapshot-editor"
PAGE = 4096


def run(*args):
    return subprocess.run([str(TOOL), *map(str, args)], capture_output=True, text=True,
                          timeout=30)


def sparse_diff(path, size, pages):
    """A file of size bytes whose only data are the given {page index: byte} pages."""
    with open(path, "wb") as f:
        f.truncate(size)
        for i, b in pages.items():
            f.seek(i * PAGE)
            f.write(bytes([b]) * PAGE)


def test_rebase_copies_exactly_the_data_extents(tmp_path):
    size = 256 * PAGE
    base = bytearray(os.urandom(size))
    (tmp_path / "base").write_bytes(base)
    pages = {0: 0xA1, 1: 0xA2, 7: 0xA7, 100: 0x00, 101: 0xB5, 255: 0xFF}
    sparse_diff(tmp_path / "diff", size, pages)
    if os.stat(tmp_path / "diff").st_blocks * 512 >= size:
        pytest.fail("the file system does not keep holes: the test would prove nothing")
    r = run("edit-memory", "rebase", "--memory-path", tmp_path / "base",
            "--diff-path", tmp_path / "diff")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    want = bytearray(base)
    for i, b in pages.items():
        want[i * PAGE:(i + 1) * PAGE] = bytes([b]) * PAGE
    assert (tmp_path / "base").read_bytes() == bytes(want)


def test_rebase_short_options_and_an_empty_diff(tmp_path):
    base = os.urandom(16 * PAGE)
    (tmp_path / "base").write_bytes(base)
    sparse_diff(tmp_path / "diff", 16 * PAGE, {})
    r = run("edit-memory", "rebase", "-m", tmp_path / "base", "-d", tmp_path / "diff")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "base").read_bytes() == base


@pytest.mark.parametrize("which,msg", [
    ("memory", "Error during editing memory file: Could not open memory file: No such file or "
               "directory (os error 2)"),
    ("diff", "Error during editing memory file: Could not open diff file: No such file or "
             "directory (os error 2)"),
])
def test_rebase_missing_files(tmp_path, which, msg):
    (tmp_path / "f").write_bytes(b"x" * PAGE)
    mem, diff = (tmp_path / "nope", tmp_path / "f") if which == "memory" else \
        (tmp_path / "f", tmp_path / "nope")
    r = run("edit-memory", "rebase", "--memory-path", mem, "--diff-path", diff)
    assert (r.returncode, r.stderr.strip()) == (1, msg)
    assert (tmp_path / "f").read_bytes() == b"x" * PAGE


@pytest.mark.parametrize("args,msg", [
    (["edit-memory", "rebase", "--memory-path", "m"], "required arguments were not provided"),
    (["edit-memory", "rebase", "-m", "m", "-d", "d", "--bogus"], "unexpected argument '--bogus'"),
    (["edit-memory", "squash"], "unrecognized subcommand 'squash'"),
    (["bogus"], "unrecognized subcommand 'bogus'"),
    (["info-vmstate", "version"], "required arguments were not provided"),
])
def test_usage_errors_exit_2(args, msg):
    r = run(*args)
    assert r.returncode == 2 and msg in r.stderr and "Usage:" in r.stderr, r


def test_help_and_version():
    r = run("--help")
    assert r.returncode == 0 and "edit-memory" in r.stdout and "info-vmstate" in r.stdout
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("brasa-snapshot-editor v")


def test_info_vmstate_version_of_a_file_that_is_no_state_file(tmp_path):
    r = run("info-vmstate", "version", "--vmstate-path", KERNELS["pvh"])
    assert (r.returncode, r.stderr.strip()) == (
        1, "Error during getting info from a vmstate file: not a brasa snapshot state file "
           "(bad magic)")
    r = run("info-vmstate", "version", "-v", tmp_path / "nope")
    assert r.returncode == 1 and "No such file or directory (os error 2)" in r.stderr
