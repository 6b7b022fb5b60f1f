// SPDX-License-Identifier: GPL-2.0

//! Writing the btree from the index, as bcache 6.12 lays it out on disk.
//!
//! The index ([`crate::extent_map`]) is partitioned into leaves by key position. An insert
//! marks the leaves it touches dirty; their keys stay in the journal until journal reclaim
//! calls [`SetIo::flush_tree`], which:
//!
//! 1. writes every dirty leaf copy-on-write to a fresh bucket from the btree reserve (one
//!    version-1 bset, keys cut at the leaf's bounds), split into nodes about 3/5 full when its
//!    keys would fill more than 4/5 of one (6.12's `btree_split()` rule);
//! 2. writes the interior levels above the leaves (pointer keys at each child's upper bound,
//!    the last at `MAX_KEY`), growing the root as the number of leaves needs;
//! 3. journals the new root with `last_seq` set to that entry, so replay starts there and
//!    every other journal bucket is free;
//! 4. only then frees the buckets of the nodes it replaced.
//!
//! A crash anywhere before step 3 leaves the old tree and the journal intact. Leaves written by
//! a flush hold only live keys, so after it no key on disk is older than its bucket's
//! generation: `last_gc` catches up with `gen` everywhere.

use core::sync::atomic::Ordering;
use kernel::prelude::*;

use crate::format::alloc::{split_plan, Reserve};
use crate::format::bkey::Bkey;
use crate::format::bset::{write_bset, BSET_HEADER};
use crate::format::extents::INODE_SHIFT;
use crate::kabi::bio::WriteKind;
use crate::kabi::random::random_u64;
use crate::set_io::{IoState, Leaf, Patch, SetIo};

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
    leaves: KVec<Leaf>,
    interior: KVec<u64>,
    replaced: KVec<u64>,
    root: Bkey,
    level: u16,
    root_keys: usize,
}

impl IoState {
    /// Marks dirty the leaves holding any of positions `start..end`.
    pub(crate) fn mark_leaves_dirty(&mut self, start: u64, end: u64) {
        let leaves = &mut self.tree.leaves;
        let mut i = leaves.partition_point(|l| l.end <= start);
        while let Some(l) = leaves.get_mut(i) {
            l.dirty = true;
            if l.end >= end {
                break;
            }
            i += 1;
        }
    }
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
        let mut written = KVec::new();
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
        let old_interior = core::mem::replace(&mut st.tree.interior, t.interior);
        let old_nodes = core::mem::replace(&mut st.tree.old_nodes, KVec::new());
        for list in [&t.replaced, &old_interior, &old_nodes] {
            for &b in list.iter() {
                st.release_bucket(b);
            }
        }
        st.tree.leaves = t.leaves;
        st.tree.level = t.level;
        st.tree.root_keys = t.root_keys;
        for b in st.buckets.iter_mut() {
            b.last_gc = b.gen;
        }
        st.journal_tight = false;
        self.stats.tree_flushes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Writes the new nodes; records every bucket it takes in `written`.
    fn build_tree(&self, st: &mut IoState, written: &mut KVec<u64>) -> Result<NewTree> {
        let node_bytes = (self.layout.node_sectors << 9) as usize;
        let node_u64s = node_bytes.saturating_sub(BSET_HEADER) / 8;
        let mut node = KVVec::from_elem(0u8, node_bytes, GFP_KERNEL)?;
        let mut leaves = KVec::with_capacity(st.tree.leaves.len(), GFP_KERNEL)?;
        let mut replaced = KVec::new();
        let mut root_keys = 0;
        let mut lo = 0u64;
        for i in 0..st.tree.leaves.len() {
            let leaf = st.tree.leaves[i];
            if !leaf.dirty {
                leaves.push(leaf, GFP_KERNEL)?;
                lo = leaf.end;
                continue;
            }
            let ext = st.map.as_slice();
            let first = ext.partition_point(|e| e.end <= lo);
            let count = ext[first..].partition_point(|e| e.start < leaf.end);
            let (nodes, per) = split_plan(count, KEY_U64S, node_u64s);
            let mut chunk_lo = lo;
            for c in 0..nodes {
                let a = first + (c * per).min(count);
                let z = if c + 1 == nodes {
                    first + count
                } else {
                    first + ((c + 1) * per).min(count)
                };
                let ext = st.map.as_slice();
                let chunk_end = match ext.get(z.wrapping_sub(1)) {
                    Some(e) if c + 1 < nodes && z > a => e.end.min(leaf.end),
                    _ => leaf.end,
                };
                let mut keys = KVec::with_capacity(z - a, GFP_KERNEL)?;
                for e in &ext[a..z] {
                    let s = e.start.max(chunk_lo);
                    let t = e.end.min(chunk_end);
                    if s >= t {
                        continue;
                    }
                    let mut k = key_at(t, t - s);
                    k.set_dirty(e.dirty);
                    k.set_ptrs(1);
                    let ptr = e.ptr + (s - e.start);
                    let gen = st.gen(ptr / self.layout.bucket_size);
                    k.ptr[0] = Bkey::make_ptr(gen, ptr, 0);
                    keys.push(k, GFP_KERNEL)?;
                }
                root_keys = keys.len();
                let b = self.write_node(st, &mut node, &keys, written)?;
                leaves.push(
                    Leaf {
                        end: chunk_end,
                        bucket: Some(b),
                        dirty: false,
                    },
                    GFP_KERNEL,
                )?;
                chunk_lo = chunk_end;
            }
            if let Some(b) = leaf.bucket {
                replaced.push(b, GFP_KERNEL)?;
            }
            lo = leaf.end;
        }

        // The levels above the leaves.
        let mut ptrs = KVec::with_capacity(leaves.len(), GFP_KERNEL)?;
        for l in leaves.iter() {
            let b = l.bucket.ok_or(EINVAL)?;
            ptrs.push(self.node_key(st, l.end, b), GFP_KERNEL)?;
        }
        let mut interior = KVec::new();
        let mut level = 0u16;
        if ptrs.len() > 1 {
            root_keys = 0;
        }
        while ptrs.len() > 1 {
            level += 1;
            let (nodes, per) = split_plan(ptrs.len(), KEY_U64S, node_u64s);
            let mut parents = KVec::with_capacity(nodes, GFP_KERNEL)?;
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
        written: &mut KVec<u64>,
    ) -> Result<u64> {
        let b = self.alloc(st, Reserve::Btree)?;
        written.push(b, GFP_KERNEL)?;
        let ptr0 = Bkey::make_ptr(st.gen(b), b * self.layout.bucket_size, 0);
        node.fill(0);
        write_bset(node, self.layout.bset_magic, random_u64() | 1, ptr0, keys).ok_or(E2BIG)?;
        self.bdev
            .write_sync(b * self.layout.bucket_size, node, WriteKind::Meta)?;
        self.stats.nodes_written.fetch_add(1, Ordering::Relaxed);
        self.stats
            .meta_sectors
            .fetch_add(self.layout.node_sectors, Ordering::Relaxed);
        Ok(b)
    }
}
