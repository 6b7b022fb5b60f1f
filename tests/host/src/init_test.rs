// SPDX-License-Identifier: GPL-2.0

//! A freshly initialised set, assembled in memory from `format::init`, must read back through
//! the same decoders and checks as a cache written by the C module.

use crate::c_fixture_test::{decode, Decoded};
use crate::format::geometry::{Geometry, SetMagic};
use crate::format::init::FreshLayout;
use crate::format::superblock::{DeviceGeometry, Superblock, SB_SIZE};
use crate::superblock_test::valid_cache;

/// A make-bcache `-b 64k -C` image of 64 MiB: the superblock only.
fn fresh_image() -> (Vec<u8>, Superblock) {
    let mut img = vec![0u8; 64 << 20];
    let sb = Superblock {
        uuid: [0x5a; 16],
        set_uuid: [
            0xe3, 0x9d, 0x59, 0x1e, 0xd4, 0x93, 0x43, 0xd7, 0xa3, 0xdf, 0x98, 0x37, 0x81, 0x7a,
            0xd1, 0xcd,
        ],
        block_size: 1,
        ..valid_cache()
    };
    sb.write(&mut img[4096..8192]).unwrap();
    (img, sb)
}

#[test]
fn fresh_set_reads_back() {
    let (mut img, sb) = fresh_image();
    let g = Geometry::new(&sb);
    let magic = SetMagic::new(&sb.set_uuid);
    let l = FreshLayout::new(&g).unwrap();
    assert_eq!((l.journal_first, l.journal_buckets), (1, 8));
    assert_eq!((l.prio_first, l.uuid_bucket, l.root_bucket), (9, 10, 11));
    let bucket = |b: u64| (b * g.bucket_size * 512) as usize;
    let meta = g.meta_bucket_bytes() as usize;

    for i in 0..l.prio_buckets {
        let at = bucket(l.prio_first + i);
        l.prio_bucket(&g, &magic, i, &mut img[at..at + meta])
            .unwrap();
    }
    // The uuid table stays all zero: no devices.
    let at = bucket(l.root_bucket);
    l.root_node(
        &g,
        &magic,
        0x1234_5678,
        &mut img[at..at + (g.btree_sectors() * 512) as usize],
    )
    .unwrap();
    let at = bucket(l.journal_first);
    l.journal_entry(&g, &magic, &mut img[at..at + 4096])
        .unwrap();
    let new_sb = l.superblock(&sb).unwrap();
    new_sb.write(&mut img[4096..4096 + SB_SIZE]).unwrap();

    let back = Superblock::read(
        &img[4096..8192],
        DeviceGeometry {
            sectors: 131072,
            logical_block_size: 512,
        },
    )
    .unwrap();
    assert!(back.is_synchronous());
    assert_eq!((back.version, back.seq, back.njournal_buckets), (3, 1, 8));

    let Decoded {
        newest,
        live,
        keys,
        flash_volumes,
        ..
    } = decode(&img);
    assert_eq!((newest.seq, newest.last_seq, live), (1, 1, 1));
    assert_eq!(newest.btree_level, 0);
    assert!(keys.is_empty(), "an empty root");
    assert_eq!(flash_volumes, 0);
    // A zero seq is refused for the root.
    assert!(l.root_node(&g, &magic, 0, &mut vec![0u8; 65536]).is_none());
}

#[test]
fn layout_fits_the_smallest_and_large_caches() {
    for (bucket, n) in [
        (8u32, 513u64),
        (128, 1024),
        (1024, 2_097_152),
        (4096, 524_288),
    ] {
        let (_, mut sb) = fresh_image();
        sb.bucket_size = bucket;
        sb.nbuckets = n;
        let g = Geometry::new(&sb);
        let l = FreshLayout::new(&g).unwrap();
        assert!(l.root_bucket < n);
        assert!(l.is_metadata(l.journal_first) && l.is_metadata(l.root_bucket));
        assert!(!l.is_metadata(l.root_bucket + 1));
    }
}
