"""Firecracker's getting-started guide, step by step, against brasa and the project's own guest
Linux (tools/guest): the same curl calls on the API socket (logger, boot-source with a Firecracker
user's plain boot_args, drives/rootfs with rootfs.ext4, network-interfaces/net1 on a tap with
guest_mac 06:00:AC:10:00:02, InstanceStart), from a network namespace made for the test with the
tap's host side at 172.16.0.1/30. The guest derives 172.16.0.2 from its MAC as Firecracker's CI
images do and serves SSH (dropbear) with build/guest/id_ed25519's public key; the test logs in
as root, checks the guest from inside, and a `reboot` over SSH ends brasa with exit 0.
"""
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import BRASA, unique
from test_linux import BOOT_TIMEOUT, GUEST, KERNELS, PVM_HOST, ROOTFS, read_cmdline

pytestmark = pytest.mark.kvm

KEY = GUEST / "id_ed25519"
# What a Firecracker user passes (getting-started.md); nothing of brasa's own.
FC_BOOT_ARGS = "console=ttyS0 reboot=k panic=1"
FC_MAC = "06:00:AC:10:00:02"
GUEST_IP, TAP_IP = "172.16.0.2", "172.16.0.1"
SSH_OPTS = ["-F", "/dev/null", "-i", str(KEY), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=60", "-o", "LogLevel=ERROR"]


@pytest.fixture
def netns():
    """A network namespace holding tap0 at 172.16.0.1/30, as the guide sets it up on its host."""
    name = unique("bssh")
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for cmd in (["link", "set", "lo", "up"], ["tuntap", "add", "dev", "tap0", "mode", "tap"],
                    ["addr", "add", f"{TAP_IP}/30", "dev", "tap0"],
                    ["link", "set", "dev", "tap0", "up"]):
            subprocess.run(["ip", "-n", name, *cmd], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


class Console:
    """brasa started as the guide starts firecracker, inside the namespace, its stdout read
    without blocking."""

    def __init__(self, ns, sock, args=()):
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, str(BRASA), "--api-sock", str(sock),
                                      *args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.out = ""

    def pump(self):
        chunk = self.proc.stdout.read()
        if chunk:
            self.out += chunk.decode(errors="replace")
        return bool(chunk)

    def wait_for(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.out)
            if m:
                return m
            if not self.pump():
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} on the console:\n{self.out}")

    def wait_exit(self, timeout):
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            if not self.pump():
                time.sleep(0.05)
        self.pump()
        return self.proc.poll()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def curl_put(sock, path, body):
    """One of the guide's calls: curl -X PUT --unix-socket SOCK --data BODY http://localhost/PATH."""
    r = subprocess.run(["curl", "-sS", "-X", "PUT", "--unix-socket", str(sock), "--data",
                        json.dumps(body), "-w", "%{http_code}", f"http://localhost/{path}"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.endswith("204"), (path, r.returncode, r.stdout, r.stderr)


def ssh(ns, *command, timeout=180, opts=()):
    return subprocess.run(["ip", "netns", "exec", ns, "ssh", *SSH_OPTS, *opts, f"root@{GUEST_IP}",
                           *command], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def ssh_until_up(ns, timeout):
    """dropbear starts in the background just before init's line: retry until it listens.
    Each try waits up to a minute (ConnectTimeout) for its greeting: on a busy kvm_pvm host a
    forked server takes seconds to answer, and short tries only pile connections up."""
    deadline = time.monotonic() + timeout
    while True:
        r = ssh(ns, "true")
        if r.returncode == 0 or time.monotonic() > deadline:
            return r
        time.sleep(1)


@pytest.fixture(autouse=True)
def _require_tools():
    """No client, no key or no curl is a failure, never a skip."""
    for tool in ("ssh", "curl"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: run tools/deps.sh")
    if not KEY.exists():
        pytest.fail(f"{KEY} is missing: run tools/guest/build.sh")


# The guide as written (virtio-mmio, the default kernel), and with `firecracker --enable-pci`,
# its first command, on the "acpi" kernel flavour, which finds its devices on the PCI bus.
VARIANTS = {"mmio": (KERNELS["pvh"], ()), "pci": (GUEST / "vmlinux-acpi", ("--enable-pci",))}


@pytest.mark.timeout(BOOT_TIMEOUT + 300)
@pytest.mark.parametrize("variant", VARIANTS)
def test_linux_getting_started_ssh(tmp_path, netns, capsys, variant):
    kernel, args = VARIANTS[variant]
    if not kernel.exists():
        pytest.fail(f"{kernel} is missing: run tools/guest/build.sh")
    rootfs = tmp_path / "rootfs.ext4"
    shutil.copyfile(ROOTFS, rootfs)
    sock, log = tmp_path / "firecracker.socket", tmp_path / "firecracker.log"
    start = time.monotonic()
    vm = Console(netns, sock, args)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert vm.proc.poll() is None and time.monotonic() < deadline, vm.out
            time.sleep(0.01)
        curl_put(sock, "logger", {"log_path": str(log), "level": "Debug", "show_level": True,
                                  "show_log_origin": True})
        curl_put(sock, "boot-source", {"kernel_image_path": str(kernel),
                                       "boot_args": FC_BOOT_ARGS})
        curl_put(sock, "drives/rootfs", {"drive_id": "rootfs", "path_on_host": str(rootfs),
                                         "is_root_device": True, "is_read_only": False})
        curl_put(sock, "network-interfaces/net1", {"iface_id": "net1", "guest_mac": FC_MAC,
                                                   "host_dev_name": "tap0"})
        curl_put(sock, "actions", {"action_type": "InstanceStart"})

        vm.wait_for(rf"BRASA ssh eth0={re.escape(GUEST_IP)}/30", BOOT_TIMEOUT)
        to_server = time.monotonic() - start
        r = ssh_until_up(netns, 240)
        assert r.returncode == 0, (r, vm.out)
        to_login = time.monotonic() - start

        # The guide's set-up over SSH (in one session: each costs seconds on kvm_pvm), on a
        # terminal as its interactive login has one; then from inside: the user's boot_args came
        # first and, on kvm_pvm, brasa added what the kernel needs there; eth0 has the address
        # its MAC names.
        r = ssh(netns, f"ip route add default via {TAP_IP} dev eth0 && "
                       "echo 'nameserver 8.8.8.8' > /etc/resolv.conf && "
                       "cat /proc/cmdline /sys/class/net/eth0/address && tty && "
                       "ip -4 -o addr show eth0 && ip route", opts=("-tt",))
        assert r.returncode == 0, r
        cmdline, mac, tty, addr, *routes = (l.strip() for l in r.stdout.splitlines())
        assert tty.startswith("/dev/pts/"), tty
        assert f"default via {TAP_IP} dev eth0" in routes, routes
        assert cmdline.startswith(FC_BOOT_ARGS + " "), cmdline
        assert (read_cmdline("cmdline-pvm") in cmdline) == PVM_HOST, cmdline
        assert "root=/dev/vda rw" in cmdline, cmdline
        assert mac == FC_MAC.lower(), mac
        assert f"inet {GUEST_IP}/30" in addr, addr
        assert ("kvm_pvm: appended to the kernel command line" in log.read_text()) == PVM_HOST
        # The drive and the NIC: virtio-mmio devices named on the command line, or virtio-pci
        # functions (0x1af4:0x1042 block, 0x1041 net) the kernel found on the bus.
        assert ("virtio_mmio.device=" in cmdline) == (variant == "mmio"), cmdline
        r = ssh(netns, "echo P $(cat /sys/bus/pci/devices/*/device 2>/dev/null | sort); "
                       "readlink /sys/class/net/eth0/device/driver; "
                       "readlink /sys/block/vda/device/driver")
        assert r.returncode == 0, r
        pci_ids, *drivers = r.stdout.splitlines()
        pci_ids = pci_ids.removeprefix("P")
        assert len(drivers) == 2, r
        assert all(d.endswith("/virtio_net") or d.endswith("/virtio_blk") for d in drivers), r
        if variant == "pci":
            assert "0x1041" in pci_ids.split() and "0x1042" in pci_ids.split(), pci_ids
        else:
            assert pci_ids.strip() == "", pci_ids

        # The guide's last step: `reboot` in the guest ends the VMM cleanly.
        try:
            ssh(netns, "reboot")
        except subprocess.TimeoutExpired:
            pass  # the guest may go before the session closes; brasa's exit is what counts
        rc = vm.wait_exit(120)
        with capsys.disabled():
            print(f"\n    [linux ssh ({variant}): {to_server:.2f} s to the SSH server, {to_login:.2f} s to the"
                  f" first `ssh true`, {time.monotonic() - start:.2f} s to exit {rc}]", end=" ")
        assert rc == 0, (rc, vm.out, log.read_text())
    finally:
        vm.kill()
