#!/usr/bin/python3
"""virtio-block cost on the VMM thread: CPU time per 4 KiB request and per MiB, Sync and Async.

The PVH test guest runs its I/O loop (brasa.blk.bench=N brasa.blk.size=S: N reads of S bytes,
one at a time) against a file in the page cache. The VMM thread's CPU time comes from
/proc/PID/task/PID/schedstat (ns), read when the guest prints `blk-bench start` and again at
`blk-bench done`: only the requests are counted, not the boot. Prints a markdown table.
Usage: bench/block.py [--runs N] [--build DIR]
"""
import argparse
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (label, request size, requests, divisor to get the unit)
CASES = [
    ("per 4 KiB request (us)", 4096, 2000, lambda ns, n, size: ns / n / 1000),
    ("per MiB, 64 KiB requests (us)", 65536, 512, lambda ns, n, size: ns / (n * size / 2**20) / 1000),
]


def vmm_cpu_ns(pid):
    """Run time of the VMM thread (the main thread, renamed fc_vmm)."""
    with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def run_once(build, tmp, engine, size, count):
    disk = Path(tmp) / "disk.img"
    if not disk.exists():
        disk.write_bytes(os.urandom(16 << 20))
    cfg = {"boot-source": {"kernel_image_path": str(Path(build) / "guest-tests" / "pvh.elf"),
                           "boot_args": f"console=ttyS0 brasa.blk.bench={count} "
                                        f"brasa.blk.size={size}"},
           "drives": [{"drive_id": "bench", "path_on_host": str(disk), "is_root_device": False,
                       "is_read_only": True, "io_engine": engine}],
           "machine-config": {"vcpu_count": 1, "mem_size_mib": 128}}
    path = Path(tmp) / "vm.json"
    path.write_text(json.dumps(cfg))
    p = subprocess.Popen([str(Path(build) / "brasa"), "--no-api", "--config-file", str(path),
                          "--log-path", str(Path(tmp) / "log")],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    start = end = None
    buf = b""
    try:
        while end is None:
            chunk = os.read(p.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError(f"brasa ended early: {buf[-400:]!r}")
            buf += chunk
            if start is None and b"BRASA blk-bench start" in buf:
                start = vmm_cpu_ns(p.pid)
            i = buf.find(b"BRASA blk-bench done")
            if i >= 0 and b"\n" in buf[i:]:
                end = vmm_cpu_ns(p.pid)
        line = buf[buf.index(b"BRASA blk-bench done"):].split(b"\n")[0].decode()
        if f"ok={count}" not in line:
            raise RuntimeError(f"requests failed: {line}")
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    return end - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--build", default=str(ROOT / "build"))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, size, count, unit in CASES:
            for engine in ("Sync", "Async"):
                vals = [unit(run_once(args.build, tmp, engine, size, count), count, size)
                        for _ in range(args.runs)]
                rows.append((label, engine, statistics.median(vals), min(vals), max(vals)))
    print(f"Run: Date: {datetime.date.today()}  Host: {platform.node()} "
          f"({os.cpu_count()} CPUs, kernel {platform.release()})\n")
    print("| VMM-thread CPU time | engine | median | min | max | runs |")
    print("|---|---|---|---|---|---|")
    for label, engine, med, lo, hi in rows:
        print(f"| {label} | {engine} | {med:.1f} | {lo:.1f} | {hi:.1f} | {args.runs} |")


if __name__ == "__main__":
    main()
