#!/usr/bin/python3
"""Writes seed inputs for fuzz_mmds_stack (layout in tests/fuzz/fuzz_mmds_stack.c): whole
sessions with the metadata stack, whose initial sequence numbers the target fixes."""
import struct
import sys
from pathlib import Path

MMDS, GUEST = bytes([169, 254, 169, 254]), bytes([10, 0, 0, 2])
MMDS_MAC, GUEST_MAC = bytes.fromhex("060123456701"), bytes.fromhex("02000000000a")


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp(sport, seq, ack, flags, win=65535, mss=None, data=b""):
    opts = struct.pack("!BBH", 2, 4, mss) if mss else b""
    hl = 20 + len(opts)
    seg = struct.pack("!HHIIBBHHH", sport, 80, seq, ack, hl // 4 << 4, flags, win, 0, 0) + opts
    seg += data
    c = csum(GUEST + MMDS + struct.pack("!BBH", 0, 6, len(seg)) + seg)
    seg = seg[:16] + struct.pack("!H", c) + seg[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), 0, 0, 64, 6, 0, GUEST, MMDS)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return MMDS_MAC + GUEST_MAC + b"\x08\x00" + ip + seg


def arp():
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, GUEST_MAC, GUEST, b"\0" * 6, MMDS)
    return b"\xff" * 6 + GUEST_MAC + b"\x08\x06" + body


def isn():
    x = 0x12345678
    x ^= (x << 13) & 0xFFFFFFFF
    x ^= x >> 17
    x ^= (x << 5) & 0xFFFFFFFF
    return x


def rec(frame, flags=0):
    return struct.pack("<HB", len(frame), flags) + frame


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    req = b"GET /latest/meta-data HTTP/1.1\r\nAccept: */*\r\n\r\n"
    s = isn() + 1
    session = [arp(), tcp(4000, 100, 0, 0x02, mss=536), tcp(4000, 101, s, 0x10),
               tcp(4000, 101, s, 0x18, data=req), tcp(4000, 101 + len(req), s + 536, 0x10),
               tcp(4000, 101 + len(req), s + 1072, 0x11)]
    seeds = {
        "session": b"".join(rec(f) for f in session),
        "session_slow": b"".join(rec(f, 0x20) for f in session),
        "window0": b"".join(rec(f) for f in [tcp(4001, 7, 0, 0x02, win=0),
                                             tcp(4001, 8, s, 0x10, win=0),
                                             tcp(4001, 8, s, 0x18, win=0, data=req)]),
        "flood": b"".join(rec(tcp(5000 + i, 1, 0, 0x02)) for i in range(40)),
        "rst": b"".join(rec(f) for f in [tcp(4002, 1, 0, 0x02), tcp(4002, 2, 0, 0x04)]),
        "offload": rec(tcp(4003, 1, 0, 0x02), 1),
    }
    for name, data in seeds.items():
        (out / name).write_bytes(data)


if __name__ == "__main__":
    main(sys.argv[1])
