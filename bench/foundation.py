#!/usr/bin/python3
"""Foundation benchmarks: start -> first guest output, start -> exit, VMM memory overhead.

Runs brasa (and, for comparison, QEMU's microvm when installed) on the PVH test
guest, N times each, and prints a markdown table. Usage:
    bench/foundation.py [--runs N] [--out docs/benchmarks.md]
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BRASA = ROOT / "build" / "brasa"
GUEST = ROOT / "build" / "guest-tests" / "pvh.elf"
MEM_MIB = 128


def brasa_cmd(tmp, boot_args):
    cfg = {"boot-source": {"kernel_image_path": str(GUEST), "boot_args": boot_args},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": MEM_MIB}}
    path = Path(tmp) / "vm.json"
    path.write_text(json.dumps(cfg))
    return [str(BRASA), "--no-api", "--config-file", str(path), "--log-path",
            str(Path(tmp) / "log")]


def qemu_cmd(tmp, boot_args):
    return ["qemu-system-x86_64", "-M", "microvm,x-option-roms=off,rtc=off,acpi=off",
            "-enable-kvm", "-m", str(MEM_MIB), "-smp", "1", "-nodefaults",
            "-no-user-config", "-nographic", "-serial", "stdio", "-kernel", str(GUEST),
            "-append", boot_args]


def time_run(cmd, marker=b"BRASA hello", wait_exit=True, timeout=20):
    """Returns (seconds to marker on stdout, seconds to exit or None, Popen)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL)
    buf, first = b"", None
    while first is None:
        chunk = os.read(p.stdout.fileno(), 4096)
        if not chunk:
            break
        buf += chunk
        if marker in buf:
            first = time.monotonic() - t0
    if not wait_exit:
        return first, None, p
    while os.read(p.stdout.fileno(), 4096):
        pass
    p.wait(timeout=timeout)
    return first, time.monotonic() - t0, p


def overhead_kib(pid, guest_bytes):
    """RSS of every mapping except guest RAM (Firecracker's method), in KiB."""
    total, size = 0, 0
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and ":" not in parts[0]:
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                size = hi - lo
            elif parts[0] == "Rss:" and size < guest_bytes:
                total += int(parts[1])
    return total


def measure(name, mk, runs, can_exit):
    firsts, exits, mems = [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            f, e, p = time_run(mk(tmp, "console=ttyS0 brasa.quick"), wait_exit=can_exit)
            if not can_exit:
                p.kill()
                p.wait()
            if f is not None:
                firsts.append(f * 1000)
            if e is not None and p.returncode == 0:
                exits.append(e * 1000)
        with tempfile.TemporaryDirectory() as tmp:
            f, _, p = time_run(mk(tmp, "console=ttyS0 brasa.halt"), marker=b"BRASA halting",
                               wait_exit=False)
            time.sleep(0.2)
            mems.append(overhead_kib(p.pid, MEM_MIB << 20) / 1024)
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=10)
    return {"name": name, "first": firsts, "exit": exits, "mem": mems}


def stats(xs):
    if not xs:
        return "n/a", "", "", 0
    return (f"{statistics.median(xs):.2f}", f"{min(xs):.2f}", f"{max(xs):.2f}", len(xs))


def render(results, runs):
    lines = ["| figure | VMM | median | min | max | runs |", "|---|---|---|---|---|---|"]
    labels = [("first", "process start → first guest output (ms)"),
              ("exit", "process start → exit after guest reset (ms)"),
              ("mem", "VMM RSS minus guest RAM, 1 vCPU / 128 MiB (MiB)")]
    for key, label in labels:
        for r in results:
            med, lo, hi, n = stats(r[key])
            lines.append(f"| {label} | {r['name']} | {med} | {lo} | {hi} | {n} |")
    if len(results) == 2:
        for key, label in labels:
            a, b = results[0][key], results[1][key]
            if a and b:
                lines.append(f"| ratio brasa/QEMU: {label} | | "
                             f"{statistics.median(a) / statistics.median(b):.2f} | | | |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    results = [measure("brasa", brasa_cmd, args.runs, True)]
    if shutil.which("qemu-system-x86_64"):
        # QEMU's microvm has no i8042, so the guest's reset does not end it: no exit time.
        results.append(measure("QEMU microvm", qemu_cmd, args.runs, False))
    print(f"Date: {datetime.date.today()}  Host: {platform.node()} ({os.cpu_count()} CPUs, "
          f"kernel {platform.release()})\n")
    print(render(results, args.runs))


if __name__ == "__main__":
    main()
