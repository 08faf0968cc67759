"""Boot the test guests through every protocol and check, from inside, what they were given."""
import json
import os
import subprocess
import signal
import time
import zlib

import pytest

from conftest import INITRD, KERNELS, make_config, wait_for_line

pytestmark = pytest.mark.kvm

DEFAULT_BOOT_ARGS = ("reboot=k panic=1 nomodule 8250.nr_uarts=0 i8042.noaux i8042.nomux "
                     "i8042.dumbkbd swiotlb=noforce")


def expected_e820(mem_mib):
    mem = mem_mib << 20
    low = min(mem, 3 << 30)
    ents = {(0, 0x9FC00, 1), (0x9FC00, 0xE0000 - 0x9FC00, 2),
            (0xEEC00000, 256 << 20, 2), (0x100000, low - 0x100000, 1)}
    if mem > low:
        ents.add((4 << 30, mem - low, 1))
    return ents


def initrd_sum():
    return int((INITRD.parent / "initrd.img.sum").read_text().split()[0], 16)


def assert_clean_boot(res):
    assert res.rc == 0, f"exit {res.rc}\nstdout:\n{res.stdout}\nlog:\n{res.log}"
    assert res.report.get("done") is not None, res.stdout
    assert res.report.get("panic") is None, res.stdout


@pytest.mark.parametrize("proto", ["pvh", "linux64", "bzimage"])
@pytest.mark.parametrize("with_initrd", [False, True])
def test_boot_protocols(brasa, proto, with_initrd):
    res = brasa.boot(proto, initrd=INITRD if with_initrd else None)
    assert_clean_boot(res)
    hello = res.report.fields("hello")
    assert hello["proto"] == ("pvh" if proto == "pvh" else "linux64")
    if with_initrd:
        f = res.report.fields("initrd")
        assert f["size"] == INITRD.stat().st_size
        assert f["sum"] == initrd_sum()
        assert f["addr"] % 4096 == 0
        assert f["addr"] + f["size"] <= 128 << 20
    else:
        assert res.report.get("initrd") == "none"


def test_linux_zero_page_fields(brasa):
    res = brasa.boot("linux64", initrd=INITRD)
    assert_clean_boot(res)
    z = res.report.fields("zeropage")
    assert z["type_of_loader"] == 0xFF
    assert z["boot_flag"] == 0xAA55
    assert z["header"] == 0x53726448
    assert z["cmd_line_ptr"] == 0x20000
    assert z["ramdisk_size"] == INITRD.stat().st_size
    assert z["kernel_alignment"] == 0x01000000


def test_bzimage_header_seeds_zero_page(brasa):
    res = brasa.boot("bzimage")
    assert_clean_boot(res)
    z = res.report.fields("zeropage")
    assert z["version"] >= 0x020C
    assert z["type_of_loader"] == 0xFF
    assert z["cmd_line_ptr"] == 0x20000


def test_pvh_start_info(brasa):
    res = brasa.boot("pvh", initrd=INITRD)
    assert_clean_boot(res)
    s = res.report.fields("startinfo")
    assert s["magic"] == 0x336EC578
    assert s["version"] == 1
    assert s["nr_modules"] == 1
    assert s["cmdline"] == 0x20000


@pytest.mark.parametrize("vcpus", [1, 2, 4, 32])
def test_vcpu_count_from_mp_table(brasa, vcpus):
    res = brasa.boot("pvh", vcpus=vcpus)
    assert_clean_boot(res)
    assert res.report.get("cpus") == str(vcpus), res.stdout


@pytest.mark.parametrize("proto", ["pvh", "linux64"])
@pytest.mark.parametrize("mem", [128, 1024, 4096])
def test_e820_matches_firecracker_layout(brasa, proto, mem):
    res = brasa.boot(proto, mem=mem)
    assert_clean_boot(res)
    got = res.report.e820()
    assert set(got) == expected_e820(mem)
    assert len(got) == int(res.report.get("e820-count"))
    top = (4 << 30) + (mem << 20) - (3 << 30) if mem > 3072 else mem << 20
    assert int(res.report.get("mem-top"), 16) == top


@pytest.mark.parametrize("proto", ["pvh", "linux64", "bzimage"])
def test_boot_args_arrive_intact(brasa, proto):
    args = "console=ttyS0 a=b quote=\"x y\" weird=!@#$%^&*() brasa.marker=" + "z" * 900
    res = brasa.boot(proto, boot_args=args)
    assert_clean_boot(res)
    # brasa may only append after the user's boot_args, never change them.
    assert res.report.get("cmdline").startswith(args)


def test_default_boot_args(brasa):
    res = brasa.run(make_config(KERNELS["pvh"]))
    assert res.rc == 0, res.stdout + res.log
    assert res.report.get("cmdline").startswith(DEFAULT_BOOT_ARGS)


def test_longest_cmdline_accepted(brasa):
    args = "console=ttyS0 x=" + "a" * (2047 - len("console=ttyS0 x="))
    res = brasa.boot("pvh", boot_args=args)
    assert_clean_boot(res)
    assert res.report.get("cmdline") == args


def test_guest_reset_exits_zero_and_logs(brasa):
    res = brasa.boot("linux64")
    assert_clean_boot(res)
    assert "reset" in res.log


def test_boot_timer_line(brasa):
    res = brasa.boot("pvh", boot_args="console=ttyS0 brasa.boottimer", args=["--boot-timer"])
    assert_clean_boot(res)
    assert res.report.get("boottimer") == "written"
    assert "Guest-boot-time = " in res.log, res.log


def test_boot_timer_flood_is_rate_limited(brasa, tmp_path):
    """The guest decides how often the boot timer is written: its line is rate limited like
    every guest-triggered line (10 per 5 s), and the rest is counted, not logged."""
    m = tmp_path / "metrics.json"
    res = brasa.boot("pvh", boot_args="console=ttyS0 brasa.boottimer.flood",
                     args=["--boot-timer"], extra={"metrics": {"metrics_path": str(m)}})
    assert_clean_boot(res)
    assert res.report.get("boottimer") == "flooded"
    logged = res.log.count("Guest-boot-time = ")
    assert 1 <= logged <= 20, logged  # 10 a window; a slow host may see a second window
    limited = sum(json.loads(l)["logger"]["rate_limited_log_count"]
                  for l in m.read_text().splitlines())
    assert limited == 100000 - logged


def test_boot_timer_absent_without_flag(brasa):
    res = brasa.boot("pvh", boot_args="console=ttyS0 brasa.boottimer")
    assert_clean_boot(res)
    assert "Guest-boot-time" not in res.log


def test_serial_input_reaches_guest(brasa):
    res = brasa.boot("pvh", boot_args="console=ttyS0 brasa.echo",
                     stdin_data=b"hello from the host\n")
    assert_clean_boot(res)
    assert res.report.all("echo")[-1] == "hello from the host"


def test_serial_input_larger_than_fifo(brasa):
    line = "".join(chr(ord("a") + i % 26) for i in range(150))
    res = brasa.boot("linux64", boot_args="console=ttyS0 brasa.echo",
                     stdin_data=(line + "\n").encode())
    assert_clean_boot(res)
    assert res.report.all("echo")[-1] == line


def test_sigterm_tears_down(brasa):
    cfg = make_config(KERNELS["pvh"], "console=ttyS0 brasa.halt", vcpus=2)
    p = brasa.spawn(cfg)
    try:
        wait_for_line(p, r"BRASA halting")
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert "shutting down" in (brasa.dir / "brasa.log").read_text()


def test_unexpected_exit_is_reported(brasa):
    res = brasa.boot("pvh", boot_args="console=ttyS0 brasa.badinsn")
    assert res.report.get("badinsn") is not None, res.stdout
    assert res.rc != 0
    assert "RIP 0x" in res.log and "code bytes" in res.log, res.log


def host_is_pvm():
    return os.path.exists("/sys/module/kvm_pvm") and " vmx" not in open("/proc/cpuinfo").read()


def test_cpu_template_hides_features(brasa):
    res = brasa.boot("pvh", args=["--pvm-cpu-template", "on"])
    assert_clean_boot(res)
    c = res.report.fields("cpuid")
    ecx = c["leaf1.ecx"]
    assert not ecx & (1 << 13), "CX16 visible to the guest"
    assert ecx & (1 << 31), "HYPERVISOR bit must be set"
    assert ecx & (1 << 24), "TSC_DEADLINE must be set (normalization)"
    kvm = c["kvm.eax"]
    for bit, name in [(7, "PV_UNHALT"), (11, "PV_SEND_IPI"), (13, "PV_SCHED_YIELD")]:
        assert not kvm & (1 << bit), f"KVM {name} visible to the guest"
    if not host_is_pvm():
        # Hardware KVM honours the whole table (kvm_pvm overrides leaf 1's SIMD bits and
        # leaf 7 with the host's values whatever KVM_SET_CPUID2 says: see docs/compatibility.md).
        for bit, name in [(23, "POPCNT"), (26, "XSAVE"), (28, "AVX"), (22, "MOVBE")]:
            assert not ecx & (1 << bit), f"{name} visible to the guest"
        for bit, name in [(3, "BMI1"), (8, "BMI2"), (7, "SMEP"), (20, "SMAP")]:
            assert not c["leaf7.ebx"] & (1 << bit), f"{name} visible to the guest"
    assert "template for kvm_pvm hosts: applied" in res.log


def test_cpu_template_auto_follows_host(brasa):
    res = brasa.boot("pvh")
    assert_clean_boot(res)
    assert ("template for kvm_pvm hosts: applied" in res.log) == host_is_pvm(), res.log


def test_cpu_template_off_keeps_normalized_cpuid(brasa):
    off = brasa.boot("pvh", args=["--pvm-cpu-template", "off"])
    assert_clean_boot(off)
    assert "not applied" in off.log
    on = brasa.boot("pvh", args=["--pvm-cpu-template", "on"])
    assert_clean_boot(on)
    c_off, c_on = off.report.fields("cpuid"), on.report.fields("cpuid")
    assert c_off["leaf1.ecx"] & (1 << 31)
    pv = (1 << 7) | (1 << 11) | (1 << 13)
    # KVM offers the PV features; only the template takes them away.
    assert c_off["kvm.eax"] & pv
    assert not c_on["kvm.eax"] & pv
    assert c_off["kvm.eax"] & ~pv == c_on["kvm.eax"] & ~pv


def test_serial_input_from_a_terminal(brasa):
    """A TTY on stdin is put in raw mode for the guest and restored afterwards."""
    import pty
    import termios

    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    cfg = make_config(KERNELS["pvh"], "console=ttyS0 brasa.echo")
    config_path = brasa.write_config(cfg)
    p = subprocess.Popen(brasa.argv(config_path), stdin=slave, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        out = wait_for_line(p, r"BRASA echo ready")
        during = termios.tcgetattr(slave)
        # Raw mode: no line editing, echo or signal keys, and CR is not turned into NL.
        assert not during[3] & (termios.ICANON | termios.ECHO | termios.ISIG)
        assert not during[0] & termios.ICRNL
        os.write(master, b"typed on a tty\r")
        out += p.communicate(timeout=20)[0].decode(errors="replace")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    after = termios.tcgetattr(slave)
    os.close(master)
    os.close(slave)
    assert p.returncode == 0, out
    assert "BRASA echo typed on a tty" in out
    assert before == after, "terminal settings were not restored"


# ---- the kernel arguments brasa appends while its kvm_pvm CPU template is active --------------

FC_ARGS = "console=ttyS0 reboot=k panic=1"  # a Firecracker user's usual boot_args


def pvm_file_args():
    """tools/guest/cmdline-pvm, the documented list: brasa must append exactly these words."""
    from conftest import ROOT
    text = (ROOT / "tools" / "guest" / "cmdline-pvm").read_text()
    return " ".join(l.strip() for l in text.splitlines() if l.strip() and not l.startswith("#"))


def test_pvm_boot_args_appended_once_and_logged(brasa):
    """--pvm-cpu-template on makes the template active on any host: the words follow the user's
    boot_args once, and the log says so."""
    res = brasa.boot("pvh", boot_args=FC_ARGS, args=("--pvm-cpu-template", "on"))
    assert_clean_boot(res)
    words = pvm_file_args()
    assert res.report.get("cmdline") == f"{FC_ARGS} {words}"
    assert f"kvm_pvm: appended to the kernel command line: {words}" in res.log, res.log
    assert res.log.count("appended to the kernel command line") == 1


def test_pvm_boot_args_given_by_the_user_are_not_duplicated(brasa):
    noxsave, clear = pvm_file_args().split()
    args = f"{FC_ARGS} noxsave"
    res = brasa.boot("pvh", boot_args=args, args=("--pvm-cpu-template", "on"))
    assert_clean_boot(res)
    assert res.report.get("cmdline") == f"{args} {clear}"
    assert "kept the user's boot_args for: noxsave" in res.log, res.log
    # The user's own clearcpuid= list wins: brasa adds nothing then.
    args = f"{FC_ARGS} clearcpuid=popcnt noxsave"
    res = brasa.boot("pvh", boot_args=args, args=("--pvm-cpu-template", "on"))
    assert_clean_boot(res)
    assert res.report.get("cmdline") == args
    assert "appended to the kernel command line" not in res.log, res.log


@pytest.mark.parametrize("flags", [("--pvm-cpu-template", "on", "--no-pvm-boot-args"),
                                   ("--pvm-cpu-template", "off")],
                         ids=["no-pvm-boot-args", "template-off"])
def test_pvm_boot_args_not_added(brasa, flags):
    res = brasa.boot("pvh", boot_args=FC_ARGS, args=flags)
    assert_clean_boot(res)
    assert res.report.get("cmdline") == FC_ARGS
    assert "appended to the kernel command line" not in res.log, res.log


def test_pvm_boot_args_without_room_are_left_out_with_a_warning(brasa):
    args = "console=ttyS0 x=" + "a" * (2047 - len("console=ttyS0 x="))
    res = brasa.boot("pvh", boot_args=args, args=("--pvm-cpu-template", "on"))
    assert_clean_boot(res)
    assert res.report.get("cmdline") == args
    assert "has no room for" in res.log, res.log


def test_pvm_boot_args_not_in_vm_config(tmp_path):
    """GET /vm/config shows the user's boot_args, as Firecracker would: brasa's additions (the
    device words and these) only reach the guest."""
    from conftest import ApiVm
    vm = ApiVm(tmp_path, args=("--pvm-cpu-template", "on"))
    try:
        assert vm.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                       "boot_args": FC_ARGS + " brasa.idle"}).status == 204
        assert vm.put("/actions", {"action_type": "InstanceStart"}).status == 204
        got = vm.get("/vm/config").json()["boot-source"]["boot_args"]
        assert got == FC_ARGS + " brasa.idle"
        assert "appended to the kernel command line" in vm.output()
    finally:
        vm.stop()
