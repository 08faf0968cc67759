#!/usr/bin/python3
"""Device cost, brasa and QEMU microvm side by side: host CPU per virtio-blk request and MiB, per virtio-net packet.

Called by bench/bench.py (`make bench`); also runs alone (prints a table). The PVH test guest
runs the same I/O loop against either VMM's virtio-mmio devices, found from the
`virtio_mmio.device=` words (brasa writes them; QEMU microvm with acpi=off appends them):
- blk: `brasa.blk.bench=N brasa.blk.size=S`, N reads of S bytes one at a time from a 16 MiB
  file in the page cache (brasa: io_engine Sync; QEMU: its default aio=threads, cache=writeback);
- net TX: `brasa.net.send=N brasa.net.size=64` into a tap nobody reads;
- net RX: the host injects N 64-byte frames on the tap through an AF_PACKET socket, 256 at a
  time (the guest prints a progress line after each 256), the guest counts them.
CPU time is read per thread from /proc/PID/task/TID/schedstat (on-CPU ns, the precise form of
utime+stime in .../stat) when the guest prints its start line and again at its done line, so
only the I/O is counted, not the boot. Two figures per case: the VMM thread (brasa's main
thread; QEMU's main-loop thread; both have TID = PID) and all the process's threads except the
vCPUs (QEMU hands block reads to `worker` threads; brasa Sync does them on its VMM thread).
Frames are raw Ethernet (ethertype 0x88b5, no IP) on a tap this module creates and deletes.
Usage: bench/devices.py [--runs N] [--build DIR]
"""
import argparse
import json
import os
import select
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ETYPE = 0x88B5
GUEST_MAC = "06:00:ac:10:00:02"
MEM_MIB = 128
QEMU_BASE = ["qemu-system-x86_64", "-M", "microvm,x-option-roms=off,rtc=off,acpi=off",
             "-enable-kvm", "-m", str(MEM_MIB), "-smp", "1", "-nodefaults", "-no-user-config",
             "-nographic", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
             # debug-threads names the vCPU thread "CPU 0/KVM"; virtio 1.x (the guest's driver
             # speaks only that; QEMU's virtio-mmio defaults to the legacy interface).
             "-name", "bench,debug-threads=on", "-global", "virtio-mmio.force-legacy=false"]
VCPU_PREFIXES = ("fc_vcpu", "CPU ", "kvm-")  # vCPU threads, and KVM's own kernel threads

# key, label, unit, kind, size, count, scale (ns, count, size) -> unit
CASES = [
    ("blk4k", "virtio-blk 4 KiB read", "CPU µs per request", "blk", 4096, 1000,
     lambda ns, n, size: ns / n / 1000),
    ("blkmib", "virtio-blk 64 KiB reads", "CPU µs per MiB", "blk", 65536, 256,
     lambda ns, n, size: ns / (n * size / 2**20) / 1000),
    ("tx64", "virtio-net TX 64-byte frame", "CPU µs per packet", "tx", 64, 1000,
     lambda ns, n, size: ns / n / 1000),
    ("rx64", "virtio-net RX 64-byte frame", "CPU µs per packet", "rx", 64, 1024,
     lambda ns, n, size: ns / n / 1000),
]
SCOPES = [("vmm", "VMM thread"), ("nonvcpu", "all non-vCPU threads")]


def guest_words(kind, size, count):
    if kind == "blk":
        return f"brasa.blk.bench={count} brasa.blk.size={size}"
    if kind == "tx":
        return f"brasa.net brasa.net.send={count} brasa.net.size={size} brasa.halt"
    return f"brasa.net brasa.net.recv={count} brasa.halt"


def brasa_argv(build, tmp, kind, words, disk, tap):
    cfg = {"boot-source": {"kernel_image_path": str(Path(build) / "guest-tests" / "pvh.elf"),
                           "boot_args": f"console=ttyS0 {words}"},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": MEM_MIB}}
    if kind == "blk":
        cfg["drives"] = [{"drive_id": "bench", "path_on_host": str(disk), "is_root_device": False,
                          "is_read_only": True, "io_engine": "Sync"}]
    else:
        cfg["network-interfaces"] = [{"iface_id": "eth0", "host_dev_name": tap,
                                      "guest_mac": GUEST_MAC}]
    path = Path(tmp) / "vm.json"
    path.write_text(json.dumps(cfg))
    return [str(Path(build) / "brasa"), "--no-api", "--config-file", str(path), "--log-path",
            str(Path(tmp) / "brasa.log")]


def qemu_device_args(kind, disk, tap):
    if kind == "blk":
        return ["-drive", f"id=d0,file={disk},format=raw,if=none,readonly=on",
                "-device", "virtio-blk-device,drive=d0"]
    return ["-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no",
            "-device", f"virtio-net-device,netdev=n0,mac={GUEST_MAC}"]


def qemu_argv(build, kind, words, disk, tap):
    return [*QEMU_BASE, *qemu_device_args(kind, disk, tap), "-kernel",
            str(Path(build) / "guest-tests" / "pvh.elf"), "-append", f"console=ttyS0 {words}"]


def command_lines():
    """The exact device commands, as markdown bullets (placeholders for paths and words)."""
    words = "; ".join(f"{label}: `{guest_words(kind, size, count)}`"
                      for _, label, _, kind, size, count, _ in CASES)
    return [
        "- Device cost (`bench/devices.py`): brasa `build/brasa --no-api --config-file vm.json "
        "--log-path brasa.log` with a `drives` entry (`is_read_only`, `io_engine: Sync`) or a "
        f"`network-interfaces` entry (`guest_mac: {GUEST_MAC}`, the bench's own tap); QEMU `"
        + " ".join(QEMU_BASE) + " " + " ".join(qemu_device_args("blk", "disk.img", "TAP"))
        + "` (block) or `… " + " ".join(qemu_device_args("tx", "disk.img", "TAP"))
        + " -kernel pvh.elf -append 'console=ttyS0 WORDS'` (net).",
        f"- Device guest words (1 vCPU, {MEM_MIB} MiB): {words}.",
    ]


def thread_ns(pid):
    """{tid: (name, on-CPU ns)} for every thread of pid."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
            ns = int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
        except (OSError, ValueError):
            continue  # the thread ended between listdir and read
        out[int(tid)] = (name, ns)
    return out


def cost(pid, before, after):
    """(VMM-thread ns, all-non-vCPU-threads ns) between two thread_ns() snapshots."""
    vmm = after[pid][1] - before[pid][1]
    rest = sum(ns - before.get(tid, (name, 0))[1] for tid, (name, ns) in after.items()
               if not name.startswith(VCPU_PREFIXES))
    return vmm, rest


class Lines:
    """Reads a child's stdout up to markers, with one deadline for the whole run."""

    def __init__(self, p, deadline):
        self.p, self.buf, self.deadline = p, b"", deadline

    def wait(self, marker):
        while True:
            i = self.buf.find(marker)
            if i >= 0 and b"\n" in self.buf[i:]:
                line = self.buf[i:].split(b"\n")[0].decode(errors="replace")
                self.buf = self.buf[i + len(line):]
                return line
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"timeout waiting for {marker!r}")
            ready, _, _ = select.select([self.p.stdout], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.p.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError(f"VMM ended early: {self.buf[-300:]!r}")
            self.buf += chunk


def measure(p, kind, size, count, tap, timeout):
    """Drives one run to its done marker; (vmm ns, non-vCPU ns), or raises."""
    out = Lines(p, time.monotonic() + timeout)
    if kind == "blk":
        out.wait(b"BRASA blk-bench start")
        before = thread_ns(p.pid)
        line = out.wait(b"BRASA blk-bench done")
        after = thread_ns(p.pid)
        ok = f"ok={count}" in line
    elif kind == "tx":
        out.wait(b"BRASA net-send start")
        before = thread_ns(p.pid)
        line = out.wait(b"BRASA net-sent")
        after = thread_ns(p.pid)
        ok = f"ok={count}" in line
    else:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETYPE))
        try:
            s.bind((tap, ETYPE))
            frame = (bytes.fromhex(GUEST_MAC.replace(":", "")) + bytes.fromhex("0600ac100001")
                     + ETYPE.to_bytes(2, "big") + bytes(size - 14))
            out.wait(b"BRASA net-recv ready")
            before = thread_ns(p.pid)
            for k in range(0, count, 256):
                for _ in range(min(256, count - k)):
                    s.send(frame)
                if k + 256 < count:
                    out.wait(f"BRASA net-recv progress {k + 256}\n".encode().strip())
            line = out.wait(b"BRASA net-recv done")
            after = thread_ns(p.pid)
        finally:
            s.close()
        ok = f"count={count}" in line
    if not ok:
        raise RuntimeError(line)
    return cost(p.pid, before, after)


def one_run(vmm, build, kind, size, count, disk, tap, timeout=60):
    """One VMM process through one case: (vmm ns, non-vCPU ns), or None if it failed."""
    words = guest_words(kind, size, count)
    with tempfile.TemporaryDirectory() as tmp:
        argv = (brasa_argv(build, tmp, kind, words, disk, tap) if vmm == "brasa"
                else qemu_argv(build, kind, words, disk, tap))
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL)
        try:
            return measure(p, kind, size, count, tap, timeout)
        except (RuntimeError, OSError, KeyError) as e:
            print(f"bench: {vmm} {kind} {size}: failed: {e}", flush=True)
            return None
        finally:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            p.stdout.close()


def make_tap():
    tap = f"bdv{os.getpid() % 1000000}"
    subprocess.run(["ip", "tuntap", "add", "dev", tap, "mode", "tap"], check=True)
    try:
        Path(f"/proc/sys/net/ipv6/conf/{tap}/disable_ipv6").write_text("1")  # no host traffic
        subprocess.run(["ip", "link", "set", tap, "up"], check=True)
    except BaseException:
        subprocess.run(["ip", "link", "del", tap], check=False)
        raise
    return tap


def run_all(names, build, runs, add):
    """Every case, VMMs alternating A B A B; add(key, vmm, value or None) per figure."""
    with tempfile.TemporaryDirectory() as tmp:
        disk = Path(tmp) / "disk.img"
        disk.write_bytes(os.urandom(16 << 20))
        try:
            tap = make_tap()
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"bench: no tap ({e}); the net runs count as failed (needs root)", flush=True)
            tap = None
        try:
            for key, _, _, kind, size, count, scale in CASES:
                for _ in range(runs):
                    for name in names:
                        r = (None if kind != "blk" and tap is None
                             else one_run(name, build, kind, size, count, disk, tap))
                        for i, (scope, _) in enumerate(SCOPES):
                            add(f"dev_{key}_{scope}", name,
                                None if r is None else scale(r[i], count, size))
        finally:
            if tap:
                subprocess.run(["ip", "link", "del", tap], check=False)


def figures():
    """(key, label, unit) of every figure run_all() fills."""
    return [(f"dev_{key}_{scope}", f"{label}, {slabel}", unit)
            for key, label, unit, *_ in CASES for scope, slabel in SCOPES]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--build", default=str(ROOT / "build"))
    args = ap.parse_args()
    names = ["brasa", "QEMU microvm"]
    res = {}
    run_all(names, args.build, args.runs,
            lambda key, name, v: res.setdefault((key, name), []).append(v))
    print("| figure | VMM | median | min | max | runs | failed |")
    print("|---|---|---|---|---|---|---|")
    for key, label, unit in figures():
        for name in names:
            vals = res.get((key, name), [])
            ok = [v for v in vals if v is not None]
            if ok:
                print(f"| {label} ({unit}) | {name} | {statistics.median(ok):.2f} | "
                      f"{min(ok):.2f} | {max(ok):.2f} | {len(ok)} | {len(vals) - len(ok)} |")
            else:
                print(f"| {label} ({unit}) | {name} | n/a | | | 0 | {len(vals)} |")


if __name__ == "__main__":
    main()
