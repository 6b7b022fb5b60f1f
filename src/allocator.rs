// SPDX-License-Identifier: GPL-2.0

//! Bucket allocation for a cache set, with 6.12's free fifos and ordering (see
//! [`crate::format::alloc`] for the policy itself).
//!
//! A bucket is reused only after its new generation is durable: [`SetIo::refill`] invalidates
//! buckets in memory (gen++), writes the prios and gens to fresh prio buckets, journals the new
//! prio pointer, and only then puts the buckets on the free fifos.
//!
//! The `bcache_allocator` thread keeps the fifos topped up: an allocation that leaves its
//! reserve less than half full rings it, and it refills under the state lock until the fifos
//! are full or nothing more can be invalidated (then it wakes GC: the allocator trigger). An
//! allocation that finds its fifos empty does not wait for the thread: it refills inline, and
//! when nothing can be invalidated fails with `ENOSPC`, after which the write path wakes GC and
//! waits for a pass.
//!
//! Prio buckets, like data, only go to buckets whose new generation is durable: until the
//! journal names the new prio chain, keys on disk may still point into a bucket invalidated in
//! memory, and whatever is written there would read back as their data after a power cut. A
//! prio write therefore takes its buckets from the prio reserve, and waits until it has
//! invalidated at least as many as it may take from it, so that they refill the reserve
//! (6.12's allocator thread writes prios only with `free_inc` full, and `bch_prio_write()`
//! takes `RESERVE_PRIO`). The exception is registration (`bch_initial_gc_finish()`): buckets
//! that no key points into at all go straight to the prio and btree fifos.

use core::sync::atomic::Ordering;
use kernel::prelude::*;

use crate::failure::Meta;
use crate::format::alloc::{
    pick, Bucket, Fifo, Reserve, BUCKET_GC_GEN_MAX, GC_MARK_METADATA, GC_MARK_NONE,
};
use crate::format::init::{BTREE_PRIO, INITIAL_PRIO};
use crate::format::prio::{self, PrioHeader};
use crate::kabi::bio::WriteKind;
use crate::kabi::noio::NoIoScope;
use crate::kabi::random::random_u64;
use crate::set_io::{IoState, Layout, Patch, SetIo};

impl IoState {
    /// `bch_initial_gc_finish()`: puts buckets without any live data straight on the prio and
    /// btree fifos, so the first prio write has somewhere to go.
    pub(crate) fn initial_free(&mut self, l: &Layout) {
        for b in l.first_bucket..l.nbuckets {
            let prio_full = self.free.fifos[Reserve::Prio as usize].is_full();
            if prio_full && self.free.fifos[Reserve::Btree as usize].is_full() {
                break;
            }
            let Some(bk) = self.buckets.get_mut(b as usize) else {
                break;
            };
            if bk.can_invalidate() && bk.mark == GC_MARK_NONE {
                bk.invalidate();
                let r = if prio_full {
                    Reserve::Btree
                } else {
                    Reserve::Prio
                };
                self.free.fifos[r as usize].push(b);
            }
        }
    }

    /// A bucket the allocator handed out is no longer open: GC's marks decide about it now.
    pub(crate) fn unpin(&mut self, b: u64) {
        if let Some(bk) = self.buckets.get_mut(b as usize) {
            bk.pin = false;
        }
    }

    /// `__bch_bucket_free()`: nothing references `b` any more (an old metadata bucket, or one
    /// allocated and never used); it may be invalidated.
    pub(crate) fn release_bucket(&mut self, b: u64) {
        if let Some(bk) = self.buckets.get_mut(b as usize) {
            bk.mark = GC_MARK_NONE;
            bk.sectors = 0;
            bk.pin = false;
        }
    }

    /// Records that `b` was handed out for `reserve`, as `bch_bucket_alloc()` marks it.
    fn take(&mut self, b: u64, reserve: Reserve) {
        if let Some(f) = self.fresh.get_mut(b as usize) {
            *f = true;
        }
        if let Some(bk) = self.buckets.get_mut(b as usize) {
            bk.sectors = 0;
            if matches!(reserve, Reserve::Btree | Reserve::Prio) {
                bk.mark = GC_MARK_METADATA;
                bk.prio = BTREE_PRIO;
                bk.pin = false;
            } else {
                bk.mark = GC_MARK_NONE;
                bk.prio = INITIAL_PRIO;
                bk.pin = true;
            }
        }
    }

    /// Whether some bucket could be invalidated but for the generation guard (a tree flush
    /// would let it go).
    fn gen_blocked(&self) -> bool {
        self.buckets.iter().any(|b| {
            !b.pin && b.mark == GC_MARK_NONE && b.sectors == 0 && b.gc_gen() >= BUCKET_GC_GEN_MAX
        })
    }
}

impl SetIo {
    /// `bch_bucket_alloc()`: a bucket for `reserve`, refilling the fifos if they are empty.
    pub(crate) fn alloc(&self, st: &mut IoState, reserve: Reserve) -> Result<u64> {
        // Refills go to the prio and btree reserves first: a few rounds may be needed before
        // `reserve` sees a bucket.
        for _ in 0..16 {
            if let Some(b) = st.free.pop(reserve) {
                st.take(b, reserve);
                if 2 * st.free.available(reserve) < st.free.fifos[reserve as usize].capacity() {
                    self.allocator.ring();
                }
                return Ok(b);
            }
            self.refill(st)?;
        }
        Err(ENOSPC)
    }

    /// The `bcache_allocator` thread: refills the free fifos whenever an allocation ran them
    /// low.
    pub(crate) fn allocator_main(&self) {
        while self.allocator.wait(0) {
            let _noio = NoIoScope::new();
            loop {
                // One round per lock hold, so writers get in between.
                let r = {
                    let mut st = self.state.lock();
                    if st.free.all_full() {
                        break;
                    }
                    self.refill(&mut st)
                };
                if let Err(e) = r {
                    if e == ENOSPC {
                        self.gc.allocator_wake();
                    }
                    break;
                }
            }
        }
    }

    /// One round of the allocator: invalidate a batch of buckets into `free_inc`, write prios
    /// so their new generations are durable, then move what fits onto the free fifos. What
    /// does not fit stays on `free_inc`, durable, for the next round (6.12's allocator thread
    /// blocks holding them instead). `ENOSPC` if nothing could be invalidated (the caller's cue
    /// to wake GC).
    pub(crate) fn refill(&self, st: &mut IoState) -> Result {
        let before = st.free.total();
        self.refill_once(st)?;
        // A round whose prio write used up what it invalidated (the only bucket it could take
        // was the previous prio bucket, say) made no progress: GC must find more first.
        if st.free.total() <= before {
            self.gc.note_needs_gc();
            return Err(ENOSPC);
        }
        Ok(())
    }

    fn refill_once(&self, st: &mut IoState) -> Result {
        if st.free_inc.is_empty() {
            st.free_inc_durable = false;
        }
        if !st.free_inc_durable {
            // The prio write takes up to `prio_buckets` buckets from the prio reserve, which
            // the buckets it makes durable then refill first: so it waits until at least as
            // many are invalidated, and the reserve is full again after every write.
            let need = (self.layout.prio_buckets as usize).clamp(1, st.free_inc.capacity());
            if st.free_inc.len() < need {
                let want = st.free_inc.capacity() - st.free_inc.len();
                let taken = self.invalidate(st, want);
                if st.free_inc.len() < need && !st.in_flush && st.gen_blocked() {
                    // Old keys on disk pin generations: rewriting the tree releases them.
                    self.flush_tree(st)?;
                    self.invalidate(st, want - taken);
                }
                if st.free_inc.len() < need {
                    self.gc.note_needs_gc();
                    return Err(ENOSPC);
                }
            }
            self.prio_write(st)?;
            st.free_inc_durable = true;
        }
        let mut moved = false;
        while !st.free.all_full() {
            let Some(b) = st.free_inc.pop() else {
                break;
            };
            // Cannot fail: not all fifos are full.
            st.free.push(b);
            moved = true;
        }
        if moved {
            Ok(())
        } else {
            Err(ENOSPC)
        }
    }

    /// Invalidates up to `want` buckets into `free_inc`; returns how many.
    fn invalidate(&self, st: &mut IoState, want: usize) -> usize {
        let IoState {
            pick: state,
            buckets,
            scratch,
            free_inc,
            ..
        } = st;
        // Buckets waiting in `free_inc` are pinned, so their generations do not change: the
        // new generation-0 entries are the invalidations that wrapped 255 to 0.
        let wrapped = |free_inc: &Fifo<KVVec<u64>>, buckets: &[Bucket]| {
            let mut n = 0u64;
            free_inc.for_each(|b| {
                if buckets.get(b as usize).is_some_and(|x| x.gen == 0) {
                    n += 1;
                }
            });
            n
        };
        let before = wrapped(free_inc, buckets);
        let taken = pick(state, buckets, want, scratch, &mut random_u64, &mut |b| {
            free_inc.push(b);
        });
        self.stats
            .invalidated
            .fetch_add(taken as u64, Ordering::Relaxed);
        let wraps = wrapped(free_inc, buckets).saturating_sub(before);
        self.stats.gen_wraps.fetch_add(wraps, Ordering::Relaxed);
        if taken > 0 {
            // Reads sent on without the state lock must not trust what they read from now on.
            self.reuse_epoch.fetch_add(1, Ordering::AcqRel);
        }
        taken
    }

    /// `bch_prio_write()`: writes every bucket's prio and gen to fresh prio buckets (chained
    /// from the last back to the first), journals the new chain, then frees the old one.
    pub(crate) fn prio_write(&self, st: &mut IoState) -> Result {
        let l = &self.layout;
        let n = l.prio_buckets as usize;
        let mut chain = KVVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            // Only a bucket whose new generation is durable (from the free fifos, never
            // `free_inc`): until the journal names the new chain the old prios are in force,
            // and keys on disk may still point into a bucket invalidated since (clean data, or
            // data overwritten in memory only). Prio bytes written there would read back as
            // that data after a power cut. `refill_once` keeps the prio reserve full for this.
            let b = match st
                .free
                .pop(Reserve::Prio)
                .or_else(|| st.free.pop(Reserve::MovingGc))
                .or_else(|| st.free.pop(Reserve::Btree))
            {
                Some(b) => b,
                None => {
                    for &b in chain.iter() {
                        st.release_bucket(b);
                    }
                    return Err(ENOSPC);
                }
            };
            st.take(b, Reserve::Prio);
            chain.push(b, GFP_KERNEL)?;
        }
        let r = self.write_prio_chain(st, &chain);
        if let Err(e) = r {
            for &b in chain.iter() {
                st.release_bucket(b);
            }
            return Err(e);
        }
        let old = core::mem::replace(&mut st.prio_chain, chain);
        for &b in old.iter() {
            st.release_bucket(b);
        }
        self.stats.prio_writes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Writes the prio buckets of `chain` and a journal entry pointing at the first.
    fn write_prio_chain(&self, st: &mut IoState, chain: &[u64]) -> Result {
        let l = &self.layout;
        let mut buf = KVVec::from_elem(0u8, l.meta_bucket_bytes, GFP_KERNEL)?;
        let per = prio::entries_per_bucket(buf.len());
        // `prio_seq` came from disk. Registration refuses `u64::MAX` (no prio write could
        // follow it); a seq that reaches it since fails the set rather than wrap as 6.12's
        // `disk_buckets->seq++` would (see `prio::next_seq`).
        let seq = prio::next_seq(st.prio_seq).ok_or_else(|| self.seq_exhausted("prio"))?;
        for (i, &bucket) in chain.iter().enumerate() {
            buf.fill(0);
            let first = i * per;
            let range = st.buckets.get(first..).unwrap_or(&[]);
            for (j, b) in range.iter().take(per).enumerate() {
                prio::set_entry(&mut buf, j, b.prio, b.gen).ok_or(EINVAL)?;
            }
            let next = chain.get(i + 1).copied().unwrap_or(0);
            prio::write_header(
                &mut buf,
                l.pset_magic,
                &PrioHeader {
                    seq,
                    version: 0,
                    next_bucket: next,
                },
            )
            .ok_or(EINVAL)?;
            self.meta_io(Meta::Prio, || {
                self.bdev
                    .write_sync(bucket * l.bucket_size, &buf, WriteKind::Meta)
            })?;
            self.stats
                .meta_sectors
                .fetch_add((buf.len() >> 9) as u64, Ordering::Relaxed);
        }
        let first = chain.first().copied().ok_or(EINVAL)?;
        self.journal_append(
            st,
            &[],
            Patch {
                prio_bucket: Some(first),
                ..Patch::default()
            },
        )?;
        st.prio_seq = seq;
        Ok(())
    }
}

impl SetIo {
    /// The per-bucket state as `priority_stats` summarises it: `(unused %, metadata %, dirty %)`.
    pub(crate) fn usage(&self) -> (u64, u64, u64) {
        usage(&self.state.lock().buckets)
    }
}

fn usage(buckets: &[Bucket]) -> (u64, u64, u64) {
    let n = buckets.len() as u64;
    let mut unused = 0;
    let mut meta = 0;
    let mut dirty = 0;
    for b in buckets {
        match b.mark {
            GC_MARK_METADATA => meta += 1,
            crate::format::alloc::GC_MARK_DIRTY => dirty += 1,
            _ if b.sectors == 0 => unused += 1,
            _ => {}
        }
    }
    let pct = |x: u64| (x * 100).checked_div(n).unwrap_or(0);
    (pct(unused), pct(meta), pct(dirty))
}
