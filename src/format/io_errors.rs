// SPDX-License-Identifier: GPL-2.0

//! Error accounting of a cache device (6.12 `bch_count_io_errors()`), and of a backing device
//! ([`BackingErrors`], 6.12 `bch_count_backing_io_errors()`).
//!
//! Every data IO to the cache is counted. Each failed one adds `1 << IO_ERROR_SHIFT` to the
//! error count; once the count, shifted back, reaches `io_error_limit` (default 8), the set has
//! failed. With a decay (`io_error_halflife`, stored divided by 88), every `decay` IOs scale
//! the count by 127/128, which halves it in about 88 such periods: `log(1/2) / log(127/128)`
//! is 88.4.

use core::sync::atomic::{AtomicU32, Ordering};

/// Fixed-point shift of the error count (6.12 `IO_ERROR_SHIFT`).
pub(crate) const IO_ERROR_SHIFT: u32 = 20;
/// Default `io_error_limit` (6.12 `DEFAULT_IO_ERROR_LIMIT`).
pub(crate) const DEFAULT_LIMIT: u32 = 8;
/// IOs per decay period for each unit of `io_error_halflife`.
pub(crate) const HALFLIFE_UNIT: u32 = 88;

/// What one counted IO came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Noted {
    /// It succeeded.
    Ok,
    /// It failed; the count (whole errors) is still under the limit.
    Error(u32),
    /// It failed, and the count reached the limit: the set has failed.
    Limit(u32),
}

/// The decaying error count of a cache device, and its tunables; lock-free.
pub(crate) struct IoErrors {
    ios: AtomicU32,
    errors: AtomicU32,
    decay: AtomicU32,
    limit: AtomicU32,
}

impl Default for IoErrors {
    fn default() -> Self {
        Self::new()
    }
}

impl IoErrors {
    /// No errors, no decay, the default limit.
    pub(crate) const fn new() -> Self {
        Self {
            ios: AtomicU32::new(0),
            errors: AtomicU32::new(0),
            decay: AtomicU32::new(0),
            limit: AtomicU32::new(DEFAULT_LIMIT),
        }
    }

    /// Counts one IO, failed or not.
    pub(crate) fn note(&self, failed: bool) -> Noted {
        let decay = self.decay.load(Ordering::Relaxed);
        if decay != 0 {
            // `atomic_inc_return()`, which wraps as `fetch_add` does; an IO count, not a
            // sector, and brought back below `decay` at once.
            let mut count = self.ios.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
            while count > decay {
                let new = count - decay;
                match self
                    .ios
                    .compare_exchange(count, new, Ordering::Relaxed, Ordering::Relaxed)
                {
                    Ok(_) => {
                        count = new;
                        let _ =
                            self.errors
                                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |e| {
                                    Some((u64::from(e) * 127 / 128) as u32)
                                });
                    }
                    Err(now) => count = now,
                }
            }
        }
        if !failed {
            return Noted::Ok;
        }
        // `atomic_add_return()`, wrapping as `fetch_add` does (an error count, not a sector).
        let errors = self
            .errors
            .fetch_add(1 << IO_ERROR_SHIFT, Ordering::Relaxed)
            .wrapping_add(1 << IO_ERROR_SHIFT)
            >> IO_ERROR_SHIFT;
        if errors < self.limit.load(Ordering::Relaxed) {
            Noted::Error(errors)
        } else {
            Noted::Limit(errors)
        }
    }

    /// The count in whole errors (`io_errors`).
    pub(crate) fn count(&self) -> u32 {
        self.errors.load(Ordering::Relaxed) >> IO_ERROR_SHIFT
    }

    /// `io_error_limit`.
    pub(crate) fn limit(&self) -> u32 {
        self.limit.load(Ordering::Relaxed)
    }

    /// Sets `io_error_limit`.
    pub(crate) fn set_limit(&self, limit: u32) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// Zeroes the count and the IOs towards the next decay (the cache's `clear_stats`); the
    /// tunables stay.
    pub(crate) fn clear(&self) {
        self.ios.store(0, Ordering::Relaxed);
        self.errors.store(0, Ordering::Relaxed);
    }

    /// `io_error_halflife`, as 6.12 shows it: the stored period times 88.
    pub(crate) fn halflife(&self) -> u64 {
        u64::from(self.decay.load(Ordering::Relaxed)) * u64::from(HALFLIFE_UNIT)
    }

    /// Sets `io_error_halflife`: stored as the period of IOs between rescales, `v / 88`.
    pub(crate) fn set_halflife(&self, v: u32) {
        self.decay.store(v / HALFLIFE_UNIT, Ordering::Relaxed);
    }
}

/// Default `io_error_limit` of a backing device (6.12 `DEFAULT_CACHED_DEV_ERROR_LIMIT`).
pub(crate) const DEFAULT_BACKING_LIMIT: u32 = 64;

/// The error count of a backing device (6.12 `bch_count_backing_io_errors()`): no decay;
/// at `io_error_limit` errors the device stops. Failed readahead is not counted.
pub(crate) struct BackingErrors {
    errors: AtomicU32,
    limit: AtomicU32,
}

impl Default for BackingErrors {
    fn default() -> Self {
        Self::new()
    }
}

impl BackingErrors {
    /// No errors, the default limit.
    pub(crate) const fn new() -> Self {
        Self {
            errors: AtomicU32::new(0),
            limit: AtomicU32::new(DEFAULT_BACKING_LIMIT),
        }
    }

    /// Counts one failed IO (not readahead); `Noted::Limit` once the count reaches the limit.
    pub(crate) fn note_error(&self) -> Noted {
        let n = self
            .errors
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if n < self.limit.load(Ordering::Relaxed) {
            Noted::Error(n)
        } else {
            Noted::Limit(n)
        }
    }

    /// `io_errors`.
    pub(crate) fn count(&self) -> u32 {
        self.errors.load(Ordering::Relaxed)
    }

    /// `io_error_limit`.
    pub(crate) fn limit(&self) -> u32 {
        self.limit.load(Ordering::Relaxed)
    }

    /// Sets `io_error_limit` (6.12 clamps it to `0..=i32::MAX`).
    pub(crate) fn set_limit(&self, limit: u32) {
        self.limit
            .store(limit.min(i32::MAX as u32), Ordering::Relaxed);
    }
}

/// Seconds between two log lines of a repeated failure ([`LogLimit`]).
pub(crate) const LOG_INTERVAL_S: u64 = 5;

/// Rate limit of one repeated log line (a journal or btree write that keeps failing): at most
/// one line every [`LOG_INTERVAL_S`], and the next one says how many were held back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LogLimit {
    /// No line before this time (ns, monotonic).
    next: u64,
    /// Lines held back since the last one logged.
    held: u64,
}

impl LogLimit {
    /// Whether a line may be logged at `now` (monotonic ns): `Some(n)`, with `n` the lines
    /// held back since the last one; `None` (counted) to stay quiet.
    pub(crate) fn allow(&mut self, now: u64) -> Option<u64> {
        if now < self.next {
            self.held = self.held.saturating_add(1);
            return None;
        }
        self.next = now.saturating_add(LOG_INTERVAL_S * 1_000_000_000);
        Some(core::mem::take(&mut self.held))
    }
}
