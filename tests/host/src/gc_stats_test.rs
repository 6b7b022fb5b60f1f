// SPDX-License-Identifier: GPL-2.0

use crate::format::gc_stats::TimeStats;

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

#[test]
fn first_event_sets_average() {
    let mut s = TimeStats::default();
    s.update(10 * SEC, 10 * SEC + 40 * MS);
    assert_eq!(s.average_duration_ms(), 40);
    assert_eq!(s.max_duration_ms(), 40);
    assert_eq!(s.average_frequency_sec(), 0);
    assert_eq!(s.last_sec(15 * SEC), 4);
}

#[test]
fn ewma_converges_and_max_holds() {
    let mut s = TimeStats::default();
    let mut t = SEC;
    s.update(t, t + 500 * MS);
    for _ in 0..200 {
        t += 10 * SEC;
        s.update(t, t + 100 * MS);
    }
    // Converged to the steady duration and interval (fixed point rounds down a little).
    assert!((99..=100).contains(&s.average_duration_ms()), "{s:?}");
    assert!((9..=10).contains(&s.average_frequency_sec()), "{s:?}");
    assert_eq!(s.max_duration_ms(), 500);
}

#[test]
fn clock_going_backwards_saturates() {
    let mut s = TimeStats::default();
    s.update(5 * SEC, 4 * SEC);
    assert_eq!(s.max_duration, 0);
    assert_eq!(s.last_sec(SEC), 0);
}

#[test]
fn zero_end_time_still_marks_an_event() {
    let mut s = TimeStats::default();
    s.update(0, 0);
    assert_eq!(s.last, 1);
}
