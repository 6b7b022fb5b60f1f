// SPDX-License-Identifier: GPL-2.0

//! The per-cache-set GC thread, `bcache_gc`: its wait, its triggers, its stop and its statistics.
//!
//! The thread sleeps on [`Gc::wait`] until a trigger makes [`Gc::should_run`] true or the owner
//! asks it to stop. Wakers change the predicate state and then notify under [`Gc::wake`], and
//! the thread evaluates the predicate under the same lock before sleeping, so no wakeup is lost
//! and the thread never polls.
//!
//! Triggers, as in bcache 6.12:
//! - `internal/trigger_gc` forces a pass: `sectors_to_gc = -1`, then wake;
//! - the write path wakes when `sectors_to_gc` drops below zero (wired by the cache-set core);
//! - the allocator sets `invalidate_needs_gc` and wakes (wired by the cache-set core).
//!
//! A pass re-arms `sectors_to_gc` to 1/16 of the cache and clears `invalidate_needs_gc` when it
//! starts, and records its timing. Unlike 6.12, which re-arms again when a pass finishes, a
//! trigger that arrives during a pass is kept and causes exactly one more pass. At this stage a cache set has no btree yet, so a pass does no marking or copying:
//! it is the thread's lifecycle, with the statistics the real btree GC and moving GC will fill.
//!
//! Stopping: [`GcThread`]'s drop sets `stop` under the lock, notifies, and then calls
//! `kthread_stop`. If IO is disabled the thread leaves its loop early, then waits for `stop`
//! before returning, as bcache's `wait_for_kthread_stop()` does.

use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::{new_condvar, new_mutex, new_spinlock, Arc, CondVar, Mutex, SpinLock};
use kernel::time::Ktime;

use crate::format::gc_stats::TimeStats;
use crate::kabi::kthread::Kthread;

/// The state wakers change under [`Gc::wake`].
struct WakeState {
    /// The owner is stopping the thread.
    stop: bool,
    /// IO to the cache set is disabled: the thread leaves its loop.
    io_disable: bool,
}

/// GC control and statistics of one cache set, shared by the thread, sysfs and the IO paths.
#[pin_data]
pub(crate) struct Gc {
    #[pin]
    wake: SpinLock<WakeState>,
    #[pin]
    wait: CondVar,
    #[pin]
    times: Mutex<TimeStats>,
    /// Sectors still to insert before the write path wakes GC.
    sectors_to_gc: AtomicI64,
    /// What `sectors_to_gc` is re-armed to: 1/16 of the cache.
    gc_sectors: i64,
    /// Set by the allocator when it cannot invalidate a bucket.
    invalidate_needs_gc: AtomicBool,
    running: AtomicBool,
    passes: AtomicU64,
    wakeups_sysfs: AtomicU64,
    wakeups_allocator: AtomicU64,
    wakeups_write: AtomicU64,
}

/// A snapshot of the GC counters for sysfs.
pub(crate) struct GcCounters {
    /// Passes completed.
    pub(crate) passes: u64,
    /// Whether a pass is running now.
    pub(crate) running: bool,
    /// Wakeups from `internal/trigger_gc`.
    pub(crate) wakeups_sysfs: u64,
    /// Wakeups from the allocator.
    pub(crate) wakeups_allocator: u64,
    /// Wakeups from the write path.
    pub(crate) wakeups_write: u64,
}

impl Gc {
    /// Creates the GC state for a cache of `cache_sectors` sectors.
    pub(crate) fn new(cache_sectors: u64) -> impl PinInit<Self> {
        let gc_sectors = i64::try_from(cache_sectors / 16).unwrap_or(i64::MAX);
        pin_init!(Self {
            wake <- new_spinlock!(WakeState { stop: false, io_disable: false }, "Gc::wake"),
            wait <- new_condvar!("Gc::wait"),
            times <- new_mutex!(TimeStats::default(), "Gc::times"),
            sectors_to_gc: AtomicI64::new(gc_sectors),
            gc_sectors,
            invalidate_needs_gc: AtomicBool::new(false),
            running: AtomicBool::new(false),
            passes: AtomicU64::new(0),
            wakeups_sysfs: AtomicU64::new(0),
            wakeups_allocator: AtomicU64::new(0),
            wakeups_write: AtomicU64::new(0),
        })
    }

    /// `gc_should_run()`: the allocator needs GC, or enough sectors were inserted.
    fn should_run(&self) -> bool {
        self.invalidate_needs_gc.load(Ordering::Acquire)
            || self.sectors_to_gc.load(Ordering::Acquire) < 0
    }

    /// Notifies the thread after a predicate change; taking the lock orders the change before
    /// the thread's next check.
    fn notify(&self) {
        let _guard = self.wake.lock();
        self.wait.notify_all();
    }

    /// `force_wake_up_gc()`, for `internal/trigger_gc`: run a pass even if nothing asks for one.
    pub(crate) fn force_wake(&self) {
        self.wakeups_sysfs.fetch_add(1, Ordering::Relaxed);
        self.sectors_to_gc.store(-1, Ordering::Release);
        self.notify();
    }

    /// The write path's trigger: `sectors` were inserted; wakes GC when `sectors_to_gc` runs
    /// out, as `bch_data_insert_start()` does.
    pub(crate) fn account_insert(&self, sectors: u64) {
        let s = i64::try_from(sectors).unwrap_or(i64::MAX);
        if self
            .sectors_to_gc
            .fetch_sub(s, Ordering::AcqRel)
            .saturating_sub(s)
            < 0
        {
            self.wakeups_write.fetch_add(1, Ordering::Relaxed);
            self.notify();
        }
    }

    /// Sets or clears the cache set's IO-disabled state, which makes the thread leave its loop.
    pub(crate) fn set_io_disable(&self, disable: bool) {
        let mut state = self.wake.lock();
        state.io_disable = disable;
        self.wait.notify_all();
    }

    /// Returns whether IO is disabled.
    pub(crate) fn io_disabled(&self) -> bool {
        self.wake.lock().io_disable
    }

    /// Returns the timing statistics.
    pub(crate) fn times(&self) -> TimeStats {
        *self.times.lock()
    }

    /// Returns the counters.
    pub(crate) fn counters(&self) -> GcCounters {
        GcCounters {
            passes: self.passes.load(Ordering::Relaxed),
            running: self.running.load(Ordering::Relaxed),
            wakeups_sysfs: self.wakeups_sysfs.load(Ordering::Relaxed),
            wakeups_allocator: self.wakeups_allocator.load(Ordering::Relaxed),
            wakeups_write: self.wakeups_write.load(Ordering::Relaxed),
        }
    }

    /// `set_gc_sectors()`: re-arms the write-path trigger.
    fn rearm(&self) {
        self.sectors_to_gc.store(self.gc_sectors, Ordering::Release);
    }

    /// One GC pass.
    ///
    /// There is no btree to walk yet, so this is the pass's frame: start, finish, statistics.
    fn pass(&self) {
        let start = now_ns();
        self.running.store(true, Ordering::Relaxed);
        self.rearm();
        self.invalidate_needs_gc.store(false, Ordering::Release);
        self.times.lock().update(start, now_ns());
        self.passes.fetch_add(1, Ordering::Relaxed);
        self.running.store(false, Ordering::Relaxed);
    }

    /// The thread body: wait for a trigger, run a pass, repeat until stopped.
    fn thread_main(&self) {
        loop {
            {
                let mut state = self.wake.lock();
                while !state.stop && !state.io_disable && !self.should_run() {
                    // Kthreads ignore signals; an interrupted wait just re-checks the predicate.
                    let _ = self.wait.wait_interruptible(&mut state);
                }
                if state.stop || state.io_disable {
                    break;
                }
            }
            self.pass();
        }
        // Left the loop because IO was disabled: `kthread_stop` may not have been called yet,
        // so wait for it rather than exit under the owner's feet.
        let mut state = self.wake.lock();
        while !state.stop {
            let _ = self.wait.wait_interruptible(&mut state);
        }
    }
}

/// Returns the monotonic clock in nanoseconds.
pub(crate) fn now_ns() -> u64 {
    u64::try_from(Ktime::ktime_get().to_ns()).unwrap_or(0)
}

/// The running `bcache_gc` thread of a cache set; dropping it stops the thread.
pub(crate) struct GcThread {
    gc: Arc<Gc>,
    // Dropped (so `kthread_stop`ped) in `Drop`, after `stop` is set.
    thread: Option<Kthread>,
}

impl GcThread {
    /// Starts the thread.
    pub(crate) fn start(gc: Arc<Gc>) -> Result<Self> {
        let worker = gc.clone();
        let thread = Kthread::run(c_str!("bcache_gc"), move || worker.thread_main())?;
        Ok(Self {
            gc,
            thread: Some(thread),
        })
    }
}

impl Drop for GcThread {
    fn drop(&mut self) {
        {
            let mut state = self.gc.wake.lock();
            state.stop = true;
            self.gc.wait.notify_all();
        }
        drop(self.thread.take());
    }
}
