"""Shared fixtures for brasa's integration tests: run build/brasa on the test guests."""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("BRASA_BUILD_DIR", ROOT / "build")).resolve()  # absolute: tests chdir
BRASA = BUILD / "brasa"
GUESTS = BUILD / "guest-tests"

KERNELS = {
    "pvh": GUESTS / "pvh.elf",
    "linux64": GUESTS / "linux64.elf",
    "bzimage": GUESTS / "linux64.bzImage",
}
INITRD = GUESTS / "initrd.img"


def kvm_usable():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError as e:
        return str(e)
    os.close(fd)
    return None


@pytest.fixture(autouse=True)
def _require_artifacts(request):
    """Missing build outputs or /dev/kvm fail the test loudly; they never skip it."""
    if not BRASA.exists():
        pytest.fail(f"{BRASA} is missing: build first (cmake --build build)")
    if "kvm" in request.keywords:
        why = kvm_usable()
        if why:
            pytest.fail(f"/dev/kvm is not usable ({why}): KVM tests cannot run here")


@dataclass
class Report:
    """What a test guest printed, parsed from its `BRASA ...` lines."""
    lines: list = field(default_factory=list)

    def get(self, key):
        for line in self.lines:
            if line == key or line.startswith(key + " "):
                return line[len(key):].strip()
        return None

    def all(self, key):
        return [l[len(key):].strip() for l in self.lines if l.startswith(key + " ")]

    def fields(self, key):
        """Parses `key a=1 b=0x2` into {'a': 1, 'b': 2}."""
        text = self.get(key)
        assert text is not None, f"guest did not report {key!r}; lines: {self.lines}"
        return parse_fields(text)

    def e820(self):
        out = []
        for text in self.all("e820"):
            f = parse_fields(text)
            out.append((f["addr"], f["size"], f["type"]))
        return out


def parse_fields(text):
    out = {}
    for tok in text.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            try:
                out[k] = int(v, 0)
            except ValueError:
                out[k] = v
    return out


@dataclass
class Result:
    rc: int
    stdout: str
    log: str
    report: Report
    elapsed: float


def parse_report(stdout):
    lines = []
    for raw in stdout.splitlines():
        raw = raw.rstrip("\r")
        idx = raw.find("BRASA ")
        if idx >= 0:
            lines.append(raw[idx + len("BRASA "):])
    return Report(lines)


def pvm_args():
    """The words brasa appends after its own while its kvm_pvm CPU template is active
    (tools/guest/cmdline-pvm, which test_boot.py checks against what brasa appends)."""
    text = (ROOT / "tools" / "guest" / "cmdline-pvm").read_text()
    return " ".join(l.strip() for l in text.splitlines() if l.strip() and not l.startswith("#"))


def without_pvm_args(cmdline):
    """cmdline as the guest saw it, less the kvm_pvm words brasa appends last on such hosts,
    so that a test can check the user's and brasa's device words on any host."""
    words = " " + pvm_args()
    return cmdline[:-len(words)] if cmdline.endswith(words) else cmdline


def make_config(kernel, boot_args=None, vcpus=1, mem=128, initrd=None, extra=None):
    boot = {"kernel_image_path": str(kernel)}
    if boot_args is not None:
        boot["boot_args"] = boot_args
    if initrd is not None:
        boot["initrd_path"] = str(initrd)
    cfg = {"boot-source": boot,
           "machine-config": {"vcpu_count": vcpus, "mem_size_mib": mem}}
    if extra:
        cfg.update(extra)
    return cfg


class Brasa:
    """Runs brasa once per call with a config file in a private directory."""

    def __init__(self, tmp_path):
        self.dir = tmp_path

    def write_config(self, cfg, name="vm.json"):
        path = self.dir / name
        if isinstance(cfg, (dict, list)):
            path.write_text(json.dumps(cfg))
        else:
            path.write_text(cfg)
        return path

    def argv(self, config_path, args=()):
        return [str(BRASA), "--no-api", "--config-file", str(config_path),
                "--log-path", str(self.dir / "brasa.log"), *args]

    def run(self, cfg, args=(), stdin_data=None, timeout=60):
        config_path = self.write_config(cfg)
        log = self.dir / "brasa.log"
        if log.exists():
            log.unlink()
        start = time.monotonic()
        p = subprocess.run(self.argv(config_path, args), input=stdin_data,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=None if stdin_data is not None else subprocess.DEVNULL,
                           timeout=timeout)
        elapsed = time.monotonic() - start
        out = p.stdout.decode(errors="replace")
        log_text = log.read_text(errors="replace") if log.exists() else ""
        return Result(p.returncode, out, log_text, parse_report(out), elapsed)

    def boot(self, proto="pvh", boot_args="console=ttyS0", **kw):
        args = kw.pop("args", ())
        stdin_data = kw.pop("stdin_data", None)
        return self.run(make_config(KERNELS[proto], boot_args, **kw), args=args,
                        stdin_data=stdin_data)

    def spawn(self, cfg, args=()):
        config_path = self.write_config(cfg)
        return subprocess.Popen(self.argv(config_path, args), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.fixture
def brasa(tmp_path):
    return Brasa(tmp_path)


def wait_for_line(proc, pattern, timeout=30):
    """Reads proc.stdout until a line matches pattern; returns everything read."""
    os.set_blocking(proc.stdout.fileno(), False)
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        chunk = proc.stdout.read()
        if chunk:
            buf += chunk
            if re.search(pattern, buf.decode(errors="replace")):
                return buf.decode(errors="replace")
        elif proc.poll() is not None:
            break
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {pattern!r}; got {buf!r}")


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over an AF_UNIX socket: one keep-alive connection, like curl or the SDKs."""

    def __init__(self, sock_path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.sock_path = str(sock_path)

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.sock_path)
        self.sock = sock


@dataclass
class ApiResponse:
    status: int
    headers: dict
    raw: bytes

    def json(self):
        return json.loads(self.raw) if self.raw else None

    def fault(self):
        return self.json()["fault_message"]


class ApiVm:
    """brasa in API mode (the default) with its socket in a short private directory."""

    def __init__(self, tmp_path, args=(), validate=None, binary=None, env=None):
        self.dir = tmp_path
        self.sock_dir = Path(tempfile.mkdtemp(prefix="brasa-api-"))
        self.sock = self.sock_dir / "api.sock"
        self.log = tmp_path / "brasa.log"
        self.validate = validate  # callable(method, path, status, body) or None
        self.proc = subprocess.Popen(
            [str(binary or BRASA), "--api-sock", str(self.sock), "--log-path", str(self.log),
             *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})})
        deadline = time.monotonic() + 10
        while not self.sock.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"API socket never appeared: {self.output()}")
            time.sleep(0.002)
        self.conn = UnixHTTPConnection(self.sock)

    def request(self, method, path, body=None, headers=None):
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        self.conn.request(method, path, body=data, headers=headers or {})
        r = self.conn.getresponse()
        resp = ApiResponse(r.status, dict(r.getheaders()), r.read())
        if self.validate:
            self.validate(method, path, resp.status, resp.json() if resp.raw else None)
        return resp

    def get(self, path):
        return self.request("GET", path)

    def put(self, path, body):
        return self.request("PUT", path, body)

    def patch(self, path, body):
        return self.request("PATCH", path, body)

    def output(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self):
        """Terminates brasa (SIGTERM) and returns its exit code; safe to call twice."""
        self.conn.close()
        if self.proc.stdout.closed:
            return self.proc.returncode
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stdout = self.proc.stdout.read().decode(errors="replace")
        self.proc.stdout.close()
        shutil.rmtree(self.sock_dir, ignore_errors=True)
        return self.proc.returncode


@pytest.fixture
def api(tmp_path):
    """brasa in API mode whose every answer is checked against docs/api/openapi.yaml; it must
    end with exit 0 (SIGTERM, or the guest's own reset)."""
    from api_schema import SPEC  # here, not at the top: api_schema imports conftest
    vm = ApiVm(tmp_path, validate=SPEC.validate)
    yield vm
    assert vm.stop() == 0, vm.output()


@pytest.fixture
def api_vm(tmp_path):
    vm = ApiVm(tmp_path)
    yield vm
    vm.stop()


def ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True)


_seq = [0]


def unique(prefix):
    _seq[0] += 1
    return f"{prefix}{os.getpid() % 100000}{_seq[0]}"[:15]


@pytest.fixture
def make_tap():
    """Creates persistent taps (IPv6 off: no host chatter) and always deletes them."""
    made = []

    def make(up=True):
        name = unique("bt")
        ip("tuntap", "add", "dev", name, "mode", "tap")
        made.append(name)
        with open(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "w") as f:
            f.write("1")
        if up:
            ip("link", "set", name, "up")
        return name

    yield make
    for name in made:
        subprocess.run(["ip", "link", "del", name], capture_output=True)


def pytest_configure(config):
    config.addinivalue_line("markers", "kvm: needs a usable /dev/kvm (fails loudly without)")
