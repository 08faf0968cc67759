#!/usr/bin/python3
"""Real-Linux boot benchmark: brasa vs QEMU microvm on the same kernel and initramfs.

Boots build/guest/vmlinux (PVH) with build/guest/initramfs.cpio N times under each VMM,
alternating them, and times process start -> the guest init's `BRASA linux` line (user space
reached). For brasa it also times process start -> exit (init reboots through the i8042);
QEMU's microvm has no i8042, so QEMU is killed once the line appears. Prints a markdown table.
Usage: bench/linux.py [--runs N] [--vcpus N] [--mem MIB] [--kernel vmlinux|bzImage]
                      [--initrd initramfs.cpio|initramfs.cpio.gz]
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BRASA = Path(os.environ.get("BRASA_BUILD_DIR", ROOT / "build")) / "brasa"
GUEST = Path(os.environ.get("BRASA_GUEST_DIR", ROOT / "build" / "guest"))
PVM_HOST = Path("/sys/module/kvm_pvm").exists()
MARKER = b"BRASA linux "


def read_cmdline(name):
    text = (ROOT / "tools" / "guest" / name).read_text()
    return " ".join(l.strip() for l in text.splitlines() if l.strip() and not l.startswith("#"))


def boot_args():
    args = read_cmdline("cmdline")
    return args + " " + read_cmdline("cmdline-pvm") if PVM_HOST else args


def brasa_cmd(tmp, a):
    cfg = {"boot-source": {"kernel_image_path": str(GUEST / a.kernel),
                           "initrd_path": str(GUEST / a.initrd),
                           "boot_args": boot_args()},
           "machine-config": {"vcpu_count": a.vcpus, "mem_size_mib": a.mem}}
    path = Path(tmp) / "vm.json"
    path.write_text(json.dumps(cfg))
    return [str(BRASA), "--no-api", "--config-file", str(path), "--log-path",
            str(Path(tmp) / "log")]


def qemu_cmd(tmp, a):
    # The CPU model hides what brasa's kvm_pvm template hides and kvm_pvm honours (CX16, the
    # KVM PV features that hang); the rest comes from cmdline-pvm, as for brasa. xsaveerptr:
    # without it Linux applies the AMD FXSAVE-leak workaround, whose FNCLEX kvm_pvm cannot
    # emulate (brasa passes the host's bit through).
    cpu = "qemu64,-cx16,+xsaveerptr,kvm-pv-unhalt=off,kvm-pv-ipi=off,kvm-pv-sched-yield=off"
    return ["qemu-system-x86_64", "-M", "microvm,x-option-roms=off,rtc=off,acpi=off",
            "-enable-kvm", "-cpu", cpu, "-m", str(a.mem), "-smp", str(a.vcpus), "-nodefaults",
            "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot",
            "-kernel", str(GUEST / a.kernel), "-initrd", str(GUEST / a.initrd),
            "-append", boot_args()]


def time_run(cmd, wait_exit, timeout=120):
    """Returns (seconds to the marker or None, seconds to exit or None, exit code)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL)
    buf, first = b"", None
    try:
        while first is None and time.monotonic() - t0 < timeout:
            chunk = os.read(p.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
            if MARKER in buf:
                first = time.monotonic() - t0
        if first is None or not wait_exit:
            p.kill()
            p.wait()
            return first, None, p.returncode
        while os.read(p.stdout.fileno(), 4096):
            pass
        p.wait(timeout=timeout)
        return first, time.monotonic() - t0, p.returncode
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def stats(xs):
    if not xs:
        return "n/a", "", "", 0
    return f"{statistics.median(xs):.2f}", f"{min(xs):.2f}", f"{max(xs):.2f}", len(xs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--vcpus", type=int, default=1)
    ap.add_argument("--mem", type=int, default=256)
    ap.add_argument("--kernel", default="vmlinux", choices=["vmlinux", "bzImage"])
    ap.add_argument("--initrd", default="initramfs.cpio",
                    choices=["initramfs.cpio", "initramfs.cpio.gz"])
    a = ap.parse_args()
    vmms = [("brasa", brasa_cmd, True)]
    if shutil.which("qemu-system-x86_64"):
        vmms.append(("QEMU microvm", qemu_cmd, False))
    res = {name: {"first": [], "exit": []} for name, _, _ in vmms}
    for _ in range(a.runs):
        for name, mk, can_exit in vmms:
            with tempfile.TemporaryDirectory() as tmp:
                first, total, rc = time_run(mk(tmp, a), can_exit)
            if first is not None:
                res[name]["first"].append(first)
            if total is not None and rc == 0:
                res[name]["exit"].append(total)
    print(f"Date: {datetime.date.today()}  Host: {platform.node()} ({os.cpu_count()} CPUs, "
          f"kernel {platform.release()}, kvm_pvm: {'yes' if PVM_HOST else 'no'})")
    print(f"Guest: {a.kernel} + {a.initrd}, {a.vcpus} vCPU, {a.mem} MiB, "
          f"boot_args: {boot_args()}\n")
    print("| figure | VMM | median | min | max | runs |\n|---|---|---|---|---|---|")
    labels = [("first", "process start → guest user space (s)"),
              ("exit", "process start → exit after init's reboot (s)")]
    for key, label in labels:
        for name, _, _ in vmms:
            med, lo, hi, n = stats(res[name][key])
            print(f"| {label} | {name} | {med} | {lo} | {hi} | {n} |")
    if len(vmms) == 2 and res["brasa"]["first"] and res["QEMU microvm"]["first"]:
        ratio = statistics.median(res["brasa"]["first"]) / statistics.median(
            res["QEMU microvm"]["first"])
        print(f"| ratio brasa/QEMU: {labels[0][1]} | | {ratio:.2f} | | | |")


if __name__ == "__main__":
    main()
