"""Boot the "acpi" flavour of the project's guest Linux (tools/guest/kernel-acpi.config: ACPI
and PCI on, no MP table parsing, no virtio_mmio.device= parsing) and check from inside the guest
that it found the machine through brasa's ACPI tables alone: the vCPUs from the MADT, the disk
and the NIC as LNRO0005 devices of the DSDT, the serial port and the i8042 as PNP devices, no
ACPI error or warning in its log; then that `poweroff -f` goes through the FADT's sleep-control
register and `reboot -f` through the i8042 (there is no ACPI reset register, as in
Firecracker), each ending brasa with exit 0.

Artifacts: build/guest/vmlinux-acpi and bzImage-acpi from tools/guest/build.sh, with the same
initramfs as test_linux.py.
"""
import re
import time

import pytest

from test_linux import BOOT_TIMEOUT, GUEST, INITRAMFS, Shell, boot_args, vm_config

pytestmark = pytest.mark.kvm

KERNELS = {"pvh": GUEST / "vmlinux-acpi", "bzimage": GUEST / "bzImage-acpi"}
CONFIG = GUEST / "config-acpi"
POWEROFF_LOG = "Guest requested a power-off through the ACPI sleep-control register"
RESET_LOG = "Guest requested a reset through the i8042 controller"
GUEST_MAC = "06:00:ac:10:00:02"
DISK_MAGIC = b"BRASA-ACPI-DISK-0123456789abcdef"


@pytest.fixture(autouse=True)
def _require_guest():
    """Missing artifacts fail loudly: tools/test.sh runs tools/guest/build.sh first."""
    for path in (*KERNELS.values(), CONFIG, INITRAMFS):
        if not path.exists():
            pytest.fail(f"{path} is missing: run tools/guest/build.sh")


def ask(sh, tag, command, timeout=120):
    """Runs `command` in the guest's shell and returns what it printed on one line after TAG=.
    The tag is split in the echoed input, so only the command's output matches."""
    sh.run(f'echo "{tag[0]}""{tag[1:]}=$({command} 2>&1 | tr "\\n" " ")"')
    return sh.expect(rf"{tag}=([^\r\n]*)\r?\n", timeout=timeout).group(1).strip()


def boot_shell(tmp_path, capsys, label, args, vcpus=1, extra=None, kernel="pvh"):
    sh = Shell(tmp_path, vm_config(KERNELS[kernel], args, vcpus, 256, extra=extra))
    try:
        sh.expect(r"busybox shell", timeout=BOOT_TIMEOUT)
    except BaseException:
        sh.close()
        raise
    with capsys.disabled():
        print(f"\n    [linux boot: {label}: {time.monotonic() - sh.start:.2f} s to the shell]",
              end=" ")
    return sh


def wait_exit(sh, tmp_path):
    rc = sh.proc.wait(timeout=120)
    sh.out += (sh.proc.stdout.read() or b"").decode(errors="replace")
    return rc, (tmp_path / "brasa.log").read_text(errors="replace")


def test_linux_acpi_kernel_config():
    """The flavour is what the tests below rely on: the CPUs can only come from the MADT and the
    virtio-mmio devices only from the DSDT."""
    config = CONFIG.read_text().splitlines()
    for line in ("CONFIG_ACPI=y", "CONFIG_PCI=y", "CONFIG_PCI_MSI=y", "CONFIG_PCI_MMCONFIG=y",
                 "CONFIG_VIRTIO_PCI=y", "CONFIG_VIRTIO_MMIO=y", "CONFIG_PNPACPI=y",
                 "CONFIG_SERIAL_8250_PNP=y",
                 "# CONFIG_X86_MPPARSE is not set",
                 "# CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES is not set"):
        assert line in config, line


@pytest.mark.timeout(BOOT_TIMEOUT + 300)
def test_linux_acpi_finds_devices_and_powers_off(tmp_path, capsys, make_tap):
    """2 vCPUs, a disk and a NIC: each found through ACPI and working; then an ACPI power-off."""
    disk = tmp_path / "disk.img"
    disk.write_bytes(DISK_MAGIC + bytes(1 << 20))
    extra = {"drives": [{"drive_id": "data", "path_on_host": str(disk), "is_root_device": False,
                         "is_read_only": True}],
             "network-interfaces": [{"iface_id": "eth0", "host_dev_name": make_tap(),
                                     "guest_mac": GUEST_MAC}]}
    sh = boot_shell(tmp_path, capsys, "acpi, 2 vCPU, disk + NIC", boot_args("brasa.shell"),
                    vcpus=2, extra=extra)
    try:
        # Raw (-r) lines carry their log level, which the warning check at the end relies on.
        smp = ask(sh, "SMP", "dmesg -r | grep 'SMP configuration'")
        assert re.match(r"<6>(\[[^]]*\] )?ACPI: Using ACPI \(MADT\) for SMP configuration",
                        smp), smp
        assert ask(sh, "CPUS", "cat /sys/devices/system/cpu/online") == "0-1"
        tables = ask(sh, "TABLES", "ls /sys/firmware/acpi/tables").split()
        assert {"APIC", "DSDT", "FACP", "MCFG"} <= set(tables), tables
        # Each virtio device sits under the platform device Linux made of a DSDT LNRO0005.
        devs = ask(sh, "VDEVS", "for d in /sys/bus/virtio/devices/*; do "
                   "echo $(cat $d/device) $(readlink -f $d); done").split()
        pairs = sorted(zip(devs[0::2], devs[1::2]))
        assert [p[0] for p in pairs] == ["0x0001", "0x0002"], devs  # net, block
        assert all(re.search(r"/LNRO0005:\d\d/virtio\d+$", p[1]) for p in pairs), devs
        # The serial port and the i8042, each bound to its driver through its DSDT entry (the
        # console this shell runs on needs COM1's interrupt, which only the DSDT gives here).
        pnp = ask(sh, "PNP", "for d in /sys/bus/pnp/devices/*; do l=$(readlink $d/driver); "
                  "echo \"$(cat $d/id):${l##*/};\"; done")
        assert sorted(x.strip() for x in pnp.split(";") if x.strip()) == [
            "PNP0303:i8042 kbd", "PNP0501:serial"], pnp
        assert ask(sh, "DISK", "head -c 32 /dev/vda") == DISK_MAGIC.decode()
        assert ask(sh, "MAC", "cat /sys/class/net/eth0/address") == GUEST_MAC
        # No ACPI complaint at any log level up to warning (<0> to <4>).
        bad = ask(sh, "ACPIWARN", "dmesg -r | grep '^<[0-4]>' | grep -i acpi")
        assert bad == "", bad
        sh.run("poweroff -f")
        rc, log = wait_exit(sh, tmp_path)
        assert rc == 0, f"exit {rc}\n{sh.out}\n{log}"
        assert POWEROFF_LOG in log, log
    finally:
        sh.close()


@pytest.mark.timeout(BOOT_TIMEOUT + 120)
def test_linux_acpi_reboot_goes_through_i8042(tmp_path, capsys):
    """Without reboot= the kernel tries the ACPI reset register first; brasa's FADT has none (as
    Firecracker's), so Linux falls back to the i8042, which ends brasa with exit 0."""
    args = boot_args("brasa.shell").replace("reboot=t ", "")
    assert "reboot=" not in args
    sh = boot_shell(tmp_path, capsys, "acpi, reboot", args, kernel="bzimage")
    try:
        sh.run("reboot -f")
        rc, log = wait_exit(sh, tmp_path)
        assert rc == 0, f"exit {rc}\n{sh.out}\n{log}"
        # Linux writes the reset command until its vCPU stops: one line all the same.
        assert log.count(RESET_LOG) == 1 and POWEROFF_LOG not in log, log
    finally:
        sh.close()

