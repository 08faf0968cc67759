"""The metadata service (MMDS) seen from the guest Linux: its own virtio-net driver and TCP/IP
stack talk to brasa's MMDS through tools/guest/mmdsc, from a shell on the serial console.

V2 in one boot: no token is a 401, a token from PUT /latest/api/token opens GETs (IMDS text and
serde_json's JSON, checked byte for byte through length and FNV-1a), a body of many TCP
segments arrives whole, a token with a 1 s TTL is refused once expired, and a PUT /mmds on the
API after boot is what the guest reads next. V1 in another: GETs need no token.
"""
import json
import os
import subprocess
import time

import pytest

from conftest import BRASA, UnixHTTPConnection
from test_linux import BOOT_TIMEOUT, KERNELS, Shell, boot_args, vm_config

pytestmark = pytest.mark.kvm

MMDS_IP = "169.254.169.254"
BIG = "0123456789abcdef" * 500  # 8000 bytes: several 1460-byte segments
STORE = {"latest": {"meta-data": {"ami-id": "ami-12345678", "big": BIG,
                                  "network": {"mac": "06:00:ac:10:00:02"}, "count": 3}},
         "user-data": "line1\nline2"}


def fnv1a32(data):
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return f"{h:08x}"


def serde_json(v):
    """serde_json::to_string() of an ASCII value: compact, keys sorted."""
    return json.dumps(v, separators=(",", ":"), sort_keys=True)


class MmdsShell(Shell):
    """Shell, with --metadata: the store is there before the guest asks."""

    def __init__(self, tmp_path, cfg):
        (tmp_path / "vm.json").write_text(json.dumps(cfg))
        (tmp_path / "metadata.json").write_text(json.dumps(STORE))
        self.sock = tmp_path / "api.sock"
        self.start = time.monotonic()
        self.proc = subprocess.Popen(
            [str(BRASA), "--api-sock", str(self.sock), "--config-file", str(tmp_path / "vm.json"),
             "--metadata", str(tmp_path / "metadata.json"),
             "--log-path", str(tmp_path / "brasa.log")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.out, self.seen = "", 0
        self.api = lambda: UnixHTTPConnection(str(self.sock))

    def mmdsc(self, *args):
        """Runs mmdsc in the guest; returns (status, type, length, fnv, body or None)."""
        quoted = " ".join(f'"{a}"' for a in args)
        self.run(f"mmdsc {MMDS_IP} {quoted}")
        m = self.expect(r"MMDSC status=(\d+) type=(\S+) length=(\d+) fnv=([0-9a-f]{8})\r?\n")
        length, body = int(m.group(3)), None
        if length <= 512:  # mmdsc shows short bodies on a second line
            body = self.expect(r"MMDSC body=(.*)\r?\n").group(1).rstrip("\r")
        return int(m.group(1)), m.group(2), length, m.group(4), body


def boot(tmp_path, make_tap, version, capsys):
    tap = make_tap()
    cfg = vm_config(KERNELS["pvh"], boot_args("brasa.shell"), 1, 256, extra={
        "network-interfaces": [{"iface_id": "eth0", "host_dev_name": tap}],
        "mmds-config": {"version": version, "network_interfaces": ["eth0"]}})
    sh = MmdsShell(tmp_path, cfg)
    sh.expect(r"busybox shell", timeout=BOOT_TIMEOUT)
    with capsys.disabled():
        print(f"\n    [linux boot: mmds {version}: {time.monotonic() - sh.start:.2f} s to the "
              "shell]", end=" ")
    # A link-local address on the guest's interface: the MMDS address is then on-link (ARP).
    sh.run("ip addr add 169.254.0.2/16 dev eth0 && ip link set eth0 up && echo NET$((1+1))UP")
    sh.expect(r"NET2UP")
    return sh


def put_mmds(sh, store):
    conn = sh.api()
    conn.request("PUT", "/mmds", json.dumps(store))
    r = conn.getresponse()
    r.read()
    assert r.status == 204


@pytest.mark.timeout(BOOT_TIMEOUT + 300)
def test_linux_mmds_v2_sessions(tmp_path, capsys, make_tap):
    sh = boot(tmp_path, make_tap, "V2", capsys)
    try:
        status, _, _, _, body = sh.mmdsc("GET", "/latest/meta-data/ami-id")
        assert (status, body) == (401, "No MMDS token provided. Use `X-metadata-token` or "
                                  "`X-aws-ec2-metadata-token` header to specify the session "
                                  "token."), sh.out
        sh.run(f'T=$(mmdsc -b {MMDS_IP} PUT /latest/api/token "X-metadata-token-ttl-seconds: 600")'
               "; echo TOKLEN ${#T}")
        assert sh.expect(r"TOKLEN (\d+)").group(1) == "48", sh.out
        tok = "X-metadata-token: $T"
        assert sh.mmdsc("GET", "/latest/meta-data/", tok)[::4] == (
            200, "ami-id\\nbig\\ncount\\nnetwork/"), sh.out
        assert sh.mmdsc("GET", "/user-data", tok)[4] == "line1\\nline2"
        # Many segments: the whole body, byte for byte.
        big = BIG.encode()
        assert sh.mmdsc("GET", "/latest/meta-data/big", tok)[:4] == (
            200, "text/plain", len(big), fnv1a32(big)), sh.out
        js = serde_json(STORE["latest"]).encode()
        assert sh.mmdsc("GET", "/latest", "Accept: application/json", tok)[:4] == (
            200, "application/json", len(js), fnv1a32(js)), sh.out
        assert sh.mmdsc("GET", "/latest/nope", tok)[::4] == (
            404, "Resource not found: /latest/nope."), sh.out
        # A token that expires: refused after its second.
        sh.run(f'E=$(mmdsc -b {MMDS_IP} PUT /latest/api/token "X-metadata-token-ttl-seconds: 1")'
               "; sleep 2; echo EXPLEN ${#E}")
        assert sh.expect(r"EXPLEN (\d+)").group(1) == "48", sh.out
        assert sh.mmdsc("GET", "/latest/meta-data/ami-id", "X-metadata-token: $E")[::4] == (
            401, "MMDS token not valid."), sh.out
        # The store changed through the API after boot is what the guest reads next.
        put_mmds(sh, {"latest": {"fresh": "yes"}})
        assert sh.mmdsc("GET", "/latest/fresh", tok)[::4] == (200, "yes"), sh.out
        sh.run("reboot")
        assert sh.proc.wait(timeout=120) == 0, sh.out
    finally:
        sh.close()


@pytest.mark.timeout(BOOT_TIMEOUT + 300)
def test_linux_mmds_v1(tmp_path, capsys, make_tap):
    sh = boot(tmp_path, make_tap, "V1", capsys)
    try:
        assert sh.mmdsc("GET", "/latest/meta-data/ami-id")[::4] == (200, "ami-12345678"), sh.out
        assert sh.mmdsc("GET", "/latest/meta-data/network/mac", "X-metadata-token: bad")[::4] == (
            200, "06:00:ac:10:00:02"), sh.out
        assert sh.mmdsc("PATCH", "/latest")[::4] == (405, "Not allowed HTTP method."), sh.out
        sh.run("reboot")
        assert sh.proc.wait(timeout=120) == 0, sh.out
    finally:
        sh.close()
