// SPDX-License-Identifier: GPL-2.0

//! Writing the btree from the index, as bcache 6.12 lays it out on disk.
//!
//! The index ([`crate::index`]) is partitioned into leaves by key position. An insert
//! marks the leaves it touches dirty; their keys stay in the journal until journal reclaim
//! calls [`SetIo::flush_tree`], which:
//!
//! 1. writes every dirty leaf, and every leaf still in a node another implementation wrote,
//!    copy-on-write to a fresh bucket from the btree reserve (one
//!    version-1 bset, keys cut at the leaf's bounds), split into nodes about 3/5 full when its
//!    keys would fill more than 4/5 of one (6.12's `btree_split()` rule);
//! 2. writes the interior levels above the leaves (pointer keys at each child's upper bound,
//!    the last at `MAX_KEY`), growing the root as the number of leaves needs;
//! 3. journals the new root with `last_seq` set to that entry, so replay starts there and
//!    every other journal bucket is free;
//! 4. only then frees the buckets of the nodes it replaced.
//!
//! A crash anywhere before step 3 leaves the old tree and the journal intact. A bucket's
//! `last_gc` (the oldest generation a key on disk may hold for it) is advanced only by btree GC
//! ([`crate::gc_work`]), which drops stale keys and flushes before it publishes it.

use core::sync::atomic::Ordering;
use kernel::prelude::*;

use crate::failure::Meta;
use crate::format::alloc::{split_plan, Reserve};
use crate::format::bkey::Bkey;
use crate::format::bset::{write_bset, BSET_HEADER};
use crate::format::chunked::ChunkedRef;
use crate::format::extents::INODE_SHIFT;
use crate::index::{Leaf, LeafKeys, Node};
use crate::kabi::bio::WriteKind;
use crate::kabi::random::random_u64;
use crate::set_io::{IoState, Patch, SetIo};

/// Words of one pointer key (a data extent or a child node: one pointer each).
const KEY_U64S: usize = 3;

/// The bkey position of index position `pos` (`u64::MAX` is `MAX_KEY`).
fn key_at(pos: u64, size: u64) -> Bkey {
    if pos == u64::MAX {
        let mut k = Bkey::max();
        k.set_size(size);
        k
    } else {
        Bkey::new(pos >> INODE_SHIFT, pos & ((1 << INODE_SHIFT) - 1), size)
    }
}

/// What a flush produced, committed only after its journal entry is durable.
struct NewTree {
    /// The new leaves; unchanged ones are placeholders for the old leaf named in `origin`.
    leaves: KVVec<Leaf>,
    /// For each new leaf: the old leaf it comes from, and whether it is that leaf unchanged.
    origin: KVVec<(usize, bool)>,
    interior: KVVec<u64>,
    replaced: KVVec<u64>,
    root: Bkey,
    level: u16,
    root_keys: usize,
}

impl SetIo {
    /// Writes the dirty leaves and the interior nodes, then journals the new root and releases
    /// the journal (see the module documentation). Does nothing when called from inside a
    /// flush (an allocation it made needed a prio write, whose journal entry asked for one).
    pub(crate) fn flush_tree(&self, st: &mut IoState) -> Result {
        if st.in_flush {
            return Ok(());
        }
        st.in_flush = true;
        let mut written = KVVec::new();
        let r = self.build_tree(st, &mut written);
        let r = r.and_then(|t| {
            self.journal_append(
                st,
                &[],
                Patch {
                    btree_root: Some((t.root, t.level)),
                    release: true,
                    ..Patch::default()
                },
            )
            .map(|()| t)
        });
        st.in_flush = false;
        let t = match r {
            Ok(t) => t,
            Err(e) => {
                // Nothing points at the new nodes: give their buckets back.
                for &b in written.iter() {
                    st.release_bucket(b);
                }
                return Err(e);
            }
        };
        let NewTree {
            mut leaves,
            origin,
            interior,
            replaced,
            level,
            root_keys,
            ..
        } = t;
        let old_interior = core::mem::replace(&mut st.tree.interior, interior);
        let old_nodes = core::mem::replace(&mut st.tree.old_nodes, KVVec::new());
        for list in [&replaced, &old_interior, &old_nodes] {
            for &b in list.iter() {
                st.release_bucket(b);
            }
        }
        // Move the unchanged leaves over; the rewritten ones keep their keys in memory if
        // there is room (otherwise they are read back when needed).
        let mut old = st.index.replace(KVVec::new());
        let mut lo = 0u64;
        for (new, &(i, unchanged)) in leaves.iter_mut().zip(origin.iter()) {
            if let Some(prev) = old.get_mut(i) {
                if unchanged {
                    core::mem::swap(new, prev);
                } else if let Some(k) = prev.keys() {
                    if let Ok(copy) = LeafKeys::copy_of(k.view(), lo, new.end) {
                        new.set_keys(copy);
                    }
                }
            }
            lo = new.end;
        }
        drop(old);
        st.index.replace(leaves);
        st.tree.level = level;
        st.tree.root_keys = root_keys;
        st.journal_tight = false;
        self.stats.tree_flushes.fetch_add(1, Ordering::Relaxed);
        let limit = st.index.limit();
        st.index.shrink(limit);
        self.publish_cache(st);
        Ok(())
    }

    /// Writes the new nodes; records every bucket it takes in `written`.
    fn build_tree(&self, st: &mut IoState, written: &mut KVVec<u64>) -> Result<NewTree> {
        let node_bytes = (self.layout.node_sectors << 9) as usize;
        let node_u64s = node_bytes.saturating_sub(BSET_HEADER) / 8;
        let mut node = KVVec::from_elem(0u8, node_bytes, GFP_KERNEL)?;
        let n = st.index.leaves().len();
        let mut leaves = KVVec::with_capacity(n, GFP_KERNEL)?;
        let mut origin = KVVec::with_capacity(n, GFP_KERNEL)?;
        let mut replaced = KVVec::new();
        let mut root_keys = 0;
        for i in 0..n {
            let lo = st.index.lo(i);
            let (end, dirty, foreign, node_at, resident) = match st.index.leaves().get(i) {
                Some(l) => (l.end, l.dirty, l.foreign, l.node, l.keys().is_some()),
                None => return Err(EINVAL),
            };
            if !dirty && !foreign {
                let node_at = node_at.ok_or(EINVAL)?;
                // A placeholder: the old leaf moves over when the flush commits.
                leaves.push(Leaf::on_disk(end, node_at, false, 0, 0), GFP_KERNEL)?;
                origin.push((i, true), GFP_KERNEL)?;
                continue;
            }
            let count = {
                let IoState { index, buckets, .. } = &mut *st;
                index.keys(i, &self.nodes(buckets))?.len()
            };
            let (nodes, per) = split_plan(count, KEY_U64S, node_u64s);
            let mut chunk_lo = lo;
            for c in 0..nodes {
                let a = (c * per).min(count);
                let z = if c + 1 == nodes {
                    count
                } else {
                    ((c + 1) * per).min(count)
                };
                let mut keys = KVVec::with_capacity(z - a, GFP_KERNEL)?;
                let mut sectors = 0;
                let chunk_end = {
                    let ext = st
                        .index
                        .leaves()
                        .get(i)
                        .and_then(|l| l.keys())
                        .map_or(ChunkedRef::new(&[], &[], 0), |k| k.view());
                    // The last node of the leaf ends where the leaf does; the others at
                    // their last key (`z > a >= 0` there).
                    let last = z.checked_sub(1).filter(|_| c + 1 < nodes && z > a);
                    let chunk_end = match last.and_then(|l| ext.iter().nth(l)) {
                        Some(e) => e.end.min(end),
                        None => end,
                    };
                    for e in ext.iter().skip(a).take(z.saturating_sub(a)) {
                        let s = e.start.max(chunk_lo);
                        let t = e.end.min(chunk_end);
                        if s >= t {
                            continue;
                        }
                        let ptr = e.ptr + (s - e.start);
                        if st.gen(self.layout.bucket_of(ptr)) != e.gen {
                            // Stale (its bucket was reused): the data is gone, write a hole.
                            continue;
                        }
                        let mut k = key_at(t, t - s);
                        k.set_dirty(e.dirty);
                        k.set_ptrs(1);
                        k.ptr[0] = Bkey::make_ptr(e.gen, ptr, 0);
                        keys.push(k, GFP_KERNEL)?;
                        sectors += t - s;
                    }
                    chunk_end
                };
                root_keys = keys.len();
                let b = self.write_node(st, &mut node, &keys, written)?;
                let at = Node {
                    bucket: b,
                    ptr0: Bkey::make_ptr(st.gen(b), b * self.layout.bucket_size, 0),
                };
                leaves.push(
                    Leaf::on_disk(chunk_end, at, false, keys.len(), sectors),
                    GFP_KERNEL,
                )?;
                origin.push((i, false), GFP_KERNEL)?;
                chunk_lo = chunk_end;
            }
            if let Some(at) = node_at {
                replaced.push(at.bucket, GFP_KERNEL)?;
            }
            if !resident && !dirty {
                // Read in only to be rewritten: do not keep it.
                st.index.drop_keys(i);
            }
        }

        // The levels above the leaves.
        let mut ptrs = KVVec::with_capacity(leaves.len(), GFP_KERNEL)?;
        for l in leaves.iter() {
            let b = l.bucket().ok_or(EINVAL)?;
            ptrs.push(self.node_key(st, l.end, b), GFP_KERNEL)?;
        }
        let mut interior = KVVec::new();
        let mut level = 0u16;
        if ptrs.len() > 1 {
            root_keys = 0;
        }
        while ptrs.len() > 1 {
            level += 1;
            let (nodes, per) = split_plan(ptrs.len(), KEY_U64S, node_u64s);
            let mut parents = KVVec::with_capacity(nodes, GFP_KERNEL)?;
            for c in 0..nodes {
                let a = (c * per).min(ptrs.len());
                let z = if c + 1 == nodes {
                    ptrs.len()
                } else {
                    ((c + 1) * per).min(ptrs.len())
                };
                let chunk = &ptrs[a..z];
                let last = chunk.last().copied().ok_or(EINVAL)?;
                let b = self.write_node(st, &mut node, chunk, written)?;
                interior.push(b, GFP_KERNEL)?;
                root_keys = chunk.len();
                let mut k = last;
                k.set_size(self.layout.node_sectors);
                k.ptr[0] = Bkey::make_ptr(st.gen(b), b * self.layout.bucket_size, 0);
                parents.push(k, GFP_KERNEL)?;
            }
            ptrs = parents;
        }
        let root = ptrs.first().copied().ok_or(EINVAL)?;
        Ok(NewTree {
            leaves,
            origin,
            interior,
            replaced,
            root,
            level,
            root_keys,
        })
    }

    /// The pointer key to node bucket `b` whose keys end at `pos`.
    fn node_key(&self, st: &IoState, pos: u64, b: u64) -> Bkey {
        let mut k = key_at(pos, self.layout.node_sectors);
        k.set_ptrs(1);
        k.ptr[0] = Bkey::make_ptr(st.gen(b), b * self.layout.bucket_size, 0);
        k
    }

    /// Writes `keys` as one node in a bucket from the btree reserve; returns the bucket.
    fn write_node(
        &self,
        st: &mut IoState,
        node: &mut [u8],
        keys: &[Bkey],
        written: &mut KVVec<u64>,
    ) -> Result<u64> {
        let b = self.alloc(st, Reserve::Btree)?;
        written.push(b, GFP_KERNEL)?;
        let ptr0 = Bkey::make_ptr(st.gen(b), b * self.layout.bucket_size, 0);
        node.fill(0);
        write_bset(node, self.layout.bset_magic, random_u64() | 1, ptr0, keys).ok_or(E2BIG)?;
        self.meta_io(Meta::Node, || {
            self.bdev
                .write_sync(b * self.layout.bucket_size, node, WriteKind::Meta)
        })?;
        self.stats.nodes_written.fetch_add(1, Ordering::Relaxed);
        self.stats
            .meta_sectors
            .fetch_add(self.layout.node_sectors, Ordering::Relaxed);
        Ok(b)
    }
}
