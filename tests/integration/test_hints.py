"""Errors that help: where a first run usually fails (/dev/kvm, the API socket, the tap, the
kernel file), the error keeps Firecracker's text and a "Hint: ..." log line says what to do
next: after the API's "Received Error" line, and before main's error line (Firecracker's error
and exit lines stay the last two of the log)."""
import gzip
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import BRASA, KERNELS, ApiVm, make_config, unique

pytestmark = pytest.mark.kvm


def lines_after(text, first):
    """The log line holding first, and the line after it."""
    lines = text.splitlines()
    for i, l in enumerate(lines):
        if first in l:
            return l, (lines[i + 1] if i + 1 < len(lines) else "")
    raise AssertionError(f"no line with {first!r} in:\n{text}")


def main_error(text, error):
    """main's error line holding error, and the hint line just before it: Firecracker's error
    and exit lines stay the last two, where tools read them."""
    lines = text.splitlines()
    for i, l in enumerate(lines):
        if error in l:
            assert "exit_code=" in lines[i + 1], text
            return l, (lines[i - 1] if i else "")
    raise AssertionError(f"no line with {error!r} in:\n{text}")


def run_isolated(script, tmp_path):
    """Runs `script` (sh) in a private mount namespace, so that it may hide /dev/kvm."""
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, timeout=60, cwd=tmp_path)


def test_dev_kvm_missing(tmp_path):
    # /dev with everything but kvm: an empty tmpfs plus the nodes brasa's start-up reads.
    script = ("set -e; d=$(mktemp -d); for n in null zero urandom random; do "
              "touch $d/$n; mount --bind /dev/$n $d/$n; done; "
              "mount -t tmpfs none /dev; for n in null zero urandom random; do "
              "touch /dev/$n; mount --bind $d/$n /dev/$n; done; "
              f"exec {BRASA} run --kernel {KERNELS['pvh']}")
    p = run_isolated(script, tmp_path)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 1, out + p.stderr.decode(errors="replace")
    err, hint = main_error(out, "Kvm error: Error creating KVM object: No such file or directory "
                                 "(os error 2) Make sure the user launching the firecracker "
                                 "process is configured on the /dev/kvm file's ACL.")
    assert "Hint: /dev/kvm does not exist: load KVM (modprobe kvm_intel or kvm_amd" in hint, out


def test_dev_kvm_without_permission(tmp_path):
    """A user with no access to /dev/kvm (here crw------- root): the hint says how to grant it."""
    if os.stat("/dev/kvm").st_mode & 0o006:
        pytest.fail("/dev/kvm is open to every user here: this test needs it restricted")
    d = Path(tempfile.mkdtemp(prefix="brasa-hint-"))
    try:
        kernel = d / "pvh.elf"
        shutil.copyfile(KERNELS["pvh"], kernel)
        os.chmod(d, 0o755)
        os.chmod(kernel, 0o644)
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            str(BRASA), "run", "--kernel", str(kernel)],
                           capture_output=True, timeout=60, cwd=d)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 1, out + p.stderr.decode(errors="replace")
    _, hint = main_error(out, "Kvm error: Error creating KVM object: Permission denied (os error "
                               "13) Make sure the user")
    assert "Hint: this user may not open /dev/kvm: add it to the device's group" in hint, out


def test_api_socket_exists(tmp_path):
    sock = tmp_path / "api.sock"
    sock.write_text("")
    p = subprocess.run([str(BRASA), "--api-sock", str(sock)], capture_output=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 1, out
    # Firecracker's line, unchanged, and its stderr line; the hint before them.
    _, hint = main_error(out, f"RunWithApiError error: Failed to open the API socket at: {sock}. "
                               "Check that it is not already used.")
    assert "Hint: if no brasa or Firecracker serves it any more, remove the file" in hint, out
    assert p.stderr.decode() == f'Error: RunWithApi(FailedToBindSocket("{sock}"))\n'


def net_config(tap, *more):
    nets = [{"iface_id": f"eth{i}", "host_dev_name": t} for i, t in enumerate((tap, *more))]
    return make_config(KERNELS["pvh"], "console=ttyS0", extra={"network-interfaces": nets})


def test_tap_missing_config_file(brasa):
    tap = unique("nx")
    res = brasa.run(net_config(tap))
    assert res.rc == 1
    _, hint = main_error(res.log, f"Invalid TUN/TAP Backend provided by {tap}.")
    assert "Hint: the tap must exist before the VM starts: ip tuntap add dev <name> mode tap" \
        in hint, res.log


def test_tap_missing_api(tmp_path):
    tap = unique("nx")
    vm = ApiVm(tmp_path)
    try:
        r = vm.put("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": tap})
        assert r.status == 400
        # the fault_message stays Firecracker's alone; the hint is a log line after it
        assert "Hint" not in r.fault()
        _, hint = lines_after(vm.output(), "Received Error. Status code: 400 Bad Request. "
                                           "Message: Network config error: Could not create the network "
                                           "device")
        assert "Hint: the tap must exist before the VM starts" in hint, vm.output()
    finally:
        vm.stop()


def test_tap_busy(brasa, make_tap):
    tap = make_tap()
    res = brasa.run(net_config(tap, tap))
    assert res.rc == 1
    _, hint = main_error(res.log, "Device or resource busy (os error 16)")
    assert "Hint: another process (another VM?) holds this tap" in hint, res.log


@pytest.mark.parametrize("name,data,says", [
    ("vmlinuz.gz", gzip.compress(b"\x7fELF" + b"\0" * 4096), "it is gzip-compressed"),
    ("Image", b"\0" * 0x38 + b"ARM\x64" + b"\0" * 4096, "it is an arm64 Image"),
    ("junk", b"\x41" * 8192, "give an uncompressed ELF vmlinux or a bzImage"),
], ids=["gzip", "arm64", "other"])
def test_kernel_wrong_format(brasa, tmp_path, name, data, says):
    k = tmp_path / name
    k.write_bytes(data)
    res = brasa.run(make_config(k))
    assert res.rc == 1
    line, _ = lines_after(res.log, "kernel image is neither ELF nor bzImage (bad magic): ")
    assert says in line, res.log
