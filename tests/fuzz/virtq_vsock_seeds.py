#!/usr/bin/python3
"""Writes seed inputs for fuzz_virtq_vsock into DIR: well-formed TX packets (REQUEST, RW and
CREDIT_REQUEST for the target's connection, SHUTDOWN, RST, an RW for no connection, a
header split over two buffers) with RX buffers to answer into, in the target's input layout."""
import struct
import sys
from pathlib import Path

TX_AVAIL, RX_DESC, RX_AVAIL, PKT, RXBUF = 0x100, 0x400, 0x500, 0x1000, 0x8000
WRITE, NEXT = 2, 1
HOST_PORT, GUEST_PORT = 1024, 1025


def desc(addr, length, flags, nxt):
    return struct.pack("<QIHH", addr, length, flags, nxt)


def hdr(op, length=0, src=GUEST_PORT, dst=HOST_PORT, flags=0, buf_alloc=4096, fwd_cnt=0):
    return struct.pack("<QQIIIHHIII", 3, 2, src, dst, length, 1, op, flags, buf_alloc, fwd_cnt)


def seed(packets, split=False):
    mem = bytearray(0xA000)
    table = b""
    off = PKT
    heads = []
    for i, p in enumerate(packets):
        mem[off:off + len(p)] = p
        table += desc(off, len(p), 0, 0)
        heads.append(i)
        off += 0x400
    if split:  # one more packet whose header spans two descriptors
        p = hdr(5, 4) + b"data"
        mem[off:off + len(p)] = p
        n = len(heads)
        table += desc(off, 20, NEXT, n + 1) + desc(off + 20, len(p) - 20, 0, 0)
        heads.append(n)
    mem[0:len(table)] = table
    struct.pack_into("<HH", mem, TX_AVAIL, 0, len(heads))
    for i, h in enumerate(heads):
        struct.pack_into("<H", mem, TX_AVAIL + 4 + 2 * i, h)
    rx = b"".join(desc(RXBUF + 0x1100 * i, 0x1100, WRITE, 0) for i in range(4))
    mem[RX_DESC:RX_DESC + len(rx)] = rx
    struct.pack_into("<HHHHHH", mem, RX_AVAIL, 0, 4, 0, 1, 2, 3)
    return struct.pack("<HH", 16, 8) + bytes(mem)


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    seeds = {
        "rw": [hdr(5, 8) + b"guest!!!"],
        "credit": [hdr(7), hdr(6, buf_alloc=0xFFFFFFFF, fwd_cnt=0x80000000)],
        "request": [hdr(1, dst=77, src=5000)],
        "shutdown": [hdr(4, flags=1), hdr(4, flags=2)],
        "rst": [hdr(3)],
        "noconn": [hdr(5, 4, src=9) + b"abcd", hdr(99)],
        "mixed": [hdr(5, 3) + b"abc", hdr(7), hdr(3)],
    }
    for name, pkts in seeds.items():
        (out / name).write_bytes(seed(pkts))
    (out / "split").write_bytes(seed([hdr(6)], split=True))


if __name__ == "__main__":
    main()
