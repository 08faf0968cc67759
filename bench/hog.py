#!/usr/bin/python3
"""What a hostile block driver costs the VMM thread (issue 17): the test guest's hog
(brasa.blk.hostile=hog) keeps 256 copies of one huge read queued, forever. For each case this
prints the VMM thread's CPU time per queue pass (schedstat over FlushMetrics'
block.queue_event_count), the data moved per pass, and the latency of GET / while it runs.
Usage: bench/hog.py [--build DIR] [--seconds S]
"""
import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (label, data descriptors of 16 MiB, engine)
CASES = [("4 GiB chain (refused: > guest RAM)", 254, "Sync"),
         ("64 MiB reads, Sync", 4, "Sync"),
         ("64 MiB reads, Async", 4, "Async")]


class Conn(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def call(conn, method, path, body=None):
    conn.request(method, path, body=json.dumps(body) if body is not None else None)
    r = conn.getresponse()
    r.read()
    return r.status


def vmm_cpu_ns(pid):
    with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def block_totals(metrics):
    out = {}
    for line in metrics.read_text().splitlines():
        for k, v in json.loads(line).get("block", {}).items():
            if isinstance(v, int):
                out[k] = out.get(k, 0) + v
    return out


def wait_for(path, text, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_bytes():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{text!r} never appeared in {path}")


def run_case(build, tmp, descs, engine, seconds):
    tmp = Path(tmp)
    disk, sock, console, metrics = (tmp / "hog.img", tmp / "api.sock", tmp / "console",
                                    tmp / "metrics")
    with open(disk, "wb") as f:
        f.truncate(8 << 30)  # sparse, larger than the 4 GiB chain
    p = subprocess.Popen([str(Path(build) / "brasa"), "--api-sock", str(sock),
                          "--log-path", str(tmp / "log")],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        while not sock.exists():
            time.sleep(0.01)
        c = Conn(str(sock))
        guest = Path(build) / "guest-tests" / "pvh.elf"
        args = f"console=ttyS0 brasa.blk.hostile=hog brasa.blk.hogdescs={descs}"
        for path, body in [("/boot-source", {"kernel_image_path": str(guest), "boot_args": args}),
                           ("/machine-config", {"vcpu_count": 1, "mem_size_mib": 64}),
                           ("/drives/hog", {"drive_id": "hog", "path_on_host": str(disk),
                                            "is_root_device": False, "is_read_only": True,
                                            "io_engine": engine}),
                           ("/serial", {"serial_out_path": str(console)}),
                           ("/metrics", {"metrics_path": str(metrics)}),
                           ("/actions", {"action_type": "InstanceStart"})]:
            assert call(c, "PUT", path, body) == 204, path
        wait_for(console, b"BRASA blk-hog used=512 ")
        assert call(c, "PUT", "/actions", {"action_type": "FlushMetrics"}) == 204
        b0, cpu0 = block_totals(metrics), vmm_cpu_ns(p.pid)
        lat, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            t0 = time.monotonic()
            assert call(c, "GET", "/") == 200
            lat.append((time.monotonic() - t0) * 1000)
            time.sleep(0.02)
        cpu1 = vmm_cpu_ns(p.pid)
        assert call(c, "PUT", "/actions", {"action_type": "FlushMetrics"}) == 204
        b1 = block_totals(metrics)
    finally:
        p.terminate()
        p.wait(timeout=30)
    passes = b1["queue_event_count"] - b0["queue_event_count"]
    moved = b1["read_bytes"] - b0["read_bytes"]
    lat.sort()
    return {"passes": passes, "cpu_ms_per_pass": (cpu1 - cpu0) / 1e6 / max(passes, 1),
            "mib_per_pass": moved / 2**20 / max(passes, 1),
            "get_median_ms": statistics.median(lat), "get_max_ms": lat[-1],
            "get_p99_ms": lat[int(len(lat) * 0.99)], "gets": len(lat)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--seconds", type=float, default=5)
    a = ap.parse_args()
    print("| case | passes | VMM CPU per pass (ms) | MiB read per pass | GET / median (ms) "
          "| p99 | max | GETs |")
    print("|---|---|---|---|---|---|---|---|")
    for label, descs, engine in CASES:
        with tempfile.TemporaryDirectory(prefix="brasa-hog-") as tmp:
            r = run_case(a.build, tmp, descs, engine, a.seconds)
        print(f"| {label} | {r['passes']} | {r['cpu_ms_per_pass']:.2f} | {r['mib_per_pass']:.1f} "
              f"| {r['get_median_ms']:.1f} | {r['get_p99_ms']:.1f} | {r['get_max_ms']:.1f} "
              f"| {r['gets']} |")


if __name__ == "__main__":
    os.nice(0)
    main()
