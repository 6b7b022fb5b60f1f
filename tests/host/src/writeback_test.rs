// SPDX-License-Identifier: GPL-2.0

//! Stripe accounting and the writeback rate controller.

use crate::format::writeback::*;
use crate::rng::Rng;

/// A cache too empty for the fragmentation term.
const NONE: Fragmentation = Fragmentation {
    in_use: 0,
    used_buckets: 0,
    bucket_sectors: 32,
};

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
    c.update(&p, 0, 100_000, &NONE, 0);
    assert_eq!(c.rate, u64::from(p.minimum));
    // Far above the target: proportional term, and the integral grows while keeping up.
    let mut last = 0;
    for step in 0..10 {
        c.next = step * 5_000_000_000;
        c.update(&p, 1_100_000, 100_000, &NONE, step * 5_000_000_000);
        assert!(c.rate >= last, "rate must not fall while the error stays");
        last = c.rate;
    }
    assert!(c.rate >= 1_000_000 / 40);
    assert!(c.integral > 0);
    // Back under the target: the integral unwinds and the rate falls to the minimum.
    for _ in 0..1000 {
        c.update(&p, 0, 100_000, &NONE, u64::MAX / 2);
    }
    assert!(c.integral <= 0);
    assert_eq!(c.rate, u64::from(p.minimum));
}

#[test]
fn integral_does_not_wind_up_when_behind() {
    let p = RateParams::default();
    let mut c = RateCtl::default();
    c.next = 0;
    c.update(&p, 1_000_000, 0, &NONE, 10_000_000_000);
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

/// `__update_writeback_rate()`'s fragmentation term, written as 6.12 computes it.
fn c_fragment(p: &RateParams, dirty: i64, in_use: i64, used: i64, bucket: i64) -> Option<i64> {
    if !(p.consider_fragment && in_use > 50 && dirty > 0) {
        return None;
    }
    let fragment = used * bucket / dirty;
    let [low, mid, high] = p.fp_term.map(i64::from);
    let fp_term = if in_use <= 57 {
        low * (in_use - 50)
    } else if in_use <= 64 {
        mid * (in_use - 57)
    } else {
        high * (in_use - 64)
    };
    let fps = dirty / used * fp_term;
    (fragment > 3).then_some(fps)
}

#[test]
fn fragment_term_matches_6_12() {
    let mut rng = Rng(3);
    for _ in 0..20000 {
        let mut p = RateParams::default();
        p.consider_fragment = rng.next() % 4 != 0;
        if rng.next() % 2 == 0 {
            let low = 1 + (rng.next() % 50) as u32;
            let mid = low + 1 + (rng.next() % 50) as u32;
            p.fp_term = [low, mid, mid + 1 + (rng.next() % 5000) as u32];
        }
        let nbuckets = 1 + rng.next() % 100_000;
        let bucket = 1u64 << (rng.next() % 12);
        let in_use = (rng.next() % 101) as u32;
        let used = (nbuckets * u64::from(in_use) / 100).max(1);
        let dirty = match rng.next() % 3 {
            0 => 0,
            1 => rng.next() % (used * bucket + 1),
            _ => rng.next() % (used * 4 + 1),
        };
        let f = Fragmentation {
            in_use,
            used_buckets: used,
            bucket_sectors: bucket,
        };
        let want = c_fragment(
            &p,
            dirty as i64,
            i64::from(in_use),
            used as i64,
            bucket as i64,
        );
        assert_eq!(
            fragment_term(&p, dirty, &f),
            want,
            "{p:?} {f:?} dirty {dirty}"
        );
    }
}

#[test]
fn fragmentation_pushes_the_rate_up() {
    // 1000 buckets of 1024 sectors, 70 % in use, with 7000 dirty sectors (10 per bucket in
    // use): far under a 100000-sector target, yet the high band pushes 10 * 1000 * 6.
    let p = RateParams::default();
    let f = Fragmentation {
        in_use: 70,
        used_buckets: 700,
        bucket_sectors: 1024,
    };
    let mut c = RateCtl::default();
    c.update(&p, 7000, 100_000, &f, 0);
    assert_eq!(c.proportional, 60_000);
    assert_eq!(c.rate, 60_000);
    // Off: the minimum, as without fragmentation.
    let off = RateParams {
        consider_fragment: false,
        ..p
    };
    let mut c = RateCtl::default();
    c.update(&off, 7000, 100_000, &f, 0);
    assert_eq!(c.rate, u64::from(p.minimum));
    // Not fragmented (fragment <= 3): no push.
    let dense = Fragmentation {
        used_buckets: 7,
        ..f
    };
    let mut c = RateCtl::default();
    c.update(&p, 7000, 100_000, &dense, 0);
    assert_eq!(c.rate, u64::from(p.minimum));
    // No buckets in use at all: no division by zero.
    assert_eq!(
        fragment_term(
            &p,
            7000,
            &Fragmentation {
                used_buckets: 0,
                ..f
            }
        ),
        None
    );
}

#[test]
fn fp_terms_must_stay_ordered() {
    assert!(fp_terms_ordered(FP_TERM_DEFAULT));
    assert!(fp_terms_ordered([1, 2, 3]));
    assert!(!fp_terms_ordered([0, 10, 1000]));
    assert!(!fp_terms_ordered([10, 10, 1000]));
    assert!(!fp_terms_ordered([1, 1000, 1000]));
    assert!(!fp_terms_ordered([11, 10, 1000]));
    assert!(fp_terms_ordered([1, 10, u32::MAX]));
}
