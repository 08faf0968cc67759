"""The PIT (8254) is brasa's own, not KVM's: the guest still finds it where a PC has it.

Channel 2 behind the speaker port 0x61 (Linux's PIT calibration), and channel 0 raising IRQ 0
through IOAPIC pin 0, periodically in mode 2 and once in mode 0, each checked by the test
guest from inside. And the reason it is ours: no "kvm-pit/<pid>" kernel worker comes with the
VM, so the VM's close() does not wait for the grace periods that destroying it costs.
"""
import os

from conftest import KERNELS, make_config, wait_for_line


def test_pit_channels_from_the_guest(brasa):
    res = brasa.boot("pvh", boot_args="console=ttyS0 brasa.pit")
    assert res.rc == 0, res.out
    ch2 = res.report.fields("pit ch2")
    assert ch2 == {"status": 0x30, "counting": 1, "out": 1}, res.report.lines
    irq0 = res.report.fields("pit irq0")
    assert irq0 == {"periodic": 1, "oneshot": 1}, res.report.lines


def kernel_workers(pid):
    """The names of kernel threads that carry pid in their name (KVM names its PIT worker so)."""
    names = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if comm.endswith(f"/{pid}"):
                names.append(comm)
    return names


def test_no_in_kernel_pit_worker(api_vm):
    cfg = make_config(KERNELS["pvh"], "console=ttyS0 brasa.idle")
    assert api_vm.put("/boot-source", cfg["boot-source"]).status == 204
    assert api_vm.put("/machine-config", cfg["machine-config"]).status == 204
    assert api_vm.put("/actions", {"action_type": "InstanceStart"}).status == 204
    wait_for_line(api_vm.proc, r"BRASA idle")
    assert kernel_workers(api_vm.proc.pid) == []
