"""virtio-pmem, driven by the test guest's own driver: the region brasa maps past the 64-bit
MMIO window (read and written from inside the guest, seen in the host file), flush requests,
read-only devices, the root device's command line, malformed requests, rate limits, the pmem
metrics and Firecracker's errors."""
import json

import pytest

from conftest import KERNELS, make_config, without_pvm_args

pytestmark = pytest.mark.kvm

REGION = 0x80_0000_0000  # 512 GiB: Firecracker's first address past the 64-bit MMIO window
HEAD = b"PMEM-HEAD-0123ab"
FIELDS = ["activate_fails", "cfg_fails", "event_fails", "queue_event_count",
          "rate_limiter_throttled_events", "rate_limiter_event_count"]


def backing(tmp_path, name="pmem.img", size=3 << 20):
    path = tmp_path / name
    path.write_bytes(HEAD + bytes(size - 32) + b"PMEM-TAIL-4567cd")
    return path


def pmem(id_, path, root=False, ro=False, rl=None):
    d = {"id": id_, "path_on_host": str(path), "root_device": root, "read_only": ro}
    if rl:
        d["rate_limiter"] = rl
    return d


def boot_pmem(brasa, words, pmems, extra=None):
    more = {"pmem": pmems}
    more.update(extra or {})
    cfg = make_config(KERNELS["pvh"], f"console=ttyS0 {words}", extra=more)
    res = brasa.run(cfg, timeout=60)
    assert res.rc == 0, f"exit {res.rc}\nstdout:\n{res.stdout}\nlog:\n{res.log}"
    assert res.report.get("panic") is None, res.stdout
    assert res.report.get("done") is not None, res.stdout
    return res


def totals(path, group):
    lines = [json.loads(l) for l in path.read_text().splitlines()]
    assert lines, "no metrics line"
    for l in lines:
        assert list(l[group]) == FIELDS
    return {k: sum(l[group][k] for l in lines) for k in FIELDS}


def test_guest_reads_writes_and_flushes_the_file(brasa, tmp_path):
    img, metrics = backing(tmp_path), tmp_path / "metrics.json"
    res = boot_pmem(brasa, "brasa.pmem brasa.pmem.write=written-by-guest", [pmem("p0", img)],
                    extra={"metrics": {"metrics_path": str(metrics)}})
    dev = res.report.fields("pmem dev")
    # 3 MiB rounds up to a 2 MiB multiple; the device sits in the first virtio slot.
    assert (dev["start"], dev["size"], dev["status"]) == (REGION, 4 << 20, 0xF)
    assert dev["base"] == 0xC0001000
    assert res.report.get("pmem head=") is None  # say_bytes has no space after the prefix
    lines = res.report.lines
    assert "pmem head=" + HEAD.decode() in lines
    assert "pmem tail=" + "\\x00" * 16 in lines  # past the file: anonymous, zero
    assert "pmem wrote=written-by-guest" in lines
    assert res.report.fields("pmem flush") == {"used_len": 4, "status": 0}
    data = img.read_bytes()
    assert data[0x1000:0x1000 + 16] == b"written-by-guest"  # MAP_SHARED: the file has it
    assert data[:16] == HEAD and len(data) == 3 << 20
    assert "Attached pmem p0" in res.log
    t = totals(metrics, "pmem_p0")
    assert t["queue_event_count"] >= 1 and t["event_fails"] == 0
    assert totals(metrics, "pmem") == t  # the sum of the one device
    line = json.loads(metrics.read_text().splitlines()[-1])
    keys = list(line)
    # Firecracker's order: the devices' groups, then their sum, between interrupts and
    # memory_hotplug.
    assert keys.index("interrupts") < keys.index("pmem_p0") < keys.index("pmem") \
        < keys.index("memory_hotplug")


def test_second_device_follows_and_root_device_sets_cmdline(brasa, tmp_path):
    a, b = backing(tmp_path, "a.img", 2 << 20), backing(tmp_path, "b.img", 5 << 20)
    res = boot_pmem(brasa, "brasa.pmem", [pmem("a", a), pmem("root", b, root=True, ro=True)])
    cmdline = without_pvm_args(res.report.get("cmdline"))
    # As Firecracker: the root device's words go in just before its own virtio_mmio entry.
    assert cmdline.endswith("brasa.pmem virtio_mmio.device=4K@0xc0001000:5 root=/dev/pmem1 ro "
                            "virtio_mmio.device=4K@0xc0002000:6")
    # The guest drives the first one; the log names where each region went.
    assert "Attached pmem a (" in res.log and "guest memory 0x8000000000" in res.log
    assert "Attached pmem root (" in res.log and "guest memory 0x8000200000" in res.log


def test_read_only_region_drops_guest_writes(brasa, tmp_path):
    img = backing(tmp_path)
    before = img.read_bytes()
    res = boot_pmem(brasa, "brasa.pmem brasa.pmem.write=should-not-stick", [pmem("ro", img, ro=True)])
    assert "pmem wrote=" + "\\x00" * 16 in res.report.lines, res.stdout
    assert res.report.fields("pmem flush") == {"used_len": 4, "status": 0}
    assert img.read_bytes() == before
    assert "MMIO write to unmapped 0x8000001000" in res.log


def test_malformed_requests_are_refused_and_the_device_goes_on(brasa, tmp_path):
    metrics = tmp_path / "metrics.json"
    res = boot_pmem(brasa, "brasa.pmem brasa.pmem.malformed", [pmem("p", backing(tmp_path))],
                    extra={"metrics": {"metrics_path": str(metrics)}})
    m = res.report.get("pmem malformed")
    assert m == "used=0,0,0,0,0 status=0x5a5a5a5a", res.stdout
    assert res.report.fields("pmem flush") == {"used_len": 4, "status": 0}
    assert totals(metrics, "pmem_p")["event_fails"] == 5


def test_rate_limited_flushes_wait_and_complete(brasa, tmp_path):
    metrics = tmp_path / "metrics.json"
    rl = {"ops": {"size": 1, "refill_time": 300}}
    res = boot_pmem(brasa, "brasa.pmem brasa.pmem.malformed",
                    [pmem("p", backing(tmp_path), rl=rl)],
                    extra={"metrics": {"metrics_path": str(metrics)}})
    assert res.report.fields("pmem flush") == {"used_len": 4, "status": 0}
    t = totals(metrics, "pmem_p")
    assert t["rate_limiter_throttled_events"] >= 1 and t["rate_limiter_event_count"] >= 1


@pytest.mark.parametrize("setup,want", [
    (lambda d: d / "missing.img",
     "Cannot create pmem device: Error accessing backing file: No such file or directory "
     "(os error 2)"),
    (lambda d: (d / "empty.img").write_bytes(b"") or d / "empty.img",
     "Cannot create pmem device: Error backing file size is 0"),
])
def test_bad_backing_file_fails_instance_start(api, tmp_path, setup, want):
    api.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                             "boot_args": "console=ttyS0 brasa.idle"})
    assert api.put("/pmem/p", pmem("p", setup(tmp_path))).status == 204
    r = api.put("/actions", {"action_type": "InstanceStart"})
    assert r.status == 400
    assert r.json()["fault_message"] == "Start microvm error: " + want


def test_patch_rate_limiter_after_boot(api, tmp_path):
    api.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                             "boot_args": "console=ttyS0 brasa.idle"})
    assert api.put("/pmem/p", pmem("p", backing(tmp_path))).status == 204
    r = api.patch("/pmem/p", {"id": "p", "rate_limiter": {"ops": {"size": 5, "refill_time": 9}}})
    assert r.status == 400 and "not supported before starting the microVM" in \
        r.json()["fault_message"]
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    assert api.patch("/pmem/p", {"id": "p", "rate_limiter": {
        "bandwidth": {"size": 5000, "refill_time": 100}}}).status == 204
    assert api.patch("/pmem/p", {"id": "p"}).status == 204
    r = api.patch("/pmem/q", {"id": "q", "rate_limiter": {"ops": {"size": 1, "refill_time": 1}}})
    assert r.status == 400
    # GET /vm/config keeps what PUT set, as Firecracker (PATCH changes only the device).
    assert api.get("/vm/config").json()["pmem"][0]["rate_limiter"] is None


def test_snapshot_with_pmem_restores_the_region(tmp_path):
    """The region is mapped again from the same file, at the same address, on load."""
    from api_schema import SPEC
    from conftest import ApiVm
    from test_pause import Console, assert_consecutive, start_counting
    from test_snapshot import load_body, restored_counts

    img = backing(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    vm = ApiVm(tmp_path / "a", validate=SPEC.validate)
    assert vm.put("/pmem/p", pmem("p", img)).status == 204
    con = start_counting(vm)
    assert vm.patch("/vm", {"state": "Paused"}).status == 204
    state, mem = tmp_path / "vm.state", tmp_path / "vm.mem"
    r = vm.put("/snapshot/create", {"snapshot_path": str(state), "mem_file_path": str(mem)})
    assert r.status == 204, r.raw
    before = con.settle()
    assert vm.stop() == 0
    vm = ApiVm(tmp_path / "b", validate=SPEC.validate)
    assert vm.put("/snapshot/load", load_body(state, mem)).status == 204, vm.output()
    assert vm.get("/vm/config").json()["pmem"][0]["path_on_host"] == str(img)
    con = Console(vm.proc)
    con.wait_count(restored_counts(before, "")[-1] + 2)
    assert_consecutive(restored_counts(before, con.read()))
    assert vm.stop() == 0
    assert "Attached pmem p (" in vm.output() and "guest memory 0x8000000000" in vm.output()
