// SPDX-License-Identifier: GPL-2.0

//! Cache geometry and the quantities bcache derives from the superblock, and the per-set magic
//! numbers of its metadata structures.
//!
//! Pure code: no `kernel::` dependency, tested on the host.

use super::superblock::Superblock;

/// Page size the on-disk sizes are computed with (x86-64).
pub(crate) const PAGE_SIZE: u64 = 4096;
/// Sectors in a page.
pub(crate) const PAGE_SECTORS: u64 = PAGE_SIZE / 512;
/// `MAX_ORDER_NR_PAGES` with the default `MAX_PAGE_ORDER` of 10.
const MAX_ORDER_NR_PAGES: u64 = 1 << 10;
/// Largest btree node in pages (256 KiB).
const BTREE_MAX_PAGES: u64 = 256 * 1024 / PAGE_SIZE;
/// Bytes of one uuid entry.
pub(crate) const UUID_ENTRY_BYTES: u64 = 128;
/// Bytes of the prio_set header.
pub(crate) const PRIO_SET_HEADER: u64 = 40;
/// Bytes of one packed prio entry.
pub(crate) const PRIO_ENTRY_BYTES: u64 = 3;

const JSET_MAGIC: u64 = 0x2452_35c1_a362_5032;
const PSET_MAGIC: u64 = 0x6750_e15f_8733_7f91;
const BSET_MAGIC: u64 = 0x9013_5c78_b99e_07f5;

/// The derived geometry of a cache (6.12, 4 KiB pages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    /// Bucket size in sectors.
    pub(crate) bucket_size: u64,
    /// Number of buckets.
    pub(crate) nbuckets: u64,
    /// First usable bucket.
    pub(crate) first_bucket: u64,
    /// Block size in sectors.
    pub(crate) block_size: u64,
    /// Pages of a metadata bucket IO (`meta_bucket_pages`).
    pub(crate) meta_bucket_pages: u64,
    /// Pages of a btree node (`btree_pages`).
    pub(crate) btree_pages: u64,
    /// Entries of the uuid table (`nr_uuids`).
    pub(crate) nr_uuids: u64,
    /// Prio entries per prio bucket.
    pub(crate) prios_per_bucket: u64,
    /// Prio buckets in one chain.
    pub(crate) prio_buckets: u64,
}

impl Geometry {
    /// The bucket holding sector `sector` (`u64::MAX` for a geometry without buckets).
    pub(crate) fn bucket_of(&self, sector: u64) -> u64 {
        sector.checked_div(self.bucket_size).unwrap_or(u64::MAX)
    }

    /// Derives the geometry from a validated cache superblock.
    ///
    /// Validation guarantees at least a page per bucket; on a superblock without it the
    /// geometry holds no prio entries and `u64::MAX` prio buckets (which nothing can lay
    /// out), rather than dividing by zero.
    pub(crate) fn new(sb: &Superblock) -> Self {
        let bucket_size = u64::from(sb.bucket_size);
        let meta_bucket_pages = (bucket_size / PAGE_SECTORS)
            .min(32768 / PAGE_SECTORS)
            .min(MAX_ORDER_NR_PAGES);
        let btree_pages = if meta_bucket_pages > BTREE_MAX_PAGES {
            (meta_bucket_pages / 4).max(BTREE_MAX_PAGES)
        } else {
            meta_bucket_pages
        };
        let meta_bytes = meta_bucket_pages * PAGE_SIZE;
        let prios_per_bucket = meta_bytes.saturating_sub(PRIO_SET_HEADER) / PRIO_ENTRY_BYTES;
        let prio_buckets = if prios_per_bucket == 0 {
            u64::MAX
        } else {
            sb.nbuckets.div_ceil(prios_per_bucket)
        };
        Geometry {
            bucket_size,
            nbuckets: sb.nbuckets,
            first_bucket: u64::from(sb.first_bucket),
            block_size: u64::from(sb.block_size),
            meta_bucket_pages,
            btree_pages,
            nr_uuids: meta_bytes / UUID_ENTRY_BYTES,
            prios_per_bucket,
            prio_buckets,
        }
    }

    /// Bytes of a metadata bucket IO (`meta_bucket_bytes`).
    pub(crate) fn meta_bucket_bytes(&self) -> u64 {
        self.meta_bucket_pages * PAGE_SIZE
    }

    /// Sectors of a btree node (its key's size).
    pub(crate) fn btree_sectors(&self) -> u64 {
        self.btree_pages * PAGE_SECTORS
    }

    /// Journal buckets a fresh cache gets: `clamp(nbuckets >> 7, 2, 256)`.
    pub(crate) fn fresh_journal_buckets(&self) -> u64 {
        (self.nbuckets >> 7).clamp(2, 256)
    }

    /// `sectors_to_gc` re-arm value: 1/16 of the cache.
    pub(crate) fn gc_sectors(&self) -> u64 {
        self.bucket_size.saturating_mul(self.nbuckets) / 16
    }

    /// Size of the `RESERVE_MOVINGGC` and `RESERVE_NONE` free fifos:
    /// `roundup_pow_of_two(nbuckets) >> 10`, then rounded to (power of two) - 1 when above 4.
    pub(crate) fn free_fifo_size(&self) -> u64 {
        fifo_size(self.nbuckets.next_power_of_two() >> 10)
    }

    /// Size of the `RESERVE_BTREE` fifo: the journal bucket count (or 8), rounded as fifos are.
    pub(crate) fn btree_reserve_size(&self, njournal: u64) -> u64 {
        fifo_size(if njournal == 0 { 8 } else { njournal })
    }

    /// Size of the `free_inc` fifo, the batch one prio write makes durable: 6.12's (four times
    /// the free size before rounding), or 1/64 of the cache up to 64 buckets if that is more.
    ///
    /// Each refill writes all prio buckets whole, so on a small cache 6.12's batch (4 buckets
    /// for 1024) spends a quarter of the data written on prio writes. A batch of 1/64 of the
    /// cache holds a little more of it invalidated ahead of use, and writes a quarter as many
    /// prios; on large caches 6.12's batch is already bigger.
    pub(crate) fn free_inc_size(&self) -> u64 {
        let upstream = (self.nbuckets.next_power_of_two() >> 10) * 4;
        fifo_size(upstream.max((self.nbuckets / 64).min(64)))
    }
}

/// `init_fifo` sizing: a size above 4 becomes (next power of two) - 1, so that the ring, which
/// keeps one slot unused, fills a power-of-two allocation.
fn fifo_size(n: u64) -> u64 {
    if n > 4 {
        n.next_power_of_two() - 1
    } else {
        n
    }
}

/// The per-set magic numbers of journal entries, prio sets and bsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SetMagic {
    /// First 8 bytes of the set UUID, little endian.
    pub(crate) set: u64,
}

impl SetMagic {
    /// Derives the magics from a set UUID.
    pub(crate) fn new(set_uuid: &[u8; 16]) -> Self {
        let mut b = [0u8; 8];
        b.copy_from_slice(&set_uuid[..8]);
        SetMagic {
            set: u64::from_le_bytes(b),
        }
    }

    /// `jset_magic`.
    pub(crate) fn jset(&self) -> u64 {
        self.set ^ JSET_MAGIC
    }

    /// `pset_magic`.
    pub(crate) fn pset(&self) -> u64 {
        self.set ^ PSET_MAGIC
    }

    /// `bset_magic`.
    pub(crate) fn bset(&self) -> u64 {
        self.set ^ BSET_MAGIC
    }
}
