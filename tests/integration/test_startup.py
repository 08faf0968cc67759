"""KVM set-up off the critical path (a set-up thread builds the VM, RAM, slots and vCPUs before
InstanceStart) and --boot-timeline: the guest must see exactly the machine asked for, whichever
path built it and however late the configuration changed."""
import os
import re

import pytest

from api_schema import SPEC
from conftest import BUILD, KERNELS, ApiVm, make_config, parse_report

pytestmark = pytest.mark.kvm

TIMELINE = re.compile(r"Boot timeline \(us since exec\): api_ready=(\d+|-) "
                      r"instance_start=(\d+|-) kvm_ready=(\d+|-) kernel_loaded=(\d+|-) "
                      r"first_kvm_run=(\d+|-) guest=(\d+|-); set-up thread: done=(\d+|-) "
                      r"work=(\d+)$")


def api_boot(tmp_path, steps, args="console=ttyS0"):
    """brasa in API mode: the boot source, then each (method, path, body) of steps (each must
    succeed), then InstanceStart; returns (the InstanceStart answer, the guest's report, log)."""
    vm = ApiVm(tmp_path, args=("--boot-timeline",), validate=SPEC.validate)
    try:
        assert vm.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                       "boot_args": args}).status == 204
        for method, path, body in steps:
            r = vm.request(method, path, body)
            assert r.status == 204, (path, r.raw)
        r = vm.put("/actions", {"action_type": "InstanceStart"})
        if r.status == 204:
            vm.proc.wait(timeout=30)  # the guest resets when done
    finally:
        rc = vm.stop()
    if r.status == 204:
        assert rc == 0, vm.output()
    return r, parse_report(vm.stdout), vm.output()


def machine(report):
    """What the guest saw: its CPU count, the top of its RAM, its memory map."""
    assert report.get("cpus") is not None, report.lines
    return report.get("cpus"), report.get("mem-top"), report.e820()


def timeline(log):
    lines = [l for l in log.splitlines() if "Boot timeline" in l]
    assert len(lines) == 1, log
    m = TIMELINE.search(lines[0])
    assert m, lines[0]
    return [None if v == "-" else int(v) for v in m.groups()]


def assert_monotonic(values):
    seen = [v for v in values if v is not None]
    assert seen == sorted(seen), values


def test_same_machine_from_config_file_and_api(brasa, tmp_path):
    res = brasa.boot(vcpus=2, mem=256)
    assert res.rc == 0, res.log
    _, report, _ = api_boot(tmp_path, [("PUT", "/machine-config",
                                        {"vcpu_count": 2, "mem_size_mib": 256})])
    assert machine(report) == machine(res.report)
    assert machine(report)[:2] == ("2", "0x10000000")


@pytest.mark.parametrize("first,second", [
    ({"vcpu_count": 1, "mem_size_mib": 128}, {"vcpu_count": 2, "mem_size_mib": 256}),
    ({"vcpu_count": 2, "mem_size_mib": 256}, {"vcpu_count": 1, "mem_size_mib": 64}),
])
def test_late_machine_config_redoes_setup(brasa, tmp_path, first, second):
    expect = brasa.boot(vcpus=second["vcpu_count"], mem=second["mem_size_mib"])
    assert expect.rc == 0, expect.log
    _, report, _ = api_boot(tmp_path, [("PUT", "/machine-config", first),
                                       ("PUT", "/machine-config", second)])
    assert machine(report) == machine(expect.report)
    assert machine(report)[0] == str(second["vcpu_count"])


def test_patch_machine_config_and_defaults(brasa, tmp_path):
    # A PATCH changes one field of what the set-up thread is building.
    _, report, _ = api_boot(tmp_path, [("PUT", "/machine-config",
                                        {"vcpu_count": 1, "mem_size_mib": 128}),
                                       ("PATCH", "/machine-config", {"vcpu_count": 3})])
    assert report.get("cpus") == "3"
    # No machine-config at all: InstanceStart builds Firecracker's defaults (1 vCPU, 128 MiB).
    (tmp_path / "d").mkdir()
    _, report, _ = api_boot(tmp_path / "d", [])
    default = brasa.boot(vcpus=1, mem=128)
    assert machine(report) == machine(default.report)
    assert machine(report)[:2] == ("1", "0x8000000")


def test_track_dirty_pages_turned_on_late_is_built(tmp_path):
    """The slots must carry KVM's dirty log when track_dirty_pages comes after the set-up
    thread built them without: a Diff snapshot reads that log (KVM_GET_DIRTY_LOG fails on a
    slot without it)."""
    vm = ApiVm(tmp_path, validate=SPEC.validate)
    try:
        assert vm.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                       "boot_args": "console=ttyS0 brasa.idle"}).status == 204
        assert vm.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128}).status == 204
        assert vm.patch("/machine-config", {"track_dirty_pages": True}).status == 204
        assert vm.put("/actions", {"action_type": "InstanceStart"}).status == 204
        assert vm.patch("/vm", {"state": "Paused"}).status == 204
        r = vm.put("/snapshot/create", {"snapshot_path": str(tmp_path / "s"),
                                        "mem_file_path": str(tmp_path / "m"),
                                        "snapshot_type": "Diff"})
        assert r.status == 204, r.raw
    finally:
        rc = vm.stop()
    assert rc == 0, vm.output()


def test_setup_failure_is_reported_at_instance_start(tmp_path):
    vm = ApiVm(tmp_path, validate=SPEC.validate)
    try:
        assert vm.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                       "boot_args": "console=ttyS0"}).status == 204
        # Accepted here, as Firecracker does: guest RAM is only made at InstanceStart.
        assert vm.put("/machine-config", {"vcpu_count": 1,
                                          "mem_size_mib": 1 << 30}).status == 204
        r = vm.put("/actions", {"action_type": "InstanceStart"})
        assert r.status == 400
        assert r.fault().startswith("Start microvm error: Invalid Memory Configuration: "), r.raw
        # Nothing was lost: a sane size boots the same process.
        assert vm.put("/machine-config", {"vcpu_count": 2,
                                          "mem_size_mib": 128}).status == 204
        assert vm.put("/actions", {"action_type": "InstanceStart"}).status == 204
        vm.proc.wait(timeout=30)
    finally:
        rc = vm.stop()
    assert rc == 0, vm.output()
    assert parse_report(vm.stdout).get("cpus") == "2"


def test_boot_timeline_config_file(brasa):
    res = brasa.boot(args=("--boot-timeline",))
    assert res.rc == 0, res.log
    values = timeline(res.log)
    api_ready, start, kvm, kernel, run, guest, done, work = values
    assert api_ready is None  # --no-api
    assert None not in (start, kvm, kernel, run, guest, done)
    assert_monotonic(values[:6])
    # The line comes before the exit line, which stays the last.
    lines = res.log.splitlines()
    assert "Boot timeline" in lines[-2] and "exiting successfully" in lines[-1]


def test_boot_timeline_api(tmp_path):
    _, report, log = api_boot(tmp_path, [("PUT", "/machine-config",
                                          {"vcpu_count": 1, "mem_size_mib": 128})])
    assert report.get("cpus") == "1"
    values = timeline(log)
    assert None not in values
    assert_monotonic(values[:6])


def test_no_boot_timeline_without_the_flag(brasa):
    res = brasa.boot()
    assert res.rc == 0
    assert "Boot timeline" not in res.log


def test_boot_timeline_without_a_boot(tmp_path):
    vm = ApiVm(tmp_path, args=("--boot-timeline",))
    assert vm.stop() == 0
    values = timeline(vm.output())
    assert values[0] is not None and values[1:6] == [None] * 5


def test_instance_start_answers_once_vcpu_threads_run(tmp_path):
    """As Firecracker, which answers InstanceStart once every vCPU thread acknowledged its
    resume: at the answer each vCPU thread exists and already has its seccomp filter (none in
    a sanitizer build, which turns seccomp off by design: there the threads must exist)."""
    cache = BUILD / "CMakeCache.txt"
    filtered = "2" if "SANITIZE:BOOL=ON" not in cache.read_text() else "0"
    for attempt in range(3):
        (tmp_path / str(attempt)).mkdir()
        vm = ApiVm(tmp_path / str(attempt))
        try:
            assert vm.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                           "boot_args": "console=ttyS0 brasa.idle"}).status == 204
            assert vm.put("/machine-config", {"vcpu_count": 2, "mem_size_mib": 128}).status == 204
            assert vm.put("/actions", {"action_type": "InstanceStart"}).status == 204
            seen = {}
            for tid in os.listdir(f"/proc/{vm.proc.pid}/task"):
                with open(f"/proc/{vm.proc.pid}/task/{tid}/status") as f:
                    status = dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)
                seen[status["Name"]] = status["Seccomp"]
            assert seen.get("fc_vcpu 0") == filtered and seen.get("fc_vcpu 1") == filtered, seen
        finally:
            vm.stop()
