#!/usr/bin/python3
"""Real-Linux boot benchmark: brasa vs QEMU microvm on the same kernel and initramfs.

Boots build/guest/vmlinux (PVH) with build/guest/initramfs.cpio N times under each VMM,
alternating them, and times process start -> the guest init's `BRASA linux` line (user space
reached) and process start -> the first byte on the console. For brasa it also times process
start -> exit (init reboots through the i8042); QEMU's microvm has no i8042, so QEMU is killed
once the line appears. brasa runs with --boot-timeline, whose line (written as brasa exits, so
read after it has exited) splits its start into the VMM's phases (exec -> instance_start ->
kvm_ready -> kernel_loaded -> first_kvm_run; the kernel and initrd are copied into guest RAM
before kvm_ready) and the guest's (-> first console byte -> user space). QEMU has no such
timeline: only what its console shows. Prints markdown tables.
--verbose-kernel boots without `quiet` (printk.time=1 instead) and also times the kernel's
console lines, to split the guest kernel's part; printing to the emulated 8250 then costs too.
Usage: bench/linux.py [--runs N] [--vcpus N] [--mem MIB] [--kernel vmlinux|bzImage]
                      [--initrd initramfs.cpio|initramfs.cpio.gz] [--verbose-kernel]
                      [--append WORDS] [--save-console DIR]
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import timeline

ROOT = Path(__file__).resolve().parents[1]
BRASA = Path(os.environ.get("BRASA_BUILD_DIR", ROOT / "build")) / "brasa"
GUEST = Path(os.environ.get("BRASA_GUEST_DIR", ROOT / "build" / "guest"))
PVM_HOST = Path("/sys/module/kvm_pvm").exists()
MARKER = b"BRASA linux "
# --verbose-kernel: console lines whose arrival this script times (key: the line's text).
KERNEL_MARKS = {"run_init": b"Run /init as init process"}
RUN_INIT_STAMP = re.compile(rb"\[\s*(\d+\.\d+)\] Run /init as init process")


def read_cmdline(name):
    text = (ROOT / "tools" / "guest" / name).read_text()
    return " ".join(l.strip() for l in text.splitlines() if l.strip() and not l.startswith("#"))


def boot_args(a):
    args = read_cmdline("cmdline")
    if a.verbose_kernel:
        args = " ".join("printk.time=1" if w == "quiet" else w for w in args.split())
    if a.append:
        args += " " + a.append
    return args + " " + read_cmdline("cmdline-pvm") if PVM_HOST else args


def brasa_cmd(tmp, a):
    cfg = {"boot-source": {"kernel_image_path": str(GUEST / a.kernel),
                           "initrd_path": str(GUEST / a.initrd),
                           "boot_args": boot_args(a)},
           "machine-config": {"vcpu_count": a.vcpus, "mem_size_mib": a.mem}}
    path = Path(tmp) / "vm.json"
    path.write_text(json.dumps(cfg))
    return [str(BRASA), "--no-api", "--config-file", str(path), "--log-path",
            str(Path(tmp) / "log"), "--boot-timeline"]


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
            "-append", boot_args(a)]


def time_run(cmd, wait_exit, timeout=120, save=None):
    """Returns {"byte": seconds to the first console byte, "first": to the marker, "exit": to
    the exit, KERNEL_MARKS' keys: to those lines (each None when not reached), "rc": the exit
    code, "run_init_stamp": the kernel's printk time of "Run /init" or None}. save: a path
    for the console up to the marker."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL)
    buf, out = b"", {"byte": None, "first": None, "exit": None, "rc": None}
    out.update({key: None for key in KERNEL_MARKS})
    try:
        while out["first"] is None and time.monotonic() - t0 < timeout:
            chunk = os.read(p.stdout.fileno(), 4096)
            if not chunk:
                break
            if out["byte"] is None:
                out["byte"] = time.monotonic() - t0
            buf += chunk
            for key, text in KERNEL_MARKS.items():
                if out.get(key) is None and text in buf:
                    out[key] = time.monotonic() - t0
            if MARKER in buf:
                out["first"] = time.monotonic() - t0
        m = RUN_INIT_STAMP.search(buf)
        if save:
            Path(save).write_bytes(buf)
        out["run_init_stamp"] = float(m.group(1)) if m else None
        if out["first"] is None or not wait_exit:
            p.kill()
            p.wait()
            out["rc"] = p.returncode
            return out
        while os.read(p.stdout.fileno(), 4096):
            pass
        p.wait(timeout=timeout)
        out["exit"], out["rc"] = time.monotonic() - t0, p.returncode
        return out
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def brasa_timeline(tmp, run):
    """The --boot-timeline of a brasa run that exited 0 (the line is written at exit), or
    None."""
    log = Path(tmp) / "log"
    if run["rc"] != 0 or not log.exists():
        return None
    return timeline.parse(log.read_text())


def stats(xs, fmt=".2f"):
    if not xs:
        return "n/a", "", "", 0
    return (format(statistics.median(xs), fmt), format(min(xs), fmt), format(max(xs), fmt),
            len(xs))


def _tl_ms(a, b):
    """Milliseconds between two --boot-timeline phases of a run (exec when a is None)."""
    def f(run):
        tl = run["tl"]
        if not tl or tl.get(b) is None or (a and tl.get(a) is None):
            return None
        return (tl[b] - (tl[a] if a else 0)) / 1000
    return f


def _py_ms(a, b):
    """Milliseconds between two moments this script saw (process start when a is None)."""
    def f(run):
        if run[b] is None or (a and run[a] is None):
            return None
        return (run[b] - (run[a] if a else 0)) * 1000
    return f


# (phase, whose time it is, brasa's figure, QEMU's figure or None: QEMU has no timeline).
PHASE_ROWS = [
    ("exec → instance_start (flags, the config file)", "VMM",
     _tl_ms(None, "instance_start"), None),
    ("instance_start → kvm_ready (vmlinux and initrd copied into guest RAM while the set-up "
     "thread makes the VM, its slots and vCPUs)", "VMM",
     _tl_ms("instance_start", "kvm_ready"), None),
    ("kvm_ready → kernel_loaded (devices, command line, PVH start info, MP table, page "
     "tables)", "VMM", _tl_ms("kvm_ready", "kernel_loaded"), None),
    ("kernel_loaded → first_kvm_run (legacy devices, vCPU registers, vCPU thread)", "VMM",
     _tl_ms("kernel_loaded", "first_kvm_run"), None),
    ("first_kvm_run → the guest's first console byte (timeline `guest`)", "guest",
     _tl_ms("first_kvm_run", "guest"), None),
    ("first console byte → user space (init's line), both on stdout", "guest",
     _py_ms("byte", "first"), _py_ms("byte", "first")),
    ("exec → first_kvm_run, all of the VMM's part (timeline)", "VMM",
     _tl_ms(None, "first_kvm_run"), None),
    ("process start → first console byte on stdout", "both", _py_ms(None, "byte"),
     _py_ms(None, "byte")),
    ("process start → user space (init's line on stdout)", "both", _py_ms(None, "first"),
     _py_ms(None, "first")),
]


def _s(key):
    return lambda run: run[key]


# --verbose-kernel: the guest kernel's part, seen on the console (seconds).
KERNEL_ROWS = [
    ("process start → first console byte (the 8250 console registers in start_kernel and "
     "prints the log so far)", _s("byte")),
    ("process start → `Run /init as init process` (the kernel's own boot is done)",
     _s("run_init")),
    ("the kernel's printk clock at `Run /init as init process`", _s("run_init_stamp")),
    ("`Run /init` → init's line (init's mount and awk, user space)",
     lambda r: None if r["run_init"] is None or r["first"] is None
     else r["first"] - r["run_init"]),
    ("process start → user space (init's line)", _s("first")),
]


def print_kernel(res, vmms):
    print("\nThe guest kernel's part on its console (s, median [min–max]; --verbose-kernel: "
          "`quiet` replaced by `printk.time=1`):\n")
    print("| moment | " + " | ".join(n for n, _, _ in vmms) + " |\n|---|" + "---|" * len(vmms))
    for label, f in KERNEL_ROWS:
        cells = []
        for name, _, _ in vmms:
            med, lo, hi, n = stats([x for x in map(f, res[name]) if x is not None])
            cells.append(med if n == 0 else f"{med} [{lo}–{hi}]")
        print(f"| {label} | " + " | ".join(cells) + " |")


def run_all(a, vmms):
    """Each VMM a.runs times, alternating: {name: [time_run()'s dict + "tl"]}."""
    res = {name: [] for name, _, _ in vmms}
    for i in range(a.runs):
        for name, mk, can_exit in vmms:
            save = None
            if a.save_console:
                save = Path(a.save_console) / f"{name.split()[0].lower()}-{i + 1}.txt"
            with tempfile.TemporaryDirectory() as tmp:
                run = time_run(mk(tmp, a), can_exit, save=save)
                run["tl"] = brasa_timeline(tmp, run) if name == "brasa" else None
            res[name].append(run)
            print(f"{name}: {run}", file=sys.stderr)  # each run's raw figures, for the record
    return res


def print_totals(res, vmms):
    print("| figure | VMM | median | min | max | runs |\n|---|---|---|---|---|---|")
    labels = [("byte", "process start → first console byte (s)"),
              ("first", "process start → guest user space (s)"),
              ("exit", "process start → exit after init's reboot (s)")]
    for key, label in labels:
        for name, _, _ in vmms:
            xs = [r[key] for r in res[name]
                  if r[key] is not None and (key != "exit" or r["rc"] == 0)]
            med, lo, hi, n = stats(xs)
            print(f"| {label} | {name} | {med} | {lo} | {hi} | {n} |")
    firsts = {name: [r["first"] for r in res[name] if r["first"] is not None]
              for name, _, _ in vmms}
    if len(vmms) == 2 and firsts["brasa"] and firsts["QEMU microvm"]:
        ratio = statistics.median(firsts["brasa"]) / statistics.median(firsts["QEMU microvm"])
        print(f"| ratio brasa/QEMU: {labels[1][1]} | | {ratio:.2f} | | | |")


def print_phases(res, vmms):
    qemu = res.get("QEMU microvm")
    tls = sum(r["tl"] is not None for r in res["brasa"])
    print(f"\nWhere the time goes (ms, median [min–max] over the runs; brasa's VMM phases "
          f"from its --boot-timeline, {tls} of {len(res['brasa'])} runs; QEMU has no boot "
          "timeline, so only what its console shows):\n")
    print("| phase | whose | brasa | QEMU microvm |\n|---|---|---|---|")
    for label, whose, fb, fq in PHASE_ROWS:
        cells = []
        for runs, f in ((res["brasa"], fb), (qemu, fq)):
            xs = [x for x in map(f, runs) if x is not None] if f and runs else []
            med, lo, hi, n = stats(xs, ".3f" if whose == "VMM" else ".1f")
            cells.append("—" if not f or not runs else
                         med if n == 0 else f"{med} [{lo}–{hi}]")
        print(f"| {label} | {whose} | {cells[0]} | {cells[1]} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--vcpus", type=int, default=1)
    ap.add_argument("--mem", type=int, default=256)
    ap.add_argument("--kernel", default="vmlinux", choices=["vmlinux", "bzImage"])
    ap.add_argument("--initrd", default="initramfs.cpio",
                    choices=["initramfs.cpio", "initramfs.cpio.gz"])
    ap.add_argument("--verbose-kernel", action="store_true",
                    help="boot without `quiet`, with printk.time=1, and time the kernel's "
                         "console lines (the console's cost then counts too)")
    ap.add_argument("--append", metavar="WORDS", default="",
                    help="more kernel command-line words, for both VMMs")
    ap.add_argument("--save-console", metavar="DIR",
                    help="keep each run's console up to init's line in DIR/<vmm>-<run>.txt")
    a = ap.parse_args()
    if a.save_console:
        os.makedirs(a.save_console, exist_ok=True)
    vmms = [("brasa", brasa_cmd, True)]
    if shutil.which("qemu-system-x86_64"):
        vmms.append(("QEMU microvm", qemu_cmd, False))
    res = run_all(a, vmms)
    print(f"Date: {datetime.date.today()}  Host: {platform.node()} ({os.cpu_count()} CPUs, "
          f"kernel {platform.release()}, kvm_pvm: {'yes' if PVM_HOST else 'no'})")
    print(f"Guest: {a.kernel} + {a.initrd}, {a.vcpus} vCPU, {a.mem} MiB, "
          f"boot_args: {boot_args(a)}\n")
    print_totals(res, vmms)
    print_phases(res, vmms)
    if a.verbose_kernel:
        print_kernel(res, vmms)


if __name__ == "__main__":
    main()
