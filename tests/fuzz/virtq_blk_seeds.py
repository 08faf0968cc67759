#!/usr/bin/python3
"""Writes seed inputs for fuzz_virtq_blk into DIR: well-formed block requests (read, write, flush,
get-id, an indirect read, two chained requests) in the target's input layout."""
import struct
import sys
from pathlib import Path

AVAIL, USED, HDR, DATA, STATUS, IND = 0x100, 0x200, 0x400, 0x600, 0x500, 0x580


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


def request(kind, sector, data_len, write_data):
    hdr = struct.pack("<IIQ", kind, 0, sector)
    data_flags = 1 | (0 if kind == 1 else 2)
    table = desc(HDR, 16, 1, 1) + desc(DATA, data_len, data_flags, 2) + desc(STATUS, 1, 2, 0)
    return table, [(HDR, hdr)]


def main(out):
    out.mkdir(parents=True, exist_ok=True)
    seeds = {}
    for name, kind, n in (("read", 0, 512), ("write", 1, 1024), ("getid", 8, 20)):
        table, extra = request(kind, 1, n, kind == 1)
        seeds[name] = seed(8, 1, table, [0], extra)
    flush = desc(HDR, 16, 1, 1) + desc(STATUS, 1, 2, 0)
    seeds["flush"] = seed(8, 0, flush, [0], [(HDR, struct.pack("<IIQ", 4, 0, 0))])
    table, extra = request(0, 0, 512, False)
    seeds["indirect"] = seed(8, 1, desc(IND, 48, 4, 0), [0], extra + [(IND, table)])
    table, extra = request(0, 2, 512, False)
    two = table + desc(HDR, 16, 1, 4) + desc(DATA, 512, 3, 5) + desc(STATUS + 1, 1, 2, 0)
    seeds["two"] = seed(8, 3, two, [0, 3], extra)
    for name, data in seeds.items():
        (out / name).write_bytes(data)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
