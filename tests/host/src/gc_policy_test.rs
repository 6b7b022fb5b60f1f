// SPDX-License-Identifier: GPL-2.0

//! GC policy against simple models: marking, moving-GC candidates and limits, coalescing.

use crate::format::alloc::{
    Bucket, GC_MARK_DIRTY, GC_MARK_METADATA, GC_MARK_NONE, GC_MARK_RECLAIMABLE,
};
use crate::format::extents::Extent;
use crate::format::gc_policy::{coalesce_plan, mark_extent, moving_candidates, moving_limit};
use crate::rng::Rng;

#[test]
fn marking_matches_a_per_bucket_sum() {
    let mut r = Rng(77);
    for _ in 0..200 {
        let nb = 1 + (r.next() % 40) as usize;
        let bs = 1u64 << (3 + r.next() % 10);
        let mut buckets = vec![Bucket::default(); nb];
        let mut sum = vec![0u64; nb];
        let mut dirty = vec![false; nb];
        let mut clean = vec![false; nb];
        let mut pos = 0;
        for _ in 0..(r.next() % 300) {
            let len = 1 + r.next() % bs;
            let b = (r.next() % nb as u64) as usize;
            let d = r.next() % 2 == 0;
            let e = Extent {
                start: pos,
                end: pos + len,
                ptr: b as u64 * bs + (r.next() % bs),
                gen: 0,
                dirty: d,
            };
            pos += len + r.next() % 4;
            mark_extent(&mut buckets, bs, &e);
            sum[b] += len;
            if d {
                dirty[b] = true;
            } else {
                clean[b] = true;
            }
        }
        for i in 0..nb {
            assert_eq!(
                u64::from(buckets[i].sectors),
                sum[i].min(u64::from(u16::MAX))
            );
            let want = if dirty[i] {
                GC_MARK_DIRTY
            } else if clean[i] {
                GC_MARK_RECLAIMABLE
            } else {
                GC_MARK_NONE
            };
            assert_eq!(buckets[i].mark, want, "bucket {i}");
        }
    }
}

#[test]
fn marking_ignores_pointers_past_the_end() {
    let mut b = vec![Bucket::default(); 2];
    let e = Extent {
        start: 0,
        end: 8,
        ptr: 1 << 40,
        gen: 0,
        dirty: true,
    };
    mark_extent(&mut b, 128, &e);
    mark_extent(&mut b, 0, &e);
    assert_eq!(b, vec![Bucket::default(); 2]);
}

#[test]
fn moving_limit_is_eight_reserves_or_half_the_empty_buckets() {
    assert_eq!(moving_limit(128, 1, 0), 8 * 128);
    assert_eq!(moving_limit(128, 1, 100), 50 * 128);
    assert_eq!(moving_limit(1024, 3, 10), 24 * 1024);
    assert_eq!(moving_limit(u64::MAX, 1, 0), u64::MAX, "saturates");
}

#[test]
fn moving_candidates_follow_the_rule() {
    let mut r = Rng(4242);
    for _ in 0..300 {
        let n = 1 + (r.next() % 120) as usize;
        let bs = 128u64;
        let buckets: Vec<Bucket> = (0..n)
            .map(|_| {
                let v = r.next();
                Bucket {
                    mark: [
                        GC_MARK_NONE,
                        GC_MARK_RECLAIMABLE,
                        GC_MARK_DIRTY,
                        GC_MARK_METADATA,
                    ][(v % 4) as usize],
                    sectors: ((v >> 8) % 140) as u16,
                    pin: (v >> 20) % 6 == 0,
                    writers: ((v >> 24) % 9 == 0) as u16,
                    ..Bucket::default()
                }
            })
            .collect();
        let busy_set: Vec<bool> = (0..n).map(|_| r.next() % 7 == 0).collect();
        let limit = r.next() % 3000;
        let mut scratch = vec![0u32; n];
        let chosen: Vec<u32> =
            moving_candidates(&buckets, |i| busy_set[i], bs, limit, &mut scratch).to_vec();
        let eligible = |i: usize| {
            let b = &buckets[i];
            (b.mark == GC_MARK_DIRTY || b.mark == GC_MARK_RECLAIMABLE)
                && b.sectors > 0
                && u64::from(b.sectors) < bs
                && !b.pin
                && b.writers == 0
                && !busy_set[i]
        };
        let total: u64 = chosen
            .iter()
            .map(|&i| u64::from(buckets[i as usize].sectors))
            .sum();
        assert!(total <= limit);
        for w in chosen.windows(2) {
            assert!(buckets[w[0] as usize].sectors <= buckets[w[1] as usize].sectors);
        }
        for &i in &chosen {
            assert!(eligible(i as usize), "bucket {i} is not a candidate");
        }
        // Fewest sectors first: every eligible bucket left out has at least as many sectors as
        // the last one chosen, and adding the smallest left out would pass the limit.
        let left: Vec<usize> = (0..n)
            .filter(|&i| eligible(i) && !chosen.contains(&(i as u32)))
            .collect();
        if let Some(&last) = chosen.last() {
            for &i in &left {
                assert!(buckets[i].sectors >= buckets[last as usize].sectors);
            }
        }
        if let Some(min) = left.iter().map(|&i| u64::from(buckets[i].sectors)).min() {
            assert!(
                total + min > limit,
                "room was left for bucket of {min} sectors"
            );
        }
    }
}

#[test]
fn coalescing_keeps_groups_within_two_thirds_of_a_node() {
    let mut r = Rng(9);
    for _ in 0..500 {
        let n = (r.next() % 30) as usize;
        let cap = 30 + (r.next() % 300) as usize;
        let keys: Vec<usize> = (0..n)
            .map(|_| (r.next() % (cap as u64 + 1)) as usize)
            .collect();
        let budget = (r.next() % 10) as usize;
        let mut merge = vec![true; n];
        let merges = coalesce_plan(&keys, cap, budget, &mut merge);
        assert!(merges <= budget);
        assert_eq!(merges, merge.iter().filter(|&&m| m).count());
        if n > 0 {
            assert!(!merge[0], "the first leaf has nothing to join");
        }
        // Every merged group fits in 2/3 of a node.
        let mut group = 0;
        for i in 0..n {
            if merge[i] {
                group += keys[i];
                assert!(
                    group <= cap * 2 / 3,
                    "group ending at {i} holds {group} of {cap}"
                );
            } else {
                group = keys[i];
            }
        }
    }
}

#[test]
fn coalescing_merges_sparse_siblings() {
    let mut merge = vec![false; 5];
    assert_eq!(coalesce_plan(&[10, 10, 10, 90, 5], 100, 8, &mut merge), 2);
    assert_eq!(merge, vec![false, true, true, false, false]);
    assert_eq!(
        coalesce_plan(&[10, 10, 10], 100, 1, &mut merge),
        1,
        "budget bounds merges"
    );
}
