// SPDX-License-Identifier: GPL-2.0

use crate::format::io_errors::{IoErrors, Noted, DEFAULT_LIMIT, IO_ERROR_SHIFT};

fn rng(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// 6.12's `bch_count_io_errors()`, one IO at a time.
struct Model {
    io_count: u32,
    io_errors: u32,
    decay: u32,
    limit: u32,
}

impl Model {
    fn note(&mut self, failed: bool) -> Noted {
        if self.decay != 0 {
            self.io_count += 1;
            while self.io_count > self.decay {
                self.io_count -= self.decay;
                self.io_errors = ((self.io_errors as u64) * 127 / 128) as u32;
            }
        }
        if !failed {
            return Noted::Ok;
        }
        self.io_errors = self.io_errors.wrapping_add(1 << IO_ERROR_SHIFT);
        let e = self.io_errors >> IO_ERROR_SHIFT;
        if e < self.limit {
            Noted::Error(e)
        } else {
            Noted::Limit(e)
        }
    }
}

#[test]
fn defaults_fail_the_set_at_the_eighth_error() {
    let e = IoErrors::new();
    assert_eq!(e.limit(), DEFAULT_LIMIT);
    assert_eq!(e.halflife(), 0);
    for _ in 0..1000 {
        assert_eq!(e.note(false), Noted::Ok);
    }
    for n in 1..8 {
        assert_eq!(e.note(true), Noted::Error(n));
    }
    assert_eq!(e.note(true), Noted::Limit(8));
    assert_eq!(e.count(), 8);
    // A limit of 0 fails at the first error.
    let z = IoErrors::new();
    z.set_limit(0);
    assert_eq!(z.note(true), Noted::Limit(1));
}

#[test]
fn halflife_is_stored_divided_by_88() {
    let e = IoErrors::new();
    e.set_halflife(1000);
    assert_eq!(e.halflife(), 968);
    e.set_halflife(87);
    assert_eq!(e.halflife(), 0);
    e.set_halflife(u32::MAX);
    assert_eq!(e.halflife(), u64::from(u32::MAX / 88) * 88);
}

/// With a decay period, the count halves in about 88 periods of successful IO.
#[test]
fn the_count_halves_in_about_88_periods() {
    let e = IoErrors::new();
    e.set_limit(u32::MAX);
    e.set_halflife(88 * 10);
    for _ in 0..100 {
        e.note(true);
    }
    let before = e.count();
    for _ in 0..(88 * 10) {
        e.note(false);
    }
    let after = e.count();
    assert!(
        after * 2 >= before - 2 && after * 2 <= before + 2,
        "{before} -> {after}"
    );
}

#[test]
fn random_sequences_match_6_12() {
    let mut seed = 0x5eed_e770_u64;
    for _ in 0..300 {
        let decay = [0, 1, 2, 5, 11, 100][(rng(&mut seed) % 6) as usize];
        let limit = (rng(&mut seed) % 40) as u32;
        let e = IoErrors::new();
        e.set_halflife(decay * 88);
        e.set_limit(limit);
        let mut m = Model {
            io_count: 0,
            io_errors: 0,
            decay,
            limit,
        };
        let rate = rng(&mut seed) % 100;
        for _ in 0..2000 {
            let failed = rng(&mut seed) % 100 < rate;
            assert_eq!(e.note(failed), m.note(failed));
            assert_eq!(e.count(), m.io_errors >> IO_ERROR_SHIFT);
        }
    }
}

#[test]
fn a_backing_device_stops_at_its_64th_error() {
    use crate::format::io_errors::{BackingErrors, DEFAULT_BACKING_LIMIT};
    let b = BackingErrors::new();
    assert_eq!(b.limit(), DEFAULT_BACKING_LIMIT);
    for n in 1..64 {
        assert_eq!(b.note_error(), Noted::Error(n));
    }
    assert_eq!(b.note_error(), Noted::Limit(64));
    assert_eq!(b.note_error(), Noted::Limit(65));
    assert_eq!(b.count(), 65);
    b.set_limit(u32::MAX);
    assert_eq!(b.limit(), i32::MAX as u32);
    b.set_limit(0);
    assert_eq!(b.note_error(), Noted::Limit(66));
}

#[test]
fn log_limit_one_line_per_interval_counting_the_rest() {
    use crate::format::io_errors::{LogLimit, LOG_INTERVAL_S};
    let s = LOG_INTERVAL_S * 1_000_000_000;
    let mut l = LogLimit::default();
    // The first failure is logged, even at time 0.
    assert_eq!(l.allow(0), Some(0));
    // Then nothing for an interval, each held back.
    for t in [1, s / 2, s - 1] {
        assert_eq!(l.allow(t), None);
    }
    // The next line reports the three held back, and the count starts again.
    assert_eq!(l.allow(s), Some(3));
    assert_eq!(l.allow(s + 1), None);
    assert_eq!(l.allow(3 * s), Some(1));
    // A clock at the end of its range does not overflow.
    assert_eq!(l.allow(u64::MAX), Some(0));
}

#[test]
fn log_limit_a_steady_failure_logs_once_per_interval() {
    use crate::format::io_errors::{LogLimit, LOG_INTERVAL_S};
    let s = LOG_INTERVAL_S * 1_000_000_000;
    let mut l = LogLimit::default();
    // A journal write failing every 100 ms for a minute: 12 lines, accounting for all 600.
    let (mut lines, mut total) = (0u64, 0u64);
    for i in 0..600u64 {
        if let Some(held) = l.allow(i * 100_000_000) {
            lines += 1;
            total += held + 1;
        }
    }
    assert_eq!(lines, 60 * 1_000_000_000 / s);
    // The last interval's held-back lines are reported with the next line, not yet here.
    assert!(total <= 600 && total > 600 - s / 100_000_000);
}
