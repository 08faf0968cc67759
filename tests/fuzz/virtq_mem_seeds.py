#!/usr/bin/python3
"""Writes seed inputs for fuzz_virtq_mem into DIR: virtio-mem requests well formed (plug, state,
unplug, unplug-all, several in one pass, through an indirect table) and hostile (unaligned,
zero blocks, outside the region, too big, unknown type, write-only head, short request, no
response, short response) in the target's input layout."""
import struct
import sys
from pathlib import Path

AVAIL, IND = 0x100, 0x800
REQ, RESP = 0x1000, 0x1100
WRITE, NEXT, INDIRECT = 2, 1, 4
REGION, BLOCK = 0x80_0000_0000, 2 << 20
PLUG, UNPLUG, UNPLUG_ALL, STATE = 0, 1, 2, 3


def desc(addr, length, flags, nxt):
    return struct.pack("<QIHH", addr, length, flags, nxt)


def req(kind, addr=REGION, nb=1):
    return struct.pack("<H6xQH6x", kind, addr, nb)


def chain(i, rlen=24, slen=10, rflags=NEXT, sflags=WRITE):
    """Descriptors 2i (request i) and 2i + 1 (its response)."""
    return desc(REQ + 0x20 * i, rlen, rflags, 2 * i + 1) + desc(RESP + 0x10 * i, slen, sflags, 0)


def seed(requested_blocks, reqs, table=None, heads=None, extra=()):
    mem = bytearray(0x1400)
    table = table if table is not None else b"".join(chain(i) for i in range(len(reqs)))
    heads = heads if heads is not None else [2 * i for i in range(len(reqs))]
    mem[0:len(table)] = table
    struct.pack_into("<HH", mem, AVAIL, 0, len(heads))
    for i, h in enumerate(heads):
        struct.pack_into("<H", mem, AVAIL + 4 + 2 * i, h)
    for i, r in enumerate(reqs):
        mem[REQ + 0x20 * i:REQ + 0x20 * i + len(r)] = r
    for off, blob in extra:
        mem[off:off + len(blob)] = blob
    return struct.pack("<HBB", 8, requested_blocks, 0) + bytes(mem)


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    seeds = {
        "plug": seed(64, [req(PLUG, REGION, 64)]),
        "plug-state-unplug": seed(64, [req(PLUG, REGION, 4), req(STATE, REGION, 8),
                                       req(UNPLUG, REGION + BLOCK, 2)]),
        "unplug-all": seed(8, [req(PLUG, REGION + 64 * BLOCK, 8), req(UNPLUG_ALL)]),
        "indirect": seed(8, [req(PLUG)], table=desc(IND, 32, INDIRECT, 0), heads=[0],
                         extra=[(IND, desc(REQ, 24, NEXT, 1) + desc(RESP, 10, WRITE, 0))]),
        "hostile": seed(8, [req(PLUG, REGION + 4096), req(PLUG, REGION, 0),
                            req(PLUG, REGION - BLOCK), req(STATE, REGION + (256 << 20)),
                            req(PLUG, REGION, 9), req(7)]),
        "write-only-head": seed(8, [req(PLUG)], table=desc(REQ, 24, WRITE, 0), heads=[0]),
        "short-request": seed(8, [req(PLUG)], table=chain(0, rlen=8)),
        "no-response": seed(8, [req(PLUG)], table=desc(REQ, 24, 0, 0), heads=[0]),
        "short-response": seed(8, [req(PLUG)], table=chain(0, slen=4)),
    }
    for name, blob in seeds.items():
        (out / name).write_bytes(blob)


if __name__ == "__main__":
    main()
