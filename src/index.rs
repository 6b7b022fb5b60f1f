// SPDX-License-Identifier: GPL-2.0

//! The index of a cache set: its btree leaves, each holding the live extents of one range of
//! keys, with a bounded cache of their keys in memory.
//!
//! The leaves partition the key space (positions as [`extents::key`] packs them): leaf `i`
//! holds `leaves[i - 1].end..leaves[i].end`, the first starts at 0 and the last ends at
//! `u64::MAX`. A leaf's extents lie inside its range (inserts are cut at leaf bounds, as 6.12
//! cuts a key at its node's end).
//!
//! **The node cache.** A leaf's keys are in memory while it is *resident*. A clean leaf (its
//! keys equal the node on disk) may be evicted: its keys are dropped and read back from its
//! node ([`NodeSource`]) the next time anything needs them. Dirty leaves stay resident until a
//! tree flush writes them ([`crate::btree`]). The cache is kept under a byte limit
//! (`internal/btree_cache_limit`), evicting least recently used leaves first, and a shrinker
//! asks for more under memory pressure ([`crate::set_io::SetIo::shrink_cache`]).
//! `btree_cache_size` reports the resident bytes.
//!
//! Reloaded keys are checked again: a key whose bucket's generation moved on since it was
//! written is stale and reads as a hole, as 6.12's `ptr_stale()`.

use kernel::prelude::*;

use crate::format::bkey::Bkey;
use crate::format::bset::{walk_node, Keys};
use crate::format::chunked::{Chunk, ChunkedList, ChunkedRef, CHUNK};
use crate::format::extents::{self, Extent, Hit, INODE_SHIFT};
use crate::kabi::bdev::BdevFile;

/// Default `internal/btree_cache_limit`: bytes of leaf keys kept in memory.
pub(crate) const CACHE_LIMIT: usize = 64 << 20;
/// Smallest `internal/btree_cache_limit`.
pub(crate) const CACHE_LIMIT_MIN: usize = 64 << 10;
/// Largest `internal/btree_cache_limit`.
pub(crate) const CACHE_LIMIT_MAX: usize = 1 << 40;

/// The keys of one resident leaf: sorted, non-overlapping extents in chunks
/// ([`crate::format::chunked`]), so that an insert moves one chunk's entries, not the leaf's.
pub(crate) struct LeafKeys {
    pool: KVVec<Chunk>,
    order: KVVec<u32>,
    used: usize,
    len: usize,
}

impl LeafKeys {
    /// No keys.
    pub(crate) fn empty() -> Self {
        LeafKeys {
            pool: KVVec::new(),
            order: KVVec::new(),
            used: 0,
            len: 0,
        }
    }

    /// A copy of `ext`, cut to `lo..end`.
    pub(crate) fn copy_of(ext: ChunkedRef<'_>, lo: u64, end: u64) -> Result<Self> {
        let mut k = LeafKeys::empty();
        k.reserve_in_order(ext.len())?;
        for e in ext.iter() {
            let s = e.start.max(lo);
            let t = e.end.min(end);
            if s < t {
                k.insert_grow(s, t, Some((e.ptr + (s - e.start), e.gen)), e.dirty)?;
            }
        }
        Ok(k)
    }

    /// [`LeafKeys::insert`], making room first if it needs more.
    pub(crate) fn insert_grow(
        &mut self,
        start: u64,
        end: u64,
        ptr: Option<(u64, u8)>,
        dirty: bool,
    ) -> Result {
        if self.insert(start, end, ptr, dirty).is_ok() {
            return Ok(());
        }
        self.reserve_chunks(1)?;
        self.insert(start, end, ptr, dirty).map_err(|_| ENOMEM)
    }

    /// The extents.
    pub(crate) fn view(&self) -> ChunkedRef<'_> {
        ChunkedRef::new(
            &self.pool,
            self.order.get(..self.used).unwrap_or(&[]),
            self.len,
        )
    }

    /// Number of extents.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes of memory held.
    pub(crate) fn bytes(&self) -> usize {
        self.pool.len() * core::mem::size_of::<Chunk>() + self.order.len() * 4
    }

    /// Sectors of data.
    fn sectors(&self) -> u64 {
        self.view().iter().map(|e| e.end - e.start).sum()
    }

    /// Makes room for `keys` more inserts (each takes at most one more chunk).
    pub(crate) fn reserve(&mut self, keys: usize) -> Result {
        self.reserve_chunks(keys)
    }

    /// Makes room for `keys` more inserts, each after every extent the leaf holds (they fill
    /// chunks up, [`CHUNK`] at a time).
    pub(crate) fn reserve_in_order(&mut self, keys: usize) -> Result {
        self.reserve_chunks(keys / CHUNK + 1)
    }

    /// Makes room for `chunks` more chunks.
    fn reserve_chunks(&mut self, chunks: usize) -> Result {
        let need = self.used + chunks + 1;
        if need <= self.pool.len() && need <= self.order.len() {
            return Ok(());
        }
        let cap = need.max(self.pool.len().saturating_mul(2)).max(4);
        let mut pool = KVVec::with_capacity(cap, GFP_KERNEL)?;
        pool.extend_from_slice(self.pool.get(..self.used).unwrap_or(&[]), GFP_KERNEL)?;
        pool.extend_with(cap - pool.len(), Chunk::default(), GFP_KERNEL)?;
        let mut order = KVVec::with_capacity(cap, GFP_KERNEL)?;
        order.extend_from_slice(self.order.get(..self.used).unwrap_or(&[]), GFP_KERNEL)?;
        order.extend_with(cap - order.len(), 0, GFP_KERNEL)?;
        self.pool = pool;
        self.order = order;
        Ok(())
    }

    /// Keeps only the extents `keep` accepts; returns how many went.
    fn retain(&mut self, keep: &dyn Fn(&Extent) -> bool) -> usize {
        let mut list =
            ChunkedList::from_parts(&mut self.pool, &mut self.order, self.used, self.len);
        let n = list.retain(keep);
        self.used = list.used();
        self.len = list.len();
        n
    }

    /// Inserts one extent (see [`ChunkedList::insert`]); call [`LeafKeys::reserve`] first.
    pub(crate) fn insert(
        &mut self,
        start: u64,
        end: u64,
        ptr: Option<(u64, u8)>,
        dirty: bool,
    ) -> Result<(), extents::Full> {
        let mut list =
            ChunkedList::from_parts(&mut self.pool, &mut self.order, self.used, self.len);
        let r = list.insert(start, end, ptr, dirty);
        self.used = list.used();
        self.len = list.len();
        r
    }

    /// [`LeafKeys::insert`], telling `account` of the dirty data removed and added (see
    /// [`Index::insert`]). A failed insert changes nothing, so what was reported as removed
    /// is reported back.
    fn insert_accounted(
        &mut self,
        start: u64,
        end: u64,
        ptr: Option<(u64, u8)>,
        dirty: bool,
        account: &mut dyn FnMut(u64, u64, bool),
    ) -> Result<(), extents::Full> {
        let overlap = |keys: &Self, added: bool, account: &mut dyn FnMut(u64, u64, bool)| {
            for e in keys.view().iter_from(start).take_while(|e| e.start < end) {
                if e.dirty {
                    account(e.start.max(start), e.end.min(end), added);
                }
            }
        };
        overlap(self, false, account);
        let r = self.insert(start, end, ptr, dirty);
        match r {
            Ok(()) if dirty && ptr.is_some() => account(start, end, true),
            Ok(()) => {}
            Err(_) => overlap(self, true, account),
        }
        r
    }
}

/// Where a leaf's node is on disk.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Node {
    /// Its bucket.
    pub(crate) bucket: u64,
    /// The first pointer word of its key (generation and offset; part of the bset checksum).
    pub(crate) ptr0: u64,
}

/// One btree leaf.
pub(crate) struct Leaf {
    /// End of the leaf's range.
    pub(crate) end: u64,
    /// Its node on disk, if any.
    pub(crate) node: Option<Node>,
    /// Keys changed since the node was written (only resident leaves are dirty).
    pub(crate) dirty: bool,
    /// The node was written by another implementation (it may hold several bsets and stale
    /// keys): the next tree flush rewrites it.
    pub(crate) foreign: bool,
    keys: Option<LeafKeys>,
    used: u64,
    /// Keys and sectors when it was last resident (valid while evicted).
    nkeys: usize,
    sectors: u64,
}

impl Leaf {
    /// A leaf ending at `end` with `keys` in memory, not yet on disk.
    pub(crate) fn new(end: u64, keys: LeafKeys) -> Self {
        Leaf {
            end,
            node: None,
            dirty: true,
            foreign: false,
            keys: Some(keys),
            used: 0,
            nkeys: 0,
            sectors: 0,
        }
    }

    /// A leaf ending at `end` whose keys are in `node` on disk and not in memory.
    pub(crate) fn on_disk(end: u64, node: Node, foreign: bool, nkeys: usize, sectors: u64) -> Self {
        Leaf {
            end,
            node: Some(node),
            dirty: false,
            foreign,
            keys: None,
            used: 0,
            nkeys,
            sectors,
        }
    }

    /// Its node's bucket.
    pub(crate) fn bucket(&self) -> Option<u64> {
        self.node.map(|n| n.bucket)
    }

    /// Its keys, if resident.
    pub(crate) fn keys(&self) -> Option<&LeafKeys> {
        self.keys.as_ref()
    }

    /// Its keys, if resident, to change (the caller keeps `dirty` right).
    pub(crate) fn keys_mut(&mut self) -> Option<&mut LeafKeys> {
        self.keys.as_mut()
    }

    /// Number of keys (as last seen if evicted).
    pub(crate) fn nkeys(&self) -> usize {
        self.keys.as_ref().map_or(self.nkeys, |k| k.len)
    }

    /// Sectors of data (as last seen if evicted).
    pub(crate) fn sectors(&self) -> u64 {
        self.keys.as_ref().map_or(self.sectors, |k| k.sectors())
    }

    /// Takes its keys out (the leaf is then not resident).
    pub(crate) fn take_keys(&mut self) -> Option<LeafKeys> {
        if let Some(k) = &self.keys {
            self.nkeys = k.len;
            self.sectors = k.sectors();
        }
        self.keys.take()
    }

    /// Gives it keys.
    pub(crate) fn set_keys(&mut self, keys: LeafKeys) {
        self.keys = Some(keys);
    }

    fn bytes(&self) -> usize {
        self.keys.as_ref().map_or(0, |k| k.bytes())
    }

    fn evictable(&self) -> bool {
        self.keys.is_some() && !self.dirty && self.node.is_some()
    }
}

/// Reads a leaf's keys back from its node.
pub(crate) trait NodeSource {
    /// Fills `out` (empty) with the live keys of `node` that lie in `lo..end`. Returns whether
    /// the node held stale keys (it should be rewritten without them).
    fn read_leaf(&self, node: Node, lo: u64, end: u64, out: &mut LeafKeys) -> Result<bool>;
}

/// What one key says, in index positions.
pub(crate) struct KeyExtent {
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// Cache sector and generation; `None` for a hole or a stale pointer.
    pub(crate) ptr: Option<(u64, u8)>,
    pub(crate) dirty: bool,
}

/// [`NodeSource`] over a cache device: nodes are read and checked as at registration.
pub(crate) struct DiskNodes<'a, G: Fn(u64) -> Option<u8>> {
    pub(crate) bdev: &'a BdevFile,
    /// Bytes of a node.
    pub(crate) node_bytes: usize,
    pub(crate) block_bytes: usize,
    /// The set's bset magic.
    pub(crate) magic: u64,
    pub(crate) bucket_size: u64,
    pub(crate) nbuckets: u64,
    pub(crate) first_bucket: u64,
    /// Current generation of a bucket.
    pub(crate) gen: G,
}

impl<G: Fn(u64) -> Option<u8>> DiskNodes<'_, G> {
    /// The extent key `k` describes, or `None` if it is beyond the index's reach.
    pub(crate) fn extent_of(&self, k: &Bkey) -> Option<KeyExtent> {
        let start = extents::key(k.inode(), k.start()?)?;
        let end = extents::key(k.inode(), k.offset())?;
        let live = k.ptrs() > 0
            && k.ptr_available(0)
            && (self.gen)(
                k.ptr_offset(0)
                    .checked_div(self.bucket_size)
                    .unwrap_or(u64::MAX),
            ) == Some(k.ptr_gen(0));
        Some(KeyExtent {
            start,
            end,
            ptr: live.then(|| (k.ptr_offset(0), k.ptr_gen(0))),
            dirty: k.dirty(),
        })
    }

    /// Adds the keys of the node image `buf` in `lo..end` to `out`, older bsets first; returns
    /// whether some were stale.
    pub(crate) fn parse(
        &self,
        buf: &[u8],
        node: Node,
        lo: u64,
        end: u64,
        out: &mut LeafKeys,
    ) -> Result<bool> {
        let mut err = None;
        let mut stale = false;
        walk_node(buf, self.block_bytes, self.magic, node.ptr0, |s| {
            for k in Keys::new(s.keys) {
                let k = k?;
                if k.size() == 0 {
                    continue;
                }
                if k.extent_invalid(self.bucket_size, self.nbuckets, self.first_bucket) {
                    err = Some(EIO);
                    continue;
                }
                let Some(KeyExtent {
                    start: s,
                    end: t,
                    ptr,
                    dirty,
                }) = self.extent_of(&k)
                else {
                    continue;
                };
                stale |= ptr.is_none() && k.ptrs() > 0;
                let (cs, ct) = (s.max(lo), t.min(end));
                if cs >= ct {
                    continue;
                }
                if let Err(e) = out.reserve(1) {
                    err = Some(e);
                    continue;
                }
                let _ = out.insert(cs, ct, ptr.map(|(p, g)| (p + (cs - s), g)), dirty);
            }
            Ok(())
        })
        .map_err(|_| EIO)?;
        err.map_or(Ok(stale), Err)
    }
}

impl<G: Fn(u64) -> Option<u8>> NodeSource for DiskNodes<'_, G> {
    fn read_leaf(&self, node: Node, lo: u64, end: u64, out: &mut LeafKeys) -> Result<bool> {
        let mut buf = KVVec::from_elem(0u8, self.node_bytes, GFP_KERNEL)?;
        self.bdev
            .read_sync(node.bucket * self.bucket_size, &mut buf)?;
        let r = self.parse(&buf, node, lo, end, out);
        if r.is_err() {
            pr_err!(
                "btree node at bucket {} cannot be read back: bad checksum or keys\n",
                node.bucket
            );
        }
        r
    }
}

/// Counters of the node cache.
#[derive(Clone, Copy, Default)]
pub(crate) struct CacheStats {
    /// Leaves read back from disk.
    pub(crate) loads: u64,
    /// Leaves evicted.
    pub(crate) evictions: u64,
}

/// The leaves of a cache set's btree, with the node cache.
pub(crate) struct Index {
    /// One per leaf node (a `KVVec`: a set with many leaves needs more than kmalloc gives in
    /// one piece).
    leaves: KVVec<Leaf>,
    /// Bytes of resident keys.
    bytes: usize,
    limit: usize,
    clock: u64,
    pub(crate) stats: CacheStats,
}

/// The position a node's pointer key `k` ends at (`MAX_KEY`, or beyond the index's reach, is
/// `u64::MAX`).
pub(crate) fn node_end(k: &Bkey) -> u64 {
    if k.inode() >= (1 << (64 - INODE_SHIFT)) - 1 {
        return u64::MAX;
    }
    extents::key(k.inode(), k.offset().min((1 << INODE_SHIFT) - 1)).unwrap_or(u64::MAX)
}

impl Index {
    /// An index of `leaves` (in key order; the last must end at `u64::MAX`).
    pub(crate) fn new(leaves: KVVec<Leaf>, limit: usize) -> Self {
        let mut ix = Index {
            leaves,
            bytes: 0,
            limit,
            clock: 0,
            stats: CacheStats::default(),
        };
        ix.recount();
        ix
    }

    fn recount(&mut self) {
        self.bytes = self.leaves.iter().map(Leaf::bytes).sum();
    }

    /// The leaves, in key order.
    pub(crate) fn leaves(&self) -> &[Leaf] {
        &self.leaves
    }

    /// Replaces the leaves (after a flush or a merge); returns the old ones.
    pub(crate) fn replace(&mut self, leaves: KVVec<Leaf>) -> KVVec<Leaf> {
        let old = core::mem::replace(&mut self.leaves, leaves);
        self.recount();
        old
    }

    /// Bytes of resident keys (`btree_cache_size`).
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The byte limit.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Sets the byte limit (takes effect at the next [`Index::shrink`]).
    pub(crate) fn set_limit(&mut self, limit: usize) {
        self.limit = limit.max(CACHE_LIMIT_MIN);
    }

    /// Whether any leaf is dirty.
    pub(crate) fn any_dirty(&self) -> bool {
        self.leaves.iter().any(|l| l.dirty)
    }

    /// Bytes held by dirty leaves.
    pub(crate) fn dirty_bytes(&self) -> usize {
        self.leaves
            .iter()
            .filter(|l| l.dirty)
            .map(Leaf::bytes)
            .sum()
    }

    /// The lower bound of leaf `i`'s range.
    pub(crate) fn lo(&self, i: usize) -> u64 {
        i.checked_sub(1)
            .and_then(|p| self.leaves.get(p))
            .map_or(0, |l| l.end)
    }

    /// The leaf holding position `pos`.
    pub(crate) fn find(&self, pos: u64) -> usize {
        self.leaves
            .partition_point(|l| l.end <= pos)
            .min(self.leaves.len().saturating_sub(1))
    }

    /// Makes leaf `i` resident, reading it from `src` if needed.
    pub(crate) fn load(&mut self, i: usize, src: &dyn NodeSource) -> Result {
        let lo = self.lo(i);
        self.clock += 1;
        let clock = self.clock;
        let leaf = self.leaves.get_mut(i).ok_or(EINVAL)?;
        leaf.used = clock;
        if leaf.keys.is_some() {
            return Ok(());
        }
        let mut keys = LeafKeys::empty();
        if let Some(node) = leaf.node {
            // A node with stale keys is written again without them (as 6.12's GC rewrites
            // nodes with stale keys), so none lingers on disk while its bucket is reused.
            leaf.dirty |= src.read_leaf(node, lo, leaf.end, &mut keys)?;
            self.stats.loads += 1;
        }
        self.bytes += keys.bytes();
        leaf.keys = Some(keys);
        Ok(())
    }

    /// The keys of leaf `i`, made resident.
    pub(crate) fn keys(&mut self, i: usize, src: &dyn NodeSource) -> Result<ChunkedRef<'_>> {
        self.load(i, src)?;
        Ok(self
            .leaves
            .get(i)
            .and_then(|l| l.keys.as_ref())
            .map_or(ChunkedRef::new(&[], &[], 0), |k| k.view()))
    }

    /// Where position `pos` lives: `(Some(hit) or None for a hole, sectors until the next
    /// boundary)`, the run capped at `max` and at the leaf's end.
    pub(crate) fn lookup(
        &mut self,
        pos: u64,
        max: u64,
        src: &dyn NodeSource,
    ) -> Result<(Option<Hit>, u64)> {
        let i = self.find(pos);
        let end = self.leaves.get(i).map_or(u64::MAX, |l| l.end);
        let max = max.min(end.saturating_sub(pos)).max(1);
        Ok(self.keys(i, src)?.lookup(pos, max))
    }

    /// Whether any extent, live or stale, covers a position of `start..end` (the leaves
    /// holding it are made resident).
    pub(crate) fn holds_any(&mut self, start: u64, end: u64, src: &dyn NodeSource) -> Result<bool> {
        let mut i = self.find(start);
        while i < self.leaves.len() && self.lo(i) < end {
            if self.keys(i, src)?.overlaps(start, end) {
                return Ok(true);
            }
            i += 1;
        }
        Ok(false)
    }

    /// Whether a dirty extent covers a position of `start..end` (the leaves holding it are
    /// made resident).
    pub(crate) fn holds_dirty(
        &mut self,
        start: u64,
        end: u64,
        src: &dyn NodeSource,
    ) -> Result<bool> {
        let mut i = self.find(start);
        while i < self.leaves.len() && self.lo(i) < end {
            if self.keys(i, src)?.holds_dirty(start, end) {
                return Ok(true);
            }
            i += 1;
        }
        Ok(false)
    }

    /// Makes the leaves holding `start..end` resident, with room for `n` more inserts each,
    /// so that [`Index::insert`] of up to `n` keys in that range cannot fail.
    pub(crate) fn prepare(
        &mut self,
        start: u64,
        end: u64,
        n: usize,
        src: &dyn NodeSource,
    ) -> Result {
        let mut i = self.find(start);
        loop {
            self.load(i, src)?;
            let leaf = self.leaves.get_mut(i).ok_or(EINVAL)?;
            let before = leaf.bytes();
            if let Some(k) = leaf.keys.as_mut() {
                k.reserve(n)?;
            }
            let after = leaf.bytes();
            let leaf_end = leaf.end;
            self.bytes = self.bytes + after - before;
            if leaf_end >= end || i + 1 >= self.leaves.len() {
                return Ok(());
            }
            i += 1;
        }
    }

    /// Inserts data `start..end` at cache sector and generation `ptr` (`None`: a hole), newer
    /// than what is there, cut at leaf bounds; the leaves it touches become dirty. Call
    /// [`Index::prepare`] first: a leaf without room or not resident is skipped (and reported
    /// as `false`).
    ///
    /// `account(a, b, added)` is told of each range of dirty data the insert removes
    /// (`added == false`) or adds, for the dirty-sector counts; a leaf that was skipped
    /// reports nothing, so inserting the same key again after [`Index::prepare`] keeps the
    /// counts right.
    pub(crate) fn insert(
        &mut self,
        start: u64,
        end: u64,
        ptr: Option<(u64, u8)>,
        dirty: bool,
        account: &mut dyn FnMut(u64, u64, bool),
    ) -> bool {
        let mut ok = true;
        let mut i = self.find(start);
        let mut lo = self.lo(i);
        while let Some(leaf) = self.leaves.get_mut(i) {
            let s = start.max(lo);
            let t = end.min(leaf.end);
            if s < t {
                match leaf.keys.as_mut() {
                    Some(k) => {
                        let r = k.insert_accounted(
                            s,
                            t,
                            ptr.map(|(p, g)| (p + (s - start), g)),
                            dirty,
                            account,
                        );
                        ok &= r.is_ok();
                        leaf.dirty = true;
                    }
                    None => ok = false,
                }
            }
            if leaf.end >= end {
                break;
            }
            lo = leaf.end;
            i += 1;
        }
        ok
    }

    /// Visits the extents from position `pos` on, in order, while `f` accepts them (returns
    /// `true`). Returns where to resume: after the last accepted extent, or at the one `f`
    /// refused; `None` once the index is exhausted. Leaves are loaded as needed and the cache
    /// is shrunk to its limit as the walk leaves them.
    pub(crate) fn scan(
        &mut self,
        pos: u64,
        src: &dyn NodeSource,
        f: &mut dyn FnMut(&Extent) -> bool,
    ) -> Result<Option<u64>> {
        let r = self.scan_inner(pos, src, f);
        self.shrink(self.limit);
        r
    }

    fn scan_inner(
        &mut self,
        pos: u64,
        src: &dyn NodeSource,
        f: &mut dyn FnMut(&Extent) -> bool,
    ) -> Result<Option<u64>> {
        let mut pos = pos;
        let mut i = self.find(pos);
        while i < self.leaves.len() {
            let ext = self.keys(i, src)?;
            for e in ext.iter_from(pos) {
                if !f(e) {
                    return Ok(Some(pos.max(e.start)));
                }
                pos = e.end;
            }
            let end = self.leaves.get(i).map_or(u64::MAX, |l| l.end);
            if end == u64::MAX {
                break;
            }
            pos = pos.max(end);
            i += 1;
            self.shrink(self.limit);
        }
        Ok(None)
    }

    /// Evicts least recently used clean leaves until at most `target` bytes are resident (or
    /// nothing more can go); returns the leaves evicted.
    pub(crate) fn shrink(&mut self, target: usize) -> usize {
        let mut n = 0;
        while self.bytes > target {
            let Some(i) = self
                .leaves
                .iter()
                .enumerate()
                .filter(|(_, l)| l.evictable())
                .min_by_key(|(_, l)| l.used)
                .map(|(i, _)| i)
            else {
                break;
            };
            n += self.evict(i);
        }
        n
    }

    /// Removes from the resident leaves every extent whose bucket generation `gen` no longer
    /// matches (the data is gone); those leaves become dirty. Returns the extents removed.
    pub(crate) fn purge_stale(
        &mut self,
        gen: &dyn Fn(u64) -> Option<u8>,
        bucket_size: u64,
    ) -> usize {
        let mut removed = 0;
        for leaf in self.leaves.iter_mut() {
            let Some(k) = leaf.keys.as_mut() else {
                continue;
            };
            let live = |e: &Extent| {
                e.ptr
                    .checked_div(bucket_size)
                    .and_then(gen)
                    .is_some_and(|g| g == e.gen)
            };
            let gone = k.retain(&live);
            if gone > 0 {
                removed += gone;
                leaf.dirty = true;
            }
        }
        removed
    }

    /// Evicts leaf `i` if it is clean and resident.
    pub(crate) fn drop_keys(&mut self, i: usize) {
        self.evict(i);
    }

    fn evict(&mut self, i: usize) -> usize {
        let Some(leaf) = self.leaves.get_mut(i) else {
            return 0;
        };
        if !leaf.evictable() {
            return 0;
        }
        let bytes = leaf.bytes();
        leaf.take_keys();
        self.bytes -= bytes;
        self.stats.evictions += 1;
        1
    }
}
