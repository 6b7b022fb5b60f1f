// SPDX-License-Identifier: GPL-2.0

//! The node cache of a cache set: keeping the resident leaves of its [`crate::index::Index`]
//! within `internal/btree_cache_limit`, and giving memory back under pressure.
//!
//! - After every insert (and read-back) the cache is trimmed to its limit, least recently used
//!   clean leaves first. If dirty leaves alone hold more than half of the limit, the tree is
//!   flushed so that they become clean and evictable: memory stays bounded however the writes
//!   fall.
//! - A shrinker reports the cache's size in pages. Reclaim may call it while this set's state
//!   lock is held by the allocating thread, so its scan does not take that lock: it records
//!   the request and rings the `bcache_journal` thread, which evicts (6.12's `bch_mca_scan()`
//!   uses `mutex_trylock()` for the same reason; the 6.12 Rust `Mutex` has no `try_lock`).

use core::sync::atomic::Ordering;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;

use crate::format::alloc::Bucket;
use crate::index::{CacheStats, DiskNodes};
use crate::kabi::shrinker::ShrinkerOps;
use crate::set_io::{IoState, SetIo};

impl SetIo {
    /// The btree nodes of this set, to read leaves back from, with `buckets` for generations.
    pub(crate) fn nodes<'a>(
        &'a self,
        buckets: &'a [Bucket],
    ) -> DiskNodes<'a, impl Fn(u64) -> Option<u8> + 'a> {
        let l = &self.layout;
        DiskNodes {
            bdev: &self.bdev,
            node_bytes: (l.node_sectors << 9) as usize,
            block_bytes: l.block_bytes,
            magic: l.bset_magic,
            bucket_size: l.bucket_size,
            nbuckets: l.nbuckets,
            first_bucket: l.first_bucket,
            gen: move |b: u64| buckets.get(b as usize).map(|b| b.gen),
        }
    }

    /// Keeps the node cache within its limit: evicts clean leaves, and when dirty leaves alone
    /// hold more than half of it, writes them (a tree flush) so they can be evicted too.
    pub(crate) fn trim_cache(&self, st: &mut IoState) -> Result {
        let limit = st.index.limit();
        if st.index.bytes() > limit {
            st.index.shrink(limit);
            if st.index.dirty_bytes() > limit / 2 {
                self.flush_tree(st)?;
            }
        }
        self.publish_cache(st);
        Ok(())
    }

    /// Updates the size the shrinker reads without the lock.
    pub(crate) fn publish_cache(&self, st: &IoState) {
        self.cache_bytes.store(st.index.bytes(), Ordering::Relaxed);
    }

    /// Carries out the shrinker's requests (in the `bcache_journal` thread).
    pub(crate) fn shrink_requested(&self) {
        let want = self.shrink_request.swap(0, Ordering::Relaxed);
        if want == 0 {
            return;
        }
        let mut st = self.state.lock();
        let target = st.index.bytes().saturating_sub(want);
        let n = st.index.shrink(target);
        self.stats
            .shrinker_evictions
            .fetch_add(n as u64, Ordering::Relaxed);
        self.publish_cache(&st);
    }

    /// `internal/btree_cache_limit`.
    pub(crate) fn cache_limit(&self) -> usize {
        self.state.lock().index.limit()
    }

    /// Sets `internal/btree_cache_limit` and trims the cache to it.
    pub(crate) fn set_cache_limit(&self, limit: usize) -> Result {
        let mut st = self.state.lock();
        st.index.set_limit(limit);
        self.trim_cache(&mut st)
    }

    /// Leaves read back from disk and leaves evicted.
    pub(crate) fn cache_stats(&self) -> CacheStats {
        self.state.lock().index.stats
    }
}

impl ShrinkerOps for SetIo {
    fn count(&self) -> usize {
        self.cache_bytes.load(Ordering::Relaxed) / PAGE_SIZE
    }

    fn scan(&self, nr: usize) -> Option<usize> {
        if self.cache_bytes.load(Ordering::Relaxed) == 0 {
            return None;
        }
        self.shrink_request
            .fetch_add(nr.saturating_mul(PAGE_SIZE), Ordering::Relaxed);
        self.stats.shrinker_scans.fetch_add(1, Ordering::Relaxed);
        self.flusher.ring();
        // Freed later, by the journal thread.
        Some(0)
    }
}
