#!/usr/bin/python3
"""Snapshot restore of the counting test guest: brasa (File and Uffd backends) and QEMU microvm.

For each guest memory size (--mem, MiB): one Full snapshot of a paused counting guest
(tests/guest pvh.elf, "brasa.count=1": it prints "BRASA count <n>" lines back to back, one
every few tens of microseconds, so its first line after a restore comes right after its first
instructions), then --runs times, in a fresh brasa each time:
  - request -> response: PUT /snapshot/load (resume_vm true) sent to the whole 204 read;
  - request -> guest: to the first complete count line the restored guest prints (the guest
    prints all the time, so this is its first instructions after resume, plus one line);
  - start -> guest: from starting the brasa process (API socket, then the load) to that line.
Backends: File; Uffd with brasa-uffd-handler on demand; Uffd with --fault-all. The handler is
started (and listening) before brasa, outside the timings.
QEMU: the same guest in qemu-system-x86_64 -M microvm, saved with QMP migrate to
"exec:cat > FILE" while it runs, then restored --runs times with -incoming "exec:cat FILE":
start -> guest, as for brasa (QEMU has no request to time apart from its start).
Also the time of PUT /snapshot/create (Full) and of QEMU's migrate, one run each."""
import argparse
import json
import os
import re
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from conftest import BUILD, KERNELS, ApiVm  # noqa: E402
from test_pause import Console  # noqa: E402

BOOT_ARGS = "console=ttyS0 brasa.count=1"
LINE = re.compile(rb"BRASA count \d+\r?\n")


def timed(vm, method, path, body):
    t = time.perf_counter()
    r = vm.request(method, path, body)
    assert r.status == 204, r.raw
    return (time.perf_counter() - t) * 1000


def load_and_watch(vm, body, t_start):
    """Sends the load on a raw connection and watches the answer and the guest's console at
    once: (request -> response, request -> first count line, start -> first count line), ms."""
    data = json.dumps(body).encode()
    req = (b"PUT /snapshot/load HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json"
           b"\r\nContent-Length: %d\r\n\r\n" % len(data)) + data
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(vm.sock))
    out = vm.proc.stdout.fileno()
    os.set_blocking(out, False)
    t0 = time.perf_counter()
    s.sendall(req)
    answer, console, t_resp, t_line = b"", b"", None, None
    deadline = t0 + 60
    while (t_resp is None or t_line is None) and time.perf_counter() < deadline:
        ready, _, _ = select.select([s, out] if t_resp is None else [out], [], [], 1)
        now = time.perf_counter()
        if s in ready:
            answer += s.recv(4096)
            if b"\r\n\r\n" in answer:
                assert answer.startswith(b"HTTP/1.1 204"), answer
                t_resp = now
        if out in ready:
            console += os.read(out, 1 << 20)
            if t_line is None and LINE.search(console):
                t_line = now
    s.close()
    assert t_resp and t_line, (answer, console[-200:])
    return (t_resp - t0) * 1000, (t_line - t0) * 1000, (t_line - t_start) * 1000


def start_handler(d, mem, fault_all):
    sock = Path(tempfile.mkdtemp(prefix="brasa-bench-uffd-")) / "h.sock"
    args = ["--fault-all"] if fault_all else []
    h = subprocess.Popen([str(BUILD / "brasa-uffd-handler"), *args, str(sock), str(mem)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not sock.exists():
        assert h.poll() is None
        time.sleep(0.001)
    return h, sock


def brasa_runs(d, backend, runs):
    """runs loads with backend "File", "Uffd" or "Uffd fault-all": lists of the three times."""
    rows = []
    for i in range(runs):
        run = d / f"{backend.replace(' ', '-')}-{i}"
        run.mkdir()
        h = None
        if backend == "File":
            mb = {"backend_type": "File", "backend_path": str(d / "vm.mem")}
        else:
            h, sock = start_handler(run, d / "vm.mem", backend.endswith("fault-all"))
            mb = {"backend_type": "Uffd", "backend_path": str(sock)}
        t_start = time.perf_counter()
        vm = ApiVm(run)
        rows.append(load_and_watch(vm, {"snapshot_path": str(d / "vm.state"),
                                        "resume_vm": True, "mem_backend": mb}, t_start))
        assert vm.stop() == 0
        if h:
            h.wait(timeout=10)
            shutil.rmtree(sock.parent, ignore_errors=True)
        shutil.rmtree(run, ignore_errors=True)
    return [list(col) for col in zip(*rows)]


def qemu_argv(mem, d, extra=()):
    return ["qemu-system-x86_64", "-M", "microvm,x-option-roms=off,rtc=off,acpi=off",
            "-enable-kvm", "-m", str(mem), "-smp", "1", "-nodefaults", "-no-user-config",
            "-display", "none", "-serial", "stdio",
            "-qmp", f"unix:{d}/qmp.sock,server=on,wait=off",
            "-kernel", str(KERNELS["pvh"]), "-append", BOOT_ARGS, *extra]


def qmp(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    for _ in range(1000):
        try:
            s.connect(str(path))
            break
        except OSError:
            time.sleep(0.005)
    f = s.makefile("rw")
    f.readline()

    def cmd(name, **args):
        f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        f.flush()
        while True:
            r = json.loads(f.readline())
            if "return" in r or "error" in r:
                return r
    cmd("qmp_capabilities")
    return cmd


def wait_line(proc, t0, timeout=60):
    out, buf = proc.stdout.fileno(), b""
    while time.perf_counter() - t0 < timeout:
        ready, _, _ = select.select([out], [], [], 1)
        if ready:
            chunk = os.read(out, 1 << 20)
            assert chunk, buf[-300:]
            buf += chunk
            if LINE.search(buf):
                return (time.perf_counter() - t0) * 1000
    raise AssertionError(f"no count line: {buf[-300:]!r}")


def drain(proc):
    """Reads proc's output to its end: QEMU's serial waits for a full pipe, brasa's does not."""
    while proc.stdout.read(1 << 16):
        pass


def qemu_save(d, mem):
    """Boots the guest in QEMU and migrates it to d/vm.mig: QEMU's own total-time, ms."""
    p = subprocess.Popen(qemu_argv(mem, d), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    wait_line(p, time.perf_counter())
    threading.Thread(target=drain, args=(p,), daemon=True).start()
    cmd = qmp(d / "qmp.sock")
    assert "return" in cmd("migrate", uri=f"exec:cat > {d}/vm.mig")
    while True:
        r = cmd("query-migrate")["return"]
        if r.get("status") in ("completed", "failed"):
            break
        time.sleep(0.005)
    assert r["status"] == "completed", r
    cmd("quit")
    p.wait(timeout=10)
    return r["total-time"]


def qemu_runs(d, mem, runs):
    times = []
    for _ in range(runs):
        (d / "qmp.sock").unlink(missing_ok=True)
        t0 = time.perf_counter()
        p = subprocess.Popen(qemu_argv(mem, d, ["-incoming", f"exec:cat {d}/vm.mig"]),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        times.append(wait_line(p, t0))
        p.kill()
        p.wait()
    return times


def med(xs):
    return f"{statistics.median(xs):.2f} ({min(xs):.2f}–{max(xs):.2f})"


def bench_size(mem, runs, backends, with_qemu):
    d = Path(tempfile.mkdtemp(prefix="brasa-snapbench-"))
    vm = ApiVm(d)
    assert vm.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                   "boot_args": BOOT_ARGS}).status == 204
    assert vm.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": mem}).status == 204
    assert vm.put("/actions", {"action_type": "InstanceStart"}).status == 204
    Console(vm.proc).wait_count(2)  # its output floods the pipe later: brasa drops what it can't write
    assert vm.patch("/vm", {"state": "Paused"}).status == 204
    create = timed(vm, "PUT", "/snapshot/create", {"snapshot_path": str(d / "vm.state"),
                                                    "mem_file_path": str(d / "vm.mem")})
    vm.stop()
    print(f"\n## guest memory {mem} MiB (state file {(d / 'vm.state').stat().st_size} bytes), "
          f"{runs} runs; median (min–max), ms")
    print(f"brasa PUT /snapshot/create (Full): {create:.2f} (one run)")
    print("| restore | request -> response | request -> guest runs | start -> guest runs |")
    print("|---|---|---|---|")
    starts = {}
    for b in backends:
        resp, line, start = brasa_runs(d, b, runs)
        starts[b] = statistics.median(start)
        print(f"| brasa, {b} | {med(resp)} | {med(line)} | {med(start)} |")
    if with_qemu:
        (d / "q").mkdir()
        save = qemu_save(d / "q", mem)
        q = qemu_runs(d / "q", mem, runs)
        print(f"| QEMU microvm, -incoming exec:cat | | | {med(q)} |")
        print(f"QEMU migrate to file (total-time): {save} ms; its file "
              f"{(d / 'q' / 'vm.mig').stat().st_size} bytes")
        for b, s in starts.items():
            print(f"start -> guest runs, QEMU / brasa {b}: {statistics.median(q) / s:.1f}x")
    shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--mem", type=int, nargs="+", default=[128, 1024], help="MiB")
    ap.add_argument("--backends", nargs="+", default=["File", "Uffd", "Uffd fault-all"])
    ap.add_argument("--no-qemu", action="store_true")
    args = ap.parse_args()
    for mem in args.mem:
        bench_size(mem, args.runs, args.backends,
                   not args.no_qemu and shutil.which("qemu-system-x86_64"))


if __name__ == "__main__":
    main()
