// SPDX-License-Identifier: GPL-2.0

//! The fuzz harnesses: one function per target, each feeding bytes read from disk to the
//! `src/format` parsers and to the pure steps that registration runs on what they decode.
//!
//! Shared by the cargo-fuzz crate (`tests/fuzz`, nightly, coverage-guided) and by the stable
//! replay test (`fuzz_replay_test`), which runs every input of `tests/fuzz/corpus/` and
//! `tests/fuzz/crashes/` through the same functions in `make check`. A harness returns
//! normally on any input: a panic, including an arithmetic overflow (both builds check
//! overflow, as the kernel's `CONFIG_RUST_OVERFLOW_CHECKS` does), is a bug in the code under
//! test. The few assertions are properties that hold for every input (an encoder's output
//! decodes to what it encoded, the chunked extent map equals the flat one, a fresh set's
//! pointers name the buckets it writes).
//!
//! The parsers check a CRC-64 before anything else, so random bytes mostly stop there. Every
//! harness that parses a checksummed structure therefore parses the input twice: as it is, and
//! with its checksums (and magics) recomputed over the mutated bytes, which takes the fuzzer
//! past the checksum into the validation behind it.
//!
//! Inputs start with a few bytes of parameters (the device or cache geometry the structure
//! is read with, see each target), then the structure's bytes. A length parameter zero-pads
//! the structure to a metadata buffer's size, so a corpus can hold real structures without
//! their zero tails and keep their checksums valid.

use crate::format::alloc::{self, Bucket, PickState, Policy};
use crate::format::backing::{self, BdevState, CacheMode};
use crate::format::bkey::{gen_after, Bkey, MAX_PTRS};
use crate::format::bset::{self, walk_node, BsetHeader, Keys, BSET_VERSION};
use crate::format::chunked::{Chunk, ChunkedList, ChunkedRef};
use crate::format::crc64::bch_crc64;
use crate::format::extents::{self, Extent, ExtentList};
use crate::format::gc_policy;
use crate::format::geometry::{Geometry, SetMagic};
use crate::format::init::FreshLayout;
use crate::format::journal::{next_seq, replay_order, scan_bucket, EntryPos};
use crate::format::jset::{JsetHeader, JSET_HEADER, JSET_MAX_BYTES};
use crate::format::prio::{self, PrioHeader, PRIO_HEADER};
use crate::format::superblock::{
    self, DeviceGeometry, FeatureKind, FeaturesDisplay, Superblock, UuidDisplay, SB_SIZE,
};
use crate::format::uuid::{convert_v0, UuidEntry, UUID_ENTRY_BYTES};
use core::cmp::Ordering;
use core::fmt::Write;

/// A harness: takes any bytes, returns normally.
pub type Harness = fn(&[u8]);

/// Every target: its name (the file `tests/fuzz/fuzz_targets/<name>.rs` and the corpus
/// directory `tests/fuzz/corpus/<name>/`) and its harness.
pub const TARGETS: &[(&str, Harness)] = &[
    ("superblock", superblock),
    ("geometry", geometry),
    ("bkey", bkey),
    ("bset", bset),
    ("jset", jset),
    ("journal", journal),
    ("prio", prio),
    ("uuid", uuid),
    ("extents", extents),
];

/// Largest buffer a length parameter pads to (64 KiB: a metadata bucket of the fixtures).
pub const MAX_PAD: usize = 64 << 10;

/// Parameters read from the front of an input; missing bytes read as zero.
pub struct Params<'a> {
    data: &'a [u8],
}

impl<'a> Params<'a> {
    /// Parameters at the front of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Params { data }
    }

    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        let n = N.min(self.data.len());
        b[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        b
    }

    /// One byte.
    pub fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }

    /// A little-endian u16.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }

    /// A little-endian u32.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }

    /// A little-endian u64.
    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }

    /// The bytes after the parameters.
    pub fn rest(self) -> &'a [u8] {
        self.data
    }
}

/// A block size in bytes from one parameter byte: 512, 1024, 2048 or 4096.
pub fn block_bytes(p: u8) -> usize {
    512 << (p % 4)
}

/// `data` zero-padded to `512 << (shift % 8)` bytes (at most [`MAX_PAD`]), or as it is if
/// longer.
pub fn padded(data: &[u8], shift: u8) -> Vec<u8> {
    let len = (512usize << (shift % 8)).min(MAX_PAD).max(data.len());
    let mut v = data.to_vec();
    v.resize(len, 0);
    v
}

/// The cache geometry keys are checked against: `bucket_size` (a power of two of sectors, 0
/// for the parameter byte 255), `nbuckets` and `first_bucket`.
#[derive(Clone, Copy, Debug)]
pub struct KeyGeom {
    /// Bucket size in sectors.
    pub bucket_size: u64,
    /// Number of buckets.
    pub nbuckets: u64,
    /// First bucket.
    pub first_bucket: u64,
}

impl KeyGeom {
    /// Seven parameter bytes: bucket shift, nbuckets (u32), first bucket (u16).
    pub fn read(p: &mut Params<'_>) -> Self {
        let shift = p.u8();
        KeyGeom {
            bucket_size: if shift == 255 { 0 } else { 1 << (shift % 32) },
            nbuckets: u64::from(p.u32()),
            first_bucket: u64::from(p.u16()),
        }
    }

    /// The bucket of cache sector `sector`, as the kernel computes it.
    fn bucket_of(&self, sector: u64) -> u64 {
        sector.checked_div(self.bucket_size).unwrap_or(u64::MAX)
    }

    /// The generation of bucket `b` the harness pretends the prio chain gave (something
    /// deterministic that makes some pointers stale and others live).
    fn gen(&self, b: u64) -> Option<u8> {
        (b < self.nbuckets).then_some((b % 7) as u8)
    }
}

// ---------------------------------------------------------------------------------------------
// Keys and extents.

/// A key's extent: start and end in the map of all devices, live pointer and generation, dirty.
type KeyExtent = (u64, u64, Option<(u64, u8)>, bool);

/// A key's extent in the map of all devices, as the index builds it (`extent_of`): `None` if
/// the position does not fit the map; the pointer only if live (available, generation
/// current).
fn extent_of(k: &Bkey, g: &KeyGeom) -> Option<KeyExtent> {
    let start = extents::key(k.inode(), k.start()?)?;
    let end = extents::key(k.inode(), k.offset())?;
    let live = k.ptrs() > 0
        && k.ptr_available(0)
        && g.gen(g.bucket_of(k.ptr_offset(0))) == Some(k.ptr_gen(0));
    Some((
        start,
        end,
        live.then(|| (k.ptr_offset(0), k.ptr_gen(0))),
        k.dirty(),
    ))
}

/// Everything a single decoded key supports, with the properties that hold for any key.
fn check_key(k: &Bkey, g: &KeyGeom) {
    let mut words = [0u64; 2 + MAX_PTRS];
    let n = k.encode(&mut words).expect("a key fits 2 + MAX_PTRS words");
    assert_eq!(n, k.u64s());
    assert_eq!(
        Bkey::decode(&words[..n]),
        Some(*k),
        "key decode(encode(k)) == k"
    );
    let _ = (
        k.inode(),
        k.size(),
        k.dirty(),
        k.csum(),
        k.offset(),
        k.start(),
    );
    for i in 0..k.ptrs() {
        let _ = (
            k.ptr_gen(i),
            k.ptr_offset(i),
            k.ptr_dev(i),
            k.ptr_available(i),
        );
        let p = Bkey::make_ptr(k.ptr_gen(i), k.ptr_offset(i), k.ptr_dev(i));
        assert_eq!(
            p & !(1 << 63),
            k.ptr[i] & !(1 << 63),
            "pointer fields round trip"
        );
    }
    let _ = k.start_pos();
    let _ = k.extent_invalid(g.bucket_size, g.nbuckets, g.first_bucket);
    let _ = extent_of(k, g);
}

/// `bch_cut_front` and `bch_cut_back` of `k` at `at`, with the positions they must leave.
fn check_cuts(k: &Bkey, at: &Bkey) {
    let mut f = *k;
    match f.cut_front(at) {
        Some(true) => assert_eq!(
            f.start_pos().map(|s| s.cmp_pos(at)),
            Some(Ordering::Equal),
            "cut_front leaves the key starting at the cut"
        ),
        Some(false) => assert_eq!(f, *k),
        None => assert_eq!(f, *k, "a refused cut_front leaves the key unchanged"),
    }
    let mut b = *k;
    match b.cut_back(at) {
        Some(true) => assert_eq!(
            b.cmp_pos(at),
            Ordering::Equal,
            "cut_back leaves the key ending at the cut"
        ),
        Some(false) => assert_eq!(b, *k),
        None => assert_eq!(b, *k, "a refused cut_back leaves the key unchanged"),
    }
}

/// A growable chunked leaf, as the kernel's `LeafKeys` keeps one (pool and order grow by
/// doubling when an insert reports `Full`).
#[derive(Default)]
struct Leaf {
    pool: Vec<Chunk>,
    order: Vec<u32>,
    used: usize,
    len: usize,
}

impl Leaf {
    fn insert(&mut self, start: u64, end: u64, ptr: Option<(u64, u8)>, dirty: bool) {
        for _ in 0..2 {
            let mut l =
                ChunkedList::from_parts(&mut self.pool, &mut self.order, self.used, self.len);
            let r = l.insert(start, end, ptr, dirty);
            self.used = l.used();
            self.len = l.len();
            if r.is_ok() {
                return;
            }
            let cap = (self.used + 2).max(self.pool.len() * 2).max(4);
            self.pool.resize(cap, Chunk::default());
            self.order.resize(cap, 0);
        }
        panic!("a chunked insert failed with a free slot");
    }

    fn view(&self) -> ChunkedRef<'_> {
        ChunkedRef::new(&self.pool, &self.order[..self.used], self.len)
    }

    fn retain(&mut self, keep: &dyn Fn(&Extent) -> bool) {
        let mut l = ChunkedList::from_parts(&mut self.pool, &mut self.order, self.used, self.len);
        l.retain(keep);
        self.used = l.used();
        self.len = l.len();
    }
}

/// Inserts the extents of `keys` (newest last) into a flat [`ExtentList`] and a chunked leaf,
/// checks that both hold the same sorted, non-overlapping extents and answer lookups alike,
/// then marks them into buckets as GC does and picks moving-GC candidates.
fn check_extents(keys: &[Bkey], g: &KeyGeom) {
    let mut buf = vec![Extent::default(); 2 * keys.len() + 1];
    let mut flat = ExtentList::new(&mut buf);
    let mut leaf = Leaf::default();
    let mut probes = Vec::new();
    for k in keys {
        if k.size() == 0 || k.extent_invalid(g.bucket_size, g.nbuckets, g.first_bucket) {
            continue;
        }
        let Some((start, end, ptr, dirty)) = extent_of(k, g) else {
            continue;
        };
        flat.insert(start, end, ptr, dirty)
            .expect("2n + 1 entries hold n inserts");
        leaf.insert(start, end, ptr, dirty);
        probes.extend([start, end.saturating_sub(1), end]);
    }
    let flat_ext = flat.as_slice();
    let chunked: Vec<Extent> = leaf.view().iter().copied().collect();
    assert_eq!(flat_ext, &chunked[..], "chunked leaf == flat extent list");
    assert_eq!(leaf.view().len(), flat_ext.len());
    for w in flat_ext.windows(2) {
        assert!(
            w[0].start < w[0].end && w[0].end <= w[1].start,
            "sorted, disjoint"
        );
    }
    for &p in &probes {
        assert_eq!(leaf.view().lookup(p, 1 << 20), flat.lookup(p, 1 << 20));
        let e = p.saturating_add(8);
        assert_eq!(
            leaf.view().overlaps(p, e),
            extents::overlaps(flat_ext, p, e)
        );
        assert_eq!(
            leaf.view().holds_dirty(p, e),
            extents::holds_dirty(flat_ext, p, e)
        );
    }
    let _ = (leaf.view().first(), leaf.view().last());

    // GC marking and moving-GC candidates over (at most 4096 of) the buckets.
    let n = g.nbuckets.min(4096) as usize;
    let mut buckets = vec![Bucket::default(); n];
    for e in flat_ext {
        gc_policy::mark_extent(&mut buckets, g.bucket_size, e);
    }
    let mut scratch = vec![0u32; n];
    let limit = gc_policy::moving_limit(g.bucket_size, 4, n);
    let _ =
        gc_policy::moving_candidates(&buckets, |i| i % 5 == 0, g.bucket_size, limit, &mut scratch);

    // Dropping the dirty extents keeps the rest in order.
    leaf.retain(&|e| !e.dirty);
    let kept: Vec<Extent> = flat_ext.iter().filter(|e| !e.dirty).copied().collect();
    let after: Vec<Extent> = leaf.view().iter().copied().collect();
    assert_eq!(kept, after, "retain keeps exactly the accepted extents");
}

/// The keys packed in `raw`, as a bset or journal entry holds them (decoding stops at the
/// first malformed key).
fn packed_keys(raw: &[u8]) -> Vec<Bkey> {
    Keys::new(raw).map_while(Result::ok).collect()
}

/// Checks every key of `keys` and every cut between neighbours.
fn check_keys(keys: &[Bkey], g: &KeyGeom) {
    for k in keys {
        check_key(k, g);
    }
    for w in keys.windows(2) {
        check_cuts(&w[0], &w[1]);
        check_cuts(&w[1], &w[0]);
        let _ = w[0].cmp_pos(&w[1]);
        let _ = gen_after(w[0].ptr_gen(0), w[1].ptr_gen(0));
    }
}

/// Target `bkey`: [`KeyGeom`] (7 bytes), then packed keys.
pub fn bkey(data: &[u8]) {
    let mut p = Params::new(data);
    let g = KeyGeom::read(&mut p);
    let raw = p.rest();
    let keys = packed_keys(raw);
    check_keys(&keys, &g);
    // Pointer keys as an interior node sorts them: by position, newest last.
    let mut children: Vec<(Bkey, usize)> = keys.iter().copied().zip(0..).collect();
    children.sort_unstable_by(|a, b| a.0.cmp_pos(&b.0).then(a.1.cmp(&b.1)));
    for k in Keys::new(raw) {
        let _ = k.map_err(|e| e.reason());
    }
}

/// Target `extents`: [`KeyGeom`] (7 bytes), then packed keys, inserted in order into the
/// extent map (as a leaf read from disk or a journal replay does).
pub fn extents(data: &[u8]) {
    let mut p = Params::new(data);
    let g = KeyGeom::read(&mut p);
    let keys = packed_keys(p.rest());
    check_extents(&keys, &g);
}

// ---------------------------------------------------------------------------------------------
// Superblock, geometry and a fresh set's layout.

/// The device geometry parameters: sectors (u64), logical block size (one byte: 512 to 4096).
fn device(p: &mut Params<'_>) -> DeviceGeometry {
    DeviceGeometry {
        sectors: p.u64(),
        logical_block_size: block_bytes(p.u8()) as u32,
    }
}

/// Everything a validated superblock is used for.
fn check_superblock(raw: &[u8], sb: &Superblock, geom: DeviceGeometry) {
    let _ = (sb.is_bdev(), sb.is_synchronous(), sb.data_offset());
    let mut s = String::new();
    for kind in [
        FeatureKind::Compat,
        FeatureKind::RoCompat,
        FeatureKind::Incompat,
    ] {
        let _ = write!(s, "{}", FeaturesDisplay(kind, sb.features(kind)));
    }
    let _ = write!(s, "{} {}", UuidDisplay(&sb.uuid), UuidDisplay(&sb.set_uuid));
    let _ = backing::trim(&sb.label);
    let _ = (
        CacheMode::from_flags(sb.flags).name(),
        BdevState::from_flags(sb.flags).name(),
    );
    let _ = Policy::from_sb((sb.flags >> 2) & 7).name();

    // Written back over the block it came from, it reads back the same.
    let mut out = raw.to_vec();
    if sb.write(&mut out).is_ok() {
        assert_eq!(
            Superblock::read(&out, geom).as_ref(),
            Ok(sb),
            "a superblock written back reads back the same"
        );
    }
    if !sb.is_bdev() {
        check_cache(sb, geom);
    }
}

/// A validated cache superblock: its geometry, and the metadata of a fresh set laid out on it,
/// which must read back with the parsers.
fn check_cache(sb: &Superblock, geom: DeviceGeometry) {
    let g = Geometry::new(sb);
    let _ = (
        g.meta_bucket_bytes(),
        g.btree_sectors(),
        g.fresh_journal_buckets(),
        g.gc_sectors(),
        g.free_fifo_size(),
        g.btree_reserve_size(u64::from(sb.njournal_buckets)),
        g.btree_reserve_size(0),
        g.free_inc_size(),
    );
    for s in [0, 1, g.bucket_size, u64::MAX] {
        let _ = g.bucket_of(s);
    }
    let magic = SetMagic::new(&sb.set_uuid);
    let Some(l) = FreshLayout::new(&g) else {
        return;
    };
    let _ = l.is_metadata(g.first_bucket);
    let kg = KeyGeom {
        bucket_size: g.bucket_size,
        nbuckets: g.nbuckets,
        first_bucket: g.first_bucket,
    };
    for (k, bucket) in [
        (l.uuid_key(&g), l.uuid_bucket),
        (l.root_key(&g), l.root_bucket),
    ] {
        check_key(&k, &kg);
        assert_eq!(
            g.bucket_of(k.ptr_offset(0)),
            bucket,
            "a fresh set's metadata pointer names its bucket"
        );
    }
    // Buffers are capped so that a huge bucket does not make every run slow.
    let meta = (g.meta_bucket_bytes() as usize).min(MAX_PAD);
    for i in [0, l.prio_buckets.saturating_sub(1)] {
        let mut buf = vec![0u8; meta];
        if l.prio_bucket(&g, &magic, i, &mut buf).is_some() {
            let h = prio::read_header(&buf, magic.pset()).expect("a fresh prio bucket reads");
            assert_eq!(h.seq, 1);
        }
    }
    let node = ((g.btree_sectors() * 512) as usize).min(MAX_PAD);
    let mut buf = vec![0u8; node];
    let bb = usize::from(sb.block_size) * 512;
    if l.root_node(&g, &magic, 0x5eed, &mut buf).is_some() {
        let root = l.root_key(&g);
        walk_node(&buf, bb, magic.bset(), root.ptr[0], |_| Ok(()))
            .expect("a fresh root node reads");
    }
    let mut buf = vec![0u8; bb.max(JSET_HEADER)];
    if l.journal_entry(&g, &magic, &mut buf).is_some() {
        let (h, _) = JsetHeader::read(&buf, magic.jset()).expect("a fresh journal entry reads");
        assert_eq!(
            (h.uuid_bucket, h.btree_root),
            (l.uuid_key(&g), l.root_key(&g))
        );
    }
    if let Some(s2) = l.superblock(sb) {
        let mut out = vec![0u8; SB_SIZE];
        s2.write(&mut out)
            .expect("a fresh set's superblock encodes");
        assert_eq!(
            Superblock::read(&out, geom).as_ref(),
            Ok(&s2),
            "a fresh set's superblock reads back"
        );
    }
}

/// Target `superblock`: device sectors (u64), logical block size (1 byte), then the 4 KiB
/// superblock block (zero-padded when shorter).
pub fn superblock(data: &[u8]) {
    let mut p = Params::new(data);
    let geom = device(&mut p);
    let rest = p.rest();
    let _ = Superblock::read(rest, geom).map_err(|e| e.reason());
    let mut raw = rest.to_vec();
    raw.resize(raw.len().max(SB_SIZE), 0);
    if let Ok(sb) = Superblock::read(&raw, geom) {
        check_superblock(&raw, &sb, geom);
    }
    // Checksum recomputed over the mutated bytes.
    if let Some(c) = superblock::checksum(&raw) {
        raw[..8].copy_from_slice(&c.to_le_bytes());
    }
    match Superblock::read(&raw, geom) {
        Ok(sb) => check_superblock(&raw, &sb, geom),
        Err(e) => {
            let _ = e.reason();
        }
    }
}

/// Target `geometry`: a superblock given field by field (so that most inputs are well
/// formed and reach the later rules), encoded with a valid checksum, validated against the
/// device, and everything derived from it. Layout: sectors (u64), logical block size (u8),
/// version (u8), incompat features (u8), bucket size (u32), nbuckets (u64), block size (u16),
/// first bucket (u16), journal buckets (u16), nr_in_set (u16), nr_this_dev (u16), flags (u64),
/// seq (u64).
pub fn geometry(data: &[u8]) {
    let mut p = Params::new(data);
    let geom = device(&mut p);
    let version = u64::from(p.u8() % 8);
    let incompat = u64::from(p.u8() % 8);
    let sb = Superblock {
        offset: superblock::SB_SECTOR,
        version,
        uuid: [0x11; 16],
        set_uuid: [0x22; 16],
        label: [0; superblock::SB_LABEL_SIZE],
        feature_compat: 0,
        feature_incompat: if version >= 5 { incompat } else { 0 },
        feature_ro_compat: 0,
        bucket_size: p.u32(),
        nbuckets: p.u64(),
        block_size: p.u16(),
        first_bucket: p.u16(),
        njournal_buckets: p.u16() % 300,
        nr_in_set: p.u16(),
        nr_this_dev: p.u16(),
        flags: p.u64(),
        seq: p.u64(),
        last_mount: 0,
    };
    let mut raw = vec![0u8; SB_SIZE];
    if sb.write(&mut raw).is_err() {
        return;
    }
    if let Ok(read) = Superblock::read(&raw, geom) {
        check_superblock(&raw, &read, geom);
    }
}

// ---------------------------------------------------------------------------------------------
// Btree nodes.

/// Recomputes the magic and checksum of every bset a walk of `node` would reach: the blocks
/// carrying the first bset's seq, each bset after the previous one's blocks.
fn fix_node(node: &mut [u8], bb: usize, magic: u64, ptr0: u64) {
    let Some(first) = BsetHeader::decode(node) else {
        return;
    };
    let blocks = node.len() / bb;
    let mut written = 0;
    while written < blocks {
        let off = written * bb;
        let Some(h) = BsetHeader::decode(&node[off..]) else {
            break;
        };
        if h.seq != first.seq || h.version > BSET_VERSION {
            break;
        }
        let Some(next) = written.checked_add(h.blocks(bb)).filter(|&n| n <= blocks) else {
            break;
        };
        node[off + 8..off + 16].copy_from_slice(&magic.to_le_bytes());
        if let Some(c) = bset::checksum(&node[off..], h.version, ptr0) {
            node[off..off + 8].copy_from_slice(&c.to_le_bytes());
        }
        written = next;
    }
}

/// Walks `node` as registration and a leaf read do, checking every key of every bset.
fn walk(node: &[u8], bb: usize, magic: u64, ptr0: u64, level: u8, g: &KeyGeom) {
    let mut keys = Vec::new();
    let r = walk_node(node, bb, magic, ptr0, |s| {
        let _ = (s.offset, s.header.bytes(), s.header.blocks(bb));
        for k in Keys::new(s.keys) {
            keys.push(k?);
        }
        Ok(())
    });
    match r {
        Err(e) => {
            let _ = e.reason();
        }
        Ok(_) => {
            check_keys(&keys, g);
            if level == 0 {
                check_extents(&keys, g);
            } else {
                // Children by position, newest last; position-zero keys are skipped.
                let mut children: Vec<(Bkey, usize)> = keys
                    .iter()
                    .filter(|k| k.cmp_pos(&Bkey::zero()) != Ordering::Equal)
                    .copied()
                    .zip(0..)
                    .collect();
                children.sort_unstable_by(|a, b| a.0.cmp_pos(&b.0).then(a.1.cmp(&b.1)));
            }
        }
    }
}

/// Target `bset`: block size (1 byte), level (1 byte: 0 for a leaf), node length (1 byte, see
/// [`padded`]), [`KeyGeom`] (7 bytes), the node's pointer word (u64, the version-1 checksum
/// seed), then the node image. The set's bset magic is the first bset's.
pub fn bset(data: &[u8]) {
    let mut p = Params::new(data);
    let bb = block_bytes(p.u8());
    let level = p.u8() % 2;
    let len = p.u8();
    let g = KeyGeom::read(&mut p);
    let ptr0 = p.u64();
    let mut node = padded(p.rest(), len);
    let magic = BsetHeader::decode(&node).map_or(0, |h| h.magic);
    walk(&node, bb, magic, ptr0, level, &g);
    fix_node(&mut node, bb, magic, ptr0);
    walk(&node, bb, magic, ptr0, level, &g);
}

// ---------------------------------------------------------------------------------------------
// Journal.

/// Recomputes the checksum of the entry at the start of `raw` if its length fits.
fn fix_jset(raw: &mut [u8]) {
    if raw.len() < JSET_HEADER {
        return;
    }
    let keys = u32::from_le_bytes([raw[28], raw[29], raw[30], raw[31]]) as usize;
    let end = JSET_HEADER + 8 * keys;
    if end <= raw.len() && end <= JSET_MAX_BYTES {
        let c = bch_crc64(&raw[8..end]);
        raw[..8].copy_from_slice(&c.to_le_bytes());
    }
}

/// The stored magic of the entry at the start of `raw` (0 if too short).
fn stored_magic(raw: &[u8]) -> u64 {
    raw.get(8..16)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
}

/// A decoded entry: its padded keys and keys, and a write of it that must read back the same.
fn check_jset(h: &JsetHeader, keys: &[u8], g: &KeyGeom) {
    let _ = (h.bytes(), next_seq(h.seq), h.btree_level, h.prio_bucket);
    check_key(&h.uuid_bucket, g);
    check_key(&h.btree_root, g);
    check_keys(&packed_keys(keys), g);
    let mut h2 = *h;
    let mut out = vec![0u8; JSET_HEADER + keys.len()];
    if h2.write(&mut out, keys).is_some() {
        let (r, k) = JsetHeader::read(&out, h.magic).expect("a written entry reads");
        assert_eq!(
            (r, k),
            (h2, keys),
            "an entry written back reads back the same"
        );
    }
}

/// Target `jset`: [`KeyGeom`] (7 bytes), then one journal entry (magic: its own).
pub fn jset(data: &[u8]) {
    let mut p = Params::new(data);
    let g = KeyGeom::read(&mut p);
    let mut raw = p.rest().to_vec();
    let magic = stored_magic(&raw);
    for pass in 0..2 {
        if pass == 1 {
            fix_jset(&mut raw);
        }
        match JsetHeader::read(&raw, magic) {
            Ok((h, keys)) => check_jset(&h, keys, &g),
            Err(e) => {
                let _ = e;
            }
        }
    }
}

/// What registration does with a journal bucket: scan it, take the newest entry, check that
/// its live range is complete, check the live entries' keys and replay them into the map.
fn replay(bucket: &[u8], bb: usize, magic: u64, g: &KeyGeom) {
    let mut seqs = Vec::new();
    let mut newest: Option<JsetHeader> = None;
    let mut entries = Vec::new();
    scan_bucket(bucket, bb, magic, |_, h, keys| {
        seqs.push(h.seq);
        if newest.is_none_or(|n| h.seq > n.seq) {
            newest = Some(*h);
        }
        entries.push((*h, keys));
    });
    for (h, keys) in &entries {
        check_jset(h, keys, g);
    }
    let Some(newest) = newest else {
        return;
    };
    let mut pos: Vec<EntryPos> = seqs
        .iter()
        .enumerate()
        .map(|(i, &seq)| EntryPos {
            seq,
            bucket: 0,
            offset: i,
        })
        .collect();
    if replay_order(&mut pos, newest.last_seq, newest.seq).is_err() {
        return;
    }
    let mut live: Vec<(u64, usize, Bkey)> = Vec::new();
    for (h, keys) in &entries {
        if h.seq >= newest.last_seq && h.seq <= newest.seq {
            for (n, k) in packed_keys(keys).into_iter().enumerate() {
                live.push((h.seq, n, k));
            }
        }
    }
    live.sort_unstable_by_key(|(seq, n, _)| (*seq, *n));
    let keys: Vec<Bkey> = live.into_iter().map(|(_, _, k)| k).collect();
    check_extents(&keys, g);
}

/// Target `journal`: block size (1 byte), bucket length (1 byte, see [`padded`]), [`KeyGeom`]
/// (7 bytes), then a journal bucket (magic: the first entry's). The second pass recomputes the
/// checksum of every block that starts with the magic, last block first (an entry may cover
/// the blocks after it).
pub fn journal(data: &[u8]) {
    let mut p = Params::new(data);
    let bb = block_bytes(p.u8());
    let len = p.u8();
    let g = KeyGeom::read(&mut p);
    let mut bucket = padded(p.rest(), len);
    let magic = stored_magic(&bucket);
    replay(&bucket, bb, magic, &g);
    let blocks = bucket.len() / bb;
    for b in (0..blocks).rev() {
        let off = b * bb;
        if stored_magic(&bucket[off..]) == magic {
            fix_jset(&mut bucket[off..]);
        }
    }
    replay(&bucket, bb, magic, &g);
}

// ---------------------------------------------------------------------------------------------
// Prios and the allocator.

/// A prio bucket that read: its entries as registration fills them, then what the allocator
/// does with them, and a write of the same entries that must read back the same.
fn check_prio(raw: &[u8], h: &PrioHeader, magic: u64, nbuckets: usize, first: u64, seed: u64) {
    let _ = prio::next_seq(h.seq);
    let per = prio::entries_per_bucket(raw.len());
    // (At most 4096 buckets: the allocator's sorts and sweeps are linear or worse.)
    let n = nbuckets.min(per).min(4096);
    let mut buckets = vec![Bucket::default(); n];
    for (i, b) in buckets.iter_mut().enumerate() {
        let (prio, gen) = prio::entry(raw, i).unwrap_or((0, 0));
        b.prio = prio;
        b.gen = gen;
        b.last_gc = gen.wrapping_sub((i % 100) as u8);
        b.sectors = (i % 300) as u16;
        b.mark = (i % 4) as u8;
        let _ = (b.gc_gen(), b.can_invalidate(), b.lru_key());
    }
    let mut out = vec![0u8; raw.len()];
    for (i, b) in buckets.iter().enumerate() {
        prio::set_entry(&mut out, i, b.prio, b.gen).expect("an entry within the bucket");
    }
    prio::write_header(&mut out, magic, h).expect("a header fits");
    let back = prio::read_header(&out, magic).expect("a written prio bucket reads");
    assert_eq!(back, *h, "a prio header written back reads back the same");

    let mut rng = seed | 1;
    for policy in Policy::ALL {
        let mut bs = buckets.clone();
        let mut state = PickState {
            policy,
            first,
            cursor: seed,
        };
        let mut scratch = vec![0u32; bs.len()];
        let mut taken = Vec::new();
        let mut rand = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let want = (seed % 64) as usize;
        let t = alloc::pick(
            &mut state,
            &mut bs,
            want,
            &mut scratch,
            &mut rand,
            &mut |b| taken.push(b),
        );
        assert_eq!(t, taken.len());
        assert!(taken.iter().all(|&b| b >= first && (b as usize) < bs.len()));
    }
}

/// Target `prio`: bucket length (1 byte, see [`padded`]), number of buckets (u32), first
/// bucket (u16), a seed for the allocator (u64), then the prio bucket (magic: its own).
pub fn prio(data: &[u8]) {
    let mut p = Params::new(data);
    let len = p.u8();
    let nbuckets = p.u32() as usize;
    let first = u64::from(p.u16());
    let seed = p.u64();
    let mut raw = padded(p.rest(), len);
    let magic = stored_magic(&raw);
    if let Ok(h) = prio::read_header(&raw, magic) {
        check_prio(&raw, &h, magic, nbuckets, first, seed);
    }
    if raw.len() >= PRIO_HEADER {
        let c = bch_crc64(&raw[8..]);
        raw[..8].copy_from_slice(&c.to_le_bytes());
    }
    match prio::read_header(&raw, magic) {
        Ok(h) => check_prio(&raw, &h, magic, nbuckets, first, seed),
        Err(e) => {
            let _ = e;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The uuid table (no checksum).

/// Target `uuid`: mode (1 byte: even for a version-1 table, odd for a version-0 one, which is
/// converted in place first, as for a journal of version 0), table length (1 byte, see
/// [`padded`]), then the table.
pub fn uuid(data: &[u8]) {
    let mut p = Params::new(data);
    let v0 = p.u8() % 2 == 1;
    let len = p.u8();
    let mut buf = padded(p.rest(), len);
    if v0 {
        convert_v0(&mut buf);
    }
    let mut s = String::new();
    for slot in buf.chunks_exact(UUID_ENTRY_BYTES) {
        let Some(e) = UuidEntry::decode(slot) else {
            continue;
        };
        let _ = (
            e.is_empty(),
            e.is_invalid(),
            e.is_flash_only(),
            backing::trim(&e.label),
        );
        let _ = write!(s, "{}", UuidDisplay(&e.uuid));
        let mut out = [0u8; UUID_ENTRY_BYTES];
        e.encode(&mut out).expect("a slot fits 128 bytes");
        assert_eq!(
            UuidEntry::decode(&out),
            Some(e),
            "a slot written back reads back"
        );
        s.clear();
    }
}
