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
//! - the allocator sets `invalidate_needs_gc` and wakes (wired by the cache-set core);
//! - writeback, after cleaning a cache it found at least half in use, when
//!   `internal/gc_after_writeback` is set ([`Gc::writeback_done`]);
//! - IO that bypasses a cache found more than 95% in use while its device is clean
//!   ([`Gc::full_wake`], 6.10's `check_should_bypass()` fix).
//!
//! A pass re-arms `sectors_to_gc` to 1/16 of the cache and clears `invalidate_needs_gc` when it
//! starts, runs btree GC then moving GC ([`crate::gc_work`]) inside a no-IO allocation scope,
//! and records its timing and counters. Unlike 6.12, which re-arms again when a pass finishes,
//! a trigger that arrives during a pass is kept and causes exactly one more pass. Both halves
//! poll [`Gc::stopping`] between steps, so a stop never waits for a whole pass.
//!
//! Writers that found no free bucket wait in [`Gc::wait_pass`] for the next pass to finish.
//!
//! Stopping: [`GcThread`]'s drop sets `stop` under the lock, notifies, and then calls
//! `kthread_stop`. While IO is disabled the thread runs no pass (a pass in progress stops
//! early) and waits, for `stop` or for IO enabled again, when passes resume. 6.12's thread
//! instead leaves its loop for good and waits for `kthread_stop`
//! (`wait_for_kthread_stop()`), so writers waiting for a pass wait until the set stops.

use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::{new_condvar, new_mutex, new_spinlock, Arc, CondVar, Mutex, SpinLock};
use kernel::time::{msecs_to_jiffies, Ktime};

use crate::format::gc_stats::TimeStats;
use crate::gc_work::{GcControl, MOVE_BATCH};
use crate::kabi::kthread::Kthread;
use crate::kabi::noio::NoIoScope;
use crate::set_io::SetIo;

/// `gc_after_writeback`: enabled by the user.
const AFTER_WB_ENABLE: u32 = 1;
/// `gc_after_writeback`: a pass is due when writeback is done.
const AFTER_WB_DO: u32 = 2;
/// [`Gc::in_use`] before the first pass.
const IN_USE_UNKNOWN: u32 = u32::MAX;
/// IO bypasses a cache more in use than this (`CUTOFF_CACHE_ADD`).
pub(crate) const CUTOFF_CACHE_ADD: u32 = 95;
/// Writeback arms `gc_after_writeback` at this use (`BCH_AUTO_GC_DIRTY_THRESHOLD`).
pub(crate) const AUTO_GC_DIRTY_THRESHOLD: u32 = 50;

/// The state wakers change under [`Gc::wake`].
struct WakeState {
    /// The owner is stopping the thread.
    stop: bool,
    /// IO to the cache set is disabled: the thread runs no pass.
    io_disable: bool,
}

/// GC control and statistics of one cache set, shared by the thread, sysfs and the IO paths.
#[pin_data]
pub(crate) struct Gc {
    #[pin]
    wake: SpinLock<WakeState>,
    #[pin]
    wait: CondVar,
    /// Signalled when a pass ends (writers waiting for space).
    #[pin]
    done: CondVar,
    #[pin]
    times: Mutex<TimeStats>,
    /// Sectors still to insert before the write path wakes GC.
    sectors_to_gc: AtomicI64,
    /// What `sectors_to_gc` is re-armed to: 1/16 of the cache.
    gc_sectors: i64,
    /// Set by the allocator when it cannot invalidate a bucket.
    invalidate_needs_gc: AtomicBool,
    running: AtomicBool,
    /// `internal/copy_gc_enabled` (on by default, unlike 6.12).
    copy_gc_enabled: AtomicBool,
    /// The set has failed (too many IO errors): the thread has it unregistered.
    failed: AtomicBool,
    /// `internal/gc_after_writeback`: [`AFTER_WB_ENABLE`], and [`AFTER_WB_DO`] once
    /// writeback found the cache half full.
    after_writeback: AtomicU32,
    /// Percent of buckets holding something after the last btree GC (`gc_stats.in_use`);
    /// [`IN_USE_UNKNOWN`] before the first pass.
    in_use: AtomicU32,
    /// Pacing tunables (`internal/gc_yield_ms`, `gc_step_keys`, `moving_gc_batch`).
    tunables: Tunables,
    stats: Stats,
}

/// The pacing tunables.
struct Tunables {
    yield_ms: AtomicU32,
    step_keys: AtomicU32,
    move_batch: AtomicU32,
    /// `idle_max_writeback_rate`: a backing device with no IO for six rate updates writes
    /// back at the maximum rate (default on, as 6.12). A writeback setting, kept here with
    /// the set's other switches.
    idle_max_rate: AtomicBool,
}

impl Default for Tunables {
    fn default() -> Self {
        Tunables {
            yield_ms: AtomicU32::new(2),
            step_keys: AtomicU32::new(4096),
            move_batch: AtomicU32::new(MOVE_BATCH as u32),
            idle_max_rate: AtomicBool::new(true),
        }
    }
}

/// A pacing tunable of `internal/`.
#[derive(Clone, Copy)]
pub(crate) enum Tunable {
    /// `gc_yield_ms`: sleep between steps while foreground writes are in flight (0..=1000).
    YieldMs,
    /// `gc_step_keys`: extents btree GC counts per lock hold (1..=1048576).
    StepKeys,
    /// `moving_gc_batch`: copies per moving-GC batch (1..=64).
    MoveBatch,
}

impl Tunable {
    fn range(self) -> (u32, u32) {
        match self {
            Tunable::YieldMs => (0, 1000),
            Tunable::StepKeys => (1, 1 << 20),
            Tunable::MoveBatch => (1, MOVE_BATCH as u32),
        }
    }
}

/// The GC counters.
#[derive(Default)]
struct Stats {
    yields: AtomicU64,
    passes: AtomicU64,
    wakeups_sysfs: AtomicU64,
    wakeups_allocator: AtomicU64,
    wakeups_write: AtomicU64,
    wakeups_writeback: AtomicU64,
    wakeups_full: AtomicU64,
    last_nodes: AtomicU64,
    last_keys: AtomicU64,
    last_free: AtomicU64,
    last_coalesced: AtomicU64,
    last_rewritten: AtomicU64,
    moved_keys: AtomicU64,
    moved_sectors: AtomicU64,
    move_races: AtomicU64,
    move_freed: AtomicU64,
    aborted: AtomicU64,
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
    /// Wakeups after writeback cleaned a half-full cache (`gc_after_writeback`).
    pub(crate) wakeups_writeback: u64,
    /// Wakeups from IO that bypassed a full, clean cache (`check_should_bypass`).
    pub(crate) wakeups_full: u64,
    /// Leaves walked by the last btree GC.
    pub(crate) last_nodes: u64,
    /// Keys counted by the last btree GC.
    pub(crate) last_keys: u64,
    /// Buckets with nothing live after the last btree GC.
    pub(crate) last_free: u64,
    /// Leaves the last btree GC merged into siblings.
    pub(crate) last_coalesced: u64,
    /// Nodes written by the flush that ended the last btree GC.
    pub(crate) last_rewritten: u64,
    /// Keys moved by moving GC, in total.
    pub(crate) moved_keys: u64,
    /// Sectors moved by moving GC, in total.
    pub(crate) moved_sectors: u64,
    /// Moving-GC copies dropped because a foreground write won, in total.
    pub(crate) move_races: u64,
    /// Buckets moving GC emptied, in total.
    pub(crate) move_freed: u64,
    /// Passes cut short by a stop.
    pub(crate) aborted: u64,
    /// Pauses made for foreground IO.
    pub(crate) yields: u64,
}

impl Gc {
    /// Creates the GC state for a cache of `cache_sectors` sectors.
    pub(crate) fn new(cache_sectors: u64) -> impl PinInit<Self> {
        let gc_sectors = i64::try_from(cache_sectors / 16).unwrap_or(i64::MAX);
        pin_init!(Self {
            wake <- new_spinlock!(WakeState { stop: false, io_disable: false }, "Gc::wake"),
            wait <- new_condvar!("Gc::wait"),
            done <- new_condvar!("Gc::done"),
            times <- new_mutex!(TimeStats::default(), "Gc::times"),
            sectors_to_gc: AtomicI64::new(gc_sectors),
            gc_sectors,
            invalidate_needs_gc: AtomicBool::new(false),
            running: AtomicBool::new(false),
            copy_gc_enabled: AtomicBool::new(true),
            failed: AtomicBool::new(false),
            after_writeback: AtomicU32::new(0),
            in_use: AtomicU32::new(IN_USE_UNKNOWN),
            tunables: Tunables::default(),
            stats: Stats::default(),
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
        self.stats.wakeups_sysfs.fetch_add(1, Ordering::Relaxed);
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
            self.stats.wakeups_write.fetch_add(1, Ordering::Relaxed);
            self.notify();
        }
    }

    /// `check_should_bypass()`'s trigger (6.10): IO bypasses a cache that was found more than
    /// [`CUTOFF_CACHE_ADD`] percent in use, while its device holds no dirty data. Without a
    /// pass nothing would ever be inserted, so nothing would wake GC, and the cache would
    /// stay "full" for good. A pass already wanted or running is enough.
    pub(crate) fn full_wake(&self) {
        if self.running.load(Ordering::Relaxed) || self.should_run() {
            return;
        }
        self.stats.wakeups_full.fetch_add(1, Ordering::Relaxed);
        self.sectors_to_gc.store(-1, Ordering::Release);
        self.notify();
    }

    /// `gc_after_writeback`: called when writeback found dirty data with the cache at least
    /// half in use, arms a pass for when writeback is done.
    pub(crate) fn arm_after_writeback(&self) {
        let _ = self
            .after_writeback
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                (v & AFTER_WB_ENABLE != 0).then_some(v | AFTER_WB_DO)
            });
    }

    /// Called when writeback has left its device clean: runs the pass armed by
    /// [`Gc::arm_after_writeback`].
    pub(crate) fn writeback_done(&self) {
        let v = self
            .after_writeback
            .fetch_and(!AFTER_WB_DO, Ordering::AcqRel);
        if v & AFTER_WB_DO != 0 {
            self.stats.wakeups_writeback.fetch_add(1, Ordering::Relaxed);
            self.sectors_to_gc.store(-1, Ordering::Release);
            self.notify();
        }
    }

    /// `internal/gc_after_writeback` (the enable bit, plus the armed bit as 6.12 shows it).
    pub(crate) fn after_writeback(&self) -> u32 {
        self.after_writeback.load(Ordering::Relaxed)
    }

    /// Sets `internal/gc_after_writeback` (0 or 1).
    pub(crate) fn set_after_writeback(&self, on: bool) {
        self.after_writeback
            .store(if on { AFTER_WB_ENABLE } else { 0 }, Ordering::Relaxed);
    }

    /// Percent of buckets in use after the last btree GC, if a pass has run.
    pub(crate) fn in_use(&self) -> Option<u32> {
        let v = self.in_use.load(Ordering::Relaxed);
        (v != IN_USE_UNKNOWN).then_some(v)
    }

    /// Free buckets the last btree GC found (what [`Gc::in_use`] is computed from).
    pub(crate) fn last_free_buckets(&self) -> u64 {
        self.stats.last_free.load(Ordering::Relaxed)
    }

    /// The allocator's trigger: no bucket could be invalidated. Counted, then wakes the thread.
    pub(crate) fn allocator_wake(&self) {
        self.stats.wakeups_allocator.fetch_add(1, Ordering::Relaxed);
        self.note_needs_gc();
        self.notify();
    }

    /// Records that the allocator needs GC (`invalidate_needs_gc`) without waking anyone.
    pub(crate) fn note_needs_gc(&self) {
        self.invalidate_needs_gc.store(true, Ordering::Release);
    }

    /// Waits until a pass after the `seen`-th has finished; `false` if the thread is stopping
    /// or IO is disabled instead.
    pub(crate) fn wait_pass(&self, seen: u64) -> bool {
        let mut state = self.wake.lock();
        loop {
            if state.stop || state.io_disable {
                return false;
            }
            if self.stats.passes.load(Ordering::Acquire) > seen {
                return true;
            }
            let _ = self.done.wait_interruptible(&mut state);
        }
    }

    /// Whether the thread should stop what it is doing.
    pub(crate) fn stopping(&self) -> bool {
        let state = self.wake.lock();
        state.stop || state.io_disable
    }

    fn tunable_ref(&self, t: Tunable) -> &AtomicU32 {
        match t {
            Tunable::YieldMs => &self.tunables.yield_ms,
            Tunable::StepKeys => &self.tunables.step_keys,
            Tunable::MoveBatch => &self.tunables.move_batch,
        }
    }

    /// A pacing tunable's value.
    pub(crate) fn tunable(&self, t: Tunable) -> u32 {
        self.tunable_ref(t).load(Ordering::Relaxed)
    }

    /// Sets a pacing tunable; `EINVAL` outside its range.
    pub(crate) fn set_tunable(&self, t: Tunable, v: u64) -> Result {
        let (lo, hi) = t.range();
        let v = u32::try_from(v).map_err(|_| EINVAL)?;
        if v < lo || v > hi {
            return Err(EINVAL);
        }
        self.tunable_ref(t).store(v, Ordering::Relaxed);
        Ok(())
    }

    /// `internal/copy_gc_enabled`.
    pub(crate) fn copy_gc_enabled(&self) -> bool {
        self.copy_gc_enabled.load(Ordering::Relaxed)
    }

    /// Sets `internal/copy_gc_enabled`.
    pub(crate) fn set_copy_gc_enabled(&self, on: bool) {
        self.copy_gc_enabled.store(on, Ordering::Relaxed);
    }

    /// `internal/idle_max_writeback_rate`.
    pub(crate) fn idle_max_rate(&self) -> bool {
        self.tunables.idle_max_rate.load(Ordering::Relaxed)
    }

    /// Sets `internal/idle_max_writeback_rate`.
    pub(crate) fn set_idle_max_rate(&self, on: bool) {
        self.tunables.idle_max_rate.store(on, Ordering::Relaxed);
    }

    /// Sets or clears the cache set's IO-disabled state, which makes the thread leave its loop.
    /// Refused (`EBUSY`) to enable IO on a failed set: it is being unregistered.
    pub(crate) fn set_io_disable(&self, disable: bool) -> Result {
        let mut state = self.wake.lock();
        if !disable && self.failed.load(Ordering::Acquire) {
            return Err(EBUSY);
        }
        state.io_disable = disable;
        self.wait.notify_all();
        self.done.notify_all();
        Ok(())
    }

    /// The set has failed (6.12's `bch_cache_set_error()`): disables its IO, and the thread,
    /// leaving its loop, has the set unregistered. Returns whether this call made it fail.
    pub(crate) fn fail(&self) -> bool {
        if self.failed.swap(true, Ordering::AcqRel) {
            return false;
        }
        // Cannot fail: only enabling IO is refused.
        let _ = self.set_io_disable(true);
        true
    }

    /// Whether the set has failed ([`Gc::fail`]); `internal/io_disable` by hand is not a
    /// failure.
    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
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
            passes: self.stats.passes.load(Ordering::Relaxed),
            running: self.running.load(Ordering::Relaxed),
            wakeups_sysfs: self.stats.wakeups_sysfs.load(Ordering::Relaxed),
            wakeups_allocator: self.stats.wakeups_allocator.load(Ordering::Relaxed),
            wakeups_write: self.stats.wakeups_write.load(Ordering::Relaxed),
            wakeups_writeback: self.stats.wakeups_writeback.load(Ordering::Relaxed),
            wakeups_full: self.stats.wakeups_full.load(Ordering::Relaxed),
            last_nodes: self.stats.last_nodes.load(Ordering::Relaxed),
            last_keys: self.stats.last_keys.load(Ordering::Relaxed),
            last_free: self.stats.last_free.load(Ordering::Relaxed),
            last_coalesced: self.stats.last_coalesced.load(Ordering::Relaxed),
            last_rewritten: self.stats.last_rewritten.load(Ordering::Relaxed),
            moved_keys: self.stats.moved_keys.load(Ordering::Relaxed),
            moved_sectors: self.stats.moved_sectors.load(Ordering::Relaxed),
            move_races: self.stats.move_races.load(Ordering::Relaxed),
            move_freed: self.stats.move_freed.load(Ordering::Relaxed),
            aborted: self.stats.aborted.load(Ordering::Relaxed),
            yields: self.stats.yields.load(Ordering::Relaxed),
        }
    }

    /// `set_gc_sectors()`: re-arms the write-path trigger.
    fn rearm(&self) {
        self.sectors_to_gc.store(self.gc_sectors, Ordering::Release);
    }

    /// One GC pass: btree GC, then moving GC.
    fn pass(&self, io: &SetIo) {
        let start = now_ns();
        self.running.store(true, Ordering::Relaxed);
        self.rearm();
        self.invalidate_needs_gc.store(false, Ordering::Release);
        {
            // The pass allocates under the set's state lock: no reclaim IO into our own disks.
            let _noio = NoIoScope::new();
            let mut r = io.btree_gc(self).map(|g| {
                self.stats.last_nodes.store(g.nodes, Ordering::Relaxed);
                self.stats.last_keys.store(g.keys, Ordering::Relaxed);
                self.stats
                    .last_free
                    .store(g.free_buckets, Ordering::Relaxed);
                let n = io.layout.nbuckets.max(1);
                let used = (n.saturating_sub(g.free_buckets) * 100)
                    .checked_div(n)
                    .unwrap_or(0);
                self.in_use.store(used as u32, Ordering::Relaxed);
                self.stats
                    .last_coalesced
                    .store(g.coalesced, Ordering::Relaxed);
                self.stats
                    .last_rewritten
                    .store(g.rewritten, Ordering::Relaxed);
            });
            // The `btree_gc_*` times cover btree GC only, as in 6.12.
            self.times.lock().update(start, now_ns());
            if r.is_ok() && self.copy_gc_enabled() {
                let mut m = Default::default();
                r = io.moving_gc(self).map(|x| m = x);
                let m: crate::gc_work::MovingReport = m;
                self.stats.moved_keys.fetch_add(m.keys, Ordering::Relaxed);
                self.stats
                    .moved_sectors
                    .fetch_add(m.sectors, Ordering::Relaxed);
                self.stats.move_races.fetch_add(m.races, Ordering::Relaxed);
                self.stats.move_freed.fetch_add(m.freed, Ordering::Relaxed);
            }
            if r.is_err() {
                self.stats.aborted.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.stats.passes.fetch_add(1, Ordering::Release);
        self.running.store(false, Ordering::Relaxed);
        let _guard = self.wake.lock();
        self.done.notify_all();
    }

    /// The thread body: wait for a trigger, run a pass, repeat until stopped. While IO is
    /// disabled no pass runs; if the set failed, `on_failure` is called once (it has the set
    /// unregistered, so stopped). IO enabled again (`internal/io_disable` 0), passes resume,
    /// starting with any trigger that came meanwhile. (6.12's thread leaves its loop for good
    /// at `CACHE_SET_IO_DISABLE` and waits for `kthread_stop`; writers waiting for a pass
    /// would then wait until the set stops.) Returns only once stopped, so never under the
    /// owner's feet.
    fn thread_main(&self, io: &SetIo, on_failure: impl FnOnce()) {
        let mut on_failure = Some(on_failure);
        loop {
            {
                let mut state = self.wake.lock();
                loop {
                    if state.stop {
                        return;
                    }
                    // Whatever `io_disable` says now: a failed set is unregistered.
                    if self.failed.load(Ordering::Acquire) {
                        if let Some(f) = on_failure.take() {
                            drop(state);
                            f();
                            state = self.wake.lock();
                            continue;
                        }
                    }
                    if !state.io_disable && self.should_run() {
                        break;
                    }
                    // Kthreads ignore signals; an interrupted wait just re-checks the predicate.
                    let _ = self.wait.wait_interruptible(&mut state);
                }
            }
            self.pass(io);
        }
    }
}

impl GcControl for Gc {
    fn stopping(&self) -> bool {
        Gc::stopping(self)
    }

    fn between_steps(&self, io_busy: bool) {
        let ms = self.tunable(Tunable::YieldMs);
        if !io_busy || ms == 0 {
            return;
        }
        self.stats.yields.fetch_add(1, Ordering::Relaxed);
        let mut state = self.wake.lock();
        if !state.stop && !state.io_disable {
            // A stop notifies `wait`, which ends the pause early.
            let _ = self
                .wait
                .wait_interruptible_timeout(&mut state, msecs_to_jiffies(ms));
        }
    }

    fn step_keys(&self) -> usize {
        self.tunable(Tunable::StepKeys) as usize
    }

    fn move_batch(&self) -> usize {
        self.tunable(Tunable::MoveBatch) as usize
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
    /// Starts the thread, working on `io`; `on_failure` runs on it if the set fails
    /// ([`Gc::fail`]).
    pub(crate) fn start(
        gc: Arc<Gc>,
        io: Arc<SetIo>,
        on_failure: impl FnOnce() + Send + 'static,
    ) -> Result<Self> {
        let worker = gc.clone();
        let thread = Kthread::run(c_str!("bcache_gc"), move || {
            worker.thread_main(&io, on_failure)
        })?;
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
            self.gc.done.notify_all();
        }
        drop(self.thread.take());
    }
}
