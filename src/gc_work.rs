// SPDX-License-Identifier: GPL-2.0

//! The work of a GC pass: btree GC (recount every bucket from the index and the metadata),
//! then moving GC (copy live data out of sparse buckets so they can be reused). Both run in
//! the set's `bcache_gc` thread ([`crate::gc`]).
//!
//! Btree GC walks the index in steps (`internal/gc_step_keys` extents, 4096 by default), taking
//! the state lock for each step only, and stops between steps when the set stops. Buckets allocated since
//! the pass started keep the marks the allocator gave them, so a write racing with the walk is
//! never counted as free; overwrites during the walk only make the count high, which is safe.
//!
//! Moving GC marks the sparsest data buckets (6.12's candidate rule and reserve limit) and pins
//! them so nothing invalidates them meanwhile. It reads their live extents without the lock, in
//! batches of at most [`MOVE_BATCH`] copies, then, under the lock, re-checks each extent
//! (compare and replace: if a foreground write changed any of it, the copy is dropped and
//! counted as a race), writes the survivors to a moving-GC bucket and journals them with one
//! entry. It stops between batches when the set stops.
//!
//! Pacing (beyond 6.12, which sleeps 100 ms between fixed batches of nodes): between steps and
//! batches the pass checks whether foreground writes are in flight; if so it sleeps
//! `internal/gc_yield_ms` and shrinks moving-GC batches to a few copies, so a write never waits
//! behind more than one small step. With no foreground IO it runs flat out.

use kernel::prelude::*;

use crate::format::alloc::Reserve;
use crate::format::alloc::{
    Bucket, GC_MARK_DIRTY, GC_MARK_METADATA, GC_MARK_NONE, GC_MARK_RECLAIMABLE,
};
use crate::format::bkey::{gen_after, Bkey};
use crate::format::extents::{Extent, INODE_SHIFT};
use crate::format::gc_policy::{coalesce_plan, mark_extent, moving_candidates, moving_limit};
use crate::index::{Leaf, LeafKeys};
use crate::kabi::bio::WriteKind;
use crate::set_io::{IoState, SetIo};

/// Copies per moving-GC batch at most (6.12's `moving_in_flight` bound).
pub(crate) const MOVE_BATCH: usize = 64;
/// Copies per batch while foreground writes are waiting.
const MOVE_BATCH_BUSY: usize = 4;
/// Bytes read per moving-GC batch.
const MOVE_BATCH_BYTES: usize = 2 << 20;

/// How a GC pass is steered: stop requests and pacing (implemented by [`crate::gc::Gc`]).
pub(crate) trait GcControl {
    /// The set is stopping (or IO is disabled): leave now.
    fn stopping(&self) -> bool;
    /// Called between steps; sleeps a little when foreground writes are in flight.
    fn between_steps(&self, io_busy: bool);
    /// Extents btree GC counts per lock hold.
    fn step_keys(&self) -> usize;
    /// Copies per moving-GC batch when no foreground write is waiting.
    fn move_batch(&self) -> usize;
}

/// What one btree GC walk saw.
#[derive(Clone, Copy, Default)]
pub(crate) struct BtreeGcReport {
    /// Leaves walked.
    pub(crate) nodes: u64,
    /// Extents counted.
    pub(crate) keys: u64,
    /// Buckets with nothing live after the pass.
    pub(crate) free_buckets: u64,
    /// Leaves merged into their siblings.
    pub(crate) coalesced: u64,
    /// Nodes written by the flush that ends the pass.
    pub(crate) rewritten: u64,
    /// Stale extents dropped from resident leaves.
    pub(crate) stale: u64,
}

/// What one moving-GC run did.
#[derive(Clone, Copy, Default)]
pub(crate) struct MovingReport {
    /// Buckets chosen.
    pub(crate) candidates: u64,
    /// Keys copied and re-inserted.
    pub(crate) keys: u64,
    /// Sectors copied.
    pub(crate) sectors: u64,
    /// Copies dropped because a foreground write changed the extent meanwhile.
    pub(crate) races: u64,
    /// Candidate buckets left with no live data.
    pub(crate) freed: u64,
}

impl IoState {
    /// The buckets holding metadata now.
    fn for_each_meta(&self, first: u64, njournal: u64, mut f: impl FnMut(u64)) {
        for b in first..first + njournal {
            f(b);
        }
        for &b in self.prio_chain.iter() {
            f(b);
        }
        f(self.uuid_bucket);
        for l in self.index.leaves() {
            if let Some(b) = l.bucket() {
                f(b);
            }
        }
        for &b in Iterator::chain(self.tree.interior.iter(), self.tree.old_nodes.iter()) {
            f(b);
        }
    }
}

impl SetIo {
    /// Counts every bucket from scratch: metadata, and the live sectors of the index.
    fn recount(&self, st: &mut IoState, counts: &mut [Bucket]) -> Result {
        for c in counts.iter_mut() {
            *c = Bucket::default();
        }
        let l = &self.layout;
        st.for_each_meta(l.first_bucket, l.njournal, |b| {
            if let Some(c) = counts.get_mut(b as usize) {
                c.mark = GC_MARK_METADATA;
            }
        });
        let IoState { index, buckets, .. } = st;
        index.scan(0, &self.nodes(buckets), &mut |e| {
            let b = l.bucket_of(e.ptr) as usize;
            if buckets.get(b).map(|b| b.gen) == Some(e.gen) {
                mark_extent(counts, l.bucket_size, e);
            }
            true
        })?;
        Ok(())
    }

    /// One btree GC walk; `stop` is polled between steps. `EINTR` if it stopped early, in which
    /// case the marks are left as they were.
    pub(crate) fn btree_gc(&self, ctl: &dyn GcControl) -> Result<BtreeGcReport> {
        let n = self.layout.nbuckets as usize;
        let mut counts = KVVec::from_elem(Bucket::default(), n, GFP_KERNEL)?;
        let mut report = BtreeGcReport::default();
        // The oldest generation any live key points to, per bucket: the generation when the
        // pass starts, lowered by every key the walk finds.
        let mut oldest = KVVec::from_elem(0u8, n, GFP_KERNEL)?;
        {
            let mut st = self.state.lock();
            st.fresh.fill(false);
            report.nodes = st.index.leaves().len() as u64;
            for (o, b) in oldest.iter_mut().zip(st.buckets.iter()) {
                *o = b.gen;
            }
        }
        let bs = self.layout.bucket_size;
        let mut pos = 0u64;
        let step = ctl.step_keys().max(1);
        loop {
            if ctl.stopping() {
                return Err(EINTR);
            }
            ctl.between_steps(self.busy());
            let mut guard = self.state.lock();
            let IoState { index, buckets, .. } = &mut *guard;
            let mut n = 0;
            let next = index.scan(pos, &self.nodes(buckets), &mut |e| {
                if n >= step {
                    return false;
                }
                n += 1;
                let b = e.ptr.checked_div(bs).unwrap_or(u64::MAX) as usize;
                if buckets.get(b).map(|b| b.gen) != Some(e.gen) {
                    // Stale: purged below, not counted.
                    return true;
                }
                mark_extent(&mut counts, bs, e);
                if let Some(o) = oldest.get_mut(b) {
                    if gen_after(*o, e.gen) > 0 {
                        *o = e.gen;
                    }
                }
                true
            })?;
            report.keys += n as u64;
            match next {
                Some(p) => pos = p,
                None => break,
            }
        }

        // Finish: metadata as it is now, then publish the marks.
        let mut st = self.state.lock();
        let l = &self.layout;
        st.for_each_meta(l.first_bucket, l.njournal, |b| {
            if let Some(c) = counts.get_mut(b as usize) {
                c.mark = GC_MARK_METADATA;
            }
        });
        let IoState { buckets, fresh, .. } = &mut *st;
        for ((b, c), &f) in buckets.iter_mut().zip(counts.iter()).zip(fresh.iter()) {
            if b.pin || b.writers > 0 || f {
                continue;
            }
            b.mark = c.mark;
            b.sectors = if c.mark == GC_MARK_METADATA {
                0
            } else {
                c.sectors
            };
            if b.mark == GC_MARK_NONE && b.sectors == 0 {
                report.free_buckets += 1;
            }
        }
        report.coalesced = self.coalesce(&mut st)? as u64;
        {
            let IoState { index, buckets, .. } = &mut *st;
            let gen = |b: u64| buckets.get(b as usize).map(|b| b.gen);
            report.stale = index.purge_stale(&gen, bs) as u64;
        }
        // Write dirty leaves before finishing, as 6.12's GC does: then no key on disk is
        // older than what the walk saw, and `last_gc` may advance to it.
        if st.index.any_dirty() || st.index.leaves().iter().any(|l| l.foreign) {
            let before = self
                .stats
                .nodes_written
                .load(core::sync::atomic::Ordering::Relaxed);
            self.flush_tree(&mut st)?;
            let after = self
                .stats
                .nodes_written
                .load(core::sync::atomic::Ordering::Relaxed);
            report.rewritten = after - before;
        }
        for (b, &o) in st.buckets.iter_mut().zip(oldest.iter()) {
            b.last_gc = o;
        }
        Ok(report)
    }

    /// Merges runs of sparse sibling leaves ([`coalesce_plan`]); the merged leaves are dirty
    /// and the old nodes are freed by the next tree flush. Takes no more merges than the btree
    /// reserve has buckets for, and none when it is short. Returns the number of merges.
    fn coalesce(&self, st: &mut IoState) -> Result<usize> {
        let n = st.index.leaves().len();
        let budget = st.free.available(Reserve::Btree).saturating_sub(2);
        if n < 2 || budget == 0 {
            return Ok(0);
        }
        let node_u64s = ((self.layout.node_sectors << 9) as usize)
            .saturating_sub(crate::format::bset::BSET_HEADER)
            / 8;
        // Keys of one data or pointer key: 3 words.
        let cap = node_u64s / 3;
        let mut keys = KVVec::with_capacity(n, GFP_KERNEL)?;
        for l in st.index.leaves() {
            keys.push(l.nkeys(), GFP_KERNEL)?;
        }
        let mut merge = KVVec::from_elem(false, n, GFP_KERNEL)?;
        let merges = coalesce_plan(&keys, cap, budget, &mut merge);
        if merges == 0 {
            return Ok(0);
        }
        // Every leaf of a merge must be resident; a merged leaf holds the keys of its run.
        let mut merged: KVVec<Option<LeafKeys>> = KVVec::with_capacity(n, GFP_KERNEL)?;
        for i in 0..n {
            let joins = merge[i];
            let starts = !joins && merge.get(i + 1).copied() == Some(true);
            if !joins && !starts {
                merged.push(None, GFP_KERNEL)?;
                continue;
            }
            let lo = st.index.lo(i);
            let end = st.index.leaves().get(i).map_or(u64::MAX, |l| l.end);
            let IoState { index, buckets, .. } = &mut *st;
            let ext = index.keys(i, &self.nodes(buckets))?;
            let copy = LeafKeys::copy_of(ext, lo, end)?;
            if joins {
                // Appends: the run's leaves are in key order.
                let prev = merged
                    .iter_mut()
                    .rev()
                    .find_map(|m| m.as_mut())
                    .ok_or(EINVAL)?;
                prev.reserve_in_order(copy.len())?;
                for e in copy.view().iter() {
                    prev.insert_grow(e.start, e.end, Some((e.ptr, e.gen)), e.dirty)?;
                }
                merged.push(None, GFP_KERNEL)?;
            } else {
                merged.push(Some(copy), GFP_KERNEL)?;
            }
        }
        let mut leaves = KVVec::with_capacity(n - merges, GFP_KERNEL)?;
        let mut old = KVVec::with_capacity(n, GFP_KERNEL)?;
        let mut prev = st.index.replace(KVVec::new());
        for (i, l) in prev.iter_mut().enumerate() {
            let keys = merged.get_mut(i).and_then(|m| m.take());
            if merge[i] {
                // Joins the previous leaf: that one now ends where this one did.
                if let Some(b) = l.bucket() {
                    old.push(b, GFP_KERNEL)?;
                }
                if let Some(p) = leaves.last_mut() {
                    let p: &mut Leaf = p;
                    p.end = l.end;
                }
            } else if let Some(keys) = keys {
                if let Some(b) = l.bucket() {
                    old.push(b, GFP_KERNEL)?;
                }
                leaves.push(Leaf::new(l.end, keys), GFP_KERNEL)?;
            } else {
                let mut keep = Leaf::new(0, LeafKeys::empty());
                core::mem::swap(&mut keep, l);
                leaves.push(keep, GFP_KERNEL)?;
            }
        }
        st.tree.old_nodes.extend_from_slice(&old, GFP_KERNEL)?;
        st.index.replace(leaves);
        Ok(merges)
    }

    /// Moving GC; `stop` is polled between batches.
    pub(crate) fn moving_gc(&self, ctl: &dyn GcControl) -> Result<MovingReport> {
        let mut report = MovingReport::default();
        let mut chosen = KVVec::new();
        {
            let mut st = self.state.lock();
            self.choose_candidates(&mut st, &mut chosen)?;
        }
        report.candidates = chosen.len() as u64;
        if chosen.is_empty() {
            return Ok(report);
        }
        let r = self.move_all(ctl, &mut report);

        // Unmark and unpin the candidates; those left empty are free.
        let mut st = self.state.lock();
        for &b in chosen.iter() {
            if let Some(m) = st.moving.get_mut(b as usize) {
                *m = false;
            }
            if let Some(bk) = st.buckets.get_mut(b as usize) {
                bk.pin = false;
            }
        }
        self.recount_buckets(&mut st, &chosen)?;
        for &b in chosen.iter() {
            if st
                .buckets
                .get(b as usize)
                .is_some_and(|bk| bk.sectors == 0 && bk.mark == GC_MARK_NONE)
            {
                report.freed += 1;
            }
        }
        r.map(|()| report)
    }

    /// Recounts the live sectors of `which` buckets from the index.
    fn recount_buckets(&self, st: &mut IoState, which: &[u64]) -> Result {
        let n = self.layout.nbuckets as usize;
        let mut sel = KVVec::from_elem(false, n, GFP_KERNEL)?;
        for &b in which {
            if let Some(s) = sel.get_mut(b as usize) {
                *s = true;
                if let Some(bk) = st.buckets.get_mut(b as usize) {
                    bk.sectors = 0;
                    bk.mark = GC_MARK_NONE;
                }
            }
        }
        let bs = self.layout.bucket_size;
        let mut counts = KVVec::from_elem(Bucket::default(), n, GFP_KERNEL)?;
        {
            let IoState { index, buckets, .. } = &mut *st;
            index.scan(0, &self.nodes(buckets), &mut |e| {
                let b = e.ptr.checked_div(bs).unwrap_or(u64::MAX) as usize;
                let live = buckets.get(b).map(|b| b.gen) == Some(e.gen);
                if live && sel.get(b).copied().unwrap_or(false) {
                    mark_extent(&mut counts, bs, e);
                }
                true
            })?;
        }
        for &b in which {
            if let (Some(bk), Some(c)) = (st.buckets.get_mut(b as usize), counts.get(b as usize)) {
                bk.mark = c.mark;
                bk.sectors = c.sectors;
            }
        }
        Ok(())
    }

    /// Marks and pins the moving-GC candidates ([`moving_candidates`]).
    fn choose_candidates(&self, st: &mut IoState, chosen: &mut KVVec<u64>) -> Result {
        let reserve = st.free.fifos[Reserve::MovingGc as usize].capacity();
        let empty = st
            .buckets
            .iter()
            .filter(|b| b.mark == GC_MARK_NONE && b.sectors == 0)
            .count();
        let limit = moving_limit(self.layout.bucket_size, reserve, empty);
        let IoState {
            buckets,
            fresh,
            scratch,
            moving,
            ..
        } = st;
        let busy = |i: usize| fresh.get(i).copied().unwrap_or(true);
        let picked = moving_candidates(buckets, busy, self.layout.bucket_size, limit, scratch);
        for &i in picked {
            if let Some(b) = buckets.get_mut(i as usize) {
                b.pin = true;
            }
            if let Some(m) = moving.get_mut(i as usize) {
                *m = true;
            }
            chosen.push(u64::from(i), GFP_KERNEL)?;
        }
        Ok(())
    }

    /// Copies every live extent in a marked bucket, batch by batch.
    fn move_all(&self, ctl: &dyn GcControl, report: &mut MovingReport) -> Result {
        let mut pos = 0u64;
        loop {
            if ctl.stopping() {
                return Err(EINTR);
            }
            let busy = self.busy();
            ctl.between_steps(busy);
            let max = if busy {
                MOVE_BATCH_BUSY
            } else {
                ctl.move_batch().clamp(1, MOVE_BATCH)
            };
            // Collect a batch of extents in marked buckets.
            let (batch, next) =
                self.collect_live(pos, u64::MAX, max, MOVE_BATCH_BYTES, &|_, m| m)?;
            let bytes: usize = batch
                .iter()
                .map(|e| ((e.end - e.start) << 9) as usize)
                .sum();
            let done = match next {
                Some(p) => {
                    pos = p;
                    false
                }
                None => true,
            };
            if batch.is_empty() && done {
                return Ok(());
            }
            if batch.is_empty() {
                continue;
            }
            // Read them without the lock.
            let mut data = KVVec::from_elem(0u8, bytes, GFP_KERNEL)?;
            let mut ok = KVec::with_capacity(batch.len(), GFP_KERNEL)?;
            let mut off = 0usize;
            for e in batch.iter() {
                let len = ((e.end - e.start) << 9) as usize;
                let r = self.bdev.read_sync(e.ptr, &mut data[off..off + len]);
                self.count_io(&r, "reading data to move");
                ok.push(r.is_ok(), GFP_KERNEL)?;
                off += len;
            }
            let mut st = self.state.lock();
            self.replace_batch(&mut st, &batch, &ok, &data, report)?;
        }
    }

    /// Writes the copies whose extents are unchanged to moving-GC buckets and journals them.
    fn replace_batch(
        &self,
        st: &mut IoState,
        batch: &[Extent],
        ok: &[bool],
        data: &[u8],
        report: &mut MovingReport,
    ) -> Result {
        let bs = self.layout.bucket_size;
        let mask = (1u64 << INODE_SHIFT) - 1;
        let mut keys = KVec::new();
        let mut off = 0usize;
        for (e, &read_ok) in batch.iter().zip(ok.iter()) {
            let len = e.end - e.start;
            let buf = &data[off..off + ((len << 9) as usize)];
            off += (len << 9) as usize;
            // Compare: the whole extent must still be where it was read from.
            let now = {
                let IoState { index, buckets, .. } = &mut *st;
                index.lookup(e.start, len, &self.nodes(buckets))?
            };
            let same = matches!(now, (Some(h), n) if h.ptr == e.ptr && h.gen == e.gen && n == len);
            if !read_ok || !same {
                report.races += 1;
                continue;
            }
            let mut done = 0u64;
            while done < len {
                let (bucket, used) = match self.open_bucket(st, true) {
                    Ok(b) => b,
                    Err(err) => {
                        // Out of moving-GC space: install what was copied so far.
                        if !keys.is_empty() {
                            self.commit(st, &keys)?;
                        }
                        return Err(err);
                    }
                };
                let n = (len - done).min(bs - used);
                let at = bucket * bs + used;
                let r = self.bdev.write_sync(
                    at,
                    &buf[(done << 9) as usize..((done + n) << 9) as usize],
                    WriteKind::Data,
                );
                self.count_io(&r, "writing moved data");
                r?;
                st.moving_open = Some((bucket, used + n));
                let mark = if e.dirty {
                    GC_MARK_DIRTY
                } else {
                    GC_MARK_RECLAIMABLE
                };
                st.account_data(bucket, mark, n);
                let end = e.start + done + n;
                let mut k = Bkey::new(end >> INODE_SHIFT, end & mask, n);
                k.set_dirty(e.dirty);
                k.set_ptrs(1);
                k.ptr[0] = Bkey::make_ptr(st.gen(bucket), at, 0);
                keys.push(k, GFP_KERNEL)?;
                done += n;
            }
            report.keys += 1;
            report.sectors += len;
        }
        if !keys.is_empty() {
            self.commit(st, &keys)?;
        }
        Ok(())
    }

    /// The consistency check: recounts every bucket from the index and the metadata and
    /// compares with the marks. Returns `(buckets checked, mismatches)`; buckets the allocator
    /// holds (open or on a free list) are skipped.
    pub(crate) fn check_marks(&self) -> Result<(u64, u64)> {
        let n = self.layout.nbuckets as usize;
        let mut counts = KVVec::from_elem(Bucket::default(), n, GFP_KERNEL)?;
        let mut st = self.state.lock();
        self.recount(&mut st, &mut counts)?;
        let mut checked = 0;
        let mut bad = 0;
        for (b, c) in st.buckets.iter().zip(counts.iter()) {
            if b.pin || b.writers > 0 {
                continue;
            }
            checked += 1;
            let meta_ok = (b.mark == GC_MARK_METADATA) == (c.mark == GC_MARK_METADATA);
            let data_ok =
                c.mark == GC_MARK_METADATA || (b.sectors == c.sectors && b.mark == c.mark);
            if !meta_ok || !data_ok {
                bad += 1;
            }
        }
        Ok((checked, bad))
    }

    /// Btree nodes of the current tree (leaves and interior nodes rbcache wrote).
    pub(crate) fn tree_nodes(&self) -> u64 {
        let st = self.state.lock();
        (st.index.leaves().len() + st.tree.interior.len()) as u64
    }
}
