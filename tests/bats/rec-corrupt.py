#!/usr/bin/env python3
"""Make deliberately damaged otclir streams for tests/bats/rec.bats.

  rec-corrupt.py IN OUT flip OFFSET            xor byte OFFSET with 0x01 (CRCs left stale)
  rec-corrupt.py IN OUT setlen FRAME LENGTH    set frame FRAME's payload length, fix its header CRC
  rec-corrupt.py IN OUT replace FRAME OLD NEW  replace the first OLD (hex) by NEW (hex, same size) in
                                               frame FRAME's payload and fix both of its CRCs
  rec-corrupt.py IN OUT stale FRAME OLD NEW    as replace, but leave the CRCs stale
  rec-corrupt.py IN OUT version V              set the major version byte
  rec-corrupt.py IN OUT addmeta KEY VALUE...   append metadata entries KEY=VALUE to the schema
                                               frame (a KEY given twice makes a repeated key),
                                               CRCs fixed
Frame 0 is the schema frame, 1 the first record. Format: schemas/README.md.
"""
import struct
import sys


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def frame_offset(buf, k):
    off = 8
    for _ in range(k):
        length = struct.unpack_from("<I", buf, off + 4)[0]
        off += 16 + ((length + 7) & ~7)
    return off


def fix_header(buf, off):
    struct.pack_into("<I", buf, off + 12, crc32c(bytes(buf[off:off + 12])))


def add_meta(buf, pairs):
    """Append metadata entries to the schema frame (frame 0), as a writer
    would never do for a repeated key; keep the frame valid otherwise."""
    off = 8
    length = struct.unpack_from("<I", buf, off + 4)[0]
    p = bytes(buf[off + 16:off + 16 + length])
    pos = 4  # minor

    def skip_str(pos):
        n = struct.unpack_from("<I", p, pos)[0]
        return pos + 4 + n

    pos = skip_str(pos)  # record type
    ndims = struct.unpack_from("<I", p, pos)[0]
    pos += 4
    for _ in range(ndims):
        pos = skip_str(pos) + 8
    nfields = struct.unpack_from("<I", p, pos)[0]
    pos += 4
    for _ in range(nfields):
        pos = skip_str(pos)
        rank = struct.unpack_from("<I", p, pos + 4)[0]
        pos += 12 + 4 * rank
    nmeta = struct.unpack_from("<I", p, pos)[0]
    extra = b""
    for k, v in pairs:
        for t in (k, v):
            b = t.encode()
            extra += struct.pack("<I", len(b)) + b
    payload = p[:pos] + struct.pack("<I", nmeta + len(pairs)) + p[pos + 4:] + extra
    padded = payload + b"\0" * (-len(payload) % 8)
    header = struct.pack("<III", 1, len(payload), crc32c(payload))
    header += struct.pack("<I", crc32c(header))
    end = off + 16 + ((length + 7) & ~7)
    return bytearray(buf[:off] + header + padded + buf[end:])


def main():
    src, dst, op, *args = sys.argv[1:]
    buf = bytearray(open(src, "rb").read())
    assert crc32c(b"123456789") == 0xE3069283
    if op == "flip":
        buf[int(args[0])] ^= 1
    elif op == "setlen":
        off = frame_offset(buf, int(args[0]))
        struct.pack_into("<I", buf, off + 4, int(args[1]))
        fix_header(buf, off)
    elif op in ("replace", "stale"):
        off = frame_offset(buf, int(args[0]))
        length = struct.unpack_from("<I", buf, off + 4)[0]
        old, new = bytes.fromhex(args[1]), bytes.fromhex(args[2])
        payload = bytes(buf[off + 16:off + 16 + length])
        at = payload.index(old)
        buf[off + 16 + at:off + 16 + at + len(new)] = new
        if op == "stale":
            open(dst, "wb").write(buf)
            return
        struct.pack_into("<I", buf, off + 8, crc32c(bytes(buf[off + 16:off + 16 + length])))
        fix_header(buf, off)
    elif op == "version":
        buf[7] = int(args[0])
    elif op == "addmeta":
        buf = add_meta(buf, list(zip(args[0::2], args[1::2])))
    else:
        sys.exit("unknown op " + op)
    open(dst, "wb").write(buf)


main()
