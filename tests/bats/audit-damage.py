#!/usr/bin/env python3
"""Damage a valid plain (uncompressed) otclir stream for tests/bats/badinput.bats.

  audit-damage.py IN OUT cut-mid   cut inside the payload of the last record frame
  audit-damage.py IN OUT cut-end   drop the end frame (the stream stops right before it)
  audit-damage.py IN OUT flip      xor one byte in the middle of the first record's
                                   payload with 0x20, CRCs left stale
  audit-damage.py IN OUT nan VALUE the first f32 equal to VALUE in the first record
                                   becomes NaN, CRCs fixed (only the value is wrong)
  audit-damage.py IN OUT bytes OLD NEW
                                   the first OLD (hex) in the first record becomes NEW
                                   (hex, same length), CRCs fixed: e.g. invalid UTF-8
  audit-damage.py IN OUT huge      the first record frame claims a 4 GiB - 8 payload,
                                   header CRC fixed (a reader must refuse, not allocate)
  audit-damage.py IN OUT version V the major version byte becomes V
  audit-damage.py IN OUT endcount  the end frame's record count is one too many, CRCs fixed
  audit-damage.py IN OUT mutate SEED
                                   1-4 random bytes of one random record's payload get
                                   random values, CRCs fixed (a structurally damaged
                                   record that the checksums do not catch)
Frames: 8-byte file header, then frames of a 16-byte header (u32 kind, u32 length,
u32 payload CRC, u32 header CRC) and the payload padded to 8 bytes
(schemas/README.md). The record frames must not be empty.
"""
import random
import struct
import sys


def frames(buf):
    """(offset, kind, length) of every frame."""
    out, off = [], 8
    while off < len(buf):
        kind, length = struct.unpack_from("<II", buf, off)
        out.append((off, kind, length))
        off += 16 + ((length + 7) & ~7)
    return out


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def replace_in_record(buf, frame, old, new):
    off, _, length = frame
    assert len(old) == len(new)
    payload = bytes(buf[off + 16:off + 16 + length])
    at = payload.find(old)
    assert at >= 0, "not found in the first record: " + old.hex()
    buf[off + 16 + at:off + 16 + at + len(new)] = new
    struct.pack_into("<I", buf, off + 8, crc32c(bytes(buf[off + 16:off + 16 + length])))
    struct.pack_into("<I", buf, off + 12, crc32c(bytes(buf[off:off + 12])))


def main():
    src, dst, op = sys.argv[1:4]
    buf = bytearray(open(src, "rb").read())
    fr = frames(buf)
    assert fr[0][1] == 1 and fr[-1][1] == 3, "expected schema frame first, end frame last"
    records = [f for f in fr if f[1] == 2]
    assert records, "the stream has no record"
    if op == "cut-mid":
        off, _, length = records[-1]
        buf = buf[:off + 16 + length // 2]
    elif op == "cut-end":
        buf = buf[:fr[-1][0]]
    elif op == "flip":
        off, _, length = records[0]
        buf[off + 16 + length // 2] ^= 0x20
    elif op == "nan":
        old = struct.pack("<f", float(sys.argv[4]))
        replace_in_record(buf, records[0], old, struct.pack("<I", 0x7FC00000))
    elif op == "bytes":
        replace_in_record(buf, records[0], bytes.fromhex(sys.argv[4]), bytes.fromhex(sys.argv[5]))
    elif op == "huge":
        off = records[0][0]
        struct.pack_into("<I", buf, off + 4, 0xFFFFFFF8)
        struct.pack_into("<I", buf, off + 12, crc32c(bytes(buf[off:off + 12])))
    elif op == "mutate":
        rng = random.Random(int(sys.argv[4]))
        off, _, length = rng.choice(records)
        for _ in range(rng.randint(1, 4)):
            at = off + 16 + rng.randrange(length)
            buf[at] = rng.choice([0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)])
        struct.pack_into("<I", buf, off + 8, crc32c(bytes(buf[off + 16:off + 16 + length])))
        struct.pack_into("<I", buf, off + 12, crc32c(bytes(buf[off:off + 12])))
    elif op == "endcount":
        off, _, length = fr[-1]
        count = struct.unpack_from("<Q", buf, off + 16)[0]
        struct.pack_into("<Q", buf, off + 16, count + 1)
        struct.pack_into("<I", buf, off + 8, crc32c(bytes(buf[off + 16:off + 16 + length])))
        struct.pack_into("<I", buf, off + 12, crc32c(bytes(buf[off:off + 12])))
    elif op == "version":
        buf[7] = int(sys.argv[4])
    else:
        sys.exit("audit-damage.py: unknown operation " + op)
    open(dst, "wb").write(buf)


main()
