"""virtio-rng (the entropy device), driven by the test guest's own driver: bytes through the
config file and the API, the 64 KiB cap, its place among the devices, rate limits, the entropy
metrics, and a hostile driver that leaves brasa and the other devices working."""
import json

import pytest

from conftest import KERNELS, make_config, wait_for_line, without_pvm_args

pytestmark = pytest.mark.kvm

BASE = 0xC0001000
NEEDS_RESET = 0x40
FIELDS = ["activate_fails", "entropy_event_fails", "entropy_event_count", "entropy_bytes",
          "host_rng_fails", "entropy_rate_limiter_throttled", "rate_limiter_event_count"]


def boot_rng(brasa, words, entropy=None, extra=None, timeout=60):
    more = {"entropy": {} if entropy is None else entropy}
    more.update(extra or {})
    cfg = make_config(KERNELS["pvh"], f"console=ttyS0 {words}", extra=more)
    res = brasa.run(cfg, timeout=timeout)
    assert res.rc == 0, f"exit {res.rc}\nstdout:\n{res.stdout}\nlog:\n{res.log}"
    assert res.report.get("panic") is None, res.stdout
    assert res.report.get("done") is not None, res.stdout
    return res


def entropy_totals(path):
    """The entropy group summed over every metrics line (counters are deltas)."""
    lines = [json.loads(l) for l in path.read_text().splitlines()]
    assert lines, "no metrics line"
    for l in lines:
        assert list(l["entropy"]) == FIELDS
    return {k: sum(l["entropy"][k] for l in lines) for k in FIELDS}


def test_reads_through_config_file(brasa, tmp_path):
    metrics = tmp_path / "metrics.json"
    res = boot_rng(brasa, "brasa.rng brasa.rng.count=6 brasa.rng.size=64",
                   extra={"metrics": {"metrics_path": str(metrics)}})
    dev = res.report.fields("rng dev")
    assert dev["base"] == BASE and dev["status"] == 0xF
    # VIRTIO_F_VERSION_1 (bit 32) and nothing else, as Firecracker; its queue size.
    assert (dev["features_lo"], dev["features_hi"], dev["qmax"]) == (0, 1, 256)
    r = res.report.fields("rng-read")
    assert (r["count"], r["ok"], r["bytes"], r["maxlen"], r["status"]) == (6, 6, 384, 64, 0)
    assert r["same"] == 0 and r["untouched"] == 6 and r["differ"] == 1, res.stdout
    assert "Attached entropy device at 0xc0001000, GSI 5" in res.log
    t = entropy_totals(metrics)
    assert t["entropy_event_count"] == 6 and t["entropy_bytes"] == 384
    assert t["entropy_event_fails"] == t["host_rng_fails"] == t["activate_fails"] == 0
    assert t["entropy_rate_limiter_throttled"] == 0


def test_request_is_capped_at_64k(brasa):
    res = boot_rng(brasa, "brasa.rng brasa.rng.count=3 brasa.rng.size=131072")
    r = res.report.fields("rng-read")
    assert (r["ok"], r["maxlen"], r["bytes"]) == (3, 65536, 3 * 65536)
    assert r["untouched"] == 3, "the device wrote past 64 KiB"


def test_placed_after_drives(brasa, tmp_path):
    """Firecracker's attach order: block, net, (pmem, vsock,) entropy: the next slot and GSI."""
    disk = tmp_path / "root.img"
    disk.write_bytes(bytes(64 << 10))
    drives = [{"drive_id": "rootfs", "path_on_host": str(disk), "is_root_device": True,
               "is_read_only": False}]
    res = boot_rng(brasa, "brasa.rng brasa.blk", extra={"drives": drives})
    assert without_pvm_args(res.report.get("cmdline")).endswith(
        "virtio_mmio.device=4K@0xc0001000:5 virtio_mmio.device=4K@0xc0002000:6")
    assert res.report.fields("rng dev")["base"] == BASE + 0x1000
    assert res.report.fields("rng-read")["ok"] == 2
    assert res.report.get("blk-read") is not None


def test_api_entropy_and_metrics(api, tmp_path):
    metrics = tmp_path / "metrics.json"
    assert api.put("/metrics", {"metrics_path": str(metrics)}).status == 204
    assert api.put("/boot-source", {
        "kernel_image_path": str(KERNELS["pvh"]),
        "boot_args": "console=ttyS0 brasa.rng brasa.rng.count=4 brasa.rng.size=1000 brasa.halt",
    }).status == 204
    assert api.put("/entropy", {}).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    out = wait_for_line(api.proc, r"BRASA halting")
    assert "BRASA rng-read count=4 ok=4 bytes=4000 maxlen=1000 same=0 untouched=4 differ=1" \
        in out, out
    assert api.get("/vm/config").json()["entropy"] == {"rate_limiter": None}
    # Pre-boot only.
    r = api.put("/entropy", {})
    assert r.status == 400
    assert "not supported after starting the microVM" in r.fault()
    assert api.put("/actions", {"action_type": "FlushMetrics"}).status == 204
    t = entropy_totals(metrics)
    assert t["entropy_event_count"] == 4 and t["entropy_bytes"] == 4000
    assert t["entropy_event_fails"] == 0


@pytest.mark.parametrize("bucket", ["ops", "bandwidth"])
def test_rate_limited(brasa, tmp_path, bucket):
    """Requests beyond the bucket wait for the limiter's timer, and are counted; all arrive."""
    metrics = tmp_path / "metrics.json"
    rl = {"ops": {"size": 1, "refill_time": 100}} if bucket == "ops" else \
        {"bandwidth": {"size": 1024, "refill_time": 100}}
    res = boot_rng(brasa, "brasa.rng brasa.rng.count=5 brasa.rng.size=1000",
                   entropy={"rate_limiter": rl},
                   extra={"metrics": {"metrics_path": str(metrics)}})
    r = res.report.fields("rng-read")
    assert (r["ok"], r["bytes"], r["differ"]) == (5, 5000, 1)
    t = entropy_totals(metrics)
    assert t["entropy_event_count"] >= 5 and t["entropy_bytes"] == 5000
    assert t["entropy_rate_limiter_throttled"] >= 1
    assert t["rate_limiter_event_count"] >= 1


HOSTILE = {
    "readable": 0,      # device-readable buffer: 0 bytes, entropy_event_fails (Firecracker)
    "mixed": 0,         # readable then writable: the same
    "zero": 0,          # zero-length buffer: 0 bytes
    "huge": 65536,      # 8 overlapping 64 KiB buffers: capped at 64 KiB
    "indirect": 100,    # a healthy indirect request
    "oob": "reset",     # buffer outside guest RAM
    "wrap": "reset",    # address + length wraps
    "loop": "reset",    # descriptor chain loops
    "badnext": "reset",  # next index out of range
    "badind": "reset",  # indirect table outside RAM
    "badhead": "reset",  # avail ring entry out of range
    "flood": "reset",   # avail index 1000 ahead
}


@pytest.mark.parametrize("mode", sorted(HOSTILE))
def test_hostile_driver(brasa, tmp_path, mode):
    disk = tmp_path / "root.img"
    disk.write_bytes(bytes(range(256)) * 256)
    drives = [{"drive_id": "rootfs", "path_on_host": str(disk), "is_root_device": True,
               "is_read_only": True}]
    metrics = tmp_path / "metrics.json"
    res = boot_rng(brasa, f"brasa.rng.hostile={mode} brasa.blk",
                   extra={"drives": drives, "metrics": {"metrics_path": str(metrics)}})
    assert res.report.get("rng-hostile-mode") == mode
    r = res.report.fields("rng-hostile")
    t = entropy_totals(metrics)
    if HOSTILE[mode] == "reset":
        assert r["devstatus"] & NEEDS_RESET, res.stdout
        assert r["result"] & NEEDS_RESET, res.stdout
        assert r["isr"] & 2, "no configuration-change interrupt with NEEDS_RESET"
        assert "broken virtio driver" in res.log
        assert t["entropy_event_fails"] == 1
    else:
        assert r["result"] == 0 and r["devstatus"] == 0xF, res.stdout
        assert r["used_len"] == HOSTILE[mode]
        assert t["entropy_event_fails"] == (1 if mode in ("readable", "mixed") else 0)
    # After a reset the device works again, and the block device never stopped working.
    rec = res.report.fields("rng-recovered")
    assert (rec["status"], rec["len"], rec["devstatus"]) == (0, 64, 0xF)
    blk = res.report.fields("blk-read")
    assert blk["status"] == 0 and blk["used"] == 4097
