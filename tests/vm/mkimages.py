#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Write small disk images with broken or borderline bcache superblocks for the VM tests.

Each image is used in the guest through a loop device. The superblock is encoded here
independently of the Rust code (field offsets from bcache_ondisk.h, CRC-64/WE), so a bug in
rbcache's decoder cannot hide behind a matching bug in the images.
"""
import os
import struct
import sys

MAGIC = bytes.fromhex("c68573f64e1a45ca8265f57f48ba6d81")
POLY = 0x42F0E1EBA9EA3693


def crc64_we(data: bytes) -> int:
    crc = 0xFFFFFFFFFFFFFFFF
    for b in data:
        crc ^= b << 56
        for _ in range(8):
            crc = ((crc << 1) ^ POLY) if crc >> 63 else (crc << 1)
            crc &= 0xFFFFFFFFFFFFFFFF
    return crc ^ 0xFFFFFFFFFFFFFFFF


def cache_sb(nbuckets=1024, bucket=8, block=1, version=0, offset=8, njournal=0,
             first_bucket=2, journal=None):
    sb = bytearray(4096)
    struct.pack_into("<QQ", sb, 0x08, offset, version)
    sb[0x18:0x28] = MAGIC
    sb[0x28:0x38] = bytes(range(1, 17))           # uuid
    sb[0x38:0x48] = bytes(range(0x21, 0x31))      # set_uuid
    struct.pack_into("<Q", sb, 0xB8, nbuckets)
    struct.pack_into("<HHHH", sb, 0xC0, block, bucket, 1, 0)
    struct.pack_into("<HH", sb, 0xCC, first_bucket, njournal)
    jl = journal if journal is not None else [first_bucket + i for i in range(njournal)]
    for i, b in enumerate(jl):
        struct.pack_into("<Q", sb, 0xD0 + 8 * i, b)
    return sb


def fix_csum(sb):
    keys = struct.unpack_from("<H", sb, 0xCE)[0]
    struct.pack_into("<Q", sb, 0, crc64_we(bytes(sb[8:0xD0 + 8 * keys])))
    return sb


def write(path, sb, size):
    """Writes the image's first 8 KiB at most; the guest extends it to `size` (sparse)."""
    with open(path, "wb") as f:
        f.truncate(min(size, 8192))
        if sb is not None:
            f.seek(4096)
            f.write(sb)


def main(out):
    os.makedirs(out, exist_ok=True)
    small = 1024 * 8 * 512  # 1024 buckets of 4 KiB
    images = {}

    good = fix_csum(cache_sb())
    images["good_cache"] = (good, small)

    sb = bytearray(good)
    sb[0x18] ^= 0xFF
    images["bad_magic"] = (sb, small)

    sb = bytearray(good)
    sb[0x48] = ord("x")  # label byte changed, checksum left stale
    images["bad_csum"] = (sb, small)

    images["bad_version"] = (fix_csum(cache_sb(version=2)), small)
    images["bad_offset"] = (fix_csum(cache_sb(offset=16)), small)
    images["too_few_buckets"] = (fix_csum(cache_sb(nbuckets=512)), 512 * 8 * 512)
    images["bad_bucket_size"] = (fix_csum(cache_sb(bucket=12)), small * 2)
    images["journal_not_sequential"] = (
        fix_csum(cache_sb(njournal=2, journal=[2, 4])), small)
    images["device_smaller_than_sb_says"] = (fix_csum(cache_sb(nbuckets=2048)), small)
    images["tiny"] = (None, 4096)
    images["zeroed"] = (None, 1 << 20)

    with open(os.path.join(out, "sizes"), "w") as manifest:
        for name, (sb, size) in images.items():
            write(os.path.join(out, name + ".img"), sb, size)
            manifest.write(f"{name} {size}\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
