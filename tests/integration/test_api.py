"""The REST API before boot: every route's success, validation errors and state gates.

No guest is booted here (these tests also run without /dev/kvm); every response body is
validated against docs/api/openapi.yaml.
"""
import json
import subprocess

import pytest

from api_schema import SPEC
from conftest import KERNELS, ApiVm, ip, unique

DESER = "An error occurred when deserializing the json body of a request: "
PRE = "The requested operation is not supported before starting the microVM."
VCPUS = ("The number of vCPUs must be greater than 0, less than 32 and must be 1 or an even "
         "number if SMT is enabled.")


def assert_fault(resp, text, status=400):
    assert resp.status == status, (resp.status, resp.raw)
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.fault() == text, resp.fault()


def assert_fault_starts(resp, prefix):
    assert resp.status == 400, (resp.status, resp.raw)
    assert resp.fault().startswith(prefix), resp.fault()


def vm_config(api):
    r = api.get("/vm/config")
    assert r.status == 200
    return r.json()


# ---- basic routes -------------------------------------------------------------------------

def test_instance_info_and_version(api):
    r = api.get("/")
    assert r.status == 200
    assert r.json() == {"id": "anonymous-instance", "state": "Not started",
                        "vmm_version": "1.16.1", "app_name": "Firecracker"}
    assert r.headers["Server"] == "Firecracker API"
    assert r.headers["Connection"] == "keep-alive"
    r = api.get("/version")
    assert r.json() == {"firecracker_version": "1.16.1"}


def test_instance_id_from_command_line(tmp_path):
    vm = ApiVm(tmp_path, args=["--id", "my-vm-1"], validate=SPEC.validate)
    assert vm.get("/").json()["id"] == "my-vm-1"
    assert vm.stop() == 0


def test_default_vm_config(api):
    cfg = vm_config(api)
    assert cfg["machine-config"] == {"vcpu_count": 1, "mem_size_mib": 128, "smt": False,
                                     "track_dirty_pages": False, "huge_pages": "None"}
    assert cfg["boot-source"] == {"kernel_image_path": "", "initrd_path": None,
                                  "boot_args": None}
    assert cfg["drives"] == [] and cfg["network-interfaces"] == [] and cfg["pmem"] == []
    for key in ("balloon", "cpu-config", "logger", "metrics", "mmds-config", "vsock",
                "entropy", "memory-hotplug"):
        assert cfg[key] is None


# ---- machine-config -------------------------------------------------------------------------

def test_machine_config(api):
    assert api.put("/machine-config", {"vcpu_count": 2, "mem_size_mib": 256}).status == 204
    assert api.get("/machine-config").json()["vcpu_count"] == 2
    assert api.patch("/machine-config", {"mem_size_mib": 512}).status == 204
    mc = api.get("/machine-config").json()
    assert (mc["vcpu_count"], mc["mem_size_mib"]) == (2, 512)
    # PUT resets omitted optional fields to their defaults.
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128,
                                       "track_dirty_pages": True}).status == 204
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128}).status == 204
    assert api.get("/machine-config").json()["track_dirty_pages"] is False


@pytest.mark.parametrize("method,body,msg", [
    ("PUT", {"vcpu_count": 0, "mem_size_mib": 128}, "Machine config error: " + VCPUS),
    ("PUT", {"vcpu_count": 33, "mem_size_mib": 128}, "Machine config error: " + VCPUS),
    ("PATCH", {"vcpu_count": 0}, "Machine config error: " + VCPUS),
    ("PUT", {"vcpu_count": 1}, DESER + "missing field `mem_size_mib` at line 1 column 17."),
    ("PUT", {"vcpu_count": 1, "mem_size_mib": 128, "foo": 1},
     DESER + "unknown field `foo`, expected one of `vcpu_count`, `mem_size_mib`, `smt`, "
     "`cpu_template`, `track_dirty_pages`, `huge_pages` at line 1 column 44."),
    ("PUT", {"vcpu_count": "2", "mem_size_mib": 128},
     DESER + "invalid type: string \"2\", expected u8 at line 1 column 18."),
    ("PUT", {"vcpu_count": 1.5, "mem_size_mib": 128},
     DESER + "invalid type: floating point `1.5`, expected u8 at line 1 column 18."),
    ("PUT", {"vcpu_count": 256, "mem_size_mib": 128},
     DESER + "invalid value: integer `256`, expected u8 at line 1 column 18."),
    ("PATCH", {}, "Empty PATCH request."),
    ("PUT", {"vcpu_count": 3, "mem_size_mib": 128, "smt": True}, "Machine config error: " + VCPUS),
])
def test_machine_config_errors(api, method, body, msg):
    assert_fault(api.request(method, "/machine-config", body), msg)
    assert api.get("/machine-config").json()["vcpu_count"] == 1


def test_integers_up_to_u64_max(api, tmp_path):
    """serde takes integers up to u64::MAX (then Firecracker's own checks speak) and larger
    ones as floats; GET shows a u64 back whole."""
    r = api.request("PUT", "/machine-config",
                    '{"vcpu_count": 1, "mem_size_mib": 99999999999999999999999}')
    assert_fault(r, DESER + "invalid type: floating point `100000000000000000000000.0`, "
                 "expected usize at line 1 column 57.")
    r = api.request("PUT", "/machine-config",
                    '{"vcpu_count": 1, "mem_size_mib": 18446744073709551615}')
    assert r.status == 204  # Firecracker takes it, and fails when it maps guest memory
    assert api.get("/machine-config").json()["mem_size_mib"] == 18446744073709551615
    api.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"])})
    assert_fault(api.put("/actions", {"action_type": "InstanceStart"}),
                 "Start microvm error: Invalid Memory Configuration: Cannot create mmap region: "
                 "Out of memory (os error 12)")
    big = 18446744073709551615
    rl = {"bandwidth": {"size": big, "one_time_burst": big, "refill_time": big}, "ops": None}
    (tmp_path / "d.img").write_bytes(b"")
    assert api.put("/drives/d", {"drive_id": "d", "is_root_device": False,
                                 "path_on_host": str(tmp_path / "d.img"),
                                 "rate_limiter": rl}).status == 204
    assert api.get("/vm/config").json()["drives"][0]["rate_limiter"] == rl
    assert_fault(api.put("/vsock", {"guest_cid": big, "uds_path": "v"}),
                 DESER + "invalid value: integer `18446744073709551615`, expected u32 at line 1 "
                 "column 34.")


def test_deprecated_cpu_template_header(api):
    r = api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128, "cpu_template": "None"})
    assert r.status == 204
    assert r.headers.get("Deprecation") == "true"
    assert "Deprecation" not in api.put("/machine-config",
                                        {"vcpu_count": 1, "mem_size_mib": 128}).headers


# ---- boot-source and actions ----------------------------------------------------------------

def test_boot_source(api, tmp_path):
    kernel = KERNELS["pvh"]
    assert api.put("/boot-source", {"kernel_image_path": str(kernel)}).status == 204
    assert vm_config(api)["boot-source"] == {"kernel_image_path": str(kernel),
                                             "initrd_path": None, "boot_args": None}
    assert_fault(api.put("/boot-source", {"kernel_image_path": str(tmp_path / "none")}),
                 "Boot source error: The kernel file cannot be opened: No such file or "
                 "directory (os error 2)")
    assert_fault(api.put("/boot-source", {"kernel_image_path": str(kernel),
                                          "initrd_path": str(tmp_path / "none")}),
                 "Boot source error: The initrd file cannot be opened due to invalid path or "
                 "invalid permissions. No such file or directory (os error 2)")
    assert_fault(api.put("/boot-source", {"kernel_image_path": str(kernel),
                                          "boot_args": "x" * 2048}),
                 "Boot source error: The kernel command line is invalid: Command line string "
                 "too large")
    assert_fault(api.put("/boot-source", {"boot_args": "x"}),
                 DESER + "missing field `kernel_image_path` at line 1 column 18.")
    # A failed PUT keeps the previous boot source.
    assert vm_config(api)["boot-source"]["kernel_image_path"] == str(kernel)


def test_actions_before_boot(api):
    assert_fault(api.put("/actions", {"action_type": "InstanceStart"}),
                 "Start microvm error: Cannot start microvm without kernel configuration.")
    assert_fault(api.put("/actions", {"action_type": "FlushMetrics"}), PRE)
    assert_fault(api.put("/actions", {"action_type": "SendCtrlAltDel"}), PRE)
    assert_fault(api.put("/actions", {"action_type": "Reboot"}),
                 DESER + "unknown variant `Reboot`, expected one of `FlushMetrics`, "
                 "`InstanceStart`, `SendCtrlAltDel` at line 1 column 24.")
    assert_fault(api.put("/actions", {}), DESER + "missing field `action_type` at line 1 column 2.")


# ---- drives ---------------------------------------------------------------------------------

def test_drives(api, tmp_path):
    rootfs = tmp_path / "rootfs.ext4"
    rootfs.write_bytes(b"\0" * 4096)
    body = {"drive_id": "rootfs", "path_on_host": str(rootfs), "is_root_device": True,
            "is_read_only": False}
    assert api.put("/drives/rootfs", body).status == 204
    assert api.put("/drives/data1", {"drive_id": "data1", "path_on_host": str(rootfs),
                                     "is_root_device": False, "cache_type": "Writeback",
                                     "rate_limiter": {"bandwidth": {"size": 1000,
                                                                    "refill_time": 100}}}
                   ).status == 204
    drives = vm_config(api)["drives"]
    assert [d["drive_id"] for d in drives] == ["rootfs", "data1"]
    assert drives[0] == {"drive_id": "rootfs", "partuuid": None, "is_root_device": True,
                         "cache_type": "Unsafe", "is_read_only": False,
                         "path_on_host": str(rootfs), "rate_limiter": None,
                         "io_engine": "Sync", "socket": None}
    assert drives[1]["rate_limiter"] == {"bandwidth": {"size": 1000, "one_time_burst": None,
                                                       "refill_time": 100}, "ops": None}
    assert_fault(api.put("/drives/other", {"drive_id": "other", "path_on_host": str(rootfs),
                                           "is_root_device": True}),
                 "Drive config error: A root block device already exists!")
    assert_fault(api.put("/drives/x", {**body, "drive_id": "y"}),
                 "The id from the path does not match the id from the body!")
    assert_fault(api.put("/drives/a-b", {**body, "drive_id": "a-b"}),
                 "API Resource IDs can only contain alphanumeric characters and underscores.")
    assert_fault(api.put("/drives/", body), "The ID cannot be empty.")
    assert_fault(api.put("/drives/x", {"drive_id": "x", "is_root_device": False,
                                       "path_on_host": str(tmp_path / "missing")}),
                 "Drive config error: Unable to create the virtio block device: Virtio backend "
                 f"error: Error manipulating the backing file: No such file or directory "
                 f"(os error 2) {tmp_path / 'missing'}")
    assert_fault(api.patch("/drives/rootfs", {"drive_id": "rootfs", "path_on_host": "/x"}), PRE)
    assert_fault(api.request("DELETE", "/drives/rootfs"), PRE)


# ---- devices stored for later milestones ------------------------------------------------------

def test_network_interfaces(api, make_tap):
    tap = make_tap()
    body = {"iface_id": "net1", "guest_mac": "06:00:AC:10:00:02", "host_dev_name": tap}
    assert api.put("/network-interfaces/net1", body).status == 204
    assert vm_config(api)["network-interfaces"] == [
        {"iface_id": "net1", "host_dev_name": tap, "guest_mac": "06:00:ac:10:00:02",
         "mtu": None, "rx_rate_limiter": None, "tx_rate_limiter": None}]
    assert_fault(api.put("/network-interfaces/net2", {**body, "iface_id": "net2"}),
                 "Network config error: The MAC address is already in use: 06:00:ac:10:00:02")
    assert_fault(api.put("/network-interfaces/net2", {**body, "iface_id": "net3"}),
                 "The id from the path [net2] does not match the id from the body [net3]!")
    assert_fault(api.put("/network-interfaces/n", {"iface_id": "n", "host_dev_name": "t",
                                                   "guest_mac": "zz"}),
                 DESER + "The provided MAC address is invalid. at line 1 column 58.")
    assert_fault(api.put("/network-interfaces/n", {"iface_id": "n", "host_dev_name": "t",
                                                   "mtu": 70000}),
                 DESER + "invalid value: integer `70000`, expected u16 at line 1 column 52.")
    assert_fault(api.patch("/network-interfaces/net1", {"iface_id": "net1"}), PRE)


TAP_FAIL = ("Network config error: Could not create the network device: Open tap device failed: "
            "Error while creating ifreq structure: {err}. Invalid TUN/TAP Backend provided by "
            "{tap}. Check our documentation on setting up the network devices.")


def test_taps_are_opened_at_put(api, make_tap):
    """As Firecracker's NetBuilder: the tap is opened when the interface is stored, so a missing,
    busy or multi-queue tap is refused right there, with Firecracker's texts."""
    missing = unique("nt")
    assert_fault(api.put("/network-interfaces/a", {"iface_id": "a", "host_dev_name": missing}),
                 TAP_FAIL.format(err="No such device (os error 19)", tap=missing))
    assert subprocess.run(["ip", "link", "show", missing], capture_output=True).returncode != 0
    tap1, tap2 = make_tap(), make_tap()
    assert api.put("/network-interfaces/a", {"iface_id": "a", "host_dev_name": tap1,
                                             "guest_mac": "06:00:00:00:00:01"}).status == 204
    assert api.put("/network-interfaces/b", {"iface_id": "b", "host_dev_name": tap2}).status == 204
    # brasa holds the tap from now on: a second open of it is busy.
    busy = {"iface_id": "a", "host_dev_name": tap2, "guest_mac": "06:00:00:00:00:01"}
    assert_fault(api.put("/network-interfaces/a", busy),
                 TAP_FAIL.format(err="Device or resource busy (os error 16)", tap=tap2))
    # Firecracker removes the interface it replaces before it opens the new tap: "a" is gone,
    # so its MAC and tap are free again.
    assert [n["iface_id"] for n in vm_config(api)["network-interfaces"]] == ["b"]
    assert api.put("/network-interfaces/c", {"iface_id": "c", "host_dev_name": tap1,
                                             "guest_mac": "06:00:00:00:00:01"}).status == 204
    # An MTU out of range is checked once the tap is open, and the tap is let go again.
    assert_fault(api.put("/network-interfaces/d", {"iface_id": "d", "host_dev_name": make_tap(),
                                                   "mtu": 67}),
                 "Network config error: Could not create the network device: MTU 67 is out of "
                 "range [68, 65535]")
    assert_fault(api.put("/network-interfaces/d", {"iface_id": "d",
                                                   "host_dev_name": "0123456789abcdef"}),
                 "Network config error: Could not create the network device: Open tap device "
                 "failed: Invalid interface name")


def test_multi_queue_tap_is_refused(api):
    tap = unique("mq")
    ip("tuntap", "add", "name", tap, "mode", "tap", "multi_queue")
    try:
        assert_fault(api.put("/network-interfaces/a", {"iface_id": "a", "host_dev_name": tap}),
                     TAP_FAIL.format(err="Invalid argument (os error 22)", tap=tap))
    finally:
        subprocess.run(["ip", "link", "del", tap], capture_output=True)


def test_vsock_entropy_balloon(api):
    sock = str(api.sock_dir / "v.sock")  # bound by the PUT, as Firecracker binds it
    r = api.put("/vsock", {"guest_cid": 3, "uds_path": sock, "vsock_id": "v"})
    assert r.status == 204 and r.headers.get("Deprecation") == "true"
    assert api.put("/entropy", {"rate_limiter": {"ops": {"size": 5, "refill_time": 10}}}
                   ).status == 204
    assert_fault(api.get("/balloon"), "Balloon config error: No balloon device found.")
    assert api.put("/balloon", {"amount_mib": 64, "deflate_on_oom": True}).status == 204
    assert api.get("/balloon").json() == {"amount_mib": 64, "deflate_on_oom": True,
                                          "stats_polling_interval_s": 0,
                                          "free_page_hinting": False,
                                          "free_page_reporting": False}
    assert_fault(api.put("/balloon", {"amount_mib": 4096, "deflate_on_oom": True}),
                 "Balloon config error: Amount of pages requested is too large.")
    assert_fault(api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 32}),
                 "Machine config error: The memory size (MiB) is smaller than the previously "
                 "set balloon device target size.")
    cfg = vm_config(api)
    assert cfg["vsock"] == {"guest_cid": 3, "uds_path": sock}
    assert cfg["entropy"] == {"rate_limiter": {"bandwidth": None, "ops": {
        "size": 5, "one_time_burst": None, "refill_time": 10}}}
    assert cfg["balloon"]["amount_mib"] == 64
    assert_fault(api.patch("/balloon", {"amount_mib": 1}), PRE)
    assert_fault(api.get("/balloon/statistics"), PRE)
    assert_fault(api.get("/balloon/hinting/foo"), "Unrecognized GET request path `/hinting/foo`.")


def test_pmem_hotplug_mmds_config_serial_cpu(api, tmp_path, make_tap):
    img = tmp_path / "pmem.img"
    img.write_bytes(b"\0" * 4096)
    assert api.put("/pmem/pm0", {"id": "pm0", "path_on_host": str(img)}).status == 204
    assert vm_config(api)["pmem"] == [{"id": "pm0", "path_on_host": str(img),
                                       "root_device": False, "read_only": False,
                                       "rate_limiter": None}]
    assert api.put("/hotplug/memory", {"total_size_mib": 1024}).status == 204
    assert vm_config(api)["memory-hotplug"] == {"total_size_mib": 1024, "block_size_mib": 2,
                                                "slot_size_mib": 128}
    assert_fault(api.put("/hotplug/memory", {"total_size_mib": 1000}),
                 "Memory hotplug config error: Total size must be a multiple of slot size "
                 "(128 MiB)")
    assert_fault(api.get("/hotplug/memory"), PRE)
    assert_fault(api.put("/mmds/config", {"network_interfaces": ["nope"]}),
                 "MMMDS config error: The list of network interface IDs provided contains at "
                 "least one ID that does not correspond to any existing network interface.")
    assert api.put("/network-interfaces/eth0", {"iface_id": "eth0",
                                                "host_dev_name": make_tap()}).status == 204
    r = api.put("/mmds/config", {"network_interfaces": ["eth0"]})
    assert r.status == 204 and r.headers.get("Deprecation") == "true"
    r = api.put("/mmds/config", {"network_interfaces": ["eth0"], "version": "V2",
                                 "ipv4_address": "169.254.169.250"})
    assert r.status == 204 and "Deprecation" not in r.headers
    assert vm_config(api)["mmds-config"] == {"version": "V2", "network_interfaces": ["eth0"],
                                             "ipv4_address": "169.254.169.250",
                                             "imds_compat": False}
    assert_fault(api.put("/mmds/config", {"network_interfaces": ["eth0"],
                                          "ipv4_address": "10.0.0.1"}),
                 "MMMDS config error: The MMDS IPv4 address is not link local.")
    assert api.put("/serial", {"serial_out_path": str(tmp_path / "serial.out")}).status == 204
    assert api.put("/cpu-config", {"kvm_capabilities": ["!56"]}).status == 204
    assert_fault(api.put("/cpu-config", {"foo": []}),
                 DESER + "unknown field `foo`, expected one of `kvm_capabilities`, "
                 "`cpuid_modifiers`, `msr_modifiers` at line 1 column 6.")


# ---- logger, metrics, mmds ------------------------------------------------------------------

def test_logger(api, tmp_path):
    log = tmp_path / "api.log"
    assert api.put("/logger", {"log_path": str(log), "level": "Debug", "show_level": True,
                               "show_log_origin": True}).status == 204
    api.get("/")
    text = log.read_text()
    assert ":fc_api:INFO:src/api/router.c:" in text, text
    assert "The API server received a Get request on \"/\"." in text
    assert "Total previous API call duration" in text  # DEBUG is on
    assert_fault(api.put("/logger", {"level": "Loud"}), DESER + "Invalid LevelFilter at line 1 column 17.")
    assert_fault(api.put("/logger", {"log_path": str(tmp_path / "no" / "dir.log")}),
                 "Logger error: Failed to open target file: No such file or directory "
                 "(os error 2)")


def test_metrics(api, tmp_path):
    m = tmp_path / "metrics.json"
    assert api.put("/metrics", {"metrics_path": str(m)}).status == 204
    assert_fault(api.put("/metrics", {"metrics_path": str(m)}),
                 "Metrics error: Cannot initialize the metrics system due to bad user input: "
                 "Reinitialization of metrics not allowed.")
    assert_fault(api.put("/metrics", {}), DESER + "missing field `metrics_path` at line 1 column 2.")


def test_mmds(api):
    assert api.get("/mmds").json() == {}
    assert_fault(api.patch("/mmds", {"a": 1}),
                 "MMDS error: The MMDS data store is not initialized.")
    assert api.put("/mmds", {"latest": {"meta-data": {"ami-id": "abc", "x": 1}}}).status == 204
    assert api.patch("/mmds", {"latest": {"meta-data": {"x": None, "y": [1]}}}).status == 204
    assert api.get("/mmds").json() == {"latest": {"meta-data": {"ami-id": "abc", "y": [1]}}}
    assert api.put("/mmds", {"big": "x" * 30000}).status == 204
    r = api.patch("/mmds", {"bigger": "y" * 30000})
    assert r.status == 413
    assert r.json()["fault_message"] == ("MMDS limit exceeded error: The MMDS patch request "
                                         "doesn't fit.")
    assert_fault(api.put("/mmds/foo", {}), "Unrecognized PUT request path `foo`.")


def test_mmds_size_limit_flag(tmp_path):
    vm = ApiVm(tmp_path, args=["--mmds-size-limit", "20"], validate=SPEC.validate)
    assert vm.put("/mmds", {"a": "b"}).status == 204
    assert vm.put("/mmds", {"a": "0123456789abcdef"}).status == 413
    # Counted as serde_json writes the store ({"a":0.1,"b":1e-7}, 18 bytes), not as jansson
    # would (0.10000000000000001, 9.9999999999999995e-08).
    assert vm.put("/mmds", {"a": 0.1, "b": 1e-7}).status == 204
    assert vm.get("/mmds").json() == {"a": 0.1, "b": 1e-7}
    assert vm.put("/mmds", {"a": 0.1, "b": 1e-7, "c": 1}).status == 413
    assert vm.stop() == 0


# ---- snapshots, vm state, hotplug -------------------------------------------------------------

def test_snapshot_and_vm_state(api):
    assert_fault(api.put("/snapshot/create", {"snapshot_path": "s", "mem_file_path": "m"}), PRE)
    assert_fault(api.patch("/vm", {"state": "Paused"}), PRE)
    assert_fault(api.patch("/vm", {"state": "Frozen"}),
                 DESER + "unknown variant `Frozen`, expected `Paused` or `Resumed` "
                 "at line 1 column 18.")
    assert_fault(api.put("/snapshot/load", {"snapshot_path": "s"}),
                 DESER + "missing field: either `mem_backend` or `mem_file_path` is required.")
    assert_fault(api.put("/snapshot/", {}), "Missing snapshot operation type.")
    assert_fault(api.put("/snapshot/save", {}),
                 "Invalid request method and/or path: PUT /snapshot/save.")
    api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128})
    assert_fault(api.put("/snapshot/load", {"snapshot_path": "s",
                                            "mem_backend": {"backend_type": "File",
                                                            "backend_path": "m"}}),
                 "Load snapshot error: Loading a microVM snapshot not allowed after configuring "
                 "boot-specific resources.")
    assert api.get("/").status == 200  # a refused load ends nothing


@pytest.mark.parametrize("exists", [False, True])
def test_failed_snapshot_load_ends_brasa(tmp_path, exists):
    """Firecracker exits 1 after any load that fails past the gates (the process is "too dirty
    to recover"), once it has answered (test_snapshot.py has the other bad state files)."""
    api = ApiVm(tmp_path, validate=SPEC.validate)
    state = tmp_path / "vm.state"
    if exists:
        state.write_bytes(b"not a snapshot")
    r = api.put("/snapshot/load", {"snapshot_path": str(state), "mem_file_path": "m"})
    assert r.headers.get("Deprecation") == "true"
    if exists:
        assert_fault(r, "Load snapshot error: Failed to restore from snapshot: Failed to get "
                        "snapshot state from file: Failed to load snapshot state from file: the "
                        "file is too short (14 bytes)")
    else:
        assert_fault(r, "Load snapshot error: Failed to restore from snapshot: Failed to get "
                        "snapshot state from file: Failed to open snapshot file: No such file or "
                        "directory (os error 2)")
    assert api.proc.wait(timeout=10) == 1
    api.stop()
    log = api.output().splitlines()
    assert log[-2].endswith("RunWithApiError error: Failed to build MicroVM: Loading snapshot "
                            "failed.."), log
    assert log[-1].endswith("Firecracker exiting with error. exit_code=1")
    assert api.stdout == "Error: RunWithApi(BuildMicroVmError(Restore))\n"


# ---- paths, methods, bodies --------------------------------------------------------------------

@pytest.mark.parametrize("method,path,body,msg", [
    ("GET", "/foo", None, "Invalid request method and/or path: GET foo."),
    ("PUT", "/foo", {}, "Invalid request method and/or path: PUT foo."),
    ("GET", "/vm", None, "Invalid request method and/or path: GET vm."),
    ("PATCH", "/boot-source", {"a": 1}, "Invalid request method and/or path: PATCH boot-source."),
    ("DELETE", "/machine-config", None,
     "Invalid request method and/or path: DELETE machine-config."),
    ("GET", "/machine-config", {"a": 1}, "GET request cannot have a body."),
    ("PUT", "/machine-config", None, "Empty PUT request."),
    ("PATCH", "/machine-config", None, "Empty PATCH request."),
    ("PUT", "/foo", None, "Empty PUT request."),
    ("PUT", "/boot-source", "{",
     DESER + "string or '}' expected near end of file at line 1 column 1."),
    ("PUT", "/boot-source", '{"kernel_image_path": "a", "kernel_image_path": "b"}',
     DESER + "duplicate object key near '\"kernel_image_path\"' at line 1 column 46."),
])
def test_bad_routes_and_bodies(api, method, path, body, msg):
    data = body if body is None or isinstance(body, str) else json.dumps(body)
    assert_fault(api.request(method, path, data), msg)
    assert api.get("/").status == 200  # the connection and the server keep going


def test_absolute_uri_and_trailing_tokens(api):
    assert api.get("http://localhost/machine-config").status == 200
    assert api.get("/machine-config/extra").status == 200  # Firecracker ignores extra tokens


def test_logger_fifo_and_module(api, tmp_path):
    import os
    fifo = tmp_path / "log.fifo"
    os.mkfifo(fifo)
    # No reader yet: Firecracker's open_file_nonblock() succeeds anyway.
    assert api.put("/logger", {"log_path": str(fifo), "module": "src/api/server"}).status == 204
    for _ in range(3):
        api.get("/version")
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    text = os.read(fd, 65536).decode()
    os.close(fd)
    assert "Status code: 200 OK." in text  # logged in src/api/server.c
    assert "received a Get request" not in text  # logged in src/api/router.c: filtered out
