"""Every metrics line has Firecracker 1.16's schema: each group and field its host_tools check
requires, with zeros for the devices brasa does not have yet."""
import fcntl
import json
import os

import pytest

from conftest import KERNELS

pytestmark = pytest.mark.kvm

F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ from Python 3.10 on

AGG = ("min_us", "max_us", "sum_us")
BLOCK = ("activate_fails cfg_fails no_avail_buffer event_fails execute_fails invalid_reqs_count "
         "flush_count queue_event_count rate_limiter_event_count update_count update_fails "
         "read_bytes write_bytes read_count write_count rate_limiter_throttled_events "
         "io_engine_throttled_events remaining_reqs_count").split() + ["read_agg", "write_agg"]
NET = ("activate_fails cfg_fails mac_address_updates no_rx_avail_buffer no_tx_avail_buffer "
       "event_fails rx_queue_event_count rx_event_rate_limiter_count rx_rate_limiter_throttled "
       "rx_tap_event_count rx_bytes_count rx_packets_count rx_fails rx_count tap_read_fails "
       "tap_write_fails tx_bytes_count tx_malformed_frames tx_fails tx_count tx_packets_count "
       "tx_queue_event_count tx_rate_limiter_event_count tx_rate_limiter_throttled "
       "tx_spoofed_mac_count tx_remaining_reqs_count").split() + ["tap_write_agg"]
# Firecracker 1.16's FirecrackerMetrics, group by group (x86_64, no vhost-user).
GROUPS = {
    "api_server": "process_startup_time_us process_startup_time_cpu_us",
    "balloon": "activate_fails inflate_count stats_updates_count stats_update_fails "
               "deflate_count event_fails free_page_report_count free_page_report_freed "
               "free_page_report_fails free_page_hint_count free_page_hint_freed "
               "free_page_hint_fails",
    "block": " ".join(BLOCK),
    "deprecated_api": "deprecated_http_api_calls",
    "get_api_requests": "instance_info_count machine_cfg_count mmds_count vmm_version_count "
                        "hotplug_memory_count",
    "i8042": "error_count missed_read_count missed_write_count read_count reset_count "
             "write_count",
    "latencies_us": "full_create_snapshot diff_create_snapshot load_snapshot pause_vm "
                    "resume_vm vmm_full_create_snapshot vmm_diff_create_snapshot "
                    "vmm_load_snapshot vmm_pause_vm vmm_resume_vm",
    "logger": "missed_metrics_count metrics_fails missed_log_count rate_limited_log_count",
    "mmds": "rx_accepted rx_accepted_err rx_accepted_unusual rx_bad_eth rx_invalid_token "
            "rx_no_token rx_count tx_bytes tx_count tx_errors tx_frames connections_created "
            "connections_destroyed",
    "net": " ".join(NET),
    "patch_api_requests": "drive_count drive_fails network_count network_fails "
                          "machine_cfg_count machine_cfg_fails mmds_count mmds_fails "
                          "hotplug_memory_count hotplug_memory_fails pmem_count pmem_fails",
    "put_api_requests": "actions_count actions_fails boot_source_count boot_source_fails "
                        "drive_count drive_fails logger_count logger_fails machine_cfg_count "
                        "machine_cfg_fails cpu_cfg_count cpu_cfg_fails metrics_count "
                        "metrics_fails network_count network_fails mmds_count mmds_fails "
                        "vsock_count vsock_fails pmem_count pmem_fails serial_count "
                        "serial_fails hotplug_memory_count hotplug_memory_fails",
    "seccomp": "num_faults",
    "vcpu": "exit_io_in exit_io_out exit_mmio_read exit_mmio_write failures "
            "kvmclock_ctrl_fails exit_io_in_agg exit_io_out_agg exit_mmio_read_agg "
            "exit_mmio_write_agg",
    "vmm": "panic_count",
    "uart": "error_count flush_count missed_read_count missed_write_count read_count "
            "write_count rate_limiter_dropped_bytes",
    "signals": "sigbus sigsegv sigxfsz sigxcpu sigpipe sighup sigill",
    "vsock": "activate_fails cfg_fails rx_queue_event_fails tx_queue_event_fails "
             "ev_queue_event_fails muxer_event_fails conn_event_fails rx_queue_event_count "
             "tx_queue_event_count rx_bytes_count tx_bytes_count rx_packets_count "
             "tx_packets_count conns_added conns_killed conns_removed killq_resync "
             "tx_flush_fails tx_write_fails rx_read_fails",
    "entropy": "activate_fails entropy_event_fails entropy_event_count entropy_bytes "
               "host_rng_fails entropy_rate_limiter_throttled rate_limiter_event_count",
    "interrupts": "triggers config_updates",
    "pmem": "activate_fails cfg_fails event_fails queue_event_count "
            "rate_limiter_throttled_events rate_limiter_event_count",
    "memory_hotplug": "activate_fails queue_event_fails queue_event_count plug_count "
                      "plug_bytes plug_fails plug_agg unplug_count unplug_bytes unplug_fails "
                      "unplug_discard_fails unplug_agg state_count state_fails state_agg "
                      "unplug_all_count unplug_all_fails unplug_all_agg",
}


def check_group(name, got, fields):
    assert isinstance(got, dict), name
    for f in fields:
        assert f in got, f"{name}.{f} missing"
        if f.endswith("_agg"):
            assert sorted(got[f]) == sorted(AGG), f"{name}.{f}"
        else:
            assert isinstance(got[f], int), f"{name}.{f}"
    # Nothing Firecracker does not have (e.g. the fields Firecracker 1.14 removed).
    assert sorted(got) == sorted(fields), name


def test_every_line_has_firecrackers_groups(api, tmp_path):
    m = tmp_path / "metrics.json"
    assert api.put("/metrics", {"metrics_path": str(m)}).status == 204
    assert api.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                    "boot_args": "console=ttyS0 brasa.idle"}).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    assert api.put("/actions", {"action_type": "FlushMetrics"}).status == 204
    lines = [json.loads(l) for l in m.read_text().splitlines()]
    assert len(lines) == 2
    for line in lines:
        assert isinstance(line.pop("utc_timestamp_ms"), int)
        for name, fields in GROUPS.items():
            check_group(name, line.get(name), fields.split())
        assert sorted(line) == sorted(GROUPS)


def read_all(fd):
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return out
        if not chunk:
            return out
        out += chunk


def test_full_fifo_never_tears_a_line(api, tmp_path):
    """Lines longer than the pipe (six drives: ~6 KB, over PIPE_BUF) on a FIFO nobody drains:
    what does not fit waits and goes first next time, a line that cannot go at all is
    counted in logger.missed_metrics_count, and the reader only ever sees whole lines."""
    fifo = tmp_path / "metrics.fifo"
    os.mkfifo(fifo)
    rd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    fcntl.fcntl(rd, F_SETPIPE_SZ, 4096)
    assert api.put("/metrics", {"metrics_path": str(fifo)}).status == 204
    assert api.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                    "boot_args": "console=ttyS0 brasa.idle"}).status == 204
    for i in range(6):
        assert api.put(f"/drives/disk{i}", {"drive_id": f"disk{i}", "is_root_device": False,
                                            "is_read_only": True,
                                            "path_on_host": str(KERNELS["pvh"])}).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    got = b""
    # The first line (at boot) filled the pipe; what FlushMetrics cannot write is an error, as
    # in Firecracker (only its periodic writer counts a missed line).
    r = api.put("/actions", {"action_type": "FlushMetrics"})
    assert r.status == 400
    assert r.fault() == ("Internal VMM error: Metrics error: Failed to write metrics: Resource "
                         "temporarily unavailable (os error 11)")
    for _ in range(30):  # drained: the held end goes first, then (what fits of) a new line
        got += read_all(rd)
        if got.count(b"\n") >= 3:
            break
        r = api.put("/actions", {"action_type": "FlushMetrics"})
        assert r.status in (204, 400), r.raw  # 400: not one byte of the line could go
    got += read_all(rd)
    os.close(rd)
    *whole, rest = got.split(b"\n")
    assert len(whole) >= 3
    lines = [json.loads(l) for l in whole]  # each one whole: no torn line in between
    assert all(len(l) > 4096 for l in whole)
    assert all(isinstance(l["block_disk5"], dict) for l in lines)
    assert not rest.endswith(b"}")  # only the last may still be on its way
