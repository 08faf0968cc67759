"""The guest-side MMDS: the test guest's own ARP/TCP/HTTP client (tests/guest/mmds.c) talks
to brasa's metadata network stack over virtio-net; frames for other addresses still reach
the tap; hostile peers leave the service, the API and brasa's memory intact."""
import json
import re
import select
import socket
import time

import pytest

from conftest import KERNELS, ApiVm, make_config, parse_fields, parse_report

pytestmark = pytest.mark.kvm

GUEST_MAC = "06:00:ac:10:00:02"
MMDS_MAC = "060123456701"
DATA = {"latest": {"meta-data": {"ami-id": "ami-123", "hostname": "brasa-guest",
                                 "tags": {"a": "1", "b": "2"}}}}


def unescape(text):
    return re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), text)


def answers(report):
    """[(status code, headers dict, body)] of every mmds-resp/mmds-data pair, in order."""
    out = []
    for fields, data in zip(report.all("mmds-resp"), report.all("mmds-data")):
        f = parse_fields(fields)
        assert f["rc"] == 0, f"the guest's request failed: {fields}"
        raw = unescape(data)
        head, _, body = raw.partition("\r\n\r\n")
        lines = head.split("\r\n")
        hdrs = dict(l.split(": ", 1) for l in lines[1:])
        assert len(raw) == f["len"]
        out.append((int(lines[0].split()[1]), hdrs, body, f))
    return out


def mmds_config(words, tap, mmds=None, metrics=None):
    extra = {"network-interfaces": [{"iface_id": "eth0", "host_dev_name": tap,
                                     "guest_mac": GUEST_MAC}],
             "mmds-config": {"network_interfaces": ["eth0"], **(mmds or {})}}
    if metrics:
        extra["metrics"] = {"metrics_path": str(metrics)}
    return make_config(KERNELS["pvh"], f"console=ttyS0 brasa.mmds {words}", extra=extra)


def run_mmds(brasa, tmp_path, tap, words, mmds=None, metrics=None):
    md = tmp_path / "metadata.json"
    md.write_text(json.dumps(DATA))
    res = brasa.run(mmds_config(words, tap, mmds, metrics), args=("--metadata", str(md)))
    assert res.rc == 0, res.stdout + res.log
    assert res.report.get("mmds-arp") == f"mac={MMDS_MAC}", res.stdout
    assert res.report.get("mmds-done") is not None, res.stdout
    return res


def test_v1_get_imds_text_and_metrics(brasa, tmp_path, make_tap):
    """V1: GET of a leaf is its text; the mmds metrics count what crossed the stack."""
    metrics = tmp_path / "metrics.json"
    res = run_mmds(brasa, tmp_path, make_tap(), "brasa.mmds.get=/latest/meta-data/ami-id",
                   metrics=metrics)
    [(status, hdrs, body, _)] = answers(res.report)
    assert (status, body) == (200, "ami-123")
    assert hdrs["Content-Type"] == "text/plain"
    lines = [json.loads(l) for l in metrics.read_text().splitlines() if l.strip()]
    total = {k: sum(l["mmds"][k] for l in lines) for k in lines[-1]["mmds"]}
    assert total["rx_accepted"] >= 6  # ARP, SYN, ACK, request, ACKs, FIN
    assert total["connections_created"] == 1 and total["connections_destroyed"] == 1
    assert total["tx_frames"] >= 4 and total["tx_bytes"] > 0 and total["tx_errors"] == 0
    assert total["rx_count"] >= 4 and total["rx_accepted_err"] == 0


def test_v1_get_json(brasa, tmp_path, make_tap):
    """With Accept: application/json the subtree comes back as JSON."""
    res = run_mmds(brasa, tmp_path, make_tap(), "brasa.mmds.get=/latest brasa.mmds.json")
    [(status, hdrs, body, _)] = answers(res.report)
    assert status == 200 and hdrs["Content-Type"] == "application/json"
    assert json.loads(body) == DATA["latest"]


def test_v2_token_then_get(brasa, tmp_path, make_tap):
    """V2: PUT /latest/api/token, then a GET with that token."""
    res = run_mmds(brasa, tmp_path, make_tap(), "brasa.mmds.v2=/latest/meta-data/hostname",
                   mmds={"version": "V2"})
    (s1, h1, token, _), (s2, _, body, _) = answers(res.report)
    assert s1 == 200 and h1["X-metadata-token-ttl-seconds"] == "60" and len(token) > 10
    assert (s2, body) == (200, "brasa-guest")


def test_v2_missing_token_is_401(brasa, tmp_path, make_tap):
    res = run_mmds(brasa, tmp_path, make_tap(), "brasa.mmds.get=/latest/meta-data/ami-id",
                   mmds={"version": "V2"})
    [(status, _, body, _)] = answers(res.report)
    assert status == 401, body


def test_custom_ipv4_address(brasa, tmp_path, make_tap):
    res = run_mmds(brasa, tmp_path, make_tap(),
                   "brasa.mmds.ip=169.254.170.2 brasa.mmds.get=/latest/meta-data/ami-id",
                   mmds={"ipv4_address": "169.254.170.2"})
    [(status, _, body, _)] = answers(res.report)
    assert (status, body) == (200, "ami-123")


def test_other_frames_reach_the_tap(brasa, tmp_path, make_tap):
    """The guest talks to the MMDS, then sends test frames: those reach the host side of the
    tap, and nothing addressed to the MMDS (its ARP, its TCP) does."""
    tap = make_tap()
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))  # ETH_P_ALL
    s.bind((tap, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    try:
        res = run_mmds(brasa, tmp_path, tap,
                       "brasa.mmds.get=/latest/meta-data/ami-id brasa.net brasa.net.send=4")
        frames = []
        while select.select([s], [], [], 0.2)[0]:
            data, addr = s.recvfrom(1 << 17)
            if addr[2] == socket.PACKET_OUTGOING:
                continue  # the host's own frames
            frames.append(data)
    finally:
        s.close()
    assert answers(res.report)[0][2] == "ami-123"
    assert res.report.fields("net-sent")["ok"] == 4
    ours = [f for f in frames if f[12:14] == b"\x88\xb5"]
    assert len(ours) == 4, [f[:14].hex() for f in frames]
    mmds_ip = socket.inet_aton("169.254.169.254")
    leaked = [f for f in frames if (f[12:14] == b"\x08\x06" and f[38:42] == mmds_ip) or
              (f[12:14] == b"\x08\x00" and f[30:34] == mmds_ip)]
    assert leaked == []


@pytest.mark.parametrize("mode,check", [
    # 30 connections (SYN-ACKs may be resent on the timer: ports count once), 70 resets
    ("synflood", lambda r: {k: v for k, v in r.fields("mmds-hostile synflood").items()
                            if k != "synacks"} == {"syns": 100, "synack_ports": 30, "rst": 70}),
    ("win0", lambda r: r.fields("mmds-hostile win0") == {"early_segs": 0, "early_bytes": 0}),
    ("ooo", lambda r: r.get("mmds-hostile ooo") == "done"),
    ("noack", lambda r: r.fields("mmds-hostile noack")["retx"] >= 1),
    ("garbage", lambda r: r.fields("mmds-hostile garbage") == {"sent": 8, "answers": 0}),
])
def test_hostile_guest(brasa, tmp_path, make_tap, mode, check):
    """Each hostile peer gets what Firecracker's stack gives it (30 connections then resets;
    nothing into a closed window; in-order data only; retransmission on the timer; garbage
    dropped), and a well-behaved request afterwards is answered."""
    res = run_mmds(brasa, tmp_path, make_tap(),
                   f"brasa.mmds.hostile={mode} brasa.mmds.get=/latest/meta-data/ami-id")
    assert check(res.report), res.stdout
    last = answers(res.report)[-1]
    assert (last[0], last[2]) == (200, "ami-123")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def test_big_value_over_many_segments_with_api(tmp_path, make_tap):
    """A 20000-byte value stored through PUT /mmds comes back whole over many MSS-sized
    segments, after a SYN flood; the API answers throughout and brasa's RSS stays bounded."""
    vm = ApiVm(tmp_path)
    serial = tmp_path / "serial.out"
    big = "".join(chr(ord("a") + i % 26) for i in range(20000))
    try:
        words = ("console=ttyS0 brasa.mmds brasa.mmds.hostile=synflood "
                 "brasa.mmds.get=/big brasa.halt")
        assert vm.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                       "boot_args": words}).status == 204
        assert vm.put("/network-interfaces/eth0", {"iface_id": "eth0", "guest_mac": GUEST_MAC,
                                                   "host_dev_name": make_tap()}).status == 204
        assert vm.put("/mmds/config", {"network_interfaces": ["eth0"]}).status == 204
        assert vm.put("/mmds", {"big": big}).status == 204
        assert vm.put("/serial", {"serial_out_path": str(serial)}).status == 204
        assert vm.put("/actions", {"action_type": "InstanceStart"}).status == 204
        deadline = time.monotonic() + 120
        text = ""
        while "BRASA halting" not in text:
            assert time.monotonic() < deadline, text
            assert vm.get("/").status == 200
            time.sleep(0.05)
            text = serial.read_text(errors="replace") if serial.exists() else ""
        assert rss_kib(vm.proc.pid) < 96 * 1024
        # After boot, as Firecracker: the store may change, the MMDS config may not.
        assert vm.patch("/mmds", {"big": "small"}).status == 204
        r = vm.put("/mmds/config", {"network_interfaces": ["eth0"]})
        assert r.status == 400 and "not supported after starting the microVM" in r.fault()
    finally:
        vm.stop()
    report = parse_report(text)
    (status, _, body, f) = answers(report)[-1]
    assert (status, body) == (200, big)
    assert f["segs"] >= 20000 // 536


def test_config_file_with_api_creates_the_store(tmp_path, make_tap):
    """--config-file with an mmds-config and the API up: the store exists from boot, as
    Firecracker's mmds_or_default() makes it (GET /mmds is {}, PUT fills it)."""
    cfg = mmds_config("brasa.halt", make_tap())
    path = tmp_path / "vm.json"
    path.write_text(json.dumps(cfg))
    vm = ApiVm(tmp_path, args=("--config-file", str(path)))
    try:
        deadline = time.monotonic() + 30
        while vm.get("/").json()["state"] != "Running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        r = vm.get("/mmds")
        assert (r.status, r.json()) == (200, {})
        assert vm.put("/mmds", DATA).status == 204
        assert vm.get("/mmds").json() == DATA
    finally:
        vm.stop()
