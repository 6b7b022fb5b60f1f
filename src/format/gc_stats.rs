// SPDX-License-Identifier: GPL-2.0

//! GC timing statistics, with the arithmetic of bcache's `bch_time_stats`.
//!
//! Averages are exponentially weighted (weight 8) and kept in fixed point (8 fraction bits), as
//! upstream does, so `btree_gc_average_duration_ms` and `btree_gc_average_frequency_sec` mean the
//! same thing under rbcache as under the C module. Times are nanoseconds from a monotonic clock
//! that the caller passes in.
//!
//! Pure code: no `kernel::` dependency, tested on the host.

const NSEC_PER_MSEC: u64 = 1_000_000;
const NSEC_PER_SEC: u64 = 1_000_000_000;
const WEIGHT: u64 = 8;
const FACTOR: u32 = 8;

/// `ewma_add()`: folds `val` into the fixed-point average `avg`.
fn ewma_add(avg: u64, val: u64) -> u64 {
    avg.saturating_mul(WEIGHT - 1)
        .saturating_add(val.saturating_mul(1 << FACTOR))
        / WEIGHT
}

/// Duration and frequency statistics of a repeated event (a GC pass).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TimeStats {
    /// Longest duration seen, in nanoseconds.
    pub(crate) max_duration: u64,
    /// Weighted average duration, nanoseconds in 24.8 fixed point.
    pub(crate) average_duration: u64,
    /// Weighted average interval between ends, nanoseconds in 24.8 fixed point.
    pub(crate) average_frequency: u64,
    /// Clock value at the end of the last event, 0 if none yet.
    pub(crate) last: u64,
}

impl TimeStats {
    /// Records an event that ran from `start` to `now` (`bch_time_stats_update`).
    pub(crate) fn update(&mut self, start: u64, now: u64) {
        let duration = now.saturating_sub(start);
        let since_last = now.saturating_sub(self.last);
        self.max_duration = self.max_duration.max(duration);
        if self.last != 0 {
            self.average_duration = ewma_add(self.average_duration, duration);
            self.average_frequency = if self.average_frequency != 0 {
                ewma_add(self.average_frequency, since_last)
            } else {
                since_last << FACTOR
            };
        } else {
            self.average_duration = duration << FACTOR;
        }
        self.last = if now == 0 { 1 } else { now };
    }

    /// `btree_gc_average_duration_ms`.
    pub(crate) fn average_duration_ms(&self) -> u64 {
        (self.average_duration / NSEC_PER_MSEC) >> FACTOR
    }

    /// `btree_gc_average_frequency_sec`.
    pub(crate) fn average_frequency_sec(&self) -> u64 {
        (self.average_frequency / NSEC_PER_SEC) >> FACTOR
    }

    /// `btree_gc_max_duration_ms`.
    pub(crate) fn max_duration_ms(&self) -> u64 {
        self.max_duration / NSEC_PER_MSEC
    }

    /// `btree_gc_last_sec`: seconds since the last event ended, as of `now`.
    ///
    /// Upstream prints the time since boot when there was no event yet; so do we.
    pub(crate) fn last_sec(&self, now: u64) -> u64 {
        now.saturating_sub(self.last) / NSEC_PER_SEC
    }
}
