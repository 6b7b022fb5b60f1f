// SPDX-License-Identifier: GPL-2.0

//! Decodes a cache image written by `tests/vm/mkbigset.py` (the generator of the big-set VM
//! fixture) with rbcache's decoders, and walks all of it.
//!
//! The generator encodes the formats in Python from the C sources, independently of
//! `src/format`; this test checks the two agree on a small image before the VM trusts a big
//! one: superblock, journal (contiguous from `last_seq`, every entry naming the same root, uuid
//! and prio buckets), the prio chain, the uuid table, and the btree from the root down (every
//! node's bset checksum, pointer generations equal to the prio gens, interior keys bounding
//! their children, leaf extents sorted, valid, dirty and non-overlapping with each other and
//! with the journal's keys). The volume rebuilt from the keys must have the md5 the generator
//! printed (and so must each 64 MiB region of it), and every extent's sectors carry their own
//! volume sector and the seed.

use crate::c_fixture_test::image_superblock;
use crate::format::bkey::{gen_after, Bkey};
use crate::format::bset::{walk_node, Keys};
use crate::format::geometry::{Geometry, SetMagic};
use crate::format::jset::JsetHeader;
use crate::format::prio;
use crate::format::uuid::UuidEntry;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::process::{Command, Stdio};

/// One generator run and what its image must show.
struct Params {
    n: usize,
    seed: u64,
    journal_keys: usize,
    /// More arguments for the generator.
    args: &'static [&'static str],
    /// The least btree root level.
    min_level: u16,
    /// The least number of 64 MiB regions of the volume.
    min_regions: usize,
    /// The least number of journal entries.
    min_entries: usize,
}

/// The default shape with fanout 3 and small leaves: a btree of depth 3.
const DEEP: Params = Params {
    n: 20_000,
    seed: 11,
    journal_keys: 2_500,
    args: &["--fanout", "3", "--leaf-keys", "1000", "2000"],
    min_level: 2,
    min_regions: 2,
    min_entries: 3,
};

/// `tests/gens.sh`'s set: 513 buckets, every generation 255.
const HIGH_GENS: Params = Params {
    n: 64,
    seed: 7,
    journal_keys: 16,
    args: &[
        "--nbuckets",
        "513",
        "--gen-base",
        "255",
        "--gen-spread",
        "1",
        "--leaf-keys",
        "10",
        "40",
    ],
    min_level: 1,
    min_regions: 1,
    min_entries: 1,
};

/// Runs the generator and returns the image and its `key value` info lines.
fn generate(p: &Params) -> (Vec<u8>, BTreeMap<String, String>) {
    let dir =
        std::env::temp_dir().join(format!("rbcache-bigset-{}-{}", std::process::id(), p.seed));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("cache.img");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../vm/mkbigset.py");
    let st = Command::new("python3")
        .arg(script)
        .args([&p.n.to_string(), &p.seed.to_string()])
        .arg(&out)
        .args(p.args)
        .args(["--journal-keys", &p.journal_keys.to_string()])
        .stdout(Stdio::null())
        .status()
        .expect("python3");
    assert!(st.success(), "mkbigset.py failed");
    let img = std::fs::read(&out).unwrap();
    let info = std::fs::read_to_string(out.with_extension("img.info")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let info = info
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (img, info)
}

struct Walk<'a> {
    img: &'a [u8],
    g: Geometry,
    magic: SetMagic,
    gens: Vec<u8>,
    nodes: HashSet<u64>,
    leaves: usize,
    extents: Vec<Bkey>,
}

impl Walk<'_> {
    fn bucket_gen(&self, sector: u64) -> u8 {
        self.gens[(sector / self.g.bucket_size) as usize]
    }

    /// Walks the node `key` at `level`, whose keys must lie in (`lower`, `key`].
    fn node(&mut self, key: &Bkey, level: u16, lower: &Bkey) {
        assert_eq!(key.ptrs(), 1);
        assert!(!key.dirty());
        assert_eq!(key.size(), self.g.btree_sectors());
        let sector = key.ptr_offset(0);
        assert_eq!(sector % self.g.bucket_size, 0, "node at a bucket start");
        assert_eq!(key.ptr_gen(0), self.bucket_gen(sector), "node pointer gen");
        assert!(
            self.nodes.insert(sector / self.g.bucket_size),
            "node reached twice"
        );
        let raw = &self.img[(sector * 512) as usize..][..(self.g.btree_sectors() * 512) as usize];
        let mut keys = Vec::new();
        let mut bsets = 0;
        walk_node(raw, 512, self.magic.bset(), key.ptr[0], |s| {
            bsets += 1;
            for k in Keys::new(s.keys) {
                keys.push(k?);
            }
            Ok(())
        })
        .expect("node reads");
        assert_eq!(bsets, 1);
        assert!(!keys.is_empty());
        let mut prev = *lower;
        for k in &keys {
            assert_eq!(k.cmp_pos(&prev), std::cmp::Ordering::Greater, "keys sorted");
            assert_ne!(
                k.cmp_pos(key),
                std::cmp::Ordering::Greater,
                "key within parent"
            );
            if level > 0 {
                self.node(k, level - 1, &prev);
            } else {
                assert_eq!(k.inode(), 0);
                if prev.inode() == 0 {
                    assert!(k.start().unwrap() >= prev.offset(), "leaf extents overlap");
                }
                self.extent(k);
            }
            prev = *k;
        }
        if level == 0 {
            self.leaves += 1;
        } else {
            assert_eq!(
                prev.cmp_pos(key),
                std::cmp::Ordering::Equal,
                "last child = parent key"
            );
        }
    }

    fn extent(&mut self, k: &Bkey) {
        assert!(!k.extent_invalid(self.g.bucket_size, self.g.nbuckets, self.g.first_bucket));
        assert_eq!(k.size(), 8);
        assert!(k.dirty(), "flash volume data is dirty");
        assert!(k.ptr_available(0));
        let gen = self.bucket_gen(k.ptr_offset(0));
        assert_eq!(k.ptr_gen(0), gen);
        assert_eq!(gen_after(gen, k.ptr_gen(0)), 0);
        assert_ne!(gen, 0, "data buckets have nonzero gens");
        self.extents.push(*k);
    }
}

#[test]
fn generated_big_set_decodes_and_walks() {
    check_generated(&DEEP);
}

#[test]
fn generated_set_with_high_generations_decodes_and_walks() {
    let (nbuckets, gens) = check_generated(&HIGH_GENS);
    assert_eq!(nbuckets, 513);
    assert!(gens.iter().all(|g| *g == 255), "{gens:?}");
}

/// Decodes and walks a generated set, checking it against the generator's numbers; returns
/// the number of buckets and every bucket's generation.
fn check_generated(p: &Params) -> (u64, Vec<u8>) {
    let (img, info) = generate(p);
    let sb = image_superblock(&img);
    assert!(sb.is_synchronous());
    assert!(!sb.is_bdev());
    assert_eq!((sb.block_size, sb.bucket_size), (1, 1024));
    let g = Geometry::new(&sb);
    assert_eq!(u64::from(sb.njournal_buckets), g.fresh_journal_buckets());
    let magic = SetMagic::new(&sb.set_uuid);
    let bucket =
        |b: u64| &img[(b * g.bucket_size * 512) as usize..][..(g.bucket_size * 512) as usize];

    // Journal.
    let mut entries: Vec<(JsetHeader, Vec<u8>)> = Vec::new();
    for j in 0..u64::from(sb.njournal_buckets) {
        let data = bucket(u64::from(sb.first_bucket) + j);
        let mut off = 0;
        while off < data.len() {
            let Ok((h, keys)) = JsetHeader::read(&data[off..], magic.jset()) else {
                break;
            };
            off += h.bytes().div_ceil(512) * 512;
            entries.push((h, keys.to_vec()));
        }
    }
    entries.sort_by_key(|(h, _)| h.seq);
    let newest = entries.last().expect("journal entries").0;
    assert!(entries.len() >= p.min_entries);
    assert_eq!(entries[0].0.seq, newest.last_seq);
    for w in entries.windows(2) {
        assert_eq!(w[1].0.seq, w[0].0.seq + 1, "journal contiguous");
    }
    for (h, _) in &entries {
        assert_eq!(h.btree_root, newest.btree_root);
        assert_eq!(h.uuid_bucket, newest.uuid_bucket);
        assert_eq!(h.prio_bucket, newest.prio_bucket);
        assert_eq!(h.btree_level, newest.btree_level);
    }
    assert!(
        newest.btree_level >= p.min_level,
        "depth {}",
        newest.btree_level
    );

    // Prio chain: gens of every bucket.
    let mut gens = Vec::new();
    let mut pb = newest.prio_bucket[0];
    while gens.len() < sb.nbuckets as usize {
        let raw = &bucket(pb)[..g.meta_bucket_bytes() as usize];
        let h = prio::read_header(raw, magic.pset()).expect("prio bucket");
        for i in 0..prio::entries_per_bucket(raw.len()) {
            if gens.len() == sb.nbuckets as usize {
                break;
            }
            gens.push(prio::entry(raw, i).unwrap().1);
        }
        pb = h.next_bucket;
    }

    // Uuid table: one flash volume in slot 0.
    let ub = newest.uuid_bucket;
    assert_eq!(ub.ptrs(), 1);
    assert_eq!(
        ub.ptr_gen(0),
        gens[(ub.ptr_offset(0) / g.bucket_size) as usize]
    );
    let uraw = &img[(ub.ptr_offset(0) * 512) as usize..][..g.meta_bucket_bytes() as usize];
    let slots: Vec<UuidEntry> = uraw
        .chunks(128)
        .map(|c| UuidEntry::decode(c).unwrap())
        .collect();
    assert!(slots[0].is_flash_only() && !slots[0].is_empty());
    assert!(slots[1..].iter().all(|e| e.is_empty()));
    let vol_sectors = slots[0].sectors;
    assert_eq!(vol_sectors.to_string(), info["volume_sectors"]);

    // Btree.
    let mut w = Walk {
        img: &img,
        g,
        magic,
        gens: gens.clone(),
        nodes: HashSet::new(),
        leaves: 0,
        extents: Vec::new(),
    };
    let root = newest.btree_root;
    assert_eq!(root.cmp_pos(&Bkey::max()), std::cmp::Ordering::Equal);
    w.node(&root, newest.btree_level, &Bkey::zero());
    assert_eq!(w.nodes.len().to_string(), info["btree_nodes"]);
    assert_eq!(w.leaves.to_string(), info["leaves"]);
    let leaf_keys = w.extents.len();

    // Journal keys: extents of their own.
    for (_, raw) in &entries {
        for k in Keys::new(raw) {
            w.extent(&k.unwrap());
        }
    }
    assert_eq!(w.extents.len() - leaf_keys, p.journal_keys);
    assert_eq!(w.extents.len(), p.n);

    // The volume from the keys, whole and by region, to the generator's md5s.
    let mut ext = w.extents;
    ext.sort_by_key(|k| k.offset());
    let mut volume = vec![0u8; (vol_sectors * 512) as usize];
    let mut at = 0u64;
    let mut data_sectors = HashSet::new();
    for k in &ext {
        let start = k.start().unwrap();
        assert!(start >= at, "extents overlap");
        for s in 0..k.size() {
            let cs = k.ptr_offset(0) + s;
            assert!(
                data_sectors.insert(cs),
                "two extents share cache sector {cs}"
            );
            let d = &img[(cs * 512) as usize..][..512];
            let want: Vec<u8> = [(start + s).to_le_bytes(), p.seed.to_le_bytes()].concat();
            assert!(
                d.chunks(16).all(|c| c == want),
                "stamp of volume sector {}",
                start + s
            );
            volume[((start + s) * 512) as usize..][..512].copy_from_slice(d);
        }
        at = k.offset();
    }
    assert!(at <= vol_sectors);
    assert_eq!(md5(&volume), info["md5"]);
    let region = info["region_mb"].parse::<usize>().unwrap() << 20;
    let chunks: Vec<&[u8]> = volume.chunks(region).collect();
    assert!(chunks.len() >= p.min_regions);
    for (r, c) in chunks.iter().enumerate() {
        assert_eq!(md5(c), info[&format!("region_md5_{r}")], "region {r}");
    }
    assert!(!info.contains_key(&format!("region_md5_{}", chunks.len())));
    (sb.nbuckets, gens)
}

fn md5(data: &[u8]) -> String {
    let mut p = Command::new("md5sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    p.stdin.take().unwrap().write_all(data).unwrap();
    let out = p.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}
