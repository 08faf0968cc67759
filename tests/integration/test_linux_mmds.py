"""The guest-side MMDS with Linux's own TCP/IP stack and virtio_net driver (checksum and
segmentation offloads negotiated): busybox nc in the guest carries the HTTP requests."""
import json
import time

import pytest

from test_linux import BOOT_TIMEOUT, KERNELS, Shell, boot_args, group_totals, vm_config

pytestmark = pytest.mark.kvm
DATA = {"latest": {"meta-data": {"ami-id": "ami-linux", "big": "L" * 6000}}}


@pytest.mark.timeout(BOOT_TIMEOUT + 300)
def test_linux_mmds_v2_token_and_get(tmp_path, capsys, make_tap):
    """Linux (its own TCP, checksum offload) PUTs for a token, then GETs with it: a leaf's
    text and a 6000-byte value over several segments come back whole; without the token the
    answer is 401."""
    metrics = tmp_path / "metrics.json"
    cfg = vm_config(KERNELS["pvh"], boot_args("brasa.shell"), 1, 256, extra={
        "network-interfaces": [{"iface_id": "eth0", "host_dev_name": make_tap(),
                                "guest_mac": "06:00:ac:10:00:02"}],
        "mmds-config": {"network_interfaces": ["eth0"], "version": "V2"},
        "metrics": {"metrics_path": str(metrics)}})
    md = tmp_path / "md.json"
    md.write_text(json.dumps(DATA))
    sh = Shell(tmp_path, cfg, args=("--metadata", str(md)))
    try:
        sh.expect(r"busybox shell", timeout=BOOT_TIMEOUT)
        with capsys.disabled():
            print(f"\n    [linux boot: mmds: {time.monotonic() - sh.start:.2f} s]", end=" ")
        sh.run("ip link set eth0 up && ip addr add 10.0.0.2/24 dev eth0 && "
               "ip route add 169.254.169.254 dev eth0 && echo NET-$((40+2))")
        sh.expect(r"NET-42")
        # busybox's wget cannot PUT (and segfaults resolving in this initramfs), so nc carries
        # each request (ash's printf takes the escapes in single quotes only); the service
        # keeps the connection open, so nc is stopped after 4 s.
        fetch = ("(printf '{req}' \"$T\"; sleep 2) | nc 169.254.169.254 80 > /{out} & "
                 "sleep 4; kill $! 2>/dev/null; ")
        sh.run("T=; " + fetch.format(req="PUT /latest/api/token HTTP/1.1\\r\\n"
                                   "X-metadata-token-ttl-seconds: 60\\r\\n\\r\\n", out="t") +
               "T=$(tail -n 1 /t); echo TOKEN-${#T}")
        assert int(sh.expect(r"TOKEN-(\d+)", timeout=60).group(1)) > 10, sh.out
        get = "GET /latest/meta-data/{} HTTP/1.1\\r\\nX-metadata-token: %s\\r\\n\\r\\n"
        sh.run(fetch.format(req=get.format("ami-id"), out="a") + "echo AMI=$(tail -n 1 /a)")
        assert sh.expect(r"AMI=(ami-\w+)", timeout=60).group(1) == "ami-linux", sh.out
        sh.run(fetch.format(req=get.format("big"), out="b") +
               "echo BIG=$(grep -o 'LLL*' /b | tr -d '\\n' | wc -c)")
        assert sh.expect(r"BIG=(\d+)", timeout=60).group(1) == "6000", sh.out
        sh.run(fetch.format(req="GET /latest/meta-data/ami-id HTTP/1.1\\r\\n\\r\\n", out="n")
               + "echo NOTOKEN $(head -n 1 /n)")
        assert sh.expect(r"NOTOKEN HTTP/1.1 (\d+)", timeout=60).group(1) == "401", sh.out
        sh.flush_metrics()
        m = group_totals(metrics, "mmds")
        assert m["connections_created"] == 4 and m["rx_accepted_err"] == 0, m
        sh.run("reboot")
        assert sh.proc.wait(timeout=120) == 0, sh.out
    finally:
        sh.close()
