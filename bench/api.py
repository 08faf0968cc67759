#!/usr/bin/python3
"""API benchmarks: exec -> API socket ready (wall and CPU), and per-request latency.

Usage: /usr/bin/python3 bench/api.py [--runs 30] [--requests 2000] [--build build]

- "socket ready": from just before exec to the moment the socket file exists (brasa links
  it into place only once it listens, so a client can connect at that instant).
- "CPU until ready": CPU time of every thread of the process (sum of the first field of
  /proc/PID/task/*/schedstat, in ns), read 50 ms after the socket appears, once both
  threads are idle (fc_vmm and fc_api in epoll_wait): it includes the little work done
  after the socket appeared (signals, seccomp filters, entering the loop).
- Latency: one keep-alive connection (http.client over AF_UNIX, like the SDKs), time
  from sending a request to having read its whole response, before boot.
"""
import argparse
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.path)
        self.sock = s


def cpu_ns(pid):
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        total += int((task / "schedstat").read_text().split()[0])
    return total


def start(brasa, sock):
    t0 = time.perf_counter()
    p = subprocess.Popen([brasa, "--api-sock", sock, "--level", "Off"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    while not os.path.exists(sock):
        if p.poll() is not None:
            raise SystemExit("brasa exited before its socket appeared")
        time.sleep(0.0001)
    wall_ms = (time.perf_counter() - t0) * 1000
    # A thread's runtime is only accounted when it stops running: let both go idle first.
    time.sleep(0.05)
    return p, wall_ms, cpu_ns(p.pid) / 1e6


def stop(p):
    p.terminate()
    p.wait(timeout=10)


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def latency(conn, method, path, body, n):
    data = json.dumps(body) if body is not None else None
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request(method, path, body=data)
        r = conn.getresponse()
        r.read()
        out.append((time.perf_counter() - t0) * 1e6)
        assert r.status in (200, 204), r.status
    return out


def row(name, values, unit):
    return (f"| {name} ({unit}) | {statistics.median(values):.2f} | {min(values):.2f} | "
            f"{max(values):.2f} | {len(values)} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--build", default=str(ROOT / "build"))
    a = ap.parse_args()
    brasa = str(Path(a.build) / "brasa")
    d = tempfile.mkdtemp(prefix="brasa-bench-api-")
    sock = os.path.join(d, "api.sock")
    walls, cpus = [], []
    for _ in range(a.runs):
        p, wall, cpu = start(brasa, sock)
        walls.append(wall)
        cpus.append(cpu)
        stop(p)
        os.unlink(sock)  # brasa leaves its socket behind, as Firecracker does
    p, _, _ = start(brasa, sock)
    conn = UnixHTTPConnection(sock)
    latency(conn, "GET", "/", None, 100)  # warm-up
    get = latency(conn, "GET", "/", None, a.requests)
    put = latency(conn, "PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 256},
                  a.requests)
    conn.close()
    stop(p)
    os.unlink(sock)
    os.rmdir(d)
    print(f"Run: Date: {time.strftime('%Y-%m-%d')}  Host: {platform.node()} "
          f"({os.cpu_count()} CPUs, kernel {platform.release()})\n")
    print("| figure | median | min | max | runs |")
    print("|---|---|---|---|---|")
    print(row("exec → API socket ready, wall", walls, "ms"))
    print(row("exec → API socket ready, CPU of all threads until idle", cpus, "ms"))
    for name, v in (("GET /", get), ("PUT /machine-config", put)):
        print(f"| {name} latency p50 / p99 (µs) | {percentile(v, 0.5):.1f} / "
              f"{percentile(v, 0.99):.1f} | {min(v):.1f} | {max(v):.1f} | {len(v)} |")


if __name__ == "__main__":
    main()
