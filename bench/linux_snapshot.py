#!/usr/bin/python3
"""Guest Linux: restore from a Full snapshot to a shell answer, against a cold boot to the same.

Boots build/guest/vmlinux (PVH) + initramfs.cpio with a shell on the serial console
(brasa.shell) --boots times, timing process start -> the shell's answer to an echo; pauses the
last one at its prompt and takes a Full snapshot (File memory backend); then restores it
--restores times, each in a fresh brasa, timing the PUT /snapshot/load request -> the shell's
answer to an echo, and process start -> that answer. Prints a markdown table.
On kvm_pvm hosts the guest runs on kvm-clock (clocksource=kvm-clock), as the tests do: the TSC
cannot be offset there, see docs/pvm-hosts.md.
Usage: bench/linux_snapshot.py [--boots N] [--restores N] [--vcpus N] [--mem MIB]
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
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BRASA = Path(os.environ.get("BRASA_BUILD_DIR", ROOT / "build")) / "brasa"
GUEST = Path(os.environ.get("BRASA_GUEST_DIR", ROOT / "build" / "guest"))
PVM_HOST = Path("/sys/module/kvm_pvm").exists()
TIMEOUT = 300


def read_cmdline(name):
    text = (ROOT / "tools" / "guest" / name).read_text()
    return " ".join(l.strip() for l in text.splitlines() if l.strip() and not l.startswith("#"))


def boot_args():
    args = read_cmdline("cmdline") + " brasa.shell"
    return args + " " + read_cmdline("cmdline-pvm") + " clocksource=kvm-clock" if PVM_HOST \
        else args


def api(sock, method, path, body=None):
    """One HTTP/1.1 request on the Unix socket; returns the status code."""
    data = json.dumps(body).encode() if body is not None else b""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(TIMEOUT)
    s.connect(str(sock))
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
    head = s.recv(4096)
    s.close()
    return int(head.split()[1])


class Vm:
    def __init__(self, d, cfg=None):
        self.sock = d / "api.sock"
        argv = [str(BRASA), "--api-sock", str(self.sock), "--log-path", str(d / "log")]
        if cfg:
            (d / "vm.json").write_text(json.dumps(cfg))
            argv += ["--config-file", str(d / "vm.json")]
        self.start = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.out = b""
        while not self.sock.exists():
            assert self.proc.poll() is None, self.proc.stdout.read()
            time.sleep(0.001)

    def read_until(self, rx, deadline):
        while time.monotonic() < deadline:
            chunk = self.proc.stdout.read()
            if chunk:
                self.out += chunk
                if rx.search(self.out):
                    return time.monotonic()
            else:
                assert self.proc.poll() is None, self.out.decode(errors="replace")
                time.sleep(0.001)
        raise TimeoutError(self.out.decode(errors="replace"))

    def answer(self, n, wait_banner=False):
        """Types one echo the shell must compute (so the terminal's echo of the line never
        matches) and returns the time of its answer. Typed once only: lines typed before the
        shell reads are queued in the guest's tty and would all run, in a snapshot too."""
        deadline = time.monotonic() + TIMEOUT
        if wait_banner:
            self.read_until(re.compile(rb"busybox shell"), deadline)
        self.proc.stdin.write(b"echo A$((%d * 3))\n" % n)
        self.proc.stdin.flush()
        return self.read_until(re.compile(rb"\nA%d\r?\n" % (n * 3)), deadline)

    def close(self):
        self.proc.kill()
        self.proc.wait()


def cold_boot(d, a, n):
    cfg = {"boot-source": {"kernel_image_path": str(GUEST / "vmlinux"),
                           "initrd_path": str(GUEST / "initramfs.cpio"), "boot_args": boot_args()},
           "machine-config": {"vcpu_count": a.vcpus, "mem_size_mib": a.mem}}
    vm = Vm(d, cfg)
    t = vm.answer(n, wait_banner=True) - vm.start
    return vm, t


def restore(d, state, mem, n):
    vm = Vm(d)
    t0 = time.monotonic()
    assert api(vm.sock, "PUT", "/snapshot/load", {
        "snapshot_path": str(state), "resume_vm": True,
        "mem_backend": {"backend_type": "File", "backend_path": str(mem)}}) == 204
    t = vm.answer(n)
    vm.close()
    return t - t0, t - vm.start


def stats(xs):
    return (f"{statistics.median(xs):.3f}", f"{min(xs):.3f}", f"{max(xs):.3f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--boots", type=int, default=2)
    ap.add_argument("--restores", type=int, default=5)
    ap.add_argument("--vcpus", type=int, default=1)
    ap.add_argument("--mem", type=int, default=256)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-lsnap-"))
    try:
        boots = []
        for i in range(a.boots):
            d = tmp / f"boot{i}"
            d.mkdir()
            vm, t = cold_boot(d, a, 100 + i)
            boots.append(t)
            if i < a.boots - 1:
                vm.close()
        state, mem = tmp / "vm.state", tmp / "vm.mem"
        time.sleep(1)  # the prompt is back
        assert api(vm.sock, "PATCH", "/vm", {"state": "Paused"}) == 204
        assert api(vm.sock, "PUT", "/snapshot/create", {
            "snapshot_path": str(state), "mem_file_path": str(mem)}) == 204
        vm.close()
        loads, starts = [], []
        for i in range(a.restores):
            d = tmp / f"restore{i}"
            d.mkdir()
            t_load, t_start = restore(d, state, mem, 200 + i)
            loads.append(t_load)
            starts.append(t_start)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"# {datetime.date.today()} {platform.node()} kvm_pvm={PVM_HOST} "
          f"{a.vcpus} vCPU, {a.mem} MiB, PVH vmlinux + initramfs.cpio")
    print("| path | runs | median s | min s | max s |")
    print("|---|---|---|---|---|")
    print(f"| cold boot: process start -> shell answer | {len(boots)} | "
          + " | ".join(stats(boots)) + " |")
    print(f"| restore: load request -> shell answer | {len(loads)} | "
          + " | ".join(stats(loads)) + " |")
    print(f"| restore: process start -> shell answer | {len(starts)} | "
          + " | ".join(stats(starts)) + " |")


if __name__ == "__main__":
    main()
