#!/usr/bin/python3
"""Writes tools/text-order.txt: the functions build/brasa runs after its boot, which the link
then puts first and together (CMakeLists.txt, lld's --symbol-ordering-file).

brasa drops its code pages once the VM runs (src/core/textpages.c), and the kernel maps back
64 KiB around each page that runs again: code that stays hot, spread over the binary, brings
most of the binary back into the process's RSS. This script builds brasa with TEXT_PROFILE
(each of brasa's functions on its own page, one kernel mapping per page after the drop, so
that no fault-around hides what ran), runs the scenarios below on an idle guest, and lists
every function on a page that came back: brasa's own exactly; the C library's and the other
static libraries', whose objects share pages, under each of --seeds shuffled layouts (lld's
--shuffle-sections), keeping only what came back under all of them.

Usage (root, /dev/kvm, after tools/build.sh): /usr/bin/python3 tools/text-order.py
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import bench  # noqa: E402  (the bare bench guest and its reader)

IDLE_S = 0.3


def build(bdir, seed):
    subprocess.run(["cmake", "-S", str(ROOT), "-B", str(bdir), "-G", "Ninja",
                    "-DTEXT_PROFILE=ON", f"-DTEXT_PROFILE_SEED={seed}", "-DBRASA_TESTS=OFF"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["ninja", "-C", str(bdir), "brasa"], check=True, stdout=subprocess.DEVNULL)
    return bdir / "brasa"


def resident_pages(pid, binary):
    """Link-time addresses of the pages of binary (a static PIE: one image, loaded at the
    start of its offset-0 mapping) that pid has mapped."""
    pages, cur, base = set(), None, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+$", parts[0]):
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                mine = line.rstrip().endswith(str(binary))
                if mine and int(parts[2], 16) == 0 and base is None:
                    base = lo
                cur = (lo, hi) if mine else None
            elif parts[0] == "Rss:" and cur and int(parts[1]) > 0:
                pages.update(range(cur[0], cur[1], 4096))
    return {a - base for a in pages}


def api(sock, method, path, body=None):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    data = json.dumps(body) if body is not None else ""
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              f"Content-Length: {len(data)}\r\n\r\n{data}".encode())
    reply = s.recv(65536)
    s.close()
    assert re.match(rb"HTTP/1.1 2\d\d", reply), (path, reply)


def config_file(brasa, guest, tmp, marker=b"BRASA idle", args="console=ttyS0"):
    """`--no-api --config-file`, as make bench's memory figure."""
    cfg = Path(tmp) / "vm.json"
    cfg.write_text(json.dumps({"boot-source": {"kernel_image_path": str(guest),
                                               "boot_args": args},
                               "machine-config": {"vcpu_count": 1, "mem_size_mib": 128}}))
    p = subprocess.Popen([str(brasa), "--no-api", "--config-file", str(cfg), "--log-path",
                          str(Path(tmp) / "log")], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    assert bench.read_until(p, marker, time.monotonic() + 20), "the guest never came up"
    threading.Thread(target=drain, args=(p,), daemon=True).start()
    return p


def drain(p):
    """Reads the guest's console to its end: a full pipe would send brasa down other paths."""
    os.set_blocking(p.stdout.fileno(), True)
    while p.stdout.read1(65536):
        pass


def config_file_idle(brasa, guests, tmp):
    """The bench's idle guest: it prints its line and sleeps in hlt."""
    return config_file(brasa, guests["idle"], tmp)


def config_file_console(brasa, guests, tmp):
    """The test guest printing a line every few milliseconds: the vCPU's exits and the
    console's output path, which the idle guest may have run before the drop."""
    return config_file(brasa, guests["test"], tmp, b"count 3", "console=ttyS0 brasa.count=20000")


def api_idle(brasa, guests, tmp):
    """API mode: configure, InstanceStart, then the requests an orchestrator sends a running
    VM (GET /, GET /vm/config, FlushMetrics, a pause and a resume)."""
    guest = guests["idle"]
    sock = str(Path(tmp) / "api.sock")
    p = subprocess.Popen([str(brasa), "--api-sock", sock], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while not Path(sock).exists():
        assert time.monotonic() < deadline and p.poll() is None, "no API socket"
        time.sleep(0.001)
    api(sock, "PUT", "/boot-source", {"kernel_image_path": str(guest),
                                      "boot_args": "console=ttyS0"})
    api(sock, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128})
    api(sock, "PUT", "/metrics", {"metrics_path": str(Path(tmp) / "metrics")})
    api(sock, "PUT", "/actions", {"action_type": "InstanceStart"})
    assert bench.read_until(p, b"BRASA idle", time.monotonic() + 20), "the guest never came up"
    for path in ("/", "/vm/config", "/machine-config"):
        api(sock, "GET", path)
    api(sock, "PUT", "/actions", {"action_type": "FlushMetrics"})
    api(sock, "PATCH", "/vm", {"state": "Paused"})
    api(sock, "PATCH", "/vm", {"state": "Resumed"})
    return p


def profile(brasa, guests):
    pages = set()
    for scenario in (config_file_idle, config_file_console, api_idle):
        with tempfile.TemporaryDirectory() as tmp:
            p = scenario(brasa, guests, tmp)
            try:
                time.sleep(IDLE_S)
                pages |= resident_pages(p.pid, brasa)
            finally:
                p.kill()
                p.wait()
    return pages


def text_symbols(binary):
    """(address, size, name) of every code symbol, by address."""
    out = subprocess.run(["nm", "-n", "-S", "--defined-only", str(binary)], check=True,
                         capture_output=True, text=True).stdout
    syms = []
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4 and f[2] in "tTwWiI" and int(f[1], 16) > 0:
            syms.append((int(f[0], 16), int(f[1], 16), f[3]))
    return syms


def hot_names(brasa, guests):
    """Names of the functions on the pages of brasa that came back in the scenarios."""
    pages = profile(brasa, guests)
    hot = set()
    for addr, size, name in text_symbols(brasa):
        if any(pg in pages for pg in range(addr & ~0xfff, addr + size, 4096)):
            hot.add(name)
    return hot, len(pages)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=str(ROOT / "build-textprof"))
    ap.add_argument("--guest-build", default=str(ROOT / "build"),
                    help="a normal build directory, for its test guest and its layout")
    ap.add_argument("--seeds", type=int, default=10, help="library layouts to intersect")
    args = ap.parse_args()
    guests = {"idle": bench.build_bench_guests(Path(args.build) / "bench-guest")["pvh"]["idle"],
              "test": Path(args.guest_build) / "guest-tests" / "pvh.elf"}
    assert guests["test"].exists(), f"{guests['test']} is missing: build brasa first"
    hot = None
    for seed in range(1, args.seeds + 1):
        names, npages = hot_names(build(Path(args.build), seed), guests)
        hot = names if hot is None else hot & names
        print(f"seed {seed}: {len(names)} functions on the {npages} pages that came back; "
              f"{len(hot)} under every seed so far")
    # In the normal build's order, so that neighbours in the source stay neighbours.
    where = {name: addr for addr, _, name in text_symbols(Path(args.guest_build) / "brasa")}
    order = sorted(hot, key=lambda n: (where.get(n, 1 << 62), n))
    out = ROOT / "tools" / "text-order.txt"
    out.write_text("\n".join(order) + "\n")
    print(f"{len(order)} hot functions -> {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
