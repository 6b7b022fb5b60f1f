// SPDX-License-Identifier: GPL-2.0

//! Reading an initialised cache set's metadata at registration: the journal, the bucket
//! generations, the uuid table, and a check of the whole btree.
//!
//! [`read`] is the read side of `run_cache_set()` for a cache whose superblock is marked
//! synchronous (written by rbcache or by the C module); it writes nothing. [`initialise`]
//! writes the metadata of a fresh make-bcache cache. Every structure is
//! checked as 6.12 checks it — journal entries by magic, size and checksum, prio buckets by
//! checksum and magic, btree nodes bset by bset with the seeded checksum, every key for
//! validity — and any failure refuses the registration with a reason instead of failing later.
//!
//! Beyond 6.12: a journal entry lost in the middle of the live range (a bad entry followed by
//! valid ones) is reported as missing entries rather than silently ending the journal there.

use core::cmp::Ordering;
use core::fmt;
use kernel::alloc::AllocError;
use kernel::prelude::*;

use crate::format::alloc::{Bucket, GC_MARK_METADATA};
use crate::format::bkey::{gen_after, Bkey};
use crate::format::bset::{walk_node, Keys, NodeError};
use crate::format::gc_policy::mark_extent;
use crate::format::geometry::{Geometry, SetMagic};
use crate::format::init::FreshLayout;
use crate::format::journal::{replay_order, scan_bucket, EntryPos, JournalError};
use crate::format::jset::JsetHeader;
use crate::format::prio::{self, PrioError};
use crate::format::superblock::{Superblock, SB_SECTOR, SB_SIZE};
use crate::format::uuid::{convert_v0, UuidEntry, UUID_ENTRY_BYTES};
use crate::index::{node_end, DiskNodes, Index, Leaf, LeafKeys, Node, CACHE_LIMIT};
use crate::kabi::bdev::BdevFile;
use crate::kabi::bio::WriteKind;
use crate::kabi::random::random_u64;
use crate::kabi::random::real_seconds;

/// Deepest btree accepted (6.12 trees of any real cache are far shallower).
const MAX_LEVEL: u16 = 8;

/// What registration learned from the metadata.
#[derive(Clone, Copy, Default)]
pub(crate) struct SetMetadata {
    /// Newest journal entry.
    pub(crate) journal_seq: u64,
    /// Journal entries still needed for replay (`last_seq` to newest).
    pub(crate) journal_live: u64,
    /// Level of the btree root.
    pub(crate) root_level: u16,
    /// Btree nodes found.
    pub(crate) btree_nodes: u64,
    /// Valid leaf keys found in the btree and the live journal.
    pub(crate) keys: u64,
    /// Flash-only volumes in the uuid table.
    pub(crate) flash_volumes: u32,
}

/// Why a cache set's metadata was refused.
pub(crate) enum MetaError {
    /// A read failed or memory ran out.
    Io(Error),
    /// A journal problem.
    Journal(JournalError),
    /// A key in the live journal is invalid.
    JournalKey,
    /// A prio bucket number is out of range.
    PrioPastEnd(u64),
    /// A prio bucket failed its check.
    Prio(u64, PrioError),
    /// The prio chain starting at this bucket has seq `u64::MAX`: no prio write can follow.
    PrioSeq(u64),
    /// A fresh cache's superblock seq is `u64::MAX`: it cannot be written again.
    SuperSeq,
    /// The uuid-bucket key is invalid.
    UuidKey,
    /// The root is deeper than [`MAX_LEVEL`].
    TooDeep(u16),
    /// A btree node pointer is invalid or past the end of the device.
    BadBtreePtr(u16),
    /// A btree node failed to read.
    Node(u64, NodeError),
    /// A leaf key is invalid.
    BadExtent(u64),
    /// A node holds keys past its parent's key.
    ShortKey(u64),
    /// The btree node in this bucket is reached a second time: a pointer leads back to an
    /// ancestor, or two pointers share a node.
    Cycle(u64),
    /// No room for a fresh set's metadata, or it would not encode.
    NoRoom,
}

impl MetaError {
    /// The errno registration returns.
    pub(crate) fn errno(&self) -> Error {
        match self {
            MetaError::Io(e) => *e,
            _ => EINVAL,
        }
    }
}

impl From<Error> for MetaError {
    fn from(e: Error) -> Self {
        MetaError::Io(e)
    }
}

impl From<AllocError> for MetaError {
    fn from(_: AllocError) -> Self {
        MetaError::Io(ENOMEM)
    }
}

impl fmt::Display for MetaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetaError::Io(e) => write!(f, "IO error reading metadata ({})", e.to_errno()),
            MetaError::Journal(JournalError::Empty) => f.write_str("No journal entries found"),
            MetaError::Journal(JournalError::BadLastSeq) => {
                f.write_str("journal last_seq is after the newest entry")
            }
            MetaError::Journal(JournalError::SeqExhausted) => {
                write!(f, "journal seq {} cannot advance", u64::MAX)
            }
            MetaError::Journal(JournalError::Missing { from, to }) => {
                write!(f, "journal entries {}-{} missing", from, to)
            }
            MetaError::JournalKey => f.write_str("invalid key in journal"),
            MetaError::PrioPastEnd(b) => write!(f, "prio bucket {} past the end of the cache", b),
            MetaError::Prio(b, PrioError::BadMagic) => {
                write!(f, "bad magic reading priorities (bucket {})", b)
            }
            MetaError::Prio(b, _) => write!(f, "bad csum reading priorities (bucket {})", b),
            MetaError::PrioSeq(b) => {
                write!(f, "prio seq {} cannot advance (bucket {})", u64::MAX, b)
            }
            MetaError::SuperSeq => write!(f, "superblock seq {} cannot advance", u64::MAX),
            MetaError::UuidKey => f.write_str("invalid uuid bucket pointer"),
            MetaError::TooDeep(l) => write!(f, "btree root level {} too deep", l),
            MetaError::BadBtreePtr(l) => {
                write!(
                    f,
                    "invalid btree node pointer at level {} (past the end of the device?)",
                    l
                )
            }
            MetaError::Node(b, e) => write!(f, "btree node at bucket {}: {}", b, e.reason()),
            MetaError::BadExtent(b) => {
                write!(f, "invalid extent key in btree node at bucket {}", b)
            }
            MetaError::ShortKey(b) => write!(f, "short btree key (node at bucket {})", b),
            MetaError::Cycle(b) => write!(
                f,
                "btree node at bucket {} reached twice (a pointer loops back or is shared)",
                b
            ),
            MetaError::NoRoom => f.write_str("no room for the cache set's metadata"),
        }
    }
}

/// Initialises the metadata of the fresh cache `bdev` (superblock `sb`, `CACHE_SYNC` clear, read
/// from the 4 KiB block `raw_sb`) as 6.12 does on first registration, and returns the new
/// superblock, which is written last, with `CACHE_SYNC` set (see [`FreshLayout`]).
pub(crate) fn initialise(
    bdev: &BdevFile,
    sb: &Superblock,
    raw_sb: &mut [u8],
) -> Result<Superblock, MetaError> {
    let g = Geometry::new(sb);
    let magic = SetMagic::new(&sb.set_uuid);
    let l = FreshLayout::new(&g).ok_or(MetaError::NoRoom)?;
    // Refused before anything is written.
    let mut new_sb = l.superblock(sb).ok_or(MetaError::SuperSeq)?;

    let mut buf = KVVec::from_elem(0u8, g.meta_bucket_bytes() as usize, GFP_KERNEL)?;
    for i in 0..l.prio_buckets {
        buf.fill(0);
        l.prio_bucket(&g, &magic, i, &mut buf)
            .ok_or(MetaError::NoRoom)?;
        bdev.write_sync(bucket_sector(&g, l.prio_first + i), &buf, WriteKind::Meta)?;
    }
    // An empty uuid table.
    buf.fill(0);
    bdev.write_sync(bucket_sector(&g, l.uuid_bucket), &buf, WriteKind::Meta)?;
    drop(buf);

    // An empty root leaf; the rest of the node is zeroed so no stale block can match its seq.
    let mut node = KVVec::from_elem(0u8, (g.btree_sectors() * 512) as usize, GFP_KERNEL)?;
    l.root_node(&g, &magic, random_u64() | 1, &mut node)
        .ok_or(MetaError::NoRoom)?;
    bdev.write_sync(bucket_sector(&g, l.root_bucket), &node, WriteKind::FlushFua)?;
    drop(node);

    // The first journal entry, in a zeroed first journal bucket, durable before the superblock.
    let mut jbuf = KVVec::from_elem(0u8, (g.bucket_size * 512) as usize, GFP_KERNEL)?;
    l.journal_entry(&g, &magic, &mut jbuf)
        .ok_or(MetaError::NoRoom)?;
    bdev.write_sync(
        bucket_sector(&g, l.journal_first),
        &jbuf,
        WriteKind::FlushFua,
    )?;
    drop(jbuf);

    new_sb.last_mount = real_seconds();
    new_sb.write(raw_sb).map_err(|_| MetaError::NoRoom)?;
    bdev.write_sync(
        SB_SECTOR,
        raw_sb.get(..SB_SIZE).ok_or(MetaError::NoRoom)?,
        WriteKind::FlushFua,
    )?;
    Ok(new_sb)
}

/// Rewrites the superblock of `bdev` from `sb` (`PREFLUSH|FUA`), as `bcache_write_super()`
/// does: the 4 KiB block is read back first, so bytes the superblock does not describe stay.
pub(crate) fn write_superblock(bdev: &BdevFile, sb: &Superblock) -> Result {
    write_superblock_from(bdev, sb, &mut None, WriteKind::FlushFua)
}

/// [`write_superblock`] into `raw`, the superblock's sector as last read or written (read
/// first if `None`), written as `kind`. `raw` holds what was written, or `None` after a
/// failure (the sector is then read again next time).
pub(crate) fn write_superblock_from(
    bdev: &BdevFile,
    sb: &Superblock,
    raw: &mut Option<KVVec<u8>>,
    kind: WriteKind,
) -> Result {
    let mut buf = match raw.take() {
        Some(b) => b,
        None => {
            let mut b = KVVec::from_elem(0u8, SB_SIZE, GFP_KERNEL)?;
            bdev.read_sync(SB_SECTOR, &mut b)?;
            b
        }
    };
    sb.write(&mut buf).map_err(|_| EINVAL)?;
    bdev.write_sync(SB_SECTOR, &buf, kind)?;
    *raw = Some(buf);
    Ok(())
}

/// Everything registration reads from a cache set.
pub(crate) struct SetContents {
    /// Summary numbers.
    pub(crate) meta: SetMetadata,
    /// Flash-only volumes: `(uuid slot, sectors)`.
    pub(crate) volumes: KVVec<(u64, u64)>,
    /// What the data path keeps.
    pub(crate) data: SetData,
}

/// The uuid table as read (one metadata bucket).
pub(crate) struct UuidTable {
    /// The table's bytes.
    pub(crate) buf: KVVec<u8>,
    /// Converted from the pre-version-1 layout: it must be written again before the next
    /// journal entry (whose version says "version-1 uuids").
    pub(crate) converted: bool,
}

/// The state registration hands to the set's data path.
pub(crate) struct SetData {
    /// The btree's leaves with the live journal replayed over them (those leaves are dirty).
    pub(crate) index: Index,
    /// Every bucket: generation and priority from the prios, `last_gc` from every key found
    /// (live or stale), and the marks of the initial GC.
    pub(crate) buckets: KVVec<Bucket>,
    /// The journal and where its next entry goes.
    pub(crate) journal: JournalState,
    /// The uuid table.
    pub(crate) uuids: UuidTable,
    /// The prio buckets, in chain order.
    pub(crate) prio_chain: KVVec<u64>,
    /// Sequence number of the newest prio write.
    pub(crate) prio_seq: u64,
    /// Buckets of the interior nodes read.
    pub(crate) nodes: KVVec<u64>,
}

/// What the second btree walk visits.
enum Visit<'a> {
    /// A node: its bucket, its pointer key and its level.
    Node(u64, &'a Bkey, u16),
    /// A valid leaf key.
    Leaf(&'a Bkey),
}

/// Reads and checks the metadata of the cache `bdev` whose (synchronous) superblock is `sb`,
/// and builds its extent map.
///
/// The btree is walked once, checking every node and key and inserting the leaf keys into the
/// map; the live journal is then replayed over it, entry by entry from disk. Finally the initial
/// GC marks every bucket: metadata (journal, prios, uuids, btree nodes) and live data, dirty or
/// clean.
///
/// Memory: nothing here grows with the set in one contiguous allocation. Per-bucket and
/// per-node tables are `KVVec`s (vmalloc when large); leaf keys are kept only while they fit
/// in the node cache ([`CACHE_LIMIT`]); the journal is replayed from a list of entry positions
/// with one journal bucket in memory at a time (see `Documentation/architecture.md`).
pub(crate) fn read(bdev: &BdevFile, sb: &Superblock) -> Result<SetContents, MetaError> {
    let g = Geometry::new(sb);
    let magic = SetMagic::new(&sb.set_uuid);
    let mut meta = SetMetadata::default();

    let (journal, live) = read_journal(bdev, sb, &g, &magic, &mut meta)?;
    let newest = journal.newest;
    let (mut buckets, prio_chain, prio_seq) = read_prios(bdev, sb, &g, &magic, &newest)?;
    let (volumes, uuids) = read_uuids(bdev, &g, &newest, &mut meta)?;

    let gens = {
        let mut gens = KVVec::with_capacity(buckets.len(), GFP_KERNEL)?;
        for b in buckets.iter() {
            gens.push(b.gen, GFP_KERNEL)?;
        }
        gens
    };
    let src = DiskNodes {
        bdev,
        node_bytes: (g.btree_sectors() * 512) as usize,
        block_bytes: block_bytes(sb),
        magic: magic.bset(),
        bucket_size: g.bucket_size,
        nbuckets: g.nbuckets,
        first_bucket: g.first_bucket,
        gen: |b: u64| gens.get(b as usize).copied(),
    };
    // The leaves as the walk finds them (right to left), with their keys while they fit in
    // the node cache.
    let mut found: KVVec<Leaf> = KVVec::new();
    let mut nodes = KVVec::new();
    let mut resident = 0usize;
    let mut leaf_keys = 0u64;
    let oldest = |buckets: &mut KVVec<Bucket>, k: &Bkey| {
        if k.ptrs() == 0 {
            return;
        }
        if let Some(b) = buckets.get_mut(g.bucket_of(k.ptr_offset(0)) as usize) {
            if gen_after(b.last_gc, k.ptr_gen(0)) > 0 {
                b.last_gc = k.ptr_gen(0);
            }
        }
    };
    check_btree(
        (bdev, sb, &g, &magic),
        &newest,
        &gens,
        &mut meta,
        &mut |v| match v {
            Visit::Node(b, key, level) => {
                if level > 0 {
                    nodes.push(b, GFP_KERNEL)?;
                    return Ok(());
                }
                if let Some(last) = found.last_mut() {
                    // The previous leaf is complete: keep its keys only if they fit.
                    resident += last.keys().map_or(0, |k| k.bytes());
                    if resident > CACHE_LIMIT {
                        last.take_keys();
                    }
                }
                let node = Node {
                    bucket: b,
                    ptr0: key.ptr[0],
                };
                let mut leaf = Leaf::on_disk(node_end(key), node, true, 0, 0);
                leaf.set_keys(LeafKeys::empty());
                found.push(leaf, GFP_KERNEL)?;
                Ok(())
            }
            Visit::Leaf(k) => {
                leaf_keys += 1;
                oldest(&mut buckets, k);
                let Some(e) = src.extent_of(k) else {
                    return Ok(());
                };
                if let Some(keys) = found.last_mut().and_then(|l| l.keys_mut()) {
                    keys.reserve(1)?;
                    keys.insert(e.start, e.end, e.ptr, e.dirty)
                        .map_err(|_| MetaError::NoRoom)?;
                }
                Ok(())
            }
        },
    )?;
    meta.keys += leaf_keys;
    let index = leaves_in_order(found)?;
    let mut index = Index::new(index, CACHE_LIMIT);
    live.for_each(bdev, &g, &magic, &mut |raw| {
        for k in Keys::new(raw).flatten() {
            oldest(&mut buckets, &k);
            if let Some(e) = src.extent_of(&k) {
                index.prepare(e.start, e.end, 1, &src)?;
                if !index.insert(e.start, e.end, e.ptr, e.dirty, &mut |_, _, _| {}) {
                    return Err(MetaError::NoRoom);
                }
            }
        }
        Ok(())
    })?;

    // The initial GC: metadata, then live data.
    let mut meta_bucket = |b: u64| {
        if let Some(b) = buckets.get_mut(b as usize) {
            b.mark = GC_MARK_METADATA;
        }
    };
    for b in g.first_bucket..g.first_bucket + u64::from(sb.njournal_buckets) {
        meta_bucket(b);
    }
    for &b in Iterator::chain(prio_chain.iter(), nodes.iter()) {
        meta_bucket(b);
    }
    for l in index.leaves() {
        if let Some(b) = l.bucket() {
            meta_bucket(b);
        }
    }
    meta_bucket(g.bucket_of(newest.uuid_bucket.ptr_offset(0)));
    index.scan(0, &src, &mut |e| {
        mark_extent(&mut buckets, g.bucket_size, e);
        true
    })?;
    Ok(SetContents {
        meta,
        volumes,
        data: SetData {
            index,
            buckets,
            journal,
            uuids,
            prio_chain,
            prio_seq,
            nodes,
        },
    })
}

/// The leaves found by the walk, sorted, each cut to its range; the last ends at `MAX_KEY`.
fn leaves_in_order(mut found: KVVec<Leaf>) -> Result<KVVec<Leaf>, MetaError> {
    found.sort_unstable_by_key(|l| l.end);
    if let Some(last) = found.last_mut() {
        last.end = u64::MAX;
    }
    let mut lo = 0u64;
    for l in found.iter_mut() {
        if let Some(k) = l.keys() {
            let first = k.view().first().map_or(lo, |e| e.start);
            let last = k.view().last().map_or(l.end, |e| e.end);
            if first < lo || last > l.end {
                let cut = LeafKeys::copy_of(k.view(), lo, l.end)?;
                l.set_keys(cut);
            }
        }
        lo = l.end;
    }
    Ok(found)
}

/// The live journal entries, found by [`read_journal`].
struct LiveJournal {
    /// Every entry found; the first `live` are the live ones, in replay order.
    entries: KVVec<EntryPos>,
    live: usize,
}

impl LiveJournal {
    /// Calls `f` with the packed keys of every live entry, in replay order. Entries
    /// are read back from their journal bucket, which is read when first needed: one bucket is
    /// in memory at a time, and the keys are never collected.
    fn for_each(
        &self,
        bdev: &BdevFile,
        g: &Geometry,
        magic: &SetMagic,
        f: &mut dyn FnMut(&[u8]) -> Result<(), MetaError>,
    ) -> Result<(), MetaError> {
        let mut buf = KVVec::from_elem(0u8, (g.bucket_size * 512) as usize, GFP_KERNEL)?;
        let mut loaded = None;
        for e in self.entries.get(..self.live).unwrap_or(&[]) {
            if loaded != Some(e.bucket) {
                bdev.read_sync(bucket_sector(g, g.first_bucket + e.bucket as u64), &mut buf)?;
                loaded = Some(e.bucket);
            }
            // Read and checked once already: it reads the same unless the device changed.
            let (_, keys) = buf
                .get(e.offset..)
                .and_then(|raw| JsetHeader::read(raw, magic.jset()).ok())
                .filter(|(h, _)| h.seq == e.seq)
                .ok_or(MetaError::Io(EIO))?;
            f(keys)?;
        }
        Ok(())
    }
}

fn bucket_sector(g: &Geometry, bucket: u64) -> u64 {
    bucket * g.bucket_size
}

fn block_bytes(sb: &Superblock) -> usize {
    usize::from(sb.block_size) * 512
}

/// The journal as registration found it, and where the next entry goes.
pub(crate) struct JournalState {
    /// The newest entry.
    pub(crate) newest: JsetHeader,
    /// Highest seq found in each journal bucket (0 if none): one per journal bucket, at most
    /// `SB_JOURNAL_BUCKETS` (256).
    pub(crate) bucket_max_seq: KVec<u64>,
    /// Journal bucket (index into the superblock's list) of the next entry.
    pub(crate) bucket: usize,
    /// Byte offset of the next entry in that bucket.
    pub(crate) offset: usize,
}

/// Finds the newest journal entry, checks that the live range is complete and that the live
/// entries' keys are valid, and returns where the live entries are, in replay order.
fn read_journal(
    bdev: &BdevFile,
    sb: &Superblock,
    g: &Geometry,
    magic: &SetMagic,
    meta: &mut SetMetadata,
) -> Result<(JournalState, LiveJournal), MetaError> {
    let mut buf = KVVec::from_elem(0u8, (g.bucket_size * 512) as usize, GFP_KERNEL)?;
    let mut entries: KVVec<EntryPos> = KVVec::new();
    let mut newest: Option<JsetHeader> = None;
    let mut bucket_max_seq = KVec::new();
    let (mut pos_bucket, mut pos_offset) = (0, 0);
    let mut oom = false;
    let bb = block_bytes(sb);
    for i in 0..usize::from(sb.njournal_buckets) {
        bdev.read_sync(bucket_sector(g, g.first_bucket + i as u64), &mut buf)?;
        let mut max_seq = 0;
        scan_bucket(&buf, bb, magic.jset(), |offset, h, _| {
            let e = EntryPos {
                seq: h.seq,
                bucket: i,
                offset,
            };
            oom |= entries.push(e, GFP_KERNEL).is_err();
            max_seq = max_seq.max(h.seq);
            if newest.as_ref().map_or(true, |n| h.seq > n.seq) {
                newest = Some(*h);
                pos_bucket = i;
                pos_offset = offset + h.bytes().div_ceil(bb) * bb;
            }
        });
        oom |= bucket_max_seq.push(max_seq, GFP_KERNEL).is_err();
        if oom {
            return Err(MetaError::Io(ENOMEM));
        }
    }
    drop(buf);
    let newest = newest.ok_or(MetaError::Journal(JournalError::Empty))?;
    let live =
        replay_order(&mut entries, newest.last_seq, newest.seq).map_err(MetaError::Journal)?;
    meta.journal_live = live as u64;
    meta.journal_seq = newest.seq;
    let live = LiveJournal { entries, live };

    // The live entries' keys must be valid extents.
    let mut bad = false;
    live.for_each(bdev, g, magic, &mut |keys| {
        for k in Keys::new(keys) {
            match k {
                // A zero-size key is a deleted one (6.12 leaves them after cuts).
                Ok(k) if k.size() == 0 => {}
                Ok(k) if !k.extent_invalid(g.bucket_size, g.nbuckets, g.first_bucket) => {
                    meta.keys += 1
                }
                _ => bad = true,
            }
        }
        Ok(())
    })?;
    if bad {
        return Err(MetaError::JournalKey);
    }
    let state = JournalState {
        newest,
        bucket_max_seq,
        bucket: pos_bucket,
        offset: pos_offset,
    };
    Ok((state, live))
}

/// Reads the prio chain of the newest journal entry; returns every bucket's generation and
/// priority (with `last_gc` at the generation), the chain's buckets and its sequence number.
fn read_prios(
    bdev: &BdevFile,
    sb: &Superblock,
    g: &Geometry,
    magic: &SetMagic,
    newest: &JsetHeader,
) -> Result<(KVVec<Bucket>, KVVec<u64>, u64), MetaError> {
    let mut chain = KVVec::new();
    let n = g.nbuckets as usize;
    let mut gens = KVVec::from_elem(Bucket::default(), n, GFP_KERNEL)?;
    let mut seq = 0;
    let mut buf = KVVec::from_elem(0u8, g.meta_bucket_bytes() as usize, GFP_KERNEL)?;
    let per = prio::entries_per_bucket(buf.len());
    let mut bucket = newest.prio_bucket[usize::from(sb.nr_this_dev).min(7)];
    let mut filled = 0;
    while filled < n {
        if bucket < g.first_bucket || bucket >= g.nbuckets {
            return Err(MetaError::PrioPastEnd(bucket));
        }
        chain.push(bucket, GFP_KERNEL)?;
        bdev.read_sync(bucket_sector(g, bucket), &mut buf)?;
        let h = prio::read_header(&buf, magic.pset()).map_err(|e| MetaError::Prio(bucket, e))?;
        if filled == 0 {
            seq = h.seq;
            // Read from disk: the next prio write needs `seq + 1`.
            if prio::next_seq(seq).is_none() {
                return Err(MetaError::PrioSeq(bucket));
            }
        }
        let count = per.min(n - filled);
        for (i, b) in gens[filled..filled + count].iter_mut().enumerate() {
            let (prio, gen) = prio::entry(&buf, i).unwrap_or((0, 0));
            b.prio = prio;
            b.gen = gen;
            b.last_gc = gen;
        }
        filled += count;
        bucket = h.next_bucket;
    }
    Ok((gens, chain, seq))
}

/// Checks a metadata pointer: present, on this cache, inside one bucket.
fn meta_ptr_ok(k: &Bkey, g: &Geometry, sectors: u64) -> bool {
    if k.ptrs() == 0 || k.size() == 0 || k.dirty() {
        return false;
    }
    (0..k.ptrs()).all(|i| {
        if !k.ptr_available(i) {
            return true;
        }
        let off = k.ptr_offset(i);
        let b = g.bucket_of(off);
        b >= g.first_bucket
            && b < g.nbuckets
            && off
                .checked_rem(g.bucket_size)
                .map_or(u64::MAX, |o| o.saturating_add(sectors))
                <= g.bucket_size
    })
}

/// Reads the uuid table; returns the flash-only volumes as `(slot, sectors)`, the table and its
/// entry size.
fn read_uuids(
    bdev: &BdevFile,
    g: &Geometry,
    newest: &JsetHeader,
    meta: &mut SetMetadata,
) -> Result<(KVVec<(u64, u64)>, UuidTable), MetaError> {
    let k = &newest.uuid_bucket;
    let sectors = g.meta_bucket_bytes() / 512;
    if !meta_ptr_ok(k, g, sectors) || !k.ptr_available(0) {
        return Err(MetaError::UuidKey);
    }
    let mut buf = KVVec::from_elem(0u8, g.meta_bucket_bytes() as usize, GFP_KERNEL)?;
    bdev.read_sync(k.ptr_offset(0), &mut buf)?;
    let converted = newest.version < 1;
    if converted {
        convert_v0(&mut buf);
    }
    let mut volumes = KVVec::new();
    for (i, slot) in buf.chunks_exact(UUID_ENTRY_BYTES).enumerate() {
        if let Some(e) = UuidEntry::decode(slot) {
            if !e.is_empty() && !e.is_invalid() && e.is_flash_only() {
                meta.flash_volumes += 1;
                volumes.push((i as u64, e.sectors), GFP_KERNEL)?;
            }
        }
    }
    Ok((volumes, UuidTable { buf, converted }))
}

/// Whether pointer 0 of `k` is stale against the bucket generations.
fn stale(k: &Bkey, g: &Geometry, gens: &[u8]) -> bool {
    let b = g.bucket_of(k.ptr_offset(0)) as usize;
    gens.get(b)
        .map_or(true, |&gen| gen_after(gen, k.ptr_gen(0)) > 0)
}

/// Buckets the btree walk has visited: one bit per bucket of the cache.
struct Visited(KVVec<u64>);

impl Visited {
    fn new(nbuckets: u64) -> Result<Self, MetaError> {
        let words = usize::try_from(nbuckets.div_ceil(64)).map_err(|_| MetaError::Io(ENOMEM))?;
        Ok(Visited(KVVec::from_elem(0u64, words, GFP_KERNEL)?))
    }

    /// Records a visit of `bucket`; `false` if it was visited before (or is out of range).
    fn first_visit(&mut self, bucket: u64) -> bool {
        let Some(word) = usize::try_from(bucket / 64)
            .ok()
            .and_then(|i| self.0.get_mut(i))
        else {
            return false;
        };
        let bit = 1u64 << (bucket % 64);
        let first = *word & bit == 0;
        *word |= bit;
        first
    }
}

/// Walks the whole btree from the root, checking every node and key. Every node is visited
/// once: a pointer to a node already visited (a cycle, or a node shared by two pointers) is
/// refused.
fn check_btree(
    (bdev, sb, g, magic): (&BdevFile, &Superblock, &Geometry, &SetMagic),
    newest: &JsetHeader,
    gens: &[u8],
    meta: &mut SetMetadata,
    visit: &mut dyn FnMut(Visit<'_>) -> Result<(), MetaError>,
) -> Result<(), MetaError> {
    let level = newest.btree_level;
    if level > MAX_LEVEL {
        return Err(MetaError::TooDeep(level));
    }
    meta.root_level = level;
    let node_sectors = g.btree_sectors();
    let mut node = KVVec::from_elem(0u8, (node_sectors * 512) as usize, GFP_KERNEL)?;
    let mut visited = Visited::new(g.nbuckets)?;
    // A stack of nodes to visit (the 6.12 `KVVec` has no `pop`: slots below `top` are live).
    // It holds at most the children of one node per level.
    let mut stack: KVVec<(Bkey, u16)> = KVVec::new();
    let mut top = 0;
    stack.push((newest.btree_root, level), GFP_KERNEL)?;
    top += 1;

    while top > 0 {
        top -= 1;
        let (key, level) = stack[top];
        if !meta_ptr_ok(&key, g, node_sectors) || !key.ptr_available(0) {
            return Err(MetaError::BadBtreePtr(level));
        }
        let bucket = g.bucket_of(key.ptr_offset(0));
        if !visited.first_visit(bucket) {
            return Err(MetaError::Cycle(bucket));
        }
        meta.btree_nodes += 1;
        visit(Visit::Node(bucket, &key, level))?;
        bdev.read_sync(key.ptr_offset(0), &mut node)?;

        // Collect the node's keys; for interior nodes the newest pointer per position wins.
        let mut children: KVVec<(Bkey, usize)> = KVVec::new();
        let mut max_pos = Bkey::zero();
        let mut bad_extent = false;
        let mut oom = false;
        let mut sink_err = None;
        walk_node(&node, block_bytes(sb), magic.bset(), key.ptr[0], |s| {
            for k in Keys::new(s.keys) {
                let k = k?;
                if level == 0 {
                    if k.size() == 0 {
                        // A deleted key: 6.12 writes them after cutting extents, and drops them
                        // when it reads the node.
                    } else if k.extent_invalid(g.bucket_size, g.nbuckets, g.first_bucket) {
                        bad_extent = true;
                    } else if let Err(e) = visit(Visit::Leaf(&k)) {
                        sink_err = Some(e);
                    }
                } else if k.cmp_pos(&Bkey::zero()) != Ordering::Equal {
                    // Position-zero keys are "freeing keys" for freed nodes: skipped.
                    let idx = children.len();
                    oom |= children.push((k, idx), GFP_KERNEL).is_err();
                }
                if k.cmp_pos(&max_pos) == Ordering::Greater {
                    max_pos = k;
                }
            }
            Ok(())
        })
        .map_err(|e| MetaError::Node(bucket, e))?;
        if oom {
            return Err(MetaError::Io(ENOMEM));
        }
        if let Some(e) = sink_err {
            return Err(e);
        }
        if bad_extent {
            return Err(MetaError::BadExtent(bucket));
        }
        if max_pos.cmp_pos(&key) == Ordering::Greater {
            return Err(MetaError::ShortKey(bucket));
        }
        if level == 0 {
            continue;
        }
        children.sort_unstable_by(|a, b| a.0.cmp_pos(&b.0).then(a.1.cmp(&b.1)));
        for (i, (child, _)) in children.iter().enumerate() {
            let superseded = children
                .get(i + 1)
                .is_some_and(|next| next.0.cmp_pos(child) == Ordering::Equal);
            if superseded || !child.ptr_available(0) || stale(child, g, gens) {
                continue;
            }
            if top < stack.len() {
                stack[top] = (*child, level - 1);
            } else {
                stack.push((*child, level - 1), GFP_KERNEL)?;
            }
            top += 1;
        }
    }
    Ok(())
}
