// SPDX-License-Identifier: GPL-2.0

//! An extent map with bcache's overlap semantics: the newer key wins; older extents it overlaps
//! are trimmed or split, and a key with no pointer (a discard or bypass "hole") just removes
//! data.
//!
//! The map lives in a caller-provided, fixed-capacity buffer: one insert adds at most two
//! entries net (a split leaves a left and a right part around the new extent), so
//! `2 * keys + 1` entries always suffice.
//!
//! Pure code: no `kernel::` dependency, tested on the host against a sector-map model.

/// One extent of cached data: sectors `start..end` of a device live at `ptr..` on the cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Extent {
    /// First sector.
    pub(crate) start: u64,
    /// End sector (exclusive).
    pub(crate) end: u64,
    /// Cache sector holding `start`.
    pub(crate) ptr: u64,
    /// Generation of the pointer's bucket when the data was written: once the bucket's
    /// generation moves on, the extent is stale (its data may be gone).
    pub(crate) gen: u8,
    /// Dirty (not on the backing device).
    pub(crate) dirty: bool,
}

/// What [`lookup`] finds at a sector holding data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hit {
    /// Cache sector holding the sector looked up.
    pub(crate) ptr: u64,
    /// The extent's generation.
    pub(crate) gen: u8,
    /// The extent is dirty.
    pub(crate) dirty: bool,
}

/// The buffer is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Full;

/// A sorted list of non-overlapping extents in a fixed buffer.
pub(crate) struct ExtentList<'a> {
    buf: &'a mut [Extent],
    len: usize,
}

impl<'a> ExtentList<'a> {
    /// An empty list using `buf` as storage.
    pub(crate) fn new(buf: &'a mut [Extent]) -> Self {
        ExtentList { buf, len: 0 }
    }

    /// The list of the first `len` entries of `buf` (as left by an earlier list).
    pub(crate) fn from_parts(buf: &'a mut [Extent], len: usize) -> Self {
        let len = len.min(buf.len());
        ExtentList { buf, len }
    }

    /// The extents, in order.
    pub(crate) fn as_slice(&self) -> &[Extent] {
        &self.buf[..self.len]
    }

    /// First index whose extent ends after `sector`.
    fn first_ending_after(&self, sector: u64) -> usize {
        self.as_slice().partition_point(|e| e.end <= sector)
    }

    /// Inserts data `start..end` at cache sector and generation `ptr` (or, with `ptr == None`,
    /// removes that range), newer than everything already in the list.
    pub(crate) fn insert(
        &mut self,
        start: u64,
        end: u64,
        ptr: Option<(u64, u8)>,
        dirty: bool,
    ) -> Result<(), Full> {
        if start >= end {
            return Ok(());
        }
        let i = self.first_ending_after(start);
        let mut j = i;
        while j < self.len && self.buf[j].start < end {
            j += 1;
        }
        // What replaces buf[i..j]: a left remainder, the new extent, a right remainder.
        let mut new = [Extent::default(); 3];
        let mut n = 0;
        if i < j && self.buf[i].start < start {
            let mut left = self.buf[i];
            left.end = start;
            new[n] = left;
            n += 1;
        }
        if let Some((ptr, gen)) = ptr {
            new[n] = Extent {
                start,
                end,
                ptr,
                gen,
                dirty,
            };
            n += 1;
        }
        if i < j && self.buf[j - 1].end > end {
            let old = self.buf[j - 1];
            new[n] = Extent {
                start: end,
                end: old.end,
                ptr: old.ptr + (end - old.start),
                gen: old.gen,
                dirty: old.dirty,
            };
            n += 1;
        }
        let removed = j - i;
        let new_len = self.len - removed + n;
        if new_len > self.buf.len() {
            return Err(Full);
        }
        // Move the tail into place, then write the replacements.
        if n != removed {
            self.buf.copy_within(j..self.len, i + n);
        }
        self.buf[i..i + n].copy_from_slice(&new[..n]);
        self.len = new_len;
        Ok(())
    }

    /// Number of extents.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// See [`lookup`].
    pub(crate) fn lookup(&self, sector: u64, max: u64) -> (Option<Hit>, u64) {
        lookup(self.as_slice(), sector, max)
    }
}

/// Where `sector` lives in the sorted, non-overlapping `extents`: `(Some(hit) or None for a
/// hole, sectors until the next boundary)`, the run length capped at `max`.
pub(crate) fn lookup(extents: &[Extent], sector: u64, max: u64) -> (Option<Hit>, u64) {
    let i = extents.partition_point(|e| e.end <= sector);
    match extents.get(i) {
        Some(e) if e.start <= sector => (
            Some(Hit {
                ptr: e.ptr + (sector - e.start),
                gen: e.gen,
                dirty: e.dirty,
            }),
            (e.end - sector).min(max),
        ),
        Some(e) => (None, (e.start - sector).min(max)),
        None => (None, max),
    }
}

/// Whether any of the sorted, non-overlapping `extents` covers a sector of `start..end`.
pub(crate) fn overlaps(extents: &[Extent], start: u64, end: u64) -> bool {
    let i = extents.partition_point(|e| e.end <= start);
    start < end && extents.get(i).is_some_and(|e| e.start < end)
}

/// Whether any of the sorted, non-overlapping `extents` holding a sector of `start..end` is
/// dirty (its data is only in the cache).
pub(crate) fn holds_dirty(extents: &[Extent], start: u64, end: u64) -> bool {
    let i = extents.partition_point(|e| e.end <= start);
    extents
        .get(i..)
        .unwrap_or(&[])
        .iter()
        .take_while(|e| e.start < end)
        .any(|e| e.dirty)
}

/// Sectors addressable per inode in a combined map: `2^44` (8 PiB).
pub(crate) const INODE_SHIFT: u32 = 44;

/// The position of `sector` of `inode` in a map holding several inodes, or `None` if the
/// sector is beyond [`INODE_SHIFT`] bits or the position would not fit in 64 bits (the end of
/// the last inode's last sector, or an inode of more than `64 - INODE_SHIFT` bits): such a
/// position would alias another inode's.
pub(crate) fn key(inode: u64, sector: u64) -> Option<u64> {
    if sector > 1 << INODE_SHIFT || inode >> (64 - INODE_SHIFT) != 0 {
        return None;
    }
    (inode << INODE_SHIFT).checked_add(sector)
}
