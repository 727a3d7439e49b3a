#!/usr/bin/env python3
"""Writes a tiny image folder for CLI tests: FOLDER/{circle,square,star}/{0..3}.png, 8x8 RGB PNGs
of one colour each (written by hand with zlib, no imaging library)."""
import os
import struct
import sys
import zlib


def png(path, rgb):
    raw = b"".join(b"\0" + bytes(rgb) * 8 for _ in range(8))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


for c, name in enumerate(["circle", "square", "star"]):
    os.makedirs(os.path.join(sys.argv[1], name))
    for i in range(4):
        png(os.path.join(sys.argv[1], name, f"{i}.png"), [60 * c + 10 * i, 100, 200 - 50 * c])
