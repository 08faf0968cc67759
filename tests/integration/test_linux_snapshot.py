"""Snapshots of the guest Linux: boot it once (serial console, a data drive, a network device),
write to the drive from the guest and sync, pause, take a Full snapshot, then restore it again
and again in fresh brasa processes and check from inside the guest that it is whole: the shell
answers, the drive holds what was written before the pause, the clock goes on, timers fire on
every vCPU, the network device still carries packets, and the kernel complains of nothing.

Each restore prints the time from the load request to the shell's first answer, against the
cold boot of the same run (docs/benchmarks.md); no test asserts a time.
"""
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import BUILD, ip
from linux_snap import (LinuxSnapshot, assert_clean_console, fresh_token, take_snapshot,
                        uptime)
from test_linux import BOOT_TIMEOUT, KERNELS, PVM_HOST, ROOTFS, boot_args, vm_config

pytestmark = pytest.mark.kvm

RESTORES = 3
# A /30 of our own for the tap and the guest's eth0, one per pytest process.
NET = f"10.213.{os.getpid() % 250}"
HOST_IP, GUEST_IP = f"{NET}.1", f"{NET}.2"
MAC = "06:00:0a:d5:00:02"


@pytest.fixture(scope="module")
def tap():
    name = f"bls{os.getpid() % 100000}"
    ip("tuntap", "add", "dev", name, "mode", "tap")
    try:
        with open(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "w") as f:
            f.write("1")
        ip("addr", "add", f"{HOST_IP}/30", "dev", name)
        ip("link", "set", name, "up")
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True)


def setup_guest(con):
    """What the guest does before the pause: the data drive mounted, a file written and synced,
    eth0 configured. Returns the file's content."""
    data = f"written-before-the-snapshot-{os.getpid()}"
    out = con.ask(f"mkdir -p /mnt && mount -t ext4 /dev/vda /mnt && echo {data} >/mnt/before && "
                  f"sync && cat /mnt/before")
    assert out == data, con.describe()
    con.ask(f"ip addr add {GUEST_IP}/30 dev eth0 && ip link set eth0 up")
    return {"data": data}


# kvm_pvm cannot offset a guest's TSC: the guest reads the host's, so a guest on the TSC
# clocksource (Linux's choice here, with tsc=reliable) sees the time its snapshot sat on disk
# pass at once on restore, and Linux may report an RCU stall for it. kvmclock is restored from
# the saved value and goes on from the pause, as the TSC does on hardware (docs/pvm-hosts.md).
CLOCK = " clocksource=kvm-clock" if PVM_HOST else ""


def snapshot_config(disk, tap, vcpus):
    return vm_config(KERNELS["pvh"], boot_args("brasa.shell" + CLOCK), vcpus, 256, extra={
        "drives": [{"drive_id": "data", "path_on_host": str(disk), "is_root_device": False,
                    "is_read_only": False}],
        "network-interfaces": [{"iface_id": "eth0", "host_dev_name": tap, "guest_mac": MAC}],
        "machine-config": {"vcpu_count": vcpus, "mem_size_mib": 256,
                           "track_dirty_pages": True}})


def make_snapshot(tmp_path_factory, tap, vcpus):
    d = tmp_path_factory.mktemp(f"linux-snap-{vcpus}cpu")
    disk = d / "data.ext4"
    shutil.copyfile(ROOTFS, disk)
    snap = take_snapshot(d, snapshot_config(disk, tap, vcpus), setup_guest, drives=[disk])
    print(f"\n    [linux snapshot: {vcpus} vCPU: cold boot to the shell's first answer "
          f"{snap.boot_seconds:.2f} s]", end=" ")
    return snap


@pytest.fixture(scope="module")
def snap1(tmp_path_factory, tap):
    """1 vCPU, 256 MiB, initramfs, a data drive and a net device, paused at the prompt."""
    return make_snapshot(tmp_path_factory, tap, 1)


@pytest.fixture(scope="module")
def snap2(tmp_path_factory, tap):
    """The same with 2 vCPUs."""
    return make_snapshot(tmp_path_factory, tap, 2)


def restored(snap, d, capsys, label, resume=True, track=False):
    """A restore of snap that answered the load; prints the load-to-first-answer time."""
    con = snap.restore(d, resume, track)
    assert con.load_status == 204, (con.load_body, con.describe())
    if resume:
        n = 4242 + os.getpid() % 1000
        assert con.ask(f"echo R$(({n} * 2))") == f"R{n * 2}", con.describe()
        took = time.monotonic() - con.load_start
        with capsys.disabled():
            print(f"\n    [linux restore: {label}: {took:.3f} s from the load request to the "
                  "shell's answer]", end=" ")
    return con


@pytest.mark.timeout(BOOT_TIMEOUT + 240)
def test_linux_snapshot_restores_many_times(snap1, tmp_path, capsys):
    """The same snapshot restored several times, each in a fresh brasa, each a shell that
    answers a fresh token, computes, and ends its VM cleanly."""
    for i in range(RESTORES):
        d = tmp_path / f"r{i}"
        d.mkdir()
        con = restored(snap1, d, capsys, f"1 vCPU, #{i + 1}")
        try:
            n = 1000 + 17 * i
            assert con.ask(f"echo T$(({n} + {i}))") == f"T{n + i}", con.describe()
            assert con.ask("echo $((6 * 7)) | tr 4 x") == "x2", con.describe()
            assert_clean_console(con)
            con.run("reboot")
            assert con.proc.wait(timeout=120) == 0, con.describe()
        finally:
            con.close()


@pytest.mark.timeout(BOOT_TIMEOUT + 240)
def test_linux_snapshot_drive_clock_and_net(snap1, tmp_path, capsys):
    """Inside the restored guest: the drive's file written and synced before the pause is there,
    a new one reaches the disk, the clock goes on from the pause and a sleep ends, and eth0
    still reaches the host through the tap."""
    con = restored(snap1, tmp_path, capsys, "1 vCPU, drive/clock/net")
    try:
        assert con.ask("cat /mnt/before") == snap1.facts["data"], con.describe()
        assert con.ask("echo after >/mnt/after && sync && cat /mnt/after") == "after"
        t0 = uptime(con)
        assert t0 > snap1.uptime, (t0, snap1.uptime)
        assert con.ask("sleep 1 && echo slept") == "slept", con.describe()
        assert uptime(con) >= t0 + 1, con.describe()
        out = con.ask(f"ping -c 1 -W 20 {HOST_IP}", timeout=60)
        assert "1 packets received" in out, con.describe()
        assert_clean_console(con)
    finally:
        con.close()
    # The guest's write reached the host's file.
    disk = next(iter(snap1.disks))
    out = subprocess.run(["debugfs", "-R", "cat /after", disk], capture_output=True, text=True)
    assert out.stdout == "after\n", (out.stdout, out.stderr)


@pytest.mark.timeout(2 * BOOT_TIMEOUT + 240)
def test_linux_snapshot_two_vcpus(snap2, tmp_path, capsys):
    """With 2 vCPUs, restored twice: both CPUs' local timers tick on, and the kernel notices
    nothing wrong (no stall, lockup or unstable clocksource)."""
    for i in range(2):
        d = tmp_path / f"r{i}"
        d.mkdir()
        con = restored(snap2, d, capsys, f"2 vCPUs, #{i + 1}")
        try:
            before = local_timer_counts(con)
            assert len(before) == 2, con.describe()
            assert con.ask("sleep 1 && echo slept") == "slept", con.describe()
            after = local_timer_counts(con)
            assert all(a > b for a, b in zip(after, before)), (before, after, con.describe())
            assert con.ask("cat /mnt/before") == snap2.facts["data"], con.describe()
            dmesg = con.ask("dmesg")
            assert not re.search(r"stall|lockup|unstable|Call Trace|WARNING", dmesg), dmesg
            assert_clean_console(con)
        finally:
            con.close()


def local_timer_counts(con):
    line = con.ask("grep LOC: /proc/interrupts")
    return [int(x) for x in line.split()[1:] if x.isdigit()]


@pytest.mark.timeout(BOOT_TIMEOUT + 240)
def test_linux_snapshot_paused_load_then_resume(snap1, tmp_path, capsys):
    """resume_vm false: the restored guest stays paused (the shell does not answer) until
    PATCH /vm Resumed, then it answers."""
    con = restored(snap1, tmp_path, capsys, "1 vCPU, paused", resume=False)
    try:
        status, body = con.api_call("GET", "/")
        assert body["state"] == "Paused", body
        con.run("echo P$((3 * 5))")
        with pytest.raises(AssertionError):
            con.expect(r"\nP15", timeout=3)
        assert con.api_call("PATCH", "/vm", {"state": "Resumed"})[0] == 204
        con.expect(r"\nP15", timeout=60)
        assert_clean_console(con)
    finally:
        con.close()


@pytest.mark.timeout(BOOT_TIMEOUT + 240)
def test_linux_snapshot_diff_over_the_full(snap1, tmp_path, capsys):
    """A restored guest (dirty pages tracked) writes to its drive and memory; a Diff of it, laid
    over the Full's memory by brasa-snapshot-editor, restores in a fresh brasa to that point:
    what the guest wrote before the Diff is there, in its page cache and on its drive."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    con = restored(snap1, tmp_path / "a", capsys, "1 vCPU, before a Diff", track=True)
    try:
        token = f"T{fresh_token()}"
        assert con.ask(f"echo {token} > /mnt/after && sync && cat /mnt/after") == token
        assert con.api_call("PATCH", "/vm", {"state": "Paused"})[0] == 204
        status, body = con.api_call("PUT", "/snapshot/create", {
            "snapshot_path": str(tmp_path / "diff.state"),
            "mem_file_path": str(tmp_path / "diff.mem"), "snapshot_type": "Diff"})
        assert status == 204, (body, con.describe())
    finally:
        con.close()
    merged = tmp_path / "merged.mem"
    shutil.copyfile(snap1.mem, merged)
    subprocess.run([str(BUILD / "brasa-snapshot-editor"), "edit-memory", "rebase",
                    "--memory-path", str(merged), "--diff-path", str(tmp_path / "diff.mem")],
                   check=True, timeout=120)
    # The drive stays as the first restore left it: the Diff was taken on it.
    diff = LinuxSnapshot(tmp_path, tmp_path / "diff.state", merged, 0.0, 0.0)
    con = restored(diff, tmp_path / "b", capsys, "1 vCPU, Diff over the Full")
    try:
        assert con.ask("cat /mnt/after") == token, con.describe()
        assert con.ask("cat /mnt/before") == snap1.facts["data"], con.describe()
        assert_clean_console(con)
    finally:
        con.close()
