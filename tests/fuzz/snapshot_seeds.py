"""Writes valid brasa state files (tests/fuzz/fuzz_snapshot.c's seeds) into the directory argv[1]."""
import struct
import sys
from pathlib import Path


def crc64_xz(data):
    crc = 0xFFFFFFFFFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0xC96C5795D7870F42 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFFFFFFFFFF


def state_file(sections):
    payload = b""
    for tag, inst, body in sections:
        pad = (-len(body)) % 8
        payload += struct.pack("<IIQ", tag, inst, len(body)) + body + b"\0" * pad
    head = b"BRASASNP" + struct.pack("<IIQ", 2, 1, len(payload))
    return head + payload + struct.pack("<Q", crc64_xz(head + payload))


out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
(out / "empty").write_bytes(state_file([]))
(out / "two").write_bytes(state_file([(1, 0, b'{"a":1}'), (2, 0, bytes(range(40)))]))
(out / "many").write_bytes(state_file([(t, t % 3, b"x" * t) for t in range(20)]))
