// SPDX-License-Identifier: GPL-2.0

//! A cached device: a registered backing device, its cache mode and superblock state, and its
//! link to a cache set.
//!
//! - **Attach** ([`CachedDev::attach`]) takes a slot in the set's uuid table (the slot is the
//!   inode of the device's keys) and records the set in the backing superblock (`set_uuid`,
//!   state CLEAN), as 6.12's `bch_cached_dev_attach()`.
//! - **Release** ([`CachedDev::release`]) stops using the cache, waiting for every bio that
//!   is using it; nothing changes on disk, so the device attaches again when the set comes
//!   back (cache-set `stop`, module unload).
//! - **Detach** ([`CachedDev::detach`]) writes the dirty data back, releases, invalidates the
//!   uuid slot, then writes state NONE and a zero `set_uuid` to the backing superblock. The
//!   device cannot attach again until all of it is done.
//!
//! Lock order: `CachedDev::link`, then `CacheSet::cached`, then `SetIo::state`;
//! `CachedDev::sb` is innermost. An attach holds the first two across its writes (the uuid
//! table, the backing superblock), so that a stopping set sees it (`CacheSet::begin_attach`).

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use kernel::prelude::*;
use kernel::sync::{new_condvar, new_mutex, Arc, CondVar, Mutex};

use crate::cache_set::CacheSet;
use crate::format::backing::{BdevState, CacheMode, SeqTracker};
use crate::format::congestion::Congestion;
use crate::format::io_errors::BackingErrors;
use crate::format::superblock::{Superblock, UuidDisplay};
use crate::format::units::DevDisplay;
use crate::format::writeback::stripe_sectors;
use crate::kabi::bdev::BdevFile;
use crate::kabi::bio::WriteKind;
use crate::kabi::noio::NoIoMutex;
use crate::kabi::random::real_seconds;
use crate::kabi::wait::WaitQueue;
use crate::metadata::write_superblock_from;
use crate::registry::Registry;
use crate::set_io::SetIo;
use crate::stats::{CacheStats, StatsOwner};
use crate::writeback::{RateState, WbCtl, WbSettings, WbThread};

/// Default `sequential_cutoff`: 4 MiB.
pub(crate) const SEQUENTIAL_CUTOFF: u64 = 4 << 20;

/// The cache set a device is attached to.
pub(crate) struct Attached {
    pub(crate) set: Arc<CacheSet>,
    pub(crate) io: Arc<SetIo>,
    /// The device's uuid slot: the inode of its keys.
    pub(crate) inode: u64,
    /// Its writeback thread (stopped when this is dropped).
    wb: Option<WbThread>,
}

/// Ranges of backing sectors being written, by foreground writes or writeback batches.
const RANGES: usize = 64;

struct Link {
    attached: Option<Attached>,
    /// The registry, to have the device stopped at `io_error_limit` errors; taken then, and
    /// when the device is released ([`CachedDev::set_stopper`]).
    stopper: Option<Arc<Registry>>,
}

/// How a device's IO uses the cache.
pub(crate) struct IoPolicy {
    /// `cache_mode`.
    mode: AtomicU8,
    /// `sequential_cutoff`.
    cutoff: AtomicU64,
    /// `readahead_cache_policy` is `meta-only`: readahead bypasses the cache.
    pub(crate) readahead_meta_only: AtomicBool,
    /// `stop_when_cache_set_failed` is `always`: the device stops with its set when the set
    /// has failed (`io_disable`) and is unregistered, even if it holds no dirty data. With
    /// `auto` it stops only if it has dirty data the set could not write back.
    pub(crate) stop_always: AtomicBool,
    /// When the device last had foreground IO (ns), for the writeback rate.
    pub(crate) last_io: AtomicU64,
    /// What a flush must make durable on the backing device ([`CachedDev::flush_backing_while`]).
    flushes: BackingFlushes,
    /// Failed IO to the backing device (`io_errors`, `io_error_limit`).
    pub(crate) errors: BackingErrors,
    /// `io_disable`: every bio fails; set by hand, or at `io_error_limit` errors.
    pub(crate) io_disable: AtomicBool,
}

/// A registered backing device.
#[pin_data]
pub(crate) struct CachedDev {
    pub(crate) bdev: Arc<BdevFile>,
    /// Sectors before the cached data (`data_offset`).
    pub(crate) data_offset: u64,
    /// Sectors exposed by `/dev/bcacheN`.
    pub(crate) sectors: u64,
    /// Its block size in bytes.
    pub(crate) block_bytes: u32,
    /// How IO uses the cache.
    pub(crate) policy: IoPolicy,
    /// Dirty data is counted in stripes of this many sectors (`stripe_size`).
    pub(crate) stripe: u64,
    /// A detach is writing back: new writes do not add dirty data.
    pub(crate) detaching: AtomicBool,
    #[pin]
    pub(crate) stats: CacheStats,
    /// Writeback settings and counters.
    pub(crate) wb: WbSettings,
    // `sb`, `ranges`, `link` and `seq` are taken in `submit_bio`: held only inside a no-IO
    // scope ([`NoIoMutex`]).
    #[pin]
    sb: NoIoMutex<SbImage>,
    #[pin]
    ranges: NoIoMutex<[Option<(u64, u64)>; RANGES]>,
    #[pin]
    range_free: CondVar,
    #[pin]
    link: NoIoMutex<Link>,
    /// Bios using the cache now ([`CachedDev::cache`]).
    users: AtomicU64,
    /// Woken when `users` reaches 0.
    #[pin]
    idle: WaitQueue,
    #[pin]
    seq: NoIoMutex<SeqTracker>,
    #[pin]
    pub(crate) rate: Mutex<RateState>,
}

/// Foreground writes that reached the backing device, and how many of them a flush has made
/// durable.
struct BackingFlushes {
    /// Foreground writes to the backing device completed so far.
    writes: AtomicU64,
    /// `writes` as it was when the last completed flush of the backing device was sent: every
    /// write counted up to there is durable.
    flushed: AtomicU64,
}

/// Backing sectors `lo..hi` locked by [`CachedDev::lock_range`]; dropping it unlocks them.
pub(crate) struct RangeGuard<'a> {
    dev: &'a CachedDev,
    slot: usize,
}

impl Drop for RangeGuard<'_> {
    fn drop(&mut self) {
        let mut r = self.dev.ranges.lock();
        if let Some(s) = r.get_mut(self.slot) {
            *s = None;
        }
        self.dev.range_free.notify_all();
    }
}

/// One bio's use of the cache; dropping it ends the use.
pub(crate) struct CacheUse<'a> {
    dev: &'a CachedDev,
    pub(crate) io: Arc<SetIo>,
    pub(crate) inode: u64,
}

impl CacheUse<'_> {
    /// Keeps the use after this guard is gone, for a bio that completes later: its
    /// completion ends it with [`CachedDev::end_use`].
    pub(crate) fn keep(self) -> Arc<SetIo> {
        // One more use, so the count never drops to zero as this guard goes.
        self.dev.users.fetch_add(1, Ordering::AcqRel);
        self.io.clone()
    }
}

impl Drop for CacheUse<'_> {
    fn drop(&mut self) {
        self.dev.end_use();
    }
}

/// A backing device's superblock as last written, and the sector holding it (read at the
/// first write, then kept, so that later writes need no read first).
struct SbImage {
    sb: Superblock,
    raw: Option<KVVec<u8>>,
}

impl CachedDev {
    /// A cached device over the opened backing device `bdev` whose superblock is `sb`.
    pub(crate) fn new(bdev: Arc<BdevFile>, sb: Superblock) -> Result<Arc<Self>> {
        let data_offset = sb.data_offset();
        let sectors = bdev.nr_sectors().checked_sub(data_offset).ok_or(EINVAL)?;
        let block_bytes = (u32::from(sb.block_size) << 9).max(bdev.logical_block_size());
        let mode = CacheMode::from_flags(sb.flags) as u8;
        let stripe = stripe_sectors(u64::from(bdev.io_opt() >> 9));
        // The locks `submit_bio` takes, made apart (one macro inside another per field
        // exceeds the macro recursion limit of `pin_init!`).
        let sb_lock = NoIoMutex::new(new_mutex!(SbImage { sb, raw: None }, "CachedDev::sb"));
        let ranges = NoIoMutex::new(new_mutex!([None; RANGES], "CachedDev::ranges"));
        let link = NoIoMutex::new(new_mutex!(
            Link {
                attached: None,
                stopper: None
            },
            "CachedDev::link"
        ));
        let seq = NoIoMutex::new(new_mutex!(SeqTracker::default(), "CachedDev::seq"));
        Arc::pin_init(
            pin_init!(CachedDev {
                bdev,
                data_offset,
                sectors,
                block_bytes,
                policy: IoPolicy {
                    mode: AtomicU8::new(mode),
                    cutoff: AtomicU64::new(SEQUENTIAL_CUTOFF),
                    readahead_meta_only: AtomicBool::new(false),
                    stop_always: AtomicBool::new(false),
                    last_io: AtomicU64::new(0),
                    flushes: BackingFlushes {
                        // Whatever the device holds from before may still be volatile: the
                        // first flush goes through.
                        writes: AtomicU64::new(1),
                        flushed: AtomicU64::new(0),
                    },
                    errors: BackingErrors::new(),
                    io_disable: AtomicBool::new(false),
                },
                stripe,
                detaching: AtomicBool::new(false),
                stats <- CacheStats::new(),
                wb: WbSettings::default(),
                sb <- sb_lock,
                ranges <- ranges,
                range_free <- new_condvar!("CachedDev::range_free"),
                link <- link,
                users: AtomicU64::new(0),
                idle <- WaitQueue::new(),
                seq <- seq,
                rate <- new_mutex!(RateState::default(), "CachedDev::rate"),
            }),
            GFP_KERNEL,
        )
    }

    /// The device's number, for log lines.
    pub(crate) fn dev(&self) -> u32 {
        self.bdev.dev()
    }

    /// The superblock as last written.
    pub(crate) fn sb(&self) -> Superblock {
        self.sb.lock().sb.clone()
    }

    /// Changes the superblock with `f` and writes it (synchronously, with a preflush and FUA:
    /// what was written to the device before is durable too).
    pub(crate) fn write_sb(&self, f: impl FnOnce(&mut Superblock)) -> Result {
        self.write_sb_if(|| true, f).map(|_| ())
    }

    /// Writes the superblock with its state DIRTY, before the first dirty key (synchronously,
    /// with FUA: 6.12 does not wait for this write). No preflush: nothing written to the
    /// backing device before needs to be durable for the flag to be true; the CLEAN write
    /// ([`CachedDev::write_sb_if`]) is the one that needs it.
    pub(crate) fn mark_dirty(&self) -> Result {
        self.write_sb_kind(
            || true,
            |sb| sb.flags = BdevState::Dirty.in_flags(sb.flags),
            WriteKind::Fua,
        )
        .map(|_| ())
    }

    /// [`CachedDev::write_sb`] if `cond`, checked under the superblock lock (which
    /// [`CachedDev::state`] takes too); returns whether `cond` held.
    pub(crate) fn write_sb_if(
        &self,
        cond: impl FnOnce() -> bool,
        f: impl FnOnce(&mut Superblock),
    ) -> Result<bool> {
        self.write_sb_kind(cond, f, WriteKind::FlushFua)
    }

    fn write_sb_kind(
        &self,
        cond: impl FnOnce() -> bool,
        f: impl FnOnce(&mut Superblock),
        kind: WriteKind,
    ) -> Result<bool> {
        let mut img = self.sb.lock();
        if !cond() {
            return Ok(false);
        }
        let mut new = img.sb.clone();
        f(&mut new);
        if new == img.sb {
            return Ok(true);
        }
        let SbImage { sb, raw } = &mut *img;
        write_superblock_from(&self.bdev, &new, raw, kind)?;
        *sb = new;
        Ok(true)
    }

    /// `state`.
    pub(crate) fn state(&self) -> BdevState {
        BdevState::from_flags(self.sb.lock().sb.flags)
    }

    /// `cache_mode`.
    pub(crate) fn mode(&self) -> CacheMode {
        CacheMode::ALL
            .get(usize::from(self.policy.mode.load(Ordering::Relaxed)))
            .copied()
            .unwrap_or(CacheMode::Writethrough)
    }

    /// Sets `cache_mode` and records it in the superblock.
    pub(crate) fn set_mode(&self, mode: CacheMode) -> Result {
        self.write_sb(|sb| sb.flags = mode.in_flags(sb.flags))?;
        self.policy.mode.store(mode as u8, Ordering::Relaxed);
        Ok(())
    }

    /// `sequential_cutoff` in bytes (0: never bypass).
    pub(crate) fn cutoff(&self) -> u64 {
        self.policy.cutoff.load(Ordering::Relaxed)
    }

    /// Sets `sequential_cutoff`.
    pub(crate) fn set_cutoff(&self, bytes: u64) {
        self.policy.cutoff.store(bytes, Ordering::Relaxed);
    }

    /// Records an IO of `bytes` at `sector`; returns whether the stream it belongs to has
    /// reached `sequential_cutoff`, or the set's congestion cutoff `congested` (in sectors,
    /// [`SetIo::congested`]; 0: not congested), and so bypasses the cache. Streams are only
    /// tracked while either cutoff is set, as in 6.12.
    ///
    /// [`SetIo::congested`]: crate::set_io::SetIo::congested
    pub(crate) fn sequential(&self, sector: u64, bytes: u64, congested: u32) -> bool {
        let cutoff = self.cutoff();
        if cutoff == 0 && congested == 0 {
            return false;
        }
        let now = crate::gc::now_ns();
        let stream = self.seq.lock().record(sector, bytes, now);
        Self::stream_bypasses(cutoff, congested, stream)
    }

    /// What [`CachedDev::sequential`] would return for this IO, without recording it.
    pub(crate) fn would_be_sequential(&self, sector: u64, bytes: u64, congested: u32) -> bool {
        let cutoff = self.cutoff();
        if cutoff == 0 && congested == 0 {
            return false;
        }
        let stream = self.seq.lock().peek(sector, bytes);
        Self::stream_bypasses(cutoff, congested, stream)
    }

    fn stream_bypasses(cutoff: u64, congested: u32, stream: u64) -> bool {
        (cutoff != 0 && stream >= cutoff) || Congestion::bypasses(congested, stream >> 9)
    }

    /// Locks backing sectors `lo..hi` against the other writers of the backing device: a
    /// writeback batch must not write old data over a foreground write that went to the
    /// backing device meanwhile (6.12 forces such writes into the cache instead).
    pub(crate) fn lock_range(&self, lo: u64, hi: u64) -> RangeGuard<'_> {
        let mut r = self.ranges.lock();
        loop {
            let busy = r.iter().flatten().any(|&(a, b)| a < hi && lo < b);
            if !busy {
                if let Some(slot) = r.iter().position(Option::is_none) {
                    r[slot] = Some((lo, hi));
                    return RangeGuard { dev: self, slot };
                }
            }
            self.range_free.wait(r.guard());
        }
    }

    /// Counts a foreground write to the backing device that has completed (or failed: part
    /// of it may have landed), before its bio completes.
    pub(crate) fn backing_written(&self) {
        self.policy.flushes.writes.fetch_add(1, Ordering::SeqCst);
    }

    /// Flushes the backing device's volatile cache while `f` runs, as a `REQ_PREFLUSH` must,
    /// unless no foreground write has reached the device since the last flush was sent: then
    /// there is nothing for it to make durable, and only `f` runs. (6.12 always flushes it.
    /// The writeback thread flushes after its own writes, before it marks them clean.)
    /// Returns the flush's result and `f`'s.
    pub(crate) fn flush_backing_while<R>(&self, f: impl FnOnce() -> R) -> (Result, R) {
        let seen = self.policy.flushes.writes.load(Ordering::SeqCst);
        if seen == self.policy.flushes.flushed.load(Ordering::SeqCst) {
            return (Ok(()), f());
        }
        let (flushed, r) = self.bdev.flush_while(f);
        if flushed.is_ok() {
            self.policy
                .flushes
                .flushed
                .fetch_max(seen, Ordering::SeqCst);
        }
        (flushed, r)
    }

    /// [`CachedDev::lock_range`] without waiting: `None` if the range is busy (or every slot
    /// is taken). Held until [`CachedDev::unlock_range`] with the slot returned.
    pub(crate) fn try_lock_range(&self, lo: u64, hi: u64) -> Option<usize> {
        let mut r = self.ranges.lock();
        if r.iter().flatten().any(|&(a, b)| a < hi && lo < b) {
            return None;
        }
        let slot = r.iter().position(Option::is_none)?;
        *r.get_mut(slot)? = Some((lo, hi));
        Some(slot)
    }

    /// Releases a range locked by [`CachedDev::try_lock_range`].
    pub(crate) fn unlock_range(&self, slot: usize) {
        drop(RangeGuard { dev: self, slot });
    }

    /// The control of the writeback thread, if the device is attached.
    fn wb_ctl(&self) -> Option<Arc<WbCtl>> {
        let link = self.link.lock();
        link.attached
            .as_ref()
            .and_then(|a| a.wb.as_ref())
            .map(|w| w.ctl.clone())
    }

    /// Wakes the writeback thread (dirty data was written).
    pub(crate) fn ring_writeback(&self) {
        if let Some(ctl) = self.wb_ctl() {
            ctl.ring();
        }
    }

    /// Makes the writeback thread look again now, cutting `writeback_delay` and any rate
    /// wait short (its settings changed, or a detach started).
    pub(crate) fn hurry_writeback(&self) {
        if let Some(ctl) = self.wb_ctl() {
            ctl.hurry();
        }
    }

    /// The cache, for one bio, if the device is attached.
    pub(crate) fn cache(&self) -> Option<CacheUse<'_>> {
        let link = self.link.lock();
        let (io, inode) = {
            let a = link.attached.as_ref()?;
            (a.io.clone(), a.inode)
        };
        // Under the link lock: `release` sees every use that found the attachment.
        self.users.fetch_add(1, Ordering::AcqRel);
        Some(CacheUse {
            dev: self,
            io,
            inode,
        })
    }

    /// Ends a use of the cache ([`CachedDev::cache`]). Does not sleep: completions call it.
    pub(crate) fn end_use(&self) {
        if self.users.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.wake_all();
        }
    }

    /// Whether the device is attached to a set whose IO is disabled (`internal/io_disable`, set
    /// by hand or after a key could not reach the index): its bios fail.
    pub(crate) fn set_io_disabled(&self) -> bool {
        let link = self.link.lock();
        link.attached
            .as_ref()
            .is_some_and(|a| a.io.gc.io_disabled())
    }

    /// Sets or takes (with `None`) the registry the device asks to stop it at its error
    /// limit ([`CachedDev::backing`]); returns what was there.
    pub(crate) fn set_stopper(&self, reg: Option<Arc<Registry>>) -> Option<Arc<Registry>> {
        core::mem::replace(&mut self.link.lock().stopper, reg)
    }

    /// The set the device is attached to.
    pub(crate) fn attached_set(&self) -> Option<Arc<CacheSet>> {
        self.link.lock().attached.as_ref().map(|a| a.set.clone())
    }

    /// The set the device is attached to, and its uuid slot there.
    pub(crate) fn attached_slot(&self) -> Option<(Arc<CacheSet>, u64)> {
        self.link
            .lock()
            .attached
            .as_ref()
            .map(|a| (a.set.clone(), a.inode))
    }

    /// Attaches to `set` (see the module documentation).
    pub(crate) fn attach(self: &Arc<Self>, set: &Arc<CacheSet>) -> Result {
        let stopping = || {
            pr_err!(
                "backing device {}: cannot attach: cache set {} is stopping\n",
                DevDisplay(self.dev()),
                UuidDisplay(set.set_uuid())
            );
            EINVAL
        };
        let io = set.io().ok_or_else(stopping)?;
        // Before the link lock (see `WbThread::start`); dropped after it, which stops the
        // thread, if the attach fails.
        let wb = WbThread::start(self.clone(), io.clone())?;
        let mut link = self.link.lock();
        if link.attached.is_some() || self.detaching.load(Ordering::Acquire) {
            return Err(EBUSY);
        }
        let sb = self.sb();
        if u64::from(sb.block_size) < u64::from(set.block_sectors()) {
            pr_err!(
                "backing device {}: block size {} is smaller than cache set {}'s {}: not attaching\n",
                DevDisplay(self.dev()),
                u32::from(sb.block_size) << 9,
                UuidDisplay(set.set_uuid()),
                u32::from(set.block_sectors()) << 9
            );
            return Err(EINVAL);
        }
        // From here until the device is recorded in the set, the set cannot close: a stop
        // either finds the device attached, or has it refused here, before anything is written.
        let admission = set.begin_attach()?.ok_or_else(stopping)?;
        let state = BdevState::from_flags(sb.flags);
        let fresh = matches!(state, BdevState::None | BdevState::Stale);
        // A dirty device's slot holds its dirty data: it must be there.
        let dirty = state == BdevState::Dirty;
        let (inode, _) = io
            .attach_uuid(sb.uuid, sb.label, fresh, dirty, real_seconds())
            .inspect_err(|e| {
                if *e == ENOENT {
                    pr_err!(
                        "backing device {}: dirty, but cache set {} has no slot for it\n",
                        DevDisplay(self.dev()),
                        UuidDisplay(set.set_uuid())
                    );
                }
            })?;
        let set_uuid = *set.set_uuid();
        self.write_sb(|sb| {
            sb.set_uuid = set_uuid;
            if fresh {
                sb.flags = BdevState::Clean.in_flags(sb.flags);
            }
        })?;
        io.track_dirty(inode, self.sectors, self.stripe)?;
        admission.admit(self.clone());
        wb.begin(inode);
        link.attached = Some(Attached {
            set: set.clone(),
            io,
            inode,
            wb: Some(wb),
        });
        pr_info!(
            "backing device {} attached to cache set {} (slot {})\n",
            DevDisplay(self.dev()),
            UuidDisplay(&set_uuid),
            inode
        );
        Ok(())
    }

    /// Stops using the cache: waits for the bios using it, stops writeback, then forgets the
    /// set. Returns the attachment it had.
    pub(crate) fn release(&self) -> Option<Attached> {
        let mut a = self.link.lock().attached.take()?;
        // Every use that found the attachment counted itself under the link lock, so once it
        // is taken only they remain. They end without the lock (some in completion context,
        // some while they take it: not held here): wait uninterruptibly for the last one, as
        // a caller with a signal pending must neither spin nor go before they have ended.
        self.idle
            .wait_until(|| self.users.load(Ordering::Acquire) == 0);
        drop(a.wb.take());
        a.io.untrack_dirty(a.inode);
        a.set.remove_cached(self);
        Some(a)
    }

    /// Starts a detach: from now on nothing new becomes dirty, and writeback runs at once
    /// and at full speed. Returns `false` if a detach is already under way.
    pub(crate) fn start_detach(&self) -> bool {
        if self.detaching.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.hurry_writeback();
        true
    }

    /// `detach`: writes back all dirty data, releases the cache, records in the superblock
    /// that the device has none, then invalidates its uuid slot. The sysfs file runs it from
    /// a work item ([`crate::registry::Registry::queue_detach`]); cache-set `unregister`
    /// calls it directly.
    pub(crate) fn detach(&self) -> Result {
        if self.link.lock().attached.is_none() {
            return Err(ENOENT);
        }
        let ctl = self.wb_ctl();
        self.start_detach();
        let r = self.finish_detach(ctl);
        self.detaching.store(false, Ordering::Release);
        r
    }

    fn finish_detach(&self, ctl: Option<Arc<WbCtl>>) -> Result {
        let clean = ctl.is_some_and(|c| c.wait_clean(self));
        if !clean {
            if self.attached_set().is_none() {
                // Stopped meanwhile: the device keeps its cache, nothing to report.
                return Err(ENOENT);
            }
            pr_err!(
                "backing device {}: dirty data could not be written back: not detaching\n",
                DevDisplay(self.dev())
            );
            return Err(EBUSY);
        }
        let Some(a) = self.release() else {
            return Err(ENOENT);
        };
        // The slot goes first: once the superblock says "no cache" (what `state` shows), the
        // device may attach again, and must not find its old slot. A crash in between leaves
        // a clean device naming a slot that is gone, which attaches to a new one. If the cache
        // cannot write its uuid table (it has failed), the superblock still says "no cache",
        // as 6.12 leaves it: the device must not run without its cache while its superblock
        // names the set, or attach to the slot later, whose data would be older than what
        // was written meanwhile. An attach finds that slot and, the device being fresh,
        // invalidates it.
        if let Err(e) = a.io.invalidate_volume(a.inode, real_seconds()) {
            pr_warn!(
                "backing device {}: its cache slot could not be invalidated ({})\n",
                DevDisplay(self.dev()),
                e.to_errno()
            );
        }
        // Under the link lock, so an attach sees either a detaching device or one with no
        // cache.
        let _link = self.link.lock();
        self.write_sb(|sb| {
            sb.set_uuid = [0; 16];
            sb.flags = BdevState::None.in_flags(sb.flags);
        })?;
        self.detaching.store(false, Ordering::Release);
        pr_info!(
            "backing device {} detached from cache set {}\n",
            DevDisplay(self.dev()),
            UuidDisplay(a.set.set_uuid())
        );
        Ok(())
    }

    /// `running` without a cache: a device that expects one is marked STALE, as 6.12's
    /// `bch_cached_dev_run()` does (what the cache holds for it is out of date from now on).
    pub(crate) fn run_without_cache(&self) -> Result {
        if self.link.lock().attached.is_some() {
            return Ok(());
        }
        if matches!(self.state(), BdevState::Clean | BdevState::Dirty) {
            self.write_sb(|sb| sb.flags = BdevState::Stale.in_flags(sb.flags))?;
        }
        Ok(())
    }
}

impl StatsOwner for CachedDev {
    fn cache_stats(&self) -> &CacheStats {
        &self.stats
    }
}
