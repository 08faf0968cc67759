#!/usr/bin/python3
"""brasa against QEMU microvm, side by side: boot, memory, creation rate, idle density, device cost.

Run through `make bench`. Each figure alternates the two VMMs (A B A B) in one
session; only the ratios of one run mean anything on a shared, noisy machine.
Writes the results into docs/benchmarks.md (between the bench markers) and
docs/benchmarks.png. Every run must reach its marker; failed runs are reported
and never averaged in.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import devices
import timeline

ROOT = Path(__file__).resolve().parents[1]
BRASA = ROOT / "build" / "brasa"
GUEST = ROOT / "build" / "guest-tests" / "pvh.elf"
DOC = ROOT / "docs" / "benchmarks.md"
CHART = ROOT / "docs" / "benchmarks.png"
MEM_MIB = 128
# A client that does something between machine-config and InstanceStart (drives, network,
# its own bookkeeping): enough for the KVM set-up thread to be done.
API_PAUSE_S = 0.05

# Firecracker's published figures (SPECIFICATION.md); not measured here.
PUBLISHED = {
    "boot_to_init_ms": 125.0,
    "overhead_mib": 5.0,
    "api_cpu_ms": 8.0,
    "vms_per_core_s": 5.0,
}


class Vmm:
    """How to start one monitor on the test guest."""

    def __init__(self, name, ok_exit):
        self.name = name
        self.ok_exit = ok_exit

    def argv(self, tmp, boot_args):
        raise NotImplementedError

    def env(self, tmp):
        """The environment to start it with (None: this process's)."""
        return None

    def proc_name(self):
        raise NotImplementedError


def pick(guests, boot_args):
    """The bare bench guest for boot_args (idle or quick), or the test guest without them."""
    if guests is None:
        return GUEST
    return guests["idle" if "brasa.idle" in boot_args else "quick"]


class Brasa(Vmm):
    def __init__(self, guests=None):
        super().__init__("brasa", 0)
        self.guests = guests  # None: the test guest (pvh.elf), which reads boot_args

    def argv(self, tmp, boot_args, extra=()):
        cfg = {"boot-source": {"kernel_image_path": str(pick(self.guests, boot_args)),
                               "boot_args": boot_args},
               "machine-config": {"vcpu_count": 1, "mem_size_mib": MEM_MIB}}
        path = Path(tmp) / "vm.json"
        path.write_text(json.dumps(cfg))
        return [str(BRASA), "--no-api", "--config-file", str(path), "--log-path",
                str(Path(tmp) / "brasa.log"), *extra]

    def command_text(self):
        return ("build/brasa --no-api --config-file vm.json --log-path brasa.log "
                f"(bench-guest/pvh-*.elf, 1 vCPU, {MEM_MIB} MiB)")

    def proc_name(self):
        return "brasa"


class Qemu(Vmm):
    def __init__(self, guests=None):
        super().__init__("QEMU microvm", 1)  # isa-debug-exit: (0 << 1) | 1
        self.guests = guests

    def argv(self, tmp, boot_args, extra=()):
        return ["qemu-system-x86_64", "-M", "microvm,x-option-roms=off,rtc=off,acpi=off",
                "-enable-kvm", "-m", str(MEM_MIB), "-smp", "1", "-nodefaults",
                "-no-user-config", "-nographic", "-serial", "stdio",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                "-kernel", str(pick(self.guests, boot_args)), "-append", boot_args]

    def command_text(self):
        return ("qemu-system-x86_64 -M microvm,x-option-roms=off,rtc=off,acpi=off -enable-kvm "
                f"-m {MEM_MIB} -smp 1 -nodefaults -no-user-config -nographic -serial stdio "
                "-device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel bench-guest/pvh-*.elf "
                "-append …")

    def proc_name(self):
        return "qemu-system-x86"


class Lkvm(Vmm):
    """kvmtool (not in Debian: built from its source, see docs/benchmarks.md). It boots the
    same marker-and-reset guest as a flat real-mode binary (bench/guest/flat.S)."""

    def __init__(self, binary, guests):
        super().__init__("kvmtool", 0)
        self.binary, self.guests = binary, guests

    def argv(self, tmp, boot_args, extra=()):
        guest = self.guests["idle" if "brasa.idle" in boot_args else "quick"]
        return [self.binary, "run", "--kernel", str(guest), "-m", str(MEM_MIB), "-c", "1",
                "--console", "serial", "--network", "mode=none", "--nodefaults", *extra]

    def env(self, tmp):
        # kvmtool keeps a control socket per VM in $HOME/.lkvm; a private HOME per run
        # leaves nothing behind. LKVM_SKIP_VM_CHECK: the one-line patch that lets it start
        # on a host without VMX/SVM in /proc/cpuinfo (kvm_pvm); a no-op elsewhere.
        return {**os.environ, "HOME": str(tmp), "LKVM_SKIP_VM_CHECK": "1"}

    def command_text(self):
        return (f"lkvm run --kernel flat.bin -m {MEM_MIB} -c 1 --console serial "
                "--network mode=none --nodefaults")

    def proc_name(self):
        return "lkvm"


def build_bench_guests(out_dir):
    """Assembles the bare bench guests (bench/guest/): a PVH ELF for brasa and QEMU and a
    flat real-mode binary for kvmtool, each in a quick (marker, reset) and an idle (marker,
    hlt) build, into out_dir. Returns {"pvh": {kind: path}, "flat": {kind: path}}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    guests = {"pvh": {}, "flat": {}}
    for kind, defs in (("quick", []), ("idle", ["-DIDLE"])):
        for fmt_, src, cc, link in (
                ("pvh", "pvh.S", [], ["ld", "-m", "elf_x86_64", "-N", "-Ttext=0x100000",
                                      "-e", "pvh_start32", "--build-id=none",
                                      "--no-warn-rwx-segments", "-z", "noexecstack"]),
                ("flat", "flat.S", ["-m32"], None)):
            obj = out_dir / f"{fmt_}-{kind}.o"
            out = out_dir / (f"{fmt_}-{kind}.elf" if link else f"{fmt_}-{kind}.bin")
            subprocess.run(["gcc", *cc, "-c", *defs, "-o", str(obj),
                            str(ROOT / "bench" / "guest" / src)], check=True)
            if link:
                subprocess.run([*link, "-o", str(out), str(obj)], check=True)
            else:
                subprocess.run(["objcopy", "-O", "binary", "-j", ".text", str(obj), str(out)],
                               check=True)
            guests[fmt_][kind] = out
    return guests


def own_children():
    """PIDs of this process's live children (every VMM we start must be gone at the end)."""
    kids = []
    for tid in os.listdir(f"/proc/{os.getpid()}/task"):
        text = Path(f"/proc/{os.getpid()}/task/{tid}/children").read_text().split()
        kids += [int(k) for k in text]
    return kids


def read_until(proc, marker, deadline):
    """Reads proc's stdout until marker; returns the time it appeared, or None."""
    buf = b""
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            chunk = None
        if chunk:
            buf += chunk
            if marker in buf:
                return time.monotonic()
        elif chunk == b"" or proc.poll() is not None:
            if marker in buf:
                return time.monotonic()
            return None
        else:
            time.sleep(0.0005)
    return None


def drain(proc):
    try:
        while os.read(proc.stdout.fileno(), 65536):
            pass
    except BlockingIOError:
        pass


def one_boot(vmm, tmp, boot_args="console=ttyS0 brasa.quick", timeout=20):
    """start → first output and start → exit, or None on failure."""
    t0 = time.monotonic()
    p = subprocess.Popen(vmm.argv(tmp, boot_args), stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=vmm.env(tmp))
    first = read_until(p, b"BRASA hello", t0 + timeout)
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None
    t_exit = time.monotonic()
    if first is None or p.returncode != vmm.ok_exit:
        return None
    return (first - t0) * 1000, (t_exit - t0) * 1000


def smaps_rss_kib(pid, keep):
    """RSS in KiB of the mappings of pid whose size in bytes keep(size) accepts."""
    total, size = 0, 0
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+$", parts[0]):
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                size = hi - lo
            elif parts[0] == "Rss:" and keep(size):
                total += int(parts[1])
    return total


def overhead_kib(pid, guest_bytes):
    """RSS of every mapping except guest RAM (Firecracker's method), in KiB."""
    return smaps_rss_kib(pid, lambda size: size < guest_bytes)


def one_memory(vmm, tmp, timeout=20):
    p = subprocess.Popen(vmm.argv(tmp, "console=ttyS0 brasa.idle"), stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=vmm.env(tmp))
    try:
        if read_until(p, b"BRASA idle", time.monotonic() + timeout) is None:
            return None
        time.sleep(0.1)
        return overhead_kib(p.pid, MEM_MIB << 20) / 1024
    finally:
        p.kill()
        p.wait()


class Figure:
    def __init__(self, key, label, unit, published=None):
        self.key, self.label, self.unit, self.published = key, label, unit, published
        self.samples = {}
        self.failed = {}
        self.note = ""

    def add(self, vmm, value):
        if value is None:
            self.failed[vmm] = self.failed.get(vmm, 0) + 1
        else:
            self.samples.setdefault(vmm, []).append(value)


def alternate(vmms, runs, fn):
    """Runs fn(vmm, tmp) as A B A B …; returns {name: [results]}."""
    out = {v.name: [] for v in vmms}
    for _ in range(runs):
        for v in vmms:
            with tempfile.TemporaryDirectory() as tmp:
                out[v.name].append(fn(v, tmp))
    return out


def bench_boot(vmms, runs, figs):
    res = alternate(vmms, runs, one_boot)
    for name, rs in res.items():
        for r in rs:
            figs["first"].add(name, r[0] if r else None)
            figs["exit"].add(name, r[1] if r else None)


def bench_memory(vmms, runs, figs):
    for name, rs in alternate(vmms, runs, one_memory).items():
        for r in rs:
            figs["mem"].add(name, r)


def boot_timer_us(tmp):
    vmm = Brasa()
    argv = vmm.argv(tmp, "console=ttyS0 brasa.quick brasa.boottimer", ("--boot-timer",))
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       stdin=subprocess.DEVNULL, timeout=20)
    m = re.search(r"Guest-boot-time = +(\d+) us", (Path(tmp) / "brasa.log").read_text())
    return int(m.group(1)) / 1000 if (m and p.returncode == 0) else None


def proc_cpu_ms(pid):
    """CPU time of every thread of pid, from schedstat (ns; /proc/PID/stat only has ticks)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
    return total / 1e6


def api_ready(tmp, timeout=5):
    """exec → API socket accepting: (wall ms, process CPU ms), or None without an API."""
    sock = Path(tmp) / "api.sock"
    t0 = time.monotonic()
    p = subprocess.Popen([str(BRASA), "--api-sock", str(sock), "--log-path",
                          str(Path(tmp) / "log")], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        while time.monotonic() - t0 < timeout and p.poll() is None:
            if sock.exists():
                s = socket.socket(socket.AF_UNIX)
                try:
                    s.connect(str(sock))
                    wall = (time.monotonic() - t0) * 1000
                    return wall, proc_cpu_ms(p.pid)
                except OSError:
                    pass
                finally:
                    s.close()
            time.sleep(0.0002)
        return None
    finally:
        p.kill()
        p.wait()


def bench_brasa_only(runs, figs, guests):
    """The brasa-only figures; returns the boot-timeline rows (timeline.render())."""
    api_tls, paused_tls, cfg_tls = [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            figs["bt"].add("brasa", boot_timer_us(tmp))
        with tempfile.TemporaryDirectory() as tmp:
            r = api_ready(tmp)
        figs["api_wall"].add("brasa", r[0] if r else None)
        figs["api_cpu"].add("brasa", r[1] if r else None)
        with tempfile.TemporaryDirectory() as tmp:
            r = timeline.api_start(BRASA, guests["quick"], tmp, MEM_MIB, read_until)
        api_tls.append(r[0] if r else None)
        figs["is_api"].add("brasa", (r[0]["guest"] - r[0]["instance_start"]) / 1000
                           if r else None)
        figs["is_api_ext"].add("brasa", r[1] if r else None)
        with tempfile.TemporaryDirectory() as tmp:
            r = timeline.api_start(BRASA, guests["quick"], tmp, MEM_MIB, read_until,
                                   pause_s=API_PAUSE_S)
        paused_tls.append(r[0] if r else None)
        figs["is_api_paused"].add("brasa", (r[0]["guest"] - r[0]["instance_start"]) / 1000
                                  if r else None)
        with tempfile.TemporaryDirectory() as tmp:
            argv = Brasa(guests).argv(tmp, "console=ttyS0 brasa.quick", ("--boot-timeline",))
            cfg_tls.append(timeline.config_start(argv, tmp))
    return [("API, InstanceStart right after machine-config",
             sum(t is not None for t in api_tls), timeline.medians(api_tls)),
            (f"API, InstanceStart {API_PAUSE_S * 1000:.0f} ms after machine-config",
             sum(t is not None for t in paused_tls), timeline.medians(paused_tls)),
            ("config file (`--no-api --config-file`)", sum(t is not None for t in cfg_tls),
             timeline.medians(cfg_tls))]


def creation_rate(vmm, count, parallel):
    """microVMs per second, each going start → output → exit; None if any failed."""
    def start():
        tmp = tempfile.mkdtemp()
        p = subprocess.Popen(vmm.argv(tmp, "console=ttyS0 brasa.quick"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL, env=vmm.env(tmp))
        return p, tmp

    t0 = time.monotonic()
    running, done, ok = [], 0, True
    while done < count:
        while len(running) < parallel and done + len(running) < count:
            running.append(start())
        p, tmp = running.pop(0)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a hung VMM fails the round, not the bench
            p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        ok &= p.returncode == vmm.ok_exit
        done += 1
    return count / (time.monotonic() - t0) if ok else None


def bench_rate(vmms, rounds, count, figs):
    for par, key in ((1, "rate1"), (2, "rate2")):
        for name, rs in alternate(vmms, rounds,
                                  lambda v, tmp: creation_rate(v, count, par)).items():
            for r in rs:
                figs[key].add(name, r)


def idle_fleet(vmm, n, timeout=180):
    """Starts n idle microVMs at once: (how many came up, host MiB per VM as mean PSS)."""
    procs, tmps = [], []
    try:
        for _ in range(n):
            tmp = tempfile.mkdtemp()
            tmps.append(tmp)
            procs.append(subprocess.Popen(vmm.argv(tmp, "console=ttyS0 brasa.idle"),
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                          stdin=subprocess.DEVNULL, env=vmm.env(tmp)))
        deadline = time.monotonic() + timeout
        up = sum(read_until(p, b"BRASA idle", deadline) is not None for p in procs)
        time.sleep(0.5)
        # PSS splits shared pages (the binary, libraries) fairly between the processes,
        # so the sum is what the fleet costs the host, guest RAM it touched included.
        per_vm = sum(pss_kib(p.pid) for p in procs) / 1024 / n
        return up, per_vm
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()
        for t in tmps:
            shutil.rmtree(t, ignore_errors=True)


def pss_kib(pid):
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def bench_fleet(vmms, sizes):
    rows = []
    for n in sizes:
        for v in vmms:
            if v.name != "brasa" and n > 100:
                rows.append((n, v.name, None, None,
                             f"skipped: {n} of them would not fit this shared machine"))
                continue
            up, per_vm = idle_fleet(v, n)
            rows.append((n, v.name, up, per_vm, "" if up == n else "NOT all came up"))
    return rows


def stats(xs):
    if not xs:
        return None
    return statistics.median(xs), min(xs), max(xs), len(xs)


def fmt(x):
    return "n/a" if x is None else (f"{x:.2f}" if abs(x) < 1000 else f"{x:.0f}")


def render(figs, fleet_rows, vmms, args, elapsed, procs_ok, tl_rows):
    names = [v.name for v in vmms]
    out = ["<!-- bench:begin (generated by `make bench`; do not edit by hand) -->",
           "## Side by side: " + ", ".join(names) + " (`make bench`)", "",
           f"- Date: {datetime.datetime.now():%Y-%m-%d %H:%M}; machine: {platform.node()}, "
           f"{os.cpu_count()} CPUs, {round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB, "
           f"kernel {platform.release()}, /dev/kvm = "
           f"{'kvm_pvm (software-based, nested)' if os.path.exists('/sys/module/kvm_pvm') else 'hardware KVM'}",
           command_line(args)
           + f"{args.runs} runs per VMM per figure ({args.device_runs} for device cost), "
           f"{elapsed:.0f} s in all; the VMMs alternate A B A B in every figure.",
           f"- brasa: `{vmms[0].command_text()}`"]
    for v in vmms[1:]:
        out.append(f"- {v.name}: `{v.command_text()}`")
    if args.device_runs:
        out += devices.command_lines()
        out.append("- Device cost is host CPU time per unit of guest I/O, from "
                   "`/proc/PID/task/TID/schedstat` (on-CPU ns) read at the guest's start and done "
                   "lines. \"VMM thread\" is the thread with TID = PID: brasa's main thread (its "
                   "epoll loop runs every device) and QEMU's main-loop thread (virtio-mmio notifies "
                   "reach it through ioeventfd; its virtqueue handling, tap back end and block completions "
                   "run there; `-name debug-threads=on` names its vCPU thread). \"All non-vCPU "
                   "threads\" adds every other thread but the vCPUs (and KVM's kernel threads): "
                   "QEMU's aio=threads `worker` threads do its block reads, brasa (io_engine Sync) "
                   "does them on its VMM thread. A device run's marker is the guest's done line "
                   "with every request OK; the VMM is then stopped with SIGTERM.")
    out += ["- Guest: the same bare guest in every VMM (bench/guest/: a PVH ELF for brasa and "
            "QEMU, a flat real-mode binary for kvmtool): it prints `BRASA hello` on COM1 and "
            "resets through the i8042, or (memory figures) prints `BRASA idle` and sleeps in "
            "`hlt`. The boot-timer figure uses the test guest `build/guest-tests/pvh.elf` "
            "(`brasa.quick brasa.boottimer`).",
            f"- Sanity: every run must reach its marker and exit as expected; failed runs are "
            f"counted, never averaged in. Every VMM process started was reaped at the end: "
            f"{'yes' if procs_ok else 'NO'}.", "",
            "| figure | VMM | median | min | max | runs | failed | "
            + "".join(f"brasa/{p} | " for p in names[1:])
            + "Firecracker (published, not measured here) |",
            "|---|---|---|---|---|---|---|" + "---|" * len(names[1:]) + "---|"]
    for f in figs.values():
        bases = {p: stats(f.samples.get(p, [])) for p in names[1:]}
        for name in names:
            if name not in f.samples and name not in f.failed:
                continue
            s = stats(f.samples.get(name, []))
            ratios = ""
            for p in names[1:]:
                base = bases[p]
                ratios += (f"{s[0] / base[0]:.2f} | " if name == "brasa" and s and base
                           and base[0] else " | ")
            pub = f"{f.published}" if f.published is not None and name == "brasa" else ""
            med, lo, hi, n = s if s else (None, None, None, 0)
            out.append(f"| {f.label} ({f.unit}) | {name} | {fmt(med)} | {fmt(lo)} | {fmt(hi)} | "
                       f"{n} | {f.failed.get(name, 0)} | {ratios}{pub} |")
    out += [""] + timeline.render(tl_rows)
    out += ["", "Idle microVMs started at once (host memory per VM = the processes' summed PSS / N, "
            "guest RAM they touched included):", "",
            "| N | VMM | came up | host MiB per VM | note |", "|---|---|---|---|---|"]
    for n, name, up, per_vm, note in fleet_rows:
        out.append(f"| {n} | {name} | {'n/a' if up is None else f'{up}/{n}'} | {fmt(per_vm)} | {note} |")
    out += ["", "Not measured by `make bench`: the real-Linux boot to init (minutes per boot on "
            "kvm_pvm; see the hand-written section above).",
            "", "![brasa vs QEMU microvm](benchmarks.png)", "<!-- bench:end -->"]
    return "\n".join(out)


def command_line(args):
    """The doc's Command item: `make bench` (with LKVM=) when run with the defaults."""
    rest = [a for a in sys.argv[1:] if a not in ("--lkvm", args.lkvm, "--no-qemu")]
    if not rest:
        return ("- Command: `make bench" + (f" LKVM={args.lkvm}" if args.lkvm else "")
                + (" NO_QEMU=1" if args.no_qemu else "")
                + "` (= `/usr/bin/python3 bench/bench.py " + " ".join(sys.argv[1:]) + "`), ")
    return (f"- Command: `/usr/bin/python3 bench/bench.py {' '.join(sys.argv[1:])}` (a reduced "
            "pass, not the default `make bench`), ")


def write_doc(section):
    text = DOC.read_text() if DOC.exists() else "# brasa benchmarks\n"
    begin, end = "<!-- bench:begin", "<!-- bench:end -->"
    if begin in text and end in text:
        a = text.index(begin)
        b = text.index(end) + len(end)
        text = text[:a] + section + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(text)


def chart(figs, fleet_rows, names, tl_rows):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [f for f in figs.values() if f.samples]
    cols = 4
    rows = (len(shown) + 2 + cols - 1) // cols
    fig, grid = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.6 * rows), squeeze=False)
    axes = list(grid.flat)
    for spare in axes[len(shown) + 2:]:
        spare.axis("off")
    timeline.chart(axes[len(shown) + 1], tl_rows)
    colors = {"brasa": "#d9480f", "QEMU microvm": "#1971c2", "kvmtool": "#2f9e44"}
    for ax, f in zip(axes, shown):
        labels = [n for n in names if f.samples.get(n)]
        meds = [statistics.median(f.samples[n]) for n in labels]
        ax.bar(labels, meds, color=[colors.get(n, "grey") for n in labels])
        if f.published is not None:
            ax.axhline(f.published, color="black", linestyle="--", linewidth=1)
            ax.text(0.02, f.published, "Firecracker (published)", fontsize=7,
                    va="bottom", transform=ax.get_yaxis_transform())
        ax.set_title(f"{f.label}\n({f.unit}, median)", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    ax = axes[len(shown)]
    for name in names:
        pts = [(n, v) for n, nm, up, v, _ in fleet_rows if nm == name and v is not None]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name,
                    color=colors.get(name, "grey"))
    ax.set_xscale("log")
    ax.set_title("idle microVMs:\nhost MiB per VM vs N", fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(CHART, dpi=110)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--rate-count", type=int, default=20, help="microVMs per creation-rate round")
    ap.add_argument("--rate-rounds", type=int, default=3)
    ap.add_argument("--fleet", default="10,100,1000")
    ap.add_argument("--device-runs", type=int, default=None,
                    help="runs per VMM of each device-cost case (default: --runs; 0 skips)")
    ap.add_argument("--build", default=str(ROOT / "build"), help="brasa build directory")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--lkvm", default=os.environ.get("LKVM"),
                    help="a kvmtool binary (lkvm) to compare with (default: $LKVM)")
    ap.add_argument("--no-qemu", action="store_true",
                    help="leave QEMU out even when it is installed (make bench NO_QEMU=1)")
    args = ap.parse_args()
    if args.device_runs is None:
        args.device_runs = args.runs
    global BRASA, GUEST
    BRASA = Path(args.build) / "brasa"
    GUEST = Path(args.build) / "guest-tests" / "pvh.elf"
    if not BRASA.exists() or not GUEST.exists():
        sys.exit("build first: tools/build.sh")
    guests = build_bench_guests(Path(args.build) / "bench-guest")
    vmms = [Brasa(guests["pvh"])]
    if args.no_qemu:
        print("bench: --no-qemu: no QEMU figures", file=sys.stderr)
    elif shutil.which("qemu-system-x86_64"):
        vmms.append(Qemu(guests["pvh"]))
    else:
        print("bench: qemu-system-x86_64 not found; no QEMU figures", file=sys.stderr)
    if args.lkvm:
        vmms.insert(1, Lkvm(args.lkvm, guests["flat"]))
    names = [v.name for v in vmms]
    figs = {
        "first": Figure("first", "process start → first guest output", "ms"),
        "exit": Figure("exit", "process start → exit after guest reset", "ms"),
        "mem": Figure("mem", "VMM RSS minus guest RAM, 1 vCPU/128 MiB", "MiB",
                      PUBLISHED["overhead_mib"]),
        "bt": Figure("bt", "InstanceStart → guest boot-timer write", "ms",
                     PUBLISHED["boot_to_init_ms"]),
        "is_api": Figure("is_api", "InstanceStart → guest's first output, API, requests "
                         "back to back (boot timeline)", "ms"),
        "is_api_ext": Figure("is_api_ext", "PUT InstanceStart sent → guest marker read, API, "
                             "requests back to back", "ms"),
        "is_api_paused": Figure("is_api_paused", "InstanceStart → guest's first output, API, "
                                f"InstanceStart {API_PAUSE_S * 1000:.0f} ms after "
                                "machine-config (boot timeline)", "ms"),
        "api_wall": Figure("api_wall", "exec → API socket ready, wall", "ms"),
        "api_cpu": Figure("api_cpu", "exec → API socket ready, CPU", "CPU ms",
                          PUBLISHED["api_cpu_ms"]),
        "rate1": Figure("rate1", "creation rate, 1 at a time", "VMs/s",
                        PUBLISHED["vms_per_core_s"] * (os.cpu_count() or 1)),
        "rate2": Figure("rate2", "creation rate, 2 at a time", "VMs/s",
                        PUBLISHED["vms_per_core_s"] * (os.cpu_count() or 1)),
    }
    if args.device_runs:
        for key, label, unit in devices.figures():
            figs[key] = Figure(key, label, unit)
    t0 = time.monotonic()
    print("bench: boot times", flush=True)
    bench_boot(vmms, args.runs, figs)
    print("bench: memory overhead", flush=True)
    bench_memory(vmms, args.runs, figs)
    print("bench: brasa-only figures", flush=True)
    tl_rows = bench_brasa_only(args.runs, figs, guests["pvh"])
    print("bench: creation rate", flush=True)
    bench_rate(vmms, args.rate_rounds, args.rate_count, figs)
    print("bench: idle fleets", flush=True)
    fleet_rows = bench_fleet(vmms, [int(x) for x in args.fleet.split(",")])
    if args.device_runs:
        print("bench: device cost", flush=True)
        devices.run_all([n for n in names if n != "kvmtool"], str(Path(args.build)),
                        args.device_runs,
                        lambda key, name, value: figs[key].add(name, value))
    elapsed = time.monotonic() - t0
    time.sleep(0.5)
    procs_ok = not own_children()
    section = render(figs, fleet_rows, vmms, args, elapsed, procs_ok, tl_rows)
    print(section)
    if not args.no_write:
        write_doc(section)
        chart(figs, fleet_rows, names, tl_rows)
        print(f"bench: wrote {DOC} and {CHART}")
    return 0 if procs_ok else 1


if __name__ == "__main__":
    sys.exit(main())
