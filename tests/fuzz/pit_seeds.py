"""Seeds for fuzz_pit: the sequences Linux and the test guest write to the PIT (one file each)."""
import sys
from pathlib import Path


def w(port, val):  # a byte written to 0x40 + port (port 3: the control word)
    return bytes([port << 3 | 0, val])


def r(port):
    return bytes([port << 3 | 1, 0])


def tick(shift, val=1):
    return bytes([shift << 3 | 4, val])


SEEDS = {
    "periodic": w(3, 0x34) + w(0, 0xa9) + w(0, 0x04) + tick(20) + w(3, 0) + r(0) + r(0),
    "oneshot": w(3, 0x30) + w(0, 0) + w(0, 0) + tick(25) + w(3, 0xe2) + r(0),
    "ch2_gate": bytes([2, 1]) + w(3, 0xb0) + w(2, 0) + w(2, 0x40) + tick(22) + bytes([3, 0]) +
    w(3, 0xc8) + r(2) + r(2) + r(2),
    "saverestore": w(3, 0x36) + w(0, 2) + w(0, 0) + bytes([5, 0]) + bytes([7, 0]),
}

out = Path(sys.argv[1])
for name, data in SEEDS.items():
    (out / name).write_bytes(data)
