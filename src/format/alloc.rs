// SPDX-License-Identifier: GPL-2.0

//! Bucket allocation policy, as in bcache 6.12's `alloc.c`: the state GC and the allocator keep
//! per bucket, the free fifos per reserve, and the order in which buckets are invalidated.
//!
//! - A bucket can be invalidated when GC found no metadata and no dirty data in it, nothing has
//!   it pinned (open, on a free list, or written to by a write not yet in the index), and its
//!   generation can still be bumped without any key
//!   on disk seeing it wrap: `gen - last_gc < 96`.
//! - Invalidation bumps the generation in memory; the bucket is handed out only after a prio
//!   write has made the new generation durable (the caller's job).
//! - Freed buckets go to the `PRIO` fifo first, then `BTREE`, `MOVINGGC`, `NONE` in order
//!   (`bch_allocator_push()`); an allocation for a reserve takes from `NONE` first, then from
//!   its own fifo (`bch_bucket_alloc()`), so plain data writes can never drain a reserve.
//!
//! Pure code: no `kernel::` dependency, tested on the host.

use core::ops::DerefMut;

use super::init::INITIAL_PRIO;

/// GC mark: no live data counted.
pub(crate) const GC_MARK_NONE: u8 = 0;
/// GC mark: clean cached data only (can be invalidated).
pub(crate) const GC_MARK_RECLAIMABLE: u8 = 1;
/// GC mark: dirty data (cannot be invalidated).
pub(crate) const GC_MARK_DIRTY: u8 = 2;
/// GC mark: metadata (journal, prios, uuids, btree nodes).
pub(crate) const GC_MARK_METADATA: u8 = 3;

/// `BUCKET_GC_GEN_MAX`: how far a generation may run ahead of the oldest key pointing at it.
pub(crate) const BUCKET_GC_GEN_MAX: u8 = 96;

/// Largest sector count a bucket's mark holds (`GC_SECTORS_USED` is 16 bits).
pub(crate) const MAX_SECTORS_USED: u16 = u16::MAX;

/// What the allocator and GC know about one bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Bucket {
    /// Current generation (durable once a prio write has covered it).
    pub(crate) gen: u8,
    /// Replacement priority.
    pub(crate) prio: u16,
    /// Oldest generation a key on disk may still carry for this bucket.
    pub(crate) last_gc: u8,
    /// GC mark (`GC_MARK_*`).
    pub(crate) mark: u8,
    /// Live sectors, saturating.
    pub(crate) sectors: u16,
    /// In use by the allocator: open for writes, or on a free list.
    pub(crate) pin: bool,
    /// Writes whose data is going into the bucket but whose keys are not in the index yet.
    pub(crate) writers: u16,
}

impl Bucket {
    /// `bucket_gc_gen()`: generations since the oldest key that may point here.
    ///
    /// Generations are 8-bit counters that wrap by design, as in 6.12: this difference is
    /// modular on purpose, and [`BUCKET_GC_GEN_MAX`] keeps it far from a wrap-around.
    pub(crate) fn gc_gen(&self) -> u8 {
        self.gen.wrapping_sub(self.last_gc)
    }

    /// `bch_can_invalidate_bucket()`.
    pub(crate) fn can_invalidate(&self) -> bool {
        !self.pin
            && self.writers == 0
            && (self.mark == GC_MARK_NONE || self.mark == GC_MARK_RECLAIMABLE)
            && self.gc_gen() < BUCKET_GC_GEN_MAX
    }

    /// `__bch_invalidate_one_bucket()`: bumps the generation and pins the bucket.
    pub(crate) fn invalidate(&mut self) {
        // Modular on purpose: a generation wraps from 255 to 0, as 6.12's `b->gen++` on a
        // `uint8_t` (see [`super::bkey::gen_after`]).
        self.gen = self.gen.wrapping_add(1);
        self.prio = INITIAL_PRIO;
        self.mark = GC_MARK_NONE;
        self.sectors = 0;
        self.pin = true;
    }

    /// Adds `sectors` of live data with mark `mark`, saturating (GC marking).
    pub(crate) fn add_sectors(&mut self, mark: u8, sectors: u64) {
        if self.mark != GC_MARK_METADATA {
            self.mark = self.mark.max(mark);
        }
        let s = u64::from(self.sectors).saturating_add(sectors);
        self.sectors = u16::try_from(s).unwrap_or(MAX_SECTORS_USED);
    }

    /// `bucket_prio()` as the LRU order uses it: lower is invalidated first.
    pub(crate) fn lru_key(&self) -> u64 {
        (u64::from(self.prio) + u64::from(INITIAL_PRIO / 8)) * u64::from(self.sectors)
    }
}

/// A bounded FIFO of bucket numbers in a caller-provided buffer (its length is the capacity).
pub(crate) struct Fifo<B> {
    buf: B,
    front: usize,
    len: usize,
}

impl<B: DerefMut<Target = [u64]>> Fifo<B> {
    /// An empty fifo holding at most `buf.len()` entries.
    pub(crate) fn new(buf: B) -> Self {
        Fifo {
            buf,
            front: 0,
            len: 0,
        }
    }

    /// Capacity.
    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether full.
    pub(crate) fn is_full(&self) -> bool {
        self.len == self.buf.len()
    }

    /// Appends `v`; `false` if full.
    pub(crate) fn push(&mut self, v: u64) -> bool {
        let cap = self.buf.len();
        if self.len == cap {
            return false;
        }
        let mut at = self.front + self.len;
        if at >= cap {
            at -= cap;
        }
        self.buf[at] = v;
        self.len += 1;
        true
    }

    /// Takes the oldest entry.
    pub(crate) fn pop(&mut self) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        let v = self.buf[self.front];
        self.front += 1;
        if self.front == self.buf.len() {
            self.front = 0;
        }
        self.len -= 1;
        Some(v)
    }

    /// Calls `f` on every entry, oldest first.
    pub(crate) fn for_each(&self, mut f: impl FnMut(u64)) {
        let cap = self.buf.len();
        for i in 0..self.len {
            let mut at = self.front + i;
            if at >= cap {
                at -= cap;
            }
            f(self.buf[at]);
        }
    }
}

/// The allocation reserves, in `bch_allocator_push()` order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reserve {
    /// Btree nodes.
    Btree = 0,
    /// Prio and gen buckets.
    Prio = 1,
    /// Moving GC's destination buckets.
    MovingGc = 2,
    /// Everything else (new data, uuid tables).
    None = 3,
}

/// Number of reserves.
pub(crate) const RESERVE_NR: usize = 4;

/// The free fifos, one per reserve.
pub(crate) struct FreeLists<B> {
    /// Indexed by [`Reserve`].
    pub(crate) fifos: [Fifo<B>; RESERVE_NR],
}

impl<B: DerefMut<Target = [u64]>> FreeLists<B> {
    /// `bch_allocator_push()`: the prio reserve first, then every fifo in order; `false` if all
    /// are full.
    pub(crate) fn push(&mut self, bucket: u64) -> bool {
        if self.fifos[Reserve::Prio as usize].push(bucket) {
            return true;
        }
        self.fifos.iter_mut().any(|f| f.push(bucket))
    }

    /// `bch_bucket_alloc()`'s fast path: from `NONE` first, then from `reserve`'s own fifo.
    pub(crate) fn pop(&mut self, reserve: Reserve) -> Option<u64> {
        self.fifos[Reserve::None as usize]
            .pop()
            .or_else(|| self.fifos[reserve as usize].pop())
    }

    /// Buckets that an allocation for `reserve` could take.
    pub(crate) fn available(&self, reserve: Reserve) -> usize {
        let none = self.fifos[Reserve::None as usize].len();
        if reserve == Reserve::None {
            none
        } else {
            none + self.fifos[reserve as usize].len()
        }
    }

    /// Whether every fifo is full.
    pub(crate) fn all_full(&self) -> bool {
        self.fifos.iter().all(|f| f.is_full())
    }

    /// Free buckets held in all fifos.
    pub(crate) fn total(&self) -> usize {
        self.fifos.iter().map(|f| f.len()).sum()
    }
}

/// The superblock's replacement policy (`CACHE_REPLACEMENT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Policy {
    /// Least recently used: lowest `prio * sectors` first.
    Lru = 0,
    /// Round robin over the buckets.
    Fifo = 1,
    /// Random probes.
    Random = 2,
}

impl Policy {
    /// From the superblock field (0 lru, 1 fifo, 2 random; anything else is lru).
    pub(crate) fn from_sb(v: u64) -> Self {
        match v {
            1 => Policy::Fifo,
            2 => Policy::Random,
            _ => Policy::Lru,
        }
    }

    /// All policies, in superblock order.
    pub(crate) const ALL: [Policy; 3] = [Policy::Lru, Policy::Fifo, Policy::Random];

    /// The policy a sysfs write names (`lru`, `fifo`, `random`, a trailing newline allowed).
    pub(crate) fn from_name(s: &[u8]) -> Option<Self> {
        let s = s.strip_suffix(b"\n").unwrap_or(s);
        Self::ALL.into_iter().find(|p| p.name().as_bytes() == s)
    }

    /// The sysfs name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Policy::Lru => "lru",
            Policy::Fifo => "fifo",
            Policy::Random => "random",
        }
    }
}

/// The invalidation order and the state [`pick`] advances between calls.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PickState {
    /// The replacement policy.
    pub(crate) policy: Policy,
    /// First bucket that holds data (`first_bucket`).
    pub(crate) first: u64,
    /// `fifo_last_bucket`.
    pub(crate) cursor: u64,
}

/// `invalidate_buckets()`: chooses up to `want` buckets from `state.first` on to invalidate in
/// the order of `state.policy`, invalidates them in memory and hands each to `take`. `scratch`
/// (at least `buckets.len()` entries) is LRU's sort space; `rand` feeds the random policy.
///
/// Returns the number taken. Fewer than `want` means nothing more could be invalidated:
/// the caller sets `invalidate_needs_gc` and wakes GC.
pub(crate) fn pick(
    state: &mut PickState,
    buckets: &mut [Bucket],
    want: usize,
    scratch: &mut [u32],
    rand: &mut dyn FnMut() -> u64,
    take: &mut dyn FnMut(u64),
) -> usize {
    let n = buckets.len() as u64;
    let first = state.first;
    if first >= n || want == 0 {
        return 0;
    }
    let span = n - first;
    let mut taken = 0;
    match state.policy {
        Policy::Lru => {
            let mut count = 0;
            for (i, b) in buckets.iter().enumerate().skip(first as usize) {
                if b.can_invalidate() && count < scratch.len() {
                    scratch[count] = i as u32;
                    count += 1;
                }
            }
            let cands = &mut scratch[..count];
            cands.sort_unstable_by_key(|&i| (buckets[i as usize].lru_key(), i));
            for &i in cands.iter().take(want) {
                buckets[i as usize].invalidate();
                take(u64::from(i));
                taken += 1;
            }
        }
        Policy::Fifo => {
            let mut checked = 0;
            while taken < want && checked < n {
                if state.cursor < first || state.cursor >= n {
                    state.cursor = first;
                }
                let b = state.cursor;
                state.cursor += 1;
                checked += 1;
                if buckets[b as usize].can_invalidate() {
                    buckets[b as usize].invalidate();
                    take(b);
                    taken += 1;
                }
            }
        }
        Policy::Random => {
            // 6.12 gives up after nbuckets / 2 probes; a final sweep makes "nothing taken" mean
            // that nothing could be, so GC is not woken while buckets are still available.
            let mut checked = 0;
            while taken < want && checked < n / 2 {
                let b = first + rand().checked_rem(span).unwrap_or(0);
                checked += 1;
                if buckets[b as usize].can_invalidate() {
                    buckets[b as usize].invalidate();
                    take(b);
                    taken += 1;
                }
            }
            for b in first..n {
                if taken >= want {
                    break;
                }
                if buckets[b as usize].can_invalidate() {
                    buckets[b as usize].invalidate();
                    take(b);
                    taken += 1;
                }
            }
        }
    }
    taken
}

/// How a run of `keys` keys of `key_u64s` words each is laid out in nodes of `node_u64s` key
/// words: one node if the keys fill at most 4/5 of it, else nodes filled to about 3/5 each, as
/// `btree_split()` does. Returns `(nodes, keys per node except possibly the last)`.
pub(crate) fn split_plan(keys: usize, key_u64s: usize, node_u64s: usize) -> (usize, usize) {
    let key_u64s = key_u64s.max(1);
    if keys * key_u64s <= node_u64s * 4 / 5 {
        return (1, keys.max(1));
    }
    // (Checked divisions: both divisors are at least 1, but objtool must see no panic path.)
    let per = (node_u64s * 3 / 5)
        .checked_div(key_u64s)
        .unwrap_or(1)
        .max(1);
    let nodes = (keys + per - 1).checked_div(per).unwrap_or(1).max(1);
    // Spread evenly: no node ends up nearly empty.
    let per = (keys + nodes - 1).checked_div(nodes).unwrap_or(keys).max(1);
    (nodes, per)
}
