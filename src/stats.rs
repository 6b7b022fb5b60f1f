// SPDX-License-Identifier: GPL-2.0

//! Hit and miss statistics: the counters behind `stats_total/`, `stats_five_minute/`,
//! `stats_hour/` and `stats_day/`, and those directories.
//!
//! A backing device has a set of them (`/sys/block/<dev>/bcache/`), and so has the cache set
//! it is attached to (`/sys/fs/bcache/<set-uuid>/`), which counts the IO of all its backing
//! devices, as 6.12's `bch_mark_cache_accounting()` marks both. Flash volumes are not
//! counted (nor are they in 6.12).

use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::c_str;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::sync::{new_spinlock, Arc, SpinLock};

use crate::format::stats::{
    Accounting, Shown, Span, BYPASS_HITS, BYPASS_MISSES, HITS, MISSES, MISS_COLLISIONS, NCOUNTERS,
    SECTORS_BYPASSED,
};
use crate::format::units::Hprint;
use crate::gc::now_ns;
use crate::kabi::sysfs::{AttrOps, Group, ShowBuf, SysfsDir};

/// Counters of `stats_total/`, and the decaying averages of `stats_five_minute/`,
/// `stats_hour/` and `stats_day/` derived from them ([`Accounting`]).
///
/// The IO path counts into the plain atomics (what `stats_total/` shows at once), from any
/// context. The accounting ticks run lazily, under a spinlock that nothing else nests in and
/// that is only taken in process context: the IO path runs the ticks that came due when it
/// starts a bio ([`CacheStats::tick`], from `CachedDev::note_io`), and so do the stats
/// directories before they show an interval.
#[pin_data]
pub(crate) struct CacheStats {
    counters: [AtomicU64; NCOUNTERS],
    /// When the next accounting tick is due (ns): the IO path checks it without the lock.
    next_tick: AtomicU64,
    #[pin]
    acc: SpinLock<Accounting>,
}

impl CacheStats {
    /// Zeroed counters; the first accounting tick is due one delay from now.
    pub(crate) fn new() -> impl PinInit<Self> {
        let acc = Accounting::new(now_ns(), &[0; NCOUNTERS]);
        pin_init!(CacheStats {
            counters: core::array::from_fn(|_| AtomicU64::new(0)),
            next_tick: AtomicU64::new(acc.next_tick),
            acc <- new_spinlock!(acc, "CacheStats::acc"),
        })
    }

    fn totals(&self) -> [u64; NCOUNTERS] {
        let mut t = [0; NCOUNTERS];
        for (t, c) in t.iter_mut().zip(&self.counters) {
            *t = c.load(Ordering::Relaxed);
        }
        t
    }

    /// Runs the accounting ticks due by `now` (ns, [`now_ns`]); cheap when none is. Process
    /// context only.
    pub(crate) fn tick(&self, now: u64) {
        if now < self.next_tick.load(Ordering::Relaxed) {
            return;
        }
        let mut a = self.acc.lock();
        a.catch_up(now, &self.totals());
        self.next_tick.store(a.next_tick, Ordering::Relaxed);
    }

    /// Adds `n` to counter `counter` (`HITS` ... `SECTORS_BYPASSED`). Any context.
    pub(crate) fn add(&self, counter: usize, n: u64) {
        if let Some(c) = self.counters.get(counter) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Counts a read of `sectors`: a hit or a miss, through the cache or around it.
    pub(crate) fn count_read(&self, bypass: bool, missed: bool, sectors: u64) {
        let counter = match (bypass, missed) {
            (false, false) => HITS,
            (false, true) => MISSES,
            (true, false) => BYPASS_HITS,
            (true, true) => BYPASS_MISSES,
        };
        self.add(counter, 1);
        if bypass {
            self.add(SECTORS_BYPASSED, sectors);
        }
    }

    /// What the stats directory of `span` shows.
    pub(crate) fn shown(&self, span: Span) -> Shown {
        if span == Span::Total {
            return Shown { v: self.totals() };
        }
        self.tick(now_ns());
        let a = self.acc.lock();
        a.interval(span).map(|i| i.shown()).unwrap_or_default()
    }

    /// Zeroes every counter and every interval (`clear_stats`).
    pub(crate) fn clear(&self) {
        let mut a = self.acc.lock();
        for c in &self.counters {
            c.store(0, Ordering::Relaxed);
        }
        a.clear(&self.totals());
    }
}

/// What owns a [`CacheStats`] that stats directories show.
pub(crate) trait StatsOwner: Send + Sync + 'static {
    /// The statistics the directories show.
    fn cache_stats(&self) -> &CacheStats;
}

/// `stats_total/`, `stats_five_minute/`, `stats_hour/` and `stats_day/` of one owner.
pub(crate) type StatsDirs<T> = [SysfsDir<StatsAttrs<T>>; 4];

/// Creates `stats_total/`, `stats_five_minute/`, `stats_hour/` and `stats_day/` in `dir`,
/// showing `owner`'s statistics.
pub(crate) fn stats_dirs<P: AttrOps, T: StatsOwner>(
    dir: &SysfsDir<P>,
    owner: &Arc<T>,
) -> Result<StatsDirs<T>> {
    let new = |name: &'static CStr, span: Span| {
        SysfsDir::new_child(
            dir,
            name,
            Group::Stats,
            StatsAttrs {
                owner: owner.clone(),
                span,
            },
        )
    };
    Ok([
        new(c_str!("stats_total"), Span::Total)?,
        new(c_str!("stats_five_minute"), Span::FiveMinute)?,
        new(c_str!("stats_hour"), Span::Hour)?,
        new(c_str!("stats_day"), Span::Day)?,
    ])
}

/// Handlers of one `stats_{total,five_minute,hour,day}/` directory.
pub(crate) struct StatsAttrs<T: StatsOwner> {
    owner: Arc<T>,
    span: Span,
}

impl<T: StatsOwner> AttrOps for StatsAttrs<T> {
    fn show(&self, attr: &[u8], out: &mut ShowBuf<'_>) -> Result {
        let s = self.owner.cache_stats().shown(self.span);
        match attr {
            b"cache_hits" => writeln!(out, "{}", s.v[HITS]),
            b"cache_misses" => writeln!(out, "{}", s.v[MISSES]),
            b"cache_bypass_hits" => writeln!(out, "{}", s.v[BYPASS_HITS]),
            b"cache_bypass_misses" => writeln!(out, "{}", s.v[BYPASS_MISSES]),
            b"cache_miss_collisions" => writeln!(out, "{}", s.v[MISS_COLLISIONS]),
            b"bypassed" => writeln!(
                out,
                "{}",
                Hprint(i64::try_from(s.bypassed_bytes()).unwrap_or(i64::MAX))
            ),
            b"cache_hit_ratio" => writeln!(out, "{}", s.hit_ratio()),
            _ => return Err(EINVAL),
        }
        .map_err(|_| EINVAL)
    }

    fn store(&self, _attr: &[u8], _input: &[u8]) -> Result {
        Err(EINVAL)
    }
}
