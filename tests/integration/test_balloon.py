"""virtio-balloon, driven by the test guest's own driver: inflate gives guest pages back to the
host (brasa's RSS drops, the pages read back as zeros), deflate, the statistics queue, the
post-boot routes with Firecracker's texts, its place among the devices, the balloon metrics,
and hostile drivers that leave brasa and a block device working."""
import json
import subprocess

import pytest

from conftest import KERNELS, make_config, parse_fields, parse_report, wait_for_line, without_pvm_args

pytestmark = pytest.mark.kvm

BASE = 0xC0001000
NEEDS_RESET = 0x40
FIELDS = ["activate_fails", "inflate_count", "stats_updates_count", "stats_update_fails",
          "deflate_count", "event_fails", "free_page_report_count", "free_page_report_freed",
          "free_page_report_fails", "free_page_hint_count", "free_page_hint_freed",
          "free_page_hint_fails"]
STATS = {"swap_in": 1000, "swap_out": 1001, "major_faults": 1002, "minor_faults": 1003,
         "free_memory": 1004, "total_memory": 1005, "available_memory": 1006,
         "disk_caches": 1007, "hugetlb_allocations": 1008, "hugetlb_failures": 1009}


def balloon_totals(path):
    """The balloon group summed over every metrics line (counters are deltas)."""
    lines = [json.loads(l) for l in path.read_text().splitlines()]
    assert lines, "no metrics line"
    for l in lines:
        assert list(l["balloon"]) == FIELDS
    return {k: sum(l["balloon"][k] for l in lines) for k in FIELDS}


def rss_bytes(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * 4096


def line_fields(text, key):
    for raw in parse_report(text).lines:
        if raw.startswith(key + " "):
            return parse_fields(raw[len(key):])
    raise AssertionError(f"no {key!r} line in {text!r}")


def start_api(api, tmp_path, words, balloon, mem=128):
    metrics = tmp_path / "metrics.json"
    assert api.put("/metrics", {"metrics_path": str(metrics)}).status == 204
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": mem}).status == 204
    assert api.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                    "boot_args": f"console=ttyS0 {words}"}).status == 204
    assert api.put("/balloon", balloon).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    return metrics


def test_inflate_gives_memory_back(api, tmp_path):
    """The guest touches 32 MiB; PATCH /balloon asks for them; brasa's RSS drops by them."""
    # A long interval: the stats timer never fires during the test; the PATCH below does.
    metrics = start_api(api, tmp_path, "brasa.balloon brasa.balloon.pages=8192",
                        {"amount_mib": 0, "deflate_on_oom": True,
                         "stats_polling_interval_s": 600})
    out = wait_for_line(api.proc, r"BRASA balloon-touched .*\n")
    dev = line_fields(out, "balloon dev")
    # VERSION_1, DEFLATE_ON_OOM and STATS_VQ, as Firecracker offers them; its queue size.
    assert (dev["features_lo"], dev["features_hi"], dev["qmax"]) == (0x6, 1, 256), out
    assert (dev["status"], dev["num_pages"], dev["actual"]) == (0xF, 0, 0)
    before = rss_bytes(api.proc.pid)
    # The guest's first stats buffer is read at once.
    st = api.get("/balloon/statistics").json()
    assert st == {"target_pages": 0, "actual_pages": 0, "target_mib": 0, "actual_mib": 0,
                  **STATS}
    assert api.patch("/balloon", {"amount_mib": 32}).status == 204
    out = wait_for_line(api.proc, r"BRASA balloon-inflated .*\n")
    inf = line_fields(out, "balloon-inflated")
    assert (inf["pages"], inf["status"], inf["actual"]) == (8192, 0, 8192), out
    assert inf["zero"] == 8192, "inflated pages still hold the guest's data"
    after = rss_bytes(api.proc.pid)
    print(f"RSS before inflate {before >> 10} KiB, after {after >> 10} KiB")
    assert before - after >= 28 << 20, (before, after)
    assert api.get("/balloon").json() == {"amount_mib": 32, "deflate_on_oom": True,
                                          "stats_polling_interval_s": 600,
                                          "free_page_hinting": False,
                                          "free_page_reporting": False}
    assert api.get("/vm/config").json()["balloon"]["amount_mib"] == 32
    st = api.get("/balloon/statistics").json()
    assert (st["target_pages"], st["actual_pages"], st["target_mib"], st["actual_mib"]) == \
        (8192, 8192, 32, 32)
    assert api.patch("/balloon", {"amount_mib": 1000}).fault() == \
        "Balloon update error: Balloon: Requested memory should be less than 1000MiB"
    assert api.patch("/balloon/statistics", {"stats_polling_interval_s": 0}).fault() == \
        "Balloon update error: Balloon: Statistics cannot be enabled/disabled after activation."
    # A new interval hands the held stats buffer back at once: the guest refills it.
    assert api.patch("/balloon/statistics", {"stats_polling_interval_s": 300}).status == 204
    out = wait_for_line(api.proc, r"BRASA balloon-stats-refill n=1")
    assert api.get("/balloon").json()["stats_polling_interval_s"] == 300
    assert api.get("/balloon/hinting/status").fault() == \
        "Balloon update error: Balloon: Attempting to use hinting when not enabled"
    assert api.patch("/balloon", {"amount_mib": 0}).status == 204
    out = wait_for_line(api.proc, r"BRASA done")
    dfl = line_fields(out, "balloon-deflated")
    assert (dfl["pages"], dfl["status"], dfl["zero"]) == (8192, 0, 8192), out
    assert dfl["refills"] == 1
    assert api.proc.wait(timeout=30) == 0
    t = balloon_totals(metrics)
    assert t["inflate_count"] >= 1 and t["deflate_count"] >= 1
    assert t["stats_updates_count"] >= 2
    assert t["stats_update_fails"] >= 1  # tag 99, unknown to Firecracker
    assert t["event_fails"] == t["activate_fails"] == 0


def test_config_file_and_attach_order(brasa, tmp_path):
    """The balloon is Firecracker's first virtio device; a target at boot is inflated at once."""
    disk = tmp_path / "root.img"
    disk.write_bytes(bytes(range(256)) * 256)
    metrics = tmp_path / "metrics.json"
    cfg = make_config(KERNELS["pvh"], "console=ttyS0 brasa.balloon brasa.balloon.pages=4096 "
                      "brasa.balloon.nowait brasa.blk",
                      extra={"balloon": {"amount_mib": 16, "deflate_on_oom": False},
                             "drives": [{"drive_id": "rootfs", "path_on_host": str(disk),
                                         "is_root_device": True, "is_read_only": True}],
                             "metrics": {"metrics_path": str(metrics)}})
    res = brasa.run(cfg, timeout=60)
    assert res.rc == 0, f"exit {res.rc}\nstdout:\n{res.stdout}\nlog:\n{res.log}"
    assert without_pvm_args(res.report.get("cmdline")).endswith(
        "virtio_mmio.device=4K@0xc0001000:5 root=/dev/vda ro virtio_mmio.device=4K@0xc0002000:6")
    assert "Attached balloon device (16 MiB) at 0xc0001000, GSI 5" in res.log
    dev = res.report.fields("balloon dev")
    assert dev["base"] == BASE
    # VERSION_1 only: no stats queue without an interval, no DEFLATE_ON_OOM.
    assert (dev["features_lo"], dev["features_hi"], dev["num_pages"]) == (0, 1, 4096)
    inf = res.report.fields("balloon-inflated")
    assert (inf["pages"], inf["status"], inf["zero"]) == (4096, 0, 4096)
    assert res.report.fields("balloon-deflated")["status"] == 0
    assert res.report.fields("blk-read")["status"] == 0
    t = balloon_totals(metrics)
    assert t["inflate_count"] >= 1 and t["deflate_count"] >= 1
    assert t["stats_updates_count"] == 0 and t["event_fails"] == 0


def test_routes_before_the_driver(api_vm, tmp_path):
    """A balloon the guest never drives: Firecracker's texts for what needs an active device.
    Not checked against the OpenAPI schema: its HintingStatus says guest_cmd is an integer,
    while Firecracker serializes the Option as null until the guest sends one."""
    api = api_vm
    start_api(api, tmp_path, "brasa.halt",
              {"amount_mib": 0, "deflate_on_oom": False, "free_page_hinting": True})
    wait_for_line(api.proc, r"BRASA halting")
    assert api.patch("/balloon", {"amount_mib": 1}).fault() == \
        "Balloon update error: Balloon: Device not activated yet."
    assert api.get("/balloon/statistics").fault() == \
        "Internal VMM error: Balloon: Received stats query when stats are disabled."
    assert api.patch("/balloon/statistics", {"stats_polling_interval_s": 1}).fault() == \
        "Balloon update error: Balloon: Statistics cannot be enabled/disabled after activation."
    assert api.get("/balloon/hinting/status").json() == {"host_cmd": 0, "guest_cmd": None}
    assert api.patch("/balloon/hinting/start", {}).fault() == \
        "Balloon update error: Balloon: Device not activated yet."
    assert api.patch("/balloon/hinting/stop", {}).fault() == \
        "Balloon update error: Balloon: Device not activated yet."
    assert api.get("/balloon").json()["free_page_hinting"] is True
    assert "[DevPreview] Free Page Hinting is in development preview." in api.output()


def test_put_rules(api):
    """Balloon::new()'s own checks, at PUT time as Firecracker makes the device there."""
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 17000000}).status == 204
    assert api.put("/balloon", {"amount_mib": 16777216, "deflate_on_oom": False}).fault() == \
        "Balloon config error: Error creating the balloon device: Requested memory should be " \
        "less than 16777215MiB"
    assert api.put("/balloon", {"amount_mib": 16777215, "deflate_on_oom": False,
                                "free_page_hinting": True}).status == 204
    assert "[DevPreview] Free Page Hinting is in development preview." in api.output()


def test_no_balloon_after_boot(api, tmp_path):
    assert api.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                    "boot_args": "console=ttyS0 brasa.halt"}).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    wait_for_line(api.proc, r"BRASA halting")
    nf = "Failed perform action on device: Device not found"
    assert api.get("/balloon").fault() == "Internal VMM error: " + nf
    assert api.get("/balloon/statistics").fault() == "Internal VMM error: " + nf
    assert api.patch("/balloon", {"amount_mib": 1}).fault() == "Balloon update error: " + nf


HOSTILE = {
    "oob": 0,           # PFNs past RAM, in the MMIO gap, u32::MAX: ignored, acknowledged
    "huge": 0,          # 1024 PFNs in one descriptor: skipped, acknowledged
    "writable": 0,      # a device-writable PFN list: skipped
    "odd": 0,           # 7 bytes: not whole PFNs, skipped
    "stats-odd": 0,     # a 13-byte stats buffer: held, handed back by the timer
    "stats-big": 0,     # a 64 KiB stats buffer: not read, handed back by the timer
    "loop": "reset",    # descriptor chain loops
    "oobdesc": "reset",  # the PFN list outside guest RAM
    "flood": "reset",   # avail index 1000 ahead
}


@pytest.mark.parametrize("mode", sorted(HOSTILE))
def test_hostile_driver(brasa, tmp_path, mode):
    disk = tmp_path / "root.img"
    disk.write_bytes(bytes(range(256)) * 256)
    metrics = tmp_path / "metrics.json"
    cfg = make_config(KERNELS["pvh"], f"console=ttyS0 brasa.balloon.hostile={mode} brasa.blk",
                      extra={"balloon": {"amount_mib": 0, "deflate_on_oom": False,
                                         "stats_polling_interval_s": 1},
                             "drives": [{"drive_id": "rootfs", "path_on_host": str(disk),
                                         "is_root_device": True, "is_read_only": True}],
                             "metrics": {"metrics_path": str(metrics)}})
    res = brasa.run(cfg, timeout=60)
    assert res.rc == 0, f"exit {res.rc}\nstdout:\n{res.stdout}\nlog:\n{res.log}"
    assert res.report.get("balloon-hostile-mode") == mode
    r = res.report.fields("balloon-hostile")
    t = balloon_totals(metrics)
    if HOSTILE[mode] == "reset":
        assert r["devstatus"] & NEEDS_RESET and r["result"] & NEEDS_RESET, res.stdout
        assert "broken virtio driver" in res.log
        assert t["event_fails"] == 1
    else:
        assert (r["result"], r["devstatus"]) == (0, 0xF), res.stdout
        assert t["event_fails"] == 0
    if mode == "oob":
        assert "are not guest RAM" in res.log
    if mode == "huge":
        assert "bogus page count 1024 > 256" in res.log
    if mode == "stats-big":
        assert "stats descriptor too large: 65536 > 2560" in res.log
    # After a reset the balloon works again, and the block device never stopped working.
    assert res.report.fields("balloon-recovered")["status"] == 0
    blk = res.report.fields("blk-read")
    assert blk["status"] == 0 and blk["used"] == 4097


class LinuxBalloonVm:
    """The guest Linux (busybox shell on the console) with a balloon, driven through the API."""

    def __init__(self, tmp_path, balloon):
        from conftest import BRASA, UnixHTTPConnection
        from test_linux import BOOT_TIMEOUT, INITRAMFS, KERNELS as LINUX, boot_args

        for path in (LINUX["pvh"], INITRAMFS):
            if not path.exists():
                pytest.fail(f"{path} is missing: run tools/guest/build.sh")
        cfg = {"boot-source": {"kernel_image_path": str(LINUX["pvh"]),
                               "initrd_path": str(INITRAMFS),
                               "boot_args": boot_args("brasa.shell")},
               "machine-config": {"vcpu_count": 1, "mem_size_mib": 256},
               "balloon": balloon,
               "metrics": {"metrics_path": str(tmp_path / "metrics.json")}}
        (tmp_path / "vm.json").write_text(json.dumps(cfg))
        sock = tmp_path / "api.sock"
        self.proc = subprocess.Popen([str(BRASA), "--api-sock", str(sock), "--config-file",
                                      str(tmp_path / "vm.json"), "--log-path",
                                      str(tmp_path / "log")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        wait_for_line(self.proc, r"busybox shell", timeout=BOOT_TIMEOUT)
        self.conn = UnixHTTPConnection(str(sock))

    def call(self, method, path, body=None):
        self.conn.request(method, path, None if body is None else json.dumps(body))
        r = self.conn.getresponse()
        data = r.read()
        return r.status, json.loads(data) if data else None

    def stats(self):
        status, st = self.call("GET", "/balloon/statistics")
        assert status == 200, st
        return st

    def wait_actual(self, pages):
        import time

        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            st = self.stats()
            if st["actual_pages"] == pages:
                return st
            time.sleep(0.5)
        raise AssertionError(f"actual_pages never reached {pages}: {st}")

    def shell(self, command, done):
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()
        return wait_for_line(self.proc, done, timeout=180)

    def reboot(self):
        self.proc.stdin.write(b"reboot\n")
        self.proc.stdin.flush()
        assert self.proc.wait(timeout=120) == 0

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.mark.timeout(600)  # a Linux boot on kvm_pvm is 30-60 s, more on a loaded host
def test_linux_balloon(tmp_path):
    """Linux's own virtio_balloon driver: it inflates to the target, reports its statistics,
    deflates when PATCH /balloon drops the target, hints free pages in a hinting run and
    reports free pages by itself."""
    import time

    vm = LinuxBalloonVm(tmp_path, {"amount_mib": 32, "deflate_on_oom": True,
                                   "stats_polling_interval_s": 1, "free_page_hinting": True,
                                   "free_page_reporting": True})
    try:
        st = vm.wait_actual(8192)
        assert st["target_mib"] == st["actual_mib"] == 32
        assert 0 < st["free_memory"] <= st["total_memory"] <= 256 << 20, st
        assert vm.call("PATCH", "/balloon", {"amount_mib": 0}) == (204, None)
        vm.wait_actual(0)
        # A hinting run: the guest hints its free pages under the new command id, then says
        # STOP, which brasa acknowledges with DONE (acknowledge_on_stop defaults to true).
        assert vm.call("PATCH", "/balloon/hinting/start", {}) == (204, None)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            status = vm.call("GET", "/balloon/hinting/status")[1]
            if status["host_cmd"] == 1:
                break
            time.sleep(0.5)
        assert status == {"host_cmd": 1, "guest_cmd": 0}, status
        assert vm.call("PUT", "/actions", {"action_type": "FlushMetrics"}) == (204, None)
        t = balloon_totals(tmp_path / "metrics.json")
        print(f"balloon metrics with Linux: {t}")
        assert t["free_page_hint_count"] > 0 and t["free_page_hint_freed"] > 0, t
        assert t["free_page_report_count"] > 0 and t["free_page_report_freed"] > 0, t
        assert t["free_page_hint_fails"] == t["free_page_report_fails"] == 0, t
        assert t["event_fails"] == 0 and t["inflate_count"] > 0 and t["deflate_count"] > 0
        vm.reboot()
    finally:
        vm.close()


@pytest.mark.timeout(600)
def test_linux_balloon_gives_memory_back(tmp_path):
    """Linux touches 100 MiB (a tmpfs file, then removed: the host keeps those pages), then
    its driver inflates the balloon to half of its 256 MiB: brasa's RSS falls by most of what
    was touched. Without hinting or reporting, only the balloon gives memory back."""
    vm = LinuxBalloonVm(tmp_path, {"amount_mib": 0, "deflate_on_oom": False,
                                   "stats_polling_interval_s": 1})
    try:
        vm.shell("dd if=/dev/zero of=/tmp/fill bs=1M count=100 2>/dev/null; rm /tmp/fill; "
                 "echo FILL-$((6*7))", r"FILL-42")
        before = rss_bytes(vm.proc.pid)
        assert vm.call("PATCH", "/balloon", {"amount_mib": 128}) == (204, None)
        vm.wait_actual(128 << 8)
        after = rss_bytes(vm.proc.pid)
        print(f"brasa RSS: {before >> 20} MiB touched, {after >> 20} MiB after the inflate")
        assert before - after >= 64 << 20, (before, after)
        assert vm.call("PATCH", "/balloon", {"amount_mib": 0}) == (204, None)
        vm.wait_actual(0)
        vm.reboot()
    finally:
        vm.close()
