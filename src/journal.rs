// SPDX-License-Identifier: GPL-2.0

//! The journal of a cache set: batched entries, flushes, and the delayed writer.
//!
//! Keys are added to a pending entry ([`IoState::jpending`]) under the state lock, after their
//! data is on the cache and before the index shows them. The pending entry is written (one
//! `PREFLUSH|FUA` write, which also makes every completed data write durable) when:
//!
//! - a bio with `REQ_PREFLUSH` or `REQ_FUA`, or an empty flush, asks for it
//!   ([`SetIo::flush_journal`]);
//! - `journal_delay_ms` after it received its first key (the `bcache_journal` thread);
//! - it is full, or any metadata entry is written (prios, uuids, a new root): every entry
//!   carries the pending keys first, so nothing written later can overtake them. In particular
//!   a bucket is reused only after a prio write, so the keys that made its old data dead are
//!   durable before it can be overwritten.
//!
//! A write that did not ask for a flush completes once its keys are pending, as in 6.12: like a
//! disk's volatile cache, it is durable after the next flush.

use core::sync::atomic::Ordering;
use kernel::prelude::*;
use kernel::time::msecs_to_jiffies;

use crate::failure::Meta;
use crate::format::io_errors::LogLimit;
use crate::format::journal::next_seq;
use crate::format::jset::{JSET_HEADER, JSET_MAX_BYTES, JSET_VERSION};
use crate::format::units::DevDisplay;
use crate::gc::now_ns;
use crate::kabi::bio::WriteKind;
use crate::kabi::noio::NoIoScope;
use crate::set_io::{IoState, Patch, SetIo};

/// `journal_delay_ms` default, as 6.12.
pub(crate) const JOURNAL_DELAY_MS: u32 = 100;

impl SetIo {
    /// Writes one journal entry after the newest one, holding the pending keys and then
    /// `packed`, with `patch` applied to the header (`PREFLUSH|FUA`). Sets
    /// [`IoState::journal_tight`] when the journal enters its last free bucket (time to reclaim
    /// it: see [`SetIo::flush_tree`]).
    pub(crate) fn journal_append(&self, st: &mut IoState, packed: &[u8], patch: Patch) -> Result {
        let bb = self.layout.block_bytes;
        let keys_len = st.jpending.len() + packed.len();
        let size = (JSET_HEADER + keys_len)
            .checked_next_multiple_of(bb)
            .ok_or(EINVAL)?;
        if size > JSET_MAX_BYTES {
            return Err(E2BIG);
        }
        let bucket_bytes = (self.layout.bucket_size << 9) as usize;
        let j = &mut st.journal;
        let nj = j.bucket_max_seq.len();
        let mut h = j.newest;
        // Registration refused a newest seq of `u64::MAX`; reaching it since fails the set.
        h.seq = next_seq(h.seq).ok_or_else(|| self.seq_exhausted("journal"))?;
        // rbcache writes the current format (version-1 uuids), whatever version it found.
        h.version = JSET_VERSION;
        if let Some(k) = patch.uuid_bucket {
            h.uuid_bucket = k;
        }
        if let Some((k, level)) = patch.btree_root {
            h.btree_root = k;
            h.btree_level = level;
        }
        if let Some(b) = patch.prio_bucket {
            if let Some(slot) = h.prio_bucket.get_mut(self.layout.dev_idx) {
                *slot = b;
            }
        }
        if patch.release {
            // Everything older is in the new tree: replay starts here.
            h.last_seq = h.seq;
        }
        let live = |m: &KVec<u64>, b: usize, last: u64| m.get(b).map_or(true, |&s| s >= last);
        let mut last_free = false;
        if j.offset + size > bucket_bytes {
            self.stats.journal_reclaims.fetch_add(1, Ordering::Relaxed);
            let next = (j.bucket + 1).checked_rem(nj).ok_or(ENOSPC)?;
            // A bucket still holding live entries cannot be reused: the journal is full.
            if live(&j.bucket_max_seq, next, h.last_seq) {
                return Err(ENOSPC);
            }
            j.bucket = next;
            j.offset = 0;
            self.stats
                .journal_buckets_reclaimed
                .fetch_add(1, Ordering::Relaxed);
            let after = (next + 1).checked_rem(nj).ok_or(ENOSPC)?;
            last_free = live(&j.bucket_max_seq, after, h.last_seq);
        }
        let mut keys = KVVec::with_capacity(keys_len, GFP_KERNEL)?;
        keys.extend_from_slice(&st.jpending, GFP_KERNEL)?;
        keys.extend_from_slice(packed, GFP_KERNEL)?;
        let mut buf = KVVec::from_elem(0u8, size, GFP_KERNEL)?;
        h.write(&mut buf, &keys).ok_or(EINVAL)?;
        let j = &mut st.journal;
        let sector = (self.layout.first_bucket + j.bucket as u64) * self.layout.bucket_size
            + (j.offset >> 9) as u64;
        self.meta_io(Meta::Journal, || {
            self.bdev.write_sync(sector, &buf, WriteKind::FlushFua)
        })?;
        self.stats.journal_writes.fetch_add(1, Ordering::Relaxed);
        self.stats
            .meta_sectors
            .fetch_add((size >> 9) as u64, Ordering::Relaxed);
        j.offset += size;
        j.newest = h;
        if let Some(m) = j.bucket_max_seq.get_mut(j.bucket) {
            *m = h.seq;
        }
        st.jpending = KVec::new();
        if last_free && !patch.release {
            st.journal_tight = true;
        }
        Ok(())
    }

    /// A sequence number that came from disk, `what` (journal or prio), has reached `u64::MAX`
    /// and cannot advance: the set fails, as 6.12's `bch_cache_set_error()` fails it, and
    /// the write that needed the seq gets `EIO`. (6.12 would wrap the seq to 0, and the next
    /// registration would take older metadata for the newest; see
    /// [`crate::format::journal::next_seq`].)
    pub(crate) fn seq_exhausted(&self, what: &str) -> Error {
        self.fail(format_args!("{} seq {} cannot advance", what, u64::MAX));
        EIO
    }

    /// Appends a journal entry without keys, then reclaims the journal if it asks for it.
    pub(crate) fn journal_commit(&self, st: &mut IoState, patch: Patch) -> Result {
        self.journal_append(st, &[], patch)?;
        if st.journal_tight {
            self.release_journal(st);
        }
        Ok(())
    }

    /// Writes the dirty leaves and a new root so the journal can be reused. A flush that
    /// fails is tried again by the next commit; its node write errors count toward
    /// `io_error_limit` and a journal write error fails the set ([`SetIo::meta_io`]), so a
    /// failing cache device fails the set. Other failures (no btree bucket, no memory) are
    /// logged at most every few seconds.
    pub(crate) fn release_journal(&self, st: &mut IoState) {
        self.stats
            .journal_flush_writes
            .fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.flush_tree(st) {
            if self.gc.failed() {
                return;
            }
            if let Some(held) = st.flush_log.allow(now_ns()) {
                pr_warn!(
                    "cache device {}: writing the btree failed ({}), the journal cannot be reclaimed yet{}\n",
                    DevDisplay(self.bdev.dev()),
                    e.to_errno(),
                    Held(held)
                );
            }
        }
    }

    /// Largest pending entry: a 32 KiB jset, or less when journal buckets are smaller.
    fn max_pending(&self) -> usize {
        let bucket_bytes = (self.layout.bucket_size << 9) as usize;
        JSET_MAX_BYTES
            .min(bucket_bytes)
            .saturating_sub(JSET_HEADER + self.layout.block_bytes)
    }

    /// Adds `packed` keys to the pending entry (writing it first if they would not fit).
    pub(crate) fn journal_add(&self, st: &mut IoState, packed: &[u8]) -> Result {
        if packed.len() > self.max_pending() {
            return Err(E2BIG);
        }
        if st.jpending.len() + packed.len() > self.max_pending() {
            self.journal_commit(st, Patch::default())?;
        }
        let was_empty = st.jpending.is_empty();
        st.jpending.extend_from_slice(packed, GFP_KERNEL)?;
        if was_empty {
            self.flusher.ring();
        }
        Ok(())
    }

    /// Makes every key added so far durable: writes the pending entry, if any.
    pub(crate) fn flush_journal(&self) -> Result {
        let mut st = self.state.lock();
        if st.jpending.is_empty() {
            return Ok(());
        }
        self.stats.journal_flushes.fetch_add(1, Ordering::Relaxed);
        self.journal_commit(&mut st, Patch::default())
    }

    /// `journal_delay_ms`.
    pub(crate) fn journal_delay_ms(&self) -> u32 {
        self.journal_delay.load(Ordering::Relaxed)
    }

    /// Sets `journal_delay_ms` (0..=10000).
    pub(crate) fn set_journal_delay_ms(&self, ms: u64) -> Result {
        let ms = u32::try_from(ms).map_err(|_| EINVAL)?;
        if ms > 10_000 {
            return Err(EINVAL);
        }
        self.journal_delay.store(ms, Ordering::Relaxed);
        Ok(())
    }

    /// The `bcache_journal` thread: once keys are pending, waits `journal_delay_ms`, then
    /// writes them. A failure that failed the set was logged there; any other (a full
    /// journal, no memory) is logged at most every few seconds.
    pub(crate) fn flusher_main(&self) {
        let mut log = LogLimit::default();
        while self.flusher.wait(msecs_to_jiffies(self.journal_delay_ms())) {
            let _noio = NoIoScope::new();
            if let Err(e) = self.flush_journal() {
                if !self.gc.failed() {
                    if let Some(held) = log.allow(now_ns()) {
                        pr_warn!(
                            "cache device {}: journal write failed ({}){}\n",
                            DevDisplay(self.bdev.dev()),
                            e.to_errno(),
                            Held(held)
                        );
                    }
                }
            }
            self.shrink_requested();
        }
    }
}

/// `; N more since the last report`, for a rate-limited log line ([`LogLimit`]), or nothing.
struct Held(u64);

impl core::fmt::Display for Held {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            0 => Ok(()),
            n => write!(f, "; {} more since the last report", n),
        }
    }
}
