"""Memory hotplug (virtio-mem), driven by the test guest's own driver: the config space as
Firecracker fills it, plugging up to the size PATCH /hotplug/memory asks for, plugged memory
written and read back from inside the guest, unplugged memory discarded, hostile requests and
chains, UNPLUG_ALL, GET /hotplug/memory, the metrics, the config file, and Firecracker's
errors before and after boot."""
import json

import pytest

from conftest import KERNELS, make_config, parse_report, wait_for_line

pytestmark = pytest.mark.kvm

REGION = 0x80_0000_0000  # 512 GiB: Firecracker's first address past the 64-bit MMIO window
MIB = 1 << 20
ERR = 0x30  # VIRTIO_MEM_RESP_ERROR, as the guest packs it (type * 16 + state)
HOTPLUG = {"total_size_mib": 1024, "block_size_mib": 2, "slot_size_mib": 128}


def fields(text, key):
    for raw in parse_report(text).lines:
        if raw.startswith(key + " "):
            from conftest import parse_fields
            return parse_fields(raw[len(key):])
    raise AssertionError(f"no {key!r} line in {text!r}")


def start(api, tmp_path, words="brasa.vmem brasa.halt", hotplug=None):
    metrics = tmp_path / "metrics.json"
    assert api.put("/metrics", {"metrics_path": str(metrics)}).status == 204
    assert api.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                    "boot_args": f"console=ttyS0 {words}"}).status == 204
    assert api.put("/hotplug/memory", hotplug or HOTPLUG).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    return metrics


def status(api):
    r = api.get("/hotplug/memory")
    assert r.status == 200, r.raw
    return r.json()


def test_guest_plugs_uses_and_unplugs(api, tmp_path):
    metrics = start(api, tmp_path)
    out = wait_for_line(api.proc, r"BRASA vmem ready")
    dev = fields(out, "vmem dev")
    # Firecracker's config space: no usable region, nothing plugged or requested yet.
    assert dev == {"status": 0xF, "block": 2 * MIB, "addr": REGION, "region": 1024 * MIB,
                   "usable": 0, "plugged": 0, "requested": 0}, out
    st = status(api)
    assert list(st) == ["block_size_mib", "total_size_mib", "slot_size_mib", "plugged_size_mib",
                        "requested_size_mib"]
    assert st == {"block_size_mib": 2, "total_size_mib": 1024, "slot_size_mib": 128,
                  "plugged_size_mib": 0, "requested_size_mib": 0}
    # Not a block multiple, past the region: Firecracker's InvalidSize; nothing changes.
    bad = "Memory hotplug update error: Failed to create memory hotplug device: Size {} is " \
          "invalid: it must be a multiple of block size and less than the total size"
    assert api.patch("/hotplug/memory", {"requested_size_mib": 3}).fault() == \
        bad.format(3 * MIB)
    assert api.patch("/hotplug/memory", {"requested_size_mib": 1026}).fault() == \
        bad.format(1026 * MIB)
    assert status(api)["requested_size_mib"] == 0
    assert api.patch("/hotplug/memory", {"requested_size_mib": 200}).status == 204
    out = wait_for_line(api.proc, r"BRASA vmem waiting")
    # The usable region grows to whole slots: 200 MiB -> 256 MiB.
    assert fields(out, "vmem requested=0xc800000") == {"usable": 256 * MIB}, out
    p = fields(out, "vmem plug=0x0,0x0")
    assert p == {"plugged": 200 * MIB, "bad": 0, "state": 0x00}, out  # ACK, PLUGGED
    h = fields(out, "vmem hostile")
    assert h == {"plug_big": ERR, "unaligned": ERR, "zero": ERR, "below": ERR, "past": ERR,
                 "replug": ERR, "unplug_free": ERR, "state_past": ERR, "type": ERR}, out
    # Malformed chains go back used with nothing written; the queue keeps working.
    assert fields(out, "vmem chains") == {"used": "0,0,0,0,0", "resp": 0x55}, out
    u = fields(out, "vmem unplug=0x0")
    # Unplugged blocks are discarded: plugged again, they read as zero.
    # A write to a slot that nothing plugged reached no memory (an MMIO exit).
    assert u == {"mixed": 0x02, "replug": 0, "nonzero_after_replug": 0, "unplug2": 0,
                 "plugged": 150 * MIB, "probe": 0}, out
    assert status(api) == {"block_size_mib": 2, "total_size_mib": 1024, "slot_size_mib": 128,
                           "plugged_size_mib": 150, "requested_size_mib": 200}
    assert api.get("/vm/config").json()["memory-hotplug"] == HOTPLUG
    assert api.patch("/hotplug/memory", {"requested_size_mib": 0}).status == 204
    out = wait_for_line(api.proc, r"BRASA halting")
    # UNPLUG_ALL: acknowledged, and as Firecracker the usable region drops to nothing.
    assert fields(out, "vmem requested=0x0") == {"unplug_all": 0, "usable": 0, "plugged": 0}
    assert status(api)["plugged_size_mib"] == 0
    assert api.put("/actions", {"action_type": "FlushMetrics"}).status == 204
    lines = [json.loads(l)["memory_hotplug"] for l in metrics.read_text().splitlines()]
    tot = {k: sum(l[k] for l in lines) for k in lines[0] if not k.endswith("_agg")}
    assert tot["plug_count"] == 2 + 5 + 1 and tot["plug_fails"] == 5  # ok, hostile, replug
    assert tot["plug_bytes"] == 250 * MIB
    assert tot["unplug_count"] == 3 and tot["unplug_fails"] == 1
    assert tot["unplug_bytes"] == 100 * MIB
    assert tot["unplug_all_count"] == 1 and tot["unplug_all_fails"] == 0
    assert tot["state_count"] == 4 and tot["state_fails"] == 2
    assert tot["activate_fails"] == tot["unplug_discard_fails"] == 0
    assert tot["queue_event_fails"] == 6  # five malformed chains and the unknown type
    assert tot["queue_event_count"] >= 1
    assert "Attached virtio-mem device" in api.output()


def test_driver_without_unplugged_inaccessible_is_refused(api, tmp_path):
    metrics = start(api, tmp_path, "brasa.vmem brasa.vmem.noinacc brasa.vmem.nowait brasa.halt")
    out = wait_for_line(api.proc, r"BRASA halting")
    # DEVICE_NEEDS_RESET (0x40) on top of the driver's bits; the retry with the bit works.
    assert fields(out, "vmem noinacc") == {"status": 0x4F}, out
    assert fields(out, "vmem dev")["status"] == 0xF
    assert api.put("/actions", {"action_type": "FlushMetrics"}).status == 204
    lines = [json.loads(l)["memory_hotplug"] for l in metrics.read_text().splitlines()]
    assert sum(l["activate_fails"] for l in lines) == 1
    assert "VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE feature not acknowledged" in api.output()


def test_api_errors_before_and_after_boot(api, tmp_path):
    pre = "The requested operation is not supported before starting the microVM."
    assert api.get("/hotplug/memory").fault() == pre
    assert api.patch("/hotplug/memory", {"requested_size_mib": 2}).fault() == pre
    for body, msg in [({"total_size_mib": 1024, "block_size_mib": 1},
                       "Block size must not be lower than 2 MiB"),
                      ({"total_size_mib": 1024, "block_size_mib": 3},
                       "Block size must be a power of 2"),
                      ({"total_size_mib": 1024, "slot_size_mib": 64},
                       "Slot size must not be lower than 128 MiB"),
                      ({"total_size_mib": 100}, "Total size must not be lower than slot size "
                                                "(128 MiB)"),
                      ({"total_size_mib": 200}, "Total size must be a multiple of slot size "
                                                "(128 MiB)")]:
        assert api.put("/hotplug/memory", body).fault() == "Memory hotplug config error: " + msg
    start(api, tmp_path, "brasa.halt", {"total_size_mib": 256})
    wait_for_line(api.proc, r"BRASA halting")
    post = "The requested operation is not supported after starting the microVM."
    assert api.put("/hotplug/memory", HOTPLUG).fault() == post
    # A driver that never came: Firecracker's DeviceNotActive.
    assert api.patch("/hotplug/memory", {"requested_size_mib": 2}).fault() == \
        "Memory hotplug update error: Failed to create memory hotplug device: Device is not active"
    assert status(api) == {"block_size_mib": 2, "total_size_mib": 256, "slot_size_mib": 128,
                           "plugged_size_mib": 0, "requested_size_mib": 0}
    # Snapshots do not keep the plugged blocks yet: refused, nothing written.
    assert api.patch("/vm", {"state": "Paused"}).status == 204
    snap, mem = tmp_path / "snap", tmp_path / "mem"
    assert api.put("/snapshot/create", {"snapshot_path": str(snap),
                                        "mem_file_path": str(mem)}).fault() == \
        "Create snapshot error: Cannot save the microVM state: Operation not allowed: " \
        "snapshotting the virtio-mem " \
        "device mem is not supported yet by brasa"
    assert not snap.exists() and not mem.exists()


def test_no_device_after_boot(api, tmp_path):
    assert api.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                    "boot_args": "console=ttyS0 brasa.halt"}).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    wait_for_line(api.proc, r"BRASA halting")
    nf = "Failed perform action on device: Device not found"
    assert api.get("/hotplug/memory").fault() == "Internal VMM error: " + nf
    assert api.patch("/hotplug/memory", {"requested_size_mib": 2}).fault() == \
        "Memory hotplug update error: " + nf


def test_config_file_attaches_last_and_shifts_pmem(brasa, tmp_path):
    img = tmp_path / "pmem.img"
    img.write_bytes(b"P" * (2 << 20))
    cfg = make_config(KERNELS["pvh"], "console=ttyS0 brasa.vmem brasa.vmem.nowait brasa.pmem",
                      extra={"memory-hotplug": {"total_size_mib": 256},
                             "pmem": [{"id": "p0", "path_on_host": str(img)}],
                             "entropy": {}})
    res = brasa.run(cfg, timeout=60)
    assert res.rc == 0, res.stdout + res.log
    # virtio-mem is attached after every other device; pmem moves past its region.
    assert res.report.fields("pmem dev")["start"] == REGION + (256 << 20)
    vm = res.report.fields("vmem dev")
    assert (vm["addr"], vm["region"], vm["block"]) == (REGION, 256 * MIB, 2 * MIB)
    order = [l for l in res.log.splitlines() if "Attached " in l]
    assert "virtio-mem" in order[-1], order


def test_idle_guest_driver_takes_patch(api, tmp_path):
    """brasa.idle brings virtio-mem up as Linux's driver would: PATCH is then accepted."""
    start(api, tmp_path, "brasa.idle")
    wait_for_line(api.proc, r"BRASA idle")
    assert api.patch("/hotplug/memory", {"requested_size_mib": 512}).status == 204
    assert status(api) == {"block_size_mib": 2, "total_size_mib": 1024, "slot_size_mib": 128,
                           "plugged_size_mib": 0, "requested_size_mib": 512}


def test_pci_function(brasa):
    """With --enable-pci virtio-mem is a virtio-pci function (0x1040 + 24) with one queue."""
    from test_pci import functions, run_pci, virtio_fns
    res = run_pci(brasa, **{"memory-hotplug": {"total_size_mib": 128}})
    fns = functions(res.report)
    mem = [f for f in fns if f["device"] == 0x1058]
    assert len(mem) == 1, res.report.lines
    assert virtio_fns(res.report)[mem[0]["dev"]]["msix_vectors"] == 2


def test_idle_guest_driver_on_pci_takes_patch(tmp_path):
    """With --enable-pci brasa.idle brings the virtio-pci function up: PATCH is accepted."""
    from conftest import ApiVm
    api = ApiVm(tmp_path, args=("--enable-pci",))
    try:
        start(api, tmp_path, "brasa.idle")
        wait_for_line(api.proc, r"BRASA idle")
        assert api.patch("/hotplug/memory", {"requested_size_mib": 64}).status == 204
        assert status(api)["requested_size_mib"] == 64
    finally:
        assert api.stop() == 0, api.output()


def test_region_larger_than_the_window_fails_start(api):
    """1 TiB does not fit the 512 GiB past the 64-bit MMIO window: InstanceStart fails, and
    the VM stays configurable."""
    assert api.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                    "boot_args": "console=ttyS0 brasa.halt"}).status == 204
    assert api.put("/hotplug/memory", {"total_size_mib": 1 << 20}).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).fault() == \
        "Start microvm error: Failed to allocate memory region for virtio-mem"
    assert api.get("/").json()["state"] == "Not started"
