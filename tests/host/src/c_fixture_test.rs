// SPDX-License-Identifier: GPL-2.0

//! Decodes a cache that the C bcache.ko of Linux 6.12 initialised and wrote.
//!
//! `tests/fixtures/c-bcache-6.12-flash.img.xz` comes from `scripts/mkfixture.sh`: make-bcache
//! formats a 64 MiB cache with 64 KiB buckets; bcache.ko registers it (initialising journal,
//! prios, uuids and root), creates a 16 MiB flash volume, writes 64 4-KiB blocks (block i at
//! 64 KiB * i, every byte i + 1) and two zero blocks at 4 KiB * 3000, and stops the set.
//! Reading it back through rbcache's decoders — superblock, journal, prios, uuids, the root
//! node's bsets and keys — must reproduce the volume exactly (its md5 was taken in the guest).

use crate::format::bkey::{gen_after, Bkey};
use crate::format::bset::{walk_node, Keys};
use crate::format::geometry::{Geometry, SetMagic};
use crate::format::jset::JsetHeader;
use crate::format::prio;
use crate::format::superblock::{DeviceGeometry, Superblock};
use crate::format::uuid::UuidEntry;
use std::process::Command;

const VOLUME_MD5: &str = "4798e1d9f241b2d1d3c1b01f3a613d07";
const VOLUME_SECTORS: usize = 16 << 11;

fn image() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/c-bcache-6.12-flash.img.xz"
    );
    let out = Command::new("xz")
        .arg("-dc")
        .arg(path)
        .output()
        .expect("xz");
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), 64 << 20);
    out.stdout
}

fn bucket<'a>(img: &'a [u8], g: &Geometry, b: u64) -> &'a [u8] {
    let start = (b * g.bucket_size * 512) as usize;
    &img[start..start + (g.bucket_size * 512) as usize]
}

/// What [`decode`] found in a cache image.
pub(crate) struct Decoded {
    /// The superblock.
    pub(crate) sb: Superblock,
    /// Newest journal entry.
    pub(crate) newest: JsetHeader,
    /// Live journal entries.
    pub(crate) live: usize,
    /// Leaf keys: root node bsets in order, then live journal keys in order.
    pub(crate) keys: Vec<Bkey>,
    /// Generation of every bucket.
    pub(crate) gens: Vec<u8>,
    /// Flash volumes in the uuid table, and the size of slot 0.
    pub(crate) flash_volumes: usize,
    /// Sectors of uuid slot 0.
    pub(crate) slot0_sectors: u64,
}

/// The superblock of a cache image, read as rbcache reads it from a device of the image's size
/// with 512-byte logical blocks.
pub(crate) fn image_superblock(img: &[u8]) -> Superblock {
    Superblock::read(
        &img[4096..8192],
        DeviceGeometry {
            sectors: (img.len() / 512) as u64,
            logical_block_size: 512,
        },
    )
    .expect("superblock")
}

/// Decodes a single-leaf cache image with rbcache's decoders, asserting every check passes.
pub(crate) fn decode(img: &[u8]) -> Decoded {
    let sb = image_superblock(img);
    assert!(sb.is_synchronous());
    let g = Geometry::new(&sb);
    assert_eq!(u64::from(sb.njournal_buckets), g.fresh_journal_buckets());
    let magic = SetMagic::new(&sb.set_uuid);
    let block_bytes = usize::from(sb.block_size) * 512;

    // Journal: every entry in every journal bucket, entries block aligned.
    let mut entries: Vec<(JsetHeader, Vec<u8>)> = Vec::new();
    for j in 0..u64::from(sb.njournal_buckets) {
        let data = bucket(&img, &g, u64::from(sb.first_bucket) + j);
        let mut off = 0;
        while off < data.len() {
            match JsetHeader::read(&data[off..], magic.jset()) {
                Ok((h, keys)) => {
                    off += h.bytes().div_ceil(block_bytes) * block_bytes;
                    entries.push((h, keys.to_vec()));
                }
                Err(_) => break,
            }
        }
    }
    assert!(!entries.is_empty(), "journal entries found");
    entries.sort_by_key(|(h, _)| h.seq);
    entries.dedup_by_key(|(h, _)| h.seq);
    let newest = entries.last().unwrap().0;
    let live: Vec<_> = entries
        .iter()
        .filter(|(h, _)| h.seq >= newest.last_seq)
        .collect();
    for w in live.windows(2) {
        assert_eq!(
            w[1].0.seq,
            w[0].0.seq + 1,
            "journal contiguous from last_seq"
        );
    }

    // Prios and gens: one chain bucket for 1024 buckets.
    let pb = newest.prio_bucket[0];
    let praw = &bucket(&img, &g, pb)[..g.meta_bucket_bytes() as usize];
    prio::read_header(praw, magic.pset()).expect("prio bucket");
    let gens: Vec<u8> = (0..sb.nbuckets as usize)
        .map(|i| prio::entry(praw, i).unwrap().1)
        .collect();

    // The uuid table.
    let ub = newest.uuid_bucket;
    assert_eq!(ub.ptrs(), 1);
    let uraw = &img[(ub.ptr_offset(0) * 512) as usize..][..g.meta_bucket_bytes() as usize];
    let slots: Vec<UuidEntry> = uraw
        .chunks(128)
        .map(|c| UuidEntry::decode(c).unwrap())
        .collect();
    let flash_volumes = slots
        .iter()
        .filter(|e| e.is_flash_only() && !e.is_empty())
        .count();

    // The root: a leaf holding every extent (the C module flushed it at stop).
    let root = newest.btree_root;
    assert_eq!(newest.btree_level, 0);
    assert_eq!(root.size(), g.btree_sectors());
    assert_eq!(root.cmp_pos(&Bkey::max()), std::cmp::Ordering::Equal);
    let node = &img[(root.ptr_offset(0) * 512) as usize..][..(g.btree_sectors() * 512) as usize];
    let mut keys = Vec::new();
    walk_node(node, block_bytes, magic.bset(), root.ptr[0], |s| {
        for k in Keys::new(s.keys) {
            keys.push(k?);
        }
        Ok(())
    })
    .expect("root node reads");
    // Then journal keys newer than the node, in order (replay).
    for (_, raw) in &live {
        keys.extend(Keys::new(raw).map(|k| k.unwrap()));
    }
    for k in &keys {
        assert!(!k.extent_invalid(g.bucket_size, sb.nbuckets, u64::from(sb.first_bucket)));
    }
    Decoded {
        newest,
        live: live.len(),
        keys,
        gens,
        flash_volumes,
        slot0_sectors: slots[0].sectors,
        sb,
    }
}

#[test]
fn c_module_cache_reads_back_exactly() {
    let img = image();
    let Decoded {
        sb,
        keys,
        gens,
        flash_volumes,
        slot0_sectors,
        ..
    } = decode(&img);
    assert!(sb.version >= 3, "version raised on first write");
    assert!(sb.seq > 0);
    let g = Geometry::new(&sb);
    assert_eq!(flash_volumes, 1);
    assert_eq!(slot0_sectors as usize, VOLUME_SECTORS);

    // Newest key wins per sector; stale or unavailable pointers read as holes.
    let mut map: Vec<Option<u64>> = vec![None; VOLUME_SECTORS];
    let mut extents = 0;
    for k in &keys {
        assert_eq!(k.inode(), 0);
        let live_ptr = k.ptrs() > 0
            && k.ptr_available(0)
            && gen_after(
                gens[(k.ptr_offset(0) / g.bucket_size) as usize],
                k.ptr_gen(0),
            ) == 0;
        extents += usize::from(live_ptr);
        let start = k.start().unwrap();
        for s in start..k.offset() {
            map[s as usize] = live_ptr.then(|| k.ptr_offset(0) + s - start);
        }
    }
    assert!(extents >= 65, "{extents} extents");
    let mut volume = vec![0u8; VOLUME_SECTORS * 512];
    for (s, p) in map.iter().enumerate() {
        if let Some(p) = p {
            volume[s * 512..(s + 1) * 512].copy_from_slice(&img[*p as usize * 512..][..512]);
        }
    }
    for i in 0..64usize {
        let blk = &volume[i * 65536..i * 65536 + 4096];
        assert!(blk.iter().all(|&b| b == (i + 1) as u8), "block {i}");
    }
    let tmp = std::env::temp_dir().join(format!("rbcache-volume-{}", std::process::id()));
    std::fs::write(&tmp, &volume).unwrap();
    let md5 = Command::new("md5sum").arg(&tmp).output().unwrap();
    std::fs::remove_file(&tmp).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&md5.stdout)
            .split_whitespace()
            .next(),
        Some(VOLUME_MD5)
    );
}
