"""--metadata PATH: the MMDS data store filled from a JSON file at start-up (main.rs,
rpc_interface.rs build_microvm_from_requests, resources.rs from_json), in both modes."""
import json
import signal

import pytest

from conftest import KERNELS, ApiVm, make_config
from test_cli import assert_main_error, log_messages, run

GENERIC = 1
LOADED = "Successfully added metadata to mmds from file"
DOES_NOT_FIT = "The MMDS patch request doesn't fit."
METADATA = {
    "latest": {"meta-data": "Lorem ipsum dolor sit amet", "user-data": "userdata 1 2 3 4"},
    "2019-08-01": {"some-data": {"field1": "val1", "field2": [1, 2, 3, 4]}},
}


def write_metadata(tmp_path, data=METADATA, name="metadata.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=4))
    return path


def compact_size(data):
    return len(json.dumps(data, separators=(",", ":")))


def test_api_mode_serves_the_file(tmp_path):
    vm = ApiVm(tmp_path, args=["--metadata", str(write_metadata(tmp_path))])
    try:
        r = vm.get("/mmds")
        assert r.status == 200, r.raw
        assert r.json() == METADATA
        # the store is the one PATCH and PUT work on, within the same limit
        assert vm.patch("/mmds", {"latest": {"user-data": None}}).status == 204
        assert vm.get("/mmds").json()["latest"] == {"meta-data": "Lorem ipsum dolor sit amet"}
        assert LOADED in log_messages(vm.output())
    finally:
        assert vm.stop() == 0, vm.output()


def test_api_mode_any_json_value(tmp_path):
    # serde_json::Value: a document need not be an object
    vm = ApiVm(tmp_path, args=["--metadata", str(write_metadata(tmp_path, "[1, \"two\"]"))])
    try:
        assert vm.get("/mmds").json() == [1, "two"]
    finally:
        assert vm.stop() == 0, vm.output()


def populate_failed(tmp_path, *args, data=METADATA):
    path = write_metadata(tmp_path, data)
    sock, log = tmp_path / "s.sock", tmp_path / "fc.log"
    rc, _, err = run("--api-sock", str(sock), "--log-path", str(log), "--metadata", str(path),
                     *args)
    return rc, log.read_text(), err


def assert_populate_failed(rc, log, err):
    assert_main_error(rc, log, err, GENERIC,
                      "RunWithApiError error: Failed to build MicroVM: Populating MMDS from "
                      f"file failed: {DOES_NOT_FIT}.",
                      "RunWithApi(BuildMicroVmError(PopulateMmds(DataStoreLimitExceeded)))")
    assert LOADED not in log


def test_size_limit(tmp_path):
    rc, log, err = populate_failed(tmp_path, "--mmds-size-limit", "30")
    assert_populate_failed(rc, log, err)


def test_size_limit_counts_the_compact_serialization(tmp_path):
    # put_data() compares serde_json::to_vec()'s length: the file's indentation does not count
    size = compact_size(METADATA)
    path = write_metadata(tmp_path)
    assert path.stat().st_size > size
    vm = ApiVm(tmp_path, args=["--metadata", str(path), "--mmds-size-limit", str(size)])
    try:
        assert vm.get("/mmds").json() == METADATA
    finally:
        assert vm.stop() == 0, vm.output()
    rc, log, err = populate_failed(tmp_path, "--mmds-size-limit", str(size - 1))
    assert_populate_failed(rc, log, err)


def test_default_limit_is_the_payload_limit(tmp_path):
    rc, log, err = populate_failed(tmp_path, "--http-api-max-payload-size", "30")
    assert_populate_failed(rc, log, err)


def test_default_limit_is_51200(tmp_path):
    # HTTP_MAX_PAYLOAD_SIZE: a store of exactly 51200 bytes fits, one more byte does not
    fits = {"k": "x" * (51200 - compact_size({"k": ""}))}
    assert compact_size(fits) == 51200
    vm = ApiVm(tmp_path, args=["--metadata", str(write_metadata(tmp_path, fits))])
    try:
        assert vm.get("/mmds").json() == fits
    finally:
        assert vm.stop() == 0, vm.output()
    rc, log, err = populate_failed(tmp_path, data={"k": fits["k"] + "x"})
    assert_populate_failed(rc, log, err)


def assert_panic(rc, log, err, message):
    """An expect() in Firecracker: the panic logged, then SIGABRT; no exit line."""
    assert rc == -signal.SIGABRT, (rc, log, err)
    msgs = log_messages(log)
    assert msgs[-1].startswith("Firecracker panicked at "), msgs
    assert msgs[-1].split("\n", 1)[1] == message, msgs
    assert "exit_code" not in log


def test_missing_file(tmp_path):
    log = tmp_path / "fc.log"
    rc, _, err = run("--api-sock", str(tmp_path / "s.sock"), "--log-path", str(log),
                     "--metadata", str(tmp_path / "nonexisting.json"))
    assert_panic(rc, log.read_text(), err,
                 "Unable to open or read from the mmds content file: Os { code: 2, kind: "
                 'NotFound, message: "No such file or directory" }')
    assert not (tmp_path / "s.sock").exists()  # read before the API socket is bound


@pytest.mark.parametrize("text, serde", [
    ('{\n    "latest": {\n        "a": "b"\n    },\n\n',
     'Error("EOF while parsing an object", line: 6, column: 0)'),
    ('{"a": [1, 2', 'Error("EOF while parsing a list", line: 1, column: 11)'),
    ('{"a": "b', 'Error("EOF while parsing a string", line: 1, column: 8)'),
    ('{"a":\n', 'Error("EOF while parsing a value", line: 2, column: 0)'),
    ('{"a": tr', 'Error("EOF while parsing a value", line: 1, column: 8)'),
    ('', 'Error("EOF while parsing a value", line: 1, column: 0)'),
], ids=["object", "list", "string", "value", "literal", "empty"])
def test_invalid_json(tmp_path, text, serde):
    log = tmp_path / "fc.log"
    rc, _, err = run("--api-sock", str(tmp_path / "s.sock"), "--log-path", str(log),
                     "--metadata", str(write_metadata(tmp_path, text)))
    assert_panic(rc, log.read_text(), err,
                 f"MMDS error: metadata provided not valid json: {serde}")


@pytest.mark.kvm
def test_no_api_accepts_metadata(brasa, tmp_path):
    res = brasa.run(make_config(KERNELS["pvh"], "console=ttyS0"),
                    args=["--metadata", str(write_metadata(tmp_path))])
    assert res.rc == 0, res.log
    msgs = log_messages(res.log)
    assert LOADED in msgs
    # from_json() fills the store before it builds the VM
    assert msgs.index(LOADED) < msgs.index(
        "Successfully started microvm that was configured from one single json")


@pytest.mark.kvm
def test_no_api_size_limit(brasa, tmp_path):
    res = brasa.run(make_config(KERNELS["pvh"], "console=ttyS0"),
                    args=["--metadata", str(write_metadata(tmp_path)), "--mmds-size-limit", "30"])
    assert res.rc == GENERIC, res.log
    reason = f"MMDS error: {DOES_NOT_FIT}"
    assert log_messages(res.log)[-2:] == [
        "RunWithoutApiError error: Failed to build MicroVM from Json: Configuration for VMM "
        f"from one single json failed: {reason}",
        "Firecracker exiting with error. exit_code=1"]


@pytest.mark.kvm
def test_no_api_metadata_before_mmds_config(brasa, tmp_path):
    # from_json() fills the store after "balloon" and before "mmds-config": a bad
    # mmds-config is reported after the metadata line, a bad balloon before it
    cfg = make_config(KERNELS["pvh"], "console=ttyS0")
    cfg["mmds-config"] = {"network_interfaces": ["nope"]}
    res = brasa.run(cfg, args=["--metadata", str(write_metadata(tmp_path))])
    assert res.rc == GENERIC, res.log
    msgs = log_messages(res.log)
    assert msgs[-3:-1] == [
        LOADED,
        "RunWithoutApiError error: Failed to build MicroVM from Json: Configuration for VMM "
        "from one single json failed: MMDS config error: The list of network interface IDs "
        "provided contains at least one ID that does not correspond to any existing network "
        "interface."], msgs
    cfg = make_config(KERNELS["pvh"], "console=ttyS0")
    cfg["balloon"] = {"amount_mib": 1 << 20, "deflate_on_oom": False}
    res = brasa.run(cfg, args=["--metadata", str(write_metadata(tmp_path))])
    assert res.rc == GENERIC, res.log
    assert LOADED not in res.log
    assert "Balloon device error: Amount of pages requested is too large." in res.log


@pytest.mark.kvm
def test_config_file_with_api_serves_the_file(tmp_path):
    cfg_path = tmp_path / "vm.json"
    cfg_path.write_text(json.dumps(make_config(KERNELS["pvh"], "console=ttyS0 brasa.idle")))
    vm = ApiVm(tmp_path, args=["--config-file", str(cfg_path),
                               "--metadata", str(write_metadata(tmp_path))])
    try:
        r = vm.get("/mmds")
        assert r.status == 200 and r.json() == METADATA, r.raw
    finally:
        assert vm.stop() == 0, vm.output()
    assert LOADED in log_messages(vm.output())


@pytest.mark.kvm
def test_config_file_mmds_config_creates_the_store(tmp_path, make_tap):
    # Firecracker's set_mmds_config() creates an empty store: GET /mmds answers {} and
    # PUT /mmds works after a config-file boot with mmds-config and no --metadata
    cfg = make_config(KERNELS["pvh"], "console=ttyS0 brasa.idle", extra={
        "network-interfaces": [{"iface_id": "eth0", "host_dev_name": make_tap()}],
        "mmds-config": {"network_interfaces": ["eth0"], "version": "V2"}})
    cfg_path = tmp_path / "vm.json"
    cfg_path.write_text(json.dumps(cfg))
    vm = ApiVm(tmp_path, args=["--config-file", str(cfg_path)])
    try:
        r = vm.get("/mmds")
        assert r.status == 200 and r.json() == {}, r.raw
        assert vm.put("/mmds", {"latest": {"a": "b"}}).status == 204
        r = vm.get("/mmds")
        assert r.status == 200 and r.json() == {"latest": {"a": "b"}}, r.raw
    finally:
        assert vm.stop() == 0, vm.output()


def test_get_mmds_is_serde_json(tmp_path):
    # GET /mmds writes the store as serde_json does: keys in byte order, floats in their
    # shortest form, only '"', '\\' and control characters escaped
    vm = ApiVm(tmp_path)
    try:
        body = '{"b": 1, "a": [0.1, 1e-7, 1.0, 1e16, -2.5e-5], "B": "\\u00e9/\\u0001"}'
        assert vm.put("/mmds", body).status == 204
        r = vm.get("/mmds")
        assert r.status == 200, r.raw
        assert r.raw == ('{"B":"\u00e9/\\u0001","a":[0.1,1e-7,1.0,1e16,-0.000025],"b":1}'
                         .encode()), r.raw
    finally:
        assert vm.stop() == 0, vm.output()
