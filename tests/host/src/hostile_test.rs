// SPDX-License-Identifier: GPL-2.0

//! Numbers read from disk at their extremes, with valid checksums: every parser and every
//! pure step that registration runs on them must refuse them with a reason, never overflow.
//! (The host build checks overflow, as the kernel's `CONFIG_RUST_OVERFLOW_CHECKS` does: an
//! overflow here is a panic, which in the kernel is an oops.)

use crate::format::bkey::{Bkey, MAX_INODE, PTR_OFFSET_MAX};
use crate::format::extents::{self, INODE_SHIFT};
use crate::format::geometry::Geometry;
use crate::format::init::FreshLayout;
use crate::format::journal::{next_seq, replay_order, scan_bucket, EntryPos, JournalError};
use crate::format::jset::{JsetHeader, JSET_VERSION};
use crate::format::prio;
use crate::format::superblock::{
    DeviceGeometry, SbError, Superblock, FEATURE_INCOMPAT_LOG_LARGE_BUCKET_SIZE,
    MAX_RUNTIME_BUCKETS, SB_SIZE, VERSION_CDEV_WITH_FEATURES,
};
use crate::superblock_test::valid_cache;

/// A journal bucket holding one valid entry per `(seq, last_seq)`, 512-byte blocks.
fn journal_bucket(magic: u64, entries: &[(u64, u64)]) -> Vec<u8> {
    let mut bucket = vec![0u8; 8192];
    let mut off = 0;
    for &(seq, last_seq) in entries {
        let mut h = JsetHeader {
            csum: 0,
            magic,
            seq,
            version: JSET_VERSION,
            keys: 0,
            last_seq,
            uuid_bucket: Bkey::zero(),
            btree_root: Bkey::zero(),
            btree_level: 0,
            prio_bucket: [0; 8],
        };
        let len = h.write(&mut bucket[off..], &[]).unwrap();
        off += len.div_ceil(512) * 512;
    }
    bucket
}

/// [`replay_order`] on entries with these seqs (all in bucket 0, in order): the live count.
fn check_live_range(seqs: &mut [u64], last_seq: u64, newest: u64) -> Result<u64, JournalError> {
    let mut entries: Vec<EntryPos> = seqs
        .iter()
        .enumerate()
        .map(|(i, &seq)| EntryPos {
            seq,
            bucket: 0,
            offset: i,
        })
        .collect();
    replay_order(&mut entries, last_seq, newest).map(|n| n as u64)
}

/// What registration does with a journal: scan it, then check the newest entry's live range.
fn register_journal(bucket: &[u8], magic: u64) -> Result<u64, JournalError> {
    let mut seqs = Vec::new();
    let mut newest: Option<JsetHeader> = None;
    scan_bucket(bucket, 512, magic, |_, h, _| {
        seqs.push(h.seq);
        if newest.map_or(true, |n| h.seq > n.seq) {
            newest = Some(*h);
        }
    });
    let newest = newest.ok_or(JournalError::Empty)?;
    check_live_range(&mut seqs, newest.last_seq, newest.seq)
}

#[test]
fn journal_newest_seq_of_u64_max_is_refused() {
    // The image: the newest entry has a valid checksum and seq = last_seq = 2^64 - 1.
    let magic = 0x5eed;
    let bucket = journal_bucket(magic, &[(7, 7), (u64::MAX, u64::MAX)]);
    assert_eq!(
        register_journal(&bucket, magic),
        Err(JournalError::SeqExhausted)
    );
    // Also with the whole range present, and with a range spanning all of u64.
    assert_eq!(
        check_live_range(&mut [u64::MAX - 1, u64::MAX], u64::MAX - 1, u64::MAX),
        Err(JournalError::SeqExhausted)
    );
    assert_eq!(
        check_live_range(&mut [0, u64::MAX], 0, u64::MAX),
        Err(JournalError::SeqExhausted)
    );
    // One below is fine: an entry can still follow it.
    let bucket = journal_bucket(
        magic,
        &[(u64::MAX - 2, u64::MAX - 2), (u64::MAX - 1, u64::MAX - 2)],
    );
    assert_eq!(register_journal(&bucket, magic), Ok(2));
    assert_eq!(next_seq(u64::MAX - 1), Some(u64::MAX));
    assert_eq!(next_seq(u64::MAX), None);
}

#[test]
fn journal_extreme_ranges_are_refused_with_a_reason() {
    // last_seq after seq.
    let magic = 0x5eed;
    let bucket = journal_bucket(magic, &[(5, u64::MAX)]);
    assert_eq!(
        register_journal(&bucket, magic),
        Err(JournalError::BadLastSeq)
    );
    // A live range of almost 2^64 entries: missing, not counted.
    assert_eq!(
        check_live_range(&mut [0, u64::MAX - 1], 0, u64::MAX - 1),
        Err(JournalError::Missing {
            from: 1,
            to: u64::MAX - 2
        })
    );
}

#[test]
fn prio_entry_index_overflow_is_refused() {
    let mut buf = vec![0u8; 4096];
    assert_eq!(prio::entry(&buf, usize::MAX), None);
    assert_eq!(prio::entry(&buf, usize::MAX / 3), None);
    assert_eq!(prio::set_entry(&mut buf, usize::MAX, 1, 2), None);
    let last = prio::entries_per_bucket(buf.len()) - 1;
    assert_eq!(prio::set_entry(&mut buf, last, 1, 2), Some(()));
    assert_eq!(prio::entry(&buf, last), Some((1, 2)));
    assert_eq!(prio::entry(&buf, last + 1), None);
}

#[test]
fn prio_seq_of_u64_max_cannot_advance() {
    assert_eq!(prio::next_seq(u64::MAX), None);
    assert_eq!(prio::next_seq(u64::MAX - 1), Some(u64::MAX));
}

#[test]
fn fresh_superblock_seq_of_u64_max_is_refused() {
    let mut sb = valid_cache();
    let g = Geometry::new(&sb);
    let l = FreshLayout::new(&g).unwrap();
    sb.seq = u64::MAX;
    assert_eq!(l.superblock(&sb), None);
    sb.seq = u64::MAX - 1;
    assert_eq!(l.superblock(&sb).map(|s| s.seq), Some(u64::MAX));
}

#[test]
fn geometry_of_a_sub_page_bucket_does_not_divide_by_zero() {
    // Validation refuses such a superblock; the geometry alone must still not panic.
    let mut sb = valid_cache();
    sb.bucket_size = 4;
    let g = Geometry::new(&sb);
    assert_eq!(g.prios_per_bucket, 0);
    assert_eq!(g.prio_buckets, u64::MAX);
    assert_eq!(FreshLayout::new(&g), None);
}

#[test]
fn cache_with_more_buckets_than_u32_is_refused() {
    let geom = |nbuckets: u64| DeviceGeometry {
        sectors: 128 * nbuckets,
        logical_block_size: 512,
    };
    let read = |nbuckets: u64| {
        let mut sb = valid_cache();
        sb.nbuckets = nbuckets;
        let mut raw = vec![0u8; SB_SIZE];
        sb.write(&mut raw).unwrap();
        Superblock::read(&raw, geom(nbuckets))
    };
    assert_eq!(
        read(MAX_RUNTIME_BUCKETS).map(|s| s.nbuckets),
        Ok(u64::from(u32::MAX))
    );
    assert_eq!(
        read(MAX_RUNTIME_BUCKETS + 1),
        Err(SbError::CacheTooBigToRun)
    );
    assert_eq!(read(1 << 40), Err(SbError::CacheTooBigToRun));
}

#[test]
fn cache_bigger_than_43_bit_pointers_is_refused() {
    // Found with the `geometry` fuzz harness (tests/fuzz/corpus/geometry/crash-*): a cache of
    // 8192 buckets of 2^31 sectors on a 2^44-sector device validated, and a fresh set's uuid
    // and root pointers were truncated to 43 bits, naming other buckets than those written.
    let read = |bucket_size: u32, nbuckets: u64| {
        let mut sb = valid_cache();
        sb.version = VERSION_CDEV_WITH_FEATURES;
        sb.feature_incompat = FEATURE_INCOMPAT_LOG_LARGE_BUCKET_SIZE;
        sb.bucket_size = bucket_size;
        sb.nbuckets = nbuckets;
        let mut raw = vec![0u8; SB_SIZE];
        sb.write(&mut raw).unwrap();
        let geom = DeviceGeometry {
            sectors: u64::MAX,
            logical_block_size: 512,
        };
        Superblock::read(&raw, geom)
    };
    assert_eq!(
        read(1 << 30, 1 << 13).map(|s| s.nbuckets),
        Ok(1 << 13),
        "exactly 2^43 sectors"
    );
    assert_eq!(
        read(1 << 30, (1 << 13) + 1),
        Err(SbError::CacheTooBigToAddress)
    );
    assert_eq!(read(1 << 31, 8192), Err(SbError::CacheTooBigToAddress));
    assert_eq!(
        read(128, MAX_RUNTIME_BUCKETS).map(|s| s.nbuckets),
        Ok(MAX_RUNTIME_BUCKETS)
    );
    // Every pointer a fresh set writes on the largest cache names its bucket.
    let sb = read(1 << 30, 1 << 13).unwrap();
    let g = Geometry::new(&sb);
    let l = FreshLayout::new(&g).unwrap();
    assert_eq!(g.bucket_of(l.uuid_key(&g).ptr_offset(0)), l.uuid_bucket);
    assert_eq!(g.bucket_of(l.root_key(&g).ptr_offset(0)), l.root_bucket);
    assert!((g.nbuckets * g.bucket_size - 1) <= PTR_OFFSET_MAX);
}

#[test]
fn bkey_with_size_past_its_offset_has_no_start() {
    let k = Bkey::new(1, 5, 10);
    assert_eq!(k.start(), None);
    assert_eq!(k.start_pos(), None);
    let mut c = k;
    assert_eq!(c.cut_front(&Bkey::new(1, 3, 0)), None);
    assert_eq!(c.cut_back(&Bkey::new(1, 3, 0)), None);
    assert_eq!(c, k);
    assert_eq!(Bkey::new(1, 10, 10).start(), Some(0));
}

#[test]
fn bkey_cut_front_refuses_a_pointer_past_43_bits() {
    // Valid shape, but its pointer runs past the largest cache sector a pointer holds: the
    // trimmed pointer must not wrap to a low sector (which would read some other data).
    let mut k = Bkey::new(1, 100, 50);
    k.set_ptrs(1);
    k.ptr[0] = Bkey::make_ptr(3, PTR_OFFSET_MAX - 10, 0);
    let before = k;
    assert_eq!(k.cut_front(&Bkey::new(1, 80, 0)), None);
    assert_eq!(k, before);
    // In range, it moves as before.
    k.ptr[0] = Bkey::make_ptr(3, 1000, 0);
    assert_eq!(k.cut_front(&Bkey::new(1, 80, 0)), Some(true));
    assert_eq!((k.start(), k.ptr_offset(0)), (Some(80), 1030));
}

#[test]
fn extent_positions_never_alias_another_inode() {
    // The end of the last inode's last sector, and an inode past 20 bits, do not fit.
    assert_eq!(extents::key(MAX_INODE, 1 << INODE_SHIFT), None);
    assert_eq!(extents::key(1 << (64 - INODE_SHIFT), 0), None);
    assert_eq!(extents::key(u64::MAX, 0), None);
    assert_eq!(
        extents::key(MAX_INODE, (1 << INODE_SHIFT) - 1),
        Some(u64::MAX)
    );
    assert_eq!(extents::key(2, 1 << INODE_SHIFT), Some(3 << INODE_SHIFT));
}
