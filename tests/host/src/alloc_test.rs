// SPDX-License-Identifier: GPL-2.0

//! Allocator policy: fifos against a model, reserve order, invalidation order per policy, the
//! generation-wrap guard and the node split plan.

use std::collections::VecDeque;

use crate::format::alloc::{
    pick, split_plan, Bucket, Fifo, FreeLists, PickState, Policy, Reserve, BUCKET_GC_GEN_MAX,
    GC_MARK_DIRTY, GC_MARK_METADATA, GC_MARK_NONE, GC_MARK_RECLAIMABLE,
};
use crate::rng::Rng;

#[test]
fn fifo_matches_a_model() {
    for cap in [1usize, 2, 3, 7, 31] {
        let mut f = Fifo::new(vec![0u64; cap]);
        let mut m = VecDeque::new();
        let mut r = Rng(cap as u64 * 7919 + 1);
        for i in 0..2000u64 {
            if r.next() % 3 == 0 {
                assert_eq!(f.pop(), m.pop_front());
            } else {
                let ok = f.push(i);
                assert_eq!(ok, m.len() < cap);
                if ok {
                    m.push_back(i);
                }
            }
            assert_eq!(f.len(), m.len());
            assert_eq!(f.is_full(), m.len() == cap);
            assert_eq!(f.is_empty(), m.is_empty());
            let mut seen = Vec::new();
            f.for_each(|v| seen.push(v));
            assert_eq!(seen, m.iter().copied().collect::<Vec<_>>());
        }
    }
}

fn lists(sizes: [usize; 4]) -> FreeLists<Vec<u64>> {
    FreeLists {
        fifos: sizes.map(|n| Fifo::new(vec![0u64; n])),
    }
}

#[test]
fn push_fills_prio_first_then_in_reserve_order() {
    let mut l = lists([2, 3, 1, 2]);
    for b in 0..8 {
        assert!(l.push(b));
    }
    assert!(!l.push(99), "all fifos are full");
    assert!(l.all_full());
    // Prio got 0..3, btree 3..5, movinggc 5, none 6..8.
    assert_eq!(l.fifos[Reserve::Prio as usize].len(), 3);
    assert_eq!(l.pop(Reserve::None), Some(6));
    assert_eq!(l.pop(Reserve::None), Some(7));
    assert_eq!(l.pop(Reserve::None), None, "data never drains a reserve");
    assert_eq!(l.available(Reserve::None), 0);
    assert_eq!(l.pop(Reserve::Btree), Some(3));
    assert_eq!(l.pop(Reserve::Prio), Some(0));
    assert_eq!(l.pop(Reserve::MovingGc), Some(5));
    assert_eq!(l.pop(Reserve::MovingGc), None);
    assert_eq!(l.total(), 3);
}

#[test]
fn reserves_take_from_none_first() {
    let mut l = lists([1, 1, 1, 4]);
    for b in 0..5 {
        assert!(l.push(b));
    }
    // 0 -> prio, 1 -> btree, 2 -> movinggc, 3, 4 -> none.
    assert_eq!(l.pop(Reserve::Btree), Some(3));
    assert_eq!(l.pop(Reserve::Btree), Some(4));
    assert_eq!(l.pop(Reserve::Btree), Some(1));
    assert_eq!(l.available(Reserve::Prio), 1);
}

#[test]
fn invalidation_rules() {
    let mut b = Bucket::default();
    assert!(b.can_invalidate());
    b.mark = GC_MARK_RECLAIMABLE;
    assert!(b.can_invalidate(), "clean data can be invalidated");
    b.mark = GC_MARK_DIRTY;
    assert!(!b.can_invalidate());
    b.mark = GC_MARK_METADATA;
    assert!(!b.can_invalidate());
    b.mark = GC_MARK_NONE;
    b.pin = true;
    assert!(!b.can_invalidate());
    b.pin = false;
    b.writers = 1;
    assert!(!b.can_invalidate(), "a write in flight into it");
    b.writers = 0;
    // The generation guard: gen may run at most 95 ahead of last_gc.
    b.last_gc = 250;
    b.gen = 250u8.wrapping_add(BUCKET_GC_GEN_MAX - 1);
    assert!(b.can_invalidate());
    b.invalidate();
    assert_eq!(b.gc_gen(), BUCKET_GC_GEN_MAX);
    assert!(b.pin && b.sectors == 0 && b.mark == GC_MARK_NONE);
    b.pin = false;
    assert!(
        !b.can_invalidate(),
        "one more bump could wrap past an old key"
    );
}

#[test]
fn sectors_saturate_and_metadata_sticks() {
    let mut b = Bucket::default();
    b.add_sectors(GC_MARK_RECLAIMABLE, 60000);
    b.add_sectors(GC_MARK_DIRTY, 60000);
    assert_eq!(b.sectors, u16::MAX);
    assert_eq!(b.mark, GC_MARK_DIRTY);
    b.add_sectors(GC_MARK_RECLAIMABLE, 1);
    assert_eq!(b.mark, GC_MARK_DIRTY, "dirty outranks reclaimable");
    let mut m = Bucket {
        mark: GC_MARK_METADATA,
        ..Bucket::default()
    };
    m.add_sectors(GC_MARK_DIRTY, 8);
    assert_eq!(m.mark, GC_MARK_METADATA);
}

fn world(n: usize, r: &mut Rng) -> Vec<Bucket> {
    (0..n)
        .map(|_| {
            let v = r.next();
            Bucket {
                gen: (v >> 8) as u8,
                prio: (v >> 16) as u16,
                last_gc: (v >> 8) as u8,
                mark: [
                    GC_MARK_NONE,
                    GC_MARK_RECLAIMABLE,
                    GC_MARK_DIRTY,
                    GC_MARK_METADATA,
                ][(v % 4) as usize],
                sectors: if v % 4 == 1 {
                    (v >> 32) as u16 % 1024
                } else {
                    0
                },
                pin: (v >> 40) % 5 == 0,
                writers: if (v >> 44) % 7 == 0 { 1 } else { 0 },
            }
        })
        .collect()
}

#[test]
fn every_policy_takes_only_invalidatable_buckets_and_reports_exhaustion() {
    for policy in [Policy::Lru, Policy::Fifo, Policy::Random] {
        let mut r = Rng(0x1234_5678 + policy as u64);
        for round in 0..50 {
            let n = 16 + (r.next() % 200) as usize;
            let first = (r.next() % 4) as u64;
            let mut bk = world(n, &mut r);
            let before = bk.clone();
            let eligible: Vec<u64> = (first as usize..n)
                .filter(|&i| before[i].can_invalidate())
                .map(|i| i as u64)
                .collect();
            let want = 1 + (r.next() % 40) as usize;
            let mut st = PickState {
                policy,
                first,
                cursor: r.next() % n as u64,
            };
            let mut scratch = vec![0u32; n];
            let mut got = Vec::new();
            let mut rng = Rng(round + 99);
            let taken = pick(
                &mut st,
                &mut bk,
                want,
                &mut scratch,
                &mut || rng.next(),
                &mut |b| got.push(b),
            );
            assert_eq!(taken, got.len());
            assert_eq!(
                taken,
                want.min(eligible.len()),
                "{policy:?}: takes all it can"
            );
            let mut sorted = got.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), got.len(), "no bucket twice");
            for &b in &got {
                assert!(eligible.contains(&b), "{policy:?} took bucket {b}");
                let (old, new) = (before[b as usize], bk[b as usize]);
                assert_eq!(new.gen, old.gen.wrapping_add(1));
                assert!(new.pin);
            }
            for i in 0..n {
                if !got.contains(&(i as u64)) {
                    assert_eq!(bk[i], before[i], "untouched bucket {i} changed");
                }
            }
            if policy == Policy::Lru {
                // The lowest prio * sectors go first.
                let worst = got.iter().map(|&b| before[b as usize].lru_key()).max();
                for &e in &eligible {
                    if !got.contains(&e) {
                        assert!(Some(before[e as usize].lru_key()) >= worst);
                    }
                }
            }
        }
    }
}

#[test]
fn fifo_policy_round_robins() {
    let mut bk = vec![Bucket::default(); 10];
    let mut st = PickState {
        policy: Policy::Fifo,
        first: 2,
        cursor: 0,
    };
    let mut scratch = vec![0u32; 10];
    let mut got = Vec::new();
    let mut take = |b| got.push(b);
    pick(&mut st, &mut bk, 3, &mut scratch, &mut || 0, &mut take);
    for b in bk.iter_mut() {
        b.pin = false;
    }
    pick(&mut st, &mut bk, 7, &mut scratch, &mut || 0, &mut take);
    assert_eq!(got, vec![2, 3, 4, 5, 6, 7, 8, 9, 2, 3]);
}

#[test]
fn split_plan_follows_the_four_fifths_rule() {
    let node = 8192 - 4;
    assert_eq!(split_plan(0, 3, node), (1, 1));
    let fits = node * 4 / 5 / 3;
    assert_eq!(split_plan(fits, 3, node), (1, fits));
    for keys in [fits + 1, 3 * fits, 10_000, 123_457] {
        let (nodes, per) = split_plan(keys, 3, node);
        assert!(nodes >= 2);
        assert!(
            per * (nodes - 1) < keys && per * nodes >= keys,
            "covers every key once"
        );
        assert!(per * 3 <= node * 3 / 5 + 3, "each node about 3/5 full");
        assert!(
            (keys - per * (nodes - 1)) * 3 >= node / 5,
            "last node not nearly empty"
        );
    }
}

#[test]
fn policy_names_round_trip() {
    for p in Policy::ALL {
        assert_eq!(Policy::from_name(p.name().as_bytes()), Some(p));
        assert_eq!(Policy::from_sb(p as u64), p);
        let mut nl = p.name().as_bytes().to_vec();
        nl.push(b'\n');
        assert_eq!(Policy::from_name(&nl), Some(p));
    }
    for junk in [&b""[..], b"LRU", b"lru\n\n", b"clock", b" fifo"] {
        assert_eq!(Policy::from_name(junk), None);
    }
    assert_eq!(
        Policy::from_sb(3),
        Policy::Lru,
        "unknown values read as lru"
    );
}
