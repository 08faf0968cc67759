#!/usr/bin/python3
"""Churn: many jailed microVMs started and stopped through the API, one after the other, and
what they leave behind.

Usage (root): /usr/bin/python3 bench/churn.py [--cycles 1000] [--build build]

Each cycle does what an orchestrator does: it prepares a jail root (kernel and a disk
hard-linked in), starts `brasa-jailer --uid 1234 --gid 1234` with cgroups (v1 here) and
`--api-sock /api.sock`, configures the VM through the API (boot source, one drive, one
network interface on a persistent tap, metrics to a file), sends InstanceStart, checks
GET / says Running, stops brasa with SIGTERM (it must exit 0), then removes the jail's
cgroup directories (rmdir fails while any task is left in them) and the jail directory.

At cycle 1 and every --sample cycles it records the running brasa's open fds and RSS, and
after the stop the host's allocated file handles (first field of
/proc/sys/fs/file-nr), this harness's own open fds, MemAvailable, and the brasa processes
and jail directories still around. At the end it fails unless: every cycle exited 0,
no brasa process is left, no jail or cgroup directory is left, the running brasa's fds and
RSS in the last cycle are those of the first (RSS within 10%), the tap still exists (brasa
never deletes what the host made), and host file handles and this harness's fds are flat
(within a small margin of the first sample). It prints a Markdown table for
docs/benchmarks.md.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from api import UnixHTTPConnection  # bench/api.py

ROOT = Path(__file__).resolve().parents[1]
UID = GID = 1234
TAP = "brchurn0"
PARENT = "brasa-churn"
V1 = Path("/sys/fs/cgroup")


def request(conn, method, path, body=None):
    conn.request(method, path, body=None if body is None else json.dumps(body))
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300:
        raise SystemExit(f"{method} {path}: {r.status} {data!r}")
    return json.loads(data) if data else None


def cgroup_dirs(jail_id):
    out = []
    for ctrl in ("cpu", "cpuset", "pids", "unified", "memory"):
        d = V1 / ctrl / PARENT
        if d.exists():
            out += [d / jail_id]
    return out


def wait_for(path, proc, timeout=10):
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{path} never appeared (exit {proc.poll()})")
        time.sleep(0.001)


def one_cycle(args, base, n, disk):
    jail_id = f"churn-{n}"
    root = base / "brasa" / jail_id / "root"
    root.mkdir(parents=True)
    os.link(ROOT / args.build / "guest-tests" / "pvh.elf", root / "pvh.elf")
    os.link(disk, root / "disk.img")
    argv = [str(ROOT / args.build / "brasa-jailer"), "--id", jail_id, "--exec-file",
            str(ROOT / args.build / "brasa"), "--uid", str(UID), "--gid", str(GID),
            "--chroot-base-dir", str(base), "--parent-cgroup", PARENT, "--cgroup",
            "pids.max=64", "--", "--api-sock", "/api.sock", "--level", "Warning"]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    wait_for(root / "api.sock", p)
    conn = UnixHTTPConnection(str(root / "api.sock"))
    request(conn, "PUT", "/boot-source", {"kernel_image_path": "/pvh.elf",
                                          "boot_args": "console=ttyS0 brasa.idle"})
    request(conn, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64})
    request(conn, "PUT", "/drives/rootfs", {"drive_id": "rootfs", "path_on_host": "/disk.img",
                                            "is_root_device": True, "is_read_only": True})
    request(conn, "PUT", "/network-interfaces/eth0", {"iface_id": "eth0",
                                                      "host_dev_name": TAP})
    request(conn, "PUT", "/metrics", {"metrics_path": "/metrics.json"})
    request(conn, "PUT", "/actions", {"action_type": "InstanceStart"})
    state = request(conn, "GET", "/")["state"]
    status = Path(f"/proc/{p.pid}/status").read_text()
    vm = {"vm_fds": len(os.listdir(f"/proc/{p.pid}/fd")),
          "vm_rss_kib": int(status.split("VmRSS:")[1].split()[0])}
    conn.close()
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=30)
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if state != "Running" or rc != 0:
        raise SystemExit(f"cycle {n}: state {state}, exit {rc}\n{err}")
    for d in cgroup_dirs(jail_id):
        d.rmdir()  # fails (EBUSY) if a task were left in it
    shutil.rmtree(base / "brasa" / jail_id)
    return vm


def sample(base, vm):
    mem = {l.split(":")[0]: int(l.split()[1]) for l in open("/proc/meminfo")}
    # this harness's VMs only: the jailer passes --id churn-N on to brasa
    procs = subprocess.run(["pgrep", "-c", "-f", "churn-[0-9]"], capture_output=True, text=True)
    return {**vm, "file_handles": int(open("/proc/sys/fs/file-nr").read().split()[0]),
            "harness_fds": len(os.listdir("/proc/self/fd")),
            "mem_available_mib": mem["MemAvailable"] // 1024,
            "brasa_processes": int(procs.stdout.strip() or 0),
            "jails_left": len(list((base / "brasa").iterdir())) if (base / "brasa").exists()
            else 0}


def check(samples, t0, t1):
    first, last = samples[0][1], samples[-1][1]
    problems = []
    if last["brasa_processes"] or last["jails_left"]:
        problems.append("brasa processes or jails were left")
    if last["file_handles"] - first["file_handles"] > 64:
        problems.append("host file handles grew")
    if last["harness_fds"] != first["harness_fds"]:
        problems.append("the harness's fds grew")
    if last["vm_fds"] != first["vm_fds"] or last["vm_rss_kib"] > first["vm_rss_kib"] * 1.1:
        problems.append("a running brasa's fds or RSS grew from the first cycle to the last")
    if subprocess.run(["ip", "link", "show", TAP], capture_output=True).returncode:
        problems.append("the tap is gone")
    return problems


def table(samples, cycles, seconds):
    out = [f"{cycles} cycles in {seconds:.1f} s ({seconds / cycles * 1000:.1f} ms a cycle).", "",
           "| cycle | running brasa: fds | running brasa: RSS (KiB) | host file handles after "
           "| harness fds | MemAvailable (MiB) | brasa processes left | jails left |",
           "|---|---|---|---|---|---|---|---|"]
    for n, s in samples:
        out.append(f"| {n} | {s['vm_fds']} | {s['vm_rss_kib']} | {s['file_handles']} | "
                   f"{s['harness_fds']} | {s['mem_available_mib']} | {s['brasa_processes']} | "
                   f"{s['jails_left']} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--sample", type=int, default=100)
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("churn.py needs root (jailer, cgroups, a tap)")
    base = Path(tempfile.mkdtemp(prefix="brasa-churn-"))
    os.chmod(base, 0o755)
    disk = base / "disk.img"
    disk.write_bytes(b"\0" * (1 << 20))
    subprocess.run(["ip", "tuntap", "add", "name", TAP, "mode", "tap", "user", str(UID)],
                   check=True)
    samples = []
    t0 = time.monotonic()
    try:
        for n in range(1, args.cycles + 1):
            vm = one_cycle(args, base, n, disk)
            if n == 1 or n % args.sample == 0:
                samples.append((n, sample(base, vm)))
        seconds = time.monotonic() - t0
        problems = check(samples, t0, seconds)
    finally:
        subprocess.run(["ip", "link", "del", TAP], stderr=subprocess.DEVNULL)
        shutil.rmtree(base, ignore_errors=True)
    print(table(samples, args.cycles, seconds))
    if problems:
        print("FAILED: " + "; ".join(problems))
        sys.exit(1)
    print("OK: nothing left behind, handles and fds flat")


if __name__ == "__main__":
    main()
