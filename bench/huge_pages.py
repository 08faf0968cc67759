#!/usr/bin/python3
"""Guest RAM backing: boot time and memory with machine-config huge_pages None, 2M and
Transparent, on the PVH test guest (marker on COM1, then an i8042 reset).

Usage (root): /usr/bin/python3 bench/huge_pages.py [--runs 20] [--mem 128]

The three settings run alternately (None 2M Transparent, None 2M Transparent, ...) in one
process, so that the ratios are comparable on a noisy host. For 2M the script reserves
the pages the guest needs in the host's pool (/proc/sys/vm/nr_hugepages) and puts the
pool back at the end. Figures:
- start -> marker and start -> exit: the median over --runs boots (config-file mode);
- VMM memory: the RSS of every mapping but guest RAM, with an idle guest (as bench.py);
- guest RAM resident: what the idle guest's RAM holds on the host (RSS of the guest RAM
  mapping; for 2M, the pool's pages in use), i.e. what the boot touched.
"""
import argparse
import json
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench import BRASA, GUEST, overhead_kib, read_until, smaps_rss_kib  # bench/bench.py

SETTINGS = ("None", "2M", "Transparent")
POOL = Path("/proc/sys/vm/nr_hugepages")


def argv(tmp, huge, mem, boot_args):
    cfg = {"boot-source": {"kernel_image_path": str(GUEST), "boot_args": boot_args},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": mem, "huge_pages": huge}}
    path = Path(tmp) / "vm.json"
    path.write_text(json.dumps(cfg))
    return [str(BRASA), "--no-api", "--config-file", str(path), "--log-path",
            str(Path(tmp) / "brasa.log")]


def one_boot(huge, mem):
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        p = subprocess.Popen(argv(tmp, huge, mem, "console=ttyS0 brasa.quick"),
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL)
        first = read_until(p, b"BRASA hello", t0 + 20)
        p.wait(timeout=20)
        t_exit = time.monotonic()
        if first is None or p.returncode != 0:
            raise SystemExit(f"{huge}: boot failed (exit {p.returncode})")
        return (first - t0) * 1000, (t_exit - t0) * 1000


def hugetlb_used_kib():
    text = Path("/proc/meminfo").read_text()
    total = int(re.search(r"HugePages_Total:\s+(\d+)", text).group(1))
    free = int(re.search(r"HugePages_Free:\s+(\d+)", text).group(1))
    return (total - free) * 2048


def guest_rss_kib(pid, guest_bytes):
    return smaps_rss_kib(pid, lambda size: size == guest_bytes)


def one_memory(huge, mem):
    with tempfile.TemporaryDirectory() as tmp:
        p = subprocess.Popen(argv(tmp, huge, mem, "console=ttyS0 brasa.idle"),
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL)
        try:
            if read_until(p, b"BRASA idle", time.monotonic() + 20) is None:
                raise SystemExit(f"{huge}: the idle guest never came up")
            time.sleep(0.1)
            vmm = overhead_kib(p.pid, mem << 20) / 1024
            guest = hugetlb_used_kib() if huge == "2M" else guest_rss_kib(p.pid, mem << 20)
            return vmm, guest / 1024
        finally:
            p.kill()
            p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--mem", type=int, default=128)
    args = ap.parse_args()
    saved = int(POOL.read_text())
    POOL.write_text(str(args.mem // 2))
    try:
        if int(POOL.read_text()) < args.mem // 2:
            raise SystemExit(f"the host could not reserve {args.mem // 2} huge pages")
        res = {h: {"marker": [], "exit": [], "vmm": [], "guest": []} for h in SETTINGS}
        for _ in range(args.runs):
            for h in SETTINGS:
                m, e = one_boot(h, args.mem)
                res[h]["marker"].append(m)
                res[h]["exit"].append(e)
        for _ in range(3):
            for h in SETTINGS:
                v, g = one_memory(h, args.mem)
                res[h]["vmm"].append(v)
                res[h]["guest"].append(g)
    finally:
        POOL.write_text(str(saved))
    base = statistics.median(res["None"]["marker"])
    print(f"| huge_pages | start -> marker (ms) | ratio to None | start -> exit (ms) | "
          f"VMM memory (MiB) | guest RAM resident (MiB) |")
    print("|---|---|---|---|---|---|")
    for h in SETTINGS:
        r = res[h]
        marker = statistics.median(r["marker"])
        print(f"| {h} | {marker:.2f} | {marker / base:.2f} | "
              f"{statistics.median(r['exit']):.2f} | {statistics.median(r['vmm']):.2f} | "
              f"{statistics.median(r['guest']):.1f} |")
    print(f"\n{args.runs} boots each, alternating; memory: median of 3 idle guests; "
          f"{args.mem} MiB guest, 1 vCPU.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
