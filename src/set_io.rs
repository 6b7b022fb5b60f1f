// SPDX-License-Identifier: GPL-2.0

//! A cache set's data path: the index, space for new data, the journal, and the volumes' uuid
//! table. On disk everything is as bcache 6.12 writes it.
//!
//! - **Index.** The btree's leaves and their extents ([`Index`]) are the authority for reads.
//!   Leaf keys live in a bounded node cache: clean leaves are evicted and read back from their
//!   nodes on demand. Leaves that received keys are rewritten (copy-on-write, split at the 4/5
//!   rule) when the journal is reclaimed ([`crate::btree`]).
//! - **Writes.** Space in an open bucket is reserved under the state lock (the bucket counts
//!   the write as in flight, so nothing can reuse it); the data is written without the lock, so
//!   writes proceed in parallel; then, under the lock, the keys join the pending journal entry
//!   ([`crate::journal`]) and the index. The write completes then, durable after the next
//!   flush; a bio with `REQ_PREFLUSH` or `REQ_FUA` waits for the journal write.
//! - **Journal reclaim.** When the journal enters its last free bucket, the dirty leaves and a
//!   new root are written and a journal entry pointing at the root starts replay afresh.
//! - **No space.** A write that finds no bucket wakes the GC thread (the allocator trigger) and
//!   waits for a pass, up to [`ALLOC_RETRIES`] times, before failing with `ENOSPC`.
//!
//! Locking: one mutex, [`SetIo::state`], serialises everything that changes the index, the
//! buckets or the journal, and is held across metadata IO (journal, prios, nodes, uuids) but
//! not across foreground data IO. The GC thread takes it in short steps.
//! Lock order: a volume's pending count, then `state`; `state`, then the GC wake lock or the
//! journal flusher's lock.

use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use kernel::prelude::*;
use kernel::sync::{new_mutex, Arc};

use crate::dirty::DirtyCounts;
use crate::failure::Meta;
use crate::format::alloc::{
    Bucket, Fifo, FreeLists, PickState, Policy, Reserve, GC_MARK_DIRTY, GC_MARK_METADATA,
    GC_MARK_RECLAIMABLE,
};
use crate::format::bkey::{Bkey, MAX_SIZE};
use crate::format::congestion::Congestion;
use crate::format::extents::{self, Extent};
use crate::format::io_errors::{IoErrors, LogLimit};
use crate::format::superblock::{Superblock, CACHE_SYNC};
use crate::gc::Gc;
use crate::index::{Index, LeafKeys, Node, NodeSource};
use crate::journal::JOURNAL_DELAY_MS;
use crate::kabi::bdev::BdevFile;
use crate::kabi::bio::WriteKind;
use crate::kabi::disk::{Bio, MAX_WRITE_PARTS};
use crate::kabi::noio::NoIoMutex;
use crate::metadata::{write_superblock, JournalState, SetData, UuidTable};
use crate::stats::{CacheStats, StatsOwner};
use crate::waker::Waker;

/// GC passes a write waits for before it fails with `ENOSPC`.
const ALLOC_RETRIES: u32 = 3;

/// Where a set's cache lives and how it is laid out.
pub(crate) struct Layout {
    /// Bucket size in sectors.
    pub(crate) bucket_size: u64,
    /// Number of buckets.
    pub(crate) nbuckets: u64,
    /// First bucket (the first journal bucket).
    pub(crate) first_bucket: u64,
    /// Journal buckets.
    pub(crate) njournal: u64,
    /// Block size in bytes.
    pub(crate) block_bytes: usize,
    /// Sectors of a btree node.
    pub(crate) node_sectors: u64,
    /// Bytes of a metadata bucket IO (prios, uuids).
    pub(crate) meta_bucket_bytes: usize,
    /// Buckets of one prio write.
    pub(crate) prio_buckets: u64,
    /// This cache's slot in the journal's prio pointers.
    pub(crate) dev_idx: usize,
    /// The set's bset magic.
    pub(crate) bset_magic: u64,
    /// The set's prio-set magic.
    pub(crate) pset_magic: u64,
    /// The replacement policy.
    pub(crate) policy: Policy,
    /// Sizes of the free fifos, by [`Reserve`], and of `free_inc`.
    pub(crate) fifo_sizes: [usize; 5],
}

impl Layout {
    /// The bucket holding cache sector `sector` (`u64::MAX` for a layout without buckets,
    /// which no bucket table has).
    pub(crate) fn bucket_of(&self, sector: u64) -> u64 {
        sector.checked_div(self.bucket_size).unwrap_or(u64::MAX)
    }
}

/// The btree on disk.
pub(crate) struct Tree {
    /// Buckets of the interior nodes rbcache wrote.
    pub(crate) interior: KVVec<u64>,
    /// Buckets of interior nodes found at registration, or of leaves merged away, until the
    /// next flush.
    pub(crate) old_nodes: KVVec<u64>,
    /// The root's level.
    pub(crate) level: u16,
    /// Keys in the root node.
    pub(crate) root_keys: usize,
}

/// Everything [`SetIo::state`] protects.
pub(crate) struct IoState {
    /// The index: the btree's leaves and their keys.
    pub(crate) index: Index,
    /// The journal.
    pub(crate) journal: JournalState,
    /// The uuid table.
    pub(crate) uuids: UuidTable,
    /// The uuid table's bucket.
    pub(crate) uuid_bucket: u64,
    /// Per-bucket state.
    pub(crate) buckets: KVVec<Bucket>,
    /// Buckets allocated since the current GC pass started (GC keeps their marks).
    pub(crate) fresh: KVVec<bool>,
    /// Free buckets whose generation is durable, per reserve.
    pub(crate) free: FreeLists<KVVec<u64>>,
    /// Buckets invalidated in memory, waiting for a prio write (or, once
    /// [`IoState::free_inc_durable`], for room on the free fifos).
    pub(crate) free_inc: Fifo<KVVec<u64>>,
    /// The generations of the buckets on `free_inc` are durable.
    pub(crate) free_inc_durable: bool,
    /// The invalidation order.
    pub(crate) pick: PickState,
    /// Sort space for the LRU order.
    pub(crate) scratch: KVVec<u32>,
    /// The current prio buckets, in chain order.
    pub(crate) prio_chain: KVVec<u64>,
    /// Sequence number of the last prio write.
    pub(crate) prio_seq: u64,
    /// The btree on disk.
    pub(crate) tree: Tree,
    /// The bucket foreground data is written to, and sectors used in it.
    pub(crate) open: Option<(u64, u64)>,
    /// The bucket moving GC writes to, and sectors used in it.
    pub(crate) moving_open: Option<(u64, u64)>,
    /// A tree flush is running (allocations inside it must not start another).
    pub(crate) in_flush: bool,
    /// Buckets marked for moving GC.
    pub(crate) moving: KVVec<bool>,
    /// The journal has entered its last free bucket: reclaim it before adding keys.
    pub(crate) journal_tight: bool,
    /// Packed keys of the next journal entry, not yet written.
    pub(crate) jpending: KVec<u8>,
    /// The cache's superblock as last written.
    pub(crate) sb: Superblock,
    /// Write sequence numbers by inode slot, for the fill check.
    pub(crate) write_seqs: [u64; WRITE_SEQ_SLOTS],
    /// Writes around the cache in flight by inode slot ([`SetIo::invalidate_around`]): no
    /// fill of the slot's inodes is inserted while there are any.
    around: [u32; WRITE_SEQ_SLOTS],
    /// Dirty sectors per stripe of each attached cached device.
    pub(crate) dirty: KVec<Option<DirtyCounts>>,
    /// Rate limit of the log line of a failing journal reclaim ([`SetIo::release_journal`]).
    pub(crate) flush_log: LogLimit,
}

/// What [`SetIo::locate`] found.
enum Located {
    /// Live data at a cache sector, of a generation, for a run of sectors, and whether it
    /// is dirty.
    Data(u64, u8, u64, bool),
    /// A hole of a run of sectors.
    Hole(u64),
}

/// Event counters for sysfs.
#[derive(Default)]
pub(crate) struct IoStats {
    /// Tree flushes (journal reclaims).
    pub(crate) tree_flushes: AtomicU64,
    /// Btree nodes written.
    pub(crate) nodes_written: AtomicU64,
    /// Prio writes.
    pub(crate) prio_writes: AtomicU64,
    /// Buckets invalidated.
    pub(crate) invalidated: AtomicU64,
    /// Invalidations that wrapped a bucket's 8-bit generation from 255 to 0.
    pub(crate) gen_wraps: AtomicU64,
    /// Sectors of data written (foreground).
    pub(crate) data_sectors: AtomicU64,
    /// Sectors of metadata written (journal, nodes, prios, uuids).
    pub(crate) meta_sectors: AtomicU64,
    /// Reads done again because their bucket was reused meanwhile.
    pub(crate) read_races: AtomicU64,
    /// Read hits sent on without the state lock ([`SetIo::locate_hit`]) that had to be read
    /// again the slow way because a bucket was invalidated meanwhile.
    pub(crate) fast_read_retries: AtomicU64,
    /// Writes sent on from the submitter's context and finished by a work item: to the
    /// cache ([`SetIo::commit_reserved`]) or around it.
    pub(crate) fast_writes: AtomicU64,
    /// Sectors read from the cache.
    pub(crate) cache_reads: AtomicU64,
    /// Fills dropped because a write came first.
    pub(crate) fill_collisions: AtomicU64,
    /// Reads of clean cached data the cache device failed, served from the backing device.
    pub(crate) read_errors_recovered: AtomicU64,
    /// Invalidations (writes around the cache, discards) of ranges the cache held nothing
    /// of, which journaled and inserted no key.
    pub(crate) empty_invalidations: AtomicU64,
    /// Journal writes asked for by flushes.
    pub(crate) journal_flushes: AtomicU64,
    /// Journal entries written.
    pub(crate) journal_writes: AtomicU64,
    /// Shrinker scans (requests to the journal thread).
    pub(crate) shrinker_scans: AtomicU64,
    /// Leaves evicted at the shrinker's request.
    pub(crate) shrinker_evictions: AtomicU64,
    /// Times the journal reached the end of a bucket and looked for the next one to reuse
    /// (6.12's `reclaim`).
    pub(crate) journal_reclaims: AtomicU64,
    /// Journal buckets taken for reuse (`reclaimed_journal_buckets`).
    pub(crate) journal_buckets_reclaimed: AtomicU64,
    /// Tree flushes forced by a journal that entered its last free bucket (`flush_write`).
    pub(crate) journal_flush_writes: AtomicU64,
    /// Dirty extents marked clean after writeback (`writeback_keys_done`).
    pub(crate) writeback_keys_done: AtomicU64,
    /// Dirty extents written back that a foreground write changed meanwhile, left dirty with
    /// the newer data (`writeback_keys_failed`).
    pub(crate) writeback_keys_failed: AtomicU64,
}

/// The data path of one cache set, shared by its volumes and its GC thread.
#[pin_data]
pub(crate) struct SetIo {
    pub(crate) bdev: Arc<BdevFile>,
    pub(crate) gc: Arc<Gc>,
    pub(crate) layout: Layout,
    pub(crate) stats: IoStats,
    /// The set's `stats_total/` etc.: the hits and misses of all its backing devices.
    #[pin]
    pub(crate) accounting: CacheStats,
    /// Foreground writes and discards in flight (GC yields to them).
    pub(crate) fg_inflight: AtomicU64,
    /// Bytes of the node cache, for the shrinker (which cannot take the state lock).
    pub(crate) cache_bytes: AtomicUsize,
    /// Bytes the shrinker asked the journal thread to evict.
    pub(crate) shrink_request: AtomicUsize,
    /// `journal_delay_ms`.
    pub(crate) journal_delay: AtomicU32,
    /// Congestion bypass: the latency of data IO to the cache (`congested_*`).
    pub(crate) congestion: Congestion,
    /// The decaying count of data IO errors (`io_errors`, `io_error_limit`,
    /// `io_error_halflife`): the set fails at the limit ([`SetIo::count_io`]).
    pub(crate) io_errors: IoErrors,
    /// Bumped, under the state lock, whenever buckets are invalidated for reuse: a read sent
    /// on without the lock read live data if it is unchanged since before its lookup
    /// ([`SetIo::hit_is_live`]).
    pub(crate) reuse_epoch: AtomicU64,
    /// Doorbell of the `bcache_journal` thread.
    #[pin]
    pub(crate) flusher: Waker,
    /// Doorbell of the `bcache_allocator` thread.
    #[pin]
    pub(crate) allocator: Waker,
    /// Taken in `submit_bio`: held only inside a no-IO scope ([`NoIoMutex`]).
    #[pin]
    pub(crate) state: NoIoMutex<IoState>,
}

/// Data to be written into the cache: a buffer, or a bio's own pages from a byte offset
/// (written through a trimmed clone, no bounce buffer).
#[derive(Clone, Copy)]
pub(crate) enum Source<'a> {
    /// A buffer.
    Buf(&'a [u8]),
    /// A bio's data, from a byte offset.
    Bio(&'a Bio, usize),
}

impl Source<'_> {
    /// Bytes left.
    pub(crate) fn len(&self) -> usize {
        match self {
            Source::Buf(b) => b.len(),
            Source::Bio(b, off) => b.len().saturating_sub(*off),
        }
    }

    /// Writes parts of what is left to `bdev`, each `(sector, at, len)`: `len` bytes from
    /// byte `at` at `sector`. From a bio, all are in flight together.
    fn write_parts(
        &self,
        bdev: &BdevFile,
        parts: impl Iterator<Item = (u64, usize, usize)>,
    ) -> Result {
        match self {
            Source::Buf(b) => {
                for (sector, at, len) in parts {
                    let end = at.checked_add(len).ok_or(EINVAL)?;
                    bdev.write_sync(sector, b.get(at..end).ok_or(EINVAL)?, WriteKind::Data)?;
                }
                Ok(())
            }
            Source::Bio(b, off) => b.write_parts_to(
                bdev,
                parts.map(|(sector, at, len)| (sector, off.saturating_add(at), len)),
            ),
        }
    }
}

/// Room reserved for a write ([`SetIo::reserve_nowait`]): its pieces, `(bucket, cache
/// sector, sectors)`, each holding a writer on its bucket.
pub(crate) struct Reserved {
    pieces: [(u64, u64, u64); MAX_WRITE_PARTS],
    n: usize,
}

impl Reserved {
    /// The pieces, in order.
    pub(crate) fn pieces(&self) -> &[(u64, u64, u64)] {
        self.pieces.get(..self.n).unwrap_or(&[])
    }

    /// The pieces as parts of a write from byte 0 of a bio ([`Remapper::write_parts`]):
    /// `(cache sector, byte offset, bytes)`, written to `out`.
    ///
    /// [`Remapper::write_parts`]: crate::kabi::disk::Remapper::write_parts
    pub(crate) fn parts<'a>(
        &self,
        out: &'a mut [(u64, usize, usize); MAX_WRITE_PARTS],
    ) -> &'a [(u64, usize, usize)] {
        let mut off = 0usize;
        for (part, &(_, at, n)) in out.iter_mut().zip(self.pieces()) {
            let bytes = (n << 9) as usize;
            *part = (at, off, bytes);
            off = off.saturating_add(bytes);
        }
        out.get(..self.n).unwrap_or(&[])
    }
}

/// A node source for lookups that must not do IO: every leaf not in memory is `EAGAIN`.
struct NotResident;

impl NodeSource for NotResident {
    fn read_leaf(&self, _: Node, _: u64, _: u64, _: &mut LeafKeys) -> Result<bool> {
        Err(EAGAIN)
    }
}

/// A write around the cache in flight ([`SetIo::invalidate_around`]); dropping it, once the
/// write completed, lets fills of the inode in again, and fails those that began before.
pub(crate) struct AroundWrite<'a> {
    io: &'a SetIo,
    inode: u64,
}

impl Drop for AroundWrite<'_> {
    fn drop(&mut self) {
        self.io.end_around(self.inode);
    }
}

/// A read hit on one live extent ([`SetIo::locate_hit`]).
pub(crate) struct Hit {
    /// The cache sector of the data.
    pub(crate) ptr: u64,
    /// [`SetIo::reuse_epoch`] before the lookup.
    epoch: u64,
    /// Sectors read.
    sectors: u64,
}

/// What [`SetIo::read_direct`] found.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direct {
    /// Served: the bio holds the cached data.
    Hit,
    /// The cache holds none of the range (the bio is untouched).
    Hole,
    /// Partly cached, several extents, or a race: read through [`SetIo::read_cached`].
    Mixed,
    /// Clean cached data the cache device failed to read: the backing device holds the same
    /// (the bio's data is undefined).
    Unreadable,
}

/// Counts a foreground operation in flight for as long as it lives.
struct InFlight<'a>(&'a AtomicU64);

impl<'a> InFlight<'a> {
    fn new(c: &'a AtomicU64) -> Self {
        c.fetch_add(1, Ordering::Relaxed);
        InFlight(c)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl SetIo {
    /// Creates the data path from what registration read, and gives the allocator its first
    /// buckets.
    pub(crate) fn new(
        bdev: Arc<BdevFile>,
        gc: Arc<Gc>,
        layout: Layout,
        data: SetData,
        sb: Superblock,
    ) -> Result<Arc<Self>> {
        let n = layout.nbuckets as usize;
        let fifo = |i: usize| -> Result<Fifo<KVVec<u64>>> {
            Ok(Fifo::new(KVVec::from_elem(
                0u64,
                layout.fifo_sizes[i].max(1),
                GFP_KERNEL,
            )?))
        };
        let free = FreeLists {
            fifos: [fifo(0)?, fifo(1)?, fifo(2)?, fifo(3)?],
        };
        let free_inc = fifo(4)?;
        let SetData {
            index,
            buckets,
            journal,
            uuids,
            prio_chain,
            prio_seq,
            nodes,
        } = data;
        let uuid_bucket = layout.bucket_of(journal.newest.uuid_bucket.ptr_offset(0));
        let level = journal.newest.btree_level;
        let pick = PickState {
            policy: layout.policy,
            first: layout.first_bucket,
            cursor: layout.first_bucket,
        };
        let mut st = IoState {
            index,
            journal,
            uuids,
            uuid_bucket,
            buckets,
            fresh: KVVec::from_elem(false, n, GFP_KERNEL)?,
            free,
            free_inc,
            free_inc_durable: false,
            pick,
            scratch: KVVec::from_elem(0u32, n, GFP_KERNEL)?,
            prio_chain,
            prio_seq,
            tree: Tree {
                interior: KVVec::new(),
                old_nodes: nodes,
                level,
                root_keys: 0,
            },
            open: None,
            moving_open: None,
            in_flush: false,
            moving: KVVec::from_elem(false, n, GFP_KERNEL)?,
            journal_tight: false,
            jpending: KVec::new(),
            sb,
            write_seqs: [0; WRITE_SEQ_SLOTS],
            around: [0; WRITE_SEQ_SLOTS],
            dirty: KVec::new(),
            flush_log: LogLimit::default(),
        };
        st.initial_free(&layout);
        Arc::pin_init(
            pin_init!(SetIo {
                bdev,
                gc,
                layout,
                stats: IoStats::default(),
                accounting <- CacheStats::new(),
                fg_inflight: AtomicU64::new(0),
                cache_bytes: AtomicUsize::new(0),
                shrink_request: AtomicUsize::new(0),
                journal_delay: AtomicU32::new(JOURNAL_DELAY_MS),
                congestion: Congestion::new(),
                io_errors: IoErrors::new(),
                reuse_epoch: AtomicU64::new(0),
                flusher <- Waker::new(),
                allocator <- Waker::new(),
                state <- NoIoMutex::new(new_mutex!(st, "SetIo::state")),
            }),
            GFP_KERNEL,
        )
    }

    /// Whether foreground writes or discards are in flight.
    pub(crate) fn busy(&self) -> bool {
        self.fg_inflight.load(Ordering::Relaxed) > 0
    }

    /// `cache_available_percent`: buckets holding neither metadata nor dirty data.
    pub(crate) fn available_percent(&self) -> u64 {
        let st = self.state.lock();
        let free = st
            .buckets
            .iter()
            .filter(|b| b.mark != GC_MARK_METADATA && b.mark != GC_MARK_DIRTY)
            .count() as u64;
        (free * 100).checked_div(self.layout.nbuckets).unwrap_or(0)
    }

    /// Reads what `sector` of `inode` holds, up to `max` sectors (a run of one extent or one
    /// hole) into the start of `buf`, zeroes for a hole; returns the bytes filled.
    pub(crate) fn read(&self, inode: u64, sector: u64, max: u64, buf: &mut [u8]) -> Result<usize> {
        match self.read_cached(inode, sector, max, buf)? {
            Found::Data(bytes) => Ok(bytes),
            // No backing device to read it from.
            Found::Unreadable(_) => Err(EIO),
            Found::Hole(sectors) => {
                let bytes = (sectors as usize) << 9;
                buf.get_mut(..bytes).ok_or(EIO)?.fill(0);
                Ok(bytes)
            }
        }
    }

    /// Where the cache holds `sector` of `inode`, for up to `max` sectors: live data at a
    /// cache sector and generation, or a hole (or stale data, which is the same).
    fn locate(&self, inode: u64, sector: u64, max: u64) -> Result<Located> {
        self.locate_in(inode, sector, max, false)
    }

    /// As [`SetIo::locate`]; with `resident_only`, fails with `EAGAIN` rather than read a leaf
    /// back from its node (from a `submit_bio` handler no IO may be waited for: it would only
    /// be issued once the handler returns).
    fn locate_in(&self, inode: u64, sector: u64, max: u64, resident_only: bool) -> Result<Located> {
        let k = extents::key(inode, sector).ok_or(EIO)?;
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let (hit, run) = if resident_only {
            st.index.lookup(k, max, &NotResident)?
        } else {
            st.index.lookup(k, max, &self.nodes(&st.buckets))?
        };
        let limit = st.index.limit();
        st.index.shrink(limit);
        self.publish_cache(st);
        Ok(
            match hit.filter(|h| st.gen(self.layout.bucket_of(h.ptr)) == h.gen) {
                Some(h) => Located::Data(h.ptr, h.gen, run, h.dirty),
                None => Located::Hole(run),
            },
        )
    }

    /// Where the cache holds all `sectors` of `inode` at `sector` in one live extent, for a
    /// read sent on to the cache device without waiting (checked with [`SetIo::hit_is_live`]
    /// when it completes).
    pub(crate) fn locate_hit(&self, inode: u64, sector: u64, sectors: u64) -> Result<Option<Hit>> {
        // Before the lookup: an invalidation from here on shows as a new epoch.
        let epoch = self.reuse_epoch.load(Ordering::Acquire);
        Ok(match self.locate_in(inode, sector, sectors, true)? {
            Located::Data(ptr, _, run, _) if run == sectors => Some(Hit {
                ptr,
                epoch,
                sectors,
            }),
            _ => None,
        })
    }

    /// Whether the read of `hit`, now completed, read live data: no bucket was invalidated
    /// since its lookup (so its bucket was not reused). Does not sleep: for completion
    /// context.
    pub(crate) fn hit_is_live(&self, hit: &Hit) -> bool {
        if self.reuse_epoch.load(Ordering::Acquire) != hit.epoch {
            self.stats.fast_read_retries.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        self.stats
            .cache_reads
            .fetch_add(hit.sectors, Ordering::Relaxed);
        true
    }

    /// Whether data read from cache sector `ptr` with generation `gen` was still live after
    /// the read (its bucket was not reused meanwhile); counts a race if not.
    fn still_live(&self, ptr: u64, gen: u8, run: u64) -> bool {
        if self.state.lock().gen(self.layout.bucket_of(ptr)) == gen {
            self.stats.cache_reads.fetch_add(run, Ordering::Relaxed);
            return true;
        }
        self.stats.read_races.fetch_add(1, Ordering::Relaxed);
        false
    }

    /// Reads what `sector` of `inode` holds, up to `max` sectors (a run of one extent or one
    /// hole) into the start of `buf`; returns the bytes read, or the sectors of the hole.
    /// A read that races with the reuse of its bucket is retried.
    pub(crate) fn read_cached(
        &self,
        inode: u64,
        sector: u64,
        max: u64,
        buf: &mut [u8],
    ) -> Result<Found> {
        let max = max.min((buf.len() >> 9) as u64);
        for _ in 0..16 {
            let (ptr, gen, run, dirty) = match self.locate(inode, sector, max)? {
                Located::Data(ptr, gen, run, dirty) => (ptr, gen, run, dirty),
                Located::Hole(run) => return Ok(Found::Hole(run)),
            };
            let bytes = (run as usize) << 9;
            let dst = buf.get_mut(..bytes).ok_or(EIO)?;
            let r = self.timed(false, || self.bdev.read_sync(ptr, dst));
            self.count_io(&r, "reading data");
            if let Err(e) = r {
                return self.read_failed(dirty, e).map(|()| Found::Unreadable(run));
            }
            if self.still_live(ptr, gen, run) {
                return Ok(Found::Data(bytes));
            }
        }
        Err(EIO)
    }

    /// Serves the read `bio` of `inode` at `sector` straight from the cache device into its
    /// pages when one live extent holds all of it (no bounce buffer, no copy): [`Direct::Hit`].
    /// Otherwise changes nothing the caller relies on and says why: the cache holds none of it
    /// ([`Direct::Hole`]), or it spans several extents, or the read raced with the reuse of
    /// its bucket ([`Direct::Mixed`]: the caller reads through [`SetIo::read_cached`], which
    /// overwrites the bio's data).
    pub(crate) fn read_direct(&self, inode: u64, sector: u64, bio: &mut Bio) -> Result<Direct> {
        let len = bio.len();
        let sectors = (len >> 9) as u64;
        if sectors == 0 || len.checked_rem(512) != Some(0) {
            return Ok(Direct::Mixed);
        }
        let (ptr, gen, dirty) = match self.locate(inode, sector, sectors)? {
            Located::Data(ptr, gen, run, dirty) if run == sectors => (ptr, gen, dirty),
            Located::Hole(run) if run == sectors => return Ok(Direct::Hole),
            _ => return Ok(Direct::Mixed),
        };
        let r = self.timed(false, || bio.read_from(&self.bdev, ptr));
        self.count_io(&r, "reading data");
        if let Err(e) = r {
            return self.read_failed(dirty, e).map(|()| Direct::Unreadable);
        }
        Ok(if self.still_live(ptr, gen, sectors) {
            Direct::Hit
        } else {
            Direct::Mixed
        })
    }

    /// A read of cached data failed with `e`: clean data is still on the backing device, so
    /// the read may go there (`Ok`, counted in `internal/read_errors_recovered`); dirty data
    /// is only here, and the error stands (as in 6.12).
    fn read_failed(&self, dirty: bool, e: Error) -> Result {
        if dirty {
            return Err(e);
        }
        self.stats
            .read_errors_recovered
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The sequence number of writes to `inode` (see [`SetIo::fill`]).
    pub(crate) fn write_seq(&self, inode: u64) -> u64 {
        self.state.lock().write_seq(inode)
    }

    /// Inserts `data`, read from the backing device at `sector` of `inode` after
    /// [`SetIo::write_seq`] returned `seq`, as clean cached data, unless a write to the inode
    /// was committed since (it may have changed those sectors: the copy would be stale). This
    /// is the check-key protocol of 6.12's cache-miss insert, at inode granularity. Returns
    /// whether the data was inserted.
    pub(crate) fn fill(&self, inode: u64, sector: u64, data: Source<'_>, seq: u64) -> Result<bool> {
        if data.len().checked_rem(self.layout.block_bytes) != Some(0) {
            return Err(EINVAL);
        }
        match self.write_some(inode, sector, data, 0, WriteMode::Fill(seq)) {
            Ok(n) => Ok(n == (data.len() >> 9) as u64),
            // No room: the cache is full, the data is on the backing device anyway.
            Err(e) if e == ENOSPC => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes `data` (whole blocks) at `sector` of `inode`; returns once its keys are in the
    /// index and the pending journal entry (durable at the next flush).
    ///
    /// When no bucket is free, wakes GC and waits for a pass (at most [`ALLOC_RETRIES`] in a
    /// row without progress), with the state lock dropped.
    pub(crate) fn write(&self, inode: u64, sector: u64, data: Source<'_>) -> Result {
        self.write_data(inode, sector, data, true)
    }

    /// Writes `data` as [`SetIo::write`] does, dirty or clean (a copy of what the backing
    /// device holds).
    pub(crate) fn write_data(
        &self,
        inode: u64,
        sector: u64,
        data: Source<'_>,
        dirty: bool,
    ) -> Result {
        let mode = if dirty {
            WriteMode::Dirty
        } else {
            WriteMode::Clean
        };
        if data.len().checked_rem(self.layout.block_bytes) != Some(0) {
            return Err(EINVAL);
        }
        let _inflight = InFlight::new(&self.fg_inflight);
        let sectors = (data.len() >> 9) as u64;
        let mut done = 0u64;
        let mut retries = 0;
        while done < sectors {
            let from = (done as usize) << 9;
            match self.write_some(inode, sector + done, data, from, mode) {
                Ok(n) => {
                    done += n;
                    retries = 0;
                    self.gc.account_insert(n);
                }
                Err(e) if e == ENOSPC && retries < ALLOC_RETRIES => {
                    retries += 1;
                    let seen = self.gc.counters().passes;
                    self.gc.allocator_wake();
                    if !self.gc.wait_pass(seen) {
                        return Err(EIO);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reserves space for as much of `data` as buckets allow, writes it without the state
    /// lock, then adds its keys; returns the sectors written, or `ENOSPC` if not even one
    /// bucket could be had. A fill whose check fails writes its data but adds no keys.
    fn write_some(
        &self,
        inode: u64,
        sector: u64,
        data: Source<'_>,
        from: usize,
        mode: WriteMode,
    ) -> Result<u64> {
        let sectors = (data.len().saturating_sub(from) >> 9) as u64;
        let mut pieces: KVec<(u64, u64, u64)> = KVec::new();
        {
            let mut st = self.state.lock();
            let mut done = 0u64;
            while done < sectors {
                // After a first piece, any failure just ends the batch: the pieces reserved
                // so far are written and released below.
                let (bucket, used) = match self.open_bucket(&mut st, false) {
                    Ok(b) => b,
                    Err(_) if done > 0 => break,
                    Err(e) => return Err(e),
                };
                let n = (sectors - done)
                    .min(self.layout.bucket_size - used)
                    .min(MAX_SIZE);
                let at = bucket * self.layout.bucket_size + used;
                if let Err(e) = pieces.push((bucket, at, n), GFP_KERNEL) {
                    if done > 0 {
                        break;
                    }
                    return Err(e.into());
                }
                st.open = Some((bucket, used + n));
                if let Some(b) = st.buckets.get_mut(bucket as usize) {
                    b.writers = b.writers.saturating_add(1);
                }
                done += n;
            }
        }

        // All pieces in flight together.
        let mut off = from;
        let parts = pieces.iter().map(|&(_, at, n)| {
            let len = (n << 9) as usize;
            let part = (at, off, len);
            off = off.saturating_add(len);
            part
        });
        let res = self.timed(true, || data.write_parts(&self.bdev, parts));
        self.count_io(&res, "writing data");

        let mut st = self.state.lock();
        self.finish_pieces(&mut st, inode, sector, &pieces, res, mode)
    }

    /// The end of a write to `pieces` (`(bucket, cache sector, sectors)`, in order from
    /// `sector` of `inode`), whose data write had result `res`: releases their writers and,
    /// if it succeeded, accounts the data and adds the keys; returns the sectors added.
    fn finish_pieces(
        &self,
        st: &mut IoState,
        inode: u64,
        sector: u64,
        pieces: &[(u64, u64, u64)],
        mut res: Result,
        mode: WriteMode,
    ) -> Result<u64> {
        let dirty = mode == WriteMode::Dirty;
        let mut keys = KVec::with_capacity(pieces.len(), GFP_KERNEL);
        let mut done = 0u64;
        for &(bucket, at, n) in pieces.iter() {
            if let Some(b) = st.buckets.get_mut(bucket as usize) {
                b.writers = b.writers.saturating_sub(1);
            }
            if res.is_ok() {
                let mark = if dirty {
                    GC_MARK_DIRTY
                } else {
                    GC_MARK_RECLAIMABLE
                };
                st.account_data(bucket, mark, n);
                self.stats.data_sectors.fetch_add(n, Ordering::Relaxed);
            }
            let mut k = Bkey::new(inode, sector + done + n, n);
            k.set_dirty(dirty);
            k.set_ptrs(1);
            k.ptr[0] = Bkey::make_ptr(st.gen(bucket), at, 0);
            if let Ok(keys) = keys.as_mut() {
                if keys.push(k, GFP_KERNEL).is_err() {
                    res = Err(ENOMEM);
                }
            }
            done += n;
        }
        res?;
        let keys = keys?;
        if let WriteMode::Fill(seq) = mode {
            if st.write_seq(inode) != seq || st.around(inode) > 0 {
                self.stats.fill_collisions.fetch_add(1, Ordering::Relaxed);
                return Ok(0);
            }
            self.commit_keys(st, &keys, false)?;
        } else {
            self.commit(st, &keys)?;
        }
        Ok(done)
    }

    /// Reserves room for a dirty write of `sectors` without waiting for anything that may
    /// do IO: in the open bucket and in buckets already on the free fifo, in at most
    /// [`MAX_WRITE_PARTS`] pieces. `None` (with nothing changed) if that is not enough; the
    /// write then takes the [`SetIo::write`] path. The reservation counts as a foreground
    /// write until [`SetIo::commit_reserved`].
    pub(crate) fn reserve_nowait(&self, sectors: u64) -> Option<Reserved> {
        if sectors == 0 {
            return None;
        }
        let bsize = self.layout.bucket_size;
        let mut st = self.state.lock();
        // First what it would take, so that a reservation that cannot be had wastes nothing.
        let mut room = match st.open {
            Some((_, used)) if used < bsize => bsize - used,
            _ => 0,
        };
        let (mut done, mut count, mut fresh) = (0u64, 0usize, 0usize);
        while done < sectors {
            if room == 0 {
                fresh += 1;
                room = bsize;
            }
            let n = (sectors - done).min(room).min(MAX_SIZE);
            room -= n;
            done += n;
            count += 1;
        }
        if count > MAX_WRITE_PARTS || fresh > st.free.available(Reserve::None) {
            return None;
        }
        let mut r = Reserved {
            pieces: [(0, 0, 0); MAX_WRITE_PARTS],
            n: 0,
        };
        let mut done = 0u64;
        while done < sectors {
            // Cannot need a refill: the free fifo holds the buckets counted above.
            let Ok((bucket, used)) = self.open_bucket(&mut st, false) else {
                break;
            };
            let n = (sectors - done).min(bsize - used).min(MAX_SIZE);
            let Some(slot) = r.pieces.get_mut(r.n) else {
                break;
            };
            *slot = (bucket, bucket * bsize + used, n);
            r.n += 1;
            st.open = Some((bucket, used + n));
            if let Some(b) = st.buckets.get_mut(bucket as usize) {
                b.writers = b.writers.saturating_add(1);
            }
            done += n;
        }
        self.fg_inflight.fetch_add(1, Ordering::Relaxed);
        if done < sectors {
            // Not expected: give back what was taken (its room stays used).
            let _ = self.finish_pieces(&mut st, 0, 0, r.pieces(), Err(ENOSPC), WriteMode::Dirty);
            self.fg_inflight.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(r)
    }

    /// Ends a write reserved by [`SetIo::reserve_nowait`] at `sector` of `inode`, whose data
    /// write had result `res`: adds its dirty keys if that succeeded.
    pub(crate) fn commit_reserved(
        &self,
        inode: u64,
        sector: u64,
        r: &Reserved,
        res: Result,
    ) -> Result {
        let out = {
            let mut st = self.state.lock();
            self.finish_pieces(&mut st, inode, sector, r.pieces(), res, WriteMode::Dirty)
        };
        self.fg_inflight.fetch_sub(1, Ordering::Relaxed);
        self.gc.account_insert(out?);
        self.stats.fast_writes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Discards `sectors` at `sector` of `inode`: zero-pointer keys, so the range reads as zeroes.
    pub(crate) fn discard(&self, inode: u64, sector: u64, sectors: u64) -> Result {
        let _inflight = InFlight::new(&self.fg_inflight);
        let mut st = self.state.lock();
        self.discard_locked(&mut st, inode, sector, sectors)
    }

    fn discard_locked(&self, st: &mut IoState, inode: u64, sector: u64, sectors: u64) -> Result {
        // Nothing cached there, the common case for writes around the cache: there is no key
        // to remove, so none is journaled or inserted (the index already matches what replay
        // would rebuild). A fill that read the range before this write still must not land.
        if let (Some(start), Some(end)) = (
            extents::key(inode, sector),
            sector
                .checked_add(sectors)
                .and_then(|end| extents::key(inode, end)),
        ) {
            let IoState { index, buckets, .. } = &mut *st;
            if !index.holds_any(start, end, &self.nodes(buckets))? {
                st.bump_write_seq(inode);
                self.stats
                    .empty_invalidations
                    .fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
        }
        let mut keys = KVec::new();
        let mut done = 0;
        while done < sectors {
            let n = (sectors - done).min(MAX_SIZE);
            keys.push(Bkey::new(inode, sector + done + n, n), GFP_KERNEL)?;
            done += n;
        }
        self.commit(st, &keys)
    }

    /// Invalidates `sectors` at `sector` of `inode` for a write around the cache that is in
    /// flight to the backing device meanwhile (6.12 invalidates in parallel with that write
    /// too). Until the returned guard goes (once the write has completed), no fill of the
    /// inode is inserted: a read that missed could have read the older data.
    pub(crate) fn invalidate_around(
        &self,
        inode: u64,
        sector: u64,
        sectors: u64,
    ) -> Result<AroundWrite<'_>> {
        let _inflight = InFlight::new(&self.fg_inflight);
        let mut st = self.state.lock();
        self.discard_locked(&mut st, inode, sector, sectors)?;
        let a = &mut st.around[(inode % WRITE_SEQ_SLOTS as u64) as usize];
        *a = a.saturating_add(1);
        Ok(AroundWrite { io: self, inode })
    }

    /// Whether the cache holds dirty data in `sectors` at `sector` of `inode`: data that is
    /// nowhere else. A write that goes to the backing device over it must be durable there
    /// before the key that hides the cached copy (an invalidation, or a clean key) can be:
    /// otherwise a power cut could keep that key and lose the write, and the range would read
    /// as data older than the copy the cache held.
    pub(crate) fn holds_dirty(&self, inode: u64, sector: u64, sectors: u64) -> Result<bool> {
        let (Some(start), Some(end)) = (
            extents::key(inode, sector),
            extents::key(inode, sector.checked_add(sectors).ok_or(EINVAL)?),
        ) else {
            return Err(EINVAL);
        };
        let mut st = self.state.lock();
        let IoState { index, buckets, .. } = &mut *st;
        let dirty = index.holds_dirty(start, end, &self.nodes(buckets));
        dirty
    }

    /// Starts a write around the cache to `inode` that invalidates its range only once it
    /// has completed: until [`SetIo::end_around`], no fill of the inode is inserted. From
    /// `submit_bio`: only if the cache's leaves for `sectors` at `sector` of `inode` are
    /// resident and hold no dirty data there (such a write must be durable on the backing
    /// device before it invalidates: see [`SetIo::holds_dirty`]). Returns whether it began.
    pub(crate) fn try_begin_around(&self, inode: u64, sector: u64, sectors: u64) -> bool {
        let (Some(start), Some(end)) = (
            extents::key(inode, sector),
            sector
                .checked_add(sectors)
                .and_then(|e| extents::key(inode, e)),
        ) else {
            return false;
        };
        let mut st = self.state.lock();
        if !matches!(st.index.holds_dirty(start, end, &NotResident), Ok(false)) {
            return false;
        }
        let a = &mut st.around[(inode % WRITE_SEQ_SLOTS as u64) as usize];
        *a = a.saturating_add(1);
        true
    }

    /// Ends a write around the cache ([`SetIo::try_begin_around`], [`SetIo::invalidate_around`]):
    /// lets fills of the inode in again, and fails those that began before.
    pub(crate) fn end_around(&self, inode: u64) {
        let mut st = self.state.lock();
        let a = &mut st.around[(inode % WRITE_SEQ_SLOTS as u64) as usize];
        *a = a.saturating_sub(1);
        st.bump_write_seq(inode);
    }

    /// The open bucket with room left (moving GC's if `moving`), taking a new one from the
    /// allocator when it is full.
    pub(crate) fn open_bucket(&self, st: &mut IoState, moving: bool) -> Result<(u64, u64)> {
        let cur = if moving { st.moving_open } else { st.open };
        if let Some((b, used)) = cur {
            if used < self.layout.bucket_size {
                return Ok((b, used));
            }
            // Full: it is no longer open, and GC's marks now decide about it.
            st.unpin(b);
        }
        let reserve = if moving {
            Reserve::MovingGc
        } else {
            Reserve::None
        };
        let b = self.alloc(st, reserve)?;
        if moving {
            st.moving_open = Some((b, 0));
        } else {
            st.open = Some((b, 0));
        }
        Ok((b, 0))
    }

    /// Journals `keys`, a write, and adds them to the index.
    pub(crate) fn commit(&self, st: &mut IoState, keys: &[Bkey]) -> Result {
        self.commit_keys(st, keys, true)
    }

    /// Journals `keys` and adds them to the index; a write (`bump`) advances the write
    /// sequence of the inodes it touches, so racing fills of them are dropped.
    fn commit_keys(&self, st: &mut IoState, keys: &[Bkey], bump: bool) -> Result {
        // The journal's last free bucket is for reclaiming it, not for new keys.
        if st.journal_tight {
            self.flush_tree(st)?;
        }
        // Room in the index first: once journaled, the keys must reach it.
        for k in keys {
            if let (Some(start), Some(end)) = (
                k.start().and_then(|s| extents::key(k.inode(), s)),
                extents::key(k.inode(), k.offset()),
            ) {
                let IoState { index, buckets, .. } = &mut *st;
                index.prepare(start, end, keys.len(), &self.nodes(buckets))?;
            }
        }
        let mut packed = KVec::new();
        for k in keys {
            let mut w = [0u64; 9];
            let n = k.encode(&mut w).ok_or(EINVAL)?;
            for x in &w[..n] {
                packed.extend_from_slice(&x.to_le_bytes(), GFP_KERNEL)?;
            }
        }
        self.journal_add(st, &packed)?;
        for k in keys {
            let (Some(start), Some(end)) = (
                k.start().and_then(|s| extents::key(k.inode(), s)),
                extents::key(k.inode(), k.offset()),
            ) else {
                continue;
            };
            let ptr = (k.ptrs() > 0).then(|| (k.ptr_offset(0), k.ptr_gen(0)));
            // Room was made above, but writing the pending entry may have flushed the tree
            // and left some leaves not resident: then make room again (inserting a key twice
            // is harmless, the newer key wins).
            let indexed = {
                let IoState {
                    index,
                    buckets,
                    dirty,
                    ..
                } = &mut *st;
                let mut account = DirtyCounts::accountant(dirty, k.inode());
                index.insert(start, end, ptr, k.dirty(), &mut account)
                    || index
                        .prepare(start, end, 1, &self.nodes(buckets))
                        .map(|()| index.insert(start, end, ptr, k.dirty(), &mut account))
                        == Ok(true)
            };
            if !indexed {
                // The key is journaled but not in the index: refuse further writes rather
                // than serve older data.
                self.fail(format_args!(
                    "a journaled key could not reach the btree index"
                ));
                return Err(EIO);
            }
            if bump {
                st.bump_write_seq(k.inode());
            }
        }
        if st.journal_tight {
            self.release_journal(st);
        }
        self.trim_cache(st)
    }

    /// The replacement policy.
    pub(crate) fn policy(&self) -> Policy {
        self.state.lock().pick.policy
    }

    /// `cache_replacement_policy`: switches the invalidation order and records it in the
    /// superblock.
    pub(crate) fn set_policy(&self, policy: Policy) -> Result {
        let mut st = self.state.lock();
        let mut sb = st.sb.clone();
        sb.flags = (sb.flags & !(7 << 2)) | ((policy as u64) << 2);
        self.meta_io(Meta::Superblock, || write_superblock(&self.bdev, &sb))?;
        st.sb = sb;
        st.pick.policy = policy;
        Ok(())
    }

    /// Live extents in positions `pos..hi` that `want` accepts (given whether the extent's
    /// bucket is marked for moving GC): at most `max` of them, stopping once `max_bytes` are
    /// reached. Returns them and where to continue (`None`: the range is exhausted). Writeback
    /// and moving GC collect their batches with it.
    pub(crate) fn collect_live(
        &self,
        pos: u64,
        hi: u64,
        max: usize,
        max_bytes: usize,
        want: &dyn Fn(&Extent, bool) -> bool,
    ) -> Result<(KVec<Extent>, Option<u64>)> {
        let mut batch = KVec::new();
        let mut bytes = 0usize;
        let mut oom = false;
        let mut guard = self.state.lock();
        let IoState {
            index,
            buckets,
            moving,
            ..
        } = &mut *guard;
        let next = index.scan(pos, &self.nodes(buckets), &mut |e| {
            if e.start >= hi || batch.len() >= max || bytes >= max_bytes {
                return false;
            }
            let b = self.layout.bucket_of(e.ptr) as usize;
            let live = buckets.get(b).map(|b| b.gen) == Some(e.gen);
            if live && want(e, moving.get(b).copied() == Some(true)) {
                bytes += ((e.end - e.start) << 9) as usize;
                oom |= batch.push(*e, GFP_KERNEL).is_err();
            }
            true
        })?;
        if oom {
            return Err(ENOMEM);
        }
        Ok((batch, next.filter(|&p| p < hi)))
    }

    /// `synchronous`: whether the superblock marks the metadata as authoritative.
    pub(crate) fn synchronous(&self) -> bool {
        self.state.lock().sb.is_synchronous()
    }

    /// Sets `synchronous` and records it in the superblock, as 6.12 does. rbcache journals
    /// either way; as in 6.12, a cache registered while the flag is clear is initialised
    /// afresh, losing its contents.
    pub(crate) fn set_synchronous(&self, on: bool) -> Result {
        let mut st = self.state.lock();
        if st.sb.is_synchronous() == on {
            return Ok(());
        }
        let mut sb = st.sb.clone();
        sb.flags = (sb.flags & !CACHE_SYNC) | if on { CACHE_SYNC } else { 0 };
        self.meta_io(Meta::Superblock, || write_superblock(&self.bdev, &sb))?;
        st.sb = sb;
        Ok(())
    }

    /// Depth of the btree (`tree_depth`).
    pub(crate) fn tree_depth(&self) -> u16 {
        self.state.lock().tree.level
    }

    /// `btree_cache_size`: bytes of leaf keys in memory.
    pub(crate) fn index_bytes(&self) -> usize {
        self.state.lock().index.bytes()
    }

    /// `root_usage_percent`: how full the root node is.
    pub(crate) fn root_usage_percent(&self) -> u64 {
        let keys = self.state.lock().tree.root_keys as u64;
        let node_words = (self.layout.node_sectors << 9) / 8;
        (keys * 3 * 100).checked_div(node_words).unwrap_or(0)
    }

    /// `average_key_size`: bytes of data per key in the index.
    pub(crate) fn average_key_bytes(&self) -> u64 {
        let st = self.state.lock();
        let (mut sectors, mut keys) = (0u64, 0u64);
        for l in st.index.leaves() {
            sectors += l.sectors();
            keys += l.nkeys() as u64;
        }
        (sectors << 9).checked_div(keys).unwrap_or(0)
    }
}

/// What a data write inserts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WriteMode {
    /// Dirty data (a flash volume, or writeback).
    Dirty,
    /// Clean data, also written to the backing device.
    Clean,
    /// A copy of backing data, inserted only if no write came since the sequence number.
    Fill(u64),
}

/// What [`SetIo::read_cached`] found.
pub(crate) enum Found {
    /// This many bytes of cached data were read.
    Data(usize),
    /// Not cached: this many sectors.
    Hole(u64),
    /// Clean cached data the cache device failed to read: this many sectors, which the
    /// backing device holds too (6.12's recoverable read error).
    Unreadable(u64),
}

/// Slots of the per-inode write sequence numbers (inodes share slots modulo this).
const WRITE_SEQ_SLOTS: usize = 64;

impl IoState {
    /// The write sequence number of `inode`.
    pub(crate) fn write_seq(&self, inode: u64) -> u64 {
        self.write_seqs[(inode % WRITE_SEQ_SLOTS as u64) as usize]
    }

    /// Writes around the cache in flight to the slot of `inode`.
    fn around(&self, inode: u64) -> u32 {
        self.around[(inode % WRITE_SEQ_SLOTS as u64) as usize]
    }

    fn bump_write_seq(&mut self, inode: u64) {
        let s = &mut self.write_seqs[(inode % WRITE_SEQ_SLOTS as u64) as usize];
        // Modular on purpose: an in-memory change token that is only compared for equality
        // (a fill is dropped if the token moved), never read from disk and never a sector.
        *s = s.wrapping_add(1);
    }

    /// Accounts `sectors` of new data in `bucket` (GC keeps the marks of buckets that got data
    /// during its pass: its walk may have missed the keys).
    pub(crate) fn account_data(&mut self, bucket: u64, mark: u8, sectors: u64) {
        if let Some(b) = self.buckets.get_mut(bucket as usize) {
            b.add_sectors(mark, sectors);
        }
        if let Some(f) = self.fresh.get_mut(bucket as usize) {
            *f = true;
        }
    }

    /// Current generation of `bucket`.
    pub(crate) fn gen(&self, bucket: u64) -> u8 {
        self.buckets.get(bucket as usize).map_or(0, |b| b.gen)
    }
}

/// Changes a journal entry makes to the set's pointers.
#[derive(Default)]
pub(crate) struct Patch {
    /// A new uuid bucket.
    pub(crate) uuid_bucket: Option<Bkey>,
    /// A new root and its level.
    pub(crate) btree_root: Option<(Bkey, u16)>,
    /// A new first prio bucket for this cache.
    pub(crate) prio_bucket: Option<u64>,
    /// Start replay at this entry.
    pub(crate) release: bool,
}

impl StatsOwner for SetIo {
    fn cache_stats(&self) -> &CacheStats {
        &self.accounting
    }
}
