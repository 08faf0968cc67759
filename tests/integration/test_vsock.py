"""virtio-vsock with the Unix-socket backend, driven by the test guest's own driver:
host-initiated CONNECT/OK with an echo checked both ways, guest-initiated connections to
<uds_path>_<port>, refusals, the connection limit, the socket bound at PUT time, hostile
drivers that leave brasa and another device working, and the vsock metrics."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import BRASA, KERNELS, make_config

pytestmark = pytest.mark.kvm

CID = 3
PORT = 1234
FIELDS = ["activate_fails", "cfg_fails", "rx_queue_event_fails", "tx_queue_event_fails",
          "ev_queue_event_fails", "muxer_event_fails", "conn_event_fails",
          "rx_queue_event_count", "tx_queue_event_count", "rx_bytes_count", "tx_bytes_count",
          "rx_packets_count", "tx_packets_count", "conns_added", "conns_killed",
          "conns_removed", "killq_resync", "tx_flush_fails", "tx_write_fails", "rx_read_fails"]


@pytest.fixture
def sockdir():
    """A short private directory: a Unix socket path must fit in 108 bytes."""
    d = Path(tempfile.mkdtemp(prefix="bvs-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def vsock_config(tmp_path, sockdir, words, extra=None):
    more = {"vsock": {"guest_cid": CID, "uds_path": str(sockdir / "v.sock")},
            "metrics": {"metrics_path": str(tmp_path / "metrics.json")}}
    more.update(extra or {})
    return make_config(KERNELS["pvh"], f"console=ttyS0 {words}", extra=more)


def start(tmp_path, cfg):
    path = tmp_path / "vm.json"
    path.write_text(json.dumps(cfg))
    out = open(tmp_path / "serial.out", "wb")
    proc = subprocess.Popen([str(BRASA), "--no-api", "--config-file", str(path),
                             "--log-path", str(tmp_path / "brasa.log")],
                            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    return proc


def finish(tmp_path, proc, timeout=90):
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("brasa did not finish: " + serial(tmp_path))
    log = (tmp_path / "brasa.log").read_text(errors="replace")
    assert rc == 0, f"exit {rc}\n{serial(tmp_path)}\n{log}"
    return report(tmp_path), log


def serial(tmp_path):
    return (tmp_path / "serial.out").read_text(errors="replace")


def report(tmp_path):
    from conftest import parse_report
    return parse_report(serial(tmp_path))


def wait_serial(tmp_path, text, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in serial(tmp_path):
            return
        time.sleep(0.02)
    raise AssertionError(f"guest never printed {text!r}: {serial(tmp_path)}")


def totals(tmp_path):
    lines = [json.loads(l) for l in (tmp_path / "metrics.json").read_text().splitlines()]
    assert lines, "no metrics line"
    for l in lines:
        assert list(l["vsock"]) == FIELDS
    return {k: sum(l["vsock"][k] for l in lines) for k in FIELDS}


def host_connect(path, port, timeout=30):
    """Connects to uds_path and asks for the guest's port; returns (socket, first line)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(path))
    s.sendall(f"CONNECT {port}\n".encode())
    line = b""
    while not line.endswith(b"\n"):
        b = s.recv(1)
        if not b:
            break
        line += b
    return s, line


def closed_by_peer(s):
    """True when the peer closed s (EOF, or a reset when it left bytes unread)."""
    try:
        return s.recv(64) == b""
    except ConnectionResetError:
        return True


def echo_through(s, data):
    """Sends data while reading it back on another thread; returns what came back."""
    got = bytearray()

    def reader():
        while len(got) < len(data):
            b = s.recv(65536)
            if not b:
                break
            got.extend(b)

    t = threading.Thread(target=reader)
    t.start()
    s.sendall(data)
    t.join(60)
    assert not t.is_alive(), f"echo stalled at {len(got)} of {len(data)} bytes"
    return bytes(got)


def pattern(n):
    return bytes((i * 31 + (i >> 9) + 7) & 0xFF for i in range(n))


# ---- host-initiated ------------------------------------------------------------------------

def test_host_connect_echo(tmp_path, sockdir):
    """CONNECT <port> / OK <port>, then 192 KiB (12 times the guest's buf_alloc) echoed back."""
    size = 192 * 1024
    proc = start(tmp_path, vsock_config(tmp_path, sockdir,
                                        f"brasa.vsock=listen brasa.vsock.port={PORT}"))
    wait_serial(tmp_path, "vsock-listening")
    s, line = host_connect(sockdir / "v.sock", PORT)
    assert line == b"OK 1073741824\n"  # Firecracker's first host-side port: 2^30
    data = pattern(size)
    assert echo_through(s, data) == data
    s.close()
    rep, log = finish(tmp_path, proc)
    dev = rep.fields("vsock dev")
    # VERSION_1 | IN_ORDER | EVENT_IDX; RX, TX and event queues of 256; config = the CID.
    assert (dev["features_lo"], dev["features_hi"]) == (1 << 29, 0x9)
    assert dev["qmax"] == "256,256,256" and dev["cid"] == CID and dev["cid_hi"] == 0
    echo = rep.fields("vsock-echo")
    assert echo["rx"] == size and echo["tx"] == size and echo["port"] == PORT
    assert echo["peer"] == 1 << 30
    t = totals(tmp_path)
    assert t["rx_bytes_count"] == size and t["tx_bytes_count"] == size
    assert t["conns_added"] == 1 and t["conns_removed"] == 1
    assert t["rx_packets_count"] >= size // 4096 and t["tx_packets_count"] >= size // 4096
    assert t["tx_queue_event_count"] > 0
    assert "Attached vsock device (guest CID 3" in log


def test_host_connect_refused_and_bad_lines(tmp_path, sockdir):
    """A port the guest does not listen on: RST, so brasa closes the host socket without an
    OK; a line that is not 'CONNECT <port>' is dropped; then a good connection still works."""
    proc = start(tmp_path, vsock_config(tmp_path, sockdir,
                                        f"brasa.vsock=listen brasa.vsock.port={PORT}"))
    wait_serial(tmp_path, "vsock-listening")
    s, line = host_connect(sockdir / "v.sock", PORT + 1)
    assert line == b"" and s.recv(1) == b""  # closed, no OK
    s.close()
    for bad in (b"HELLO 1234\n", b"CONNECT x\n", b"CONNECT 1234 5\n", b"C" * 40):
        b = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        b.settimeout(30)
        b.connect(str(sockdir / "v.sock"))
        b.sendall(bad)
        assert closed_by_peer(b), bad
        b.close()
    s, line = host_connect(sockdir / "v.sock", PORT)
    assert line.startswith(b"OK ")
    assert echo_through(s, b"ping") == b"ping"
    s.close()
    rep, _ = finish(tmp_path, proc)
    assert rep.fields("vsock-listen-done")["requests"] == 2


# ---- guest-initiated -----------------------------------------------------------------------

def host_echo_server(path):
    """Listens at path and echoes every connection; returns (listener, byte counts)."""
    lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lst.bind(str(path))
    lst.listen(16)
    counts = []

    def serve():
        while True:
            try:
                c, _ = lst.accept()
            except OSError:
                return
            c.settimeout(60)
            n = 0
            while True:
                b = c.recv(65536)
                if not b:
                    break
                c.sendall(b)
                n += len(b)
            counts.append(n)
            c.close()

    threading.Thread(target=serve, daemon=True).start()
    return lst, counts


def test_guest_connect_echo(tmp_path, sockdir):
    """The guest connects to host port P: brasa connects to <uds_path>_P; 192 KiB each way."""
    size = 192 * 1024
    lst, counts = host_echo_server(sockdir / f"v.sock_{PORT}")
    proc = start(tmp_path, vsock_config(
        tmp_path, sockdir, f"brasa.vsock=connect brasa.vsock.port={PORT} brasa.vsock.size={size}"))
    rep, _ = finish(tmp_path, proc)
    lst.close()
    r = rep.fields("vsock-connect")
    assert r["refused"] == 0 and r["tx"] == size and r["rx"] == size and r["match"] == 1
    assert r["rst"] == 1  # the guest's SHUTDOWN is answered with RST once all is written
    assert counts == [size]
    t = totals(tmp_path)
    assert t["conns_added"] == 1 and t["conns_removed"] == 1
    assert t["tx_bytes_count"] == size and t["rx_bytes_count"] == size


def test_guest_connect_refused(tmp_path, sockdir):
    """No one listens at <uds_path>_P: the guest's REQUEST is answered with RST."""
    proc = start(tmp_path, vsock_config(
        tmp_path, sockdir, f"brasa.vsock=connect brasa.vsock.port={PORT}"))
    rep, _ = finish(tmp_path, proc)
    r = rep.fields("vsock-connect")
    assert r["refused"] == 1 and r["rst"] == 1
    assert totals(tmp_path)["conns_added"] == 0


def test_connection_limit(tmp_path, sockdir):
    """1100 guest REQUESTs to a listening port: 1023 connections (MAX_CONNECTIONS), RSTs after."""
    lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lst.bind(str(sockdir / f"v.sock_{PORT}"))
    lst.listen(4096)
    held = []

    def acc():
        while True:
            try:
                held.append(lst.accept()[0])
            except OSError:
                return

    threading.Thread(target=acc, daemon=True).start()
    proc = start(tmp_path, vsock_config(
        tmp_path, sockdir, f"brasa.vsock.hostile=limit brasa.vsock.port={PORT} brasa.blk",
        extra=disk_extra(tmp_path)))
    rep, _ = finish(tmp_path, proc)
    lst.close()
    lim = rep.fields("vsock-limit")
    assert lim["responses"] == 1023 and lim["rsts"] == 1100 - 1023
    assert totals(tmp_path)["conns_added"] == 1023
    assert len(held) == 1023
    blk_ok(rep)


# ---- the socket, PUT /vsock --------------------------------------------------------------

def test_put_binds_socket(api, sockdir):
    """PUT /vsock binds uds_path at once, as Firecracker; a second PUT replaces it (the old
    file removed); a path in use is Firecracker's bind error."""
    sock = sockdir / "v.sock"
    assert api.put("/vsock", {"guest_cid": 3, "uds_path": str(sock)}).status == 204
    assert sock.is_socket()
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(str(sock))  # listening already
    c.close()
    other = sockdir / "w.sock"
    assert api.put("/vsock", {"guest_cid": 4, "uds_path": str(other)}).status == 204
    assert other.is_socket() and not sock.exists()
    taken = sockdir / "taken"
    taken.write_text("")
    r = api.put("/vsock", {"guest_cid": 5, "uds_path": str(taken)})
    assert r.status == 400
    assert r.json()["fault_message"] == (
        "Vsock config error: Cannot create backend for vsock device: Error binding to the host-side Unix socket: "
        "Address already in use (os error 98)")
    assert not other.exists()  # the old device went first, as in Firecracker


# ---- hostile drivers ---------------------------------------------------------------------

def disk_extra(tmp_path):
    disk = tmp_path / "root.img"
    disk.write_bytes(bytes(range(256)) * 256)
    return {"drives": [{"drive_id": "rootfs", "path_on_host": str(disk), "is_root_device": True,
                        "is_read_only": True}]}


def blk_ok(rep):
    blk = rep.fields("blk-read")
    assert blk["status"] == 0 and blk["used"] == 4097


@pytest.mark.parametrize("mode", ["badop", "biglen", "flood", "creditlie"])
def test_hostile_driver(tmp_path, sockdir, mode):
    """Bogus ops, lengths past the buffer or 64 KiB, 3000 REQUESTs with RX unread, and a
    guest that lies about its credit and never reads: brasa stays bounded, the device works
    after a reset (a guest-initiated echo) and the block device never stops."""
    lst, counts = host_echo_server(sockdir / f"v.sock_{PORT}")
    flooded = []
    if mode in ("flood", "creditlie"):
        lst.close()
        lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        os.unlink(sockdir / f"v.sock_{PORT}")
        lst.bind(str(sockdir / f"v.sock_{PORT}"))
        lst.listen(4096)

        def flood_host():  # each connection is fed until the socket is full
            while True:
                try:
                    c, _ = lst.accept()
                except OSError:
                    return
                c.setblocking(False)
                try:
                    while True:
                        c.send(b"x" * 65536)
                except BlockingIOError:
                    pass
                flooded.append(c)

        threading.Thread(target=flood_host, daemon=True).start()
    extra = disk_extra(tmp_path)
    proc = start(tmp_path, vsock_config(
        tmp_path, sockdir, f"brasa.vsock.hostile={mode} brasa.vsock.port={PORT} brasa.blk",
        extra=extra))
    rep, log = finish(tmp_path, proc)
    lst.close()
    assert rep.get("vsock-hostile-mode") == mode
    h = rep.fields("vsock-hostile")
    assert h["status"] == 0 and h["devstatus"] == 0xF, rep.lines
    t = totals(tmp_path)
    if mode == "badop":
        assert h["rsts"] == 3  # unknown op, datagram type, RW without a connection
    if mode == "biglen":
        assert h["rsts"] == 0
        assert log.count("vsock: error reading TX packet") == 4
    if mode == "flood":
        assert t["conns_added"] == 1023
    if mode == "creditlie":
        assert t["conns_added"] == 1 and len(flooded) == 1
        assert t["rx_bytes_count"] <= 16 * (64 << 10)  # never more than the RX buffers held
    blk_ok(rep)
