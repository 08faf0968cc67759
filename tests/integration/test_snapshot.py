"""Full snapshots: a counting guest paused, snapshotted, restored into a new brasa and resumed,
and every kind of bad state or memory file refused with a clear error (then exit 1)."""
import os
import re
import shutil
import time
import struct

import pytest

from api_schema import SPEC
from conftest import ApiVm, KERNELS, parse_fields, parse_report
from test_pause import Console, assert_consecutive, start_counting

pytestmark = pytest.mark.kvm

LOAD_ERR = "Load snapshot error: Failed to restore from snapshot: "


def crc64_xz(data):
    crc = 0xFFFFFFFFFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0xC96C5795D7870F42 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFFFFFFFFFF


def refit_crc(data):
    return data[:-8] + struct.pack("<Q", crc64_xz(data[:-8]))


def load_body(state, mem, resume=True):
    return {"snapshot_path": str(state), "resume_vm": resume,
            "mem_backend": {"backend_type": "File", "backend_path": str(mem)}}


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    """A counting guest's snapshot: (state file, memory file, its console text up to the pause)."""
    d = tmp_path_factory.mktemp("snap")
    vm = ApiVm(d, validate=SPEC.validate)
    con = start_counting(vm)
    r = vm.put("/snapshot/create", {"snapshot_path": str(d / "s"), "mem_file_path": str(d / "m")})
    assert r.status == 400 and "save/restore unavailable while running" in r.fault(), r.raw
    assert vm.patch("/vm", {"state": "Paused"}).status == 204
    r = vm.put("/snapshot/create", {"snapshot_path": str(d / "vm.state"),
                                    "mem_file_path": str(d / "vm.mem"), "snapshot_type": "Full"})
    assert r.status == 204, r.raw
    assert vm.get("/").json()["state"] == "Paused"  # creating leaves the VM paused
    text = con.settle()
    assert vm.stop() == 0, vm.output()
    assert "'create full snapshot' VMM action took" in vm.output()
    assert (d / "vm.mem").stat().st_size == 128 << 20
    return d / "vm.state", d / "vm.mem", text


def restored_counts(before, after):
    """The counts of the original's console followed by the restored one's: a line the pause cut
    is completed by the restored guest."""
    return [int(n) for n in re.findall(r"BRASA count (\d+)\r?\n", before + after)]


def test_restored_guest_counts_on_from_where_it_stopped(snapshot, tmp_path):
    state, mem, before = snapshot
    vm = ApiVm(tmp_path, validate=SPEC.validate)
    r = vm.put("/snapshot/load", load_body(state, mem))
    assert r.status == 204, r.raw
    assert vm.get("/").json()["state"] == "Running"
    # The configuration comes with the snapshot.
    assert vm.get("/machine-config").json()["mem_size_mib"] == 128
    con = Console(vm.proc)
    last = restored_counts(before, "")[-1]
    con.wait_count(last + 3)
    counts = restored_counts(before, con.read())
    assert_consecutive(counts)
    assert "'load snapshot' API request took" in vm.output()
    assert vm.stop() == 0


def test_restore_without_resume_stays_paused(snapshot, tmp_path):
    state, mem, before = snapshot
    vm = ApiVm(tmp_path, validate=SPEC.validate)
    assert vm.put("/snapshot/load", load_body(state, mem, resume=False)).status == 204
    assert vm.get("/").json()["state"] == "Paused"
    con = Console(vm.proc)
    assert "BRASA count" not in con.settle()
    # Post-boot now: a second load is refused by the gate, and pre-boot resources too.
    assert "after starting the microVM" in vm.put("/snapshot/load",
                                                  load_body(state, mem)).fault()
    assert vm.patch("/vm", {"state": "Resumed"}).status == 204
    last = restored_counts(before, "")[-1]
    con.wait_count(last + 2)
    assert_consecutive(restored_counts(before, con.read()))
    assert vm.stop() == 0


def test_two_vcpus_round_trip(tmp_path):
    """Both vCPUs' states travel: the second one (parked in the guest's spin loop) too."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = ApiVm(tmp_path / "a", validate=SPEC.validate)
    con = start_counting(a, mem=256, vcpus=2)
    assert a.patch("/vm", {"state": "Paused"}).status == 204
    state, mem = tmp_path / "vm.state", tmp_path / "vm.mem"
    assert a.put("/snapshot/create", {"snapshot_path": str(state),
                                      "mem_file_path": str(mem)}).status == 204
    before = con.settle()
    assert a.stop() == 0
    assert "vCPU 1 state:" in a.output()
    b = ApiVm(tmp_path / "b", validate=SPEC.validate)
    assert b.put("/snapshot/load", load_body(state, mem)).status == 204
    assert b.get("/machine-config").json()["vcpu_count"] == 2
    con = Console(b.proc)
    con.wait_count(restored_counts(before, "")[-1] + 2)
    assert_consecutive(restored_counts(before, con.read()))
    assert b.stop() == 0


def expect_failed_load(tmp_path, body, message):
    vm = ApiVm(tmp_path, validate=SPEC.validate)
    r = vm.put("/snapshot/load", body)
    assert r.status == 400, r.raw
    assert r.fault() == LOAD_ERR + message, r.fault()
    assert vm.proc.wait(timeout=10) == 1
    vm.stop()
    assert "Loading snapshot failed" in vm.output()


def test_corrupt_state_file(snapshot, tmp_path):
    state, mem, _ = snapshot
    data = bytearray(state.read_bytes())
    data[100] ^= 0x40
    bad = tmp_path / "corrupt.state"
    bad.write_bytes(bytes(data))
    expect_failed_load(tmp_path, load_body(bad, mem),
                       "Failed to get snapshot state from file: Failed to load snapshot state "
                       "from file: CRC64 mismatch: the file is corrupt or truncated")


def test_truncated_state_file(snapshot, tmp_path):
    state, mem, _ = snapshot
    bad = tmp_path / "short.state"
    bad.write_bytes(state.read_bytes()[:-100])
    expect_failed_load(tmp_path, load_body(bad, mem),
                       "Failed to get snapshot state from file: Failed to load snapshot state "
                       "from file: CRC64 mismatch: the file is corrupt or truncated")


def test_wrong_version_state_file(snapshot, tmp_path):
    state, mem, _ = snapshot
    data = bytearray(state.read_bytes())
    data[8:12] = struct.pack("<I", 7)
    bad = tmp_path / "v7.state"
    bad.write_bytes(refit_crc(bytes(data)))
    expect_failed_load(tmp_path, load_body(bad, mem),
                       "Failed to get snapshot state from file: Failed to load snapshot state "
                       "from file: unsupported state file version 7 (brasa reads 2)")


def test_not_a_state_file(tmp_path):
    bad = tmp_path / "kernel"
    bad.write_bytes(KERNELS["pvh"].read_bytes())
    expect_failed_load(tmp_path, load_body(bad, bad),
                       "Failed to get snapshot state from file: Failed to load snapshot state "
                       "from file: not a brasa snapshot state file (bad magic)")


def test_memory_file_too_short(snapshot, tmp_path):
    state, mem, _ = snapshot
    short = tmp_path / "short.mem"
    with open(mem, "rb") as f:
        short.write_bytes(f.read(64 << 20))
    expect_failed_load(tmp_path, load_body(state, short),
                       "Failed to load guest memory: Error creating guest memory from file: "
                       f"Failed to restore guest memory: the memory file {short} is {64 << 20} "
                       f"bytes, the snapshot's guest memory is {128 << 20} bytes")


def test_missing_memory_file(snapshot, tmp_path):
    state, _, _ = snapshot
    expect_failed_load(tmp_path, load_body(state, tmp_path / "nope"),
                       "Failed to load guest memory: Error creating guest memory from file: "
                       "Failed to load guest memory: No such file or directory (os error 2)")


def blk_counts(text):
    return [(int(n), int(p), st) for n, p, st in
            re.findall(r"BRASA blkcount (\d+) prev=(\d+) st=(\S+)\r?\n", text)]


def test_virtio_block_data_and_queue_survive_a_snapshot(tmp_path):
    """A guest that reads back, on every turn, the number it wrote to its drive on the turn
    before: after the restore it reads what it wrote before the snapshot, through the restored
    queue, and the drive file holds the last number."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(1 << 20))
    a = ApiVm(tmp_path / "a", validate=SPEC.validate)
    assert a.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                  "boot_args": "console=ttyS0 brasa.blk brasa.blk.count=20000"}
                 ).status == 204
    assert a.put("/drives/scratch", {"drive_id": "scratch", "path_on_host": str(disk),
                                     "is_root_device": False, "is_read_only": False}).status == 204
    assert a.put("/actions", {"action_type": "InstanceStart"}).status == 204
    con = Console(a.proc)
    while len(blk_counts(con.read())) < 3:
        assert a.proc.poll() is None
        time.sleep(0.02)
    assert a.patch("/vm", {"state": "Paused"}).status == 204
    state, mem = tmp_path / "vm.state", tmp_path / "vm.mem"
    assert a.put("/snapshot/create", {"snapshot_path": str(state),
                                      "mem_file_path": str(mem)}).status == 204
    before = con.settle()
    assert a.stop() == 0
    b = ApiVm(tmp_path / "b", validate=SPEC.validate)
    assert b.put("/snapshot/load", load_body(state, mem)).status == 204
    con = Console(b.proc)
    last = blk_counts(before)[-1][0]
    while not blk_counts(before + con.read()) or blk_counts(before + con.text)[-1][0] < last + 3:
        assert b.proc.poll() is None, con.text
        time.sleep(0.02)
    assert b.stop() == 0
    turns = blk_counts(before + con.text)
    assert [n for n, _, _ in turns] == list(range(1, len(turns) + 1)), turns
    assert all(p == n - 1 and st == "0/0" for n, p, st in turns), turns
    assert struct.unpack("<Q", disk.read_bytes()[:8])[0] >= turns[-1][0]


def test_virtio_net_works_after_a_load(tmp_path, make_tap):
    """A guest that echoes frames from its tap: one echoed before the snapshot, the rest by the
    loaded VM, which reopens the same tap from the snapshot's configuration."""
    from test_net import GUEST_MAC, HOST_MAC, TapSocket, guest_frame
    tap = make_tap()
    sock = TapSocket(tap)
    guest = bytes.fromhex(GUEST_MAC.replace(":", ""))
    frames = [guest_frame(k + 300, size, guest, HOST_MAC) for k, size in
              enumerate([60, 1514, 800, 1514])]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    state, mem = tmp_path / "vm.state", tmp_path / "vm.mem"
    try:
        a = ApiVm(tmp_path / "a", validate=SPEC.validate)
        assert a.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                      "boot_args": "console=ttyS0 brasa.net brasa.net.echo=4"}
                     ).status == 204
        assert a.put("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": tap,
                                                  "guest_mac": GUEST_MAC}).status == 204
        assert a.put("/actions", {"action_type": "InstanceStart"}).status == 204
        con = Console(a.proc)
        while "BRASA net-echo ready" not in con.read():
            assert a.proc.poll() is None, con.text
            time.sleep(0.02)
        sock.send(frames[0])
        assert sock.recv()[12:] == frames[0][12:]
        assert a.patch("/vm", {"state": "Paused"}).status == 204
        assert a.put("/snapshot/create", {"snapshot_path": str(state),
                                          "mem_file_path": str(mem)}).status == 204
        before = con.settle()
        assert a.stop() == 0  # frees the tap for the loaded VM
        b = ApiVm(tmp_path / "b", validate=SPEC.validate)
        assert b.put("/snapshot/load", load_body(state, mem)).status == 204
        for f in frames[1:]:
            sock.send(f)
            assert sock.recv()[12:] == f[12:]
        # After the fourth echo the guest reports what it got and resets: brasa exits 0.
        assert b.proc.wait(timeout=60) == 0
        b.stop()
    finally:
        sock.close()
    rx = [parse_fields(t) for t in parse_report(before + b.stdout).all("net-rx")]
    assert [r["len"] for r in rx] == [len(f) for f in frames], before + b.stdout


@pytest.mark.parametrize("extra,name", [
    ({"clock_realtime": True}, "clock_realtime"),
    ({"huge_pages": "2M"}, "huge_pages other than None"),
])
def test_load_options_brasa_lacks_are_refused(snapshot, tmp_path, extra, name):
    state, mem, _ = snapshot
    expect_failed_load(tmp_path, {**load_body(state, mem), **extra},
                       f"{name} is not supported yet by brasa")


def merge_diff(diff, base):
    """Lays the data extents of the sparse diff memory file over base (what Firecracker's
    snapshot-editor rebase does)."""
    with open(diff, "rb") as d, open(base, "r+b") as b:
        fd, off = d.fileno(), 0
        end = os.fstat(fd).st_size
        while off < end:
            try:
                data = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:  # ENXIO: no data past off
                break
            hole = os.lseek(fd, data, os.SEEK_HOLE)
            d.seek(data)
            b.seek(data)
            b.write(d.read(hole - data))
            off = hole


def test_diff_snapshot_over_a_full_one(tmp_path):
    """Full snapshot, run on, Diff snapshot (track_dirty_pages): the diff is sparse, and laid
    over the full memory file it loads a guest that counts on from the diff's point."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = ApiVm(tmp_path / "a", validate=SPEC.validate)
    con = start_counting(a, track_dirty_pages=True)
    assert a.patch("/vm", {"state": "Paused"}).status == 204
    full, diff, merged = tmp_path / "full.mem", tmp_path / "diff.mem", tmp_path / "merged.mem"
    assert a.put("/snapshot/create", {"snapshot_path": str(tmp_path / "full.state"),
                                      "mem_file_path": str(full)}).status == 204
    assert a.patch("/vm", {"state": "Resumed"}).status == 204
    con.wait_count(con.counts()[-1] + 3)
    assert a.patch("/vm", {"state": "Paused"}).status == 204
    assert a.put("/snapshot/create", {"snapshot_path": str(tmp_path / "diff.state"),
                                      "mem_file_path": str(diff),
                                      "snapshot_type": "Diff"}).status == 204
    before = con.settle()
    assert a.stop() == 0
    assert "[DevPreview] Virtual machine diff snapshots is in development preview." in a.output()
    assert diff.stat().st_size == full.stat().st_size
    assert diff.stat().st_blocks < full.stat().st_blocks // 4  # only the pages written
    shutil.copyfile(full, merged)
    merge_diff(diff, merged)
    b = ApiVm(tmp_path / "b", validate=SPEC.validate)
    assert b.put("/snapshot/load", load_body(tmp_path / "diff.state", merged)).status == 204
    con = Console(b.proc)
    last = restored_counts(before, "")[-1]
    con.wait_count(last + 2)
    assert_consecutive(restored_counts(before, con.read()))
    assert b.stop() == 0


def test_vmgenid_changes_across_a_load(tmp_path):
    """A restored guest reads a new VMGenID at the address its DSDT gives (so that it can
    reseed its RNG), while its count goes on: brasa writes a fresh ID at every load."""
    d = tmp_path / "orig"
    d.mkdir()
    vm = ApiVm(d, validate=SPEC.validate)
    assert vm.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                   "boot_args": "console=ttyS0 brasa.acpi brasa.count=20000"}
                  ).status == 204
    assert vm.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128}).status == 204
    assert vm.put("/actions", {"action_type": "InstanceStart"}).status == 204
    con = Console(vm.proc)
    con.wait_count(2)
    assert vm.patch("/vm", {"state": "Paused"}).status == 204
    assert vm.put("/snapshot/create", {"snapshot_path": str(d / "vm.state"),
                                       "mem_file_path": str(d / "vm.mem")}).status == 204
    before = con.settle()
    assert vm.stop() == 0, vm.output()
    ids = re.findall(r"BRASA genid id=([0-9a-f]{32})", before)
    assert len(ids) == 1 and int(ids[0], 16) != 0, before[-800:]
    table_id = re.search(r"BRASA acpi vmgenid addr=0x[0-9a-f]+ id=([0-9a-f]{32})", before)
    assert table_id and table_id.group(1) == ids[0]
    loaded = []
    for i in range(2):
        r_dir = tmp_path / f"restore{i}"
        r_dir.mkdir()
        vm2 = ApiVm(r_dir, validate=SPEC.validate)
        assert vm2.put("/snapshot/load", load_body(d / "vm.state", d / "vm.mem")).status == 204
        con2 = Console(vm2.proc)
        con2.wait_count(restored_counts(before, "")[-1] + 2)
        after = con2.read()
        assert_consecutive(restored_counts(before, after))
        new = re.findall(r"BRASA genid id=([0-9a-f]{32})", after)
        assert len(new) == 1, after[-800:]
        loaded.append(new[0])
        assert vm2.stop() == 0
    # Each load is a new generation: different from the original and from each other.
    assert len({ids[0], *loaded}) == 3, (ids, loaded)
