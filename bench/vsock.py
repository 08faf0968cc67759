#!/usr/bin/python3
"""virtio-vsock throughput and VMM-thread CPU per MiB, and RSS around a balloon inflate, with
the guest Linux of tools/guest (build/guest: PVH vmlinux + initramfs.cpio, brasa.shell).

Per run, one boot (1 vCPU, 256 MiB, vsock CID 3, a balloon with statistics every second):
- host -> guest: `vsockt sink 5001` in the guest; the host CONNECTs through uds_path, sends
  N MiB and closes; done at the guest's `VSOCKT sink bytes=...` line (it reads to EOF);
- guest -> host: the host listens on <uds_path>_5002; `vsockt send 2 5002 N` in the guest;
  from the host's accept() to the N-th byte read;
- balloon: `dd` 100 MiB of zeros into /tmp (the initramfs's RAM file system), `rm` it (the
  guest frees the pages, the host keeps them: brasa's RSS stays high), then PATCH /balloon
  amount_mib = 128 (half the memory) and wait for actual_mib = 128 in /balloon/statistics.
  brasa's VmRSS (/proc/PID/status) is read after boot, after the dd, after the rm and after
  the inflate.
VMM-thread CPU time is /proc/PID/task/PID/schedstat (on-CPU ns) between the two ends of a
transfer. Throughput is the host's wall time over the same span. Prints markdown tables.
Usage: bench/vsock.py [--runs N] [--mib N]
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from conftest import UnixHTTPConnection  # noqa: E402

BUILD = Path(os.environ.get("BRASA_BUILD_DIR", ROOT / "build"))
GUEST = Path(os.environ.get("BRASA_GUEST_DIR", ROOT / "build" / "guest"))
PVM_HOST = Path("/sys/module/kvm_pvm").exists()
MEM_MIB = 256
FILL_MIB = 100


def read_cmdline(name):
    text = (ROOT / "tools" / "guest" / name).read_text()
    return " ".join(l.strip() for l in text.splitlines() if l.strip() and not l.startswith("#"))


def boot_args():
    args = read_cmdline("cmdline") + " brasa.shell"
    return args + " " + read_cmdline("cmdline-pvm") if PVM_HOST else args


def vmm_ns(pid):
    with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def rss_mib(pid):
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1)) / 1024


class Guest:
    """brasa with the guest's shell on stdin/stdout and its API socket."""

    def __init__(self, tmp):
        self.tmp = tmp
        cfg = {"boot-source": {"kernel_image_path": str(GUEST / "vmlinux"),
                               "initrd_path": str(GUEST / "initramfs.cpio"),
                               "boot_args": boot_args()},
               "machine-config": {"vcpu_count": 1, "mem_size_mib": MEM_MIB},
               "vsock": {"guest_cid": 3, "uds_path": str(tmp / "v.sock")},
               "balloon": {"amount_mib": 0, "deflate_on_oom": False,
                           "stats_polling_interval_s": 1}}
        (tmp / "vm.json").write_text(json.dumps(cfg))
        self.p = subprocess.Popen(
            [str(BUILD / "brasa"), "--api-sock", str(tmp / "api.sock"), "--config-file",
             str(tmp / "vm.json"), "--log-path", str(tmp / "brasa.log")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        os.set_blocking(self.p.stdout.fileno(), False)
        self.out, self.seen = "", 0

    def expect(self, pattern, timeout=300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.compile(pattern).search(self.out, self.seen)
            if m:
                self.seen = m.end()
                return m
            chunk = self.p.stdout.read()
            if chunk:
                self.out += chunk.decode(errors="replace")
            elif self.p.poll() is not None:
                break
            else:
                time.sleep(0.005)
        raise RuntimeError(f"no {pattern!r}: {self.out[-1500:]}")

    def run(self, line):
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()

    def api(self, method, path, body=None):
        conn = UnixHTTPConnection(str(self.tmp / "api.sock"))
        conn.request(method, path, None if body is None else json.dumps(body))
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, json.loads(data) if data else None

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def host_to_guest(g, nbytes):
    """(seconds, VMM ns) from the host's connect to the guest's sink line."""
    g.run("vsockt sink 5001")
    g.expect(r"VSOCKT sink listening")
    data = bytes(range(256)) * 256
    t0, c0 = time.monotonic(), vmm_ns(g.p.pid)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(g.tmp / "v.sock"))
    s.sendall(b"CONNECT 5001\n")
    line = b""
    while not line.endswith(b"\n"):
        line += s.recv(1)
    assert line.startswith(b"OK "), line
    for _ in range(nbytes // len(data)):
        s.sendall(data)
    s.close()
    m = g.expect(r"VSOCKT sink bytes=(\d+)")
    t1, c1 = time.monotonic(), vmm_ns(g.p.pid)
    assert int(m.group(1)) == nbytes, m.group(0)
    return t1 - t0, c1 - c0


def guest_to_host(g, nbytes):
    """(seconds, VMM ns) from the host's accept() to the last byte read."""
    lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lst.bind(str(g.tmp / "v.sock_5002"))
    lst.listen(1)
    g.run(f"vsockt send 2 5002 {nbytes}")
    c, _ = lst.accept()
    t0, c0 = time.monotonic(), vmm_ns(g.p.pid)
    got = 0
    while got < nbytes:
        b = c.recv(1 << 20)
        if not b:
            break
        got += len(b)
    t1, c1 = time.monotonic(), vmm_ns(g.p.pid)
    c.close()
    lst.close()
    os.unlink(g.tmp / "v.sock_5002")
    assert got == nbytes, got
    g.expect(r"VSOCKT send bytes=")
    return t1 - t0, c1 - c0


def balloon(g):
    """brasa's VmRSS (MiB) after boot, after the fill, after its removal, after the inflate."""
    rss = [rss_mib(g.p.pid)]
    g.run(f"dd if=/dev/zero of=/tmp/fill bs=1M count={FILL_MIB} 2>/dev/null; echo FILL DONE")
    g.expect(r"\nFILL DONE")
    rss.append(rss_mib(g.p.pid))
    g.run("rm /tmp/fill; echo RM DONE")
    g.expect(r"\nRM DONE")
    rss.append(rss_mib(g.p.pid))
    assert g.api("PATCH", "/balloon", {"amount_mib": MEM_MIB // 2})[0] == 204
    t0 = time.monotonic()
    while time.monotonic() - t0 < 600:
        st = g.api("GET", "/balloon/statistics")[1]
        if st["actual_mib"] == MEM_MIB // 2:
            break
        time.sleep(0.5)
    else:
        raise RuntimeError(f"balloon stuck: {st}")
    rss.append(rss_mib(g.p.pid))
    return rss, time.monotonic() - t0


def one_run(nbytes):
    tmp = Path(tempfile.mkdtemp(prefix="bvb-"))  # a Unix socket path fits in 108 bytes
    g = Guest(tmp)
    try:
        g.expect(r"busybox shell")
        h2g = host_to_guest(g, nbytes)
        g2h = guest_to_host(g, nbytes)
        rss, inflate_s = balloon(g)
        return h2g, g2h, rss, inflate_s
    finally:
        g.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def row(label, vals, fmt="{:.1f}"):
    f = [fmt.format(v) for v in (statistics.median(vals), min(vals), max(vals))]
    return f"| {label} | {' | '.join(f)} | {len(vals)} |"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mib", type=int, default=16)
    args = ap.parse_args()
    nbytes, runs = args.mib << 20, []
    for i in range(args.runs):
        runs.append(one_run(nbytes))
        print(f"run {i + 1}: {runs[-1]}", file=sys.stderr)
    load = os.getloadavg()
    print(f"Run: Date: {datetime.date.today()}  Host: {platform.node()} ({os.cpu_count()} CPUs, "
          f"kernel {platform.release()}, load average {load[0]:.1f} at the end)\n")
    print(f"| vsock, {args.mib} MiB per transfer | median | min | max | runs |")
    print("|---|---:|---:|---:|---:|")
    for k, name in ((0, "host → guest"), (1, "guest → host")):
        print(row(f"{name}: MiB/s", [args.mib / r[k][0] for r in runs]))
        print(row(f"{name}: VMM-thread CPU per MiB (us)",
                  [r[k][1] / args.mib / 1000 for r in runs]))
    print(f"\n| brasa VmRSS (MiB), {MEM_MIB} MiB guest | median | min | max | runs |")
    print("|---|---:|---:|---:|---:|")
    labels = ["after boot (shell)", f"after dd of {FILL_MIB} MiB into /tmp",
              "after rm of that file", f"after the balloon reached {MEM_MIB // 2} MiB"]
    for k, label in enumerate(labels):
        print(row(label, [r[2][k] for r in runs]))
    print(row("inflate time (s)", [r[3] for r in runs]))


if __name__ == "__main__":
    main()
