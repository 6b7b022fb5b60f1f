// SPDX-License-Identifier: GPL-2.0

//! The decaying averages of `stats_five_minute/`, `stats_hour/` and `stats_day/`, against a
//! direct model of 6.12's `scale_accounting()`.

use crate::format::stats::*;
use crate::rng::Rng;

/// 6.12's `struct cache_stats`, updated exactly as `scale_accounting()` does each tick.
#[derive(Clone, Copy, Default)]
struct Model {
    v: [u128; NCOUNTERS],
    rescale: u32,
}

impl Model {
    fn tick(&mut self, delta: &[u64; NCOUNTERS], rescale_at: u32) {
        for (v, d) in self.v.iter_mut().zip(delta.iter()) {
            *v += u128::from(*d) << 16;
        }
        self.rescale += 1;
        if self.rescale == rescale_at {
            self.rescale = 0;
            for v in &mut self.v {
                *v = *v * 31 / 32;
            }
        }
    }
}

fn same(i: &Interval, m: &Model) {
    for (a, b) in i.v.iter().zip(m.v.iter()) {
        assert_eq!(u128::from(*a), *b);
    }
    assert_eq!(i.rescale, m.rescale);
}

#[test]
fn constants_are_6_12s() {
    assert_eq!(ACCOUNTING_DELAY_NS, 13_636_363_636);
    assert_eq!(decay(32), 31);
    assert_eq!(decay(31), 30);
    assert_eq!(decay(1), 0);
    assert_eq!(decay(u64::MAX), (u128::from(u64::MAX) * 31 / 32) as u64);
}

#[test]
fn ticks_match_the_model() {
    let mut rng = Rng(11);
    let mut totals = [0u64; NCOUNTERS];
    let mut a = Accounting::new(0, &totals);
    let (mut m5, mut mh, mut md) = (Model::default(), Model::default(), Model::default());
    for _ in 0..2000 {
        let mut delta = [0u64; NCOUNTERS];
        for (d, t) in delta.iter_mut().zip(totals.iter_mut()) {
            *d = if rng.next() % 3 == 0 {
                0
            } else {
                rng.next() % 5000
            };
            *t += *d;
        }
        a.tick(&totals);
        m5.tick(&delta, FIVE_MINUTE_RESCALE);
        mh.tick(&delta, HOUR_RESCALE);
        md.tick(&delta, DAY_RESCALE);
        same(&a.five_minute, &m5);
        same(&a.hour, &mh);
        same(&a.day, &md);
    }
}

#[test]
fn catching_up_equals_ticking() {
    let mut rng = Rng(5);
    let d = ACCOUNTING_DELAY_NS;
    for _ in 0..200 {
        let mut totals = [0u64; NCOUNTERS];
        let mut lazy = Accounting::new(1000, &totals);
        let mut eager = lazy;
        let mut now = 1000u64;
        for _ in 0..20 {
            // Events, then a wait of a random number of ticks (some long).
            for t in totals.iter_mut() {
                *t += rng.next() % 100_000;
            }
            let wait = match rng.next() % 4 {
                0 => rng.next() % d,
                1 => rng.next() % (5 * d),
                2 => rng.next() % (400 * d),
                _ => rng.next() % (20_000 * d),
            };
            now += wait;
            // The eager side ticks on time: the events land in the first tick, the others
            // see nothing new.
            while eager.next_tick <= now {
                eager.tick(&totals);
                eager.next_tick += d;
            }
            let n = lazy.catch_up(now, &totals);
            assert_eq!(lazy, eager);
            assert!(n <= wait / d + 1);
        }
    }
}

#[test]
fn everything_decays_away() {
    let mut totals = [u64::MAX >> 16; NCOUNTERS];
    let mut a = Accounting::new(0, &[0; NCOUNTERS]);
    a.tick(&totals);
    assert_eq!(a.day.shown().v[HITS], u64::MAX >> 16);
    // A year of silence: bounded work, and nothing left.
    let year = 365 * 24 * 3600 * 1_000_000_000u64;
    a.catch_up(year, &totals);
    assert_eq!(a.five_minute.v, [0; NCOUNTERS]);
    assert_eq!(a.hour.v, [0; NCOUNTERS]);
    assert_eq!(a.day.v, [0; NCOUNTERS]);
    assert!(a.next_tick > year);
    // Cleared totals (below what was seen) add nothing.
    totals = [0; NCOUNTERS];
    a.tick(&totals);
    assert_eq!(a.day.v, [0; NCOUNTERS]);
}

#[test]
fn five_minutes_of_steady_hits() {
    // 100 hits per tick: five_minute settles where adding 100 equals decaying it
    // (100 * 32 = 3200 before the decay, 3100 after, shown 3100 / 1 = 3100).
    let mut totals = [0u64; NCOUNTERS];
    let mut a = Accounting::new(0, &totals);
    for _ in 0..2000 {
        totals[HITS] += 100;
        totals[MISSES] += 300;
        a.tick(&totals);
    }
    let s = a.five_minute.shown();
    assert!((3090..=3100).contains(&s.v[HITS]), "{}", s.v[HITS]);
    // 6.12's integer ratio of the shown values: 3099 * 100 / (3099 + 9299).
    assert!((24..=25).contains(&s.hit_ratio()));
    assert_eq!(Shown::default().hit_ratio(), 0);
    // The hour and the day weigh longer: they hold more.
    assert!(a.hour.shown().v[HITS] > s.v[HITS]);
    assert!(a.day.shown().v[HITS] > a.hour.shown().v[HITS]);
    a.clear(&[0; NCOUNTERS]);
    assert_eq!(a.five_minute, Interval::default());
    assert_eq!(a.day, Interval::default());
    totals = [0; NCOUNTERS];
    totals[SECTORS_BYPASSED] = 8;
    a.tick(&totals);
    assert_eq!(a.hour.shown().bypassed_bytes(), 4096);
    assert_eq!(a.five_minute.shown().bypassed_bytes(), 3584);
}
