// SPDX-License-Identifier: GPL-2.0

//! bcache's btree keys (`struct bkey`): bit layout, pointers, ordering and validity.
//!
//! A key is two words, `high` and `low`, followed by `KEY_PTRS` pointer words. All units are
//! 512-byte sectors. `low` is the extent's END (exclusive); its start is `offset - size`.
//!
//! `high`: inode (bits 0..19), size (20..35), dirty (36), csum type (56..57), number of pointers
//! (60..62), and bit 63, which bcache's key initialisers set and readers ignore.
//! Pointer: gen (0..7), cache sector (8..50), device (51..62).
//!
//! Pure code: no `kernel::` dependency, tested on the host.

use core::cmp::Ordering;

/// Most pointers a key can carry.
pub(crate) const MAX_PTRS: usize = 7;
/// Largest inode (uuid slot) number.
pub(crate) const MAX_INODE: u64 = (1 << 20) - 1;
/// Largest extent size in sectors.
pub(crate) const MAX_SIZE: u64 = (1 << 16) - 1;
/// Pointer device of a "check key" placeholder.
pub(crate) const PTR_CHECK_DEV: u64 = 0xfff;
/// Most caches in a set: pointers to devices at or above this are unavailable.
pub(crate) const MAX_CACHES_PER_SET: u64 = 8;
/// Largest cache sector a pointer holds (43 bits).
pub(crate) const PTR_OFFSET_MAX: u64 = (1 << 43) - 1;

const RELIC: u64 = 1 << 63;

impl PartialEq for Bkey {
    fn eq(&self, other: &Self) -> bool {
        self.high == other.high
            && self.low == other.low
            && self.ptr[..self.ptrs()] == other.ptr[..other.ptrs()]
    }
}

impl Eq for Bkey {}

fn bits(word: u64, shift: u32, width: u32) -> u64 {
    (word >> shift) & ((1u64 << width) - 1)
}

fn set_bits(word: u64, shift: u32, width: u32, v: u64) -> u64 {
    let mask = ((1u64 << width) - 1) << shift;
    (word & !mask) | ((v << shift) & mask)
}

/// A btree key with up to [`MAX_PTRS`] pointers.
///
/// Equality compares the two key words and the pointers in use; unused pointer slots are
/// ignored.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Bkey {
    /// Inode, size, dirty, csum, pointer count.
    pub(crate) high: u64,
    /// End offset of the extent (or upper bound of a child node).
    pub(crate) low: u64,
    /// Pointer words; only the first [`Bkey::ptrs`] are meaningful.
    pub(crate) ptr: [u64; MAX_PTRS],
}

impl Bkey {
    /// A key for `inode` ending at `offset`, `size` sectors long, with no pointers (`KEY()`).
    pub(crate) fn new(inode: u64, offset: u64, size: u64) -> Self {
        let mut k = Bkey {
            high: RELIC,
            low: offset,
            ptr: [0; MAX_PTRS],
        };
        k.set_inode(inode);
        k.set_size(size);
        k
    }

    /// `ZERO_KEY`.
    pub(crate) fn zero() -> Self {
        Self::new(0, 0, 0)
    }

    /// `MAX_KEY`: the largest position, used for the root's upper bound.
    pub(crate) fn max() -> Self {
        Self::new(MAX_INODE, i64::MAX as u64, 0)
    }

    /// The inode (uuid slot).
    pub(crate) fn inode(&self) -> u64 {
        bits(self.high, 0, 20)
    }

    /// Sets the inode.
    pub(crate) fn set_inode(&mut self, v: u64) {
        self.high = set_bits(self.high, 0, 20, v);
    }

    /// The size in sectors.
    pub(crate) fn size(&self) -> u64 {
        bits(self.high, 20, 16)
    }

    /// Sets the size.
    pub(crate) fn set_size(&mut self, v: u64) {
        self.high = set_bits(self.high, 20, 16, v);
    }

    /// Whether the data is dirty (not yet on the backing device).
    pub(crate) fn dirty(&self) -> bool {
        bits(self.high, 36, 1) != 0
    }

    /// Sets the dirty bit.
    pub(crate) fn set_dirty(&mut self, v: bool) {
        self.high = set_bits(self.high, 36, 1, u64::from(v));
    }

    /// The data-checksum type (a dead feature: expected 0).
    pub(crate) fn csum(&self) -> u64 {
        bits(self.high, 56, 2)
    }

    /// Number of pointers.
    pub(crate) fn ptrs(&self) -> usize {
        bits(self.high, 60, 3) as usize
    }

    /// Sets the number of pointers.
    pub(crate) fn set_ptrs(&mut self, n: usize) {
        self.high = set_bits(self.high, 60, 3, n as u64);
    }

    /// End offset.
    pub(crate) fn offset(&self) -> u64 {
        self.low
    }

    /// Start offset (`KEY_START`), or `None` for an invalid key whose size exceeds its offset
    /// (the C code wraps; [`Bkey::extent_invalid`] refuses such keys).
    pub(crate) fn start(&self) -> Option<u64> {
        self.low.checked_sub(self.size())
    }

    /// Number of u64 words on disk: 2 plus the pointers.
    pub(crate) fn u64s(&self) -> usize {
        2 + self.ptrs()
    }

    /// Compares positions: inode, then end offset (`bkey_cmp`).
    pub(crate) fn cmp_pos(&self, other: &Bkey) -> Ordering {
        self.inode()
            .cmp(&other.inode())
            .then(self.offset().cmp(&other.offset()))
    }

    /// Returns pointer `i`'s generation.
    pub(crate) fn ptr_gen(&self, i: usize) -> u8 {
        bits(self.ptr[i], 0, 8) as u8
    }

    /// Returns pointer `i`'s absolute cache sector.
    pub(crate) fn ptr_offset(&self, i: usize) -> u64 {
        bits(self.ptr[i], 8, 43)
    }

    /// Returns pointer `i`'s device index.
    pub(crate) fn ptr_dev(&self, i: usize) -> u64 {
        bits(self.ptr[i], 51, 12)
    }

    /// Builds a pointer word.
    pub(crate) fn make_ptr(gen: u8, offset: u64, dev: u64) -> u64 {
        set_bits(set_bits(u64::from(gen), 8, 43, offset), 51, 12, dev)
    }

    /// Whether pointer `i` names a device in the set (`ptr_available`).
    pub(crate) fn ptr_available(&self, i: usize) -> bool {
        self.ptr_dev(i) < MAX_CACHES_PER_SET
    }

    /// Decodes a key from `words` (at least [`Bkey::u64s`] of them).
    pub(crate) fn decode(words: &[u64]) -> Option<Self> {
        let high = *words.first()?;
        let low = *words.get(1)?;
        let mut k = Bkey {
            high,
            low,
            ptr: [0; MAX_PTRS],
        };
        let n = k.ptrs();
        k.ptr[..n].copy_from_slice(words.get(2..2 + n)?);
        Some(k)
    }

    /// Appends the key's words to `out`, returning how many were written, or `None` if `out`
    /// is too short.
    pub(crate) fn encode(&self, out: &mut [u64]) -> Option<usize> {
        let n = self.u64s();
        let dst = out.get_mut(..n)?;
        dst[0] = self.high;
        dst[1] = self.low;
        dst[2..].copy_from_slice(&self.ptr[..self.ptrs()]);
        Some(n)
    }

    /// Trims the front so the key starts at position `at` (`bch_cut_front`).
    ///
    /// Pointers advance by the trimmed length, since they name the extent's start. Returns
    /// whether the key changed. At or past the end, the key becomes empty at position `at`.
    /// `None`, with the key unchanged, if the key is invalid: its size exceeds its offset, or a
    /// pointer would advance past the largest cache sector a pointer holds.
    pub(crate) fn cut_front(&mut self, at: &Bkey) -> Option<bool> {
        if at.cmp_pos(&self.start_pos()?) != Ordering::Greater {
            return Some(false);
        }
        let past_end = at.cmp_pos(self) != Ordering::Less;
        let len = if past_end {
            0
        } else {
            // Past the start, so in the same inode; before the end, so below the offset.
            self.offset().checked_sub(at.offset())?
        };
        let trimmed = self.size().checked_sub(len)?;
        let mut ptr = self.ptr;
        for (i, p) in ptr.iter_mut().enumerate().take(self.ptrs()) {
            let off = self
                .ptr_offset(i)
                .checked_add(trimmed)
                .filter(|&o| o <= PTR_OFFSET_MAX)?;
            *p = set_bits(*p, 8, 43, off);
        }
        self.ptr = ptr;
        if past_end {
            self.set_inode(at.inode());
            self.low = at.offset();
        }
        self.set_size(len);
        Some(true)
    }

    /// Trims the back so the key ends at position `at` (`bch_cut_back`); pointers are kept.
    ///
    /// Returns whether the key changed. At or before the start, the key becomes empty at `at`.
    /// `None`, with the key unchanged, if the key is invalid (its size exceeds its offset).
    pub(crate) fn cut_back(&mut self, at: &Bkey) -> Option<bool> {
        let start = self.start_pos()?;
        if at.cmp_pos(self) != Ordering::Less {
            return Some(false);
        }
        // Past the start and before the end: in the same inode, above the start.
        let len = if at.cmp_pos(&start) == Ordering::Greater {
            at.offset().checked_sub(start.offset())?
        } else {
            0
        };
        self.set_inode(at.inode());
        self.low = at.offset();
        self.set_size(len);
        Some(true)
    }

    /// The position of the extent's start (`START_KEY`): same inode, offset = start, no size;
    /// `None` for an invalid key whose size exceeds its offset.
    pub(crate) fn start_pos(&self) -> Option<Bkey> {
        Some(Bkey::new(self.inode(), self.start()?, 0))
    }

    /// `__bch_extent_invalid` without bucket state: the size must be non-zero and not exceed
    /// the offset, and each available pointer must lie inside one bucket of a cache with
    /// `nbuckets` buckets of `bucket_size` sectors, at or after `first_bucket`. A key with no
    /// pointers (a hole) is valid here; readers filter it as "bad" separately.
    pub(crate) fn extent_invalid(
        &self,
        bucket_size: u64,
        nbuckets: u64,
        first_bucket: u64,
    ) -> bool {
        if self.size() == 0 || self.size() > self.offset() {
            return true;
        }
        for i in 0..self.ptrs() {
            if !self.ptr_available(i) {
                continue;
            }
            let off = self.ptr_offset(i);
            let (Some(bucket), Some(within)) =
                (off.checked_div(bucket_size), off.checked_rem(bucket_size))
            else {
                return true;
            };
            if bucket >= nbuckets
                || bucket < first_bucket
                || within.saturating_add(self.size()) > bucket_size
            {
                return true;
            }
        }
        false
    }
}

/// The circular generation comparison `gen_after(a, b)`: how far `a` is ahead of `b`, or 0 if
/// it is behind (more than 128 apart counts as behind).
///
/// Generations are 8 bits and wrap by design (bcache bumps a bucket's generation every time
/// it is reused), so this difference is modular on purpose, exactly as 6.12's `gen_after()`;
/// the allocator keeps every generation on disk within 96 of the bucket's current one
/// ([`super::alloc::BUCKET_GC_GEN_MAX`]), so the comparison never sees a real wrap-around.
pub(crate) fn gen_after(a: u8, b: u8) -> u8 {
    let r = a.wrapping_sub(b);
    if r > 128 {
        0
    } else {
        r
    }
}
