// SPDX-License-Identifier: GPL-2.0

//! Checks the hostile images of `tests/vm/mkhostile.py` (used by `tests/hostile.sh`) with
//! rbcache's format parsers, before the VM trusts them: every mutation keeps the checksums it
//! does not mean to break valid (the newest journal entry, the prio bucket, every btree node
//! reached from the root, the superblock), and the mutations aimed at a parser's own refusal
//! (journal range, prio header, bset `NodeError`) get exactly the reason their case names.

use crate::format::bset::{walk_node, Keys};
use crate::format::geometry::{Geometry, SetMagic};
use crate::format::journal::{replay_order, scan_bucket, EntryPos, JournalError};
use crate::format::jset::JsetHeader;
use crate::format::prio;
use crate::format::superblock::{DeviceGeometry, Superblock};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};

struct Cases {
    base: Vec<u8>,
    size: u64,
    /// `(name, outcome, reason)`.
    cases: Vec<(String, String, String)>,
    patches: BTreeMap<String, Vec<(usize, Vec<u8>)>>,
}

fn generate() -> Cases {
    let dir = std::env::temp_dir().join(format!("rbcache-hostile-{}", std::process::id()));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../vm/mkhostile.py");
    let st = Command::new("python3")
        .arg(script)
        .arg(&dir)
        .stdout(Stdio::null())
        .status()
        .expect("python3");
    assert!(st.success(), "mkhostile.py failed");
    let out = Command::new("xz")
        .arg("-dc")
        .arg(dir.join("base.img.xz"))
        .output()
        .expect("xz");
    assert!(out.status.success());
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    let size = read("size").trim().parse().unwrap();
    let mut cases = Vec::new();
    let mut patches = BTreeMap::new();
    for line in read("cases").lines() {
        let mut it = line.splitn(3, ' ');
        let name = it.next().unwrap().to_string();
        let outcome = it.next().unwrap().to_string();
        let reason = it.next().unwrap_or("").to_string();
        let mut writes = Vec::new();
        for p in read(&format!("{name}.patch")).lines() {
            let f: Vec<&str> = p.split(' ').collect();
            assert_eq!(f[0], "bytes", "{name}: {p}");
            let bytes = (0..f[2].len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&f[2][i..i + 2], 16).unwrap())
                .collect();
            writes.push((f[1].parse().unwrap(), bytes));
        }
        patches.insert(name.clone(), writes);
        cases.push((name, outcome, reason));
    }
    std::fs::remove_dir_all(&dir).unwrap();
    Cases {
        base: out.stdout,
        size,
        cases,
        patches,
    }
}

/// The bucket named in a reason "... bucket N...".
fn bucket_in(reason: &str) -> u64 {
    let rest = &reason[reason.find("bucket ").unwrap() + 7..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn hostile_images_fault_only_what_they_name() {
    let c = generate();
    assert!(c.cases.len() >= 50);
    let sb0 = Superblock::read(
        &c.base[4096..8192],
        DeviceGeometry {
            sectors: c.size / 512,
            logical_block_size: 512,
        },
    )
    .expect("superblock");
    let g = Geometry::new(&sb0);
    let magic = SetMagic::new(&sb0.set_uuid);
    let bb = (g.bucket_size * 512) as usize;
    let node_bytes = (g.btree_sectors() * 512) as usize;

    // Every node's pointer word in the intact tree, by bucket.
    let newest_of = |img: &[u8]| {
        let mut entries = Vec::new();
        let mut newest: Option<JsetHeader> = None;
        for j in 0..usize::from(sb0.njournal_buckets) {
            let b = (u64::from(sb0.first_bucket) + j as u64) as usize;
            scan_bucket(
                &img[b * bb..(b + 1) * bb],
                512,
                magic.jset(),
                |off, h, _| {
                    entries.push(EntryPos {
                        seq: h.seq,
                        bucket: j,
                        offset: off,
                    });
                    if newest.is_none_or(|n| h.seq > n.seq) {
                        newest = Some(*h);
                    }
                },
            );
        }
        (entries, newest)
    };
    let (_, intact) = newest_of(&c.base);
    let intact = intact.expect("journal");
    let mut ptrs = BTreeMap::new();
    let mut stack = vec![(intact.btree_root.ptr[0], intact.btree_level)];
    while let Some((p, level)) = stack.pop() {
        let b = ((p >> 8) & ((1 << 43) - 1)) / g.bucket_size;
        ptrs.insert(b, p);
        if level == 0 {
            continue;
        }
        let node = &c.base[b as usize * bb..][..node_bytes];
        walk_node(node, 512, magic.bset(), p, |s| {
            for k in Keys::new(s.keys) {
                stack.push((k?.ptr[0], level - 1));
            }
            Ok(())
        })
        .expect("intact node");
    }

    for (name, outcome, reason) in &c.cases {
        let mut img = c.base.clone();
        for (off, bytes) in &c.patches[name] {
            img[*off..*off + bytes.len()].copy_from_slice(bytes);
        }
        // The superblock's checksum is always valid.
        let sb = Superblock::read(
            &img[4096..8192],
            DeviceGeometry {
                sectors: c.size / 512,
                logical_block_size: 512,
            },
        )
        .unwrap_or_else(|e| panic!("{name}: superblock refused: {e:?}"));
        if !sb.is_synchronous() {
            continue; // A fresh cache: its metadata is not read.
        }
        // The journal: the newest entry reads (valid checksum) unless the case empties it.
        let (mut entries, newest) = newest_of(&img);
        let Some(newest) = newest else {
            assert_eq!(reason, "No journal entries found", "{name}");
            continue;
        };
        let range = replay_order(&mut entries, newest.last_seq, newest.seq);
        let want = match range {
            Err(JournalError::SeqExhausted) => {
                Some(format!("journal seq {} cannot advance", u64::MAX))
            }
            Err(JournalError::BadLastSeq) => {
                Some("journal last_seq is after the newest entry".to_string())
            }
            Err(JournalError::Missing { from, to }) => {
                Some(format!("journal entries {from}-{to} missing"))
            }
            Err(JournalError::Empty) => Some("No journal entries found".to_string()),
            Ok(_) => None,
        };
        if let Some(w) = want {
            assert_eq!(reason, &w, "{name}");
            continue;
        }
        // The prio bucket: its header reads unless the case breaks it.
        let pb = newest.prio_bucket[0];
        if pb >= g.first_bucket && pb < g.nbuckets {
            let raw = &img[pb as usize * bb..][..g.meta_bucket_bytes() as usize];
            match prio::read_header(raw, magic.pset()) {
                Err(prio::PrioError::BadMagic) => {
                    assert!(reason.starts_with("bad magic reading priorities"), "{name}")
                }
                Err(_) => assert!(reason.starts_with("bad csum reading priorities"), "{name}"),
                Ok(h) if prio::next_seq(h.seq).is_none() => {
                    assert!(reason.starts_with("prio seq"), "{name}")
                }
                Ok(_) => assert!(!reason.contains("priorities"), "{name}"),
            }
        }
        // Every intact node reached: its bsets read, unless the case names its NodeError.
        for (&b, &p) in &ptrs {
            let node = &img[b as usize * bb..][..node_bytes];
            let r = walk_node(node, 512, magic.bset(), p, |s| {
                for k in Keys::new(s.keys) {
                    k?;
                }
                Ok(())
            });
            match r {
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(
                        reason,
                        &format!("btree node at bucket {b}: {}", e.reason()),
                        "{name}"
                    );
                    assert_eq!(bucket_in(reason), b);
                }
            }
        }
        if name.starts_with("n_") && outcome == "refuse" {
            // Checked above: the node named must have failed with that reason.
            let b = bucket_in(reason);
            let node = &img[b as usize * bb..][..node_bytes];
            assert!(
                walk_node(node, 512, magic.bset(), ptrs[&b], |s| {
                    for k in Keys::new(s.keys) {
                        k?;
                    }
                    Ok(())
                })
                .is_err(),
                "{name}: node {b} reads"
            );
        }
    }
}
