#!/usr/bin/python3
"""virtio-net cost on the VMM thread: CPU time per packet and per MiB, TX and RX.

TX: the PVH test guest sends N frames of S bytes (brasa.net.send=N brasa.net.size=S, one at
a time) into a tap nobody reads. RX: the host injects N frames of S bytes on the tap through
an AF_PACKET socket, 256 at a time (the guest prints a progress line after each 256, so the
tap's queue never overflows), and the guest counts them (brasa.net.recv=N). The VMM thread's
CPU time comes from /proc/PID/task/PID/schedstat (ns), read at the guest's start line and at
its done line: only the frames are counted, not the boot. Creates its own tap (deleted at the
end); traffic stays on it. Needs root. Prints a markdown table.
Usage: bench/net.py [--runs N] [--build DIR]
"""
import argparse
import datetime
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ETYPE = 0x88B5
MAC = bytes.fromhex("0600ac100002")


def vmm_cpu_ns(pid):
    with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def start_vm(build, tmp, tap, words):
    cfg = {"boot-source": {"kernel_image_path": str(Path(build) / "guest-tests" / "pvh.elf"),
                           "boot_args": f"console=ttyS0 brasa.net {words}"},
           "network-interfaces": [{"iface_id": "eth0", "host_dev_name": tap,
                                   "guest_mac": "06:00:ac:10:00:02"}],
           "machine-config": {"vcpu_count": 1, "mem_size_mib": 128}}
    path = Path(tmp) / "vm.json"
    path.write_text(json.dumps(cfg))
    return subprocess.Popen([str(Path(build) / "brasa"), "--no-api", "--config-file", str(path),
                             "--log-path", str(Path(tmp) / "log")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)


class Lines:
    def __init__(self, p):
        self.p, self.buf = p, b""

    def wait(self, marker):
        while True:
            i = self.buf.find(marker)
            if i >= 0 and b"\n" in self.buf[i:]:
                line = self.buf[i:].split(b"\n")[0].decode()
                self.buf = self.buf[i + len(line):]
                return line
            chunk = os.read(self.p.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError(f"brasa ended early: {self.buf[-400:]!r}")
            self.buf += chunk


def run_tx(build, tmp, tap, size, count):
    p = start_vm(build, tmp, tap, f"brasa.net.send={count} brasa.net.size={size} brasa.halt")
    out = Lines(p)
    try:
        out.wait(b"BRASA net-send start")
        start = vmm_cpu_ns(p.pid)
        line = out.wait(b"BRASA net-sent")
        end = vmm_cpu_ns(p.pid)
        if f"ok={count}" not in line:
            raise RuntimeError(line)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    return end - start


def run_rx(build, tmp, tap, size, count):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETYPE))
    s.bind((tap, ETYPE))
    frame = MAC + bytes.fromhex("0600ac100001") + ETYPE.to_bytes(2, "big") + bytes(size - 14)
    p = start_vm(build, tmp, tap, f"brasa.net.recv={count} brasa.halt")
    out = Lines(p)
    try:
        out.wait(b"BRASA net-recv ready")
        start = vmm_cpu_ns(p.pid)
        for k in range(0, count, 256):
            for _ in range(min(256, count - k)):
                s.send(frame)
            if k + 256 < count:
                out.wait(f"BRASA net-recv progress {k + 256}\n".encode().strip())
        line = out.wait(b"BRASA net-recv done")
        end = vmm_cpu_ns(p.pid)
        if f"count={count}" not in line:
            raise RuntimeError(line)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
        s.close()
    return end - start


# (label, direction, frame size, frames, unit)
CASES = [
    ("TX per 64-byte packet (us)", run_tx, 64, 2000, lambda ns, n, size: ns / n / 1000),
    ("TX per MiB, 1514-byte frames (us)", run_tx, 1514, 2000,
     lambda ns, n, size: ns / (n * size / 2**20) / 1000),
    ("RX per 64-byte packet (us)", run_rx, 64, 2048, lambda ns, n, size: ns / n / 1000),
    ("RX per MiB, 1514-byte frames (us)", run_rx, 1514, 2048,
     lambda ns, n, size: ns / (n * size / 2**20) / 1000),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--build", default=str(ROOT / "build"))
    args = ap.parse_args()
    tap = f"bnb{os.getpid() % 100000}"
    subprocess.run(["ip", "tuntap", "add", "dev", tap, "mode", "tap"], check=True)
    try:
        Path(f"/proc/sys/net/ipv6/conf/{tap}/disable_ipv6").write_text("1")
        subprocess.run(["ip", "link", "set", tap, "up"], check=True)
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for label, fn, size, count, unit in CASES:
                vals = [unit(fn(args.build, tmp, tap, size, count), count, size)
                        for _ in range(args.runs)]
                rows.append((label, statistics.median(vals), min(vals), max(vals)))
    finally:
        subprocess.run(["ip", "link", "del", tap], check=False)
    print(f"{datetime.date.today()} {platform.node()} {platform.release()}, "
          f"median of {args.runs} runs\n")
    print("| VMM-thread CPU | median | min | max |")
    print("|---|---:|---:|---:|")
    for label, med, lo, hi in rows:
        print(f"| {label} | {med:.2f} | {lo:.2f} | {hi:.2f} |")


if __name__ == "__main__":
    main()
