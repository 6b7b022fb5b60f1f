// SPDX-License-Identifier: GPL-2.0

//! A btree leaf's extents in memory: [`ExtentList`]'s overlap semantics, stored in chunks of
//! at most [`CHUNK`] extents, so that an insert moves at most one chunk's entries.
//!
//! One flat sorted array makes every insert that adds or removes an entry move the whole tail
//! of the leaf: with 64 KiB nodes that is about 1,500 extents (48 KiB), and with 6.12's largest
//! (256 KiB) nodes about 6,000, on every 4 KiB write. 6.12 avoids the same cost by inserting
//! only into a node's last, small bset.
//!
//! The chunks live in caller-provided slots (`pool`), in any order; `order` lists the slots in
//! use in key order. A chunk that an insert would overflow is split in two, which takes a free
//! slot and inserts one entry into `order`; a chunk left empty is removed, and the pool's last
//! used slot moves into its place. Every chunk in use holds at least one extent.
//!
//! Pure code: no `kernel::` dependency, tested on the host against [`ExtentList`].

use super::extents::{lookup, Extent, ExtentList, Full, Hit};

/// Extents a chunk holds at most.
pub(crate) const CHUNK: usize = 64;

/// Up to [`CHUNK`] sorted, non-overlapping extents.
#[derive(Clone, Copy)]
pub(crate) struct Chunk {
    len: usize,
    ext: [Extent; CHUNK],
}

impl Default for Chunk {
    fn default() -> Self {
        Chunk {
            len: 0,
            ext: [Extent::default(); CHUNK],
        }
    }
}

impl Chunk {
    fn as_slice(&self) -> &[Extent] {
        self.ext.get(..self.len).unwrap_or(&[])
    }
}

/// A read-only view: the chunks `order` names, in order.
#[derive(Clone, Copy)]
pub(crate) struct ChunkedRef<'a> {
    pool: &'a [Chunk],
    order: &'a [u32],
    len: usize,
}

impl<'a> ChunkedRef<'a> {
    /// The view of `order` (the slots in use, in key order) over `pool`, holding `len`
    /// extents.
    pub(crate) fn new(pool: &'a [Chunk], order: &'a [u32], len: usize) -> Self {
        ChunkedRef { pool, order, len }
    }

    fn chunk(&self, c: usize) -> &'a [Extent] {
        match self.order.get(c) {
            Some(&s) => self.pool.get(s as usize).map_or(&[], |k| k.as_slice()),
            None => &[],
        }
    }

    /// Number of extents.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The first chunk whose last extent ends after `pos` (`order.len()` if none).
    fn chunk_ending_after(&self, pos: u64) -> usize {
        self.order.partition_point(|&s| {
            self.pool
                .get(s as usize)
                .and_then(|k| k.as_slice().last())
                .map_or(true, |e| e.end <= pos)
        })
    }

    /// The extents, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &'a Extent> + 'a {
        self.iter_from(0)
    }

    /// The extents that end after `pos`, in order.
    pub(crate) fn iter_from(&self, pos: u64) -> impl Iterator<Item = &'a Extent> + 'a {
        let this = *self;
        let c = this.chunk_ending_after(pos);
        let first = this.chunk(c);
        let skip = first.partition_point(|e| e.end <= pos);
        first
            .get(skip..)
            .unwrap_or(&[])
            .iter()
            .chain((c + 1..this.order.len()).flat_map(move |i| this.chunk(i).iter()))
    }

    /// The first extent.
    pub(crate) fn first(&self) -> Option<&'a Extent> {
        self.chunk(0).first()
    }

    /// The last extent.
    pub(crate) fn last(&self) -> Option<&'a Extent> {
        self.chunk(self.order.len().checked_sub(1)?).last()
    }

    /// See [`lookup`].
    pub(crate) fn lookup(&self, sector: u64, max: u64) -> (Option<Hit>, u64) {
        let c = self.chunk_ending_after(sector);
        match self.chunk(c) {
            [] => (None, max),
            ext => lookup(ext, sector, max),
        }
    }

    /// Whether an extent covers a sector of `start..end` (see [`super::extents::overlaps`]).
    pub(crate) fn overlaps(&self, start: u64, end: u64) -> bool {
        start < end && self.iter_from(start).next().is_some_and(|e| e.start < end)
    }

    /// Whether an extent holding a sector of `start..end` is dirty (see
    /// [`super::extents::holds_dirty`]).
    pub(crate) fn holds_dirty(&self, start: u64, end: u64) -> bool {
        self.iter_from(start)
            .take_while(|e| e.start < end)
            .any(|e| e.dirty)
    }
}

/// The mutable list: `pool` holds the chunks, the first `used` slots in use, `order[..used]`
/// names them in key order.
pub(crate) struct ChunkedList<'a> {
    pool: &'a mut [Chunk],
    order: &'a mut [u32],
    used: usize,
    len: usize,
}

impl<'a> ChunkedList<'a> {
    /// The list left in `pool` and `order` by an earlier one with `used` chunks and `len`
    /// extents (0 and 0: empty).
    pub(crate) fn from_parts(
        pool: &'a mut [Chunk],
        order: &'a mut [u32],
        used: usize,
        len: usize,
    ) -> Self {
        let used = used.min(pool.len()).min(order.len());
        ChunkedList {
            pool,
            order,
            used,
            len,
        }
    }

    /// Chunks in use.
    pub(crate) fn used(&self) -> usize {
        self.used
    }

    /// Number of extents.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The read-only view.
    pub(crate) fn view(&self) -> ChunkedRef<'_> {
        ChunkedRef::new(
            self.pool,
            self.order.get(..self.used).unwrap_or(&[]),
            self.len,
        )
    }

    /// Free slots (each insert takes at most one).
    pub(crate) fn spare(&self) -> usize {
        self.pool.len().min(self.order.len()) - self.used
    }

    fn slot(&self, c: usize) -> usize {
        self.order.get(c).map_or(usize::MAX, |&s| s as usize)
    }

    fn chunk_mut(&mut self, c: usize) -> Option<&mut Chunk> {
        let s = self.slot(c);
        self.pool.get_mut(s)
    }

    /// Inserts into chunk `c`, as [`ExtentList::insert`].
    fn insert_in(
        &mut self,
        c: usize,
        start: u64,
        end: u64,
        ptr: Option<(u64, u8)>,
        dirty: bool,
    ) -> Result<(), Full> {
        let k = self.chunk_mut(c).ok_or(Full)?;
        let before = k.len;
        let mut list = ExtentList::from_parts(&mut k.ext, k.len);
        let r = list.insert(start, end, ptr, dirty);
        k.len = list.len();
        let after = k.len;
        self.len = self.len + after - before;
        r
    }

    /// Splits chunk `c` in two halves; the upper half takes a free slot.
    fn split(&mut self, c: usize) -> Result<(), Full> {
        if self.spare() == 0 {
            return Err(Full);
        }
        let s = self.slot(c);
        let new = self.used;
        let (len, keep) = match self.pool.get(s) {
            Some(k) => (k.len, k.len / 2),
            None => return Err(Full),
        };
        let mut half = Chunk::default();
        if let Some(k) = self.pool.get(s) {
            let upper = k.ext.get(keep..len).unwrap_or(&[]);
            for (d, e) in half.ext.iter_mut().zip(upper) {
                *d = *e;
            }
        }
        half.len = len - keep;
        if let Some(k) = self.pool.get_mut(s) {
            k.len = keep;
        }
        if let Some(slot) = self.pool.get_mut(new) {
            *slot = half;
        }
        insert_at(self.order, self.used, c + 1, new as u32);
        self.used += 1;
        Ok(())
    }

    /// Opens an empty chunk at position `c` of the order, in a free slot (the insert that
    /// follows fills it).
    fn open(&mut self, c: usize) -> Result<(), Full> {
        if self.spare() == 0 {
            return Err(Full);
        }
        let new = self.used;
        if let Some(k) = self.pool.get_mut(new) {
            k.len = 0;
        }
        insert_at(self.order, self.used, c, new as u32);
        self.used += 1;
        Ok(())
    }

    /// Removes chunk `c` (empty) from the order and frees its slot.
    fn remove(&mut self, c: usize) {
        let s = self.slot(c);
        remove_at(self.order, self.used, c);
        self.used -= 1;
        let last = self.used;
        if s != last {
            // Keep the used slots at the front: the last one moves into the freed slot.
            if let Some(k) = self.pool.get(last).copied() {
                if let Some(dst) = self.pool.get_mut(s) {
                    *dst = k;
                }
            }
            let used = self.used;
            if let Some(o) = self
                .order
                .get_mut(..used)
                .and_then(|o| o.iter_mut().find(|o| **o as usize == last))
            {
                *o = s as u32;
            }
        }
    }

    /// Keeps only the extents `keep` accepts; returns how many went.
    pub(crate) fn retain(&mut self, keep: &dyn Fn(&Extent) -> bool) -> usize {
        let mut removed = 0;
        for c in (0..self.used).rev() {
            if let Some(k) = self.chunk_mut(c) {
                let len = k.len.min(CHUNK);
                let mut w = 0;
                for r in 0..len {
                    let e = k.ext[r];
                    if keep(&e) {
                        k.ext[w] = e;
                        w += 1;
                    }
                }
                removed += len - w;
                k.len = w;
            }
            if self.view().chunk(c).is_empty() {
                self.remove(c);
            }
        }
        self.len = self.len.saturating_sub(removed);
        removed
    }

    /// Inserts data `start..end` at cache sector and generation `ptr` (or, with `ptr == None`,
    /// removes that range), newer than everything already in the list, as
    /// [`ExtentList::insert`]. `Full` (with nothing changed) only when a chunk must split and
    /// no slot is free: [`ChunkedList::spare`] of 1 is always enough.
    pub(crate) fn insert(
        &mut self,
        start: u64,
        end: u64,
        ptr: Option<(u64, u8)>,
        dirty: bool,
    ) -> Result<(), Full> {
        if start >= end {
            return Ok(());
        }
        if self.used == 0 {
            if ptr.is_none() {
                return Ok(());
            }
            if self.spare() == 0 {
                return Err(Full);
            }
            if let (Some(k), Some(o)) = (self.pool.get_mut(0), self.order.get_mut(0)) {
                k.len = 0;
                *o = 0;
            }
            self.used = 1;
        }
        let view = self.view();
        let c0 = view.chunk_ending_after(start).min(self.used - 1);
        // The last chunk holding a sector of the range: its first extent starts before `end`.
        let c1 = (c0 + 1..self.used)
            .take_while(|&c| view.chunk(c).first().is_some_and(|e| e.start < end))
            .last()
            .unwrap_or(c0);
        if c1 == c0 {
            if self.insert_in(c0, start, end, ptr, dirty).is_err() {
                let appends = c0 + 1 == self.used
                    && self.view().chunk(c0).last().is_some_and(|e| e.end <= start);
                if appends {
                    // Keys inserted in order (a node read back, a copy) fill chunks up.
                    self.open(c0 + 1)?;
                } else {
                    // At most two entries more than a chunk holds: split, then insert again
                    // (into a half, or across both).
                    self.split(c0)?;
                }
                return self.insert(start, end, ptr, dirty);
            }
            if self.view().chunk(c0).is_empty() {
                self.remove(c0);
            }
        } else {
            // Several chunks. The range takes the tail of `c0` (one entry at least: its last
            // extent ends after `start` and starts before the next chunk's first, before
            // `end`), so with a pointer `c0` grows by one at most; make room for that first.
            if ptr.is_some() && self.view().chunk(c0).len() >= CHUNK {
                self.split(c0)?;
                return self.insert(start, end, ptr, dirty);
            }
            for c in (c0 + 1..=c1).rev() {
                // Never grows: the chunk starts inside the range, so no extent of it is split.
                let _ = self.insert_in(c, start, end, None, dirty);
            }
            let _ = self.insert_in(c0, start, end, ptr, dirty);
            for c in (c0..=c1).rev() {
                if self.view().chunk(c).is_empty() {
                    self.remove(c);
                }
            }
        }
        Ok(())
    }
}

/// Inserts `v` at `at` of `order[..used]` (which has room for one more).
fn insert_at(order: &mut [u32], used: usize, at: usize, v: u32) {
    // (Element by element, not `copy_within`: objtool in 6.12 does not know its panic.)
    let mut p = used;
    while p > at {
        if let Some(&x) = order.get(p - 1) {
            if let Some(d) = order.get_mut(p) {
                *d = x;
            }
        }
        p -= 1;
    }
    if let Some(d) = order.get_mut(at) {
        *d = v;
    }
}

/// Removes entry `at` of `order[..used]`.
fn remove_at(order: &mut [u32], used: usize, at: usize) {
    for p in at..used.saturating_sub(1) {
        if let Some(&x) = order.get(p + 1) {
            if let Some(d) = order.get_mut(p) {
                *d = x;
            }
        }
    }
}
