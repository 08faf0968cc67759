#!/usr/bin/python3
"""Writes valid seed inputs for fuzz_net (layout in tests/fuzz/fuzz_net.c) into a directory."""
import struct
import sys
from pathlib import Path

RX, TX, BUF = 0x0, 0x3000, 0x8000
WRITE, NEXT = 2, 1


def image(rx_descs, tx_descs, qsize=8):
    mem = bytearray(0x10000)
    for base, descs in ((RX, rx_descs), (TX, tx_descs)):
        for i, (addr, length, flags, nxt) in enumerate(descs):
            struct.pack_into("<QIHH", mem, base + 16 * i, addr, length, flags, nxt)
        heads = [i for i, d in enumerate(descs) if not (i and descs[i - 1][2] & NEXT)]
        struct.pack_into("<HH", mem, base + 0x1000, 0, len(heads))
        for k, h in enumerate(heads):
            struct.pack_into("<H", mem, base + 0x1000 + 4 + 2 * k, h)
    return bytes(mem)


def seed(flags, frame_len, rx_descs, tx_descs, qsize=8):
    return bytes([flags]) + struct.pack("<H", frame_len) + bytes([qsize, qsize]) + \
        image(rx_descs, tx_descs, qsize)


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rx_one = [(BUF, 4096, WRITE, 0)]
    rx_small = [(BUF + 0x1000 * i, 600, WRITE, 0) for i in range(4)]
    tx_one = [(BUF + 0x6000, 100, 0, 0)]
    tx_split = [(BUF + 0x6000, 6, NEXT, 1), (BUF + 0x7000, 200, 0, 0)]
    seeds = {
        "rx_one": seed(1, 1526, rx_one, []),
        "rx_merge": seed(3, 1526, rx_small, []),
        "rx_nomrg_drop": seed(0, 1526, rx_small, []),
        "tx_one": seed(1, 0, [], tx_one),
        "tx_split": seed(6, 0, [], tx_split),
        "both": seed(3, 300, rx_small, tx_one),
    }
    for name, data in seeds.items():
        (out / name).write_bytes(data)


if __name__ == "__main__":
    main(sys.argv[1])
