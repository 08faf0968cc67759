#!/usr/bin/python3
"""Boots a test guest through the API (PUT /metrics, 2 drives, 2 nets on fresh taps), flushes
metrics twice and writes every metrics line to OUT with timing values replaced by "T", plus
OUT.keys (each line's flattened key sequence), OUT.sums (each key's sum over the lines) and
OUT.shape (the raw bytes with every number replaced by N).

Compare two builds' key order and totals (needs root for the taps and /dev/kvm):
    tools/metrics-capture.py A/brasa a.txt && tools/metrics-capture.py B/brasa b.txt
    cmp a.txt.shape b.txt.shape && cmp a.txt.keys b.txt.keys && diff a.txt.sums b.txt.sums
The guest's RX timing can move net*.no_rx_avail_buffer and rx_queue_event_count by one.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import OrderedDict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import conftest  # noqa: E402
from conftest import ApiVm, KERNELS, wait_for_line  # noqa: E402

TIMING = {"utc_timestamp_ms", "process_startup_time_us", "process_startup_time_cpu_us",
          "min_us", "max_us", "sum_us"}
TAPS = ["bmcap0", "bmcap1"]


def norm(o):
    if isinstance(o, dict):
        return OrderedDict((k, "T" if k in TIMING else norm(v)) for k, v in o.items())
    return o


def flat(o, p=""):
    for k, v in o.items():
        if isinstance(v, dict):
            yield from flat(v, p + k + ".")
        else:
            yield p + k, v


def run_vm(tmp):
    a, b = tmp / "a.img", tmp / "b.img"
    a.write_bytes(bytes(range(256)) * 256)
    b.write_bytes(bytes(range(255, -1, -1)) * 256)
    m = tmp / "metrics.json"
    vm = ApiVm(tmp)
    assert vm.put("/metrics", {"metrics_path": str(m)}).status == 204
    vm.get("/machine-config")
    vm.get("/")
    vm.put("/logger", {"bogus": 1})
    assert vm.put("/boot-source", {
        "kernel_image_path": str(KERNELS["pvh"]),
        "boot_args": "console=ttyS0 brasa.blk brasa.net brasa.net.spoof brasa.net.send=3 "
                     "brasa.net.size=100 brasa.halt"}).status == 204
    for did, p, root, ro, eng in (("rootfs", a, True, False, "Sync"),
                                  ("ro", b, False, True, "Async")):
        assert vm.put(f"/drives/{did}", {"drive_id": did, "path_on_host": str(p),
                                         "is_root_device": root, "is_read_only": ro,
                                         "io_engine": eng}).status == 204
    for i, t in enumerate(TAPS):
        assert vm.put(f"/network-interfaces/if{i}", {
            "iface_id": f"if{i}", "host_dev_name": t,
            "guest_mac": f"06:00:ac:10:00:0{i + 2}"}).status == 204
    assert vm.put("/actions", {"action_type": "InstanceStart"}).status == 204
    wait_for_line(vm.proc, r"BRASA halting")
    vm.patch("/drives/nope", {"drive_id": "nope"})
    assert vm.put("/actions", {"action_type": "FlushMetrics"}).status == 204
    assert vm.put("/actions", {"action_type": "FlushMetrics"}).status == 204
    vm.stop()
    return m.read_text()


def write_outputs(text, out):
    lines = [json.loads(x, object_pairs_hook=OrderedDict) for x in text.splitlines()]
    with open(f"{out}.shape", "w") as f:
        f.write(re.sub(r"[0-9]+", "N", text))
    with open(out, "w") as f:
        for line in lines:
            f.write(json.dumps(norm(line)) + "\n")
    sums = OrderedDict()
    with open(f"{out}.keys", "w") as f:
        for line in lines:
            pairs = list(flat(norm(line)))
            f.write(" ".join(k for k, _ in pairs) + "\n")
            for k, v in pairs:
                sums[k] = "T" if v == "T" else sums.get(k, 0) + v
    with open(f"{out}.sums", "w") as f:
        for k, v in sums.items():
            f.write(f"{k} {v}\n")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: metrics-capture.py BRASA OUT")
    conftest.BRASA = Path(sys.argv[1]).resolve()
    conftest.GUESTS = Path(os.environ.get("BRASA_BUILD_DIR", ROOT / "build")) / "guest-tests"
    for t in TAPS:
        subprocess.run(["ip", "link", "del", t], capture_output=True)
        subprocess.run(["ip", "tuntap", "add", "dev", t, "mode", "tap"], check=True)
        subprocess.run(["ip", "link", "set", t, "up"], check=True)
    try:
        text = run_vm(Path(tempfile.mkdtemp(prefix="metrics-capture-")))
    finally:
        for t in TAPS:
            subprocess.run(["ip", "link", "del", t], capture_output=True)
    write_outputs(text, sys.argv[2])
    print(f"{text.count(chr(10))} lines -> {sys.argv[2]} (.keys, .sums, .shape)")


main()
