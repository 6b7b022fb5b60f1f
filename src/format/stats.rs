// SPDX-License-Identifier: GPL-2.0

//! The decaying averages of a backing device's `stats_five_minute/`, `stats_hour/` and
//! `stats_day/`, as 6.12's `stats.c` keeps them.
//!
//! Every accounting tick ([`ACCOUNTING_DELAY_NS`], `HZ * 300 / 22`: 22 ticks per five
//! minutes) the events counted since the previous tick are added, in fixed point
//! ([`FRACTION_SHIFT`]), to each interval; then every interval whose rescale count comes round
//! (five minutes: every tick, hour: every 12th, day: every 288th) decays each counter by
//! [`ACCOUNTING_WEIGHT`] (`x = x * 31 / 32`, 6.12's `ewma_add(x, 0, 32, 0)`). A file shows
//! `x >> 16`.
//!
//! The ticks are processed lazily ([`Accounting::catch_up`]): whoever looks at the averages or
//! counts an event first runs the ticks that came due since, so no timer is needed. Ticks due
//! while no event was counted only decay, which is what 6.12's timer does then too.
//!
//! Pure code: no `kernel::` dependency, tested on the host.

/// Nanoseconds between two accounting ticks (6.12: `accounting_delay = HZ * 300 / 22`).
pub(crate) const ACCOUNTING_DELAY_NS: u64 = 300_000_000_000 / 22;
/// Decay weight: each rescale keeps `(w - 1) / w` of a counter (`accounting_weight`).
pub(crate) const ACCOUNTING_WEIGHT: u64 = 32;
/// Fixed point of the interval counters (6.12 shifts each tick's events by 16).
pub(crate) const FRACTION_SHIFT: u32 = 16;
/// Ticks between two rescales of `stats_five_minute/` (`FIVE_MINUTE_RESCALE`).
pub(crate) const FIVE_MINUTE_RESCALE: u32 = 1;
/// Ticks between two rescales of `stats_hour/` (`HOUR_RESCALE`).
pub(crate) const HOUR_RESCALE: u32 = 12;
/// Ticks between two rescales of `stats_day/` (`DAY_RESCALE`).
pub(crate) const DAY_RESCALE: u32 = 288;

/// The counters of one stats directory, in this order.
pub(crate) const NCOUNTERS: usize = 6;
/// `cache_hits`.
pub(crate) const HITS: usize = 0;
/// `cache_misses`.
pub(crate) const MISSES: usize = 1;
/// `cache_bypass_hits`.
pub(crate) const BYPASS_HITS: usize = 2;
/// `cache_bypass_misses`.
pub(crate) const BYPASS_MISSES: usize = 3;
/// `cache_miss_collisions`.
pub(crate) const MISS_COLLISIONS: usize = 4;
/// Sectors bypassed (`bypassed` shows them in bytes).
pub(crate) const SECTORS_BYPASSED: usize = 5;

/// One counter set as a stats directory shows it (whole events, sectors for `bypassed`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Shown {
    pub(crate) v: [u64; NCOUNTERS],
}

impl Shown {
    /// `cache_hit_ratio`: hits in percent of hits and misses (0 without either).
    pub(crate) fn hit_ratio(&self) -> u64 {
        let (h, m) = (self.v[HITS], self.v[MISSES]);
        h.saturating_mul(100)
            .checked_div(h.saturating_add(m))
            .unwrap_or(0)
    }

    /// `bypassed`, bytes.
    pub(crate) fn bypassed_bytes(&self) -> u64 {
        self.v[SECTORS_BYPASSED].saturating_mul(512)
    }
}

/// One decaying interval (`struct cache_stats`): counters in fixed point, and the ticks since
/// its last rescale.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Interval {
    pub(crate) v: [u64; NCOUNTERS],
    pub(crate) rescale: u32,
}

/// One decay step (`ewma_add(x, 0, ACCOUNTING_WEIGHT, 0)`). Strictly smaller for `x > 0`.
pub(crate) fn decay(x: u64) -> u64 {
    // x * 31 / 32 without overflow: (x / 32) * 31 + (x % 32) * 31 / 32.
    let w = ACCOUNTING_WEIGHT;
    (x / w) * (w - 1) + (x % w) * (w - 1) / w
}

impl Interval {
    /// Adds `delta` events (whole) to the counters.
    pub(crate) fn add(&mut self, delta: &[u64; NCOUNTERS]) {
        for (v, d) in self.v.iter_mut().zip(delta.iter()) {
            let fixed = d
                .checked_shl(FRACTION_SHIFT)
                .filter(|f| f >> FRACTION_SHIFT == *d);
            *v = v.saturating_add(fixed.unwrap_or(u64::MAX));
        }
    }

    /// Runs `ticks` ticks' rescale counting (`scale_stats()`): every `rescale_at`-th tick
    /// decays every counter once. Stops decaying once all counters are 0, so any number of
    /// ticks costs a bounded amount of work.
    pub(crate) fn scale(&mut self, ticks: u64, rescale_at: u32) {
        if rescale_at == 0 {
            return;
        }
        let at = u64::from(rescale_at);
        let n = u64::from(self.rescale).saturating_add(ticks);
        let decays = n / at;
        self.rescale = (n % at) as u32;
        let mut left = decays;
        while left > 0 && self.v.iter().any(|&v| v != 0) {
            for v in &mut self.v {
                *v = decay(*v);
            }
            left -= 1;
        }
    }

    /// What the directory shows (`x >> 16`).
    pub(crate) fn shown(&self) -> Shown {
        let mut s = Shown::default();
        for (o, v) in s.v.iter_mut().zip(self.v.iter()) {
            *o = v >> FRACTION_SHIFT;
        }
        s
    }
}

/// Which stats directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Span {
    /// `stats_total/`: the plain counters.
    Total,
    /// `stats_five_minute/`.
    FiveMinute,
    /// `stats_hour/`.
    Hour,
    /// `stats_day/`.
    Day,
}

/// The decaying intervals of a device and the tick schedule (`struct cache_accounting`
/// without the total, which the caller counts directly).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Accounting {
    /// The running totals as the last tick saw them: the next tick adds what is beyond.
    seen: [u64; NCOUNTERS],
    pub(crate) five_minute: Interval,
    pub(crate) hour: Interval,
    pub(crate) day: Interval,
    /// When the next tick is due (ns, the caller's clock).
    pub(crate) next_tick: u64,
}

impl Accounting {
    /// Accounting starting at `now` with the totals at `totals`: the first tick is due one
    /// delay later.
    pub(crate) fn new(now: u64, totals: &[u64; NCOUNTERS]) -> Self {
        Accounting {
            seen: *totals,
            next_tick: now.saturating_add(ACCOUNTING_DELAY_NS),
            ..Default::default()
        }
    }

    /// One tick (`scale_accounting()`): moves the events counted since the previous tick
    /// (the running `totals` beyond what that tick saw) into every interval, then rescales.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn tick(&mut self, totals: &[u64; NCOUNTERS]) {
        self.ticks(1, totals);
    }

    /// `n` ticks in a row, the first of which sees `totals` (the others see no new events).
    fn ticks(&mut self, n: u64, totals: &[u64; NCOUNTERS]) {
        if n == 0 {
            return;
        }
        let mut delta = [0u64; NCOUNTERS];
        for ((d, t), s) in delta.iter_mut().zip(totals.iter()).zip(self.seen.iter()) {
            // A total below what was seen was cleared meanwhile: nothing new to add.
            *d = t.saturating_sub(*s);
        }
        self.seen = *totals;
        for (i, rescale_at) in [
            (&mut self.five_minute, FIVE_MINUTE_RESCALE),
            (&mut self.hour, HOUR_RESCALE),
            (&mut self.day, DAY_RESCALE),
        ] {
            i.add(&delta);
            i.scale(n, rescale_at);
        }
    }

    /// Runs every tick due by `now` (the first one sees `totals`); returns how many ran.
    pub(crate) fn catch_up(&mut self, now: u64, totals: &[u64; NCOUNTERS]) -> u64 {
        if now < self.next_tick {
            return 0;
        }
        let n = ((now - self.next_tick) / ACCOUNTING_DELAY_NS).saturating_add(1);
        self.ticks(n, totals);
        self.next_tick = self
            .next_tick
            .saturating_add(n.saturating_mul(ACCOUNTING_DELAY_NS));
        n
    }

    /// Zeroes every interval (`clear_stats`); the running totals are now `totals`.
    pub(crate) fn clear(&mut self, totals: &[u64; NCOUNTERS]) {
        self.seen = *totals;
        self.five_minute = Interval::default();
        self.hour = Interval::default();
        self.day = Interval::default();
    }

    /// The interval of `span` (`None` for the total, which the caller keeps).
    pub(crate) fn interval(&self, span: Span) -> Option<&Interval> {
        match span {
            Span::Total => None,
            Span::FiveMinute => Some(&self.five_minute),
            Span::Hour => Some(&self.hour),
            Span::Day => Some(&self.day),
        }
    }
}
