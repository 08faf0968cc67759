#!/usr/bin/python3
"""Writes seed inputs for fuzz_pci into DIR: what a driver does first (enumerate by ECAM and by
0xCF8, size the BAR, walk the capabilities, program and enable MSI-X, bring the device to
DRIVER_OK through the common configuration), in the target's record layout."""
import struct
import sys
from pathlib import Path

ECAM_R, ECAM_W, IO_R, IO_W, BAR_R, BAR_W = range(6)
FN1 = 1 << 15


def rec(op, off, length, value=0):
    return struct.pack("<BIBQ", op, off & 0xFFFFFFFF, length, value)


def enumerate_bus():
    out = b""
    for dev in range(4):
        out += rec(ECAM_R, dev << 15, 4)
    for off in range(0, 0x100, 4):
        out += rec(ECAM_R, FN1 | off, 4)
    return out


def size_bar():
    return (rec(ECAM_W, FN1 | 0x10, 4, 0xFFFFFFFF) + rec(ECAM_R, FN1 | 0x10, 4) +
            rec(ECAM_W, FN1 | 0x14, 4, 0xFFFFFFFF) + rec(ECAM_R, FN1 | 0x14, 4))


def port_io():
    return (rec(IO_W, 0, 4, 0x80000000 | 1 << 11) + rec(IO_R, 4, 4) + rec(IO_R, 6, 2) +
            rec(IO_W, 0, 4, 0x80000000 | 1 << 11 | 0x98) + rec(IO_W, 6, 2, 0x8000))


def msix():
    out = b""
    for v in range(2):
        out += rec(BAR_W, 0x8000 + 16 * v, 4, 0xFEE00000)
        out += rec(BAR_W, 0x8000 + 16 * v + 8, 4, 0x40 + v)
        out += rec(BAR_W, 0x8000 + 16 * v + 12, 4, 0)
    return out + rec(ECAM_W, FN1 | 0x9A, 2, 0x8000) + rec(BAR_R, 0x48000, 8)


def driver_ok():
    out = rec(BAR_W, 0x14, 1, 1) + rec(BAR_W, 0x14, 1, 3)
    out += rec(BAR_W, 0x08, 4, 1) + rec(BAR_W, 0x0C, 4, 1) + rec(BAR_W, 0x14, 1, 0xB)
    out += rec(BAR_W, 0x16, 2, 0) + rec(BAR_W, 0x18, 2, 8)
    out += rec(BAR_W, 0x20, 4, 0x1000) + rec(BAR_W, 0x28, 4, 0x2000) + rec(BAR_W, 0x30, 4, 0x3000)
    out += rec(BAR_W, 0x1A, 2, 1) + rec(BAR_W, 0x1C, 2, 1) + rec(BAR_W, 0x10, 2, 0)
    return out + rec(BAR_W, 0x14, 1, 0xF) + rec(BAR_W, 0x6000, 2, 0) + rec(BAR_R, 0x2000, 1)


def cfg_window():
    return (rec(ECAM_W, FN1 | 0x8C, 4, 0x12) + rec(ECAM_W, FN1 | 0x90, 4, 2) +
            rec(ECAM_R, FN1 | 0x94, 4) + rec(ECAM_W, FN1 | 0x94, 2, 1))


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    seeds = {
        "enumerate": enumerate_bus(),
        "bar": size_bar(),
        "port": port_io(),
        "msix": msix(),
        "driver_ok": driver_ok(),
        "cfg_window": cfg_window(),
        "all": enumerate_bus() + size_bar() + msix() + driver_ok() + cfg_window() + port_io(),
    }
    for name, data in seeds.items():
        (out / name).write_bytes(data)


if __name__ == "__main__":
    main()
