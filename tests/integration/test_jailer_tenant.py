"""brasa-jailer against its own tenant (issue 17, item 4): after one run, the jail's uid plants
links in the chroot (as setpriv to that uid, as a guest that escaped brasa could), and the
jailer runs again. It never follows them, never truncates what it did not create, and the
tenant cannot rewrite the pid file. --uid 0 keeps working, with no capability left."""
import os
import shutil
import signal
import subprocess

import pytest

from conftest import BRASA, wait_for_line
from test_jailer import GID, UID, jail, needs_static, proc_field  # noqa: F401 (jail: fixture)

pytestmark = needs_static  # brasa runs inside the chroot, which holds no shared libraries

USED = "was already set up by a jailer"


def tenant(*cmd, cwd):
    """Runs cmd as the jail's uid/gid; returns (rc, stderr)."""
    p = subprocess.run(["setpriv", f"--reuid={UID}", f"--regid={GID}", "--clear-groups", *cmd],
                       cwd=cwd, capture_output=True, text=True, timeout=30)
    return p.returncode, p.stderr


def run_jailer(jail, *extra):
    """One jailer run whose brasa only prints its version: the jail is fully set up."""
    p = subprocess.run(jail.argv(*extra, brasa_args=("--version",)), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


@pytest.fixture
def used(jail, tmp_path):
    """A chroot the jailer has set up once, with a root-owned image hard-linked into it the way
    Firecracker's test framework places drives (and chowned to the jail's uid, as it does)."""
    jail.root.mkdir(parents=True)
    host_image = tmp_path / "image.ext4"
    host_image.write_bytes(b"precious" * 512)
    os.link(host_image, jail.root / "image.ext4")
    os.chown(jail.root / "image.ext4", UID, GID)
    secret = tmp_path / "secret"
    secret.write_text("root only")
    os.chmod(secret, 0o600)
    os.link(secret, jail.root / "secret")  # root's, 0600: what a link in /run would aim at
    rc, out = run_jailer(jail)
    assert rc == 0 and "Firecracker v" in out, out
    st = os.stat(jail.root)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, GID, 0o1770)
    return host_image, secret


def assert_untouched(secret):
    st = os.stat(secret)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, 0, 0o600)
    assert secret.read_text() == "root only"


def test_second_run_over_a_used_chroot_is_refused(jail, used):
    rc, out = run_jailer(jail)
    assert rc == 1 and USED in out and "--reuse-chroot" in out, out
    rc, out = run_jailer(jail, "--reuse-chroot")
    assert rc == 0 and "Firecracker v" in out, out


@pytest.mark.parametrize("where", ["run", "dev", "dev/net"])
def test_planted_directory_link_is_not_followed(jail, used, where):
    _, secret = used
    rc, err = tenant("sh", "-c", f"rm -rf {where} && ln -s /secret {where}", cwd=jail.root)
    assert rc == 0, err
    assert os.path.islink(jail.root / where)
    rc, out = run_jailer(jail)
    assert rc == 1 and USED in out, out
    assert_untouched(secret)
    rc, out = run_jailer(jail, "--reuse-chroot")
    assert rc == 1 and f"Failed to open directory /{where}: Not a directory" in out, out
    assert_untouched(secret)


def test_binary_hard_link_is_never_truncated(jail, used):
    host_image, _ = used
    rc, err = tenant("sh", "-c", "rm -f brasa && ln image.ext4 brasa", cwd=jail.root)
    assert rc == 0, err
    assert os.stat(host_image).st_nlink == 3
    rc, out = run_jailer(jail)
    assert rc == 1 and USED in out, out
    assert host_image.read_bytes() == b"precious" * 512
    rc, out = run_jailer(jail, "--reuse-chroot")  # the name is replaced, the image kept
    assert rc == 0, out
    assert host_image.read_bytes() == b"precious" * 512
    assert os.stat(host_image).st_nlink == 2
    assert os.stat(jail.root / "brasa").st_size == os.stat(BRASA).st_size


def test_tenant_cannot_rewrite_the_pid_file(jail, used):
    pid_file = jail.root / "brasa.pid"
    before = pid_file.read_text()
    st = os.stat(pid_file)
    assert (st.st_uid, st.st_mode & 0o777) == (0, 0o644)
    for cmd in ("echo 1 > brasa.pid", "rm -f brasa.pid", "echo 1 > x && mv -f x brasa.pid",
                "chmod 666 brasa.pid"):
        rc, _ = tenant("sh", "-c", cmd, cwd=jail.root)
        assert rc != 0, cmd
        assert pid_file.read_text() == before, cmd
    rc, err = tenant("sh", "-c", "echo hi > mine && rm mine", cwd=jail.root)
    assert rc == 0, err  # brasa can still create (and remove) its own files in /


def test_root_that_is_a_link_is_refused(jail, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    jail.root.parent.mkdir(parents=True)
    jail.root.symlink_to(outside)
    rc, out = run_jailer(jail)
    assert rc == 1 and "a symbolic link or not a directory" in out, out
    assert os.listdir(outside) == []
    # A level above root that the tenant could write (its own <id>): refused as well.
    jail.root.unlink()
    jail.root.mkdir()
    os.chown(jail.root.parent, UID, GID)
    rc, out = run_jailer(jail)
    assert rc == 1 and "must belong to root and be writable only by it" in out, out


@pytest.mark.kvm
def test_uid_0_runs_without_capabilities(jail):
    """Kata Containers starts the jailer with --uid 0 --gid 0: brasa then runs as root, with an
    empty bounding set and no capability at all, and the jailer warns about it."""
    jail.prepare_root()
    argv = jail.argv()
    argv[argv.index("--uid") + 1] = "0"
    argv[argv.index("--gid") + 1] = "0"
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    jail.procs.append(p)
    out = wait_for_line(p, r"BRASA halting")
    assert "warning: --uid 0 --gid 0: brasa runs as root inside the jail" in out, out
    pid = p.pid
    assert proc_field(pid, "Uid") == ["0"] * 4
    for field in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(proc_field(pid, field)[0], 16) == 0, field
    assert proc_field(pid, "NoNewPrivs") == ["1"] and proc_field(pid, "Seccomp") == ["2"]
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == 0


def test_a_chroot_the_user_filled_first_is_fine(jail):
    """Users (and Firecracker's test framework) put the VM's files, even /run, in the chroot
    before the jailer runs: that is not a used chroot."""
    (jail.root / "run").mkdir(parents=True)
    (jail.root / "vm.json").write_text("{}")
    rc, out = run_jailer(jail)
    assert rc == 0 and "Firecracker v" in out, out
    st = os.stat(jail.root / "run")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (UID, GID, 0o700)
