// SPDX-License-Identifier: GPL-2.0

use crate::format::extents::{overlaps, Extent, ExtentList, Full, Hit};

fn rng(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// Random inserts and holes against a per-sector model; the list must stay sorted,
/// non-overlapping, and map every sector exactly as the model does.
#[test]
fn random_inserts_match_a_sector_model() {
    const N: u64 = 2000;
    let mut seed = 0xfeed_beef_u64;
    for round in 0..50 {
        let ops = 1 + (rng(&mut seed) % 300) as usize;
        let mut buf = vec![Extent::default(); 2 * ops + 1];
        let mut list = ExtentList::new(&mut buf);
        let mut model: Vec<Option<(u64, u8, bool)>> = vec![None; N as usize];
        for op in 0..ops {
            let start = rng(&mut seed) % N;
            let len = 1 + rng(&mut seed) % 200;
            let end = (start + len).min(N);
            let ptr = if rng(&mut seed) % 4 == 0 {
                None
            } else {
                Some(10_000 + rng(&mut seed) % 1_000_000)
            };
            let dirty = op % 2 == 0;
            let gen = (op % 251) as u8;
            list.insert(start, end, ptr.map(|p| (p, gen)), dirty)
                .unwrap();
            for s in start..end {
                model[s as usize] = ptr.map(|p| (p + s - start, gen, dirty));
            }
        }
        let ex = list.as_slice();
        for w in ex.windows(2) {
            assert!(w[0].end <= w[1].start, "round {round}: overlap {w:?}");
        }
        assert!(ex.iter().all(|e| e.start < e.end));
        let mut s = 0;
        while s < N {
            let (p, run) = list.lookup(s, N - s);
            assert!(run >= 1);
            for k in 0..run {
                assert_eq!(
                    model[(s + k) as usize],
                    p.map(|h| (h.ptr + k, h.gen, h.dirty)),
                    "round {round} sector {}",
                    s + k
                );
            }
            s += run;
        }
    }
}

#[test]
fn splits_trims_and_holes() {
    let mut buf = vec![Extent::default(); 8];
    let mut l = ExtentList::new(&mut buf);
    l.insert(0, 100, Some((1000, 0)), true).unwrap();
    l.insert(40, 60, Some((5000, 0)), false).unwrap(); // split
    assert_eq!(
        l.as_slice(),
        &[
            Extent {
                start: 0,
                end: 40,
                ptr: 1000,
                gen: 0,
                dirty: true
            },
            Extent {
                start: 40,
                end: 60,
                ptr: 5000,
                gen: 0,
                dirty: false
            },
            Extent {
                start: 60,
                end: 100,
                ptr: 1060,
                gen: 0,
                dirty: true
            },
        ]
    );
    l.insert(50, 70, None, false).unwrap(); // a hole trims two extents
    assert_eq!(
        l.as_slice()[1],
        Extent {
            start: 40,
            end: 50,
            ptr: 5000,
            gen: 0,
            dirty: false
        }
    );
    assert_eq!(
        l.as_slice()[2],
        Extent {
            start: 70,
            end: 100,
            ptr: 1070,
            gen: 0,
            dirty: true
        }
    );
    assert_eq!(l.lookup(55, 100), (None, 15));
    assert_eq!(
        l.lookup(75, 3),
        (
            Some(Hit {
                ptr: 1075,
                gen: 0,
                dirty: true
            }),
            3
        )
    );
    assert_eq!(l.lookup(200, 7), (None, 7));
    l.insert(0, 100, None, false).unwrap();
    assert!(l.as_slice().is_empty());
    l.insert(5, 5, Some((1, 0)), false).unwrap();
    assert!(l.as_slice().is_empty(), "empty ranges are ignored");
}

#[test]
fn a_full_buffer_is_reported_and_left_unchanged() {
    let mut buf = vec![Extent::default(); 2];
    let mut l = ExtentList::new(&mut buf);
    l.insert(0, 100, Some((0, 0)), false).unwrap();
    assert_eq!(l.insert(40, 60, Some((500, 0)), false), Err(Full));
    assert_eq!(
        l.as_slice(),
        &[Extent {
            start: 0,
            end: 100,
            ptr: 0,
            gen: 0,
            dirty: false
        }]
    );
}

/// `overlaps` against a per-sector scan, on random sorted lists and random ranges (empty
/// ranges included: they overlap nothing).
#[test]
fn overlaps_matches_a_sector_scan() {
    const N: u64 = 500;
    let mut seed = 0x0dd_ba11_u64;
    for _ in 0..200 {
        let mut buf = vec![Extent::default(); 64];
        let mut list = ExtentList::new(&mut buf);
        for _ in 0..(rng(&mut seed) % 20) {
            let start = rng(&mut seed) % N;
            let end = (start + 1 + rng(&mut seed) % 60).min(N);
            let ptr = (rng(&mut seed) % 3 != 0).then(|| (1000 + start, 0));
            list.insert(start, end, ptr, false).unwrap();
        }
        let ex = list.as_slice();
        for _ in 0..50 {
            let start = rng(&mut seed) % (N + 10);
            let end = start + rng(&mut seed) % 80;
            let want = (start..end).any(|s| ex.iter().any(|e| e.start <= s && s < e.end));
            assert_eq!(overlaps(ex, start, end), want, "{ex:?} {start}..{end}");
        }
    }
    assert!(!overlaps(&[], 0, u64::MAX));
}
