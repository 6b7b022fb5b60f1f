#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Write a complete, clean bcache cache-device image holding N extents in one flash volume.

    mkbigset.py N SEED OUT [--fanout F] [--journal-keys J] [--leaf-keys K] [--nbuckets B]
                [--gen-base G [--gen-spread S]]

OUT is a sparse image of a cache device as `make-bcache -b 512k -C` formats a disk with
512-byte sectors (bucket 1024 sectors, block 1 sector), in the state a set is left in by a
clean stop of the C module:

- superblock: version 3 (the kernel raises make-bcache's 0 to 3 on its first write),
  CACHE_SYNC set, njournal_buckets = clamp(nbuckets >> 7, 2, 256) as a fresh set chooses;
- one uuid bucket (v1 uuid_entry table) with one flash volume in slot 0;
- prio buckets holding every bucket's prio and gen (nonzero random gens on every used bucket,
  and every pointer carries its bucket's gen; with --gen-base G, every bucket's gen is drawn
  from G..G+S-1 instead (--gen-spread S, default 8), modulo 256, so that a few reuses wrap it
  past 255);
- a btree of leaves of a few thousand keys each under interior nodes of at most F children
  (so depth 1 at 300k extents, depth 2 at 1M with the default F = 64), one version-1 bset per
  node with the bset magic, a random seq and the checksum seeded with the node's pointer;
- the journal: entries over the journal buckets, each holding the root, uuid and prio pointers,
  and together J extent keys (default N/2) that are in no leaf (registration replays them);
- N dirty extents of 8 sectors (flash-volume data is always dirty) at scattered,
  non-overlapping volume offsets (gaps of 0 to 2 blocks), each pointing at its own 4 KiB in a
  data bucket, data buckets filled in a random order. Every 512-byte sector of an extent holds
  32 copies of (volume sector, SEED) as two le64.

Everything is encoded here from the C sources (bcache_ondisk.h, super.c, journal.c, btree.c),
independently of rbcache's Rust code. The expected md5 of the whole volume (zeros where no
extent) is printed, with the image's shape, as `key value` lines, also written to OUT.info;
so is the md5 of each 64 MiB region of the volume (`region_md5_R`: bytes [R * 64 MiB,
(R + 1) * 64 MiB)), for a test that reads only some of it.
"""
import argparse
import hashlib
import os
import random
import struct
import sys

POLY = 0x42F0E1EBA9EA3693
MASK = (1 << 64) - 1
MAGIC = bytes.fromhex("c68573f64e1a45ca8265f57f48ba6d81")
JSET_MAGIC = 0x245235C1A3625032
PSET_MAGIC = 0x6750E15F87337F91
BSET_MAGIC = 0x90135C78B99E07F5

BUCKET = 1024                       # sectors (512 KiB)
BUCKET_BYTES = BUCKET * 512
META_BYTES = BUCKET_BYTES           # meta_bucket_bytes: min(128 pages, 4096, 1024) pages
NODE_SECTORS = 512                  # btree_pages: max(128 / 4, 64) pages
PRIOS_PER_BUCKET = (META_BYTES - 40) // 3
EXTENT = 8                          # sectors
SLOTS = BUCKET // EXTENT            # extents per data bucket
BTREE_PRIO = 65535
INITIAL_PRIO = 32768
MAX_INODE = 0xFFFFF
MAX_OFFSET = (1 << 63) - 1
REGION_MB = 64                      # the volume's md5 is also given per region of this size


def _table():
    t = []
    for i in range(256):
        c = i << 56
        for _ in range(8):
            c = ((c << 1) ^ POLY) & MASK if c >> 63 else (c << 1) & MASK
        t.append(c)
    return t


TABLE = _table()


def crc64_be(crc, data):
    """The kernel's crc64_be (MSB first, no inversion)."""
    t = TABLE
    for b in data:
        crc = t[(crc >> 56) ^ b] ^ ((crc << 8) & MASK)
    return crc


def crc64_we(data):
    """bch_crc64: CRC-64/WE (init and final xor ~0)."""
    return crc64_be(MASK, data) ^ MASK


def key_high(inode, size, ptrs=1, dirty=False):
    """bkey high word; bit 63 as the kernel's KEY()/ZERO_KEY initialisers set it."""
    return (1 << 63) | (ptrs << 60) | (int(dirty) << 36) | (size << 20) | inode


def ptr(bucket, gen, offset=0):
    return ((bucket * BUCKET + offset) << 8) | gen


def node(magic, seq, seed_ptr, words):
    raw = bytearray(struct.pack("<QQQII", 0, magic, seq, 1, len(words)))
    raw += struct.pack(f"<{len(words)}Q", *words)
    assert len(raw) <= NODE_SECTORS * 512, "node overflows"
    struct.pack_into("<Q", raw, 0, crc64_be(seed_ptr, bytes(raw[8:])) ^ MASK)
    return bytes(raw)


class VolumeMd5:
    """The md5 of the whole volume and of each REGION_MB region of it."""

    def __init__(self):
        self.whole = hashlib.md5()
        self.regions = []
        self.left = 0

    def update(self, data):
        self.whole.update(data)
        data = memoryview(data)
        while data:
            if self.left == 0:
                self.regions.append(hashlib.md5())
                self.left = REGION_MB << 20
            k = min(self.left, len(data))
            self.regions[-1].update(data[:k])
            self.left -= k
            data = data[k:]

    def hexdigest(self):
        return self.whole.hexdigest()


def sector_stamp(vol_sector, seed):
    return struct.pack("<QQ", vol_sector, seed) * 32


def build(n, seed, out, fanout=64, journal_keys=None, leaf_keys=(4000, 7000), min_buckets=1024,
          gen_base=None, gen_spread=8):
    rng = random.Random(seed)
    if not 128 <= min_buckets <= 1 << 24:
        raise ValueError("nbuckets must be between 128 (make-bcache's minimum) and 2^24")
    if journal_keys is None:
        journal_keys = n // 2
    if not 0 <= journal_keys <= n:
        raise ValueError("journal keys must be between 0 and N")
    if not 2 <= fanout <= 10000:
        raise ValueError("fanout must be between 2 and 10000")

    # Extents: volume start sectors, ascending, gaps of 0..2 blocks of 8 sectors.
    starts = []
    pos = rng.randrange(3) * EXTENT
    for _ in range(n):
        starts.append(pos)
        pos += EXTENT + EXTENT * rng.choice((0, 0, 1, 2))
    vol_sectors = max(2048, -(-pos // 2048) * 2048)
    journal = set(rng.sample(range(n), journal_keys))

    # Data slots: extent i's data at slot[i]; data buckets filled in a random order. Every
    # data bucket also holds at least one leaf extent, so the bucket is marked dirty by the
    # btree walk at registration (journal keys only pin their buckets until replayed).
    slot = list(range(n))
    rng.shuffle(slot)
    nbdata = -(-n // SLOTS)
    owners = [[] for _ in range(nbdata)]
    for i, s in enumerate(slot):
        owners[s // SLOTS].append(i)
    for b, ex in enumerate(owners):
        if ex and all(i in journal for i in ex):
            for b2, ex2 in enumerate(owners):
                leaf = [i for i in ex2 if i not in journal]
                if len(leaf) >= 2:
                    a, c = ex[0], leaf[0]
                    slot[a], slot[c] = slot[c], slot[a]
                    ex[0], ex2[ex2.index(c)] = c, a
                    break
            else:
                raise ValueError("too many journal keys for the leaf extents")

    # Leaves: the leaf extents in order, a random number of keys per leaf.
    leaf_ext = [i for i in range(n) if i not in journal]
    leaves = []
    i = 0
    while i < len(leaf_ext) or not leaves:
        k = rng.randint(*leaf_keys)
        leaves.append(leaf_ext[i:i + k])
        i += k
    levels = [len(leaves)]
    while levels[-1] > 1:
        levels.append(-(-levels[-1] // fanout))
    nnodes = sum(levels)
    depth = len(levels) - 1

    # Buckets: sb, journal, uuid, prios, btree nodes, data, then free ones (a fifth more).
    nj = 2
    while True:
        nprio = 1
        for _ in range(2):
            used = 1 + nj + 1 + nprio + nnodes + nbdata
            nbuckets = max(min_buckets, used + used // 5 + 64)
            nprio = -(-nbuckets // PRIOS_PER_BUCKET)
        nj2 = min(max(nbuckets >> 7, 2), 256)
        if nj2 == nj:
            break
        nj = nj2
    first = 1
    uuid_b = first + nj
    prio_bs = list(range(uuid_b + 1, uuid_b + 1 + nprio))
    node_b0 = prio_bs[-1] + 1
    data_b0 = node_b0 + nnodes
    assert data_b0 + nbdata <= nbuckets

    gens = [0] * nbuckets
    prios = [0] * nbuckets
    for b in range(uuid_b, data_b0 + nbdata):
        gens[b] = rng.randrange(1, 120)
        prios[b] = BTREE_PRIO if b < data_b0 else INITIAL_PRIO - rng.randrange(4096)
    for b in range(data_b0 + nbdata, nbuckets):
        gens[b] = rng.choice((0, rng.randrange(1, 120)))
    if gen_base is not None:
        gens = [(gen_base + rng.randrange(gen_spread)) % 256 for _ in range(nbuckets)]

    set_uuid = rng.randbytes(16)
    set_magic = struct.unpack_from("<Q", set_uuid)[0]
    dev_uuid = rng.randbytes(16)
    vol_uuid = rng.randbytes(16)

    def data_ptr(i):
        b = data_b0 + slot[i] // SLOTS
        return ptr(b, gens[b], (slot[i] % SLOTS) * EXTENT)

    def extent_words(i):
        return [key_high(0, EXTENT, dirty=True), starts[i] + EXTENT, data_ptr(i)]

    f = open(out + ".tmp", "wb")
    f.truncate(nbuckets * BUCKET_BYTES)

    def put(sector_or_byte, data):
        f.seek(sector_or_byte)
        f.write(data)

    # Btree, bottom up: each node's key is (its last key's position, node size, pointer);
    # the last node of every level ends at MAX_KEY.
    nb = node_b0
    bmagic = set_magic ^ BSET_MAGIC
    children = []
    for li, ex in enumerate(leaves):
        p = ptr(nb, gens[nb])
        words = [w for i in ex for w in extent_words(i)]
        put(nb * BUCKET_BYTES, node(bmagic, rng.randrange(1, 1 << 64), p, words))
        last = li == len(leaves) - 1
        pos_key = (MAX_INODE, MAX_OFFSET) if last else (0, starts[ex[-1]] + EXTENT)
        children.append((pos_key, p))
        nb += 1
    for _level in range(1, depth + 1):
        parents = []
        for c in range(0, len(children), fanout):
            group = children[c:c + fanout]
            p = ptr(nb, gens[nb])
            words = []
            for (inode, off), cp in group:
                words += [key_high(inode, NODE_SECTORS), off, cp]
            put(nb * BUCKET_BYTES, node(bmagic, rng.randrange(1, 1 << 64), p, words))
            parents.append((group[-1][0], p))
            nb += 1
        children = parents
    assert nb == data_b0 and len(children) == 1
    root_ptr = children[0][1]

    # Data buckets and the volume's md5, extent by extent.
    md5 = VolumeMd5()
    zero_block = bytes(EXTENT * 512)
    bufs = {}
    vol = 0
    for i in range(n):
        while vol < starts[i]:
            md5.update(zero_block)
            vol += EXTENT
        data = b"".join(sector_stamp(starts[i] + s, seed) for s in range(EXTENT))
        md5.update(data)
        vol += EXTENT
        b = slot[i] // SLOTS
        buf = bufs.get(b)
        if buf is None:
            buf = bufs[b] = [bytearray(BUCKET_BYTES), 0]
        o = (slot[i] % SLOTS) * EXTENT * 512
        buf[0][o:o + len(data)] = data
        buf[1] += 1
        if buf[1] == len(owners[b]):
            put((data_b0 + b) * BUCKET_BYTES, buf[0])
            del bufs[b]
    assert not bufs
    rest = vol_sectors - vol
    while rest > 0:
        k = min(rest, 2048)
        md5.update(bytes(k * 512))
        rest -= k

    # Prio buckets: a chain, each next_bucket naming the next one.
    pmagic = set_magic ^ PSET_MAGIC
    for k, pb in enumerate(prio_bs):
        raw = bytearray(META_BYTES)
        nxt = prio_bs[k + 1] if k + 1 < len(prio_bs) else 0
        struct.pack_into("<QQIIQ", raw, 8, pmagic, 3, 0, 0, nxt)
        lo = k * PRIOS_PER_BUCKET
        for j, b in enumerate(range(lo, min(lo + PRIOS_PER_BUCKET, nbuckets))):
            struct.pack_into("<HB", raw, 40 + 3 * j, prios[b], gens[b])
        struct.pack_into("<Q", raw, 0, crc64_we(bytes(raw[8:])))
        put(pb * BUCKET_BYTES, raw)

    # The uuid table: slot 0 is the flash volume.
    u = bytearray(128)
    u[0:16] = vol_uuid
    label = b"bigset"
    u[16:16 + len(label)] = label
    struct.pack_into("<IIIIQ", u, 48, 1700000000, 1700000000, 0, 1, vol_sectors)
    put(uuid_b * BUCKET_BYTES, u)

    # Journal: entries of at most 1000 keys (fit in 32 KiB), filling the journal buckets in
    # order (an entry never crosses a bucket's end), all of them live.
    uuid_key = [key_high(0, META_BYTES // 512), 0, ptr(uuid_b, gens[uuid_b])]
    root_key = [key_high(MAX_INODE, NODE_SECTORS), MAX_OFFSET, root_ptr]
    jkeys = sorted(journal)
    rng.shuffle(jkeys)
    chunks = [jkeys[c:c + 1000] for c in range(0, len(jkeys), 1000)] or [[]]
    seq0 = 1000 + rng.randrange(100000)
    jmagic = set_magic ^ JSET_MAGIC
    off = first * BUCKET_BYTES
    for k, ch in enumerate(chunks):
        words = [w for i in ch for w in extent_words(i)]
        e = bytearray(240)
        struct.pack_into("<QQIIQ", e, 8, jmagic, seq0 + k, 1, len(words), seq0)
        struct.pack_into("<3Q", e, 40, *uuid_key)
        struct.pack_into("<3Q", e, 104, *root_key)
        struct.pack_into("<H", e, 168, depth)
        struct.pack_into("<Q", e, 176, prio_bs[0])
        e += struct.pack(f"<{len(words)}Q", *words)
        struct.pack_into("<Q", e, 0, crc64_we(bytes(e[8:])))
        e += bytes(-len(e) % 512)
        if off + len(e) > (off // BUCKET_BYTES + 1) * BUCKET_BYTES:
            off = (off // BUCKET_BYTES + 1) * BUCKET_BYTES
        if off + len(e) > (first + nj) * BUCKET_BYTES:
            raise ValueError("too many journal keys for the journal")
        put(off, e)
        off += len(e)

    # Superblock last.
    sb = bytearray(4096)
    struct.pack_into("<QQ", sb, 0x08, 8, 3)
    sb[0x18:0x28] = MAGIC
    sb[0x28:0x38] = dev_uuid
    sb[0x38:0x48] = set_uuid
    struct.pack_into("<QQ", sb, 0x68, 1, 9)       # flags: CACHE_SYNC, lru; seq
    struct.pack_into("<Q", sb, 0xB8, nbuckets)
    struct.pack_into("<HHHHIHH", sb, 0xC0, 1, BUCKET, 1, 0, 1700000000, first, nj)
    for j in range(nj):
        struct.pack_into("<Q", sb, 0xD0 + 8 * j, first + j)
    struct.pack_into("<Q", sb, 0, crc64_we(bytes(sb[8:0xD0 + 8 * nj])))
    put(4096, sb)
    f.close()
    os.replace(out + ".tmp", out)

    info = {
        "md5": md5.hexdigest(),
        "extents": n,
        "journal_keys": journal_keys,
        "leaves": len(leaves),
        "depth": depth,
        "btree_nodes": nnodes,
        "volume_sectors": vol_sectors,
        "nbuckets": nbuckets,
        "bytes": nbuckets * BUCKET_BYTES,
        "region_mb": REGION_MB,
    }
    for r, h in enumerate(md5.regions):
        info[f"region_md5_{r}"] = h.hexdigest()
    with open(out + ".info", "w") as fi:
        for k, v in info.items():
            fi.write(f"{k} {v}\n")
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("n", type=int, help="number of extents")
    ap.add_argument("seed", type=int)
    ap.add_argument("out")
    ap.add_argument("--fanout", type=int, default=64, help="children per interior node")
    ap.add_argument("--journal-keys", type=int, default=None,
                    help="extents kept only in the journal (default N/2)")
    ap.add_argument("--leaf-keys", type=int, nargs=2, default=(4000, 7000),
                    metavar=("MIN", "MAX"), help="keys per leaf, drawn uniformly")
    ap.add_argument("--nbuckets", type=int, default=1024,
                    help="at least this many buckets (default 1024; make-bcache needs 128)")
    ap.add_argument("--gen-base", type=int, default=None,
                    help="every bucket's gen drawn from G..G+S-1 (mod 256)")
    ap.add_argument("--gen-spread", type=int, default=8, help="S for --gen-base (1 to 256)")
    a = ap.parse_args()
    if a.n < 1 or not 1 <= a.leaf_keys[0] <= a.leaf_keys[1] <= 10000:
        ap.error("N >= 1 and 1 <= MIN <= MAX <= 10000 keys per leaf")
    if a.gen_base is not None and not 0 <= a.gen_base <= 255:
        ap.error("--gen-base between 0 and 255")
    if not 1 <= a.gen_spread <= 256:
        ap.error("--gen-spread between 1 and 256")
    info = build(a.n, a.seed, a.out, a.fanout, a.journal_keys, tuple(a.leaf_keys), a.nbuckets,
                 a.gen_base, a.gen_spread)
    for k, v in info.items():
        print(f"{k} {v}")


if __name__ == "__main__":
    sys.exit(main())
