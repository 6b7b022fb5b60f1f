#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Write small disk images with broken or borderline bcache superblocks for the VM tests.

Each image is used in the guest through a loop device. The superblock is encoded here
independently of the Rust code (field offsets from bcache_ondisk.h, CRC-64/WE), so a bug in
rbcache's decoder cannot hide behind a matching bug in the images.
"""
import lzma
import os
import shutil
import struct
import sys

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures",
                       "c-bcache-6.12-flash.img.xz")
JSET_MAGIC = 0x245235C1A3625032
BSET_MAGIC = 0x90135C78B99E07F5

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


def crc64_be(crc: int, data: bytes) -> int:
    """The kernel's crc64_be: no inversion; bsets seed it with the node's pointer word."""
    for b in data:
        crc ^= b << 56
        for _ in range(8):
            crc = ((crc << 1) ^ POLY) if crc >> 63 else (crc << 1)
            crc &= 0xFFFFFFFFFFFFFFFF
    return crc


def node_key(inode, offset, size, ptr):
    """A btree pointer key (bcache_ondisk.h: KEY_PTRS at bit 60, KEY_SIZE at 20)."""
    return [(1 << 60) | (size << 20) | inode, offset, ptr]


def btree_node(bset_magic, ptr0, keys):
    """One version-1 bset holding `keys` (lists of words), its checksum seeded with `ptr0`."""
    words = [w for k in keys for w in k]
    raw = bytearray(32 + 8 * len(words))
    struct.pack_into("<QQIIQ", raw, 8, bset_magic, 0x5EED5EED5EED0001, 1, len(words), 0)
    raw = raw[:32]
    raw += b"".join(struct.pack("<Q", w) for w in words)
    struct.pack_into("<Q", raw, 0, crc64_be(ptr0, bytes(raw[8:])) ^ 0xFFFFFFFFFFFFFFFF)
    return bytes(raw)


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


def fixture_patches(out):
    """Corruption patches for the C-written fixture cache, located by parsing it.

    Each <name>.patch has lines "zero OFFSET LENGTH" or "bytes OFFSET HEX" for the guest to
    apply to a fresh copy of the fixture.
    """
    d = lzma.open(FIXTURE).read()
    sb = d[4096:8192]
    nbuckets = struct.unpack_from("<Q", sb, 0xB8)[0]
    bsize = struct.unpack_from("<H", sb, 0xC2)[0] * 512
    first, nj = struct.unpack_from("<HH", sb, 0xCC)
    jmagic = struct.unpack_from("<Q", sb, 0x38)[0] ^ JSET_MAGIC
    entries = []
    for b in range(first, first + nj):
        off = b * bsize
        end = off + bsize
        while off < end:
            magic, seq, _ver, keys, last = struct.unpack_from("<QQIIQ", d, off + 8)
            if magic != jmagic:
                break
            entries.append((seq, off, 240 + 8 * keys, last))
            off += (240 + 8 * keys + 511) // 512 * 512
    entries.sort()
    newest = entries[-1]
    seq_of = {e[0]: e for e in entries}
    mid = seq_of[(newest[3] + newest[0]) // 2]
    mid2 = seq_of[mid[0] + 3]
    root_ptr = struct.unpack_from("<Q", d, newest[1] + 104 + 16)[0]
    root_sector = (root_ptr >> 8) & ((1 << 43) - 1)
    prio_bucket = struct.unpack_from("<Q", d, newest[1] + 176)[0]
    # The first bset of the root with keys (a new node starts with an empty one): a byte of
    # its keys is inside the checksummed range.
    node = root_sector * 512
    node_seq = struct.unpack_from("<Q", d, node + 16)[0]
    bset_off = node
    while struct.unpack_from("<Q", d, bset_off + 16)[0] == node_seq:
        keys = struct.unpack_from("<I", d, bset_off + 28)[0]
        if keys:
            break
        bset_off += (32 + 8 * keys + 511) // 512 * 512
    bset_byte = bset_off + 32 + 8

    # Btree nodes written into empty buckets, each pointed at from the journal's root: the
    # pointer words carry the bucket's generation (from the prios), or the pointer is stale.
    bucket_pages = bsize // 4096
    meta_bytes = min(bucket_pages, 32768 // 8, 1024) * 4096
    per = (meta_bytes - 40) // 3
    chain = [prio_bucket]
    while len(chain) * per < nbuckets:
        chain.append(struct.unpack_from("<Q", d, chain[-1] * bsize + 32)[0])

    def gen_of(b):
        return d[chain[b // per] * bsize + 40 + 3 * (b % per) + 2]

    meta_pages = meta_bytes // 4096
    node_sectors = (meta_pages if meta_pages <= 64 else max(meta_pages // 4, 64)) * 8
    set_magic = struct.unpack_from("<Q", sb, 0x38)[0]
    root_word = struct.unpack_from("<Q", d, newest[1] + 104 + 16)[0]
    free = [b for b in range(nbuckets - 1, first + nj, -1) if not any(d[b * bsize:(b + 1) * bsize])][:2]

    def ptr(b):
        return (b * bsize // 512) << 8 | gen_of(b)

    def node_patch(b, keys):
        return f"bytes {b * bsize} {btree_node(set_magic ^ BSET_MAGIC, ptr(b), keys).hex()}"

    def root_patch(b, level):
        e = bytearray(d[newest[1]:newest[1] + newest[2]])
        struct.pack_into("<QQQ", e, 104, *node_key(0xFFFFF, 2**63 - 1, node_sectors, ptr(b)))
        struct.pack_into("<H", e, 168, level)
        struct.pack_into("<Q", e, 0, crc64_we(bytes(e[8:])))
        return f"bytes {newest[1]} {bytes(e).hex()}"

    top = node_key(0xFFFFF, 2**63 - 1, node_sectors, 0)
    # A cycle: the root (level 2) points at a node whose pointer leads back to the root.
    cycle = [root_patch(free[0], 2),
             node_patch(free[0], [top[:2] + [ptr(free[1])]]),
             node_patch(free[1], [top[:2] + [ptr(free[0])]])]
    # A shared node: the root (level 1) points twice at the old root leaf, at two positions.
    shared = [root_patch(free[0], 1),
              node_patch(free[0], [node_key(1, node_sectors, node_sectors, root_word),
                                   top[:2] + [root_word]])]

    # A root pointer past the end of the device, with the entry's checksum fixed.
    entry = bytearray(d[newest[1]:newest[1] + newest[2]])
    bad_ptr = (root_ptr & ~(((1 << 43) - 1) << 8)) | ((nbuckets * bsize // 512 + 128) << 8)
    struct.pack_into("<Q", entry, 104 + 16, bad_ptr)
    struct.pack_into("<Q", entry, 0, crc64_we(bytes(entry[8:])))

    # A pre-version-1 uuid table: the newest entry says version 0 (checksum fixed), and the
    # table's used v1 entries are rewritten as 64-byte v0 entries (uuid, label, times).
    v0_entry = bytearray(d[newest[1]:newest[1] + newest[2]])
    struct.pack_into("<I", v0_entry, 24, 0)
    struct.pack_into("<Q", v0_entry, 0, crc64_we(bytes(v0_entry[8:])))
    uuid_ptr = struct.unpack_from("<Q", d, newest[1] + 40 + 16)[0]
    uuid_off = ((uuid_ptr >> 8) & ((1 << 43) - 1)) * 512
    used = 0
    while any(d[uuid_off + used * 128:uuid_off + used * 128 + 16]):
        used += 1
    v0_table = bytearray(128 * max(used, 1))
    for i in range(used):
        v0_table[i * 64:i * 64 + 60] = d[uuid_off + i * 128:uuid_off + i * 128 + 60]

    patches = {
        "jset_missing": [f"zero {mid[1]} 512"],
        "jset_bad_csum": [f"bytes {mid2[1] + 48} {d[mid2[1] + 48] ^ 0xFF:02x}"],
        "jset_torn_newest": [f"bytes {newest[1] + 48} {d[newest[1] + 48] ^ 0xFF:02x}"],
        "journal_empty": [f"zero {first * bsize} {nj * bsize}"],
        "prio_bad_csum": [f"bytes {prio_bucket * bsize + 1000} {d[prio_bucket * bsize + 1000] ^ 0xFF:02x}"],
        "bset_bad_csum": [f"bytes {bset_byte} {d[bset_byte] ^ 0xFF:02x}"],
        "root_past_end": [f"bytes {newest[1]} {bytes(entry).hex()}"],
        "uuid_v0": [f"bytes {newest[1]} {bytes(v0_entry).hex()}",
                    f"bytes {uuid_off} {bytes(v0_table).hex()}"],
        "btree_cycle": cycle,
        "btree_shared": shared,
    }
    os.makedirs(os.path.join(out, "fixture"), exist_ok=True)
    shutil.copy(FIXTURE, os.path.join(out, "fixture", "cache.img.xz"))
    for name, lines in patches.items():
        with open(os.path.join(out, "fixture", name + ".patch"), "w") as f:
            f.write("\n".join(lines) + "\n")
    with open(os.path.join(out, "fixture", "expect"), "w") as f:
        assert gen_of(root_sector * 512 // bsize) == root_word & 0xFF
        f.write(f"missing_seq {mid[0]}\nbad_csum_seq {mid2[0]}\nnewest_seq {newest[0]}\n"
                f"prio_bucket {prio_bucket}\nroot_bucket {root_sector * 512 // bsize}\n"
                f"cycle_bucket {free[0]}\n")


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
    fixture_patches(out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
