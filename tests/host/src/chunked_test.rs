// SPDX-License-Identifier: GPL-2.0

//! The chunked leaf list against the flat [`ExtentList`]: same extents after every insert,
//! whatever the mix of small writes, long writes across chunks and holes.

use crate::format::chunked::{Chunk, ChunkedList, ChunkedRef, CHUNK};
use crate::format::extents::{Extent, ExtentList, Full};
use crate::rng::Rng;

/// A list with `slots` chunk slots, as the kernel side keeps one.
struct Owned {
    pool: Vec<Chunk>,
    order: Vec<u32>,
    used: usize,
    len: usize,
}

impl Owned {
    fn new(slots: usize) -> Self {
        Owned {
            pool: vec![Chunk::default(); slots],
            order: vec![0; slots],
            used: 0,
            len: 0,
        }
    }

    fn insert(&mut self, s: u64, e: u64, ptr: Option<(u64, u8)>, dirty: bool) -> Result<(), Full> {
        let mut l = ChunkedList::from_parts(&mut self.pool, &mut self.order, self.used, self.len);
        let r = l.insert(s, e, ptr, dirty);
        self.used = l.used();
        self.len = l.len();
        r
    }

    fn view(&self) -> ChunkedRef<'_> {
        ChunkedRef::new(&self.pool, &self.order[..self.used], self.len)
    }

    fn spare(&self) -> usize {
        self.pool.len() - self.used
    }
}

fn check(c: &Owned, flat: &[Extent], what: &str) {
    let v = c.view();
    let got: Vec<Extent> = v.iter().copied().collect();
    assert_eq!(got, flat, "{what}");
    assert_eq!(v.len(), flat.len(), "{what}: len");
    assert_eq!(v.first(), flat.first(), "{what}: first");
    assert_eq!(v.last(), flat.last(), "{what}: last");
    // Every chunk in use holds an extent, and no more than CHUNK; slots in use come first.
    for &s in &c.order[..c.used] {
        assert!((s as usize) < c.used, "{what}: slot {s} beyond {}", c.used);
    }
    let mut seen = c.order[..c.used].to_vec();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), c.used, "{what}: a slot is named twice");
    let per: usize = c.order[..c.used]
        .iter()
        .map(|&s| {
            let n = c.pool[s as usize].clone();
            let k = ChunkedRef::new(std::slice::from_ref(&n), &[0], 0)
                .iter()
                .count();
            assert!(k >= 1 && k <= CHUNK, "{what}: chunk of {k}");
            k
        })
        .sum();
    assert_eq!(per, flat.len(), "{what}: chunk lengths");
}

fn probe(c: &Owned, flat: &[Extent], rng: &mut Rng, n: u64, what: &str) {
    for _ in 0..20 {
        let s = rng.next() % n;
        let max = 1 + rng.next() % 300;
        assert_eq!(
            c.view().lookup(s, max),
            crate::format::extents::lookup(flat, s, max),
            "{what}: lookup {s}"
        );
        let e = s + 1 + rng.next() % 100;
        assert_eq!(
            c.view().overlaps(s, e),
            crate::format::extents::overlaps(flat, s, e),
            "{what}: overlaps {s}..{e}"
        );
        assert_eq!(
            c.view().holds_dirty(s, e),
            crate::format::extents::holds_dirty(flat, s, e),
            "{what}: holds_dirty {s}..{e}"
        );
        let from: Vec<Extent> = c.view().iter_from(s).copied().collect();
        let i = flat.partition_point(|x| x.end <= s);
        assert_eq!(from, &flat[i..], "{what}: iter_from {s}");
    }
}

#[test]
fn chunked_matches_the_flat_list() {
    let mut rng = Rng(0x5eed_c0de);
    for round in 0..40 {
        let n = 1 + rng.next() % 20_000;
        let ops = 200 + (rng.next() % 3000) as usize;
        let mut buf = vec![Extent::default(); 2 * ops + 1];
        let mut flat = ExtentList::new(&mut buf);
        // One free slot before each insert, never more: one is always enough.
        let mut c = Owned::new(1);
        for op in 0..ops {
            let start = rng.next() % n;
            // Mostly small writes (splits, chunks filling up), some long ones across chunks.
            let len = match rng.next() % 10 {
                0 => 1 + rng.next() % 5000,
                1..=2 => 1 + rng.next() % 64,
                _ => 1 + rng.next() % 8,
            };
            let end = (start + len).min(n + 1);
            let ptr = (rng.next() % 5 != 0).then(|| (rng.next() % 1_000_000, (op % 256) as u8));
            let dirty = rng.next() % 2 == 0;
            flat.insert(start, end, ptr, dirty).unwrap();
            if c.spare() == 0 {
                c.pool.push(Chunk::default());
                c.order.push(0);
            }
            c.insert(start, end, ptr, dirty).unwrap();
            if op % 97 == 0 {
                check(&c, flat.as_slice(), &format!("round {round} op {op}"));
            }
        }
        check(&c, flat.as_slice(), &format!("round {round} end"));
        probe(&c, flat.as_slice(), &mut rng, n, &format!("round {round}"));
    }
}

/// Writing one extent per sector, in a random order, fills many chunks; one hole then clears
/// them all, and the list is empty again (no chunk left behind).
#[test]
fn a_hole_over_everything_empties_every_chunk() {
    let mut rng = Rng(7);
    let mut c = Owned::new(64);
    let mut flat_buf = vec![Extent::default(); 4000];
    let mut flat = ExtentList::new(&mut flat_buf);
    for _ in 0..1000 {
        let s = rng.next() % 1000;
        c.insert(s, s + 1, Some((s * 8, 1)), true).unwrap();
        flat.insert(s, s + 1, Some((s * 8, 1)), true).unwrap();
    }
    check(&c, flat.as_slice(), "filled");
    assert!(c.used > 4, "{} chunks", c.used);
    c.insert(0, 1000, None, false).unwrap();
    assert_eq!((c.used, c.len), (0, 0));
    assert_eq!(c.view().iter().count(), 0);
    assert_eq!(c.view().lookup(5, 10), (None, 10));
    // And it fills again from empty.
    c.insert(10, 20, Some((1, 2)), false).unwrap();
    assert_eq!(c.view().iter().count(), 1);
}

/// With no free slot, an insert that must split a chunk is refused and changes nothing; a
/// hole into an empty list needs no slot at all.
#[test]
fn full_without_a_free_slot_changes_nothing() {
    let mut c = Owned::new(1);
    assert_eq!(c.insert(0, 10, None, false), Ok(()));
    assert_eq!(c.used, 0);
    for i in 0..CHUNK as u64 {
        c.insert(i * 2, i * 2 + 1, Some((i, 0)), false).unwrap();
    }
    assert_eq!((c.used, c.len, c.spare()), (1, CHUNK, 0));
    let before: Vec<Extent> = c.view().iter().copied().collect();
    assert_eq!(c.insert(1, 2, Some((9, 0)), false), Err(Full));
    let after: Vec<Extent> = c.view().iter().copied().collect();
    assert_eq!(before, after);
    // Replacing an extent in place needs no room.
    assert_eq!(c.insert(0, 1, Some((9, 0)), false), Ok(()));
}

/// Punching sectors out one at a time empties chunks one by one, each by a hole that reaches
/// no other chunk: every emptied chunk goes at once.
#[test]
fn a_chunk_emptied_by_its_own_hole_goes() {
    let mut c = Owned::new(32);
    let mut flat_buf = vec![Extent::default(); 1000];
    let mut flat = ExtentList::new(&mut flat_buf);
    for s in 0..300u64 {
        let s = (s * 7) % 300;
        c.insert(s * 2, s * 2 + 1, Some((s, 3)), false).unwrap();
        flat.insert(s * 2, s * 2 + 1, Some((s, 3)), false).unwrap();
    }
    assert!(c.used >= 5, "{} chunks", c.used);
    for s in 0..300u64 {
        c.insert(s * 2, s * 2 + 1, None, false).unwrap();
        flat.insert(s * 2, s * 2 + 1, None, false).unwrap();
        check(&c, flat.as_slice(), &format!("hole {s}"));
    }
    assert_eq!((c.used, c.len), (0, 0));
}

/// Keys inserted in order fill every chunk but the last; retain drops what it refuses and
/// leaves no empty chunk.
#[test]
fn in_order_inserts_fill_chunks_and_retain_filters() {
    let mut c = Owned::new(40);
    for i in 0..(CHUNK as u64 * 10 + 5) {
        c.insert(i * 4, i * 4 + 3, Some((i, (i % 7) as u8)), false)
            .unwrap();
    }
    assert_eq!(c.used, 11, "full chunks");
    let mut flat: Vec<Extent> = c.view().iter().copied().collect();
    let mut l = ChunkedList::from_parts(&mut c.pool, &mut c.order, c.used, c.len);
    let gone = l.retain(&|e| e.gen != 3);
    c.used = l.used();
    c.len = l.len();
    let before = flat.len();
    flat.retain(|e| e.gen != 3);
    assert_eq!(gone, before - flat.len());
    check(&c, &flat, "retain gen 3");
    let cut = 4 * CHUNK as u64 * 9;
    let expect = flat.iter().filter(|e| e.start < cut).count();
    let mut l = ChunkedList::from_parts(&mut c.pool, &mut c.order, c.used, c.len);
    assert_eq!(l.retain(&|e| e.start >= cut), expect);
    c.used = l.used();
    c.len = l.len();
    flat.retain(|e| e.start >= cut);
    assert!(c.used <= 2, "{} chunks left", c.used);
    check(&c, &flat, "retain the tail");
}
