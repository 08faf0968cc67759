#!/usr/bin/python3
"""Writes seed inputs for fuzz_virtq_rng into DIR: well-formed entropy requests (one buffer,
scattered buffers, an indirect table, several requests, a readable buffer) in the target's
input layout, each for the unlimited and the rate-limited device."""
import struct
import sys
from pathlib import Path

AVAIL, DATA, IND = 0x100, 0x1000, 0x800
WRITE, NEXT, INDIRECT = 2, 1, 4


def desc(addr, length, flags, nxt):
    return struct.pack("<QIHH", addr, length, flags, nxt)


def seed(qsize, flags, table, heads, extra=()):
    mem = bytearray(0xA00)
    mem[0:len(table)] = table
    struct.pack_into("<HH", mem, AVAIL, 0, len(heads))
    for i, h in enumerate(heads):
        struct.pack_into("<H", mem, AVAIL + 4 + 2 * i, h)
    for off, blob in extra:
        mem[off:off + len(blob)] = blob
    return struct.pack("<HBB", qsize, flags, 0) + bytes(mem)


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    seeds = {
        "one": (8, desc(DATA, 64, WRITE, 0), [0], ()),
        "scatter": (8, desc(DATA, 100, WRITE | NEXT, 1) + desc(DATA + 0x200, 28, WRITE, 0), [0], ()),
        "indirect": (8, desc(IND, 32, INDIRECT, 0), [0],
                     [(IND, desc(DATA, 16, WRITE | NEXT, 1) + desc(DATA + 16, 16, WRITE, 0))]),
        "many": (8, b"".join(desc(DATA + 0x100 * i, 0x100, WRITE, 0) for i in range(4)),
                 [0, 1, 2, 3], ()),
        "big": (8, desc(DATA, 0x3F000, WRITE, 0), [0], ()),
        "readable": (8, desc(DATA, 64, 0, 0), [0], ()),
    }
    for name, (qsize, table, heads, extra) in seeds.items():
        for flags in (0, 1):
            (out / f"{name}-{flags}").write_bytes(seed(qsize, flags, table, heads, extra))


if __name__ == "__main__":
    main()
