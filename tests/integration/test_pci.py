"""--enable-pci, checked from inside the test guest (brasa.pci, tests/guest/pci.c): it
enumerates ECAM and 0xCF8/0xCFC, checks the host bridge and every virtio-pci function (IDs,
class, BAR placement and sizing, the virtio capabilities, MSI-X), then moves data through
virtio-blk and virtio-net with MSI-X interrupts (seen in the LAPIC's IRR). brasa.pci.hostile
first sweeps config space, abuses BARs, the MSI-X table and queue programming; the device
must keep working afterwards."""
import re
import subprocess

import pytest

from conftest import (KERNELS, ApiVm, make_config, parse_fields, parse_report,
                      wait_for_line)
from test_net import (BCAST, ETYPE, GUEST_MAC, HOST_MAC, TapSocket, finish, fnv1a32w,
                      guest_frame, net_cfg)

pytestmark = pytest.mark.kvm

BAR_BASE = 256 << 30  # the 64-bit MMIO window: one 512 KiB BAR per function, in attach order
BAR_SIZE = 0x80000
DISK_BYTES = 1 << 20


def disk(tmp_path, name="disk.img"):
    p = tmp_path / name
    p.write_bytes(bytes(DISK_BYTES))
    return p


def drive(path, drive_id="d0"):
    return {"drive_id": drive_id, "path_on_host": str(path), "is_root_device": False,
            "is_read_only": False}


def pci_config(words, **extra):
    return make_config(KERNELS["pvh"], f"console=ttyS0 {words}", extra=extra)


def run_pci(brasa, words="brasa.pci", args=("--enable-pci",), **extra):
    res = brasa.run(pci_config(words, **extra), args=args)
    assert res.rc == 0, f"exit {res.rc}\nstdout:\n{res.stdout}\nlog:\n{res.log}"
    assert res.report.get("panic") is None, res.stdout
    return res


def functions(report):
    return [parse_fields(x) for x in report.all("pci fn")]


def virtio_fns(report):
    return {f["dev"]: f for f in (parse_fields(x) for x in report.all("pci virtio"))}


def guest_sector(dev):
    """What tests/guest/pci.c fill() writes to sector 1: xorshift32 bytes seeded per device."""
    s, out = (0x62726173 + dev) & 0xFFFFFFFF, bytearray()
    for _ in range(512):
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        out.append(s & 0xFF)
    return bytes(out)


def test_block_through_pci(brasa, tmp_path):
    """Host bridge, one virtio-blk function with its capabilities and MSI-X, a sector written
    and read back through the modern transport; the host's file holds what the guest wrote."""
    img = disk(tmp_path)
    res = run_pci(brasa, drives=[drive(img)])
    r = res.report
    assert functions(r) == [
        {"dev": 0, "fn": 0, "vendor": 0x8086, "device": 0x0D57, "class": 0x060000, "rev": 0,
         "header": 0},
        {"dev": 1, "fn": 0, "vendor": 0x1AF4, "device": 0x1042, "class": 0x018000, "rev": 1,
         "header": 0}], r.lines
    assert r.fields("pci functions") == {"count": 2, "virtio": 1}
    assert r.fields("pci host") == {"vendor": 0x8086, "device": 0x0D57, "class": 0x060000}
    # Legacy config access sees the same; a disabled address and bus 1 read all ones.
    assert r.fields("pci cf8") == {"host": 0x0D578086, "fn1": 0x10421AF4, "class1": 0x01800001,
                                   "bus1": 0xFFFFFFFF, "disabled": 0xFFFFFFFF}
    assert r.fields("pci bus1") == {"id": 0xFFFFFFFF}
    assert r.fields("pci bar") == {"dev": 1, "addr": BAR_BASE, "size": BAR_SIZE, "type": 4}
    assert virtio_fns(r)[1] == {
        "dev": 1, "type": 2, "caps": 6, "cfg_types": 0x3E, "common": 0, "notify": 0x6000,
        "mult": 4, "isr": 0x2000, "devcfg": 0x4000, "msix_vectors": 2, "table": 0x8000,
        "subsys": 0x10421AF4}
    assert r.fields("pci-blk setup") == {"dev": 1, "status": 0xF, "capacity": DISK_BYTES // 512}
    want = guest_sector(1)
    assert r.fields("pci-blk io") == {"dev": 1, "write": 0, "read": 0, "match": 1,
                                   "sum": fnv1a32w(want), "msix": 1}
    assert img.read_bytes()[512:1024] == want
    assert r.get("pci done") is not None
    # The guest found its devices on the bus: no virtio-mmio words on its command line.
    assert "virtio_mmio.device=" not in r.get("cmdline")
    assert "Attached drive d0" in res.log and "at 0x4000000000, GSI 24" in res.log


def test_every_device_type_on_the_bus(brasa, tmp_path, make_tap):
    """Block, net, vsock, entropy, balloon and pmem each become a virtio-pci function (0x1040 +
    type) with one MSI-X vector per queue plus one, and BARs packed from 256 GiB."""
    tap = make_tap()
    pmem = tmp_path / "pmem.img"
    pmem.write_bytes(bytes(2 << 20))
    res = run_pci(brasa, drives=[drive(disk(tmp_path))],
                  **{"network-interfaces": [net_cfg(tap)],
                     "vsock": {"guest_cid": 3, "uds_path": str(tmp_path / "v.sock")},
                     "entropy": {}, "balloon": {"amount_mib": 0, "deflate_on_oom": False},
                     "pmem": [{"id": "p0", "path_on_host": str(pmem), "root_device": False,
                               "read_only": False}]})
    r = res.report
    fns = functions(r)
    assert fns[0]["device"] == 0x0D57 and [f["dev"] for f in fns] == list(range(7)), r.lines
    classes = {f["device"]: f["class"] for f in fns[1:]}
    assert classes == {0x1042: 0x018000, 0x1041: 0x020000, 0x1053: 0xFFFF00, 0x1044: 0xFFFF00,
                       0x1045: 0xFFFF00, 0x105B: 0xFFFF00}
    queues = {0x1042: 1, 0x1041: 2, 0x1053: 3, 0x1044: 1, 0x1045: 2, 0x105B: 1}
    v = virtio_fns(r)
    for f in fns[1:]:
        assert v[f["dev"]]["msix_vectors"] == queues[f["device"]] + 1, f
        assert v[f["dev"]]["cfg_types"] == 0x3E
    bars = sorted(parse_fields(x)["addr"] for x in r.all("pci bar"))
    assert bars == [BAR_BASE + i * BAR_SIZE for i in range(6)]
    assert r.fields("pci-blk io")["match"] == 1 and r.fields("pci-blk io")["msix"] == 1


def test_net_through_pci(brasa, tmp_path, make_tap):
    """A frame the guest sends through virtio-net on PCI reaches the tap; one injected on the
    tap reaches the guest; both queues raise their MSI-X vectors."""
    tap = make_tap()
    sock = TapSocket(tap)
    cfg = pci_config("brasa.pci brasa.pci.rx", **{"network-interfaces": [net_cfg(tap)]})
    proc = subprocess.Popen(brasa.argv(brasa.write_config(cfg), ("--enable-pci",)),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        out = wait_for_line(proc, r"BRASA pci-net ready")
        got = sock.recv()
        guest = bytes.fromhex(GUEST_MAC.replace(":", ""))
        assert got[:14] == BCAST + guest + ETYPE.to_bytes(2, "big"), got[:14].hex()
        tx = parse_fields(re.search(r"BRASA pci-net tx (.*)", out).group(1))
        assert tx["done"] == 1 and tx["msix"] == 1 and tx["len"] == 64
        assert fnv1a32w(got[:64]) == tx["sum"]
        frame = guest_frame(7, 200, guest, HOST_MAC)
        sock.send(frame)
        rc, rest = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
    assert rc == 0, out + rest
    r = parse_report(out + rest)
    assert r.fields("pci-net setup")["mac"] == GUEST_MAC.replace(":", "")
    assert r.fields("pci-net rx") == {"dev": 1, "len": len(frame), "sum": fnv1a32w(frame),
                                      "msix": 1}


def test_hostile_guest(brasa, tmp_path):
    """Config sweeps over every bus/device/function/offset/width, all-ones writes, BAR moves,
    MSI-X table and PBA abuse, mask storms and bad queues: IDs and BARs stay, bad queues end in
    NEEDS_RESET, out-of-range selects read as nothing, and block I/O still works after."""
    img = disk(tmp_path)
    res = run_pci(brasa, "brasa.pci brasa.pci.hostile", drives=[drive(img)])
    r = res.report
    assert r.fields("pci-hostile reads") == {"answers": 2}  # the host bridge and the disk
    assert r.fields("pci-hostile writes") == {"functions": 2, "ids": 2, "bars": 2}
    m = r.fields("pci-hostile msix")
    assert m["past"] == 0xFFFFFFFF and m["pba"] == 0
    q = r.fields("pci-hostile queues")
    assert q["odd"] & 0x40 and q["huge"] & 0x40 and q["addr"] & 0x40, q  # DEVICE_NEEDS_RESET
    assert (q["size99"], q["vec99"], q["cfgvec"]) == (0, 0xFFFF, 0xFFFF)
    assert r.fields("pci-blk io")["match"] == 1 and r.fields("pci-blk io")["msix"] == 1
    assert img.read_bytes()[512:1024] == guest_sector(1)
    assert "broken virtio driver" in res.log  # each bad queue is named, rate limited


def test_acpi_tables_with_and_without_pci(brasa, tmp_path):
    """With --enable-pci the DSDT gains the root bridge PC00 (and loses the virtio-mmio
    devices); MCFG is the same either way; without the flag nothing changes."""
    img = disk(tmp_path)
    off = run_pci(brasa, "brasa.acpi", args=(), drives=[drive(img)]).report
    on = run_pci(brasa, "brasa.acpi", drives=[drive(img)]).report

    def devices(r):
        return [parse_fields(x)["name"] for x in r.all("acpi device")]

    def table(r, sig):
        return next(parse_fields(t) for t in r.all("acpi table") if parse_fields(t)["sig"] == sig)

    assert "PC00" not in devices(off) and len(off.all("acpi virtio")) == 1
    assert devices(on) == ["PC00", "COM1", "PS2_"] and on.all("acpi virtio") == []
    mcfg_on, mcfg_off = table(on, "MCFG"), table(off, "MCFG")
    assert {**mcfg_on, "addr": 0} == {**mcfg_off, "addr": 0}  # packed after a longer DSDT
    assert table(on, "DSDT")["len"] > table(off, "DSDT")["len"]
    # PCI functions take no legacy GSI: VMGenID and VMClock get the first two.
    assert off.fields("acpi ged") == {"gsi": 6, "gsi2": 7}
    assert on.fields("acpi ged") == {"gsi": 5, "gsi2": 6}
    assert on.get("acpi checked") is not None


def test_api_mode_and_snapshot_refused(tmp_path):
    """--enable-pci in API mode: the guest finds its drive on the bus; hot-plugging a drive
    and /snapshot/create are refused with a clear error and the VM goes on."""
    img = disk(tmp_path)
    vm = ApiVm(tmp_path, args=("--enable-pci",))
    try:
        assert vm.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                       "boot_args": "console=ttyS0 brasa.pci brasa.halt"}).status == 204
        assert vm.put("/drives/d0", drive(img)).status == 204
        assert vm.put("/actions", {"action_type": "InstanceStart"}).status == 204
        out = wait_for_line(vm.proc, r"BRASA halting")
        assert "BRASA pci-blk io dev=1 write=0x0 read=0x0 match=1" in out, out
        r = vm.put("/drives/d1", drive(tmp_path / "x.img", "d1"))  # Firecracker would hot-plug
        assert r.status == 400 and "Hot-plugging devices after boot is not supported" in r.fault()
        assert vm.patch("/vm", {"state": "Paused"}).status == 204
        r = vm.put("/snapshot/create", {"snapshot_path": str(tmp_path / "s"),
                                        "mem_file_path": str(tmp_path / "m")})
        assert r.status == 400 and "with PCI enabled is not supported yet" in r.fault(), r.raw
        assert not (tmp_path / "s").exists()
        assert vm.patch("/vm", {"state": "Resumed"}).status == 204
        assert vm.get("/").json()["state"] == "Running"
    finally:
        assert vm.stop() == 0, vm.output()


def test_snapshot_load_ignores_enable_pci(tmp_path):
    """A snapshot's machine is the one it was taken on: loaded into a brasa started with
    --enable-pci, a (virtio-mmio) snapshot resumes and the guest counts on."""
    from test_pause import Console, assert_consecutive, start_counting
    from test_snapshot import load_body, restored_counts

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    vm = ApiVm(tmp_path / "a")
    con = start_counting(vm)
    assert vm.patch("/vm", {"state": "Paused"}).status == 204
    state, mem = tmp_path / "vm.state", tmp_path / "vm.mem"
    assert vm.put("/snapshot/create", {"snapshot_path": str(state),
                                       "mem_file_path": str(mem)}).status == 204
    before = con.settle()
    assert vm.stop() == 0
    vm = ApiVm(tmp_path / "b", args=("--enable-pci",))
    try:
        assert vm.put("/snapshot/load", load_body(state, mem)).status == 204
        con = Console(vm.proc)
        con.wait_count(restored_counts(before, "")[-1] + 3)
        assert_consecutive(restored_counts(before, con.read()))
        assert "adding PCI segment" not in vm.output()
    finally:
        assert vm.stop() == 0, vm.output()
