"""virtio-net on a tap, driven by the test guest's own driver: frames both ways with a host
AF_PACKET socket on the tap, two microVMs over a bridge, rate limits, tap errors, metrics,
and a hostile driver on both queues."""
import json
import os
import select
import socket
import subprocess
import time

import pytest

from conftest import KERNELS, ip, make_config, parse_fields, parse_report, unique, wait_for_line

pytestmark = pytest.mark.kvm

ETYPE = 0x88B5
NEEDS_RESET = 0x40
GUEST_MAC = "06:00:ac:10:00:02"
HOST_MAC = bytes.fromhex("0600ac100001")
BCAST = b"\xff" * 6


def fnv1a32w(d):
    """The guest's checksum (tests/guest/README.md)."""
    h, n = 0x811C9DC5, len(d) & ~3
    for i in range(0, n, 4):
        h = ((h ^ int.from_bytes(d[i:i + 4], "little")) * 0x01000193) & 0xFFFFFFFF
    for b in d[n:]:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def guest_frame(k, size, dst, src):
    """Frame k as the guest builds it (tests/guest/net.c build_frame)."""
    out, s = bytearray(dst + src + ETYPE.to_bytes(2, "big") + k.to_bytes(4, "little")), k + 1
    while len(out) + 4 <= size:
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        out += s.to_bytes(4, "little")
    return bytes(out) + bytes(size - len(out))


@pytest.fixture
def bridge():
    name = unique("bb")
    ip("link", "add", name, "type", "bridge")
    with open(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "w") as f:
        f.write("1")
    ip("link", "set", name, "up")
    yield name
    subprocess.run(["ip", "link", "del", name], capture_output=True)


class TapSocket:
    """AF_PACKET on the tap: what the guest sends arrives here, what we send reaches the guest."""

    def __init__(self, tap):
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETYPE))
        self.s.bind((tap, ETYPE))
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)

    def recv(self, timeout=30):
        """Next frame with our ethertype (outgoing copies of our own sends are skipped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.s], [], [], 0.5)
            if not r:
                continue
            data, addr = self.s.recvfrom(1 << 17)
            if addr[2] != socket.PACKET_OUTGOING:
                return data
        raise AssertionError("no frame from the guest")

    def send(self, frame):
        assert self.s.send(frame) == len(frame)

    def close(self):
        self.s.close()


def net_cfg(tap, iface="eth0", mac=GUEST_MAC, **extra):
    n = {"iface_id": iface, "host_dev_name": tap}
    if mac:
        n["guest_mac"] = mac
    n.update(extra)
    return n


def vm_config(words, nets, drives=None, metrics=None):
    extra = {"network-interfaces": nets}
    if drives:
        extra["drives"] = drives
    if metrics:
        extra["metrics"] = {"metrics_path": str(metrics)}
    return make_config(KERNELS["pvh"], f"console=ttyS0 {words}", extra=extra)


def finish(proc, timeout=60):
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out.decode(errors="replace")


def spawn(brasa, cfg, name="vm.json"):
    path = brasa.write_config(cfg, name)
    return subprocess.Popen(brasa.argv(path), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_guest_to_host_frames(brasa, make_tap):
    """MTU-sized frames from the guest reach a host socket on the tap intact."""
    tap = make_tap()
    sock = TapSocket(tap)
    try:
        count, size = 4, 1514
        res = brasa.run(vm_config(f"brasa.net brasa.net.send={count} brasa.net.size={size}",
                                  [net_cfg(tap)]))
        assert res.rc == 0, res.stdout + res.log
        dev = res.report.fields("net")
        assert dev["mac"] == GUEST_MAC.replace(":", ""), res.stdout
        assert res.report.fields("net-sent") == {"count": count, "size": size, "ok": count}
        src = bytes.fromhex(GUEST_MAC.replace(":", ""))
        for k in range(count):
            got = sock.recv()
            assert got == guest_frame(k, size, BCAST, src), f"frame {k} differs"
    finally:
        sock.close()


def test_host_to_guest_and_back(brasa, make_tap):
    """Frames injected on the tap reach the guest (sums checked) and come back intact."""
    tap = make_tap()
    sock = TapSocket(tap)
    count = 4
    proc = spawn(brasa, vm_config(f"brasa.net brasa.net.echo={count}", [net_cfg(tap)]))
    try:
        wait_for_line(proc, r"BRASA net-echo ready")
        guest = bytes.fromhex(GUEST_MAC.replace(":", ""))
        sizes = [60, 1514, 800, 1514]
        sent = []
        for k, size in enumerate(sizes):
            f = guest_frame(k + 100, size, guest, HOST_MAC)
            sent.append(f)
            sock.send(f)
        for k, f in enumerate(sent):
            back = sock.recv()
            assert back[:6] == HOST_MAC and back[6:12] == guest, back[:12].hex()
            assert back[12:] == f[12:], f"payload {k} changed on the way"
        rc, out = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
    assert rc == 0, out
    rx = [parse_fields(t) for t in parse_report(out).all("net-rx")]
    assert [(r["len"], r["sum"]) for r in rx] == [(len(f), fnv1a32w(f)) for f in sent]


def xorshift_words(seed, length):
    out, s = bytearray(), seed
    while len(out) + 4 <= length:
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        out += s.to_bytes(4, "little")
    return bytes(out) + bytes(length - len(out))


def tcp4_frame(src_mac, payload):
    """What tests/guest/net.c tcp4_headers() builds, link-local addresses of our own tap."""
    ip_hdr = bytes([0x45, 0]) + (40 + len(payload)).to_bytes(2, "big") + \
        bytes([0, 0, 0x40, 0, 64, 6, 0, 0, 169, 254, 10, 2, 169, 254, 10, 1])
    tcp = bytes([0x0F, 0xA0, 0x13, 0x88, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xFF, 0xFF,
                 0, 0, 0, 0])
    return BCAST + src_mac + b"\x08\x00" + ip_hdr + tcp + payload


SOL_PACKET, PACKET_VNET_HDR = 263, 15


def test_tso_frames_both_ways(brasa, make_tap):
    """With CSUM/TSO4 negotiated both ways, a 20000-byte TCP segment crosses the tap whole:
    guest to host as one GSO frame, host to guest merged over several RX buffers."""
    tap = make_tap()
    payload = 20000
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.bind((tap, 0x0800))
    guest = bytes.fromhex(GUEST_MAC.replace(":", ""))
    proc = spawn(brasa, vm_config(f"brasa.net brasa.net.tso={payload}", [net_cfg(tap)]))
    try:
        want = tcp4_frame(guest, xorshift_words(7, payload))
        deadline = time.monotonic() + 60
        while True:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise AssertionError("no TSO frame from the guest: " + finish(proc)[1])
            r, _, _ = select.select([s], [], [], 0.5)
            if not r:
                continue
            data, addr = s.recvfrom(1 << 17)
            if addr[2] != socket.PACKET_OUTGOING:
                break
        vnet, frame = data[:10], data[10:]
        assert vnet[1] == 1 and int.from_bytes(vnet[4:6], "little") == 1448, vnet.hex()
        assert frame == want
        host = tcp4_frame(HOST_MAC, xorshift_words(9, payload))
        hdr = bytes([1, 1]) + (54).to_bytes(2, "little") + (1448).to_bytes(2, "little") + \
            (34).to_bytes(2, "little") + (16).to_bytes(2, "little")
        assert s.send(hdr + host) == len(hdr) + len(host)
        rc, out = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        s.close()
    assert rc == 0, out
    rep = parse_report(out)
    tx = rep.fields("net-tso-tx")
    assert tx["len"] == len(want) and tx["sum"] == fnv1a32w(want) and tx["status"] == 0
    rx = rep.fields("net-tso-rx")
    assert rx["len"] == len(host) and rx["sum"] == fnv1a32w(host), out
    assert rx["gso"] == 1 and rx["bufs"] > 1, out


def test_two_microvms_over_a_bridge(brasa, make_tap, bridge):
    """Guest A pings guest B through a host bridge; B echoes; A checks every payload."""
    taps = [make_tap(up=False), make_tap(up=False)]
    for t in taps:
        ip("link", "set", t, "master", bridge)
        ip("link", "set", t, "up")
    mac_b = "06:00:ac:10:00:0b"
    count = 3
    b = spawn(brasa, vm_config(f"brasa.net brasa.net.echo={count}",
                               [net_cfg(taps[1], mac=mac_b)]), "b.json")
    a = None
    try:
        wait_for_line(b, r"BRASA net-echo ready")
        a = spawn(brasa, vm_config(
            f"brasa.net brasa.net.ping={count} brasa.net.size=1514 "
            f"brasa.net.dst={mac_b.replace(':', '')}", [net_cfg(taps[0])]), "a.json")
        rc_a, out_a = finish(a)
        rc_b, out_b = finish(b)
    finally:
        for p in (a, b):
            if p and p.poll() is None:
                p.kill()
                p.wait()
    assert rc_a == 0 and rc_b == 0, out_a + out_b
    assert parse_report(out_a).fields("net-ping done") == {"count": count, "ok": count}, out_a
    assert len(parse_report(out_b).all("net-rx")) == count, out_b


@pytest.mark.parametrize("bucket", ["bandwidth", "ops"])
def test_tx_rate_limit_lower_bound(brasa, make_tap, bucket):
    """N frames through a bucket of S per T ms, starting full with burst B, take at least
    (N - S - B) * T / S ms (bytes count the 12-byte vnet header)."""
    tap = make_tap()
    count, size = 24, 1000
    cap, burst, refill_ms = (4096, 2048, 100) if bucket == "bandwidth" else (2, 1, 100)
    units = count * (size + 12) if bucket == "bandwidth" else count
    bound_s = (units - cap - burst) * refill_ms / cap / 1000.0
    rl = {bucket: {"size": cap, "one_time_burst": burst, "refill_time": refill_ms}}
    start = time.monotonic()
    res = brasa.run(vm_config(f"brasa.net brasa.net.send={count} brasa.net.size={size}",
                              [net_cfg(tap, tx_rate_limiter=rl)]))
    elapsed = time.monotonic() - start
    assert res.rc == 0, res.stdout + res.log
    assert res.report.fields("net-sent")["ok"] == count
    assert elapsed >= bound_s, f"{units} units in {elapsed:.3f}s, bucket allows no less than {bound_s:.3f}s"


def test_rx_rate_limit_lower_bound(brasa, make_tap):
    """The same bound on RX: frames queued on the tap reach the guest no faster than the
    bucket refills (timed from the first injected frame to the guest's done line)."""
    tap = make_tap()
    sock = TapSocket(tap)
    count, size = 24, 1000
    cap, burst, refill_ms = 4096, 2048, 100
    bound_s = (count * (size + 12) - cap - burst) * refill_ms / cap / 1000.0
    rl = {"bandwidth": {"size": cap, "one_time_burst": burst, "refill_time": refill_ms}}
    proc = spawn(brasa, vm_config(f"brasa.net brasa.net.recv={count}",
                                  [net_cfg(tap, rx_rate_limiter=rl)]))
    try:
        wait_for_line(proc, r"BRASA net-recv ready")
        guest = bytes.fromhex(GUEST_MAC.replace(":", ""))
        start = time.monotonic()
        for k in range(count):
            sock.send(guest_frame(k, size, guest, HOST_MAC))
        out = wait_for_line(proc, r"BRASA net-recv done.*\n", timeout=120)
        elapsed = time.monotonic() - start
        rc, rest = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
    assert rc == 0, out + rest
    assert parse_report(out).fields("net-recv done") == {"count": count, "bytes": count * size}
    assert elapsed >= bound_s, f"{count} frames in {elapsed:.3f}s, bucket allows no less than {bound_s:.3f}s"


def test_missing_tap_is_a_clear_error(brasa):
    tap = unique("nx")
    res = brasa.run(vm_config("brasa.net", [net_cfg(tap)]))
    assert res.rc == 1  # the config file is refused as it is read, as in Firecracker
    assert ("Could not create the network device: Open tap device failed: Error while creating "
            f"ifreq structure: No such device (os error 19). Invalid TUN/TAP Backend provided by "
            f"{tap}.") in res.log


def test_tap_in_use_is_a_clear_error(brasa, make_tap):
    tap = make_tap()
    res = brasa.run(vm_config("brasa.net", [net_cfg(tap, "a"),
                                            net_cfg(tap, "b", mac="06:00:ac:10:00:03")]))
    assert res.rc == 1
    assert "Device or resource busy (os error 16)" in res.log


def test_metrics_and_patch(api_vm, make_tap, tmp_path):
    """net_<id> counts what the interface did, net sums them; frames from another MAC are
    counted as spoofed; PATCH swaps the rate limiters after boot."""
    tap = make_tap()
    m = tmp_path / "metrics.json"
    assert api_vm.put("/metrics", {"metrics_path": str(m)}).status == 204
    assert api_vm.put("/boot-source", {
        "kernel_image_path": str(KERNELS["pvh"]),
        "boot_args": "console=ttyS0 brasa.net brasa.net.spoof brasa.net.send=3 "
                     "brasa.net.size=100 brasa.halt"}).status == 204
    assert api_vm.put("/network-interfaces/if0",
                      net_cfg(tap, "if0", mac="06:00:ac:10:00:09")).status == 204
    assert api_vm.put("/actions", {"action_type": "InstanceStart"}).status == 204
    wait_for_line(api_vm.proc, r"BRASA halting")
    rl = {"bandwidth": {"size": 1 << 20, "refill_time": 100}}
    assert api_vm.patch("/network-interfaces/if0", {"iface_id": "if0",
                                                    "tx_rate_limiter": rl}).status == 204
    assert api_vm.patch("/network-interfaces/nope", {"iface_id": "nope"}).status == 400
    assert api_vm.put("/actions", {"action_type": "FlushMetrics"}).status == 204
    lines = [json.loads(x) for x in m.read_text().splitlines() if x.strip()]
    total = {}
    for line in lines:
        for k, v in line.get("net_if0", {}).items():
            if not isinstance(v, dict):  # tap_write_agg is a latency aggregate
                total[k] = total.get(k, 0) + v
    assert total["tx_packets_count"] == 3, lines
    assert total["tx_bytes_count"] == 3 * 112
    assert total["tx_spoofed_mac_count"] == 3
    assert total["tx_malformed_frames"] == 0 and total["tap_write_fails"] == 0
    assert sum(x["net"]["tx_packets_count"] for x in lines if "net" in x) == 3
    api_vm.proc.terminate()
    assert api_vm.proc.wait(timeout=10) == 0


TX_MODES = {"txoob": "reset", "txloop": "reset", "txbig": "dropped", "txshort": "dropped",
            "txwrite": "dropped"}
RX_MODES = {"rxtiny": "reset", "rxro": "reset", "rxoob": "reset", "rxsmall": "dropped"}


@pytest.mark.parametrize("mode", list(TX_MODES) + list(RX_MODES))
def test_hostile_driver(brasa, make_tap, tmp_path, mode):
    """brasa survives a hostile driver on either queue; the device recovers after a reset and
    the block device next to it keeps working."""
    tap = make_tap()
    sock = TapSocket(tap)
    disk = tmp_path / "d.img"
    disk.write_bytes(bytes(range(256)) * 256)
    drives = [{"drive_id": "d", "path_on_host": str(disk), "is_root_device": True,
               "is_read_only": False}]
    proc = spawn(brasa, vm_config(f"brasa.net brasa.net.hostile={mode} brasa.blk",
                                  [net_cfg(tap)], drives=drives))
    guest = bytes.fromhex(GUEST_MAC.replace(":", ""))
    try:
        if mode in RX_MODES:
            wait_for_line(proc, r"BRASA net-hostile waiting")
            sock.send(guest_frame(7, 1514, guest, HOST_MAC))
            if mode == "rxsmall":
                sock.send(guest_frame(8, 60, guest, HOST_MAC))
        rc, out = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    try:
        rep = parse_report(out)
        assert rc == 0, out
        res = parse_fields(next(t for t in rep.all("net-hostile") if t.startswith("result=")))
        kind = TX_MODES.get(mode) or RX_MODES[mode]
        if kind == "reset":
            assert res["devstatus"] & NEEDS_RESET, out
        else:
            assert res["result"] == 0 and not res["devstatus"] & NEEDS_RESET, out
        if mode == "rxsmall":  # the 1514-byte frame was dropped, the next one landed
            assert rep.fields("net-hostile rx") == {"len": 60}, out
        assert not parse_fields(rep.get("net-recovered"))["devstatus"] & NEEDS_RESET
        assert rep.fields("net-sent")["ok"] == 1
        assert sock.recv() == guest_frame(0, 60, BCAST, guest)
        assert rep.fields("blk-readback")["status"] == 0, out
    finally:
        sock.close()


@pytest.mark.parametrize("devices,fault", [
    (17, None),
    (18, "Could not attach device: Error while registering ACPI with KVM: VMClock: Could not "
         "allocate GSI: The requested resource is not available."),
    (19, "Could not attach device: Error while registering ACPI with KVM: VMGenID: Could not "
         "allocate GSI: The requested resource is not available."),
    (20, "Could not attach device: MMIO transport error: Failed to allocate requested resource: "
         "The requested resource is not available."),
])
def test_interrupt_lines_bound_the_devices(api_vm, make_tap, tmp_path, devices, fault):
    """GSIs 5 to 23, of which Firecracker leaves two to VMGenID and VMClock: 17 virtio devices
    boot, and each further one fails InstanceStart where Firecracker's allocator would."""
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(4096))
    assert api_vm.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                       "boot_args": "console=ttyS0 brasa.idle"}).status == 204
    assert api_vm.put("/drives/rootfs", {"drive_id": "rootfs", "path_on_host": str(disk),
                                         "is_root_device": True,
                                         "is_read_only": False}).status == 204
    for i in range(devices - 1):
        assert api_vm.put(f"/network-interfaces/n{i}", {
            "iface_id": f"n{i}", "host_dev_name": make_tap(up=False)}).status == 204
    r = api_vm.put("/actions", {"action_type": "InstanceStart"})
    if fault is None:
        assert r.status == 204, r.raw
        wait_for_line(api_vm.proc, "BRASA idle")
    else:
        assert r.status == 400 and r.fault() == "Start microvm error: " + fault, r.raw
        assert api_vm.get("/").json()["state"] == "Not started"
