"""brasa-jailer: a test guest boots jailed as a non-root uid (checked from /proc), and bad input
fails cleanly, leaving nothing behind in the chroot base or the cgroup hierarchies."""
import os
import secrets
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BRASA, BUILD, KERNELS, wait_for_line

JAILER = BUILD / "brasa-jailer"
UID, GID = 1234, 1235
V1 = Path("/sys/fs/cgroup")
V2 = V1 / "unified"


def sanitizer_build():
    cache = BUILD / "CMakeCache.txt"
    return cache.exists() and "SANITIZE:BOOL=ON" in cache.read_text()


needs_static = pytest.mark.skipif(sanitizer_build(), reason="sanitizer builds link brasa "
                                  "dynamically, and the jail holds no shared libraries")


def proc_field(pid, name, task=None):
    path = f"/proc/{pid}/task/{task}/status" if task else f"/proc/{pid}/status"
    for line in open(path):
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].split()
    raise AssertionError(f"{name} not in {path}")


class Jail:
    """One jail: chroot base, instance id, parent cgroup and netns, all removed afterwards."""

    def __init__(self, tmp_path):
        tag = secrets.token_hex(4)
        self.id = f"jt-{tag}"
        self.base = tmp_path / "jails"
        self.base.mkdir()
        self.parent = f"brasa-jt-{tag}"
        self.netns = f"brasa-jt-{tag}"
        self.root = self.base / BRASA.name / self.id / "root"
        self.procs = []

    def add_netns(self):
        subprocess.run(["ip", "netns", "add", self.netns], check=True)
        return Path("/run/netns") / self.netns

    def prepare_root(self, boot_args="console=ttyS0 brasa.halt"):
        """What a user does before starting the jailer: kernel and config inside the jail."""
        self.root.mkdir(parents=True)
        shutil.copy(KERNELS["pvh"], self.root / "pvh.elf")
        (self.root / "vm.json").write_text(
            '{"boot-source": {"kernel_image_path": "/pvh.elf", "boot_args": "%s"},'
            ' "machine-config": {"vcpu_count": 2, "mem_size_mib": 64}}' % boot_args)
        for f in ("pvh.elf", "vm.json"):
            os.chmod(self.root / f, 0o644)

    def argv(self, *extra, brasa_args=("--no-api", "--config-file", "/vm.json",
                                       "--log-path", "/brasa.log")):
        return [str(JAILER), "--id", self.id, "--exec-file", str(BRASA), "--uid", str(UID),
                "--gid", str(GID), "--chroot-base-dir", str(self.base), "--parent-cgroup",
                self.parent, *extra, "--", *brasa_args]

    def cgroup_dirs(self):
        out = []
        for ctrl in ("cpu", "cpuset", "pids", "unified"):
            d = V1 / ctrl / self.parent
            if d.exists():
                out += [d / self.id, d]
        return out

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        pid_file = self.root / "brasa.pid"
        if pid_file.exists():  # a daemonized brasa is nobody's child here
            pid = int(pid_file.read_text())
            try:
                if self.id.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)
                    wait_gone(pid)
            except (FileNotFoundError, ProcessLookupError):
                pass
        for d in self.cgroup_dirs():
            for _ in range(50):  # a killed task leaves its cgroup a moment later
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)
        subprocess.run(["ip", "netns", "del", self.netns], stderr=subprocess.DEVNULL)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def jail(tmp_path):
    j = Jail(tmp_path)
    yield j
    j.cleanup()
    assert not j.cgroup_dirs(), "cgroups left behind"


def wait_gone(pid, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if open(f"/proc/{pid}/stat").read().split(")")[-1].split()[0] == "Z":
                return
        except FileNotFoundError:
            return
        time.sleep(0.05)
    raise AssertionError(f"pid {pid} still running")


@pytest.mark.kvm
@needs_static
def test_jailed_guest_runs_confined(jail):
    netns = jail.add_netns()
    jail.prepare_root()
    leak = open(jail.base.parent / "leaked-fd.txt", "w")
    p = subprocess.Popen(
        jail.argv("--netns", str(netns), "--cgroup", "cpu.shares=512", "--cgroup", "pids.max=64",
                  "--cgroup", "cpuset.cpus=0", "--resource-limit", "no-file=128"),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        pass_fds=(leak.fileno(),), env={**os.environ, "BRASA_JT_SECRET": "1"})
    jail.procs.append(p)
    wait_for_line(p, r"BRASA halting")
    pid = p.pid  # without --new-pid-ns the jailer execs brasa in place

    # The process: uid/gid, no supplementary groups, no environment, brasa's command line.
    assert proc_field(pid, "Uid") == [str(UID)] * 4
    assert proc_field(pid, "Gid") == [str(GID)] * 4
    assert proc_field(pid, "Groups") == []
    assert Path(f"/proc/{pid}/environ").read_bytes() == b""
    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert cmd[:4] == [b"/brasa", b"--id", jail.id.encode(), b"--start-time-us"]
    assert (jail.root / "brasa.pid").read_text() == str(pid)

    # Root is the chroot; the binary is a private copy; the device nodes belong to the uid.
    assert os.stat(f"/proc/{pid}/root")[1:3] == os.stat(jail.root)[1:3]  # (st_ino, st_dev)
    copy = os.stat(jail.root / "brasa")
    assert copy.st_ino != os.stat(BRASA).st_ino and copy.st_nlink == 1 and copy.st_uid == UID
    for node, dev in (("dev/kvm", (10, 232)), ("dev/net/tun", (10, 200)),
                      ("dev/urandom", (1, 9))):
        st = os.stat(jail.root / node)
        assert stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == dev
        assert (st.st_uid, st.st_gid) == (UID, GID)

    # Namespaces, cgroups and limits.
    assert os.readlink(f"/proc/{pid}/ns/net") == f"net:[{os.stat(netns).st_ino}]"
    assert os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    cgroups = Path(f"/proc/{pid}/cgroup").read_text()
    for ctrl in ("cpu", "pids", "cpuset"):
        assert f":{ctrl}:/{jail.parent}/{jail.id}\n" in cgroups, cgroups
    assert (V1 / "cpu" / jail.parent / jail.id / "cpu.shares").read_text() == "512\n"
    assert (V1 / "cpuset" / jail.parent / jail.id / "cpuset.cpus").read_text() == "0\n"
    assert "128" in Path(f"/proc/{pid}/limits").read_text().split("Max open files")[1]

    # Open fds: stdio, and only what brasa opened itself (nothing inherited).
    fds = {int(fd): os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    assert {0, 1, 2} <= fds.keys()
    others = {fd: t for fd, t in fds.items() if fd > 2}
    assert not [t for t in others.values() if "leaked-fd" in t]
    odd = [t for t in others.values()
           if not (t.startswith("anon_inode:") or t in ("/dev/kvm", "/brasa.log"))]
    assert not odd, fds

    # Seccomp is on in the jail as everywhere.
    assert proc_field(pid, "NoNewPrivs") == ["1"] and proc_field(pid, "Seccomp") == ["2"]

    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == 0
    assert "Firecracker exiting successfully. exit_code=0" in (jail.root / "brasa.log").read_text()


@pytest.mark.kvm
@needs_static
def test_daemonize_new_pid_ns_cgroup_v2(jail):
    jail.prepare_root()
    before = (V2 / "cgroup.subtree_control").read_text()
    try:
        p = subprocess.run(jail.argv("--daemonize", "--new-pid-ns", "--cgroup-version", "2",
                                     "--cgroup", "hugetlb.2MB.max=0"),
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        assert p.returncode == 0, p.stderr
        pid_file, log = jail.root / "brasa.pid", jail.root / "brasa.log"
        # The jailer returns once the jailed brasa runs its VM (--no-api): no polling needed.
        assert "Successfully started" in log.read_text()
        pid = int(pid_file.read_text())  # written before the jailer lets brasa start
        assert proc_field(pid, "NSpid")[-1] == "1"  # PID 1 of its own namespace
        assert proc_field(pid, "Uid") == [str(UID)] * 4
        sid = int(open(f"/proc/{pid}/stat").read().split(")")[1].split()[3])
        assert sid != os.getsid(0)  # detached from our session
        assert os.readlink(f"/proc/{pid}/fd/1") == "/dev/null"
        assert f"0::/{jail.parent}/{jail.id}\n" in Path(f"/proc/{pid}/cgroup").read_text()
        assert (V2 / jail.parent / jail.id / "hugetlb.2MB.max").read_text() == "0\n"
        os.kill(pid, signal.SIGTERM)
        wait_gone(pid)
        assert "Firecracker exiting successfully. exit_code=0" in log.read_text()
    finally:
        jail.cleanup()  # the jail's cgroups first: the root's hugetlb is busy while they exist
        if "hugetlb" not in before:
            (V2 / "cgroup.subtree_control").write_text("-hugetlb")


@pytest.mark.kvm
@needs_static
@pytest.mark.parametrize("pid_ns", [True, False], ids=["new-pid-ns", "same-pid-ns"])
def test_daemonize_returns_with_api_socket_ready(jail, pid_ns):
    """An orchestrator's first API call right after the jailer returns must connect."""
    jail.prepare_root()
    extra = ["--daemonize"] + (["--new-pid-ns"] if pid_ns else [])
    p = subprocess.run(jail.argv(*extra, brasa_args=("--api-sock", "/api.sock",
                                                     "--config-file", "/vm.json")),
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    out = subprocess.run(["curl", "-sS", "--unix-socket", str(jail.root / "api.sock"),
                          "http://localhost/"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert '"id":"%s"' % jail.id in out.stdout.replace(" ", "")


def run_bad(*args):
    p = subprocess.run([str(JAILER), *args], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stderr


GOOD = {"--id": "ok-1", "--exec-file": str(BRASA), "--uid": str(UID), "--gid": str(GID)}


def with_args(jail, **changes):
    args = {**GOOD, "--chroot-base-dir": str(jail.base), "--parent-cgroup": jail.parent}
    for k, v in changes.items():
        key = "--" + k.replace("_", "-")
        if v is None:
            args.pop(key)
        else:
            args[key] = v
    return [x for kv in args.items() for x in kv]


BAD_INPUT = {
    "missing uid": (dict(uid=None), "Argument 'uid' required, but not found"),
    "non-numeric uid": (dict(uid="root"), "Invalid uid: root"),
    "id with bad characters": (dict(id="a_b"), "Invalid char (_) at position 1"),
    "id over 64 characters": (dict(id="a" * 65), "Invalid len (65)"),
    "missing exec file": (dict(exec_file="/nonexistent/brasa"),
                          "Failed to canonicalize path /nonexistent/brasa"),
    "relative chroot base": (dict(chroot_base_dir="jails"), "must be an absolute path"),
    "cgroup without value": (dict(cgroup="cpu.shares"), "Invalid format for cgroups"),
    "cgroup file is a path": (dict(cgroup="../cpu.shares=1"), "Cgroup invalid file"),
    "unknown cgroup controller": (dict(cgroup="nosuch.max=1"), "Controller nosuch is unavailable"),
    "cgroup value the kernel refuses": (dict(cgroup="cpu.shares=abc"), "Failed to write to"),
    "bad cgroup version": (dict(cgroup_version="3"), "invalid cgroup version"),
    "absolute parent cgroup": (dict(parent_cgroup="/x"), "Parent cgroup path is invalid"),
    "netns that does not exist": (dict(netns="/run/netns/brasa-no-such-ns"),
                                  "/run/netns/brasa-no-such-ns: No such file"),
    "bad resource limit": (dict(resource_limit="cpu=1"), "Invalid resource argument: cpu"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_fails_and_leaves_nothing(jail, case):
    changes, message = BAD_INPUT[case]
    rc, err = run_bad(*with_args(jail, **changes))
    assert rc == 1, err
    assert message in err, err
    assert err.startswith("brasa-jailer: ")
    assert os.listdir(jail.base) == [], "something was left in the chroot base"
    assert not (V1 / "cpu" / jail.parent).exists()


def test_unknown_argument_and_help(jail):
    rc, err = run_bad(*with_args(jail), "--bogus")
    assert rc == 1 and "Found argument '--bogus'" in err
    p = subprocess.run([str(JAILER), "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "--chroot-base-dir" in p.stdout


def test_binaries_are_static():
    if sanitizer_build():
        pytest.skip("sanitizer builds are dynamic by design")
    for binary in (BRASA, JAILER):
        out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
        assert ("not a dynamic executable" in out.stdout + out.stderr
                or "statically linked" in out.stdout), out
        assert "INTERP" not in subprocess.run(["readelf", "-lW", str(binary)],
                                              capture_output=True, text=True).stdout


def test_size_budget(tmp_path):
    """tools/size-check.sh passes with the repo's budget and fails when a binary is over."""
    if sanitizer_build():
        pytest.skip("sanitizer builds are dynamic and larger by design")
    script = Path(__file__).resolve().parents[2] / "tools" / "size-check.sh"
    ok = subprocess.run([str(script), str(BUILD)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout
    assert "size: brasa " in ok.stdout and "size: brasa-jailer " in ok.stdout
    tight = tmp_path / "budget.conf"
    tight.write_text("brasa 1000\n")
    over = subprocess.run([str(script), str(BUILD)], capture_output=True, text=True,
                          env={**os.environ, "SIZE_BUDGET": str(tight)})
    assert over.returncode == 1 and "over its budget of 1000" in over.stdout
