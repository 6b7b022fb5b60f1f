// SPDX-License-Identifier: GPL-2.0

//! Writeback policy of a cached device, as 6.12 computes it: the stripes its dirty data is
//! counted in, and the PI controller that sets the writeback rate.
//!
//! Pure code: no `kernel::` dependency, tested on the host.

/// Smallest stripe when the backing device reports an optimal IO size (`BCH_MIN_STRIPE_SZ`,
/// 4 MiB in sectors).
pub(crate) const MIN_STRIPE_SECTORS: u64 = 8192;
/// Stripe when the backing device reports none: one stripe covers any device.
pub(crate) const DEFAULT_STRIPE_SECTORS: u64 = 1 << 31;
/// Nanoseconds per second.
const NSEC: u64 = 1_000_000_000;
/// Fixed point of a device's share of the cache (`WRITEBACK_SHARE_SHIFT`).
const SHARE_SHIFT: u32 = 14;

/// The stripe size in sectors of a backing device whose optimal IO size is `io_opt` sectors
/// (0: none), as `bcache_device_init()` picks it.
pub(crate) fn stripe_sectors(io_opt: u64) -> u64 {
    if io_opt == 0 {
        DEFAULT_STRIPE_SECTORS
    } else if io_opt < MIN_STRIPE_SECTORS {
        MIN_STRIPE_SECTORS.div_ceil(io_opt) * io_opt
    } else {
        io_opt
    }
}

/// Stripes of `stripe` sectors covering `sectors` sectors.
pub(crate) fn stripe_count(sectors: u64, stripe: u64) -> u64 {
    sectors.div_ceil(stripe.max(1))
}

/// Adds (`add`) or removes the sectors `start..end` to or from the per-stripe dirty counts
/// `counts` (stripes of `stripe` sectors). Counts saturate; sectors past the last stripe are
/// ignored.
pub(crate) fn account(counts: &mut [u32], stripe: u64, start: u64, end: u64, add: bool) {
    let stripe = stripe.max(1);
    let mut s = start;
    while s < end {
        let i = s / stripe;
        let stripe_end = (i + 1).saturating_mul(stripe);
        let t = end.min(stripe_end);
        let n = u32::try_from(t - s).unwrap_or(u32::MAX);
        let Some(c) = usize::try_from(i).ok().and_then(|i| counts.get_mut(i)) else {
            return;
        };
        *c = if add {
            c.saturating_add(n)
        } else {
            c.saturating_sub(n)
        };
        s = t;
    }
}

/// The tunables of the rate controller (`writeback_rate_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RateParams {
    /// `writeback_percent`: the share of the cache dirty data may fill before writeback
    /// speeds up (0: no throttling).
    pub(crate) percent: u32,
    /// `writeback_rate_update_seconds`.
    pub(crate) update_seconds: u32,
    /// `writeback_rate_p_term_inverse`.
    pub(crate) p_term_inverse: u32,
    /// `writeback_rate_i_term_inverse`.
    pub(crate) i_term_inverse: u32,
    /// `writeback_rate_minimum`, sectors per second.
    pub(crate) minimum: u32,
    /// `writeback_consider_fragment`: push harder when dirty data is spread thin over many
    /// buckets of a fairly full cache.
    pub(crate) consider_fragment: bool,
    /// `writeback_rate_fp_term_low`, `_mid`, `_high`: the fragmentation push per percent of
    /// use above [`FRAGMENT_LOW`], [`FRAGMENT_MID`], [`FRAGMENT_HIGH`].
    pub(crate) fp_term: [u32; 3],
}

/// Above this percent of buckets in use the controller considers fragmentation
/// (`BCH_WRITEBACK_FRAGMENT_THRESHOLD_LOW`).
pub(crate) const FRAGMENT_LOW: u32 = 50;
/// `BCH_WRITEBACK_FRAGMENT_THRESHOLD_MID`.
pub(crate) const FRAGMENT_MID: u32 = 57;
/// `BCH_WRITEBACK_FRAGMENT_THRESHOLD_HIGH`.
pub(crate) const FRAGMENT_HIGH: u32 = 64;
/// Default `writeback_rate_fp_term_low`, `_mid`, `_high`.
pub(crate) const FP_TERM_DEFAULT: [u32; 3] = [1, 10, 1000];

/// Whether `fp_term` (low, mid, high) is a setting 6.12 keeps as written: at least 1 and
/// strictly increasing (its stores clamp each term between its neighbours, exclusive).
pub(crate) fn fp_terms_ordered(fp_term: [u32; 3]) -> bool {
    let [low, mid, high] = fp_term;
    low >= 1 && low < mid && mid < high
}

/// How the cache set's buckets are used, for the fragmentation term.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Fragmentation {
    /// Percent of buckets in use (`gc_stats.in_use`).
    pub(crate) in_use: u32,
    /// Buckets in use (`nbuckets - avail_nbuckets`).
    pub(crate) used_buckets: u64,
    /// Sectors per bucket.
    pub(crate) bucket_sectors: u64,
}

/// The fragmentation term of `__update_writeback_rate()`, when it applies: with
/// `writeback_consider_fragment` on, the cache more than [`FRAGMENT_LOW`] percent in use and
/// `dirty` sectors that fill fewer than a third of the buckets in use (fragment > 3), the
/// dirty sectors per bucket in use times the `fp_term` of the use band times how far use is
/// into that band. The controller takes it when it is above the proportional term.
pub(crate) fn fragment_term(p: &RateParams, dirty: u64, f: &Fragmentation) -> Option<i64> {
    if !p.consider_fragment || f.in_use <= FRAGMENT_LOW || dirty == 0 {
        return None;
    }
    let fragment = f.used_buckets.saturating_mul(f.bucket_sectors) / dirty;
    let [low, mid, high] = p.fp_term.map(i64::from);
    let in_use = i64::from(f.in_use);
    let fp_term = if f.in_use <= FRAGMENT_MID {
        low.saturating_mul(in_use - i64::from(FRAGMENT_LOW))
    } else if f.in_use <= FRAGMENT_HIGH {
        mid.saturating_mul(in_use - i64::from(FRAGMENT_MID))
    } else {
        high.saturating_mul(in_use - i64::from(FRAGMENT_HIGH))
    };
    let per_bucket = i64::try_from(dirty.checked_div(f.used_buckets)?).unwrap_or(i64::MAX);
    (fragment > 3).then(|| per_bucket.saturating_mul(fp_term))
}

impl Default for RateParams {
    fn default() -> Self {
        RateParams {
            percent: 10,
            update_seconds: 5,
            p_term_inverse: 40,
            i_term_inverse: 10000,
            minimum: 8,
            consider_fragment: true,
            fp_term: FP_TERM_DEFAULT,
        }
    }
}

/// The dirty target of a device (sectors): `percent` of the cache's `cache_sectors`, times
/// the device's share (`dev_sectors` of all attached devices' `all_sectors`), at least one
/// share unit, as `__calc_target_rate()`.
pub(crate) fn dirty_target(
    cache_sectors: u64,
    percent: u32,
    dev_sectors: u64,
    all_sectors: u64,
) -> u64 {
    let one = 1u64 << SHARE_SHIFT;
    let share = dev_sectors
        .saturating_mul(one)
        .checked_div(all_sectors)
        .unwrap_or(one)
        .clamp(1, one);
    let target = cache_sectors.saturating_mul(u64::from(percent)) / 100;
    target.saturating_mul(share) >> SHARE_SHIFT
}

/// The PI controller's state (`writeback_rate_debug` shows it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RateCtl {
    /// The rate, sectors per second.
    pub(crate) rate: u64,
    /// Accumulated error, sector-seconds.
    pub(crate) integral: i64,
    /// The last update's terms and target.
    pub(crate) proportional: i64,
    pub(crate) integral_scaled: i64,
    pub(crate) change: i64,
    pub(crate) target: u64,
    /// When the next write may start (nanoseconds, clock of the caller).
    pub(crate) next: u64,
}

impl Default for RateCtl {
    fn default() -> Self {
        RateCtl {
            rate: 1024,
            integral: 0,
            proportional: 0,
            integral_scaled: 0,
            change: 0,
            target: 0,
            next: 0,
        }
    }
}

impl RateCtl {
    /// One controller step (`__update_writeback_rate()`): `dirty` sectors against `target`,
    /// the proportional term pushed up by [`fragment_term`] on a fragmented cache (`frag`).
    /// The integral only grows while writeback keeps up with the rate (`now` is not past
    /// `next`), so it does not wind up while the backing device is the limit.
    pub(crate) fn update(
        &mut self,
        p: &RateParams,
        dirty: u64,
        target: u64,
        frag: &Fragmentation,
        now: u64,
    ) {
        let error = i64::try_from(dirty)
            .unwrap_or(i64::MAX)
            .saturating_sub(i64::try_from(target).unwrap_or(i64::MAX));
        let mut proportional = error
            .checked_div(i64::from(p.p_term_inverse.max(1)))
            .unwrap_or(0);
        if let Some(fps) = fragment_term(p, dirty, frag) {
            proportional = proportional.max(fps);
        }
        let keeping_up = now < self.next.saturating_add(1_000_000);
        if (error < 0 && self.integral > 0) || (error > 0 && keeping_up) {
            self.integral = self
                .integral
                .saturating_add(error.saturating_mul(i64::from(p.update_seconds)));
        }
        let integral_scaled = self
            .integral
            .checked_div(i64::from(p.i_term_inverse.max(1)))
            .unwrap_or(0);
        let new = proportional
            .saturating_add(integral_scaled)
            .clamp(i64::from(p.minimum.max(1)), NSEC as i64) as u64;
        self.proportional = proportional;
        self.integral_scaled = integral_scaled;
        self.change = new as i64 - self.rate as i64;
        self.rate = new;
        self.target = target;
    }

    /// Records that `done` sectors were written at time `now`; returns how long to wait
    /// before the next write, in nanoseconds (`bch_next_delay()`: at most 2.5 s ahead, never
    /// more than 2 s of backlog).
    pub(crate) fn next_delay(&mut self, done: u64, now: u64) -> u64 {
        let step = done
            .saturating_mul(NSEC)
            .checked_div(self.rate)
            .unwrap_or(u64::MAX);
        self.next = self.next.saturating_add(step);
        let ahead = now.saturating_add(NSEC * 5 / 2);
        if self.next > ahead {
            self.next = ahead;
        }
        let behind = now.saturating_sub(2 * NSEC);
        if self.next < behind {
            self.next = behind;
        }
        self.next.saturating_sub(now)
    }
}
