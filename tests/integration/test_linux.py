"""Boot the project's own Linux guest (tools/guest: Debian's linux-source-6.1 + busybox) under
brasa to user space, and check from inside the guest what it was given.

The guest's init prints one line, `BRASA linux cpus=N memtotal_kb=N ram_kb=N mounts=... cmdline=...`,
then reboots through the i8042 (exit 0). Artifacts come from tools/guest/build.sh (run by
tools/test.sh) in build/guest/. Each test prints its boot time (process start -> that line).
"""
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BRASA, BUILD, ROOT

pytestmark = pytest.mark.kvm


def _guest_dir():
    if "BRASA_GUEST_DIR" in os.environ:
        return Path(os.environ["BRASA_GUEST_DIR"])
    return BUILD / "guest" if (BUILD / "guest").exists() else ROOT / "build" / "guest"


GUEST = _guest_dir()
KERNELS = {"pvh": GUEST / "vmlinux", "bzimage": GUEST / "bzImage"}
# The uncompressed archive: gunzip runs emulated on kvm_pvm (about a minute for 2 MB).
INITRAMFS = GUEST / "initramfs.cpio"
ROOTFS = GUEST / "rootfs.ext4"
PVM_HOST = Path("/sys/module/kvm_pvm").exists()
# A boot takes 30 s to 2 min on kvm_pvm (guest kernel code is emulated; 2 GiB of struct pages
# alone take ~30 s) and about a second with VMX/SVM. This only bounds a hang.
BOOT_TIMEOUT = 300
MARKER = re.compile(r"BRASA linux cpus=(\d+) memtotal_kb=(\d+) ram_kb=(\d+) mounts=(\S*) "
                    r"cmdline=(.*)")


def read_cmdline(name):
    text = (ROOT / "tools" / "guest" / name).read_text()
    return " ".join(l.strip() for l in text.splitlines() if l.strip() and not l.startswith("#"))


def boot_args(extra=""):
    """tools/guest/cmdline, plus tools/guest/cmdline-pvm on kvm_pvm hosts, plus extra."""
    parts = [read_cmdline("cmdline")]
    if PVM_HOST:
        parts.append(read_cmdline("cmdline-pvm"))
    if extra:
        parts.append(extra)
    return " ".join(parts)


def e820_ram_kib(mem_mib):
    """Usable RAM in brasa's (Firecracker's) e820 map: below 640K, 1 MiB..3 GiB, above 4 GiB."""
    mem = mem_mib << 20
    low = min(mem, 3 << 30)
    return (0x9FC00 + (low - 0x100000) + (mem - low)) // 1024


@pytest.fixture(autouse=True)
def _require_guest():
    """Missing guest artifacts fail loudly: tools/test.sh builds them before the tests."""
    for path in (*KERNELS.values(), INITRAMFS, ROOTFS):
        if not path.exists():
            pytest.fail(f"{path} is missing: run tools/guest/build.sh")


class Boot:
    def __init__(self, rc, out, log, seconds_to_marker, seconds_total):
        self.rc, self.out, self.log = rc, out, log
        self.to_marker, self.total = seconds_to_marker, seconds_total
        m = MARKER.search(out)
        self.marker = m
        if m:
            self.cpus, self.memtotal_kb, self.ram_kb = (int(m.group(i)) for i in (1, 2, 3))
            self.mounts = dict(self._mount(x) for x in m.group(4).split(",") if x)
            self.cmdline = m.group(5).rstrip("\r")

    @staticmethod
    def _mount(entry):
        path, fstype, dev = entry.split(":", 2)
        return path, (fstype, dev)

    def describe(self):
        return f"exit {self.rc}\n--- console:\n{self.out}\n--- brasa log:\n{self.log}"


def run_guest(tmp_path, cfg, label, capsys, args=()):
    """Runs brasa on cfg until it exits (killing it after BOOT_TIMEOUT), timing the marker line."""
    cfg_path = tmp_path / "vm.json"
    cfg_path.write_text(json.dumps(cfg))
    log_path = tmp_path / "brasa.log"
    argv = [str(BRASA), "--no-api", "--config-file", str(cfg_path), "--log-path", str(log_path),
            *args]
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    os.set_blocking(proc.stdout.fileno(), False)
    buf, to_marker, timed_out = b"", None, False
    while True:
        chunk = proc.stdout.read()
        if chunk:
            buf += chunk
            if to_marker is None and b"BRASA linux " in buf:
                to_marker = time.monotonic() - start
        elif proc.poll() is not None:
            break
        elif time.monotonic() - start > BOOT_TIMEOUT:
            proc.kill()
            timed_out = True
        else:
            time.sleep(0.02)
    total = time.monotonic() - start
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    boot = Boot(proc.returncode, buf.decode(errors="replace"), log, to_marker, total)
    with capsys.disabled():
        shown = f"{to_marker:.2f} s to user space" if to_marker else "no user space"
        print(f"\n    [linux boot: {label}: {shown}, {total:.2f} s to exit {proc.returncode}]",
              end=" ")
    assert not timed_out, f"killed after {BOOT_TIMEOUT} s\n{boot.describe()}"
    return boot


def vm_config(kernel, args, vcpus, mem, initrd=INITRAMFS, extra=None):
    boot = {"kernel_image_path": str(kernel), "boot_args": args}
    if initrd is not None:
        boot["initrd_path"] = str(initrd)
    cfg = {"boot-source": boot, "machine-config": {"vcpu_count": vcpus, "mem_size_mib": mem}}
    cfg.update(extra or {})
    return cfg


def assert_brasa_additions(boot, args, drives=0):
    """The guest's command line is ours, followed only by what brasa adds for its devices."""
    assert boot.cmdline.startswith(args), boot.cmdline
    added = boot.cmdline[len(args):].split()
    allowed = re.compile(r"^(virtio_mmio\.device=\S+|root=\S+|ro|rw)$")
    assert all(allowed.match(tok) for tok in added), added
    assert sum(tok.startswith("virtio_mmio.device=") for tok in added) == drives, added


# Each kernel, vCPU count and memory size at least once (each boot 25-75 s on kvm_pvm).
BOOTS = [("pvh", 1, 256), ("bzimage", 2, 256), ("pvh", 2, 2048)]


@pytest.mark.timeout(BOOT_TIMEOUT + 20)
@pytest.mark.parametrize("kernel,vcpus,mem", BOOTS,
                         ids=[f"{k}-{v}cpu-{m}M" for k, v, m in BOOTS])
def test_linux_initramfs_boot(tmp_path, capsys, kernel, vcpus, mem):
    args = boot_args()
    boot = run_guest(tmp_path, vm_config(KERNELS[kernel], args, vcpus, mem),
                     f"{kernel}, {vcpus} vCPU, {mem} MiB, initramfs", capsys)
    assert boot.rc == 0 and boot.marker, boot.describe()
    assert "Kernel panic" not in boot.out, boot.describe()
    assert boot.cpus == vcpus
    # The kernel's RAM (System RAM in /proc/iomem) is brasa's e820 RAM less the first page,
    # which Linux always reserves; MemTotal is that less the kernel image and early allocations.
    e820 = e820_ram_kib(mem)
    assert e820 - 4 <= boot.ram_kb <= e820, (boot.ram_kb, e820)
    assert 0.85 * e820 < boot.memtotal_kb < boot.ram_kb, (boot.memtotal_kb, e820)
    assert_brasa_additions(boot, args)
    assert boot.mounts["/"][0] == "rootfs"
    assert boot.mounts["/proc"][0] == "proc" and boot.mounts["/sys"][0] == "sysfs"
    assert boot.mounts["/dev"][0] == "devtmpfs"


@pytest.mark.timeout(BOOT_TIMEOUT + 20)
def test_linux_rootfs_on_virtio_block(tmp_path, capsys):
    """ext4 root on /dev/vda through virtio-block."""
    disk = tmp_path / "rootfs.ext4"
    shutil.copyfile(ROOTFS, disk)
    args = boot_args()
    drives = {"drives": [{"drive_id": "rootfs", "path_on_host": str(disk),
                          "is_root_device": True, "is_read_only": False}]}
    boot = run_guest(tmp_path, vm_config(KERNELS["pvh"], args, 1, 256, initrd=None,
                                         extra=drives), "pvh, 1 vCPU, 256 MiB, ext4 root", capsys)
    assert boot.rc == 0 and boot.marker, boot.describe()
    assert boot.mounts["/"][0] == "ext4", boot.mounts
    assert "root=/dev/vda" in boot.cmdline.split()
    assert_brasa_additions(boot, args, drives=1)


@pytest.mark.timeout(BOOT_TIMEOUT + 20)
def test_linux_panic_ends_brasa_with_error(tmp_path, capsys):
    """init exits at once (busybox without arguments prints its usage): the kernel panics,
    restarts through a triple fault (reboot=t), and brasa must end on its own with a non-zero
    exit and say why."""
    boot = run_guest(tmp_path, vm_config(KERNELS["pvh"], boot_args("rdinit=/bin/busybox"), 1, 256),
                     "pvh, init exits, panic", capsys)
    assert boot.rc == 1, boot.describe()
    assert "Kernel panic - not syncing: Attempted to kill init" in boot.out, boot.describe()
    assert re.search(r"vCPU \d+: KVM_EXIT_(SHUTDOWN|INTERNAL_ERROR)", boot.log), boot.describe()


@pytest.mark.timeout(BOOT_TIMEOUT + 20)
def test_linux_without_pvm_arguments(tmp_path, capsys):
    """tools/guest/cmdline-pvm is needed exactly on kvm_pvm hosts: without it (neither in
    boot_args nor appended by brasa, --no-pvm-boot-args) the guest kernel runs an instruction
    kvm_pvm cannot emulate and brasa stops with an emulation failure (exit 1, reported); with
    VMX/SVM the same boot reaches user space."""
    args = read_cmdline("cmdline")
    boot = run_guest(tmp_path, vm_config(KERNELS["pvh"], args, 1, 256),
                     "pvh, no kvm_pvm arguments", capsys, args=("--no-pvm-boot-args",))
    if PVM_HOST:
        assert boot.rc == 1 and not boot.marker, boot.describe()
        assert "KVM_EXIT_INTERNAL_ERROR" in boot.log, boot.describe()
    else:
        assert boot.rc == 0 and boot.marker, boot.describe()


@pytest.mark.timeout(600)
def test_linux_firecracker_boot_args(tmp_path, capsys):
    """A Firecracker user's own boot_args, unchanged, reach user space: on a kvm_pvm host brasa
    appends tools/guest/cmdline-pvm's words itself (and logs it); elsewhere it appends nothing."""
    args = "console=ttyS0 reboot=k panic=1"
    boot = run_guest(tmp_path, vm_config(KERNELS["pvh"], args, 1, 256),
                     "pvh, Firecracker's boot_args", capsys)
    assert boot.rc == 0 and boot.marker, boot.describe()
    appended = read_cmdline("cmdline-pvm") if PVM_HOST else ""
    assert boot.cmdline == f"{args} {appended}".strip(), boot.cmdline
    assert ("kvm_pvm: appended to the kernel command line" in boot.log) == PVM_HOST, boot.log


# ---- devices driven by Linux's own drivers, from a shell on the serial console ---------------

VSOCK_CID = 3
BIG = 4 << 20  # far more than Linux's 256 KiB vsock buffer and brasa's per-connection buffer


class Shell:
    """brasa with the guest's busybox shell (brasa.shell) on its stdin/stdout, and its API."""

    def __init__(self, tmp_path, cfg, args=()):
        from conftest import UnixHTTPConnection
        (tmp_path / "vm.json").write_text(json.dumps(cfg))
        self.sock = tmp_path / "api.sock"
        self.start = time.monotonic()
        self.proc = subprocess.Popen(
            [str(BRASA), "--api-sock", str(self.sock), "--config-file", str(tmp_path / "vm.json"),
             "--log-path", str(tmp_path / "brasa.log"), *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.out, self.seen = "", 0
        self.api = lambda: UnixHTTPConnection(str(self.sock))

    def expect(self, pattern, timeout=120):
        """Reads the console until pattern matches after the previous expect's match."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.compile(pattern).search(self.out, self.seen)
            if m:
                self.seen = m.end()
                return m
            chunk = self.proc.stdout.read()
            if chunk:
                self.out += chunk.decode(errors="replace")
            elif self.proc.poll() is not None:
                break
            else:
                time.sleep(0.02)
        raise AssertionError(f"no {pattern!r} on the console:\n{self.out}")

    def run(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def flush_metrics(self):
        conn = self.api()
        conn.request("PUT", "/actions", json.dumps({"action_type": "FlushMetrics"}))
        r = conn.getresponse()
        r.read()
        assert r.status == 204

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def group_totals(path, group):
    """A metrics group summed over every metrics line so far (counters are deltas)."""
    lines = [json.loads(l) for l in path.read_text().splitlines()]
    totals = {}
    for l in lines:
        for k, v in l[group].items():
            totals[k] = totals.get(k, 0) + v
    return totals


def vsock_pattern(n):
    return bytes((i * 31 + (i >> 9) + 7) & 0xFF for i in range(n))


@pytest.mark.timeout(BOOT_TIMEOUT + 300)
def test_linux_vsock_and_hwrng(tmp_path, capsys):
    """Linux's virtio_vsock and virtio-rng drivers, in one boot, through tools/guest/vsockt:
    the host connects (CONNECT <port> on uds_path) to vsockt listening in the guest, and
    vsockt connects to the host's <uds_path>_<port>, each with 4 MiB echoed back and checked;
    then /dev/hwrng gives 4096 bytes that the entropy metrics count."""
    import tempfile
    from test_vsock import echo_through, host_connect, host_echo_server

    sockdir = Path(tempfile.mkdtemp(prefix="blv-"))  # a Unix socket path fits in 108 bytes
    metrics = tmp_path / "metrics.json"
    cfg = vm_config(KERNELS["pvh"], boot_args("brasa.shell"), 1, 256, extra={
        "vsock": {"guest_cid": VSOCK_CID, "uds_path": str(sockdir / "v.sock")},
        "entropy": {}, "metrics": {"metrics_path": str(metrics)}})
    sh = Shell(tmp_path, cfg)
    try:
        sh.expect(r"busybox shell", timeout=BOOT_TIMEOUT)
        with capsys.disabled():
            print(f"\n    [linux boot: vsock+hwrng: {time.monotonic() - sh.start:.2f} s to the "
                  "shell]", end=" ")
        # Host to guest.
        sh.run("vsockt listen 5000 &")
        sh.expect(r"VSOCKT listening port=5000")
        s, line = host_connect(sockdir / "v.sock", 5000, timeout=120)
        assert re.fullmatch(rb"OK \d+\n", line), line
        data = vsock_pattern(BIG)
        assert echo_through(s, data) == data
        s.close()
        # Guest to host: vsockt checks the echo itself.
        lst, counts = host_echo_server(sockdir / "v.sock_6000")
        sh.run(f"vsockt connect 2 6000 {BIG}")
        m = sh.expect(r"VSOCKT connect bytes=(\d+) ok=(\d) seconds=(\S+)", timeout=240)
        assert (int(m.group(1)), m.group(2)) == (BIG, "1"), sh.out
        lst.close()
        sh.flush_metrics()
        v = group_totals(metrics, "vsock")
        assert v["rx_bytes_count"] >= 2 * BIG and v["tx_bytes_count"] >= 2 * BIG, v
        assert v["conns_added"] == 2, v
        assert v["tx_write_fails"] == v["rx_read_fails"] == v["activate_fails"] == 0, v
        # /dev/hwrng: the kernel's hwrng thread may read too, hence >=.
        before = group_totals(metrics, "entropy")["entropy_bytes"]
        sh.run("echo HWRNG $(head -c 4096 /dev/hwrng | wc -c)")
        assert sh.expect(r"HWRNG (\d+)").group(1) == "4096"
        sh.flush_metrics()
        e = group_totals(metrics, "entropy")
        assert e["entropy_bytes"] - before >= 4096, e
        assert e["host_rng_fails"] == e["entropy_event_fails"] == 0, e
        sh.run("reboot")
        assert sh.proc.wait(timeout=120) == 0, sh.out
    finally:
        sh.close()
        shutil.rmtree(sockdir, ignore_errors=True)
