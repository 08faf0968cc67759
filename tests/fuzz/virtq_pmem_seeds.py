#!/usr/bin/python3
"""Writes seed inputs for fuzz_virtq_pmem into DIR: flush requests well formed (one, several,
through an indirect table) and malformed (write-only head, short head, unknown type, no status,
short status) in the target's input layout, each for the unlimited and the rate-limited
device."""
import struct
import sys
from pathlib import Path

AVAIL, REQ, STATUS, IND = 0x100, 0x1000, 0x1100, 0x800
WRITE, NEXT, INDIRECT = 2, 1, 4


def desc(addr, length, flags, nxt):
    return struct.pack("<QIHH", addr, length, flags, nxt)


def flush(head=0, req=REQ, status=STATUS):
    return desc(req, 4, NEXT, head + 1) + desc(status, 4, WRITE, 0)


def seed(qsize, flags, table, heads, req_type=0, extra=()):
    mem = bytearray(0x1200)
    mem[0:len(table)] = table
    struct.pack_into("<HH", mem, AVAIL, 0, len(heads))
    for i, h in enumerate(heads):
        struct.pack_into("<H", mem, AVAIL + 4 + 2 * i, h)
    struct.pack_into("<I", mem, REQ, req_type)
    for off, blob in extra:
        mem[off:off + len(blob)] = blob
    return struct.pack("<HBB", qsize, flags, 0) + bytes(mem)


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    seeds = {
        "flush": (8, flush(), [0], 0, ()),
        "several": (8, flush(0) + flush(2) + flush(4), [0, 2, 4], 0, ()),
        "indirect": (8, desc(IND, 32, INDIRECT, 0), [0], 0,
                     [(IND, desc(REQ, 4, NEXT, 1) + desc(STATUS, 4, WRITE, 0))]),
        "write-only-head": (8, desc(REQ, 4, WRITE, 0), [0], 0, ()),
        "long-head": (8, desc(REQ, 8, NEXT, 1) + desc(STATUS, 4, WRITE, 0), [0], 0, ()),
        "unknown-type": (8, flush(), [0], 7, ()),
        "no-status": (8, desc(REQ, 4, 0, 0), [0], 0, ()),
        "short-status": (8, desc(REQ, 4, NEXT, 1) + desc(STATUS, 2, WRITE, 0), [0], 0, ()),
    }
    for name, (qsize, table, heads, req_type, extra) in seeds.items():
        for flags in (0, 1):
            (out / f"{name}-{flags}").write_bytes(seed(qsize, flags, table, heads, req_type,
                                                      extra))


if __name__ == "__main__":
    main()
