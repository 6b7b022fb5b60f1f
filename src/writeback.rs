// SPDX-License-Identifier: GPL-2.0

//! Writeback: a `bcache_writeback` thread per attached cached device writes its dirty data to
//! the backing device, in key order, and marks it clean (6.12's `bch_writeback_thread`).
//!
//! A pass walks the device's keys in batches of at most [`WB_BATCH`] dirty extents. For each
//! batch, with the batch's range locked against foreground writes to the backing device
//! ([`CachedDev::lock_range`]):
//!
//! 1. the extents are read from the cache (without the state lock);
//! 2. those still in the index unchanged (a write around the cache may have invalidated one
//!    between the batch's collection and the lock) are written to the backing device at their
//!    sectors, in order, and the backing device's volatile cache is flushed (hardening 6.12,
//!    which clears dirty bits before the backing write is durable);
//! 3. under the state lock, each extent that is still exactly where it was read from is
//!    inserted again, clean, with the same pointer (compare and replace); one that a
//!    foreground write changed meanwhile is left dirty (newer data) and counted as a race.
//!
//! After a pass that found nothing dirty the superblock goes CLEAN, unless a write adding
//! dirty data ran during the pass ([`DirtyWrite`]: it may have inserted behind the cursor
//! after seeing the state still DIRTY; the thread then sleeps 1 ms and passes again), and
//! only once the journal holds the clean keys. The
//! thread waits for a ring (a dirty write, or dirty data found at attach), runs passes until
//! the device is clean, then rests `writeback_delay` seconds, as 6.12 does after a full
//! pass (cut short by a detach, a stop or a settings change). It stops between batches when
//! the device is released.
//!
//! **Rate.** Between batches the thread waits as the rate allows (`bch_next_delay()`). Every
//! `writeback_rate_update_seconds` a PI controller ([`RateCtl`]) moves the rate so that the
//! device's dirty data tends to `writeback_percent` of the cache (its share of it, when
//! several devices are attached), as 6.12's `update_writeback_rate()`. There is no wait when
//! `writeback_percent` is 0, during a detach, or when the device has had no IO for six
//! updates (then the rate is the maximum, as 6.12's `idle_max_writeback_rate`, which switches
//! this off). With
//! `writeback_consider_fragment` on and the cache more than half in use, the proportional term
//! is pushed up when the dirty data is spread thin over the buckets in use
//! ([`crate::format::writeback::fragment_term`], fed from the last btree GC's bucket count).
//!
//! **GC.** A pass that finds dirty data with the cache at least half in use arms
//! `gc_after_writeback`; the pass that then finds the device clean runs it.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::{new_condvar, new_mutex, Arc, CondVar, Mutex};
use kernel::time::msecs_to_jiffies;

use crate::cached_dev::CachedDev;
use crate::format::backing::BdevState;
use crate::format::bkey::{Bkey, MAX_SIZE};
use crate::format::extents::{self, Extent, INODE_SHIFT};
use crate::format::units::DevDisplay;
use crate::format::writeback::{
    dirty_target, fp_terms_ordered, Fragmentation, RateCtl, RateParams, FP_TERM_DEFAULT,
};
use crate::gc::{now_ns, AUTO_GC_DIRTY_THRESHOLD};
use crate::kabi::kthread::Kthread;
use crate::kabi::noio::NoIoScope;
use crate::set_io::{IoState, SetIo};
use crate::waker::Waker;

/// Dirty extents per batch at most (6.12 keeps 64 writes in flight).
pub(crate) const WB_BATCH: usize = 64;
/// Bytes per batch at most.
const WB_BATCH_BYTES: usize = 2 << 20;
/// Default `writeback_delay` in seconds.
pub(crate) const WB_DELAY_S: u32 = 30;

/// Writeback settings and counters of a cached device.
pub(crate) struct WbSettings {
    /// `writeback_running`.
    pub(crate) running: AtomicBool,
    /// `writeback_delay`, seconds.
    pub(crate) delay_s: AtomicU32,
    /// `writeback_percent`.
    pub(crate) percent: AtomicU32,
    /// `writeback_rate_update_seconds`.
    pub(crate) update_s: AtomicU32,
    /// `writeback_rate_p_term_inverse`.
    pub(crate) p_inv: AtomicU32,
    /// `writeback_rate_i_term_inverse`.
    pub(crate) i_inv: AtomicU32,
    /// `writeback_rate_minimum`, sectors per second.
    pub(crate) minimum: AtomicU32,
    /// `writeback_consider_fragment`.
    pub(crate) consider_fragment: AtomicBool,
    /// `writeback_rate_fp_term_low`, `_mid`, `_high` (changed together under
    /// [`CachedDev::set_fp_term`]'s lock, so they stay ordered).
    pub(crate) fp_term: [AtomicU32; 3],
    /// `writeback_metadata`: stored only; 6.12 does nothing with it either.
    pub(crate) metadata: AtomicBool,
    /// Sectors written back.
    pub(crate) sectors: AtomicU64,
    /// Extents written back and marked clean.
    pub(crate) keys: AtomicU64,
    /// Extents left dirty because a write changed them during their writeback.
    pub(crate) races: AtomicU64,
    /// Passes completed.
    pub(crate) passes: AtomicU64,
    /// Writes adding dirty data now ([`DirtyWrite`]).
    writes_inflight: AtomicU64,
    /// Writes that added dirty data, in total.
    writes_done: AtomicU64,
}

impl Default for WbSettings {
    fn default() -> Self {
        WbSettings {
            running: AtomicBool::new(true),
            delay_s: AtomicU32::new(WB_DELAY_S),
            percent: AtomicU32::new(10),
            update_s: AtomicU32::new(5),
            p_inv: AtomicU32::new(40),
            i_inv: AtomicU32::new(10000),
            minimum: AtomicU32::new(8),
            consider_fragment: AtomicBool::new(true),
            fp_term: FP_TERM_DEFAULT.map(AtomicU32::new),
            metadata: AtomicBool::new(true),
            sectors: AtomicU64::new(0),
            keys: AtomicU64::new(0),
            races: AtomicU64::new(0),
            passes: AtomicU64::new(0),
            writes_inflight: AtomicU64::new(0),
            writes_done: AtomicU64::new(0),
        }
    }
}

impl WbSettings {
    /// The rate controller's tunables.
    pub(crate) fn params(&self) -> RateParams {
        RateParams {
            percent: self.percent.load(Ordering::Relaxed),
            update_seconds: self.update_s.load(Ordering::Relaxed),
            p_term_inverse: self.p_inv.load(Ordering::Relaxed),
            i_term_inverse: self.i_inv.load(Ordering::Relaxed),
            minimum: self.minimum.load(Ordering::Relaxed),
            consider_fragment: self.consider_fragment.load(Ordering::Relaxed),
            fp_term: self.fp_term.each_ref().map(|t| t.load(Ordering::Relaxed)),
        }
    }
}

/// A write adding dirty data, from before it looks at the superblock state until its keys
/// are in the index (6.12 holds `writeback_lock` for reading over the same span). Writeback
/// only sets the superblock CLEAN when no such write ran during its last pass. Registered
/// before the state is read, a write that sees DIRTY keeps writeback from writing CLEAN until
/// its keys are in: writeback checks for such writes under the superblock lock, which reading
/// the state takes too. Dropping it counts the write as done.
pub(crate) struct DirtyWrite<'a>(&'a WbSettings);

impl DirtyWrite<'_> {
    /// Keeps the write registered after this guard is gone, for a write that ends later,
    /// elsewhere, with [`CachedDev::end_dirty_write`].
    pub(crate) fn keep(self) {
        core::mem::forget(self);
    }

    /// Ends a write that added nothing (it went another way): writeback need not look again.
    pub(crate) fn cancel(self) {
        self.0.writes_inflight.fetch_sub(1, Ordering::SeqCst);
        core::mem::forget(self);
    }
}

impl Drop for DirtyWrite<'_> {
    fn drop(&mut self) {
        self.0.writes_done.fetch_add(1, Ordering::SeqCst);
        self.0.writes_inflight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The rate controller of a device and when it last ran.
#[derive(Default)]
pub(crate) struct RateState {
    pub(crate) ctl: RateCtl,
    /// When the controller last ran (ns); 0: never.
    last_update: u64,
}

/// The rate while the device is idle (`INT_MAX`, as 6.12).
const MAX_RATE: u64 = i32::MAX as u64;
/// Updates without IO after which the device counts as idle.
const IDLE_UPDATES: u64 = 6;

/// What the thread and the detach path share.
#[pin_data]
pub(crate) struct WbCtl {
    #[pin]
    bell: Waker,
    stopping: AtomicBool,
    /// The last pass failed (an IO error): a detach waiting for it gives up.
    failed: AtomicBool,
    /// The device's uuid slot, the inode of its keys: set by [`WbThread::begin`] before the
    /// thread's first ring.
    inode: AtomicU64,
    #[pin]
    clean: Mutex<u64>,
    #[pin]
    cleaned: CondVar,
}

impl WbCtl {
    fn new() -> impl PinInit<Self> {
        pin_init!(WbCtl {
            bell <- Waker::new(),
            stopping: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            inode: AtomicU64::new(0),
            clean <- new_mutex!(0, "WbCtl::clean"),
            cleaned <- new_condvar!("WbCtl::cleaned"),
        })
    }

    /// Asks for a pass soon (dirty data was written).
    pub(crate) fn ring(&self) {
        self.bell.ring();
    }

    /// Asks for a pass now, cutting `writeback_delay` and any rate wait short.
    pub(crate) fn hurry(&self) {
        self.bell.hurry();
        let _n = self.clean.lock();
        self.cleaned.notify_all();
    }

    /// Waits until a pass ends with the device clean, or the thread stops. Returns whether
    /// the device was found clean.
    pub(crate) fn wait_clean(&self, dev: &CachedDev) -> bool {
        let mut n = self.clean.lock();
        loop {
            if dev.state() != BdevState::Dirty {
                return true;
            }
            if self.stopping.load(Ordering::Relaxed) || self.failed.load(Ordering::Relaxed) {
                return false;
            }
            self.bell.hurry();
            let _ = self
                .cleaned
                .wait_interruptible_timeout(&mut n, msecs_to_jiffies(1000));
        }
    }

    /// Sleeps `ms` (a stop or a pass end cuts it short).
    fn pause(&self, ms: u32) {
        let mut n = self.clean.lock();
        let _ = self
            .cleaned
            .wait_interruptible_timeout(&mut n, msecs_to_jiffies(ms));
    }

    fn passed(&self) {
        let mut n = self.clean.lock();
        *n += 1;
        self.cleaned.notify_all();
    }
}

/// A running writeback thread; dropping it stops the thread.
pub(crate) struct WbThread {
    pub(crate) ctl: Arc<WbCtl>,
    thread: Option<Kthread>,
}

impl WbThread {
    /// Starts the writeback thread of `dev`, which attaches to `io`, parked until
    /// [`WbThread::begin`]. Called before the attach takes `CachedDev::link`: creating a
    /// kthread waits for `kthreadd`, whose allocations may enter reclaim and so our
    /// `submit_bio`, which takes that lock.
    pub(crate) fn start(dev: Arc<CachedDev>, io: Arc<SetIo>) -> Result<Self> {
        let ctl = Arc::pin_init(WbCtl::new(), GFP_KERNEL)?;
        let c = ctl.clone();
        let thread = Kthread::run(c_str!("bcache_writeback"), move || {
            dev.writeback_main(&io, &c)
        })?;
        Ok(WbThread {
            ctl,
            thread: Some(thread),
        })
    }

    /// The attach took uuid slot `inode`: the thread starts, and writes back at once any
    /// dirty data the slot holds.
    pub(crate) fn begin(&self, inode: u64) {
        self.ctl.inode.store(inode, Ordering::Release);
        self.ctl.ring();
    }
}

impl Drop for WbThread {
    fn drop(&mut self) {
        self.ctl.stopping.store(true, Ordering::Relaxed);
        self.ctl.bell.stop();
        drop(self.thread.take());
        self.ctl.passed();
    }
}

impl CachedDev {
    fn writeback_main(&self, io: &SetIo, ctl: &WbCtl) {
        // Parked until the attach has its slot ([`WbThread::begin`], which rings).
        if !ctl.bell.wait(0) {
            return;
        }
        let inode = ctl.inode.load(Ordering::Acquire);
        loop {
            let _noio = NoIoScope::new();
            loop {
                // A detach writes back even with `writeback_running` off, as in 6.12.
                let detaching = self.detaching.load(Ordering::Relaxed);
                if !self.wb.running.load(Ordering::Relaxed) && !detaching {
                    break;
                }
                match self.writeback_pass(io, inode, ctl) {
                    Ok(true) => {
                        ctl.failed.store(false, Ordering::Relaxed);
                        break;
                    }
                    Ok(false) => {}
                    Err(e) if e == EINTR => return,
                    Err(e) => {
                        ctl.failed.store(true, Ordering::Relaxed);
                        pr_err!(
                            "backing device {}: writeback failed ({}); retrying later\n",
                            DevDisplay(self.dev()),
                            e.to_errno()
                        );
                        break;
                    }
                }
            }
            ctl.passed();
            // As 6.12: after writing everything back, rest `writeback_delay` before looking
            // again (a detach, a stop or a settings change cuts it short).
            let delay = self.wb.delay_s.load(Ordering::Relaxed).saturating_mul(1000);
            if delay > 0 && !self.detaching.load(Ordering::Relaxed) {
                ctl.pause(delay);
            }
            if !ctl.bell.wait(0) {
                return;
            }
        }
    }

    /// Marks the start of a write that adds dirty data (see [`DirtyWrite`]).
    pub(crate) fn begin_dirty_write(&self) -> DirtyWrite<'_> {
        self.wb.writes_inflight.fetch_add(1, Ordering::SeqCst);
        DirtyWrite(&self.wb)
    }

    /// Ends a write begun by [`CachedDev::begin_dirty_write`] and kept ([`DirtyWrite::keep`]).
    pub(crate) fn end_dirty_write(&self) {
        drop(DirtyWrite(&self.wb));
    }

    /// One pass over the device's keys; returns whether it found nothing dirty (the
    /// superblock is then CLEAN).
    fn writeback_pass(&self, io: &SetIo, inode: u64, ctl: &WbCtl) -> Result<bool> {
        let (Some(lo), Some(hi)) = (extents::key(inode, 0), extents::key(inode + 1, 0)) else {
            return Err(EINVAL);
        };
        let mut pos = lo;
        let mut found = false;
        // Writes that add dirty data meanwhile may land behind the cursor: see the end.
        let writes = self.wb.writes_done.load(Ordering::SeqCst);
        loop {
            if ctl.stopping.load(Ordering::Relaxed) {
                return Err(EINTR);
            }
            if io.busy() {
                ctl.pause(1);
            }
            self.update_rate(io, inode);
            let (batch, next) = io.dirty_batch(pos, hi)?;
            if !batch.is_empty() {
                if !found && io.gc.in_use().is_some_and(|u| u >= AUTO_GC_DIRTY_THRESHOLD) {
                    io.gc.arm_after_writeback();
                }
                found = true;
                let sectors = self.write_back(io, &batch)?;
                self.pace(io, ctl, sectors);
            }
            match next {
                Some(p) => pos = p,
                None => break,
            }
        }
        self.wb.passes.fetch_add(1, Ordering::Relaxed);
        if found {
            return Ok(false);
        }
        if self.state() == BdevState::Dirty {
            // The keys marked clean are durable before the superblock says so.
            io.flush_journal()?;
            // A write that looked at the state before this and inserts after the scan passed
            // is in flight or counted as done: then look again rather than say CLEAN over it.
            let quiet = || {
                self.wb.writes_inflight.load(Ordering::SeqCst) == 0
                    && self.wb.writes_done.load(Ordering::SeqCst) == writes
            };
            if !self.write_sb_if(quiet, |sb| sb.flags = BdevState::Clean.in_flags(sb.flags))? {
                // Such a write may still be on its way to the index, waiting for a lock this
                // thread takes, or for this CPU: sleep a moment before the next pass rather
                // than spin.
                ctl.pause(1);
                return Ok(false);
            }
        }
        io.gc.writeback_done();
        Ok(true)
    }

    /// Records foreground IO (the device is not idle), and runs the accounting ticks that came
    /// due of its stats directories and of those of `set`, its cache set, before the IO is
    /// counted.
    pub(crate) fn note_io(&self, set: Option<&SetIo>) {
        let now = now_ns();
        self.policy.last_io.store(now, Ordering::Relaxed);
        self.stats.tick(now);
        if let Some(io) = set {
            io.accounting.tick(now);
        }
    }

    /// Whether the device counts as idle: no IO for six rate updates, with the set's
    /// `idle_max_writeback_rate` on.
    fn idle(&self, io: &SetIo, now: u64, p: &RateParams) -> bool {
        if !io.gc.idle_max_rate() {
            return false;
        }
        let quiet = u64::from(p.update_seconds) * IDLE_UPDATES * 1_000_000_000;
        now.saturating_sub(self.policy.last_io.load(Ordering::Relaxed)) > quiet
    }

    /// Runs the rate controller if `writeback_rate_update_seconds` have passed.
    fn update_rate(&self, io: &SetIo, inode: u64) {
        let p = self.wb.params();
        let now = now_ns();
        {
            let r = self.rate.lock();
            let period = u64::from(p.update_seconds) * 1_000_000_000;
            if p.percent == 0 || (r.last_update != 0 && now < r.last_update + period) {
                return;
            }
        }
        let dirty = io.dirty_sectors(inode);
        let all = self
            .attached_set()
            .map_or(self.sectors, |s| s.cached_sectors());
        let target = dirty_target(io.writeback_room(), p.percent, self.sectors, all);
        let nbuckets = io.layout.nbuckets;
        let frag = Fragmentation {
            in_use: io.gc.in_use().unwrap_or(0),
            used_buckets: nbuckets.saturating_sub(io.gc.last_free_buckets().min(nbuckets)),
            bucket_sectors: io.layout.bucket_size,
        };
        let idle = self.idle(io, now, &p);
        let mut r = self.rate.lock();
        r.last_update = now;
        if idle {
            r.ctl.change = MAX_RATE as i64 - r.ctl.rate as i64;
            r.ctl.rate = MAX_RATE;
            r.ctl.target = target;
        } else {
            r.ctl.update(&p, dirty, target, &frag, now);
        }
    }

    /// Waits as the rate asks after `sectors` were written back.
    fn pace(&self, io: &SetIo, ctl: &WbCtl, sectors: u64) {
        let p = self.wb.params();
        let now = now_ns();
        if p.percent == 0 || self.detaching.load(Ordering::Relaxed) || self.idle(io, now, &p) {
            return;
        }
        let ns = self.rate.lock().ctl.next_delay(sectors, now);
        let ms = u32::try_from(ns / 1_000_000).unwrap_or(u32::MAX);
        if ms > 0 {
            ctl.pause(ms);
        }
    }

    /// `writeback_rate` in sectors per second (0 while writeback is off).
    pub(crate) fn writeback_rate(&self) -> u64 {
        if !self.wb.running.load(Ordering::Relaxed) {
            return 0;
        }
        self.rate.lock().ctl.rate
    }

    /// Sets `writeback_rate` (the controller moves it from there, unless `writeback_percent`
    /// is 0).
    pub(crate) fn set_writeback_rate(&self, sectors_per_s: u64) {
        self.rate.lock().ctl.rate = sectors_per_s;
    }

    /// Sets `writeback_rate_fp_term_low` (`which` 0), `_mid` (1) or `_high` (2) to `v` if
    /// the three stay ordered ([`fp_terms_ordered`]); `EINVAL` otherwise, with no change.
    pub(crate) fn set_fp_term(&self, which: usize, v: u32) -> Result {
        // The rate lock serializes the check and the store against another term's store.
        let _r = self.rate.lock();
        let mut t = self.wb.params().fp_term;
        *t.get_mut(which).ok_or(EINVAL)? = v;
        if !fp_terms_ordered(t) {
            return Err(EINVAL);
        }
        self.wb
            .fp_term
            .get(which)
            .ok_or(EINVAL)?
            .store(v, Ordering::Relaxed);
        Ok(())
    }

    /// The controller's state, for `writeback_rate_debug`.
    pub(crate) fn rate_state(&self) -> RateCtl {
        self.rate.lock().ctl
    }

    /// Writes one batch back (see the module documentation); returns the sectors written.
    fn write_back(&self, io: &SetIo, batch: &[Extent]) -> Result<u64> {
        let mask = (1u64 << INODE_SHIFT) - 1;
        let first = batch.first().map_or(0, |e| e.start & mask);
        let last = batch.last().map_or(0, |e| e.end & mask);
        let _range = self.lock_range(first, last.max(first + 1));
        let bytes: usize = batch
            .iter()
            .map(|e| ((e.end - e.start) << 9) as usize)
            .sum();
        let mut data = KVVec::from_elem(0u8, bytes, GFP_KERNEL)?;
        let mut off = 0usize;
        for e in batch {
            let len = ((e.end - e.start) << 9) as usize;
            let buf = data.get_mut(off..off + len).ok_or(EIO)?;
            let r = io.bdev.read_sync(e.ptr, buf);
            io.count_io(&r, "reading dirty data for writeback");
            r?;
            off += len;
        }
        // The batch was collected before the range was locked: a write around the cache may
        // have reached the backing device and invalidated an extent meanwhile. Writing such
        // an extent back would put older data over it; only those still unchanged go.
        let unchanged = io.unchanged(batch)?;
        off = 0;
        for (e, &same) in batch.iter().zip(unchanged.iter()) {
            let len = ((e.end - e.start) << 9) as usize;
            let buf = data.get(off..off + len).ok_or(EIO)?;
            if same {
                let r =
                    self.bdev
                        .write_sync(e.start & mask, buf, crate::kabi::bio::WriteKind::Data);
                self.backing(r, false)?;
            }
            off += len;
        }
        self.backing(self.bdev.flush(), false)?;
        let (done, races) = io.mark_clean(batch)?;
        self.wb.keys.fetch_add(done, Ordering::Relaxed);
        self.wb.races.fetch_add(races, Ordering::Relaxed);
        let sectors = (bytes >> 9) as u64;
        self.wb.sectors.fetch_add(sectors, Ordering::Relaxed);
        Ok(sectors)
    }
}

impl SetIo {
    /// The next batch of live dirty extents in positions `pos..hi`, and where to continue
    /// (`None`: the range is exhausted).
    pub(crate) fn dirty_batch(&self, pos: u64, hi: u64) -> Result<(KVec<Extent>, Option<u64>)> {
        self.collect_live(pos, hi, WB_BATCH, WB_BATCH_BYTES, &|e, _| e.dirty)
    }

    /// Whether `e` is still in the index as it was collected: the same live, dirty data.
    fn is_unchanged(&self, st: &mut IoState, e: &Extent) -> Result<bool> {
        let len = e.end - e.start;
        let IoState { index, buckets, .. } = st;
        let now = index.lookup(e.start, len, &self.nodes(buckets))?;
        Ok(matches!(now, (Some(h), n)
            if h.ptr == e.ptr && h.gen == e.gen && h.dirty && n == len))
    }

    /// For each extent of `batch`, whether it is still unchanged ([`SetIo::is_unchanged`]).
    pub(crate) fn unchanged(&self, batch: &[Extent]) -> Result<KVec<bool>> {
        let mut out = KVec::with_capacity(batch.len(), GFP_KERNEL)?;
        let mut st = self.state.lock();
        for e in batch {
            out.push(self.is_unchanged(&mut st, e)?, GFP_KERNEL)?;
        }
        Ok(out)
    }

    /// Marks the extents of `batch` clean where they are unchanged (compare and replace);
    /// returns `(marked, changed meanwhile)`.
    pub(crate) fn mark_clean(&self, batch: &[Extent]) -> Result<(u64, u64)> {
        let mask = (1u64 << INODE_SHIFT) - 1;
        let mut st = self.state.lock();
        let mut keys = KVec::new();
        let mut races = 0;
        for e in batch {
            let len = e.end - e.start;
            if !self.is_unchanged(&mut st, e)? {
                races += 1;
                continue;
            }
            let mut done = 0;
            while done < len {
                let n = (len - done).min(MAX_SIZE);
                let end = e.start + done + n;
                let mut k = Bkey::new(end >> INODE_SHIFT, end & mask, n);
                k.set_ptrs(1);
                k.ptr[0] = Bkey::make_ptr(e.gen, e.ptr + done, 0);
                keys.push(k, GFP_KERNEL)?;
                done += n;
            }
        }
        let marked = batch.len() as u64 - races;
        if !keys.is_empty() {
            self.commit(&mut st, &keys)?;
        }
        let s = &self.stats;
        s.writeback_keys_done.fetch_add(marked, Ordering::Relaxed);
        s.writeback_keys_failed.fetch_add(races, Ordering::Relaxed);
        Ok((marked, races))
    }
}
