// SPDX-License-Identifier: GPL-2.0

//! GC policy: how live data is counted per bucket, which buckets moving GC empties, and which
//! sparse btree leaves GC merges.
//!
//! Pure code: no `kernel::` dependency, tested on the host against simple models.

use super::alloc::{Bucket, GC_MARK_DIRTY, GC_MARK_RECLAIMABLE};
use super::extents::Extent;

/// GC marking of one live extent: its sectors count in its bucket, dirty or reclaimable.
pub(crate) fn mark_extent(buckets: &mut [Bucket], bucket_size: u64, e: &Extent) {
    let Some(b) = e.ptr.checked_div(bucket_size) else {
        return;
    };
    if let Some(b) = buckets.get_mut(b as usize) {
        let mark = if e.dirty {
            GC_MARK_DIRTY
        } else {
            GC_MARK_RECLAIMABLE
        };
        b.add_sectors(mark, e.end - e.start);
    }
}

/// How many sectors one moving-GC pass may copy: 6.12 allows what the moving-GC reserve holds
/// (`reserve` buckets); rbcache allows eight times that, or half the `empty` buckets if more.
pub(crate) fn moving_limit(bucket_size: u64, reserve: usize, empty: usize) -> u64 {
    bucket_size.saturating_mul((8 * reserve).max(empty / 2) as u64)
}

/// 6.12's moving-GC candidate rule: data buckets (dirty or reclaimable, never metadata) that
/// are partly used and not `busy`, fewest live sectors first, as many as fit in `limit`
/// sectors. `scratch` needs one entry per bucket; returns the chosen bucket numbers, a prefix
/// of `scratch`.
pub(crate) fn moving_candidates<'a>(
    buckets: &[Bucket],
    busy: impl Fn(usize) -> bool,
    bucket_size: u64,
    limit: u64,
    scratch: &'a mut [u32],
) -> &'a [u32] {
    let mut count = 0;
    for (i, b) in buckets.iter().enumerate() {
        let data = b.mark == GC_MARK_DIRTY || b.mark == GC_MARK_RECLAIMABLE;
        let partly = b.sectors > 0 && u64::from(b.sectors) < bucket_size;
        if data && partly && !b.pin && b.writers == 0 && !busy(i) {
            if let Some(s) = scratch.get_mut(count) {
                *s = i as u32;
                count += 1;
            }
        }
    }
    let cands = &mut scratch[..count];
    cands.sort_unstable_by_key(|&i| (buckets[i as usize].sectors, i));
    let mut total = 0u64;
    let mut n = 0;
    for &i in cands.iter() {
        let s = u64::from(buckets[i as usize].sectors);
        if total + s > limit {
            break;
        }
        total += s;
        n += 1;
    }
    &scratch[..n]
}

/// Coalescing sparse leaves, as `btree_gc_coalesce()` does for siblings: walking left to
/// right, a leaf is merged into the group before it while the group's keys stay within 2/3
/// of a node (`cap` keys). `merge[i]` is set when leaf `i` joins leaf `i - 1`'s group. At most
/// `budget` merges are made (each needs a bucket from the btree reserve when written).
/// Returns the number of merges.
pub(crate) fn coalesce_plan(
    keys: &[usize],
    cap: usize,
    budget: usize,
    merge: &mut [bool],
) -> usize {
    let limit = cap * 2 / 3;
    let mut merges = 0;
    let mut group = 0usize;
    for (i, &k) in keys.iter().enumerate() {
        let join = i > 0 && merges < budget && group + k <= limit;
        if let Some(m) = merge.get_mut(i) {
            *m = join;
        }
        if join {
            merges += 1;
            group += k;
        } else {
            group = k;
        }
    }
    merges
}
