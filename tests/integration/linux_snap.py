"""A running guest Linux from a snapshot: boot it once, get it to a quiet shell prompt, pause it,
take a Full snapshot, then restore it as often as wanted, each time in a fresh brasa process
whose serial console is the test's pipe.

A guest Linux takes 25-75 s to reach its shell on kvm_pvm and about 0.3 s to answer from a
restored snapshot, so tests that need "a running Linux with these devices" take the second
path. Nothing falls back to booting: a restore that fails fails the test.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from conftest import BRASA, UnixHTTPConnection
from test_linux import BOOT_TIMEOUT, Shell

# Answers to a shell command are matched on a number the shell computes, so that the echo of
# the typed line (which holds the expression, not its value) can never match.
_token = [int(time.time()) % 100000 * 1000]


def fresh_token():
    _token[0] += 7
    return _token[0]


class Console(Shell):
    """A guest shell on a brasa's serial console, with helpers to ask it things."""

    def ask(self, command, timeout=120):
        """Runs command in the guest shell; returns what it printed (stdout and stderr), its
        lines joined by \\n, without the terminal's echo of the typed line."""
        n = fresh_token()
        self.run(f"echo BEG$(({n})); {command}; echo END$(({n} + 1))")
        m = self.expect(rf"BEG{n}\r?\n(.*?)END{n + 1}\r?\n", timeout=timeout, flags=re.S)
        return "\n".join(l for l in m.group(1).replace("\r", "").split("\n") if l)

    def expect(self, pattern, timeout=120, flags=0):
        """Reads the console until pattern matches after the previous expect's match."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern, flags)
        while time.monotonic() < deadline:
            m = rx.search(self.out, self.seen)
            if m:
                self.seen = m.end()
                return m
            chunk = self.proc.stdout.read()
            if chunk:
                self.out += chunk.decode(errors="replace")
            elif self.proc.poll() is not None:
                break
            else:
                time.sleep(0.005)
        raise AssertionError(f"no {pattern!r} on the console:\n{self.describe()}")

    def api_call(self, method, path, body=None, timeout=120):
        conn = UnixHTTPConnection(str(self.sock), timeout=timeout)
        try:
            conn.request(method, path, json.dumps(body) if body is not None else None)
            r = conn.getresponse()
            raw = r.read()
        finally:
            conn.close()
        return r.status, json.loads(raw) if raw else None

    def log(self):
        path = self.log_path
        return path.read_text(errors="replace") if path.exists() else ""

    def describe(self):
        return f"--- console:\n{self.out}\n--- brasa log:\n{self.log()}"


class Booted(Console):
    """brasa booting cfg, with the API socket and the config file."""

    def __init__(self, d, cfg):
        super().__init__(d, cfg)
        self.log_path = d / "brasa.log"


class Restored(Console):
    """A fresh brasa (API only, no config) that loads a snapshot; its console is our pipe."""

    def __init__(self, d, snap, resume=True, track_dirty_pages=False):
        self.sock_dir = Path(tempfile.mkdtemp(prefix="bls-"))
        self.sock = self.sock_dir / "api.sock"
        self.log_path = d / "brasa.log"
        self.start = time.monotonic()
        self.proc = subprocess.Popen(
            [str(BRASA), "--api-sock", str(self.sock), "--log-path", str(self.log_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.out, self.seen = "", 0
        self.api = lambda: UnixHTTPConnection(str(self.sock))
        deadline = time.monotonic() + 10
        while not self.sock.exists():
            assert self.proc.poll() is None and time.monotonic() < deadline, self.describe()
            time.sleep(0.002)
        self.load_start = time.monotonic()
        self.load_status, self.load_body = self.api_call("PUT", "/snapshot/load", {
            "snapshot_path": str(snap.state), "resume_vm": resume,
            "track_dirty_pages": track_dirty_pages,
            "mem_backend": {"backend_type": "File", "backend_path": str(snap.mem)}})

    def close(self):
        super().close()
        shutil.rmtree(self.sock_dir, ignore_errors=True)


@dataclass
class LinuxSnapshot:
    """A Full snapshot of a guest Linux paused at its shell prompt."""
    dir: Path
    state: Path
    mem: Path
    boot_seconds: float           # brasa start -> the shell's first answer
    uptime: float                 # the guest's /proc/uptime when it was paused
    disks: dict = field(default_factory=dict)  # drive path -> pristine copy of it at the pause
    facts: dict = field(default_factory=dict)  # what setup() returned

    def restore(self, d, resume=True, track_dirty_pages=False):
        """A fresh brasa loading this snapshot, each drive back as it was at the pause (a restore
        that wrote to it must not leak into the next); the caller closes it."""
        for path, pristine in self.disks.items():
            shutil.copyfile(pristine, path)
        return Restored(d, self, resume, track_dirty_pages)


def uptime(con):
    return float(con.ask("cat /proc/uptime").split()[0])


def take_snapshot(d, cfg, setup=None, drives=()):
    """Boots cfg (its boot_args must hold brasa.shell) to its shell, runs setup(console) in it
    (whatever it returns is kept in .facts), pauses and takes a Full snapshot into d. drives are
    the host paths of the configuration's writable drives."""
    con = Booted(d, cfg)
    try:
        con.expect(r"busybox shell", timeout=BOOT_TIMEOUT)
        assert con.ask("echo up") == "up", con.describe()
        boot_seconds = time.monotonic() - con.start
        facts = setup(con) if setup else {}
        up = uptime(con)
        time.sleep(1)  # the shell has drawn its prompt and waits for input: a quiet guest
        assert con.api_call("PATCH", "/vm", {"state": "Paused"})[0] == 204, con.describe()
        state, mem = d / "linux.state", d / "linux.mem"
        status, body = con.api_call("PUT", "/snapshot/create", {
            "snapshot_path": str(state), "mem_file_path": str(mem), "snapshot_type": "Full"})
        assert status == 204, (body, con.describe())
        snap = LinuxSnapshot(d, state, mem, boot_seconds, up, facts=facts or {})
        for path in drives:
            pristine = d / (Path(path).name + ".at-snapshot")
            shutil.copyfile(path, pristine)
            snap.disks[str(path)] = pristine
        return snap
    finally:
        con.close()


BAD_CONSOLE = re.compile(r"Kernel panic|Oops|BUG:|WARNING:|soft lockup|rcu.*stall|"
                         r"clocksource.*unstable|Call Trace")


def assert_clean_console(con):
    """Nothing on the console that a healthy kernel never prints."""
    m = BAD_CONSOLE.search(con.out)
    assert not m, f"{m.group(0)!r} on the console\n{con.describe()}"
    # Restoring the vCPUs tells the guest's kvmclock it was stopped (KVM_KVMCLOCK_CTRL).
    assert "KVM_KVMCLOCK_CTRL call failed" not in con.log(), con.describe()
