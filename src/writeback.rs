// SPDX-License-Identifier: GPL-2.0

//! Writeback: a `bcache_writeback` thread per attached cached device writes its dirty data to
//! the backing device, in key order, and marks it clean (6.12's `bch_writeback_thread`).
//!
//! A pass walks the device's keys in batches of at most [`WB_BATCH`] dirty extents. For each
//! batch, with the batch's range locked against foreground writes to the backing device
//! ([`CachedDev::lock_range`]):
//!
//! 1. the extents are read from the cache (without the state lock);
//! 2. they are written to the backing device at their sectors, in order, and the backing
//!    device's volatile cache is flushed (hardening 6.12, which clears dirty bits before the
//!    backing write is durable);
//! 3. under the state lock, each extent that is still exactly where it was read from is
//!    inserted again, clean, with the same pointer (compare and replace); one that a
//!    foreground write changed meanwhile is left dirty (newer data) and counted as a race.
//!
//! After a pass that found nothing dirty the superblock goes CLEAN. The thread waits for a
//! ring (a dirty write), then `writeback_delay` seconds (cut short by a detach), then runs
//! passes until the device is clean. It stops between batches when the device is released.
//!
//! Not as 6.12: there is no rate controller (`writeback_percent` is kept for its sysfs file);
//! batches yield to foreground IO instead, as GC does.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::{new_condvar, new_mutex, Arc, CondVar, Mutex};
use kernel::time::msecs_to_jiffies;

use crate::cached_dev::CachedDev;
use crate::format::backing::BdevState;
use crate::format::bkey::{Bkey, MAX_SIZE};
use crate::format::extents::{self, Extent, INODE_SHIFT};
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
    /// `writeback_percent` (kept; no rate controller).
    pub(crate) percent: AtomicU32,
    /// Sectors written back.
    pub(crate) sectors: AtomicU64,
    /// Extents written back and marked clean.
    pub(crate) keys: AtomicU64,
    /// Extents left dirty because a write changed them during their writeback.
    pub(crate) races: AtomicU64,
    /// Passes completed.
    pub(crate) passes: AtomicU64,
}

impl Default for WbSettings {
    fn default() -> Self {
        WbSettings {
            running: AtomicBool::new(true),
            delay_s: AtomicU32::new(WB_DELAY_S),
            percent: AtomicU32::new(10),
            sectors: AtomicU64::new(0),
            keys: AtomicU64::new(0),
            races: AtomicU64::new(0),
            passes: AtomicU64::new(0),
        }
    }
}

/// What the thread and the detach path share.
#[pin_data]
pub(crate) struct WbCtl {
    #[pin]
    bell: Waker,
    stopping: AtomicBool,
    /// The last pass failed (an IO error): a detach waiting for it gives up.
    failed: AtomicBool,
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
            clean <- new_mutex!(0, "WbCtl::clean"),
            cleaned <- new_condvar!("WbCtl::cleaned"),
        })
    }

    /// Asks for a pass soon (dirty data was written).
    pub(crate) fn ring(&self) {
        self.bell.ring();
    }

    /// Asks for a pass now, cutting `writeback_delay` short.
    pub(crate) fn hurry(&self) {
        self.bell.hurry();
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
            self.hurry();
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
    /// Starts the writeback thread of `dev`, attached with slot `inode` to `io`.
    pub(crate) fn start(dev: Arc<CachedDev>, io: Arc<SetIo>, inode: u64) -> Result<Self> {
        let ctl = Arc::pin_init(WbCtl::new(), GFP_KERNEL)?;
        let c = ctl.clone();
        let thread = Kthread::run(c_str!("bcache_writeback"), move || {
            dev.writeback_main(&io, inode, &c)
        })?;
        // Dirty data found at attach is written back without waiting for a write.
        ctl.ring();
        Ok(WbThread {
            ctl,
            thread: Some(thread),
        })
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
    fn writeback_main(&self, io: &SetIo, inode: u64, ctl: &WbCtl) {
        loop {
            let delay = self.wb.delay_s.load(Ordering::Relaxed).saturating_mul(1000);
            if !ctl.bell.wait(msecs_to_jiffies(delay)) {
                return;
            }
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
                            "backing device {}:{}: writeback failed ({}); retrying later\n",
                            self.dev() >> 20,
                            self.dev() & 0xfffff,
                            e.to_errno()
                        );
                        break;
                    }
                }
            }
            ctl.passed();
        }
    }

    /// One pass over the device's keys; returns whether it found nothing dirty (the
    /// superblock is then CLEAN).
    fn writeback_pass(&self, io: &SetIo, inode: u64, ctl: &WbCtl) -> Result<bool> {
        let (Some(lo), Some(hi)) = (extents::key(inode, 0), extents::key(inode + 1, 0)) else {
            return Err(EINVAL);
        };
        let mut pos = lo;
        let mut found = false;
        loop {
            if ctl.stopping.load(Ordering::Relaxed) {
                return Err(EINTR);
            }
            if io.busy() {
                ctl.pause(1);
            }
            let (batch, next) = io.dirty_batch(pos, hi)?;
            if !batch.is_empty() {
                found = true;
                self.write_back(io, &batch)?;
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
            self.write_sb(|sb| sb.flags = BdevState::Clean.in_flags(sb.flags))?;
        }
        Ok(true)
    }

    /// Writes one batch back (see the module documentation).
    fn write_back(&self, io: &SetIo, batch: &[Extent]) -> Result {
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
            io.bdev.read_sync(e.ptr, buf)?;
            off += len;
        }
        off = 0;
        for e in batch {
            let len = ((e.end - e.start) << 9) as usize;
            let buf = data.get(off..off + len).ok_or(EIO)?;
            self.bdev
                .write_sync(e.start & mask, buf, crate::kabi::bio::WriteKind::Data)?;
            off += len;
        }
        self.bdev.flush()?;
        let (done, races) = io.mark_clean(batch)?;
        self.wb.keys.fetch_add(done, Ordering::Relaxed);
        self.wb.races.fetch_add(races, Ordering::Relaxed);
        self.wb
            .sectors
            .fetch_add((bytes >> 9) as u64, Ordering::Relaxed);
        Ok(())
    }
}

impl SetIo {
    /// The next batch of live dirty extents in positions `pos..hi`, and where to continue
    /// (`None`: the range is exhausted).
    pub(crate) fn dirty_batch(&self, pos: u64, hi: u64) -> Result<(KVec<Extent>, Option<u64>)> {
        let mut batch = KVec::new();
        let mut bytes = 0usize;
        let mut oom = false;
        let mut guard = self.state.lock();
        let IoState { index, buckets, .. } = &mut *guard;
        let bs = self.layout.bucket_size;
        let next = index.scan(pos, &self.nodes(buckets), &mut |e| {
            if e.start >= hi || batch.len() >= WB_BATCH || bytes >= WB_BATCH_BYTES {
                return false;
            }
            let live = buckets.get((e.ptr / bs) as usize).map(|b| b.gen) == Some(e.gen);
            if e.dirty && live {
                bytes += ((e.end - e.start) << 9) as usize;
                oom |= batch.push(*e, GFP_KERNEL).is_err();
            }
            true
        })?;
        if oom {
            return Err(ENOMEM);
        }
        let next = next.filter(|&p| p < hi);
        Ok((batch, next))
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
            let now = {
                let IoState { index, buckets, .. } = &mut *st;
                index.lookup(e.start, len, &self.nodes(buckets))?
            };
            let same = matches!(now, (Some(h), n)
                if h.ptr == e.ptr && h.gen == e.gen && h.dirty && n == len);
            if !same {
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
        Ok((marked, races))
    }
}
