// SPDX-License-Identifier: GPL-2.0

//! The metadata of a freshly initialised cache set: where it goes and what it contains.
//!
//! A make-bcache cache has no journal, prios, uuids or btree yet (`CACHE_SYNC` clear). As 6.12
//! does on first registration, rbcache then chooses `clamp(nbuckets >> 7, 2, 256)` journal
//! buckets right after `first_bucket`, writes the prio/gen chain, an empty uuid table and an
//! empty root leaf, then a first journal entry pointing at all three, and only then the
//! superblock with `CACHE_SYNC` set. A crash before that last write leaves `CACHE_SYNC` clear,
//! so the next registration initialises again.
//!
//! Placement after the journal: the prio chain, then the uuid bucket, then the root. (6.12
//! takes these buckets from its allocator; any placement that the pointers describe is
//! equally valid to its reader.) All generations are 0, so every pointer carries gen 0.
//!
//! Pure code: no `kernel::` dependency, tested on the host.

use super::bkey::Bkey;
use super::bset;
use super::geometry::{Geometry, SetMagic};
use super::jset::{JsetHeader, JSET_VERSION};
use super::prio::{self, PrioHeader};
use super::superblock::{Superblock, CACHE_SYNC, VERSION_CDEV_WITH_UUID};

/// Priority of metadata buckets (`BTREE_PRIO`).
pub(crate) const BTREE_PRIO: u16 = 65535;
/// Priority of other buckets at start (`INITIAL_PRIO`).
pub(crate) const INITIAL_PRIO: u16 = 32768;

/// Where a fresh cache set's metadata goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FreshLayout {
    /// First journal bucket (the superblock's `first_bucket`).
    pub(crate) journal_first: u64,
    /// Number of journal buckets.
    pub(crate) journal_buckets: u64,
    /// First prio bucket; the chain is consecutive.
    pub(crate) prio_first: u64,
    /// Length of the prio chain.
    pub(crate) prio_buckets: u64,
    /// The uuid bucket.
    pub(crate) uuid_bucket: u64,
    /// The root node's bucket.
    pub(crate) root_bucket: u64,
}

impl FreshLayout {
    /// Lays out a fresh set on the cache `g`; `None` if it does not fit (it always does on a
    /// cache that passed validation: 513 buckets or more).
    pub(crate) fn new(g: &Geometry) -> Option<Self> {
        let journal_first = g.first_bucket;
        let journal_buckets = g.fresh_journal_buckets();
        let prio_first = journal_first.checked_add(journal_buckets)?;
        let uuid_bucket = prio_first.checked_add(g.prio_buckets)?;
        let root_bucket = uuid_bucket.checked_add(1)?;
        (root_bucket < g.nbuckets).then_some(FreshLayout {
            journal_first,
            journal_buckets,
            prio_first,
            prio_buckets: g.prio_buckets,
            uuid_bucket,
            root_bucket,
        })
    }

    /// Whether `bucket` holds metadata of this layout.
    pub(crate) fn is_metadata(&self, bucket: u64) -> bool {
        (self.journal_first..=self.root_bucket).contains(&bucket)
    }

    /// The uuid bucket's key: one pointer, a metadata bucket's worth of sectors.
    pub(crate) fn uuid_key(&self, g: &Geometry) -> Bkey {
        let mut k = Bkey::new(0, 0, g.meta_bucket_bytes() / 512);
        k.set_ptrs(1);
        k.ptr[0] = Bkey::make_ptr(0, self.uuid_bucket * g.bucket_size, 0);
        k
    }

    /// The root's key: position `MAX_KEY`, a node's worth of sectors, one pointer.
    pub(crate) fn root_key(&self, g: &Geometry) -> Bkey {
        let mut k = Bkey::max();
        k.set_size(g.btree_sectors());
        k.set_ptrs(1);
        k.ptr[0] = Bkey::make_ptr(0, self.root_bucket * g.bucket_size, 0);
        k
    }

    /// Fills prio bucket `i` of the chain (a zeroed metadata-bucket buffer) for a fresh set.
    pub(crate) fn prio_bucket(
        &self,
        g: &Geometry,
        magic: &SetMagic,
        i: u64,
        buf: &mut [u8],
    ) -> Option<()> {
        let per = prio::entries_per_bucket(buf.len()) as u64;
        let first = i * per;
        let count = per.min(g.nbuckets.saturating_sub(first));
        for j in 0..count {
            let b = first + j;
            let p = if self.is_metadata(b) {
                BTREE_PRIO
            } else {
                INITIAL_PRIO
            };
            prio::set_entry(buf, j as usize, p, 0)?;
        }
        let next = if i + 1 < self.prio_buckets {
            self.prio_first + i + 1
        } else {
            0
        };
        prio::write_header(
            buf,
            magic.pset(),
            &PrioHeader {
                seq: 1,
                version: 0,
                next_bucket: next,
            },
        )
    }

    /// Fills the root node (a zeroed node buffer) with one empty bset of sequence `seq`
    /// (random, non-zero).
    pub(crate) fn root_node(
        &self,
        g: &Geometry,
        magic: &SetMagic,
        seq: u64,
        buf: &mut [u8],
    ) -> Option<usize> {
        if seq == 0 {
            return None;
        }
        bset::write_bset(buf, magic.bset(), seq, self.root_key(g).ptr[0], &[])
    }

    /// Fills the first journal entry (a zeroed buffer of at least one block); returns its
    /// length in bytes.
    pub(crate) fn journal_entry(
        &self,
        g: &Geometry,
        magic: &SetMagic,
        buf: &mut [u8],
    ) -> Option<usize> {
        let mut prio_bucket = [0u64; 8];
        prio_bucket[0] = self.prio_first;
        let mut h = JsetHeader {
            csum: 0,
            magic: magic.jset(),
            seq: 1,
            version: JSET_VERSION,
            keys: 0,
            last_seq: 1,
            uuid_bucket: self.uuid_key(g),
            btree_root: self.root_key(g),
            btree_level: 0,
            prio_bucket,
        };
        h.write(buf, &[])
    }

    /// The superblock of the initialised set: journal buckets recorded, `CACHE_SYNC` set,
    /// version at least 3 and seq bumped, as `bcache_write_super()` does.
    ///
    /// `None` if `sb`'s seq (read from disk) is `u64::MAX`: 6.12 would wrap it to 0; rbcache
    /// refuses the cache instead (no device is rewritten 2^64 times, so the seq is corrupt).
    pub(crate) fn superblock(&self, sb: &Superblock) -> Option<Superblock> {
        let mut s = sb.clone();
        s.njournal_buckets = u16::try_from(self.journal_buckets).ok()?;
        s.flags |= CACHE_SYNC;
        s.version = s.version.max(VERSION_CDEV_WITH_UUID);
        s.seq = s.seq.checked_add(1)?;
        Some(s)
    }
}
