// SPDX-License-Identifier: GPL-2.0

//! The request path of a cached device's `/dev/bcacheN` (6.12's `cached_dev_submit_bio`).
//!
//! Sectors are offset by `data_offset`: keys hold absolute backing-device sectors, in the
//! device's uuid slot as inode. A read that one live cached extent serves entirely is sent on
//! to the cache device from the submitter's context and completed from the clone's
//! completion ([`CachedDev::read_hit_async`]), as 6.12 does; if its bucket may have been
//! reused meanwhile, or the cache read failed, it is read again the slow way. Writeback
//! writes that fit in room the cache already has ([`CachedDev::write_async`]), and writes
//! around the cache ([`CachedDev::write_around_async`]), are sent on from the submitter's
//! context too; a work item finishes them once they have completed. Every other bio runs on
//! an `rbcache_io` work item inside a [`NoIoScope`], synchronously. Data moves
//! through the bio's own pages (clones remapped or trimmed to the device) wherever one
//! extent or hole covers the IO, and through a bounce buffer where a read mixes several.
//!
//! - **Reads** are served from the cache where it holds the data; the rest is read from the
//!   backing device and, unless the read bypasses the cache, inserted as clean data with the
//!   write-sequence check ([`SetIo::fill`]), so a write racing with the miss never leaves the
//!   older data cached. A bio counts as a hit if no sector missed.
//! - **Writes**, by `cache_mode`: writethrough writes the backing device, then inserts the
//!   data clean; writeback writes only the cache, dirty; writearound and none write the
//!   backing device and invalidate the range in the cache while that write is in flight (no
//!   fill of the device is inserted until it has completed: [`SetIo::invalidate_around`]).
//!   A write that bypasses (sequential beyond `sequential_cutoff`, or not aligned to the
//!   cache's blocks) is written around.
//!   If the clean insert fails, the range is invalidated instead, so the cache never holds
//!   older data than the backing device. Writeback gives way to writethrough as the cache
//!   fills (6.12's `should_writeback()`: above 40% in use only synchronous writes stay in
//!   the cache, above 70% none), and a writeback write that finds no room is written around.
//! - **Bypass** (6.12's `check_should_bypass()`): sequential IO beyond `sequential_cutoff`,
//!   IO not aligned to the cache's blocks, readahead with `readahead_cache_policy` meta-only,
//!   and any IO while the last GC found the cache more than 95% in use; then, if the device
//!   holds no dirty data, GC is woken ([`crate::gc::Gc::full_wake`]), or nothing would ever
//!   make room again.
//! - **Flushes**: `REQ_PREFLUSH` flushes the backing device if a foreground write reached it
//!   since the last flush ([`CachedDev::flush_backing_while`]), and meanwhile, with dirty data
//!   possible, writes the journal; `REQ_FUA` writes reach the backing device with FUA.
//! - **Discards** invalidate the range in the cache and are passed down.
//!
//! Not attached (or mode none), everything goes to the backing device.

use core::sync::atomic::Ordering;
use kernel::prelude::*;
use kernel::sync::Arc;

use crate::cached_dev::{CacheUse, CachedDev};
use crate::congested::now_us;
use crate::format::backing::{BdevState, CacheMode};
use crate::format::stats::{MISS_COLLISIONS, SECTORS_BYPASSED};
use crate::gc::CUTOFF_CACHE_ADD;
use crate::handoff::{Handler, Handoff};
use crate::kabi::disk::{Bio, BioOp, DiskOps, Remapper, Segment, MAX_WRITE_PARTS};
use crate::kabi::noio::NoIoScope;
use crate::set_io::{Direct, Found, Hit, Reserved, SetIo, Source};
use crate::stats::CacheStats;

/// Bytes read from the cache or the backing device at a time.
const CHUNK: usize = 256 << 10;
/// Above this percent in use, only synchronous writes are cached dirty (`cutoff_writeback`).
pub(crate) const CUTOFF_WRITEBACK: u32 = 40;
/// Above this percent in use, no write is (`cutoff_writeback_sync`).
pub(crate) const CUTOFF_WRITEBACK_SYNC: u32 = 70;

/// The disk handlers of a cached device.
#[pin_data]
pub(crate) struct CachedIo {
    dev: Arc<CachedDev>,
    #[pin]
    handoff: Handoff,
}

impl CachedIo {
    /// Handlers for `dev`.
    pub(crate) fn new(dev: Arc<CachedDev>) -> impl PinInit<Self> {
        pin_init!(CachedIo {
            dev,
            handoff <- Handoff::new(),
        })
    }
}

impl Handler for CachedIo {
    fn handoff(&self) -> &Handoff {
        &self.handoff
    }

    fn handle(&self, bio: Bio) {
        self.dev.handle(bio);
    }
}

/// A read hit sent on to the cache device ([`CachedDev::read_hit_async`]).
pub(crate) struct HitRead {
    io: Arc<SetIo>,
    hit: Hit,
    bypass: bool,
    len: usize,
    /// When it was sent ([`now_us`]), for congestion.
    start: u64,
}

/// A write sent on without a thread waiting for it.
pub(crate) enum CacheWrite {
    /// Dirty data in flight to the cache ([`CachedDev::write_async`]).
    Dirty {
        io: Arc<SetIo>,
        inode: u64,
        sector: u64,
        reserved: Reserved,
        /// When it was sent ([`now_us`]), for congestion.
        start: u64,
    },
    /// A write in flight around the cache ([`CachedDev::write_around_async`]): its range is
    /// locked (`slot`) and fills of the device are held off until it has completed and the
    /// range is invalidated.
    Around {
        io: Arc<SetIo>,
        inode: u64,
        sector: u64,
        sectors: u64,
        slot: usize,
    },
}

/// A pinned, shared [`CachedIo`], as the disk holds it.
pub(crate) struct CachedDisk(pub(crate) Arc<CachedIo>);

impl DiskOps for CachedDisk {
    type Remap = HitRead;

    fn submit(&self, bio: Bio, remap: Remapper<'_, Self>) {
        // As 6.12 with `CACHE_SET_IO_DISABLE` on the attached set, or the device's own
        // `io_disable`: every bio fails.
        if self.0.dev.policy.io_disable.load(Ordering::Relaxed) || self.0.dev.set_io_disabled() {
            bio.end(Err(EIO));
            return;
        }
        let Some(bio) = self.0.dev.read_hit_async(bio, &remap) else {
            return;
        };
        let Some(bio) = self.0.dev.write_async(bio, &remap) else {
            return;
        };
        if let Some(bio) = self.0.dev.write_around_async(bio, &remap) {
            Handoff::spawn(&self.0, bio);
        }
    }

    type Write = CacheWrite;

    fn written(&self, w: CacheWrite, bio: Bio, result: Result) -> Option<Bio> {
        let _noio = NoIoScope::new();
        let dev = &self.0.dev;
        let (io, inode, sector, reserved) = match w {
            CacheWrite::Dirty {
                io,
                inode,
                sector,
                reserved,
                start,
            } => {
                // Noted on the work item, a little after the write completed.
                io.io_latency(true, start);
                io.count_io(&result, "writing data");
                (io, inode, sector, reserved)
            }
            CacheWrite::Around {
                io,
                inode,
                sector,
                sectors,
                slot,
            } => {
                dev.backing_written();
                let result = dev.backing(result, false);
                // Whether or not the write succeeded, the cached copy is older: it goes.
                let invalidated = io.discard(inode, sector, sectors);
                if invalidated.is_ok() && result.is_ok() {
                    io.stats.fast_writes.fetch_add(1, Ordering::Relaxed);
                }
                io.end_around(inode);
                dev.count(&io, |s| s.add(SECTORS_BYPASSED, sectors));
                // Never the last reference: the use, ended below, keeps the set attached.
                drop(io);
                dev.unlock_range(slot);
                dev.end_use();
                bio.end(result.and(invalidated));
                return None;
            }
        };
        let r = io.commit_reserved(inode, sector, &reserved, result);
        // Never the last reference: the use, ended below, keeps the set attached.
        drop(io);
        dev.end_dirty_write();
        dev.end_use();
        match r {
            Ok(()) => {
                dev.ring_writeback();
                bio.end(Ok(()));
                None
            }
            // Nothing was added: the slow path does it all again, and handles what went
            // wrong (no room, a cache error) as any write does.
            Err(_) => Some(bio),
        }
    }

    fn remapped(&self, read: HitRead, bio: Bio, result: Result) -> Option<Bio> {
        let HitRead {
            io,
            hit,
            bypass,
            len,
            start,
        } = read;
        io.io_latency(false, start);
        let live = result.is_ok() && io.hit_is_live(&hit);
        let dev = &self.0.dev;
        if live {
            dev.count_read(&io, bypass, false, len);
        }
        // Never the last reference: the use, ended below, keeps the set attached.
        drop(io);
        dev.end_use();
        if live {
            bio.end(Ok(()));
            None
        } else {
            // A cache read error, or a bucket reused meanwhile: read it again the slow way
            // (from the backing device if the cache no longer holds it).
            Some(bio)
        }
    }

    fn handle(&self, bio: Bio) {
        self.0.dev.handle(bio);
    }

    fn drain(&self) {
        self.0.handoff.drain();
    }
}

/// The sector `bytes` bytes into an IO starting at `sector`; `EIO` past the last sector.
fn sector_at(sector: u64, bytes: usize) -> Result<u64> {
    sector.checked_add((bytes >> 9) as u64).ok_or(EIO)
}

/// Copies `data` into a bio, from byte `at` of it on.
fn scatter(bio: &mut Bio, at: usize, data: &[u8]) -> Result {
    let end = at.saturating_add(data.len());
    let mut pos = 0usize;
    bio.for_each_segment(|_, seg: &mut Segment<'_>| {
        let next = pos.saturating_add(seg.len());
        let (from, to) = (pos.max(at), next.min(end));
        if from < to {
            let src = data.get(from - at..to - at).ok_or(EIO)?;
            seg.write_at(from - pos, src)?;
        }
        pos = next;
        Ok(())
    })
}

impl CachedDev {
    /// What the fast paths start from: where a bio lies on the backing device (its first
    /// sector there, past `data_offset`, and its length in sectors) and a use of the attached
    /// cache. `None` with no cache attached, and for an empty bio, one not made of whole
    /// sectors, or one that does not lie wholly within the device (the slow path answers
    /// those).
    fn fast_target(&self, bio: &Bio) -> Option<(u64, u64, CacheUse<'_>)> {
        let len = bio.len();
        let sectors = (len >> 9) as u64;
        if sectors == 0 || len.checked_rem(512) != Some(0) {
            return None;
        }
        let sector = self.backing_sector(bio.sector(), sectors)?;
        Some((sector, sectors, self.cache()?))
    }

    /// The backing-device sector (past `data_offset`) of `sectors` sectors at sector `start`
    /// of `/dev/bcacheN`, if they lie wholly within the device.
    fn backing_sector(&self, start: u64, sectors: u64) -> Option<u64> {
        if start.checked_add(sectors)? > self.sectors {
            return None;
        }
        start.checked_add(self.data_offset)
    }

    /// Sends a read that one live cached extent serves entirely on to the cache device,
    /// completed by [`CachedDisk::remapped`] without a thread waiting for it (the fast path
    /// of read hits, from the submitter's context). Gives the bio back when it cannot.
    fn read_hit_async(&self, bio: Bio, remap: &Remapper<'_, CachedDisk>) -> Option<Bio> {
        if bio.op() != BioOp::Read || bio.wants_flush() {
            return Some(bio);
        }
        let len = bio.len();
        let Some((sector, sectors, c)) = self.fast_target(&bio) else {
            return Some(bio);
        };
        let Ok(Some(hit)) = c.io.locate_hit(c.inode, sector, sectors) else {
            return Some(bio);
        };
        self.note_io(Some(&c.io));
        let bypass = self.read_bypass(&bio, sector, &c);
        let io = c.keep();
        let ptr = hit.ptr;
        let bdev = io.bdev.clone();
        let read = HitRead {
            io,
            hit,
            bypass,
            len,
            start: now_us(),
        };
        match remap.read_from(bio, &bdev, ptr, read) {
            Ok(()) => None,
            Err((bio, read)) => {
                drop(read);
                self.end_use();
                Some(bio)
            }
        }
    }

    /// Sends a writeback write that fits in room the cache already has on to the cache
    /// device from the submitter's context; [`CachedDisk::written`] adds its dirty keys once
    /// it has completed, from a work item (6.12 likewise submits the data write at once and
    /// inserts the keys from a work item). Gives the bio back for anything else: other modes
    /// and ops, flushes and FUA, writes that bypass or that writeback would give way on, the
    /// first dirty write (the superblock must say dirty first), and writes whose room would
    /// take IO to make.
    fn write_async(&self, bio: Bio, remap: &Remapper<'_, CachedDisk>) -> Option<Bio> {
        if bio.op() != BioOp::Write
            || bio.wants_flush()
            || self.mode() != CacheMode::Writeback
            || self.detaching.load(Ordering::Relaxed)
        {
            return Some(bio);
        }
        let len = bio.len();
        let Some((sector, sectors, c)) = self.fast_target(&bio) else {
            return Some(bio);
        };
        if len.checked_rem(c.io.layout.block_bytes) != Some(0)
            || c.io.gc.in_use().is_some_and(|u| u > CUTOFF_WRITEBACK)
        {
            return Some(bio);
        }
        // Registered before the state is read: writeback, seeing it, does not write CLEAN
        // between this check and the insert of the keys (see `DirtyWrite`).
        let dirty = self.begin_dirty_write();
        if self.state() != BdevState::Dirty {
            dirty.cancel();
            return Some(bio);
        }
        let congested = c.io.congested();
        if self.would_be_sequential(sector, len as u64, congested) {
            dirty.cancel();
            return Some(bio);
        }
        let Some(reserved) = c.io.reserve_nowait(sectors) else {
            dirty.cancel();
            return Some(bio);
        };
        // Recorded only now: given back, the bio is recorded on the slow path.
        let _ = self.sequential(sector, len as u64, congested);
        self.note_io(Some(&c.io));
        // Ended when the write completes ([`CachedDisk::written`]) or fails to go.
        dirty.keep();
        let mut parts = [(0u64, 0usize, 0usize); MAX_WRITE_PARTS];
        let parts = reserved.parts(&mut parts);
        let inode = c.inode;
        let io = c.keep();
        let bdev = io.bdev.clone();
        let w = CacheWrite::Dirty {
            io,
            inode,
            sector,
            reserved,
            start: now_us(),
        };
        match remap.write_parts(bio, &bdev, parts, w) {
            Ok(()) => None,
            Err((bio, w)) => {
                if let CacheWrite::Dirty {
                    io,
                    inode,
                    sector,
                    reserved,
                    ..
                } = w
                {
                    // Releases the room (nothing is added).
                    let _ = io.commit_reserved(inode, sector, &reserved, Err(ENOMEM));
                }
                self.end_dirty_write();
                self.end_use();
                Some(bio)
            }
        }
    }

    /// Sends a write that goes around the cache (mode writearound or none, sequential beyond
    /// `sequential_cutoff`, or not aligned to the cache's blocks) on to the backing device
    /// from the submitter's context, as 6.12 does; [`CachedDisk::written`] invalidates the
    /// range in the cache once it has completed, and then ends it. Its range stays locked
    /// against writeback, and fills of the device are held off, until then. Gives the bio
    /// back for anything else, flushes and FUA, a range that writeback holds or that holds
    /// dirty data, and a cache GC found full (the slow path wakes GC).
    fn write_around_async(&self, bio: Bio, remap: &Remapper<'_, CachedDisk>) -> Option<Bio> {
        if bio.op() != BioOp::Write || bio.wants_flush() {
            return Some(bio);
        }
        let len = bio.len();
        let Some((sector, sectors, c)) = self.fast_target(&bio) else {
            return Some(bio);
        };
        let congested = c.io.congested();
        let around = matches!(self.mode(), CacheMode::Writearound | CacheMode::None)
            || len.checked_rem(c.io.layout.block_bytes) != Some(0)
            || self.would_be_sequential(sector, len as u64, congested);
        if !around || c.io.gc.in_use().is_some_and(|u| u > CUTOFF_CACHE_ADD) {
            return Some(bio);
        }
        // A range past the last sector goes to the slow path, which refuses it.
        let Some(slot) = sector
            .checked_add(sectors)
            .and_then(|end| self.try_lock_range(sector, end))
        else {
            return Some(bio);
        };
        // Over dirty data (or leaves not in memory) the slow path writes it, durably first.
        if !c.io.try_begin_around(c.inode, sector, sectors) {
            self.unlock_range(slot);
            return Some(bio);
        }
        // Recorded only now: given back, the bio is recorded on the slow path.
        let _ = self.sequential(sector, len as u64, congested);
        self.note_io(Some(&c.io));
        let inode = c.inode;
        let io = c.keep();
        let w = CacheWrite::Around {
            io,
            inode,
            sector,
            sectors,
            slot,
        };
        match remap.write_to(bio, &self.bdev, sector, w) {
            Ok(()) => None,
            Err((bio, w)) => {
                if let CacheWrite::Around { io, inode, .. } = w {
                    io.end_around(inode);
                }
                self.unlock_range(slot);
                self.end_use();
                Some(bio)
            }
        }
    }

    fn handle(&self, mut bio: Bio) {
        let _noio = NoIoScope::new();
        let r = self.dispatch(&mut bio);
        bio.end(r);
    }

    fn dispatch(&self, bio: &mut Bio) -> Result {
        let op = bio.op();
        let bytes = bio.len();
        let sectors = (bytes >> 9) as u64;
        let sector = self.backing_sector(bio.sector(), sectors).ok_or(EIO)?;
        let cache = self.cache();
        self.note_io(cache.as_ref().map(|c| &*c.io));
        if bio.wants_flush() || op == BioOp::Flush {
            // Everything completed before this bio becomes durable: the backing device's
            // cache, and meanwhile the journal (dirty data may be in the cache).
            let (flushed, journal) = self.flush_backing_while(|| match &cache {
                Some(c) => c.io.flush_journal(),
                None => Ok(()),
            });
            self.backing(flushed, false)?;
            journal?;
        }
        match op {
            BioOp::Flush => Ok(()),
            BioOp::Read => self.read(bio, sector, cache.as_ref()),
            BioOp::Write if bytes == 0 => Ok(()),
            BioOp::Write => self.write(bio, sector, cache.as_ref()),
            BioOp::Discard => {
                if let Some(c) = &cache {
                    c.io.discard(c.inode, sector, sectors)?;
                }
                self.backing(self.bdev.discard(sector, sectors), false)
            }
            BioOp::Other => Err(EIO),
        }
    }

    /// Whether a read of `bio` at backing sector `sector` bypasses the cache: it still looks
    /// the cache up, as 6.12 does (dirty data may be there, and a hit is served from it), but
    /// a miss is not filled, and both count as bypassed. True in mode none, for a stream
    /// past `sequential_cutoff` or the congestion cutoff, for readahead when `readahead_meta_only` is set, and
    /// while the cache is too full to add to.
    fn read_bypass(&self, bio: &Bio, sector: u64, c: &CacheUse<'_>) -> bool {
        self.mode() == CacheMode::None
            || self.sequential(sector, bio.len() as u64, c.io.congested())
            || (bio.is_readahead() && self.policy.readahead_meta_only.load(Ordering::Relaxed))
            || self.cache_full(c)
    }

    /// Whether the last GC found the cache too full to add to (`CUTOFF_CACHE_ADD`); wakes GC
    /// if this device holds no dirty data (see the module documentation).
    fn cache_full(&self, c: &CacheUse<'_>) -> bool {
        let full = c.io.gc.in_use().is_some_and(|u| u > CUTOFF_CACHE_ADD);
        if full && self.state() != BdevState::Dirty {
            c.io.gc.full_wake();
        }
        full
    }

    fn read(&self, bio: &mut Bio, sector: u64, cache: Option<&CacheUse<'_>>) -> Result {
        let len = bio.len();
        // Failed readahead does not count as a backing device error.
        let ra = bio.is_readahead();
        let Some(c) = cache else {
            // Not attached: no hit or miss is counted, as in 6.12 (`detached_dev_do_request()`).
            return self.backing(bio.submit_to(&self.bdev, sector), ra);
        };
        let bypass = self.read_bypass(bio, sector, c);
        // Before any lookup: a write committed after this may make a fill stale.
        let seq = c.io.write_seq(c.inode);
        match c.io.read_direct(c.inode, sector, bio)? {
            // A hit on one extent: read straight into the bio's pages.
            Direct::Hit => {
                self.count_read(&c.io, bypass, false, len);
                return Ok(());
            }
            // A miss on all of it: read the backing device straight into the bio's pages,
            // and fill the cache from them.
            Direct::Hole => {
                self.backing(bio.read_from(&self.bdev, sector), ra)?;
                if !bypass && len.checked_rem(c.io.layout.block_bytes) == Some(0) {
                    // Best effort: a fill that fails leaves a miss, not an error.
                    if let Ok(false) = c.io.fill(c.inode, sector, Source::Bio(bio, 0), seq) {
                        self.count(&c.io, |s| s.add(MISS_COLLISIONS, 1));
                    }
                }
                self.count_read(&c.io, bypass, true, len);
                return Ok(());
            }
            // The cache failed to read clean data: the backing device holds the same.
            Direct::Unreadable => {
                self.backing(bio.read_from(&self.bdev, sector), ra)?;
                self.count_read(&c.io, bypass, true, len);
                return Ok(());
            }
            Direct::Mixed => {}
        }
        // Through a bounce buffer of at most CHUNK, copied into the bio chunk by chunk: a bio
        // may be many MiB long, and a buffer that size may not be had without IO.
        let mut data = KVVec::from_elem(0u8, len.min(CHUNK), GFP_KERNEL)?;
        let mut missed = false;
        let mut base = 0usize;
        while base < len {
            let n = len.saturating_sub(base).min(CHUNK);
            let chunk = data.get_mut(..n).ok_or(EIO)?;
            let mut off = 0usize;
            while off < n {
                let s = sector_at(sector, base.checked_add(off).ok_or(EIO)?)?;
                let max = (n.saturating_sub(off) >> 9) as u64;
                let dst = chunk.get_mut(off..).ok_or(EIO)?;
                match c.io.read_cached(c.inode, s, max, dst)? {
                    Found::Data(k) => off = off.checked_add(k).ok_or(EIO)?,
                    // The cache failed to read clean data: the backing device holds the same.
                    Found::Unreadable(k) => {
                        missed = true;
                        let k_bytes = (k as usize) << 9;
                        let buf = dst.get_mut(..k_bytes).ok_or(EIO)?;
                        self.backing(self.bdev.read_sync(s, buf), ra)?;
                        off = off.checked_add(k_bytes).ok_or(EIO)?;
                    }
                    Found::Hole(k) => {
                        missed = true;
                        let k_bytes = (k as usize) << 9;
                        let buf = dst.get_mut(..k_bytes).ok_or(EIO)?;
                        self.backing(self.bdev.read_sync(s, buf), ra)?;
                        if !bypass && k_bytes.checked_rem(c.io.layout.block_bytes) == Some(0) {
                            // Best effort: a fill that fails leaves a miss, not an error.
                            if let Ok(false) = c.io.fill(c.inode, s, Source::Buf(buf), seq) {
                                self.count(&c.io, |s| s.add(MISS_COLLISIONS, 1));
                            }
                        }
                        off = off.checked_add(k_bytes).ok_or(EIO)?;
                    }
                }
            }
            scatter(bio, base, chunk)?;
            base = base.checked_add(n).ok_or(EIO)?;
        }
        self.count_read(&c.io, bypass, missed, len);
        Ok(())
    }

    /// Counts in the device's statistics, and in those of the cache set `set` it is attached
    /// to.
    fn count(&self, set: &SetIo, f: impl Fn(&CacheStats)) {
        f(&self.stats);
        f(&set.accounting);
    }

    /// Counts a read of `len` bytes through the cache of `set`.
    fn count_read(&self, set: &SetIo, bypass: bool, missed: bool, len: usize) {
        self.count(set, |s| s.count_read(bypass, missed, (len >> 9) as u64));
    }

    /// Writes `bio` to the backing device at `sector` with `REQ_FUA`: durable when this
    /// returns. For a write over dirty data, whose cached copy goes (or turns clean) after it.
    fn write_backing_durably(&self, bio: &mut Bio, sector: u64) -> Result {
        let written = self.backing(bio.write_durably_to(&self.bdev, sector), false);
        self.backing_written();
        written
    }

    fn write(&self, bio: &mut Bio, sector: u64, cache: Option<&CacheUse<'_>>) -> Result {
        let len = bio.len();
        let fua = bio.wants_flush();
        let sectors = (len >> 9) as u64;
        // The block layer never sends a bio past the last sector; one that would end past
        // `u64::MAX` is refused rather than locking a wrapped range.
        let end = sector.checked_add(sectors).ok_or(EIO)?;
        let Some(c) = cache else {
            // Straight from the bio's pages, with its own flags (FUA).
            let _range = self.lock_range(sector, end);
            let written = self.backing(bio.submit_to(&self.bdev, sector), false);
            self.backing_written();
            return written;
        };
        let mode = self.mode();
        // While a detach writes back, nothing new becomes dirty.
        let mode = if mode == CacheMode::Writeback && self.detaching.load(Ordering::Relaxed) {
            CacheMode::Writethrough
        } else {
            mode
        };
        let aligned = len.checked_rem(c.io.layout.block_bytes) == Some(0);
        let bypass =
            self.sequential(sector, len as u64, c.io.congested()) || !aligned || self.cache_full(c);
        // `should_writeback()`: keep room for clean data as the cache fills.
        let mode = match (mode, c.io.gc.in_use()) {
            (CacheMode::Writeback, Some(u))
                if u > CUTOFF_WRITEBACK_SYNC || (u > CUTOFF_WRITEBACK && !bio.is_sync()) =>
            {
                CacheMode::Writethrough
            }
            (m, _) => m,
        };
        if bypass || !matches!(mode, CacheMode::Writeback | CacheMode::Writethrough) {
            // Around the cache, straight from the bio's pages; older cached copies go.
            self.count(&c.io, |s| s.add(SECTORS_BYPASSED, sectors));
            let _range = self.lock_range(sector, end);
            if c.io.holds_dirty(c.inode, sector, sectors)? {
                // Over dirty data: durable on the backing device before the invalidation.
                self.write_backing_durably(bio, sector)?;
                c.io.discard(c.inode, sector, sectors)?;
                if fua {
                    c.io.flush_journal()?;
                }
                return Ok(());
            }
            // The older cached copies are invalidated while the write is in flight.
            let (written, around) = bio.submit_to_while(&self.bdev, sector, || {
                c.io.invalidate_around(c.inode, sector, sectors)
            });
            let written = self.backing(written, false);
            self.backing_written();
            // Dropping the guard (the write has completed) lets fills in again.
            drop(around?);
            written?;
            if fua {
                c.io.flush_journal()?;
            }
            return Ok(());
        }
        // The cache's copy is written straight from the bio's pages.
        match mode {
            CacheMode::Writeback => {
                let _dirty = self.begin_dirty_write();
                if self.state() != BdevState::Dirty {
                    // Before the first dirty key: the superblock says the cache holds dirty
                    // data, so the device never runs without it by mistake.
                    self.mark_dirty()?;
                }
                match c.io.write_data(c.inode, sector, Source::Bio(bio, 0), true) {
                    Ok(()) => self.ring_writeback(),
                    Err(e) if e == ENOSPC => {
                        // No room even after GC (the cache is full of dirty data): write
                        // around; the older copy in the cache goes.
                        self.count(&c.io, |s| s.add(SECTORS_BYPASSED, sectors));
                        let _range = self.lock_range(sector, end);
                        self.write_backing_durably(bio, sector)?;
                        c.io.discard(c.inode, sector, sectors)?;
                        self.ring_writeback();
                    }
                    Err(e) => return Err(e),
                }
            }
            _ => {
                // Writethrough. Over dirty data (left by writeback mode, or a writeback write
                // turned writethrough as the cache fills) the clean key must not be durable
                // before the data is on the backing device.
                let _range = self.lock_range(sector, end);
                if c.io.holds_dirty(c.inode, sector, sectors)? {
                    self.write_backing_durably(bio, sector)?;
                } else {
                    let written = self.backing(bio.submit_to(&self.bdev, sector), false);
                    self.backing_written();
                    written?;
                }
                if c.io
                    .write_data(c.inode, sector, Source::Bio(bio, 0), false)
                    .is_err()
                {
                    // No room (or a cache error): the cached copy must not stay older.
                    c.io.discard(c.inode, sector, sectors)?;
                }
            }
        }
        if fua {
            // This write's keys (dirty data, or the invalidation of older copies) are durable
            // before it completes.
            c.io.flush_journal()?;
        }
        Ok(())
    }
}
