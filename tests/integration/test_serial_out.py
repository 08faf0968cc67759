"""PUT /serial, as Firecracker's: the guest console goes to serial_out_path instead of stdout,
limited by its rate limiter (what is over the limit is dropped and counted); a path that cannot
be opened fails InstanceStart with Firecracker's message and brasa goes on serving."""
import json
import time

import pytest

from api_schema import SPEC
from conftest import KERNELS, ApiVm

pytestmark = pytest.mark.kvm


def start(api, args):
    assert api.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                    "boot_args": args}).status == 204
    return api.put("/actions", {"action_type": "InstanceStart"})


def wait_file(path, pattern, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and pattern in path.read_bytes():
            return
        time.sleep(0.02)
    raise AssertionError(f"{pattern!r} never reached {path}")


def flood(tmp_path, name, rate_limiter=None):
    """Boots the flooding guest with its console in a file; returns its bytes and the metrics."""
    d = tmp_path / name
    d.mkdir()
    vm = ApiVm(d, validate=SPEC.validate)
    out, metrics = d / "serial.out", d / "metrics.json"
    body = {"serial_out_path": str(out)}
    if rate_limiter:
        body["rate_limiter"] = rate_limiter
    assert vm.put("/serial", body).status == 204
    assert vm.put("/metrics", {"metrics_path": str(metrics)}).status == 204
    t0 = time.monotonic()
    assert start(vm, "console=ttyS0 brasa.serialflood").status == 204
    assert vm.proc.wait(timeout=60) == 0  # the guest resets when done
    elapsed = time.monotonic() - t0
    vm.stop()
    assert "BRASA" not in vm.stdout  # nothing of the console on stdout
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    uart = {k: sum(m["uart"][k] for m in lines) for k in lines[0]["uart"]}
    return out.read_bytes(), uart, elapsed


def test_console_goes_to_the_file(api, tmp_path):
    out = tmp_path / "serial.out"
    out.write_bytes(b"")
    assert api.put("/serial", {"serial_out_path": str(out)}).status == 204
    assert start(api, "console=ttyS0 brasa.idle").status == 204
    wait_file(out, b"BRASA idle")
    assert b"BRASA cmdline console=ttyS0 brasa.idle" in out.read_bytes()
    api.stop()
    assert "BRASA" not in api.stdout


def test_rate_limiter_drops_and_counts_what_is_over(tmp_path):
    full, uart_full, _ = flood(tmp_path, "unlimited")
    assert b"BRASA serialflood done" in full and len(full) > 65536
    assert uart_full["rate_limiter_dropped_bytes"] == 0
    assert uart_full["write_count"] == len(full)
    rl = {"size": 1024, "one_time_burst": 4096, "refill_time": 1000}
    part, uart, elapsed = flood(tmp_path, "limited", rl)
    # The burst, a full bucket, and 1 KiB per second after.
    assert len(part) <= 4096 + 1024 + 1024 * (elapsed + 1), (len(part), elapsed)
    assert full.startswith(part[:4096])  # what got through came first, unchanged
    # Every byte the guest wrote was either written or counted as dropped.
    assert uart["write_count"] == len(part)
    assert uart["rate_limiter_dropped_bytes"] == len(full) - len(part)


def test_unopenable_path_fails_instance_start(api, tmp_path):
    bad = tmp_path / "no-such-dir" / "serial.out"
    assert api.put("/serial", {"serial_out_path": str(bad)}).status == 204
    r = start(api, "console=ttyS0 brasa.idle")
    assert r.status == 400
    assert r.fault() == ("Start microvm error: Failed to create device manager: Error with "
                         "EventFd: No such file or directory (os error 2)")
    assert api.get("/").json()["state"] == "Not started"
    # Fixed, the same process boots.
    good = tmp_path / "serial.out"
    assert api.put("/serial", {"serial_out_path": str(good)}).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    wait_file(good, b"BRASA idle")
