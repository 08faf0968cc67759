#!/usr/bin/python3
"""Kernel loading: exec -> the first KVM_RUN, and the peak RSS, for one or more brasa binaries
booting the same kernel, alternating A B A B.

Usage (root): /usr/bin/python3 bench/kernel_load.py --kernel VMLINUX [--runs 10]
                  [--mem 256] BRASA [BRASA...]

The time to the first KVM_RUN is taken from `strace -f -ttt -e trace=execve,ioctl` (the
same tracing cost for every binary, so compare them as a ratio); the peak RSS (VmHWM) is
read 0.4 s after the start, without strace. Each run is killed after that: only the
loading is measured, not the guest.
"""
import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def write_config(tmp, kernel, mem):
    cfg = {"boot-source": {"kernel_image_path": kernel,
                           "boot_args": "console=ttyS0 reboot=k panic=1"},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": mem}}
    path = Path(tmp) / "vm.json"
    path.write_text(json.dumps(cfg))
    return path


def first_run_ms(brasa, cfg, tmp):
    trace = Path(tmp) / "strace.txt"
    subprocess.run(["timeout", "2", "strace", "-f", "-ttt", "-e", "trace=execve,ioctl", "-o",
                    str(trace), brasa, "--no-api", "--config-file", str(cfg), "--log-path",
                    "/dev/null"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lines = trace.read_text().splitlines()
    t0 = float(lines[0].split()[1])
    for line in lines:
        if "KVM_RUN" in line:
            return (float(line.split()[1]) - t0) * 1000
    raise SystemExit(f"{brasa}: no KVM_RUN")


def peak_rss_mib(brasa, cfg):
    p = subprocess.Popen([brasa, "--no-api", "--config-file", str(cfg), "--log-path",
                          "/dev/null"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.4)
        for line in Path(f"/proc/{p.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise SystemExit("no VmHWM")
    finally:
        p.kill()
        p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--mem", type=int, default=256)
    ap.add_argument("brasa", nargs="+")
    args = ap.parse_args()
    res = {b: ([], []) for b in args.brasa}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = write_config(tmp, args.kernel, args.mem)
        for _ in range(args.runs):
            for b in args.brasa:
                res[b][0].append(first_run_ms(b, cfg, tmp))
                res[b][1].append(peak_rss_mib(b, cfg))
    print("| brasa | exec -> first KVM_RUN, median (ms, under strace) | peak RSS (MiB) |")
    print("|---|---|---|")
    for b, (ms, rss) in res.items():
        print(f"| {b} | {statistics.median(ms):.1f} | {statistics.median(rss):.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
