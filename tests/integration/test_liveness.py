"""Liveness under a hostile guest (issue 17): a guest that queues the most block work it can
(brasa.blk.hostile=hog) never keeps brasa from answering the API or ending on SIGTERM, and a
console nobody reads (stdout a full pipe) never keeps brasa from ending either."""
import fcntl
import json
import os
import signal
import subprocess
import termios
import threading
import time

import pytest

from api_schema import SPEC
from conftest import BRASA, KERNELS, ApiVm

pytestmark = pytest.mark.kvm

# The bound for GET / while the guest hogs the block device. This machine is a nested,
# shared kvm_pvm host: a request is asserted to answer within API_ANSWER_S (generous, it must
# answer at all) and the slowest one is recorded; the 100 ms target is checked on the median.
API_TARGET_S = 0.1
API_ANSWER_S = 1.0
EXIT_S = 5.0


def wait_file(path, pattern, timeout=30, count=1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(pattern) >= count:
            return
        time.sleep(0.02)
    text = path.read_bytes()[-2000:] if path.exists() else b""
    raise AssertionError(f"{pattern!r} x{count} never reached {path}: {text!r}")


def boot_hog(tmp_path, descs, engine):
    disk = tmp_path / "hog.img"
    with open(disk, "wb") as f:
        f.truncate(8 << 30)  # sparse, larger than a 4 GiB request: only guest RAM bounds it
    vm = ApiVm(tmp_path, validate=SPEC.validate)
    console, metrics = tmp_path / "console.out", tmp_path / "metrics.json"
    args = f"console=ttyS0 brasa.blk.hostile=hog brasa.blk.hogdescs={descs}"
    assert vm.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                   "boot_args": args}).status == 204
    assert vm.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 64}).status == 204
    assert vm.put("/drives/hog", {"drive_id": "hog", "path_on_host": str(disk),
                                  "is_root_device": False, "is_read_only": True,
                                  "io_engine": engine}).status == 204
    assert vm.put("/serial", {"serial_out_path": str(console)}).status == 204
    assert vm.put("/metrics", {"metrics_path": str(metrics)}).status == 204
    assert vm.put("/actions", {"action_type": "InstanceStart"}).status == 204
    wait_file(console, b"BRASA blk-hog start")
    # Twice a ring's worth: it keeps re-queueing the same head.
    wait_file(console, b"BRASA blk-hog used=512 ", timeout=120)
    return vm, console, metrics


def totals(metrics, group):
    """A group's counters summed over every line (the first, before the devices, has none)."""
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    return {k: sum(m.get(group, {}).get(k, 0) for m in lines)
            for k, v in lines[-1][group].items() if isinstance(v, int)}


def get_latencies(vm, n=20):
    lat = []
    for _ in range(n):
        vm.conn.timeout = API_ANSWER_S * 10  # fail loudly below, not in the socket
        t0 = time.monotonic()
        r = vm.get("/")
        lat.append(time.monotonic() - t0)
        assert r.status == 200 and r.json()["state"] == "Running"
        time.sleep(0.02)
    return sorted(lat)


# 254 x 16 MiB: the 4 GiB chain (refused: longer than guest RAM); 4 x 16 MiB: the
# longest request a 64 MiB guest may make, run for real, the pass bounded by its byte budget.
@pytest.mark.parametrize("descs,engine", [(254, "Sync"), (4, "Sync"), (4, "Async")],
                         ids=["4GiB-Sync", "64MiB-Sync", "64MiB-Async"])
def test_hog_leaves_api_and_sigterm_served(tmp_path, descs, engine):
    vm, console, metrics = boot_hog(tmp_path, descs, engine)
    try:
        lat = get_latencies(vm)
        print(f"GET / during the hog ({descs} x 16 MiB, {engine}): "
              f"median {lat[len(lat) // 2] * 1000:.1f} ms, max {lat[-1] * 1000:.1f} ms")
        assert lat[-1] <= API_ANSWER_S, lat
        assert lat[len(lat) // 2] <= API_TARGET_S, lat
        t0 = time.monotonic()
        vm.proc.send_signal(signal.SIGTERM)
        code = vm.proc.wait(timeout=30)
        took = time.monotonic() - t0
        print(f"SIGTERM to exit: {took * 1000:.0f} ms")
        assert code == 0, vm.output()
        assert took <= EXIT_S, took
    finally:
        vm.stop()
    block = totals(metrics, "block")
    if descs == 254:  # longer than guest RAM: IOERR, never run
        assert block["invalid_reqs_count"] >= 512
        assert block["read_bytes"] == 0
        assert b"blk-hog used=512 status=1" in console.read_bytes()
    else:
        assert block["read_count"] >= 512
        assert block["read_bytes"] >= 512 * (64 << 20)
        assert b"blk-hog used=512 status=0" in console.read_bytes()


# ---- item 2: a console nobody reads ---------------------------------------------------------

FLOOD_KIB = 256
F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ from Python 3.10 on
FLOOD_S = 6.0  # how long the unread console is flooded before SIGTERM


def spawn_flood(tmp_path, words, log_to_file):
    """brasa --no-api with its stdout a pipe of one page that this test reads only at the end."""
    metrics = tmp_path / "metrics.json"
    cfg = {"boot-source": {"kernel_image_path": str(KERNELS["pvh"]),
                           "boot_args": f"console=ttyS0 {words}"},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
           "metrics": {"metrics_path": str(metrics)}}
    path = tmp_path / "vm.json"
    path.write_text(json.dumps(cfg))
    argv = [str(BRASA), "--no-api", "--config-file", str(path)]
    if log_to_file:
        argv += ["--log-path", str(tmp_path / "brasa.log")]
    r, w = os.pipe()
    fcntl.fcntl(w, F_SETPIPE_SZ, 4096)  # F_SETPIPE_SZ: one page, so the flood overflows it quickly
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=w, stderr=w)
    os.close(w)
    return proc, r, metrics


def read_all(fd):
    out = b""
    while chunk := os.read(fd, 1 << 16):
        out += chunk
    os.close(fd)
    return out


def pipe_used(fd):
    buf = bytearray(4)
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return int.from_bytes(buf, "little") > 0


@pytest.mark.parametrize("log_to_file", [True, False], ids=["log-file", "log-stdout"])
def test_sigterm_ends_brasa_with_stdout_unread(tmp_path, log_to_file):
    # A flood that never ends (1 GiB): the guest is still writing when SIGTERM comes.
    proc, r, metrics = spawn_flood(tmp_path, "brasa.serialflood=1048576", log_to_file)
    try:
        deadline = time.monotonic() + 30
        while not pipe_used(r):
            assert proc.poll() is None and time.monotonic() < deadline, "no output at all"
            time.sleep(0.05)
        # The console fills the page of pipe, then COM1's 64 KiB ring, then drops: the guest
        # writes about 40 KB/s here (a port I/O exit per byte on a nested host).
        time.sleep(FLOOD_S)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        took = time.monotonic() - t0
        print(f"SIGTERM to exit with stdout full: {took * 1000:.0f} ms")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = read_all(r)
    assert code == 0
    assert took <= EXIT_S, took
    uart = totals(metrics, "uart")
    print(f"uart: {uart}")
    assert uart["missed_write_count"] > 0, uart
    assert uart["error_count"] >= uart["missed_write_count"]
    assert b"BRASA serialflood start" in out
    if log_to_file:
        # What reached stdout is exactly what uart counted as written.
        assert uart["write_count"] == len(out), (uart, len(out))
        assert "Firecracker exiting successfully" in (tmp_path / "brasa.log").read_text()
    else:
        # Log lines that met the full pipe were dropped and counted, not waited for.
        assert totals(metrics, "logger")["missed_log_count"] > 0


def test_console_drained_loses_nothing(tmp_path):
    proc, r, metrics = spawn_flood(tmp_path, f"brasa.serialflood={FLOOD_KIB}", True)
    chunks = []
    reader = threading.Thread(target=lambda: chunks.append(read_all(r)))
    reader.start()
    code = proc.wait(timeout=120)  # the guest resets when done
    reader.join(timeout=30)
    assert code == 0
    out = chunks[0]
    start = out.index(b"BRASA serialflood start bytes=%d\n" % (FLOOD_KIB << 10))
    flood = out[out.index(b"\n", start) + 1:][:FLOOD_KIB << 10]
    want = bytes(10 if i % 64 == 63 else ord("a") + i % 26 for i in range(FLOOD_KIB << 10))
    assert flood == want
    assert b"BRASA serialflood done" in out and b"BRASA done" in out
    uart = totals(metrics, "uart")
    assert uart["missed_write_count"] == 0 and uart["error_count"] == 0, uart
    assert uart["write_count"] == len(out)
