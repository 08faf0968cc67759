"""`brasa run`: a VM from flags alone. --dry-run shows the config file the flags make; a real run
boots the test guest, which reports from inside what it was given."""
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import BRASA, INITRD, KERNELS, UnixHTTPConnection, parse_report

PVH = str(KERNELS["pvh"])


def run(*args, timeout=30):
    p = subprocess.run([str(BRASA), "run", *args], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def dry(*args):
    rc, out, err = run("--kernel", PVH, *args, "--dry-run")
    assert rc == 0, out + err
    return json.loads(out)  # stdout holds the JSON alone, with no log line after it


def test_dry_run_defaults():
    assert dry() == {
        "boot-source": {"kernel_image_path": PVH, "boot_args": "console=ttyS0 reboot=k panic=1"},
        "machine-config": {"vcpu_count": 1, "mem_size_mib": 128}}


def test_dry_run_every_flag():
    cfg = dry("--initrd", "/i.img", "--rootfs", "/r.ext4", "--cpus", "4", "--mem", "512",
              "--tap", "tap9", "--mac", "06:00:AC:10:00:02", "--cmdline", "console=ttyS0 quiet",
              "--api-sock", "/tmp/x.sock")
    assert cfg == {
        "boot-source": {"kernel_image_path": PVH, "boot_args": "console=ttyS0 quiet",
                        "initrd_path": "/i.img"},
        "machine-config": {"vcpu_count": 4, "mem_size_mib": 512},
        "drives": [{"drive_id": "rootfs", "path_on_host": "/r.ext4", "is_root_device": True,
                    "is_read_only": False}],
        "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "tap9",
                                "guest_mac": "06:00:AC:10:00:02"}]}


def test_dry_run_output_is_a_config_file_brasa_boots(tmp_path):
    cfg = tmp_path / "vm.json"
    cfg.write_text(json.dumps(dry("--cmdline", "console=ttyS0", "--cpus", "2")))
    p = subprocess.run([str(BRASA), "--no-api", "--config-file", str(cfg)],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    assert parse_report(p.stdout.decode()).get("cpus") == "2"


BAD = [
    ((), "--kernel PATH is required"),
    (("--kernel", PVH, "--cpus", "0"), "--cpus: expected a number from 1 to 32, got '0'"),
    (("--kernel", PVH, "--cpus", "33"), "--cpus: expected a number from 1 to 32, got '33'"),
    (("--kernel", PVH, "--cpus", "two"), "--cpus: expected a number from 1 to 32, got 'two'"),
    (("--kernel", PVH, "--mem", "0"), "--mem: expected a size in MiB (a number from 1), got '0'"),
    (("--kernel", PVH, "--mem", "1G"), "--mem: expected a size in MiB (a number from 1), got '1G'"),
    (("--kernel", PVH, "--mac", "06:00:AC:10:00:02"), "--mac needs --tap"),
    (("--kernel", PVH, "--tap", "t0", "--mac", "06:00:AC:10:00"),
     "--mac: expected six hex bytes such as 06:00:AC:10:00:02, got '06:00:AC:10:00'"),
    (("--kernel", PVH, "--cpus"), "The argument 'cpus' requires a value"),
    (("--kernel", PVH, "--kernel", PVH), "The argument 'kernel' was provided more than once."),
    (("--kernel", PVH, "--", "x"), "unexpected argument 'x' after --"),
    (("--kernel", PVH, "--config-file", "vm.json"), "--config-file and --no-api are not for "
                                                    "brasa run"),
    (("--kernel", PVH, "--no-api"), "--config-file and --no-api are not for brasa run"),
]


@pytest.mark.parametrize("args,reason", BAD, ids=[r.split(":")[0][:30] for _, r in BAD])
def test_bad_flags_exit_153_and_say_why(args, reason):
    rc, out, err = run(*args)
    assert rc == 153, out + err
    assert f"Arguments parsing error: brasa run: {reason}" in out, out
    assert "brasa run --help" in out
    assert err.startswith("Error: ParseArguments(RunArgs("), err


def test_help():
    rc, out, _ = run("--help")
    assert rc == 0
    for flag in ("--kernel", "--initrd", "--rootfs", "--cpus", "--mem", "--tap", "--mac",
                 "--cmdline", "--api-sock", "--dry-run"):
        assert flag in out


def test_run_boots_without_api(tmp_path):
    rc, out, err = run("--kernel", PVH, "--initrd", str(INITRD), "--cpus", "2", "--mem", "64",
                       "--cmdline", "console=ttyS0 brasa.marker=run")
    assert rc == 0, out + err
    rep = parse_report(out)
    assert rep.get("cpus") == "2"
    assert int(rep.get("mem-top"), 16) == 64 << 20
    assert rep.get("cmdline").startswith("console=ttyS0 brasa.marker=run")
    assert rep.fields("initrd")["size"] == INITRD.stat().st_size
    assert "API server" not in out  # --no-api: nothing listens


def test_run_rootfs_is_the_root_drive(tmp_path):
    disk = tmp_path / "root.img"
    disk.write_bytes(b"\0" * 65536)
    rc, out, err = run("--kernel", PVH, "--rootfs", str(disk), "--cmdline", "console=ttyS0")
    assert rc == 0, out + err
    words = parse_report(out).get("cmdline").split()
    assert "root=/dev/vda" in words and "rw" in words
    assert any(w.startswith("virtio_mmio.device=4K@0xc0001000:") for w in words), words


def test_run_tap_and_mac(make_tap):
    tap = make_tap()
    rc, out, err = run("--kernel", PVH, "--tap", tap, "--mac", "06:00:ac:10:00:02",
                       "--cmdline", "console=ttyS0")
    assert rc == 0, out + err
    words = parse_report(out).get("cmdline").split()
    assert any(w.startswith("virtio_mmio.device=") for w in words), words


def test_run_with_api_sock_keeps_the_api(tmp_path):
    sp = subprocess
    sock_dir = Path(tempfile.mkdtemp(prefix="brasa-run-"))
    sock = sock_dir / "api.sock"
    proc = sp.Popen([str(BRASA), "run", "--kernel", PVH, "--cmdline", "console=ttyS0 brasa.idle",
                     "--api-sock", str(sock)], stdin=sp.DEVNULL, stdout=sp.PIPE, stderr=sp.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.01)
        conn = UnixHTTPConnection(sock)
        conn.request("GET", "/vm/config")
        body = json.loads(conn.getresponse().read())
        assert body["boot-source"]["boot_args"] == "console=ttyS0 brasa.idle"
        conn.request("GET", "/")
        assert json.loads(conn.getresponse().read())["state"] == "Running"
        conn.close()
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()
        shutil.rmtree(sock_dir, ignore_errors=True)


def test_unknown_flag_is_brasas_parse_error():
    """A flag neither run's nor brasa's is refused as brasa refuses it (Firecracker's text)."""
    rc, out, err = run("--kernel", PVH, "--memory", "64")
    assert rc == 153, out + err
    assert ("Arguments parsing error: Found argument 'memory' which wasn't expected, or isn't "
            "valid in this context.") in out, out
    assert err == 'Error: ParseArguments(UnexpectedArgument("memory"))\n', err


def test_brasa_flags_go_with_run(tmp_path):
    """brasa's own flags work with run: the log file, the level, the kvm_pvm template switch,
    and their checks (a duplicate is refused as brasa refuses it)."""
    log = tmp_path / "brasa.log"
    rc, out, err = run("--kernel", PVH, "--log-path", str(log), "--level", "Debug",
                       "--cmdline", "console=ttyS0", "--pvm-cpu-template", "off", "--id", "vm-7")
    assert rc == 0, out + err
    assert parse_report(out).get("cmdline") == "console=ttyS0"  # template off: nothing added
    text = log.read_text()
    assert "[vm-7:main] CPU template for kvm_pvm hosts: not applied" in text, text
    assert "Firecracker exiting successfully. exit_code=0" in text
    rc, out, err = run("--kernel", PVH, "--level", "Debug", "--level", "Info")
    assert rc == 153 and "The argument 'level' was provided more than once." in out, out
