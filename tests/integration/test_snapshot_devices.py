"""Snapshots of the devices whose state is more than the common virtio state: vsock (its
TRANSPORT_RESET event and vsock_override), the balloon, Async drives, net clones with
network_overrides, and Diff snapshots taken while virtio devices are live. Everything is
checked from inside the restored test guest."""
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from api_schema import SPEC
from conftest import ApiVm, KERNELS, parse_fields, parse_report
from test_pause import Console
from test_snapshot import LOAD_ERR, expect_failed_load, load_body

pytestmark = pytest.mark.kvm

CID = 3
PORT = 1234


@pytest.fixture
def sockdir():
    """A short private directory: a Unix socket path must fit in 108 bytes."""
    d = Path(tempfile.mkdtemp(prefix="bsd-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def boot(vm, words, mem=128, track=False):
    assert vm.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                   "boot_args": f"console=ttyS0 {words}"}).status == 204
    assert vm.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": mem,
                                      "track_dirty_pages": track}).status == 204


def start(vm):
    assert vm.put("/actions", {"action_type": "InstanceStart"}).status == 204
    return Console(vm.proc)


def wait_text(vm, con, text, timeout=60):
    deadline = time.monotonic() + timeout
    while text not in con.read():
        assert vm.proc.poll() is None, con.text
        assert time.monotonic() < deadline, f"never saw {text!r}: {con.text[-800:]}"
        time.sleep(0.02)
    return con.text


def snapshot(vm, d, kind="Full", mem_name="vm.mem", state_name="vm.state"):
    assert vm.patch("/vm", {"state": "Paused"}).status == 204
    r = vm.put("/snapshot/create", {"snapshot_path": str(d / state_name),
                                    "mem_file_path": str(d / mem_name), "snapshot_type": kind})
    assert r.status == 204, r.raw
    return d / state_name, d / mem_name


# ---- vsock ---------------------------------------------------------------------------------

def vsock_snapshot(tmp_path, sockdir, words=""):
    """A guest that set up its vsock driver and waits for an event: its snapshot."""
    (tmp_path / "a").mkdir()
    a = ApiVm(tmp_path / "a", validate=SPEC.validate)
    boot(a, f"brasa.vsock=snapwait brasa.vsock.port={PORT} {words}")
    assert a.put("/vsock", {"guest_cid": CID, "uds_path": str(sockdir / "a.sock")}).status == 204
    con = start(a)
    wait_text(a, con, "vsock-awaiting-reset")
    state, mem = snapshot(a, tmp_path)
    before = con.settle()
    assert a.stop() == 0, a.output()
    assert "vsock-reset-event" not in before  # the original stayed paused
    return state, mem, before


def test_vsock_reset_event_and_override_after_a_load(tmp_path, sockdir):
    """The restored guest finds Firecracker's TRANSPORT_RESET event in its event queue, and a
    host connection through vsock_override's new socket reaches its listener and echoes."""
    from test_vsock import echo_through, host_connect, pattern
    state, mem, before = vsock_snapshot(tmp_path, sockdir)
    (tmp_path / "b").mkdir()
    b = ApiVm(tmp_path / "b", validate=SPEC.validate)
    body = {**load_body(state, mem), "vsock_override": {"uds_path": str(sockdir / "b.sock")}}
    r = b.put("/snapshot/load", body)
    assert r.status == 204, r.raw
    con = Console(b.proc)
    text = wait_text(b, con, "vsock-listening")
    ev = parse_fields(text.split("vsock-reset-event", 1)[1].splitlines()[0])
    assert ev["event"] == 0 and ev["cid"] == CID and ev["len"] == 8, text
    assert b.get("/vm/config").json()["vsock"]["uds_path"] == str(sockdir / "b.sock")
    s, line = host_connect(sockdir / "b.sock", PORT)
    assert line.startswith(b"OK "), line
    data = pattern(20000)
    assert echo_through(s, data) == data
    s.close()
    text = wait_text(b, con, "vsock-listen-done")
    echo = parse_report(text).fields("vsock-echo")
    assert echo["rx"] == len(data) and echo["tx"] == len(data)
    assert b.stop() == 0, b.output()


def test_vsock_packets_wait_for_the_guests_reset_ack(tmp_path, sockdir):
    """As Firecracker: after a load nothing reaches the guest's RX queue until its driver
    acknowledges the TRANSPORT_RESET event (kicks the event queue); a host connection made
    meanwhile waits, and goes through once the guest acknowledged."""
    from test_vsock import echo_through, host_connect
    state, mem, _ = vsock_snapshot(tmp_path, sockdir, "brasa.vsock.hold=4096")
    (tmp_path / "b").mkdir()
    b = ApiVm(tmp_path / "b", validate=SPEC.validate)
    body = {**load_body(state, mem), "vsock_override": {"uds_path": str(sockdir / "b.sock")}}
    assert b.put("/snapshot/load", body).status == 204
    con = Console(b.proc)
    wait_text(b, con, "vsock-holding")
    s, line = host_connect(sockdir / "b.sock", PORT)  # answered only after the ack
    text = wait_text(b, con, "vsock-held")
    assert parse_fields(text.split("vsock-held", 1)[1].splitlines()[0])["rx"] == 0, text
    assert line.startswith(b"OK "), line
    assert echo_through(s, b"after the ack") == b"after the ack"
    s.close()
    wait_text(b, con, "vsock-listen-done")
    assert b.stop() == 0, b.output()


def test_vsock_override_without_a_vsock_device(tmp_path):
    (tmp_path / "a").mkdir()
    a = ApiVm(tmp_path / "a", validate=SPEC.validate)
    boot(a, "brasa.count=20000")
    con = start(a)
    con.wait_count(1)
    state, mem = snapshot(a, tmp_path)
    assert a.stop() == 0
    expect_failed_load(tmp_path, {**load_body(state, mem),
                                  "vsock_override": {"uds_path": "/tmp/x.sock"}},
                       "Failed to get snapshot state from file: Unknown Vsock Device.")


# ---- balloon -------------------------------------------------------------------------------

def refills(text):
    return [int(n) for n in re.findall(r"BRASA balloon-stats-refill n=(\d+)", text)]


def test_balloon_config_and_stats_survive_a_load(tmp_path):
    """A balloon inflated to 8 MiB with statistics every second: the loaded VM has the same
    target, actual count, interval and latest statistics, its timer goes on handing the stats
    buffer back to the guest, and the guest deflates when the loaded VM's target drops."""
    from test_balloon import STATS
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = ApiVm(tmp_path / "a", validate=SPEC.validate)
    boot(a, "brasa.balloon brasa.balloon.pages=2048")
    assert a.put("/balloon", {"amount_mib": 0, "deflate_on_oom": True,
                              "stats_polling_interval_s": 1}).status == 204
    con = start(a)
    wait_text(a, con, "balloon-touched")
    assert a.patch("/balloon", {"amount_mib": 8}).status == 204
    wait_text(a, con, "balloon-inflated")
    while not refills(con.read()):
        assert a.proc.poll() is None
        time.sleep(0.05)
    state, mem = snapshot(a, tmp_path)
    before = con.settle()
    stats_before = a.get("/balloon/statistics").json()
    assert a.stop() == 0, a.output()
    inf = parse_fields(before.split("balloon-inflated", 1)[1].splitlines()[0])
    assert (inf["pages"], inf["actual"]) == (2048, 2048), before
    b = ApiVm(tmp_path / "b", validate=SPEC.validate)
    assert b.put("/snapshot/load", load_body(state, mem)).status == 204
    assert b.get("/balloon").json() == {"amount_mib": 8, "deflate_on_oom": True,
                                        "stats_polling_interval_s": 1,
                                        "free_page_hinting": False,
                                        "free_page_reporting": False}
    st = b.get("/balloon/statistics").json()
    assert st == stats_before
    assert (st["target_pages"], st["actual_pages"], st["target_mib"], st["actual_mib"]) == \
        (2048, 2048, 8, 8)
    assert all(st[k] == v for k, v in STATS.items()), st
    con = Console(b.proc)
    last = refills(before)[-1]
    deadline = time.monotonic() + 30
    while not any(n > last for n in refills(con.read())):
        assert b.proc.poll() is None, con.text
        assert time.monotonic() < deadline, con.text
        time.sleep(0.05)
    assert b.patch("/balloon", {"amount_mib": 0}).status == 204
    text = wait_text(b, con, "BRASA done")
    dfl = parse_fields(text.split("balloon-deflated", 1)[1].splitlines()[0])
    assert (dfl["pages"], dfl["status"]) == (2048, 0), text
    assert b.proc.wait(timeout=30) == 0
    b.stop()


# ---- Async drives --------------------------------------------------------------------------

def test_async_drive_mid_io_survives_a_snapshot(tmp_path):
    """A guest that writes a new number to its Async (io_uring) drive and reads back the one
    before on every turn, paused in the middle of that I/O: the snapshot waits for what was in
    flight, and the loaded guest reads back what it wrote before the snapshot and goes on."""
    from test_snapshot import blk_counts
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(1 << 20))
    a = ApiVm(tmp_path / "a", validate=SPEC.validate)
    boot(a, "brasa.blk brasa.blk.count=20000")
    assert a.put("/drives/scratch", {"drive_id": "scratch", "path_on_host": str(disk),
                                     "is_root_device": False, "is_read_only": False,
                                     "io_engine": "Async"}).status == 204
    con = start(a)
    while len(blk_counts(con.read())) < 5:
        assert a.proc.poll() is None, con.text
        time.sleep(0.01)
    state, mem = snapshot(a, tmp_path)
    before = con.settle()
    assert a.stop() == 0, a.output()
    # What the guest was told is written is on the disk when the snapshot is taken.
    last = blk_counts(before)[-1][0]
    on_disk = int.from_bytes(disk.read_bytes()[:8], "little")
    assert on_disk >= last, (on_disk, last)
    b = ApiVm(tmp_path / "b", validate=SPEC.validate)
    assert b.put("/snapshot/load", load_body(state, mem)).status == 204
    assert b.get("/vm/config").json()["drives"][0]["io_engine"] == "Async"
    con = Console(b.proc)
    while not blk_counts(before + con.read()) or blk_counts(before + con.text)[-1][0] < last + 5:
        assert b.proc.poll() is None, con.text
        time.sleep(0.02)
    assert b.stop() == 0, b.output()
    turns = blk_counts(before + con.text)
    assert [n for n, _, _ in turns] == list(range(1, len(turns) + 1)), turns
    assert all(p == n - 1 and st == "0/0" for n, p, st in turns), turns
    assert int.from_bytes(disk.read_bytes()[:8], "little") >= turns[-1][0]


# ---- network_overrides ---------------------------------------------------------------------

def no_frame(sock, timeout=1.0):
    try:
        sock.recv(timeout=timeout)
    except AssertionError:
        return True
    return False


def test_clones_each_on_their_own_tap_with_network_overrides(tmp_path, make_tap):
    """One snapshot of a guest that echoes frames, loaded twice at once with network_overrides
    naming a different tap for each clone: a frame sent on a clone's tap is echoed by that
    clone's guest onto that same tap, and never shows up on the other clone's."""
    from test_net import GUEST_MAC, HOST_MAC, TapSocket, guest_frame
    tap0, tap1, tap2 = make_tap(), make_tap(), make_tap()
    guest = bytes.fromhex(GUEST_MAC.replace(":", ""))
    (tmp_path / "a").mkdir()
    a = ApiVm(tmp_path / "a", validate=SPEC.validate)
    boot(a, "brasa.net brasa.net.echo=1")
    assert a.put("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": tap0,
                                              "guest_mac": GUEST_MAC}).status == 204
    con = start(a)
    wait_text(a, con, "BRASA net-echo ready")
    state, mem = snapshot(a, tmp_path)
    before = con.settle()
    assert a.stop() == 0, a.output()
    socks = {t: TapSocket(t) for t in (tap1, tap2)}
    clones = {}
    try:
        for t in (tap1, tap2):
            (tmp_path / t).mkdir()
            vm = ApiVm(tmp_path / t, validate=SPEC.validate)
            body = {**load_body(state, mem),
                    "network_overrides": [{"iface_id": "eth0", "host_dev_name": t}]}
            r = vm.put("/snapshot/load", body)
            assert r.status == 204, r.raw
            assert vm.get("/vm/config").json()["network-interfaces"][0]["host_dev_name"] == t
            clones[t] = vm
        for k, (t, other) in enumerate(((tap1, tap2), (tap2, tap1))):
            f = guest_frame(500 + k, 200 + 100 * k, guest, HOST_MAC)
            socks[t].send(f)
            assert socks[t].recv()[12:] == f[12:]
            assert no_frame(socks[other])
            assert clones[t].proc.wait(timeout=60) == 0  # the guest reports and resets
            clones[t].stop()
            rx = [parse_fields(x) for x in parse_report(before + clones[t].stdout).all("net-rx")]
            assert [r["len"] for r in rx] == [len(f)], clones[t].stdout
    finally:
        for s in socks.values():
            s.close()
        for vm in clones.values():
            vm.stop()


def test_network_override_of_an_unknown_interface(tmp_path, make_tap):
    from test_net import GUEST_MAC
    tap = make_tap()
    (tmp_path / "a").mkdir()
    a = ApiVm(tmp_path / "a", validate=SPEC.validate)
    boot(a, "brasa.count=20000")
    assert a.put("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": tap,
                                              "guest_mac": GUEST_MAC}).status == 204
    con = start(a)
    con.wait_count(1)
    state, mem = snapshot(a, tmp_path)
    assert a.stop() == 0
    expect_failed_load(tmp_path, {**load_body(state, mem), "network_overrides": [
        {"iface_id": "eth0", "host_dev_name": tap},
        {"iface_id": "eth1", "host_dev_name": "tap9"}]},
        "Failed to get snapshot state from file: Unknown Network Device.")


# ---- Diff snapshots with live virtio devices -----------------------------------------------

def test_diff_with_live_drive_and_net_rebased_equals_a_full(tmp_path, make_tap):
    """track_dirty_pages with a drive and a net device doing I/O: Full, then frames and block
    reads that brasa writes into guest memory, then Diff and, at the same point, another Full.
    The Diff laid over the first Full by brasa-snapshot-editor is byte for byte the second Full,
    and a guest loaded from it goes on where it stopped."""
    from test_net import GUEST_MAC, HOST_MAC, TapSocket, guest_frame
    from test_snapshot import assert_consecutive, blk_counts
    from test_snapshot_editor import run as editor
    tap = make_tap()
    sock = TapSocket(tap)
    guest = bytes.fromhex(GUEST_MAC.replace(":", ""))
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(1 << 20))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    try:
        a = ApiVm(tmp_path / "a", validate=SPEC.validate)
        boot(a, "brasa.net brasa.net.echo=2 brasa.blk brasa.blk.count=20000", track=True)
        assert a.put("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": tap,
                                                  "guest_mac": GUEST_MAC}).status == 204
        assert a.put("/drives/scratch", {"drive_id": "scratch", "path_on_host": str(disk),
                                         "is_root_device": False,
                                         "is_read_only": False}).status == 204
        con = start(a)
        wait_text(a, con, "BRASA net-echo ready")
        frames = [guest_frame(700 + k, 1514, guest, HOST_MAC) for k in range(2)]
        sock.send(frames[0])
        assert sock.recv()[12:] == frames[0][12:]
        snapshot(a, tmp_path, "Full", "full.mem", "full.state")
        assert a.patch("/vm", {"state": "Resumed"}).status == 204
        sock.send(frames[1])  # brasa writes it into a guest buffer: no KVM log sees that
        assert sock.recv()[12:] == frames[1][12:]
        while len(blk_counts(con.read())) < 5:
            assert a.proc.poll() is None, con.text
            time.sleep(0.01)
        snapshot(a, tmp_path, "Diff", "diff.mem", "diff.state")
        r = a.put("/snapshot/create", {"snapshot_path": str(tmp_path / "full2.state"),
                                       "mem_file_path": str(tmp_path / "full2.mem")})
        assert r.status == 204, r.raw
        before = con.settle()
        assert a.stop() == 0, a.output()
    finally:
        sock.close()
    diff = tmp_path / "diff.mem"
    assert diff.stat().st_blocks * 512 < (128 << 20) // 4  # sparse: only the pages written
    merged = tmp_path / "merged.mem"
    shutil.copyfile(tmp_path / "full.mem", merged)
    r = editor("edit-memory", "rebase", "--memory-path", merged, "--diff-path", diff)
    assert r.returncode == 0, r.stderr
    assert merged.read_bytes() == (tmp_path / "full2.mem").read_bytes()
    r = editor("info-vmstate", "version", "--vmstate-path", tmp_path / "diff.state")
    assert (r.returncode, r.stdout) == (0, "v2.0.0\n"), r
    b = ApiVm(tmp_path / "b", validate=SPEC.validate)
    assert b.put("/snapshot/load", load_body(tmp_path / "diff.state", merged)).status == 204
    con = Console(b.proc)
    last = blk_counts(before)[-1][0]
    while not blk_counts(before + con.read()) or blk_counts(before + con.text)[-1][0] < last + 5:
        assert b.proc.poll() is None, con.text
        time.sleep(0.02)
    assert b.stop() == 0, b.output()
    turns = blk_counts(before + con.text)
    assert_consecutive([n for n, _, _ in turns])
    assert all(p == n - 1 and st == "0/0" for n, p, st in turns), turns


def test_track_dirty_pages_on_load_then_diff(tmp_path):
    """track_dirty_pages on /snapshot/load (the load's choice, as Firecracker, whatever the
    snapshot had): a loaded guest doing block I/O, Diff and Full at the same point; the Diff
    laid over the memory file it was loaded from is that Full byte for byte."""
    from test_snapshot import blk_counts
    from test_snapshot_editor import run as editor
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(1 << 20))
    for d in "abc":
        (tmp_path / d).mkdir()
    a = ApiVm(tmp_path / "a", validate=SPEC.validate)
    boot(a, "brasa.blk brasa.blk.count=20000")
    assert a.put("/drives/scratch", {"drive_id": "scratch", "path_on_host": str(disk),
                                     "is_root_device": False, "is_read_only": False}).status == 204
    con = start(a)
    while len(blk_counts(con.read())) < 3:
        assert a.proc.poll() is None, con.text
        time.sleep(0.01)
    state0, mem0 = snapshot(a, tmp_path, "Full", "full0.mem", "full0.state")
    before = con.settle()
    assert a.stop() == 0
    b = ApiVm(tmp_path / "b", validate=SPEC.validate)
    assert b.put("/snapshot/load", {**load_body(state0, mem0),
                                    "track_dirty_pages": True}).status == 204
    assert b.get("/machine-config").json()["track_dirty_pages"] is True
    con = Console(b.proc)
    last = blk_counts(before)[-1][0]
    while not blk_counts(before + con.read()) or blk_counts(before + con.text)[-1][0] < last + 5:
        assert b.proc.poll() is None, con.text
        time.sleep(0.02)
    snapshot(b, tmp_path, "Diff", "diff1.mem", "diff1.state")
    r = b.put("/snapshot/create", {"snapshot_path": str(tmp_path / "full1.state"),
                                   "mem_file_path": str(tmp_path / "full1.mem")})
    assert r.status == 204, r.raw
    assert b.stop() == 0, b.output()
    merged = tmp_path / "merged.mem"
    shutil.copyfile(mem0, merged)
    r = editor("edit-memory", "rebase", "-m", merged, "-d", tmp_path / "diff1.mem")
    assert r.returncode == 0, r.stderr
    assert merged.read_bytes() == (tmp_path / "full1.mem").read_bytes()
    # Without the flag, a loaded VM does not track, even from a snapshot that did.
    c = ApiVm(tmp_path / "c", validate=SPEC.validate)
    assert c.put("/snapshot/load", load_body(tmp_path / "diff1.state", merged)).status == 204
    assert c.get("/machine-config").json()["track_dirty_pages"] is False
    assert c.stop() == 0
