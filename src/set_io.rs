// SPDX-License-Identifier: GPL-2.0

//! A cache set's data path: the extent map, space for new data, and journal appends.
//!
//! This is the first, deliberately simple write path, compatible with 6.12 on disk:
//!
//! - Space comes only from buckets that nothing has touched (no metadata and no key at all,
//!   live or dead, points into them), filled sequentially; they keep their generation, so no
//!   prio write is needed. When none is left, writes fail with `ENOSPC`: bucket invalidation
//!   (gen bump, prio write, journal) comes with the allocator.
//! - A write puts its data on the cache, waits, then appends one journal entry with its keys
//!   (`PREFLUSH|FUA`, which also makes the data durable), then updates the extent map and
//!   completes. Every completed write is therefore durable; flushes have nothing to do.
//! - Keys stay in the journal: leaf nodes are not written and the journal is not reclaimed, so
//!   when its buckets are full writes fail with `ENOSPC`. The C module, and rbcache, replay
//!   those keys on registration.
//! - One mutex serialises writes (held across their IO) and map lookups.

use core::sync::atomic::{AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::sync::{new_mutex, Arc, Mutex};

use crate::format::bkey::{Bkey, MAX_SIZE};
use crate::format::bset::{self, BSET_HEADER};
use crate::format::extents::{self, ExtentList, INODE_SHIFT};
use crate::format::jset::JSET_MAX_BYTES;
use crate::format::uuid::{UuidEntry, INVALID_UUID, UUID_ENTRY_BYTES, UUID_FLASH_ONLY};
use crate::gc::Gc;
use crate::kabi::bdev::BdevFile;
use crate::kabi::bio::WriteKind;
use crate::kabi::random::random_u64;
use crate::metadata::SetData;

/// Where a set's cache lives and how it is laid out.
pub(crate) struct Layout {
    /// Bucket size in sectors.
    pub(crate) bucket_size: u64,
    /// Number of buckets.
    pub(crate) nbuckets: u64,
    /// First bucket (the first journal bucket).
    pub(crate) first_bucket: u64,
    /// Block size in bytes.
    pub(crate) block_bytes: usize,
    /// Sectors of a btree node.
    pub(crate) node_sectors: u64,
    /// The set's bset magic.
    pub(crate) bset_magic: u64,
}

struct IoState {
    data: SetData,
    next_free: u64,
    open: Option<(u64, u64)>,
}

/// The data path of one cache set, shared by its volumes.
#[pin_data]
pub(crate) struct SetIo {
    bdev: Arc<BdevFile>,
    gc: Arc<Gc>,
    layout: Layout,
    root_writes: AtomicU64,
    #[pin]
    state: Mutex<IoState>,
}

impl SetIo {
    /// Creates the data path from what registration read.
    pub(crate) fn new(
        bdev: Arc<BdevFile>,
        gc: Arc<Gc>,
        layout: Layout,
        data: SetData,
    ) -> Result<Arc<Self>> {
        let first = layout.first_bucket;
        Arc::pin_init(
            pin_init!(SetIo {
                bdev,
                gc,
                layout,
                root_writes: AtomicU64::new(0),
                state <- new_mutex!(
                    IoState { data, next_free: first, open: None },
                    "SetIo::state"
                ),
            }),
            GFP_KERNEL,
        )
    }

    /// The cache device.
    pub(crate) fn bdev(&self) -> &BdevFile {
        &self.bdev
    }

    /// Percentage of buckets nothing has touched yet: free for new data
    /// (`cache_available_percent`; until GC computes bucket use, "in use" means touched).
    pub(crate) fn available_percent(&self) -> u64 {
        let st = self.state.lock();
        let n = st.data.touched.len() as u64;
        let free = st.data.touched.iter().filter(|t| !**t).count() as u64;
        (free * 100).checked_div(n).unwrap_or(0)
    }

    /// Looks up `sector` of `inode`: `(cache sector or None for a hole, run length <= max)`.
    pub(crate) fn lookup(&self, inode: u64, sector: u64, max: u64) -> (Option<u64>, u64) {
        match extents::key(inode, sector) {
            Some(k) => extents::lookup(self.state.lock().data.extents.as_slice(), k, max),
            None => (None, max),
        }
    }

    /// Writes `data` (whole blocks) at `sector` of `inode`; returns once it is durable.
    pub(crate) fn write(&self, inode: u64, sector: u64, data: &[u8]) -> Result {
        let sectors = (data.len() >> 9) as u64;
        if data.len().checked_rem(self.layout.block_bytes) != Some(0) {
            return Err(EINVAL);
        }
        let mut st = self.state.lock();
        let mut keys = KVec::new();
        let mut done = 0u64;
        while done < sectors {
            let (bucket, used) = self.open_bucket(&mut st)?;
            let n = (sectors - done)
                .min(self.layout.bucket_size - used)
                .min(MAX_SIZE);
            let at = bucket * self.layout.bucket_size + used;
            let chunk = &data[(done as usize) << 9..((done + n) as usize) << 9];
            self.bdev.write_sync(at, chunk, WriteKind::Data)?;
            let mut k = Bkey::new(inode, sector + done + n, n);
            k.set_dirty(true);
            k.set_ptrs(1);
            k.ptr[0] = Bkey::make_ptr(
                st.data.gens.get(bucket as usize).copied().unwrap_or(0),
                at,
                0,
            );
            keys.push(k, GFP_KERNEL)?;
            st.open = Some((bucket, used + n));
            done += n;
        }
        self.commit(&mut st, &keys)?;
        drop(st);
        self.gc.account_insert(sectors);
        Ok(())
    }

    /// Discards `sectors` at `sector` of `inode`: zero-pointer keys, so the range reads as zeroes.
    pub(crate) fn discard(&self, inode: u64, sector: u64, sectors: u64) -> Result {
        let mut st = self.state.lock();
        let mut keys = KVec::new();
        let mut done = 0;
        while done < sectors {
            let n = (sectors - done).min(MAX_SIZE);
            keys.push(Bkey::new(inode, sector + done + n, n), GFP_KERNEL)?;
            done += n;
        }
        self.commit(&mut st, &keys)
    }

    /// Creates a flash-only volume of `sectors` in the first empty uuid slot, as
    /// `bch_flash_dev_create()` does: the whole table is written to a fresh bucket, then a
    /// journal entry points at it. Returns the slot.
    pub(crate) fn create_volume(&self, sectors: u64, uuid: [u8; 16], now: u32) -> Result<u64> {
        let mut st = self.state.lock();
        if st.data.uuids.entry_bytes != UUID_ENTRY_BYTES {
            // A pre-version-1 table: converting it is not supported yet.
            return Err(EINVAL);
        }
        let slot = st
            .data
            .uuids
            .buf
            .chunks_exact(UUID_ENTRY_BYTES)
            .position(|e| UuidEntry::decode(e).is_some_and(|e| e.is_empty()))
            .ok_or(ENOSPC)?;
        let entry = UuidEntry {
            uuid,
            label: [0; 32],
            first_reg: now,
            last_reg: now,
            invalidated: 0,
            flags: UUID_FLASH_ONLY,
            sectors,
        };
        let at = slot * UUID_ENTRY_BYTES;
        let mut table = KVVec::from_elem(0u8, st.data.uuids.buf.len(), GFP_KERNEL)?;
        table.copy_from_slice(&st.data.uuids.buf);
        entry
            .encode(table.get_mut(at..at + UUID_ENTRY_BYTES).ok_or(EINVAL)?)
            .ok_or(EINVAL)?;

        self.write_uuids(&mut st, table)?;
        Ok(slot as u64)
    }

    /// Invalidates uuid slot `slot` (a flash volume being unregistered), as
    /// `bcache_device_detach()` does: the flash flag is cleared, the uuid becomes the invalid
    /// marker and `invalidated` is set; the table is written to a fresh bucket and journaled.
    pub(crate) fn invalidate_volume(&self, slot: u64, now: u32) -> Result {
        let mut st = self.state.lock();
        let at = usize::try_from(slot).map_err(|_| EINVAL)? * UUID_ENTRY_BYTES;
        if st.data.uuids.entry_bytes != UUID_ENTRY_BYTES {
            return Err(EINVAL);
        }
        let mut table = KVVec::from_elem(0u8, st.data.uuids.buf.len(), GFP_KERNEL)?;
        table.copy_from_slice(&st.data.uuids.buf);
        let raw = table.get_mut(at..at + UUID_ENTRY_BYTES).ok_or(EINVAL)?;
        let mut e = UuidEntry::decode(raw).ok_or(EINVAL)?;
        e.uuid = INVALID_UUID;
        e.invalidated = now;
        e.flags &= !UUID_FLASH_ONLY;
        e.encode(raw).ok_or(EINVAL)?;
        self.write_uuids(&mut st, table)
    }

    /// The label of uuid slot `slot`.
    pub(crate) fn label(&self, slot: u64) -> [u8; 32] {
        let st = self.state.lock();
        let at = (slot as usize).saturating_mul(UUID_ENTRY_BYTES);
        st.data
            .uuids
            .buf
            .get(at..at + UUID_ENTRY_BYTES)
            .and_then(UuidEntry::decode)
            .map_or([0; 32], |e| e.label)
    }

    /// Writes the uuid `table` to a fresh bucket, journals it, and makes it current.
    fn write_uuids(&self, st: &mut IoState, table: KVVec<u8>) -> Result {
        let bucket = self.fresh_bucket(st)?;
        let start = bucket * self.layout.bucket_size;
        self.bdev.write_sync(start, &table, WriteKind::Meta)?;
        let mut key = Bkey::new(0, 0, (table.len() >> 9) as u64);
        key.set_ptrs(1);
        key.ptr[0] = Bkey::make_ptr(
            st.data.gens.get(bucket as usize).copied().unwrap_or(0),
            start,
            0,
        );
        self.journal_commit(
            st,
            Patch {
                uuid_bucket: Some(key),
                ..Patch::default()
            },
        )?;
        st.data.uuids.buf = table;
        Ok(())
    }

    /// Takes a fresh untouched bucket for metadata.
    fn fresh_bucket(&self, st: &mut IoState) -> Result<u64> {
        let saved = st.open.take();
        let r = self.open_bucket(st);
        // The metadata bucket is not for data: keep the data bucket open.
        st.open = saved;
        r.map(|(b, _)| b)
    }

    /// The open bucket with room left, opening a fresh untouched one if needed.
    fn open_bucket(&self, st: &mut IoState) -> Result<(u64, u64)> {
        if let Some((b, used)) = st.open {
            if used < self.layout.bucket_size {
                return Ok((b, used));
            }
        }
        let n = self.layout.nbuckets;
        let first = self.layout.first_bucket;
        let span = n.saturating_sub(first);
        let start = st.next_free.saturating_sub(first);
        for i in 0..span {
            let Some(off) = (start + i).checked_rem(span) else {
                break;
            };
            let b = first + off;
            if let Some(t) = st.data.touched.get_mut(b as usize) {
                if !*t {
                    *t = true;
                    st.next_free = b + 1;
                    if st.next_free >= n {
                        st.next_free = self.layout.first_bucket;
                    }
                    st.open = Some((b, 0));
                    return Ok((b, 0));
                }
            }
        }
        Err(ENOSPC)
    }

    /// Journals `keys` and adds them to the map.
    fn commit(&self, st: &mut IoState, keys: &[Bkey]) -> Result {
        // Room in the map first: once journaled, the keys must reach the map.
        if st.data.extents.room() < 2 * keys.len() {
            return Err(ENOSPC);
        }
        let mut packed = KVec::new();
        for k in keys {
            let mut w = [0u64; 9];
            let n = k.encode(&mut w).ok_or(EINVAL)?;
            for x in &w[..n] {
                packed.extend_from_slice(&x.to_le_bytes(), GFP_KERNEL)?;
            }
        }
        // The map must hold the keys before a root is written from it.
        let release = self.journal_append(st, &packed, Patch::default())?;
        let (buf, len) = st.data.extents.parts_mut();
        let mut list = ExtentList::from_parts(buf, len);
        for k in keys {
            let (Some(start), Some(end)) = (
                extents::key(k.inode(), k.start()),
                extents::key(k.inode(), k.offset()),
            ) else {
                continue;
            };
            let ptr = (k.ptrs() > 0).then(|| k.ptr_offset(0));
            list.insert(start, end, ptr, k.dirty())
                .map_err(|_| ENOSPC)?;
        }
        let len = list.len();
        st.data.extents.set_len(len);
        if release {
            self.release_journal(st);
        }
        Ok(())
    }

    /// Writes one journal entry holding `packed` keys after the newest one, with `patch`
    /// applied to the header. Returns whether the journal has just entered its last free bucket
    /// (time to write the root and release the journal: see [`SetIo::flush_root`]).
    fn journal_append(&self, st: &mut IoState, packed: &[u8], patch: Patch) -> Result<bool> {
        let bb = self.layout.block_bytes;
        let size = (crate::format::jset::JSET_HEADER + packed.len()).div_ceil(bb) * bb;
        if size > JSET_MAX_BYTES {
            return Err(E2BIG);
        }
        let bucket_bytes = (self.layout.bucket_size << 9) as usize;
        let j = &mut st.data.journal;
        let nj = j.bucket_max_seq.len();
        let mut h = j.newest;
        h.seq += 1;
        if let Some(k) = patch.uuid_bucket {
            h.uuid_bucket = k;
        }
        if let Some(k) = patch.btree_root {
            h.btree_root = k;
            h.btree_level = 0;
        }
        if patch.release {
            // Everything older is in the new root: replay starts here.
            h.last_seq = h.seq;
        }
        let live = |m: &KVec<u64>, b: usize, last: u64| m.get(b).map_or(true, |&s| s >= last);
        let mut last_free = false;
        if j.offset + size > bucket_bytes {
            let next = (j.bucket + 1).checked_rem(nj).ok_or(ENOSPC)?;
            // A bucket still holding live entries cannot be reused: the journal is full.
            if live(&j.bucket_max_seq, next, h.last_seq) {
                return Err(ENOSPC);
            }
            j.bucket = next;
            j.offset = 0;
            let after = (next + 1).checked_rem(nj).ok_or(ENOSPC)?;
            last_free = live(&j.bucket_max_seq, after, h.last_seq);
        }
        let mut buf = KVVec::from_elem(0u8, size, GFP_KERNEL)?;
        h.write(&mut buf, packed).ok_or(EINVAL)?;
        let sector = (self.layout.first_bucket + j.bucket as u64) * self.layout.bucket_size
            + (j.offset >> 9) as u64;
        self.bdev.write_sync(sector, &buf, WriteKind::FlushFua)?;
        j.offset += size;
        j.newest = h;
        if let Some(m) = j.bucket_max_seq.get_mut(j.bucket) {
            *m = h.seq;
        }
        Ok(last_free && !patch.release)
    }

    /// Releases the journal when it enters its last free bucket: the whole extent map is
    /// written as the single bset of a new root leaf in a fresh bucket (`PREFLUSH|FUA`), then a
    /// journal entry points at it with `last_seq` set to itself, so every other journal bucket
    /// is free again. This is the compaction 6.12 does into a replacement node; a map too large
    /// for one node (which would need a split) is left alone, and the journal fills up.
    fn flush_root(&self, st: &mut IoState) -> Result {
        let mask = (1u64 << INODE_SHIFT) - 1;
        let ext = st.data.extents.as_slice();
        let mut keys = KVec::with_capacity(ext.len(), GFP_KERNEL)?;
        for e in ext {
            let inode = e.start >> INODE_SHIFT;
            let start = e.start & mask;
            let size = e.end - e.start;
            let mut k = Bkey::new(inode, start + size, size);
            k.set_dirty(e.dirty);
            k.set_ptrs(1);
            let gen = st
                .data
                .gens
                .get((e.ptr / self.layout.bucket_size) as usize)
                .copied()
                .unwrap_or(0);
            k.ptr[0] = Bkey::make_ptr(gen, e.ptr, 0);
            keys.push(k, GFP_KERNEL)?;
        }
        let node_bytes = (self.layout.node_sectors << 9) as usize;
        if BSET_HEADER + 8 * 3 * keys.len() > node_bytes {
            return Err(ENOSPC);
        }
        let bucket = self.fresh_bucket(st)?;
        let mut root = Bkey::max();
        root.set_size(self.layout.node_sectors);
        root.set_ptrs(1);
        let gen = st.data.gens.get(bucket as usize).copied().unwrap_or(0);
        root.ptr[0] = Bkey::make_ptr(gen, bucket * self.layout.bucket_size, 0);
        let mut node = KVVec::from_elem(0u8, node_bytes, GFP_KERNEL)?;
        bset::write_bset(
            &mut node,
            self.layout.bset_magic,
            random_u64() | 1,
            root.ptr[0],
            &keys,
        )
        .ok_or(ENOSPC)?;
        self.bdev
            .write_sync(bucket * self.layout.bucket_size, &node, WriteKind::FlushFua)?;
        self.journal_append(
            st,
            &[],
            Patch {
                btree_root: Some(root),
                release: true,
                ..Patch::default()
            },
        )?;
        self.root_writes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Appends a journal entry without keys, then releases the journal if it asks for it.
    fn journal_commit(&self, st: &mut IoState, patch: Patch) -> Result {
        if self.journal_append(st, &[], patch)? {
            self.release_journal(st);
        }
        Ok(())
    }

    /// Writes a new root from the map (which holds every journaled key) to release the journal.
    fn release_journal(&self, st: &mut IoState) {
        if let Err(e) = self.flush_root(st) {
            pr_warn!(
                "writing a new btree root failed ({}): the journal will fill up\n",
                e.to_errno()
            );
        }
    }

    /// Number of new roots written since registration.
    pub(crate) fn root_writes(&self) -> u64 {
        self.root_writes.load(Ordering::Relaxed)
    }
}

/// Changes a journal entry makes to the set's pointers.
#[derive(Default)]
struct Patch {
    /// A new uuid bucket.
    uuid_bucket: Option<Bkey>,
    /// A new root (level 0).
    btree_root: Option<Bkey>,
    /// Start replay at this entry.
    release: bool,
}
