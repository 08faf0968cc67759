#!/usr/bin/python3
"""Writes seed inputs for fuzz_virtq_balloon into DIR: well-formed chains for each queue (an
inflate PFN list, a deflate list, a stats buffer, a hinting command and range, a reported
range) in the target's input layout."""
import struct
import sys
from pathlib import Path

AVAIL, DATA = 0x100, 0x1000
WRITE, NEXT = 2, 1


def desc(addr, length, flags, nxt):
    return struct.pack("<QIHH", addr, length, flags, nxt)


def seed(qsize, queue, flags, table, heads, extra=()):
    mem = bytearray(0x2000)
    mem[0:len(table)] = table
    struct.pack_into("<HH", mem, AVAIL, 0, len(heads))
    for i, h in enumerate(heads):
        struct.pack_into("<H", mem, AVAIL + 4 + 2 * i, h)
    for off, blob in extra:
        mem[off:off + len(blob)] = blob
    return struct.pack("<HBB", qsize, queue, flags) + bytes(mem)


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    pfns = struct.pack("<8I", 0x10, 0x11, 0x12, 0x40, 0x41, 0xfff, 0x100000, 0xc0000)
    stats = b"".join(struct.pack("<HQ", t, 1000 + t) for t in (0, 4, 5, 99))
    seeds = {
        "inflate": (8, 0, 0, desc(DATA, len(pfns), 0, 0), [0], [(DATA, pfns)]),
        "deflate": (8, 1, 0, desc(DATA, len(pfns), 0, 0), [0], [(DATA, pfns)]),
        "stats": (8, 2, 0, desc(DATA, len(stats), 0, 0), [0], [(DATA, stats)]),
        "hint": (8, 3, 1, desc(DATA, 4, NEXT, 1) + desc(0x8000, 0x2000, WRITE, 0), [0],
                 [(DATA, struct.pack("<I", 2))]),
        "report": (8, 4, 0, desc(0x8000, 0x4000, WRITE, 0), [0], ()),
    }
    for name, (qsize, queue, flags, table, heads, extra) in seeds.items():
        (out / name).write_bytes(seed(qsize, queue, flags, table, heads, extra))


if __name__ == "__main__":
    main()
