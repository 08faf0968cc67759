"""brasa's boot timeline (--boot-timeline) in `make bench`: one start's phases, API and
config-file mode, and InstanceStart -> the guest's first output.

The phases and the line's format: docs/usage.md, "Boot timeline". Each run's values are
microseconds since brasa's main() began; the bench reports per-phase medians.
"""
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import time
from pathlib import Path

PHASES = ["api_ready", "instance_start", "kvm_ready", "kernel_loaded", "first_kvm_run", "guest"]
LINE = re.compile(r"Boot timeline \(us since exec\): (.*); set-up thread: done=(\d+|-) "
                  r"work=(\d+)")


def parse(log_text):
    """{phase: us or None, "setup_done": us or None, "setup_work": us} of the log's line, or
    None when it has none."""
    m = LINE.search(log_text)
    if not m:
        return None
    out = {}
    for tok in m.group(1).split():
        k, v = tok.split("=")
        out[k] = None if v == "-" else int(v)
    out["setup_done"] = None if m.group(2) == "-" else int(m.group(2))
    out["setup_work"] = int(m.group(3))
    return out


class _Conn(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def _put(conn, path, body):
    conn.request("PUT", path, json.dumps(body))
    r = conn.getresponse()
    r.read()
    if r.status != 204:
        raise RuntimeError(f"PUT {path}: {r.status}")


def api_start(brasa, guest, tmp, mem_mib, read_until, pause_s=0.0, timeout=20):
    """One API-mode start: boot-source, machine-config, then InstanceStart right away or
    after pause_s (a client that does other work in between). Returns (timeline, ms from
    sending InstanceStart to reading the guest's marker), or None when it failed."""
    sock, log = Path(tmp) / "api.sock", Path(tmp) / "brasa.log"
    p = subprocess.Popen([str(brasa), "--api-sock", str(sock), "--log-path", str(log),
                          "--boot-timeline"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while not sock.exists():
            if p.poll() is not None or time.monotonic() > deadline:
                return None
            time.sleep(0.0002)
        conn = _Conn(str(sock))
        _put(conn, "/boot-source", {"kernel_image_path": str(guest),
                                    "boot_args": "console=ttyS0"})
        _put(conn, "/machine-config", {"vcpu_count": 1, "mem_size_mib": mem_mib})
        time.sleep(pause_s)
        t0 = time.monotonic()
        _put(conn, "/actions", {"action_type": "InstanceStart"})
        seen = read_until(p, b"BRASA hello", time.monotonic() + timeout)
        conn.close()
        p.wait(timeout=timeout)
        if seen is None or p.returncode != 0:
            return None
        tl = parse(log.read_text())
        return (tl, (seen - t0) * 1000) if tl else None
    except (OSError, RuntimeError, subprocess.TimeoutExpired):
        return None
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def config_start(argv, tmp, timeout=20):
    """One --no-api --config-file start (argv already has --boot-timeline): its timeline."""
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       stdin=subprocess.DEVNULL, timeout=timeout)
    log = Path(tmp) / "brasa.log"
    return parse(log.read_text()) if p.returncode == 0 and log.exists() else None


def medians(timelines):
    """{key: median} over the runs that recorded it."""
    keys = PHASES + ["setup_done", "setup_work"]
    out = {}
    for k in keys:
        xs = [t[k] for t in timelines if t and t.get(k) is not None]
        out[k] = statistics.median(xs) if xs else None
    return out


def render(rows):
    """rows: [(mode label, runs, medians)] -> markdown lines."""
    out = ["Boot timeline of brasa (`--boot-timeline`, docs/usage.md): median microseconds "
           "since exec at which a start reached each phase; \"set-up thread\" is when the KVM "
           "set-up thread finished its last round and how long that round worked:", "",
           "| mode | runs | " + " | ".join(PHASES) + " | set-up thread done | set-up work |",
           "|---|---|" + "---|" * (len(PHASES) + 2)]
    for label, n, med in rows:
        cells = ["-" if med[k] is None else f"{med[k]:.0f}"
                 for k in PHASES + ["setup_done", "setup_work"]]
        out.append(f"| {label} | {n} | " + " | ".join(cells) + " |")
    return out


def chart(ax, rows):
    """Each mode's phases as steps on a time axis (ms since exec)."""
    for y, (label, _, med) in enumerate(rows):
        pts = [(k, med[k]) for k in PHASES if med[k] is not None]
        xs = [v / 1000 for _, v in pts]
        ax.plot(xs, [y] * len(xs), marker="o", color="#d9480f")
        for k, v in pts:
            ax.annotate(k, (v / 1000, y), fontsize=5, rotation=35,
                        xytext=(0, 4), textcoords="offset points")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r[0] for r in rows], fontsize=6)
    ax.set_ylim(-0.5, len(rows) - 0.3)
    ax.set_xlabel("ms since exec", fontsize=7)
    ax.set_title("brasa boot timeline\n(median per phase)", fontsize=8)
