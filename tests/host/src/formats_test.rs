// SPDX-License-Identifier: GPL-2.0

//! Unit tests of the cache-set formats: bkey, bset, jset, prio, uuid, geometry.

use crate::format::bkey::{gen_after, Bkey};
use crate::format::bset::{self, walk_node, BsetHeader, Keys, NodeError};
use crate::format::geometry::{Geometry, SetMagic};
use crate::format::jset::{JsetError, JsetHeader, JSET_VERSION};
use crate::format::prio::{self, PrioError, PrioHeader};
use crate::format::superblock::Superblock;
use crate::format::uuid::{
    convert_v0, volume_sectors_ok, UuidEntry, INVALID_UUID, UUID_FLASH_ONLY, VOLUME_SECTORS_MAX,
};
use crate::superblock_test::valid_cache;

fn rng(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn bkey_reference_encodings() {
    let m = Bkey::max();
    assert_eq!(
        (m.high, m.low),
        (0x8000_0000_000F_FFFF, 0x7FFF_FFFF_FFFF_FFFF)
    );
    let mut k = Bkey::new(1, 2064, 8);
    k.set_dirty(true);
    k.set_ptrs(1);
    k.ptr[0] = Bkey::make_ptr(3, 1024, 0);
    assert_eq!(k.high, 0x9000_0010_0080_0001);
    assert_eq!(k.low, 0x810);
    assert_eq!(k.ptr[0], 0x0000_0000_0004_0003);
    assert_eq!(
        (k.inode(), k.size(), k.start(), k.ptrs()),
        (1, 8, Some(2056), 1)
    );
    assert_eq!((k.ptr_gen(0), k.ptr_offset(0), k.ptr_dev(0)), (3, 1024, 0));
    assert!(k.dirty() && k.ptr_available(0));
    let mut w = [0u64; 9];
    assert_eq!(k.encode(&mut w), Some(3));
    assert_eq!(Bkey::decode(&w[..3]), Some(k));
    assert_eq!(Bkey::decode(&w[..2]), None);
}

#[test]
fn bkey_ordering_and_gens() {
    assert!(Bkey::new(0, 100, 0).cmp_pos(&Bkey::new(1, 1, 0)).is_lt());
    assert!(Bkey::new(2, 100, 0).cmp_pos(&Bkey::new(2, 99, 8)).is_gt());
    assert_eq!(gen_after(5, 3), 2);
    assert_eq!(gen_after(3, 5), 0);
    assert_eq!(gen_after(1, 255), 2);
    assert_eq!(gen_after(200, 50), 0); // 150 apart: behind
}

/// Cuts checked against a model of the sectors each key covers and where they live.
#[test]
fn bkey_cuts_match_a_sector_model() {
    let mut seed = 0x1234_5678_9abc_def1u64;
    for _ in 0..5000 {
        let start = rng(&mut seed) % 1000;
        let size = 1 + rng(&mut seed) % 200;
        let base = 4096 + rng(&mut seed) % 10000;
        let mut k = Bkey::new(3, start + size, size);
        k.set_ptrs(1);
        k.ptr[0] = Bkey::make_ptr(7, base, 0);
        let model: Vec<(u64, u64)> = (start..start + size)
            .map(|s| (s, base + s - start))
            .collect();
        let at = rng(&mut seed) % 1400;

        let mut f = k;
        assert!(f.cut_front(&Bkey::new(3, at, 0)).is_some());
        let want: Vec<_> = model.iter().filter(|(s, _)| *s >= at).copied().collect();
        let fs = f.start().unwrap();
        let got: Vec<_> = (fs..f.offset())
            .map(|s| (s, f.ptr_offset(0) + s - fs))
            .collect();
        assert_eq!(got, want, "cut_front {k:?} at {at}");

        let mut b = k;
        assert!(b.cut_back(&Bkey::new(3, at, 0)).is_some());
        let want: Vec<_> = model.iter().filter(|(s, _)| *s < at).copied().collect();
        let bs = b.start().unwrap();
        let got: Vec<_> = (bs..b.offset())
            .map(|s| (s, b.ptr_offset(0) + s - bs))
            .collect();
        assert_eq!(got, want, "cut_back {k:?} at {at}");
        assert_eq!(b.ptr[0], k.ptr[0]);
    }
}

#[test]
fn bkey_extent_validity() {
    let mut k = Bkey::new(0, 136, 8);
    k.set_ptrs(1);
    k.ptr[0] = Bkey::make_ptr(0, 128, 0);
    assert!(!k.extent_invalid(128, 1024, 1));
    assert!(Bkey::new(0, 8, 0).extent_invalid(128, 1024, 1), "size 0");
    assert!(
        Bkey::new(0, 4, 8).extent_invalid(128, 1024, 1),
        "size > offset"
    );
    assert!(
        !Bkey::new(0, 16, 8).extent_invalid(128, 1024, 1),
        "a hole is valid"
    );
    let mut cross = k;
    cross.ptr[0] = Bkey::make_ptr(0, 128 + 124, 0);
    assert!(cross.extent_invalid(128, 1024, 1), "crosses a bucket");
    let mut sb_bucket = k;
    sb_bucket.ptr[0] = Bkey::make_ptr(0, 8, 0);
    assert!(
        sb_bucket.extent_invalid(128, 1024, 1),
        "before first_bucket"
    );
    let mut past = k;
    past.ptr[0] = Bkey::make_ptr(0, 1024 * 128, 0);
    assert!(past.extent_invalid(128, 1024, 1), "past the end");
    let mut check = k;
    check.ptr[0] = Bkey::make_ptr(0, 1 << 40, 0xfff);
    assert!(!check.ptr_available(0));
    assert!(
        !check.extent_invalid(128, 1024, 1),
        "check keys are not invalid"
    );
}

#[test]
fn magics_match_the_reference() {
    let uuid = [
        0xe3, 0x9d, 0x59, 0x1e, 0xd4, 0x93, 0x43, 0xd7, 0xa3, 0xdf, 0x98, 0x37, 0x81, 0x7a, 0xd1,
        0xcd,
    ];
    let m = SetMagic::new(&uuid);
    assert_eq!(m.set, 0xd743_93d4_1e59_9de3);
    assert_eq!(m.jset(), 0xf311_a615_bd3b_cdd1);
    assert_eq!(m.pset(), 0xb013_728b_996a_e272);
    assert_eq!(m.bset(), 0x4750_cfac_a7c7_9a16);
}

fn sb_with(bucket_size: u32, nbuckets: u64) -> Superblock {
    Superblock {
        bucket_size,
        nbuckets,
        ..valid_cache()
    }
}

#[test]
fn geometry_matches_the_reference_table() {
    // | cache | bucket | nbuckets | node | prio bkts | nr_uuids | free fifo | njournal |
    let cases = [
        (
            1024u32,
            2_097_152u64,
            256 * 1024u64,
            13u64,
            4096u64,
            2047u64,
            256u64,
        ),
        (512, 409_600, 256 * 1024, 5, 2048, 511, 256),
        (4096, 524_288, 512 * 1024, 1, 16384, 511, 256),
    ];
    for (bucket, n, node, prio, uuids, free, nj) in cases {
        let g = Geometry::new(&sb_with(bucket, n));
        assert_eq!(g.btree_sectors() * 512, node, "{bucket} {n}");
        assert_eq!(g.prio_buckets, prio);
        assert_eq!(g.nr_uuids, uuids);
        assert_eq!(g.free_fifo_size(), free);
        assert_eq!(g.fresh_journal_buckets(), nj);
        assert_eq!(g.gc_sectors(), u64::from(bucket) * n / 16);
    }
    // The test cache: 64 KiB buckets, 1024 of them.
    let g = Geometry::new(&sb_with(128, 1024));
    assert_eq!(
        (g.meta_bucket_bytes(), g.btree_pages, g.nr_uuids),
        (65536, 16, 512)
    );
    assert_eq!((g.prios_per_bucket, g.prio_buckets), ((65536 - 40) / 3, 1));
    assert_eq!((g.fresh_journal_buckets(), g.free_fifo_size()), (8, 1));
    assert_eq!(g.btree_reserve_size(8), 7);
    // 16 (1/64 of the cache), rounded as fifos are: 15, against 6.12's 4.
    assert_eq!(g.free_inc_size(), 15);
    // 6.12's size where it is larger, 1/64 capped at 64 where that is.
    assert_eq!(Geometry::new(&sb_with(128, 513)).free_inc_size(), 7);
    assert_eq!(Geometry::new(&sb_with(1024, 524_288)).free_inc_size(), 2047);
    assert_eq!(Geometry::new(&sb_with(128, 16384)).free_inc_size(), 63);
}

fn node_keys(seed: &mut u64, n: usize) -> Vec<Bkey> {
    let mut off = 0;
    (0..n)
        .map(|_| {
            off += 1 + rng(seed) % 64;
            let mut k = Bkey::new(0, off, 1 + rng(seed) % 8);
            k.set_ptrs((rng(seed) % 2) as usize);
            k.ptr[0] = Bkey::make_ptr(rng(seed) as u8, 128 + rng(seed) % 100_000, 0);
            k
        })
        .collect()
}

#[test]
fn bset_write_then_walk_round_trips() {
    let mut seed = 99;
    let magic = 0x1111_2222_3333_4444;
    let ptr0 = Bkey::make_ptr(5, 4096, 0);
    let mut node = vec![0u8; 64 * 1024];
    let a = node_keys(&mut seed, 40);
    let b = node_keys(&mut seed, 7);
    let len_a = bset::write_bset(&mut node, magic, 77, ptr0, &a).unwrap();
    let off_b = len_a.div_ceil(512) * 512;
    bset::write_bset(&mut node[off_b..], magic, 77, ptr0, &b).unwrap();

    let mut got = Vec::new();
    let written = walk_node(&node, 512, magic, ptr0, |s| {
        for k in Keys::new(s.keys) {
            got.push(k?);
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(
        written,
        off_b / 512 + BsetHeader::decode(&node[off_b..]).unwrap().blocks(512)
    );
    assert_eq!(got, [a.clone(), b.clone()].concat());

    // The checksum is seeded by the node pointer: a different pointer fails.
    assert_eq!(
        walk_node(&node, 512, magic, ptr0 ^ 1, |_| Ok(())),
        Err(NodeError::BadChecksum)
    );
    assert_eq!(
        walk_node(&node, 512, magic ^ 1, ptr0, |_| Ok(())),
        Err(NodeError::BadMagic)
    );
    // Every bit flip inside the first bset is caught.
    for byte in 0..len_a {
        for bit in 0..8 {
            let mut bad = node.clone();
            bad[byte] ^= 1 << bit;
            assert!(
                walk_node(&bad, 512, magic, ptr0, |_| Ok(())).is_err(),
                "byte {byte} bit {bit}"
            );
        }
    }
    // A stray block with the node's seq after the last valid bset: "corrupted btree".
    let mut stray = node.clone();
    stray[32768 + 16..32768 + 24].copy_from_slice(&77u64.to_le_bytes());
    assert_eq!(
        walk_node(&stray, 512, magic, ptr0, |_| Ok(())),
        Err(NodeError::Corrupted)
    );
    // A first bset with seq 0 is a bad header.
    let mut zero = vec![0u8; 4096];
    bset::write_bset(&mut zero, magic, 0, ptr0, &a[..1]).unwrap();
    assert_eq!(
        walk_node(&zero, 512, magic, ptr0, |_| Ok(())),
        Err(NodeError::BadHeader)
    );
}

#[test]
fn keys_iterator_flags_truncation() {
    let mut k = Bkey::new(0, 10, 2);
    k.set_ptrs(3);
    let mut w = [0u64; 9];
    let n = k.encode(&mut w).unwrap();
    let bytes: Vec<u8> = w[..n - 1].iter().flat_map(|x| x.to_le_bytes()).collect();
    let r: Vec<_> = Keys::new(&bytes).collect();
    assert_eq!(r, vec![Err(NodeError::BadKey)]);
}

#[test]
fn jset_round_trip_and_checks() {
    let magic = 0xabcd;
    let mut root = Bkey::new(0, i64::MAX as u64, 128);
    root.set_ptrs(1);
    root.ptr[0] = Bkey::make_ptr(1, 640, 0);
    let mut h = JsetHeader {
        csum: 0,
        magic,
        seq: 42,
        version: JSET_VERSION,
        keys: 0,
        last_seq: 40,
        uuid_bucket: root,
        btree_root: root,
        btree_level: 0,
        prio_bucket: [9, 0, 0, 0, 0, 0, 0, 0],
    };
    let mut seed = 5;
    let keys = node_keys(&mut seed, 20);
    let mut packed = Vec::new();
    for k in &keys {
        let mut w = [0u64; 9];
        let n = k.encode(&mut w).unwrap();
        packed.extend(w[..n].iter().flat_map(|x| x.to_le_bytes()));
    }
    let mut buf = vec![0u8; 32768];
    let len = h.write(&mut buf, &packed).unwrap();
    let (got, body) = JsetHeader::read(&buf, magic).unwrap();
    assert_eq!(got, h);
    assert_eq!(len, got.bytes());
    let back: Vec<Bkey> = Keys::new(body).map(|k| k.unwrap()).collect();
    assert_eq!(back, keys);
    assert_eq!(JsetHeader::read(&buf, magic + 1), Err(JsetError::BadMagic));
    assert_eq!(
        JsetHeader::read(&buf[..len - 8], magic),
        Err(JsetError::TooBig)
    );
    for byte in (0..len).filter(|b| !(8..16).contains(b)) {
        let mut bad = buf.clone();
        bad[byte] ^= 0x40;
        assert!(JsetHeader::read(&bad, magic).is_err(), "byte {byte}");
    }
}

#[test]
fn prio_round_trip_and_checks() {
    let magic = 0x5555;
    let mut buf = vec![0u8; 65536];
    let n = prio::entries_per_bucket(buf.len());
    assert_eq!(n, (65536 - 40) / 3);
    for i in 0..n {
        prio::set_entry(&mut buf, i, (i * 7) as u16, (i % 251) as u8).unwrap();
    }
    assert!(prio::set_entry(&mut buf, n, 0, 0).is_none());
    let h = PrioHeader {
        seq: 3,
        version: 0,
        next_bucket: 17,
    };
    prio::write_header(&mut buf, magic, &h).unwrap();
    assert_eq!(prio::read_header(&buf, magic), Ok(h));
    for i in [0, 1, n / 2, n - 1] {
        assert_eq!(
            prio::entry(&buf, i),
            Some(((i * 7) as u16, (i % 251) as u8))
        );
    }
    let mut bad = buf.clone();
    bad[65535] ^= 1; // the checksum covers the whole buffer, even past the entries
    assert_eq!(prio::read_header(&bad, magic), Err(PrioError::BadChecksum));
    assert_eq!(prio::read_header(&buf, magic + 1), Err(PrioError::BadMagic));
}

#[test]
fn uuid_round_trip() {
    let e = UuidEntry {
        uuid: [7; 16],
        label: [b'x'; 32],
        first_reg: 1,
        last_reg: 2,
        invalidated: 0,
        flags: UUID_FLASH_ONLY,
        sectors: 32768,
    };
    let mut raw = [0xffu8; 128];
    e.encode(&mut raw).unwrap();
    assert!(raw[72..].iter().all(|&b| b == 0));
    let d = UuidEntry::decode(&raw).unwrap();
    assert_eq!(d, e);
    assert!(d.is_flash_only() && !d.is_empty() && !d.is_invalid());
    let v0 = UuidEntry::decode(&raw[..64]).unwrap();
    assert_eq!((v0.flags, v0.sectors), (0, 0));
    let inv = UuidEntry {
        uuid: INVALID_UUID,
        ..Default::default()
    };
    assert!(inv.is_invalid());
    assert!(UuidEntry::default().is_empty());
}

/// A v0 table (64-byte entries, written independently of the encoder here) converts in place
/// to the v1 layout: the first len/128 entries keep uuid, label and times, with no flags or
/// size; the conversion of 6.12's `uuid_read()`.
#[test]
fn uuid_v0_table_converts_in_place() {
    let mut buf = vec![0u8; 1024];
    for i in 0..16usize {
        let e = &mut buf[i * 64..(i + 1) * 64];
        e[..16].fill(i as u8 + 1);
        e[16..48].fill(b'a' + i as u8);
        e[48..52].copy_from_slice(&(100 + i as u32).to_le_bytes());
        e[52..56].copy_from_slice(&(200 + i as u32).to_le_bytes());
        e[56..60].copy_from_slice(&(i as u32 % 2).to_le_bytes());
        // v0 padding: whatever was there must not leak into flags or sectors.
        e[60..64].fill(0xff);
    }
    convert_v0(&mut buf);
    for i in 0..8usize {
        let d = UuidEntry::decode(&buf[i * 128..(i + 1) * 128]).unwrap();
        assert_eq!(d.uuid, [i as u8 + 1; 16], "entry {i}");
        assert_eq!(d.label, [b'a' + i as u8; 32]);
        assert_eq!((d.first_reg, d.last_reg), (100 + i as u32, 200 + i as u32));
        assert_eq!(d.invalidated, i as u32 % 2);
        assert_eq!((d.flags, d.sectors), (0, 0));
        assert!(buf[i * 128 + 72..(i + 1) * 128].iter().all(|&b| b == 0));
    }
    // A short tail (less than one v1 entry) is left alone.
    let mut odd = vec![9u8; 100];
    convert_v0(&mut odd);
    assert!(odd.iter().all(|&b| b == 9));
}

/// Entries at seqs `seqs`, each in its own bucket slot (bucket = position in the list).
fn entries(seqs: &[u64]) -> Vec<crate::format::journal::EntryPos> {
    use crate::format::journal::EntryPos;
    seqs.iter()
        .enumerate()
        .map(|(i, &seq)| EntryPos {
            seq,
            bucket: i,
            offset: 512 * i,
        })
        .collect()
}

/// A flash volume starts only with a size a block device can hold: not empty (6.12's
/// `bcache_device_init()` refuses 0 too), and no more bytes than `i64::MAX`.
#[test]
fn volume_sizes() {
    assert_eq!(VOLUME_SECTORS_MAX, (1 << 54) - 1);
    assert!(VOLUME_SECTORS_MAX.checked_mul(512).unwrap() <= i64::MAX as u64);
    assert!(!volume_sectors_ok(0));
    assert!(volume_sectors_ok(1));
    assert!(volume_sectors_ok(32768));
    assert!(volume_sectors_ok(VOLUME_SECTORS_MAX));
    assert!(!volume_sectors_ok(VOLUME_SECTORS_MAX + 1));
    assert!(!volume_sectors_ok(1 << 62));
    assert!(!volume_sectors_ok(u64::MAX));
}

#[test]
fn journal_live_range_checks() {
    use crate::format::journal::{replay_order, JournalError};
    assert_eq!(replay_order(&mut entries(&[5, 3, 4, 6]), 3, 6), Ok(4));
    assert_eq!(
        replay_order(&mut entries(&[1, 2, 9, 3, 4, 4]), 3, 4),
        Ok(2),
        "older and duplicates ignored"
    );
    assert_eq!(replay_order(&mut [], 1, 1), Err(JournalError::Empty));
    assert_eq!(
        replay_order(&mut entries(&[5]), 6, 5),
        Err(JournalError::BadLastSeq)
    );
    assert_eq!(
        replay_order(&mut entries(&[3, 4, 7, 8]), 3, 8),
        Err(JournalError::Missing { from: 5, to: 6 })
    );
    assert_eq!(
        replay_order(&mut entries(&[2, 3]), 1, 3),
        Err(JournalError::Missing { from: 1, to: 1 })
    );
    assert_eq!(
        replay_order(
            &mut entries(&[u64::MAX - 1, u64::MAX]),
            u64::MAX - 1,
            u64::MAX
        ),
        Err(JournalError::SeqExhausted),
        "no overflow at the top of the seq space: a journal that cannot advance is refused"
    );
}

#[test]
fn journal_replay_order_is_by_seq_first_copy_wins() {
    use crate::format::journal::{replay_order, EntryPos};
    // Two buckets used round-robin: bucket 1 holds 7..9 (older, partly dead), bucket 0 the
    // wrap-around 10..11 after stale 4..5; 9 was also found again later in bucket 2.
    let at = |seq, bucket, offset| EntryPos {
        seq,
        bucket,
        offset,
    };
    let mut e = vec![
        at(10, 0, 0),
        at(11, 0, 1024),
        at(4, 0, 2048),
        at(5, 0, 2560),
        at(7, 1, 0),
        at(8, 1, 512),
        at(9, 1, 1536),
        at(9, 2, 0),
    ];
    let live = replay_order(&mut e, 8, 11).unwrap();
    assert_eq!(live, 4);
    assert_eq!(
        e[..live],
        [at(8, 1, 512), at(9, 1, 1536), at(10, 0, 0), at(11, 0, 1024)]
    );
    // The same found in any order gives the same replay.
    let mut rng = crate::rng::Rng(7);
    for _ in 0..50 {
        let mut shuffled = vec![
            at(9, 2, 0),
            at(10, 0, 0),
            at(8, 1, 512),
            at(11, 0, 1024),
            at(9, 1, 1536),
            at(4, 0, 2048),
        ];
        for i in (1..shuffled.len()).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            shuffled.swap(i, j);
        }
        assert_eq!(replay_order(&mut shuffled, 8, 11), Ok(4));
        assert_eq!(
            shuffled[..4],
            [at(8, 1, 512), at(9, 1, 1536), at(10, 0, 0), at(11, 0, 1024)]
        );
    }
}

#[test]
fn journal_scan_skips_a_bad_entry_and_finds_later_ones() {
    use crate::format::journal::scan_bucket;
    let magic = 0x77;
    let mut bucket = vec![0u8; 8192];
    let mut off = 0;
    for seq in 1..=5u64 {
        let mut h = JsetHeader {
            csum: 0,
            magic,
            seq,
            version: JSET_VERSION,
            keys: 0,
            last_seq: 1,
            uuid_bucket: Bkey::zero(),
            btree_root: Bkey::zero(),
            btree_level: 0,
            prio_bucket: [0; 8],
        };
        let payload = vec![0u8; 16 * seq as usize];
        let len = h.write(&mut bucket[off..], &payload).unwrap();
        off += len.div_ceil(512) * 512;
    }
    let mut seqs = Vec::new();
    scan_bucket(&bucket, 512, magic, |_, h, _| seqs.push(h.seq));
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    // Each entry is found at its offset, and reads back from there alone.
    let mut offsets = Vec::new();
    scan_bucket(&bucket, 512, magic, |off, h, _| offsets.push((off, h.seq)));
    for &(off, seq) in &offsets {
        assert_eq!(JsetHeader::read(&bucket[off..], magic).unwrap().0.seq, seq);
    }
    // Corrupt entry 3 (each entry here fits one 512-byte block).
    bucket[2 * 512 + 250] ^= 1;
    let mut seqs = Vec::new();
    scan_bucket(&bucket, 512, magic, |_, h, _| seqs.push(h.seq));
    assert_eq!(seqs, [1, 2, 4, 5]);
}
