// SPDX-License-Identifier: GPL-2.0

//! Congestion bypass: when the cache device is slow, IO that belongs to a long enough stream
//! goes around it (6.12 `bch_get_congested()` and the latency accounting of
//! `bch_bbio_count_io_errors()`).
//!
//! Every data IO to the cache reports its latency. One that takes longer than its threshold
//! (`congested_read_threshold_us` or `congested_write_threshold_us`; 0 disables) adds its
//! latency in milliseconds to a debt, at most [`CONGESTED_MAX`]; each one within its threshold
//! pays one millisecond back, and so does every millisecond that passes after the last slow
//! IO. While debt is left, the set is congested, and the cutoff shrinks from about 64k sectors
//! for a small debt down to a single sector for the largest: an IO bypasses the cache if its
//! stream has reached the cutoff.
//!
//! Clocks are in "microseconds" of 1024 ns, as 6.12's `local_clock_us()`.

use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

/// The largest debt, in milliseconds (6.12 `CONGESTED_MAX`).
pub(crate) const CONGESTED_MAX: i32 = 1024;

/// `congested_read_threshold_us` default, as 6.12.
pub(crate) const READ_THRESHOLD_US: u32 = 2000;

/// `congested_write_threshold_us` default, as 6.12.
pub(crate) const WRITE_THRESHOLD_US: u32 = 20000;

/// `2^(x / 2^fract_bits)` in fixed point: the low `fract_bits` of `x` are the mantissa's
/// fraction (6.12 `fract_exp_two()`). `x` must be below `32 << fract_bits`.
pub(crate) fn fract_exp_two(x: u32, fract_bits: u32) -> u32 {
    let one = 1u32 << fract_bits;
    let mantissa = one + (x & (one - 1));
    (mantissa << (x >> fract_bits)) >> fract_bits
}

/// The congestion state of one cache set.
pub(crate) struct Congestion {
    read_threshold_us: AtomicU32,
    write_threshold_us: AtomicU32,
    /// Minus the debt in milliseconds: in `-CONGESTED_MAX..=0`.
    debt: AtomicI32,
    /// When the last IO over its threshold completed.
    last_slow_us: AtomicU64,
}

impl Default for Congestion {
    fn default() -> Self {
        Self::new()
    }
}

impl Congestion {
    /// Not congested, with 6.12's default thresholds.
    pub(crate) const fn new() -> Self {
        Self {
            read_threshold_us: AtomicU32::new(READ_THRESHOLD_US),
            write_threshold_us: AtomicU32::new(WRITE_THRESHOLD_US),
            debt: AtomicI32::new(0),
            last_slow_us: AtomicU64::new(0),
        }
    }

    /// `congested_read_threshold_us`.
    pub(crate) fn read_threshold_us(&self) -> u32 {
        self.read_threshold_us.load(Ordering::Relaxed)
    }

    /// `congested_write_threshold_us`.
    pub(crate) fn write_threshold_us(&self) -> u32 {
        self.write_threshold_us.load(Ordering::Relaxed)
    }

    /// Sets `congested_read_threshold_us` (0 disables).
    pub(crate) fn set_read_threshold_us(&self, us: u32) {
        self.read_threshold_us.store(us, Ordering::Relaxed);
    }

    /// Sets `congested_write_threshold_us` (0 disables).
    pub(crate) fn set_write_threshold_us(&self, us: u32) {
        self.write_threshold_us.store(us, Ordering::Relaxed);
    }

    /// Whether either threshold is set: with both 0, nothing is congested.
    pub(crate) fn enabled(&self) -> bool {
        self.read_threshold_us() != 0 || self.write_threshold_us() != 0
    }

    /// Records a cache IO submitted at `start_us` that completed at `now_us`. Lock-free:
    /// callable from a bio's completion.
    pub(crate) fn note(&self, write: bool, start_us: u64, now_us: u64) {
        let threshold = if write {
            self.write_threshold_us()
        } else {
            self.read_threshold_us()
        };
        if threshold == 0 {
            return;
        }
        let us = now_us.saturating_sub(start_us);
        if us > u64::from(threshold) {
            let ms = i32::try_from(us / 1024).unwrap_or(CONGESTED_MAX);
            self.last_slow_us.fetch_max(now_us, Ordering::Relaxed);
            let _ = self
                .debt
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                    Some(d.saturating_sub(ms).max(-CONGESTED_MAX))
                });
        } else {
            let _ = self
                .debt
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                    (d < 0).then_some(d + 1)
                });
        }
    }

    /// The current cutoff in sectors (`congested`): 0 when not congested, else an IO whose
    /// stream has reached it bypasses the cache. `rand` gives a random word, only when
    /// congested: its bits, about 16, come off the cutoff so that it is not a sharp edge.
    pub(crate) fn cutoff(&self, now_us: u64, rand: impl FnOnce() -> u32) -> u32 {
        if !self.enabled() {
            return 0;
        }
        let Some(since) = now_us.checked_sub(self.last_slow_us.load(Ordering::Relaxed)) else {
            return 0;
        };
        let paid = i64::try_from(since / 1024).unwrap_or(i64::MAX);
        let left = paid.saturating_add(i64::from(self.debt.load(Ordering::Relaxed)));
        if left >= 0 {
            return 0;
        }
        // In 0..CONGESTED_MAX: the larger the debt, the smaller the cutoff.
        let x = u32::try_from(left + i64::from(CONGESTED_MAX)).unwrap_or(0);
        let cutoff = if x > 0 { fract_exp_two(x, 6) } else { 0 };
        cutoff.saturating_sub(rand().count_ones()).max(1)
    }

    /// Whether an IO of a stream of `stream_sectors` bypasses the cache at `cutoff`.
    pub(crate) fn bypasses(cutoff: u32, stream_sectors: u64) -> bool {
        cutoff != 0 && stream_sectors >= u64::from(cutoff)
    }
}
