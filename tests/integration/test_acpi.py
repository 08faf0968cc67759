"""ACPI, checked from inside the test guest: it finds the RSDP through the PVH start info or
the zero page, verifies every table's signature, length and checksum, counts the local APICs,
scans the DSDT for the virtio-mmio devices, VMGenID, VMClock and \\_S5, and powers off through the FADT's
sleep-control register."""
import re

import pytest

from conftest import KERNELS, make_config, parse_fields

pytestmark = pytest.mark.kvm

RSDP = 0xE0000
VIRTIO_BASE = 0xC0001000
FADT_FLAGS = (1 << 20) | (1 << 4) | (1 << 5)  # hardware-reduced, no fixed power/sleep button
POWEROFF_LOG = "Guest requested a power-off through the ACPI sleep-control register"


def boot_acpi(brasa, words="brasa.acpi", proto="pvh", vcpus=1, extra=None):
    cfg = make_config(KERNELS[proto], f"console=ttyS0 {words}", vcpus=vcpus, extra=extra)
    res = brasa.run(cfg)
    assert res.rc == 0, f"exit {res.rc}\nstdout:\n{res.stdout}\nlog:\n{res.log}"
    assert res.report.get("panic") is None, res.stdout
    return res


def tables(report):
    """{signature: fields} of every `acpi table` line."""
    return {f["sig"]: f for f in (parse_fields(t) for t in report.all("acpi table"))}


def check_tables(res, source, vcpus):
    r = res.report
    rsdp = r.fields("acpi rsdp")
    assert (rsdp["addr"], rsdp["source"], rsdp["rev"], rsdp["oem"]) == (RSDP, source, 2, "FIRECK")
    t = tables(r)
    assert sorted(t) == ["APIC", "DSDT", "FACP", "MCFG", "XSDT"], r.lines
    assert t["XSDT"]["addr"] == rsdp["xsdt"]
    assert (t["FACP"]["len"], t["FACP"]["rev"]) == (276, 6)
    assert t["APIC"]["len"] == 44 + 12 + 8 * vcpus
    assert (t["XSDT"]["len"], t["MCFG"]["len"]) == (36 + 3 * 8, 60)
    assert {v["oem"] for v in t.values()} == {"FIRECK"}
    # The MP table comes first in the window at 0x9fc00; every table lies below VMGenID.
    assert all(0x9FC00 < v["addr"] and v["addr"] + v["len"] <= 0xDE000 for v in t.values())
    fadt = r.fields("acpi fadt")
    assert (fadt["flags"], fadt["minor"], fadt["hypervisor"]) == (FADT_FLAGS, 5, "FIRECKVM")
    assert (fadt["sleep_ctl"], fadt["sleep_sts"]) == (0x600, 0x601)
    lapics = [parse_fields(x) for x in r.all("acpi lapic")]
    assert [(l["uid"], l["id"], l["flags"]) for l in lapics] == [(i, i, 1) for i in range(vcpus)]
    assert r.fields("acpi madt") == {"lapic_addr": 0xFEE00000, "flags": 0}
    assert r.fields("acpi madt-count")["lapics"] == vcpus
    assert r.fields("acpi ioapic") == {"id": 0, "addr": 0xFEC00000, "gsi_base": 0}
    assert r.get("acpi checked") is not None, r.lines


@pytest.mark.parametrize("vcpus", [1, 2, 5, 32])
def test_tables_through_pvh_start_info(brasa, vcpus):
    res = boot_acpi(brasa, vcpus=vcpus)
    check_tables(res, "startinfo", vcpus)
    # Legacy devices, VMGenID's GED and \_S5: no virtio device without a config asking one.
    r = res.report
    devices = {parse_fields(x)["name"]: parse_fields(x) for x in r.all("acpi device")}
    assert devices["COM1"]["irq"] == 4 and devices["PS2_"]["irq"] == 1
    assert r.all("acpi virtio") == []
    # VMGenID and VMClock: the first legacy GSIs after (no) virtio devices, through the GED.
    assert r.fields("acpi ged") == {"gsi": 5, "gsi2": 6}
    assert r.fields("acpi dsdt") == {"devices": 5, "s5": 5}
    clock = r.fields("acpi vmclock")
    assert clock == {"addr": 0xDE000, "size": 0x1000, "magic": 0x4B4C4356, "page_size": 0x1000,
                     "version": 1, "counter_id": 255, "flags": 0x300, "status": 0, "gen": 0}
    assert r.get("done") is not None


@pytest.mark.parametrize("proto", ["linux64", "bzimage"])
def test_tables_through_zero_page(brasa, proto):
    res = boot_acpi(brasa, proto=proto, vcpus=2)
    check_tables(res, "zeropage", 2)


@pytest.mark.parametrize("count", [4, 17])  # 17: every legacy GSI left after VMGenID's and VMClock's
def test_dsdt_lists_every_virtio_device(brasa, tmp_path, count):
    drives = []
    for i in range(count - 1):
        p = tmp_path / f"d{i}.img"
        p.write_bytes(bytes(4096))
        drives.append({"drive_id": f"d{i}", "path_on_host": str(p), "is_root_device": i == 0,
                       "is_read_only": False})
    res = boot_acpi(brasa, extra={"drives": drives, "entropy": {}})
    found = [parse_fields(x) for x in res.report.all("acpi virtio")]
    want = [{"name": f"V{i:03}", "uid": i, "base": VIRTIO_BASE + 0x1000 * i, "size": 0x1000,
             "gsi": 5 + i} for i in range(count)]
    assert found == want, res.stdout
    # The same windows and GSIs as the kernel command line gives a guest without ACPI.
    cmdline = res.report.get("cmdline")
    listed = re.findall(r"virtio_mmio\.device=4K@0x([0-9a-f]+):(\d+)", cmdline)
    assert [(int(b, 16), int(g)) for b, g in listed] == [(d["base"], d["gsi"]) for d in want]
    # VMGenID and VMClock: the next legacy GSIs.
    assert res.report.fields("acpi ged") == {"gsi": 5 + count, "gsi2": 6 + count}
    assert res.report.fields("acpi dsdt")["devices"] == count + 5


def test_vmgenid_is_fresh_each_boot(brasa):
    ids = []
    for _ in range(2):
        v = boot_acpi(brasa).report.fields("acpi vmgenid")
        assert v["addr"] == 0xDFFF0
        ids.append(v["id"])
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids), ids
    assert ids[0] != ids[1] and "0" * 32 not in ids


def test_acpi_poweroff_exits_0(brasa):
    res = boot_acpi(brasa, "brasa.acpi.poweroff", vcpus=2)
    assert res.report.fields("acpi poweroff")["slp_typ"] == 5
    assert POWEROFF_LOG in res.log
    assert "exit_code=0" in res.log
    assert res.report.get("done") is None, "the guest went on after powering off"


def test_acpi_poweroff_linux_protocol(brasa):
    res = boot_acpi(brasa, "brasa.acpi.poweroff", proto="linux64")
    assert POWEROFF_LOG in res.log
    assert res.report.get("done") is None


@pytest.mark.parametrize("slp_typ", [0, 3, 7])
def test_other_sleep_types_are_ignored(brasa, slp_typ):
    res = boot_acpi(brasa, f"brasa.acpi.sleep={slp_typ}")
    assert res.report.get("acpi sleep-ignored") is not None, res.stdout
    assert f"the guest asked for sleep type {slp_typ}, only S5 (5) exists" in res.log
    assert POWEROFF_LOG not in res.log
    assert res.report.get("done") is not None  # it went on and reset through the i8042
