#!/usr/bin/python3
"""MMDS over the guest network stack: requests per second from the PVH test guest and the
VMM thread's CPU time per request.

The test guest (tests/guest/mmds.c) ARPs for 169.254.169.254, then makes N sequential
requests `GET /latest/meta-data/ami-id`, each on its own TCP connection (handshake, request,
answer, FIN both ways): brasa.mmds.get=... brasa.mmds.count=N. Wall time and the VMM thread's
CPU time (/proc/PID/task/PID/schedstat) are read on the host at the guest's `mmds-arp` line
and at its `mmds-bench` line, so the boot is not counted. Creates its own tap (deleted at
the end). Needs root. Prints a markdown table.
Usage: bench/mmds.py [--runs N] [--count N] [--build DIR]
"""
import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def vmm_cpu_ns(pid):
    with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def one_run(build, tmp, tap, count):
    md = Path(tmp) / "md.json"
    md.write_text(json.dumps({"latest": {"meta-data": {"ami-id": "ami-123"}}}))
    cfg = {"boot-source": {"kernel_image_path": str(Path(build) / "guest-tests" / "pvh.elf"),
                           "boot_args": "console=ttyS0 brasa.mmds brasa.mmds.get="
                                        f"/latest/meta-data/ami-id brasa.mmds.count={count}"},
           "network-interfaces": [{"iface_id": "eth0", "host_dev_name": tap,
                                   "guest_mac": "06:00:ac:10:00:02"}],
           "mmds-config": {"network_interfaces": ["eth0"]},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": 128}}
    path = Path(tmp) / "vm.json"
    path.write_text(json.dumps(cfg))
    p = subprocess.Popen([str(Path(build) / "brasa"), "--no-api", "--config-file", str(path),
                          "--metadata", str(md), "--log-path", str(Path(tmp) / "log")],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    t0 = c0 = None
    for raw in p.stdout:
        line = raw.decode(errors="replace")
        if "BRASA mmds-arp" in line:
            t0, c0 = time.monotonic(), vmm_cpu_ns(p.pid)
        elif "BRASA mmds-bench" in line:
            wall, cpu = time.monotonic() - t0, vmm_cpu_ns(p.pid) - c0
            ok = int(line.split("ok=")[1].split()[0])
            p.wait(timeout=60)
            return ok, wall, cpu
    p.wait()
    raise SystemExit("the guest did not finish its requests")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--build", default=str(ROOT / "build"))
    a = ap.parse_args()
    tap = "bmmds0"
    subprocess.run(["ip", "tuntap", "add", "dev", tap, "mode", "tap"], check=True)
    subprocess.run(["ip", "link", "set", tap, "up"], check=True)
    rps, cpu_us = [], []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(a.runs):
                ok, wall, cpu = one_run(a.build, tmp, tap, a.count)
                assert ok == a.count, f"{ok} of {a.count} requests answered"
                rps.append(ok / wall)
                cpu_us.append(cpu / 1000 / ok)
    finally:
        subprocess.run(["ip", "link", "del", tap], capture_output=True)
    print(f"| figure | median | min | max | runs |\n|---|---|---|---|---|")
    for name, v in (("requests per second (one connection each)", rps),
                    ("VMM-thread CPU per request (µs)", cpu_us)):
        print(f"| {name} | {statistics.median(v):.1f} | {min(v):.1f} | {max(v):.1f} | "
              f"{len(v)} |")


if __name__ == "__main__":
    main()
