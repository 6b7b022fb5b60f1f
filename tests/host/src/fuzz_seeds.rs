// SPDX-License-Identifier: GPL-2.0

//! Seeds for the fuzz corpus, cut from real images: `scripts/fuzz.sh seed` makes the images
//! (make-bcache on sparse files, `tests/vm/mkimages.py`'s superblocks and patched copies of
//! the C-written fixture) and runs this test, ignored otherwise:
//!
//! `FUZZ_SEED_IMAGES=dir FUZZ_SEED_OUT=dir cargo test --offline write_fuzz_seeds -- --ignored`
//!
//! Every `*.img` under the images directory (device size: the `sizes` file beside it, else its
//! length), every `fixture/*.img.xz` and the fixture with each `fixture/*.patch` applied gives
//! seeds in each target's input format (see `fuzz_harness`): its superblock and geometry, and
//! for an initialised cache its journal buckets and entries, keys, prio bucket, uuid table
//! and root node, plus the metadata a fresh set would get on it. Structures are cut short of
//! their zero tails; the length parameter pads them back, so their checksums stay valid.

use crate::format::bkey::Bkey;
use crate::format::bset::{walk_node, write_bset, Keys};
use crate::format::geometry::{Geometry, SetMagic};
use crate::format::init::FreshLayout;
use crate::format::journal::scan_bucket;
use crate::format::jset::{JsetHeader, JSET_HEADER};
use crate::format::superblock::{DeviceGeometry, Superblock, SB_SIZE};
use crate::fuzz_harness::MAX_PAD;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Seeds by target name, each with a file name.
type Seeds = BTreeMap<&'static str, Vec<(String, Vec<u8>)>>;

/// `raw` without its trailing zeros, rounded up to `align` bytes.
fn trim(raw: &[u8], align: usize) -> &[u8] {
    let end = raw.iter().rposition(|&b| b != 0).map_or(0, |e| e + 1);
    &raw[..end.div_ceil(align).saturating_mul(align).min(raw.len())]
}

/// The length parameter that pads a structure back to `len` bytes (exact only for powers of
/// two from 512 to [`MAX_PAD`]).
fn len_param(len: usize) -> u8 {
    (len.clamp(512, MAX_PAD) / 512).trailing_zeros() as u8
}

/// The block-size parameter for `bytes`.
fn block_param(bytes: usize) -> u8 {
    (bytes.clamp(512, 4096) / 512).trailing_zeros() as u8
}

/// The [`crate::fuzz_harness::KeyGeom`] parameters of `g`.
fn key_geom(g: &Geometry) -> Vec<u8> {
    let mut v = vec![g.bucket_size.trailing_zeros() as u8];
    v.extend((g.nbuckets.min(u64::from(u32::MAX)) as u32).to_le_bytes());
    v.extend((g.first_bucket.min(u64::from(u16::MAX)) as u16).to_le_bytes());
    v
}

fn add(seeds: &mut Seeds, target: &'static str, name: &str, data: Vec<u8>) {
    seeds
        .entry(target)
        .or_default()
        .push((name.to_string(), data));
}

/// The geometry target's encoding of a validated cache superblock.
fn geometry_seed(sb: &Superblock, sectors: u64) -> Vec<u8> {
    let mut v = sectors.to_le_bytes().to_vec();
    v.push(0);
    v.push(sb.version as u8);
    v.push(sb.feature_incompat as u8);
    v.extend(sb.bucket_size.to_le_bytes());
    v.extend(sb.nbuckets.to_le_bytes());
    v.extend(sb.block_size.to_le_bytes());
    v.extend(sb.first_bucket.to_le_bytes());
    v.extend(sb.njournal_buckets.to_le_bytes());
    v.extend(sb.nr_in_set.to_le_bytes());
    v.extend(sb.nr_this_dev.to_le_bytes());
    v.extend(sb.flags.to_le_bytes());
    v.extend(sb.seq.to_le_bytes());
    v
}

/// A node's seed for the bset target.
fn node_seed(node: &[u8], bb: usize, level: u8, g: &Geometry, ptr0: u64) -> Vec<u8> {
    let mut v = vec![block_param(bb), level, len_param(node.len())];
    v.extend(key_geom(g));
    v.extend(ptr0.to_le_bytes());
    v.extend(trim(node, bb));
    v
}

/// Packed keys with their geometry: a seed for the bkey and extents targets.
fn keys_seed(keys: &[u8], g: &Geometry) -> Vec<u8> {
    let mut v = key_geom(g);
    v.extend(keys);
    v
}

/// Seeds from one image of a device of `sectors` sectors.
fn seeds_from_image(seeds: &mut Seeds, name: &str, img: &[u8], sectors: u64) {
    let mut sbraw = img.get(4096..8192).unwrap_or(&[]).to_vec();
    sbraw.resize(SB_SIZE, 0);
    let mut v = sectors.to_le_bytes().to_vec();
    v.push(0);
    v.extend(trim(&sbraw, 8));
    add(seeds, "superblock", name, v);

    let geom = DeviceGeometry {
        sectors,
        logical_block_size: 512,
    };
    let Ok(sb) = Superblock::read(&sbraw, geom) else {
        return;
    };
    if sb.is_bdev() {
        return;
    }
    add(seeds, "geometry", name, geometry_seed(&sb, sectors));
    let g = Geometry::new(&sb);
    let magic = SetMagic::new(&sb.set_uuid);
    let bb = usize::from(sb.block_size) * 512;
    let bucket_bytes = (g.bucket_size * 512) as usize;
    let meta = g.meta_bucket_bytes() as usize;
    let node_bytes = (g.btree_sectors() * 512) as usize;

    // What a fresh set would write on this cache.
    if let Some(l) = FreshLayout::new(&g) {
        let mut prio = vec![0u8; meta.min(MAX_PAD)];
        if l.prio_bucket(&g, &magic, 0, &mut prio).is_some() {
            let mut v = vec![len_param(prio.len())];
            v.extend((g.nbuckets as u32).to_le_bytes());
            v.extend((g.first_bucket as u16).to_le_bytes());
            v.extend(7u64.to_le_bytes());
            v.extend(trim(&prio, 8));
            add(seeds, "prio", &format!("{name}-fresh"), v);
        }
        let mut node = vec![0u8; node_bytes.min(MAX_PAD)];
        if l.root_node(&g, &magic, 0x1234_5678, &mut node).is_some() {
            let ptr0 = l.root_key(&g).ptr[0];
            add(
                seeds,
                "bset",
                &format!("{name}-fresh"),
                node_seed(&node, bb, 0, &g, ptr0),
            );
        }
        let mut j = vec![0u8; bb.max(JSET_HEADER)];
        if let Some(len) = l.journal_entry(&g, &magic, &mut j) {
            let mut v = key_geom(&g);
            v.extend(&j[..len]);
            add(seeds, "jset", &format!("{name}-fresh"), v);
            let mut v = vec![block_param(bb), len_param(bucket_bytes)];
            v.extend(key_geom(&g));
            v.extend(trim(&j, bb));
            add(seeds, "journal", &format!("{name}-fresh"), v);
        }
    }
    if !sb.is_synchronous() {
        return;
    }

    // The journal: each bucket, each entry and its keys; the newest entry names the rest.
    let mut newest: Option<JsetHeader> = None;
    for j in 0..u64::from(sb.njournal_buckets) {
        let start = ((g.first_bucket + j) * g.bucket_size * 512) as usize;
        let Some(bucket) = img.get(start..start + bucket_bytes) else {
            continue;
        };
        let t = trim(bucket, bb);
        if t.is_empty() {
            continue;
        }
        let mut v = vec![block_param(bb), len_param(bucket_bytes)];
        v.extend(key_geom(&g));
        v.extend(t);
        add(seeds, "journal", &format!("{name}-jbucket{j}"), v);
        let base = bucket.as_ptr() as usize;
        scan_bucket(bucket, bb, magic.jset(), |_, h, keys| {
            let off = keys.as_ptr() as usize - base - JSET_HEADER;
            let mut v = key_geom(&g);
            v.extend(&bucket[off..off + h.bytes()]);
            add(seeds, "jset", &format!("{name}-jset{}", h.seq), v);
            if !keys.is_empty() {
                add(
                    seeds,
                    "bkey",
                    &format!("{name}-jkeys{}", h.seq),
                    keys_seed(keys, &g),
                );
            }
            if newest.is_none_or(|n| h.seq > n.seq) {
                newest = Some(*h);
            }
        });
    }
    let Some(newest) = newest else {
        return;
    };

    let bucket = newest.prio_bucket[usize::from(sb.nr_this_dev).min(7)];
    let start = (bucket.saturating_mul(g.bucket_size) * 512) as usize;
    if let Some(prio) = img.get(start..start.saturating_add(meta)) {
        let mut v = vec![len_param(meta)];
        v.extend((g.nbuckets as u32).to_le_bytes());
        v.extend((g.first_bucket as u16).to_le_bytes());
        v.extend(newest.seq.to_le_bytes());
        v.extend(trim(prio, 8));
        add(seeds, "prio", name, v);
    }

    let k = &newest.uuid_bucket;
    if k.ptrs() > 0 {
        let start = (k.ptr_offset(0) * 512) as usize;
        if let Some(table) = img.get(start..start.saturating_add(meta)) {
            let mut v = vec![u8::from(newest.version < 1), len_param(meta)];
            v.extend(trim(table, 128));
            add(seeds, "uuid", name, v);
        }
    }

    let root = newest.btree_root;
    if root.ptrs() == 0 {
        return;
    }
    let start = (root.ptr_offset(0) * 512) as usize;
    let Some(node) = img.get(start..start.saturating_add(node_bytes)) else {
        return;
    };
    let level = newest.btree_level.min(1) as u8;
    add(
        seeds,
        "bset",
        name,
        node_seed(node, bb, level, &g, root.ptr[0]),
    );
    let mut keys = Vec::new();
    let _ = walk_node(node, bb, magic.bset(), root.ptr[0], |s| {
        keys.extend_from_slice(s.keys);
        Ok(())
    });
    if !keys.is_empty() {
        add(seeds, "bkey", &format!("{name}-leaf"), keys_seed(&keys, &g));
        add(
            seeds,
            "extents",
            &format!("{name}-leaf"),
            keys_seed(&keys, &g),
        );
    }

    // An interior node over the root leaf: a depth-1 tree's root. Its keys point at the leaf
    // twice (the newer pointer supersedes the older) and hold a freed-node key at position 0.
    let leaf_keys: Vec<Bkey> = Keys::new(&keys).map_while(Result::ok).collect();
    let mut child = root;
    child.set_size(g.btree_sectors());
    let mut half = child;
    half.low = leaf_keys.first().map_or(8, |k| k.offset());
    half.set_inode(leaf_keys.first().map_or(0, |k| k.inode()));
    let mut freed = child;
    freed.low = 0;
    freed.set_inode(0);
    let mut node = vec![0u8; node_bytes.min(MAX_PAD)];
    let ptr0 = Bkey::make_ptr(0, g.first_bucket * g.bucket_size, 0);
    if write_bset(
        &mut node,
        magic.bset(),
        0x0bad_5eed,
        ptr0,
        &[freed, half, child, child],
    )
    .is_some()
    {
        add(
            seeds,
            "bset",
            &format!("{name}-interior"),
            node_seed(&node, bb, 1, &g, ptr0),
        );
    }
}

/// Applies a `fixture/*.patch` ("zero OFFSET LENGTH" / "bytes OFFSET HEX" lines).
fn apply_patch(img: &mut [u8], patch: &str) {
    for line in patch.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["zero", off, len] => {
                let (off, len): (usize, usize) = (off.parse().unwrap(), len.parse().unwrap());
                img[off..off + len].fill(0);
            }
            ["bytes", off, hex] => {
                let off: usize = off.parse().unwrap();
                for (i, c) in hex.as_bytes().chunks(2).enumerate() {
                    let s = std::str::from_utf8(c).unwrap();
                    img[off + i] = u8::from_str_radix(s, 16).unwrap();
                }
            }
            [] => {}
            _ => panic!("bad patch line {line:?}"),
        }
    }
}

fn xz(path: &Path) -> Vec<u8> {
    let out = Command::new("xz")
        .arg("-dc")
        .arg(path)
        .output()
        .expect("xz");
    assert!(out.status.success(), "xz -dc {}", path.display());
    out.stdout
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.to_string_lossy().ends_with(ext));
    v.sort();
    v
}

fn stem(p: &Path, ext: &str) -> String {
    let n = p.file_name().unwrap().to_string_lossy();
    n.strip_suffix(ext).unwrap_or(&n).to_string()
}

#[test]
#[ignore = "run by scripts/fuzz.sh seed"]
fn write_fuzz_seeds() {
    let images = PathBuf::from(std::env::var("FUZZ_SEED_IMAGES").expect("FUZZ_SEED_IMAGES"));
    let out = PathBuf::from(std::env::var("FUZZ_SEED_OUT").expect("FUZZ_SEED_OUT"));
    let mut seeds = Seeds::new();
    let mut dirs = vec![images];
    while let Some(dir) = dirs.pop() {
        dirs.extend(files(&dir, "").into_iter().filter(|p| p.is_dir()));
        let sizes = fs::read_to_string(dir.join("sizes")).unwrap_or_default();
        for img in files(&dir, ".img") {
            let name = stem(&img, ".img");
            let data = fs::read(&img).unwrap();
            let sectors = sizes
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .map_or(data.len() as u64 / 512, |s| {
                    s.trim().parse::<u64>().unwrap() / 512
                });
            seeds_from_image(&mut seeds, &name, &data, sectors);
        }
        for img in files(&dir, ".img.xz") {
            let name = stem(&img, ".img.xz");
            let data = xz(&img);
            let sectors = data.len() as u64 / 512;
            seeds_from_image(&mut seeds, &name, &data, sectors);
            for p in files(&dir, ".patch") {
                let mut patched = data.clone();
                apply_patch(&mut patched, &fs::read_to_string(&p).unwrap());
                let pname = format!("{name}-{}", stem(&p, ".patch"));
                seeds_from_image(&mut seeds, &pname, &patched, sectors);
            }
        }
    }
    for (target, list) in &seeds {
        let dir = out.join(target);
        fs::create_dir_all(&dir).unwrap();
        for (name, data) in list {
            fs::write(dir.join(format!("seed-{name}")), data).unwrap();
        }
        println!("{target}: {} seeds", list.len());
    }
}
