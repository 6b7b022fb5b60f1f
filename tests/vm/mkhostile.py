#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Hostile cache sets with valid checksums, for tests/hostile.sh.

    mkhostile.py OUT

Generates one small clean cache set with tests/vm/mkbigset.py (2000 extents in a flash
volume, a btree of depth 2: leaves of 200-300 keys under interior nodes of at most 4 children,
200 extents in the journal) and writes into OUT:

- base.img.xz: the image, cut after its last used bucket (the guest extends it to `size`);
- NAME.patch, one per mutation: lines "bytes OFFSET HEX" (and "zero OFFSET LENGTH") for
  tests/lib.sh apply_patch. Every checksum that covers a changed byte is recomputed (except
  in the cases named for a bad checksum), so rbcache's own validation has to catch the fault;
- cases: one line per mutation, "NAME OUTCOME REASON...": OUTCOME `refuse` (registration fails
  with EINVAL and one log line "register DEV: REASON..."), `ok` (the set registers and stops)
  or `any` (odd but safe: either, never an oops); the line "clean ok" is the intact image;
- size: the image's full size in bytes; uuid: the set's UUID; md5: the md5 of the intact
  set's flash volume.

The structures are parsed from the generated image here, independently of the Rust code.
"""
import lzma
import os
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mkbigset as mb  # noqa: E402

MASK = mb.MASK
U64_MAX = MASK
N, SEED = 2000, 20


def q(buf, off):
    return struct.unpack_from("<Q", buf, off)[0]


def key_words(high):
    return 2 + ((high >> 60) & 7)


def bucket_of_ptr(p):
    return ((p >> 8) & ((1 << 43) - 1)) // mb.BUCKET


def with_offset(p, off):
    """Pointer p with its 43-bit sector offset replaced."""
    return (p & ~(((1 << 43) - 1) << 8)) | (off << 8)


def set_size(high, size):
    return (high & ~(0xFFFF << 20)) | (size << 20)


class Image:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.f = f
            sb = self.read(4096, 4096)
            self.sb = sb
            self.nbuckets = q(sb, 0xB8)
            self.first, self.nj = struct.unpack_from("<HH", sb, 0xCC)
            self.set_uuid = bytes(sb[0x38:0x48])
            self.set_magic = struct.unpack_from("<Q", self.set_uuid)[0]
            self.jmagic = self.set_magic ^ mb.JSET_MAGIC
            self.bmagic = self.set_magic ^ mb.BSET_MAGIC
            self.pmagic = self.set_magic ^ mb.PSET_MAGIC
            # The newest journal entry (mkbigset writes them in order in the first bucket).
            off = self.first * mb.BUCKET_BYTES
            entries = []
            while True:
                h = self.read(off, 240)
                if q(h, 8) != self.jmagic:
                    break
                keys = struct.unpack_from("<I", h, 28)[0]
                n = 240 + 8 * keys
                entries.append((off, n))
                off += -(-n // 512) * 512
            self.joff, self.jlen = entries[-1]
            self.jentry = self.read(self.joff, self.jlen)
            self.seq = q(self.jentry, 16)
            self.last_seq = q(self.jentry, 32)
            self.uuid_key = self.jentry[40:64]
            self.root_key = struct.unpack_from("<3Q", self.jentry, 104)
            self.level = struct.unpack_from("<H", self.jentry, 168)[0]
            self.prio = q(self.jentry, 176)
            self.pbuf = self.read(self.prio * mb.BUCKET_BYTES, mb.META_BYTES)
            # The tree: every node's bucket, level, keys and pointer word.
            self.nodes = {}
            self.walk(self.root_key[2], self.level)
            self.data_buckets = sorted({bucket_of_ptr(k[2]) for b, n in self.nodes.items()
                                        if n["level"] == 0 for k in n["keys"]})
            f.seek(0, os.SEEK_END)
            self.size = f.tell()
            end = 0
            pos = 0
            while True:
                try:
                    d = os.lseek(f.fileno(), pos, os.SEEK_DATA)
                except OSError:
                    break
                pos = os.lseek(f.fileno(), d, os.SEEK_HOLE)
                end = pos
            self.used = -(-end // mb.BUCKET_BYTES) * mb.BUCKET_BYTES
        self.f = None

    def read(self, off, n):
        self.f.seek(off)
        return bytearray(self.f.read(n))

    def walk(self, p, level):
        b = bucket_of_ptr(p)
        raw = self.read(b * mb.BUCKET_BYTES, 32)
        nwords = struct.unpack_from("<I", raw, 28)[0]
        raw = self.read(b * mb.BUCKET_BYTES, 32 + 8 * nwords)
        keys, i = [], 0
        while i < nwords:
            high = q(raw, 32 + 8 * i)
            w = key_words(high)
            keys.append(list(struct.unpack_from(f"<{w}Q", raw, 32 + 8 * i)))
            i += w
        self.nodes[b] = {"level": level, "ptr": p, "keys": keys, "seq": q(raw, 16)}
        if level > 0:
            for k in keys:
                self.walk(k[2], level - 1)

    def nodes_at(self, level):
        return [b for b, n in sorted(self.nodes.items()) if n["level"] == level]

    def parent_of(self, child):
        for b, n in self.nodes.items():
            for i, k in enumerate(n["keys"]):
                if n["level"] > 0 and bucket_of_ptr(k[2]) == child:
                    return b, i
        raise KeyError(child)


def bset(magic, seq, ptr0, words, version=1, nkeys=None, fix_csum=True):
    raw = bytearray(struct.pack("<QQQII", 0, magic, seq, version,
                                len(words) if nkeys is None else nkeys))
    raw += struct.pack(f"<{len(words)}Q", *words)
    if fix_csum:
        struct.pack_into("<Q", raw, 0, mb.crc64_be(ptr0, bytes(raw[8:])) ^ MASK)
    return raw


def main(out):
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "set.img")
        info = mb.build(N, SEED, path, fanout=4, journal_keys=200, leaf_keys=(200, 300))
        img = Image(path)
        with open(path, "rb") as f:
            base = f.read(img.used)
    assert img.level == 2, "expected a btree of depth 2"
    with lzma.open(os.path.join(out, "base.img.xz"), "wb", preset=1) as f:
        f.write(base)
    with open(os.path.join(out, "size"), "w") as f:
        f.write(f"{img.size}\n")
    with open(os.path.join(out, "md5"), "w") as f:
        f.write(f"{info['md5']}\n")
    u = img.set_uuid.hex()
    with open(os.path.join(out, "uuid"), "w") as f:
        f.write(f"{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:]}\n")

    cases = [("clean", "ok", "", [])]

    def case(name, outcome, reason, writes):
        cases.append((name, outcome, reason, writes))

    nb = img.nbuckets
    B = mb.BUCKET

    # --- Journal: the newest entry, its checksum recomputed. ---
    def jpatch(fn):
        e = bytearray(img.jentry)
        fn(e)
        struct.pack_into("<Q", e, 0, mb.crc64_we(bytes(e[8:])))
        return [(img.joff, bytes(e))]

    def jset(off, fmt, *v):
        return jpatch(lambda e: struct.pack_into(fmt, e, off, *v))

    seq = img.seq
    case("j_seq_max", "refuse", f"journal seq {U64_MAX} cannot advance",
         jpatch(lambda e: struct.pack_into("<QQIIQ", e, 8, img.jmagic, U64_MAX, 1,
                                           q(e, 28) & 0xFFFFFFFF, U64_MAX)))
    case("j_last_seq_after_seq", "refuse", "journal last_seq is after the newest entry",
         jset(32, "<Q", seq + 1))
    case("j_missing", "refuse", f"journal entries {seq - 3}-{seq - 1} missing",
         jset(32, "<Q", seq - 3))
    case("j_empty", "refuse", "No journal entries found",
         [(img.joff, bytes(-(-img.jlen // 512) * 512))])
    jk = 240  # the first journal key (3 words: high, low, pointer)

    def jkey(fn):
        def f(e):
            k = list(struct.unpack_from("<3Q", e, jk))
            fn(k)
            struct.pack_into("<3Q", e, jk, *k)
        return jpatch(f)

    def ptr_bucket(p, b):
        return with_offset(p, b * B)

    jreason = "invalid key in journal"
    case("j_key_past_end", "refuse", jreason,
         jkey(lambda k: k.__setitem__(2, ptr_bucket(k[2], nb + 10))))
    case("j_key_past_bucket", "refuse", jreason,
         jkey(lambda k: k.__setitem__(2, with_offset(k[2], bucket_of_ptr(k[2]) * B + B - 4))))
    case("j_key_size_gt_offset", "refuse", jreason, jkey(lambda k: k.__setitem__(1, 4)))
    last = img.jlen - 24
    case("j_key_truncated", "refuse", jreason,
         jpatch(lambda e: struct.pack_into("<Q", e, last, q(e, last) | (3 << 60))))
    case("j_key_zero_size", "ok", "", jkey(lambda k: k.__setitem__(0, set_size(k[0], 0))))
    ureason = "invalid uuid bucket pointer"
    uk = list(struct.unpack_from("<3Q", img.jentry, 40))
    case("j_uuid_past_end", "refuse", ureason, jset(56, "<Q", ptr_bucket(uk[2], nb + 1)))
    case("j_uuid_before_first", "refuse", ureason, jset(56, "<Q", ptr_bucket(uk[2], 0)))
    case("j_uuid_no_ptrs", "refuse", ureason, jset(40, "<Q", uk[0] & ~(7 << 60) | (1 << 63)))
    case("j_uuid_dirty", "refuse", ureason, jset(40, "<Q", uk[0] | (1 << 36)))
    case("j_prio_past_end", "refuse", f"prio bucket {nb} past the end of the cache",
         jset(176, "<Q", nb))
    case("j_prio_zero", "refuse", "prio bucket 0 past the end of the cache", jset(176, "<Q", 0))
    rk = img.root_key
    case("j_root_past_end", "refuse", "invalid btree node pointer at level 2",
         jset(120, "<Q", ptr_bucket(rk[2], nb + 3)))
    case("j_root_misaligned", "refuse", "invalid btree node pointer at level 2",
         jset(120, "<Q", with_offset(rk[2], bucket_of_ptr(rk[2]) * B + 600)))
    case("j_root_dirty", "refuse", "invalid btree node pointer at level 2",
         jset(104, "<Q", rk[0] | (1 << 36)))
    case("j_level_too_deep", "refuse", "btree root level 9 too deep", jset(168, "<H", 9))
    # One level too high: leaves are read as interior nodes, their (dirty) extents as node
    # pointers.
    case("j_level_high", "refuse", "invalid btree node pointer at level 0", jset(168, "<H", 3))
    # Too low: interior nodes are read as leaves, their pointers as clean extents (valid ones).
    case("j_level_one", "any", "", jset(168, "<H", 1))
    case("j_level_zero", "any", "", jset(168, "<H", 0))
    # A version-0 entry: the (version-1) uuid table is converted as if it were version 0.
    case("j_version0", "any", "", jset(24, "<I", 0))

    # --- Prio bucket (one: 512 KiB buckets hold 174749 prios), checksum recomputed. ---
    def ppatch(off, fmt, v, fix=True):
        p = bytearray(img.pbuf)
        struct.pack_into(fmt, p, off, v)
        if fix:
            struct.pack_into("<Q", p, 0, mb.crc64_we(bytes(p[8:])))
        po = img.prio * mb.BUCKET_BYTES
        return [(po, bytes(p[:8])), (po + off, bytes(p[off:off + struct.calcsize(fmt)]))]

    P = img.prio
    case("p_bad_magic", "refuse", f"bad magic reading priorities (bucket {P})",
         ppatch(8, "<Q", img.pmagic ^ 1))
    case("p_bad_csum", "refuse", f"bad csum reading priorities (bucket {P})",
         ppatch(40 + 3 * 100 + 2, "<B", img.pbuf[40 + 3 * 100 + 2] ^ 0x40, fix=False))
    case("p_seq_max", "refuse", f"prio seq {U64_MAX} cannot advance (bucket {P})",
         ppatch(16, "<Q", U64_MAX))
    # The chain ends with its only bucket: next_bucket is never followed.
    case("p_next_past_end", "ok", "", ppatch(32, "<Q", U64_MAX))

    # --- Btree nodes: rewritten with a recomputed, pointer-seeded checksum. ---
    def node_writes(b, keys=None, **kw):
        n = img.nodes[b]
        words = [w for k in (n["keys"] if keys is None else keys) for w in k]
        seq_ = kw.pop("seq", n["seq"])
        magic = kw.pop("magic", img.bmagic)
        raw = bset(magic, seq_, n["ptr"], words, **kw)
        return [(b * mb.BUCKET_BYTES, bytes(raw))]

    def node_keys(b, fn):
        keys = [list(k) for k in img.nodes[b]["keys"]]
        fn(keys)
        return node_writes(b, keys)

    root = bucket_of_ptr(rk[2])
    mids = img.nodes_at(1)
    leaves = img.nodes_at(0)
    m0, m1 = mids[0], mids[1]
    l0 = bucket_of_ptr(img.nodes[m0]["keys"][0][2])
    l1 = bucket_of_ptr(img.nodes[m0]["keys"][1][2])

    def set_child(parent, i, p):
        return node_keys(parent, lambda ks: ks[i].__setitem__(2, p))

    # A leaf's pointer leads back to an ancestor, or to a node already reached.
    case("b_child_to_root", "refuse", f"btree node at bucket {root} reached twice",
         set_child(m0, 1, img.nodes[root]["ptr"]))
    case("b_child_shared", "refuse", f"btree node at bucket {l0} reached twice",
         set_child(m0, 1, img.nodes[l0]["ptr"]))
    # A level-1 pointer to another level-1 node (read as a leaf, then reached from the root).
    case("b_child_wrong_level_down", "refuse", f"btree node at bucket {m1} reached twice",
         set_child(m0, 1, img.nodes[m1]["ptr"]))
    # A root pointer straight to a leaf: the leaf is read as an interior node.
    case("b_child_wrong_level_up", "refuse", "invalid btree node pointer at level 0",
         set_child(root, 0, img.nodes[l0]["ptr"]))
    case("b_child_misaligned", "refuse", "invalid btree node pointer at level 0",
         set_child(m0, 1, with_offset(img.nodes[l1]["ptr"], l1 * B + 600)))
    case("b_child_dirty", "refuse", "invalid btree node pointer at level 0",
         node_keys(m0, lambda ks: ks[1].__setitem__(0, ks[1][0] | (1 << 36))))
    # Past the device: such a pointer is stale (no generation), dropped as 6.12 drops it.
    case("b_child_past_end", "any", "",
         set_child(m0, 1, ptr_bucket(img.nodes[l1]["ptr"], nb + 5)))
    # A pointer to a data bucket (its generation): the node does not parse.
    d = img.data_buckets[0]
    dgen = img.pbuf[40 + 3 * d + 2]
    case("b_child_to_data", "refuse", f"btree node at bucket {d}: ",
         set_child(m0, 1, (d * B) << 8 | dgen))
    # The parent's key ends before the leaf's last key.
    case("b_short_key", "refuse", f"short btree key (node at bucket {l0})",
         node_keys(m0, lambda ks: ks[0].__setitem__(1, ks[0][1] - 8)))

    # Leaf keys (in leaf l0).
    def leaf_key(i, fn):
        return node_keys(l0, lambda ks: fn(ks[i]))

    ereason = f"invalid extent key in btree node at bucket {l0}"
    case("l_extent_past_bucket", "refuse", ereason,
         leaf_key(0, lambda k: k.__setitem__(2, with_offset(k[2],
                                                            bucket_of_ptr(k[2]) * B + B - 4))))
    case("l_extent_past_end", "refuse", ereason,
         leaf_key(0, lambda k: k.__setitem__(2, ptr_bucket(k[2], nb + 1))))
    case("l_extent_before_first", "refuse", ereason,
         leaf_key(0, lambda k: k.__setitem__(2, ptr_bucket(k[2], 0))))
    case("l_size_gt_offset", "refuse", ereason,
         leaf_key(0, lambda k: (k.__setitem__(0, set_size(k[0], 16)), k.__setitem__(1, 8))))
    # A zero-size key is a deleted one: skipped.
    case("l_zero_size", "ok", "", leaf_key(0, lambda k: k.__setitem__(0, set_size(k[0], 0))))

    def overlap(ks):
        ks[1][1] = ks[0][1]
    case("l_overlap", "any", "", node_keys(l0, overlap))
    nreason = f"btree node at bucket {l0}: "
    # The last key claims 3 pointers: it runs past the bset.
    case("n_bad_key", "refuse", nreason + "bad key",
         node_keys(l0, lambda ks: ks[-1].__setitem__(0, ks[-1][0] | (3 << 60))))
    case("n_seq_zero", "refuse", nreason + "bad btree header", node_writes(l0, seq=0))
    case("n_keys_overflow", "refuse", nreason + "bad btree header",
         node_writes(l0, nkeys=0xFFFFFFF0, fix_csum=False))
    case("n_bad_magic", "refuse", nreason + "bad magic", node_writes(l0, magic=img.bmagic ^ 1))
    case("n_version2", "refuse", nreason + "unsupported bset version", node_writes(l0, version=2))
    w = node_writes(l0)
    raw = bytearray(w[0][1])
    raw[40] ^= 1
    case("n_bad_csum", "refuse", nreason + "bad checksum", [(w[0][0], bytes(raw))])
    n0 = img.nodes[l0]
    after = l0 * mb.BUCKET_BYTES + -(-(32 + 8 * sum(len(k) for k in n0["keys"])) // 512) * 512
    case("n_empty_set", "refuse", nreason + "empty set",
         [(after, bytes(bset(img.bmagic, n0["seq"], n0["ptr"], [])))])
    # The node's seq in a block past where its bsets end.
    case("n_corrupted", "refuse", nreason + "corrupted btree",
         [(after + 512 + 16, struct.pack("<Q", n0["seq"]))])
    # A bset of another seq after the first: stale, ignored.
    case("n_stale_bset", "ok", "",
         [(after, bytes(bset(img.bmagic, n0["seq"] ^ 1, n0["ptr"], n0["keys"][0])))])

    # --- Superblock (checksum recomputed). ---
    def sbpatch(fn):
        sb = bytearray(img.sb)
        fn(sb)
        end = 0xD0 + 8 * img.nj
        struct.pack_into("<Q", sb, 0, mb.crc64_we(bytes(sb[8:end])))
        return [(4096, bytes(sb[:end]))]

    # A fresh cache (CACHE_SYNC clear) whose seq cannot advance: refused before any write.
    case("s_fresh_seq_max", "refuse",
         f"initialising a new cache set failed: superblock seq {U64_MAX} cannot advance",
         sbpatch(lambda sb: struct.pack_into("<QQ", sb, 0x68, 0, U64_MAX)))
    case("s_sync_seq_max", "any", "", sbpatch(lambda sb: struct.pack_into("<Q", sb, 0x70, U64_MAX)))

    # A fresh cache whose first bucket leaves no room for a fresh set's journal: the superblock
    # is valid (first_bucket + journal buckets <= nbuckets with no journal buckets yet).
    def no_room(sb):
        struct.pack_into("<Q", sb, 0x68, 0)
        struct.pack_into("<HH", sb, 0xCC, nb - 4, 0)
        struct.pack_into("<Q", sb, 0, mb.crc64_we(bytes(sb[8:0xD0])))
    sb = bytearray(img.sb)
    no_room(sb)
    case("s_fresh_no_room", "refuse",
         "initialising a new cache set failed: no room for the cache set's metadata",
         [(4096, bytes(sb[:0xD0]))])

    with open(os.path.join(out, "cases"), "w") as fc:
        for name, outcome, reason, writes in cases:
            fc.write(f"{name} {outcome} {reason}".rstrip() + "\n")
            with open(os.path.join(out, name + ".patch"), "w") as f:
                for off, data in writes:
                    f.write(f"bytes {off} {data.hex()}\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
