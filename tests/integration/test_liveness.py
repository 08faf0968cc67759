"""Liveness under a hostile guest (issue 17): a guest that queues the most block work it can
(brasa.blk.hostile=hog) never keeps brasa from answering the API or ending on SIGTERM, and a
console nobody reads (stdout a full pipe) never keeps brasa from ending either."""
import json
import os
import signal
import subprocess
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
        f.truncate(128 << 20)  # sparse: reads are page-cache copies of zeros
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
    block = [json.loads(line)["block"] for line in metrics.read_text().splitlines()]
    if descs == 254:  # longer than guest RAM: IOERR, never run
        assert sum(b["invalid_reqs_count"] for b in block) >= 2 * 256
        assert sum(b["read_bytes"] for b in block) == 0
        assert b"blk-hog used=512 status=1" in console.read_bytes()
    else:
        assert sum(b["read_count"] for b in block) >= 2 * 256 or \
            sum(b["read_bytes"] for b in block) >= 2 * 256 * (64 << 20)
        assert b"blk-hog used=512 status=0" in console.read_bytes()
