// SPDX-License-Identifier: GPL-2.0

//! Congestion bypass: `fract_exp_two`, the latency debt and the cutoff, against a model that
//! follows 6.12's `bch_get_congested()` and `bch_bbio_count_io_errors()` step by step.

use crate::format::congestion::{
    fract_exp_two, Congestion, CONGESTED_MAX, READ_THRESHOLD_US, WRITE_THRESHOLD_US,
};
use crate::rng::Rng;

/// 6.12's arithmetic, in its own integer types, for one set.
struct Model {
    read_us: u32,
    write_us: u32,
    congested: i32,
    last_us: u64,
}

impl Model {
    fn note(&mut self, write: bool, start: u64, now: u64) {
        let threshold = if write { self.write_us } else { self.read_us };
        if threshold == 0 {
            return;
        }
        let us = (now - start) as i64;
        if us > i64::from(threshold) {
            let ms = (us / 1024) as i32;
            self.last_us = now;
            let ms = ms.min(CONGESTED_MAX + self.congested);
            self.congested -= ms;
        } else if self.congested < 0 {
            self.congested += 1;
        }
    }

    fn get(&self, now: u64, rand: u32) -> u32 {
        if self.read_us == 0 && self.write_us == 0 {
            return 0;
        }
        let mut i = ((now - self.last_us) / 1024) as i64;
        i += i64::from(self.congested);
        if i >= 0 {
            return 0;
        }
        i += i64::from(CONGESTED_MAX);
        if i > 0 {
            i = i64::from(fract_exp_two(i as u32, 6));
        }
        i -= i64::from(rand.count_ones());
        if i > 0 {
            i as u32
        } else {
            1
        }
    }
}

#[test]
fn fract_exp_two_vectors() {
    assert_eq!(fract_exp_two(0, 6), 1);
    assert_eq!(fract_exp_two(32, 6), 1);
    assert_eq!(fract_exp_two(64, 6), 2);
    assert_eq!(fract_exp_two(96, 6), 3);
    assert_eq!(fract_exp_two(128, 6), 4);
    // 6.12's comment: the largest input, CONGESTED_MAX - 1, gives 0x1.fc << 15.
    assert_eq!(fract_exp_two(1023, 6), 0xfe00);
    let mut prev = 0;
    for x in 0..1024 {
        let y = fract_exp_two(x, 6);
        assert!(y >= prev, "monotonic at {x}");
        // The mantissa is linear between powers of two: at most 6.1% above 2^(x/64), and
        // below it only by truncation.
        let exact = 2f64.powf(f64::from(x) / 64.0);
        assert!(
            f64::from(y) <= exact * 1.0615 && f64::from(y) > exact - 1.0,
            "{x}"
        );
        prev = y;
    }
}

#[test]
fn defaults_and_idle() {
    let c = Congestion::new();
    assert_eq!(c.read_threshold_us(), READ_THRESHOLD_US);
    assert_eq!(c.write_threshold_us(), WRITE_THRESHOLD_US);
    assert_eq!(READ_THRESHOLD_US, 2000);
    assert_eq!(WRITE_THRESHOLD_US, 20000);
    assert_eq!(c.cutoff(0, || u32::MAX), 0);
    assert_eq!(c.cutoff(1 << 40, || 0), 0);
    // Fast IO never congests.
    for t in 0..1000u64 {
        c.note(t % 2 == 0, t * 100, t * 100 + 1999);
    }
    assert_eq!(c.cutoff(100_000, || 0), 0);
}

#[test]
fn one_slow_read_then_decay() {
    let c = Congestion::new();
    // 3000 us: 2 ms of debt.
    c.note(false, 10_000, 13_000);
    let near = fract_exp_two(1022, 6);
    assert_eq!(near, 126 << 9);
    assert_eq!(c.cutoff(13_000, || 0), near);
    assert_eq!(c.cutoff(13_000, || 0xffff), near - 16);
    // One ms later, one ms is paid.
    assert_eq!(c.cutoff(13_000 + 1024, || 0), fract_exp_two(1023, 6));
    // Two ms later, all of it.
    assert_eq!(c.cutoff(13_000 + 2048, || 0), 0);
    // A clock behind the last slow IO is not congested (6.12: i < 0).
    assert_eq!(c.cutoff(12_000, || 0), 0);
}

#[test]
fn fast_io_repays_and_debt_is_bounded() {
    let c = Congestion::new();
    // A write is slow only past its own threshold.
    c.note(true, 0, 19_000);
    assert_eq!(c.cutoff(19_000, || 0), 0);
    for _ in 0..100 {
        c.note(true, 0, 100 * 1024);
    }
    // The debt stops at CONGESTED_MAX: the smallest cutoff, one sector, whatever `rand`.
    assert_eq!(c.cutoff(100 * 1024, || 0), 1);
    assert_eq!(c.cutoff(100 * 1024, || u32::MAX), 1);
    // 24 fast IO repay 24 ms.
    for _ in 0..24 {
        c.note(false, 0, 10);
    }
    assert_eq!(c.cutoff(100 * 1024, || 0), fract_exp_two(24, 6));
    // Disabling both thresholds ends congestion at once; slow IO then counts for nothing.
    c.set_read_threshold_us(0);
    assert!(c.enabled());
    c.set_write_threshold_us(0);
    assert!(!c.enabled());
    assert_eq!(c.cutoff(100 * 1024, || 0), 0);
    c.note(false, 0, 1 << 30);
    c.set_read_threshold_us(1);
    assert_eq!(c.cutoff(100 * 1024, || 0), fract_exp_two(24, 6));
}

#[test]
fn bypass_rule() {
    assert!(!Congestion::bypasses(0, u64::MAX));
    assert!(Congestion::bypasses(1, 1));
    assert!(!Congestion::bypasses(8, 7));
    assert!(Congestion::bypasses(8, 8));
}

/// Random latencies, gaps and thresholds: the same cutoffs as 6.12's arithmetic, and a larger
/// debt never gives a larger cutoff.
#[test]
fn matches_the_model() {
    let mut rng = Rng(0x5eed_c0de);
    for round in 0..200 {
        let c = Congestion::new();
        let read_us = [0, 1, 500, 2000, 20000][round % 5];
        let write_us = [20000, 0, 1, 3000][round % 4];
        c.set_read_threshold_us(read_us);
        c.set_write_threshold_us(write_us);
        let mut m = Model {
            read_us,
            write_us,
            congested: 0,
            last_us: 0,
        };
        let mut now = 1u64 << 20;
        for _ in 0..500 {
            now += rng.next() % 3000;
            let lat = match rng.next() % 4 {
                0 => rng.next() % 100_000,
                1 => rng.next() % 5000,
                _ => rng.next() % 1500,
            };
            let write = rng.next() % 2 == 0;
            c.note(write, now - lat.min(now), now);
            m.note(write, now - lat.min(now), now);
            let rand = rng.next() as u32;
            let at = now + rng.next() % 4096;
            assert_eq!(c.cutoff(at, || rand), m.get(at, rand), "round {round}");
            assert!((-CONGESTED_MAX..=0).contains(&m.congested));
        }
    }
}
