"""PATCH /vm: pausing and resuming a running microVM, seen from a guest that counts on COM1."""
import json
import os
import re
import signal
import time

import pytest

from conftest import KERNELS

pytestmark = pytest.mark.kvm

PRE = "The requested operation is not supported before starting the microVM."


class Console:
    """Collects brasa's stdout (the guest's COM1) without blocking."""

    def __init__(self, proc):
        self.proc = proc
        self.text = ""
        os.set_blocking(proc.stdout.fileno(), False)

    def read(self):
        chunk = self.proc.stdout.read()
        if chunk:
            self.text += chunk.decode(errors="replace")
        return self.text

    def counts(self):
        return [int(n) for n in re.findall(r"BRASA count (\d+)\r?\n", self.read())]

    def wait_count(self, above, timeout=60):
        """Waits until the guest printed a count above `above`; returns the counts so far."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            c = self.counts()
            if c and c[-1] > above:
                return c
            assert self.proc.poll() is None, self.text
            time.sleep(0.02)
        raise AssertionError(f"no count above {above}: {self.text[-500:]!r}")

    def settle(self, quiet=0.5, timeout=30):
        """Reads until nothing new came for `quiet` seconds: what the guest wrote is all out."""
        deadline = time.monotonic() + timeout
        before = None
        while time.monotonic() < deadline:
            now = self.read()
            if now == before:
                return now
            before = now
            time.sleep(quiet)
        raise AssertionError(f"console never went quiet: {self.text[-500:]!r}")


def start_counting(api, mem=128, vcpus=1, track_dirty_pages=False):
    assert api.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                    "boot_args": "console=ttyS0 brasa.count=20000"}).status == 204
    assert api.put("/machine-config", {"vcpu_count": vcpus, "mem_size_mib": mem,
                                       "track_dirty_pages": track_dirty_pages}).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    con = Console(api.proc)
    con.wait_count(2)
    return con


def assert_consecutive(counts):
    assert counts == list(range(counts[0], counts[0] + len(counts))), counts


def test_pause_before_boot_is_refused(api):
    for state in ("Paused", "Resumed"):
        r = api.patch("/vm", {"state": state})
        assert (r.status, r.fault()) == (400, PRE)
    assert api.get("/").json()["state"] == "Not started"


def test_paused_guest_stops_counting_and_goes_on_after_resume(api):
    con = start_counting(api)
    assert api.get("/").json()["state"] == "Running"
    assert api.patch("/vm", {"state": "Paused"}).status == 204
    assert api.get("/").json()["state"] == "Paused"
    # Pausing a paused microVM is allowed and changes nothing (Firecracker's semantics).
    assert api.patch("/vm", {"state": "Paused"}).status == 204
    con.settle()
    last = con.counts()[-1]
    # The API still answers while paused, and the guest makes no progress meanwhile.
    for _ in range(5):
        assert api.get("/machine-config").json()["mem_size_mib"] == 128
        time.sleep(0.2)
    assert con.settle()
    assert con.counts()[-1] == last
    assert api.patch("/vm", {"state": "Resumed"}).status == 204
    assert api.get("/").json()["state"] == "Running"
    counts = con.wait_count(last + 3)
    assert_consecutive(counts)
    # Resuming a running microVM is allowed too.
    assert api.patch("/vm", {"state": "Resumed"}).status == 204
    con.wait_count(counts[-1] + 1)


def test_pause_and_resume_record_latency_metrics(api, tmp_path):
    m = tmp_path / "metrics.json"
    m.touch()
    assert api.put("/metrics", {"metrics_path": str(m)}).status == 204
    start_counting(api)
    assert api.patch("/vm", {"state": "Paused"}).status == 204
    assert api.patch("/vm", {"state": "Resumed"}).status == 204
    assert api.put("/actions", {"action_type": "FlushMetrics"}).status == 204
    lat = json.loads(m.read_text().splitlines()[-1])["latencies_us"]
    for key in ("pause_vm", "vmm_pause_vm", "resume_vm", "vmm_resume_vm"):
        assert lat[key] > 0, lat
    # Firecracker logs how long each took.
    assert "'pause vm' VMM action took" in api.output()
    assert "'resume vm' API request took" in api.output()


def test_paused_vm_ends_on_sigterm(api):
    start_counting(api)
    assert api.patch("/vm", {"state": "Paused"}).status == 204
    # SendCtrlAltDel is queued on the i8042 while paused, as in Firecracker: the guest cannot
    # react before it runs again, so brasa stays up and paused.
    assert api.put("/actions", {"action_type": "SendCtrlAltDel"}).status == 204
    assert api.get("/").json()["state"] == "Paused"
    assert api.proc.poll() is None
    api.conn.close()
    api.proc.send_signal(signal.SIGTERM)
    assert api.proc.wait(timeout=10) == 0  # the fixture checks the same exit code again
    assert "Received signal 15 (Terminated), shutting down" in api.output()
