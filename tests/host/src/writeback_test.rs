// SPDX-License-Identifier: GPL-2.0

//! Stripe accounting and the writeback rate controller.

use crate::format::writeback::*;
use crate::rng::Rng;

#[test]
fn stripe_sizes_follow_io_opt() {
    assert_eq!(stripe_sectors(0), DEFAULT_STRIPE_SECTORS);
    assert_eq!(stripe_sectors(128), 8192);
    assert_eq!(stripe_sectors(3000), 9000);
    assert_eq!(stripe_sectors(20000), 20000);
    assert_eq!(stripe_count(0, 8192), 0);
    assert_eq!(stripe_count(8193, 8192), 2);
    assert_eq!(stripe_count(1 << 40, DEFAULT_STRIPE_SECTORS), 512);
}

#[test]
fn accounting_matches_a_sector_model() {
    let stripe = 64u64;
    let sectors = 1000u64;
    let mut counts = vec![0u32; stripe_count(sectors, stripe) as usize];
    let mut model = vec![false; sectors as usize];
    let mut rng = Rng(7);
    for _ in 0..5000 {
        let start = rng.next() % sectors;
        let end = (start + 1 + (rng.next() % 200)).min(sectors);
        let add = (rng.next() % 2) == 0;
        // Callers add only clean sectors and remove only dirty ones, as the index reports.
        let mut s = start;
        while s < end {
            let mut t = s;
            while t < end && model[t as usize] != add {
                t += 1;
            }
            account(&mut counts, stripe, s, t, add);
            for m in &mut model[s as usize..t as usize] {
                *m = add;
            }
            s = t + 1;
        }
        for (i, c) in counts.iter().enumerate() {
            let lo = i * stripe as usize;
            let hi = (lo + stripe as usize).min(sectors as usize);
            let want = model[lo..hi].iter().filter(|&&d| d).count() as u32;
            assert_eq!(*c, want, "stripe {i}");
        }
    }
}

#[test]
fn accounting_ignores_out_of_range_and_saturates() {
    let mut counts = vec![0u32; 2];
    account(&mut counts, 10, 15, 40, true);
    assert_eq!(counts, [0, 5]);
    account(&mut counts, 10, 0, 30, false);
    assert_eq!(counts, [0, 0]);
}

#[test]
fn target_is_the_share_of_the_percent() {
    assert_eq!(dirty_target(1_000_000, 10, 1, 1), 100_000);
    assert_eq!(dirty_target(1_000_000, 10, 1, 2), 50_000);
    assert_eq!(dirty_target(1_000_000, 0, 1, 1), 0);
    // A tiny device still gets one share unit.
    assert_eq!(dirty_target(1 << 20, 100, 1, u64::MAX), 64);
    assert_eq!(dirty_target(1_000_000, 10, 5, 0), 100_000);
}

#[test]
fn controller_speeds_up_above_target_and_rests_at_the_minimum_below() {
    let p = RateParams::default();
    let mut c = RateCtl::default();
    c.update(&p, 0, 100_000, 0);
    assert_eq!(c.rate, u64::from(p.minimum));
    // Far above the target: proportional term, and the integral grows while keeping up.
    let mut last = 0;
    for step in 0..10 {
        c.next = step * 5_000_000_000;
        c.update(&p, 1_100_000, 100_000, step * 5_000_000_000);
        assert!(c.rate >= last, "rate must not fall while the error stays");
        last = c.rate;
    }
    assert!(c.rate >= 1_000_000 / 40);
    assert!(c.integral > 0);
    // Back under the target: the integral unwinds and the rate falls to the minimum.
    for _ in 0..1000 {
        c.update(&p, 0, 100_000, u64::MAX / 2);
    }
    assert!(c.integral <= 0);
    assert_eq!(c.rate, u64::from(p.minimum));
}

#[test]
fn integral_does_not_wind_up_when_behind() {
    let p = RateParams::default();
    let mut c = RateCtl::default();
    c.next = 0;
    c.update(&p, 1_000_000, 0, 10_000_000_000);
    assert_eq!(c.integral, 0);
}

#[test]
fn next_delay_paces_and_is_bounded() {
    let mut c = RateCtl {
        rate: 1000,
        next: 0,
        ..RateCtl::default()
    };
    // 500 sectors at 1000 sectors/s: half a second.
    assert_eq!(c.next_delay(500, 0), 500_000_000);
    // Never more than 2.5 s ahead.
    assert_eq!(c.next_delay(1_000_000, 0), 2_500_000_000);
    // Far behind: at most 2 s of backlog is kept, so no wait.
    let now = 100_000_000_000;
    assert_eq!(c.next_delay(1, now), 0);
    assert!(c.next >= now - 2_000_000_000);
}
