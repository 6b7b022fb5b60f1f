// SPDX-License-Identifier: GPL-2.0

//! A cache set's uuid table: one slot per flash volume or attached backing device, written
//! whole to a fresh bucket and pointed at by a journal entry whenever it changes, as 6.12's
//! `bch_uuid_write()` does. The slot number is the inode of the device's keys.

use core::sync::atomic::Ordering;
use kernel::prelude::*;

use crate::failure::Meta;
use crate::format::alloc::Reserve;
use crate::format::bkey::Bkey;
use crate::format::uuid::{UuidEntry, INVALID_UUID, UUID_ENTRY_BYTES, UUID_FLASH_ONLY};
use crate::kabi::bio::WriteKind;
use crate::set_io::{IoState, Patch, SetIo};

/// A uuid slot claimed by [`SetIo::create_volume`].
pub(crate) struct Claimed {
    /// The slot (the new volume's inode).
    pub(crate) slot: u64,
    /// What it held before.
    before: UuidEntry,
}

impl SetIo {
    /// Finds or makes the slot of backing device `uuid` when it attaches, as
    /// `bch_cached_dev_attach()` does: an existing slot is reused (its `last_reg` updated)
    /// unless `fresh` (the device was detached or ran without its cache, so what the slot
    /// caches is out of date: it is invalidated and a new one taken). Returns the slot and
    /// whether it is new. With `must_exist` (the device has dirty data in the set) a missing
    /// slot is `ENOENT` and nothing is written.
    pub(crate) fn attach_uuid(
        &self,
        uuid: [u8; 16],
        label: [u8; 32],
        fresh: bool,
        must_exist: bool,
        now: u32,
    ) -> Result<(u64, bool)> {
        let mut st = self.state.lock();
        let mut table = copy_table(&st)?;
        let found = table.chunks_exact(UUID_ENTRY_BYTES).position(|e| {
            UuidEntry::decode(e).is_some_and(|e| e.uuid == uuid && !e.is_flash_only())
        });
        if must_exist && (found.is_none() || fresh) {
            return Err(ENOENT);
        }
        if let (Some(slot), false) = (found, fresh) {
            edit_entry(&mut table, slot, |e| e.last_reg = now)?;
            self.write_uuids(&mut st, table)?;
            return Ok((slot as u64, false));
        }
        if let Some(slot) = found {
            edit_entry(&mut table, slot, |e| {
                e.uuid = INVALID_UUID;
                e.invalidated = now;
            })?;
        }
        let slot = table
            .chunks_exact(UUID_ENTRY_BYTES)
            .position(|e| UuidEntry::decode(e).is_some_and(|e| e.is_empty()))
            .ok_or(ENOSPC)?;
        let entry = UuidEntry {
            uuid,
            label,
            first_reg: now,
            last_reg: now,
            invalidated: 0,
            flags: 0,
            sectors: 0,
        };
        edit_entry(&mut table, slot, |e| *e = entry)?;
        self.write_uuids(&mut st, table)?;
        Ok((slot as u64, true))
    }

    /// Creates a flash-only volume of `sectors` in the first empty uuid slot, as
    /// `bch_flash_dev_create()` does: the whole table is written to a fresh bucket, then a
    /// journal entry points at it. Returns the slot, with what it held before for
    /// [`SetIo::unclaim_volume`].
    pub(crate) fn create_volume(&self, sectors: u64, uuid: [u8; 16], now: u32) -> Result<Claimed> {
        let mut st = self.state.lock();
        let (slot, before) = st
            .uuids
            .buf
            .chunks_exact(UUID_ENTRY_BYTES)
            .enumerate()
            .find_map(|(i, e)| Some((i, UuidEntry::decode(e).filter(UuidEntry::is_empty)?)))
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
        let mut table = copy_table(&st)?;
        edit_entry(&mut table, slot, |e| *e = entry)?;
        self.write_uuids(&mut st, table)?;
        Ok(Claimed {
            slot: slot as u64,
            before,
        })
    }

    /// Gives back a slot that [`SetIo::create_volume`] claimed for a volume whose disk never
    /// appeared: no IO reached its inode, so the slot gets back what it held (empty), and the
    /// table is written again.
    pub(crate) fn unclaim_volume(&self, claimed: &Claimed) -> Result {
        let before = claimed.before;
        self.update_slot(claimed.slot, |e| *e = before)
    }

    /// Invalidates uuid slot `slot` (a flash volume being unregistered), as
    /// `bcache_device_detach()` does: the flash flag is cleared, the uuid becomes the invalid
    /// marker and `invalidated` is set; the table is written to a fresh bucket and journaled.
    pub(crate) fn invalidate_volume(&self, slot: u64, now: u32) -> Result {
        self.update_slot(slot, |e| {
            e.uuid = INVALID_UUID;
            e.invalidated = now;
            e.flags &= !UUID_FLASH_ONLY;
        })
    }

    /// Changes the entry of uuid slot `slot` with `f` and writes the table.
    fn update_slot(&self, slot: u64, f: impl FnOnce(&mut UuidEntry)) -> Result {
        let mut st = self.state.lock();
        let mut table = copy_table(&st)?;
        edit_entry(&mut table, usize::try_from(slot).map_err(|_| EINVAL)?, f)?;
        self.write_uuids(&mut st, table)
    }

    /// The label of uuid slot `slot`.
    pub(crate) fn label(&self, slot: u64) -> [u8; 32] {
        let st = self.state.lock();
        let at = usize::try_from(slot)
            .ok()
            .and_then(|s| s.checked_mul(UUID_ENTRY_BYTES));
        at.and_then(|at| st.uuids.buf.get(at..at.checked_add(UUID_ENTRY_BYTES)?))
            .and_then(UuidEntry::decode)
            .map_or([0; 32], |e| e.label)
    }

    /// Sets the label of uuid slot `slot` (at most 32 bytes, zero-padded) and writes the table.
    pub(crate) fn set_label(&self, slot: u64, label: &[u8]) -> Result {
        if label.len() > 32 {
            return Err(EINVAL);
        }
        self.update_slot(slot, |e| {
            e.label = [0; 32];
            e.label[..label.len()].copy_from_slice(label);
        })
    }

    /// Writes the uuid `table` to a fresh bucket, journals it, and makes it current; the old
    /// bucket is freed once the journal entry is durable.
    /// Writes a uuid table converted from the pre-version-1 layout at registration; must run
    /// before anything else writes a journal entry (6.12's `run_cache_set()` does the same).
    /// Returns whether it did.
    pub(crate) fn upgrade_uuids(&self) -> Result<bool> {
        let mut st = self.state.lock();
        if !st.uuids.converted {
            return Ok(false);
        }
        let table = copy_table(&st)?;
        self.write_uuids(&mut st, table)?;
        st.uuids.converted = false;
        Ok(true)
    }

    fn write_uuids(&self, st: &mut IoState, table: KVVec<u8>) -> Result {
        let bucket = self.alloc(st, Reserve::Btree)?;
        let start = bucket * self.layout.bucket_size;
        let written = self.meta_io(Meta::Uuids, || {
            self.bdev.write_sync(start, &table, WriteKind::Meta)
        });
        if let Err(e) = written {
            st.release_bucket(bucket);
            return Err(e);
        }
        self.stats
            .meta_sectors
            .fetch_add((table.len() >> 9) as u64, Ordering::Relaxed);
        let mut key = Bkey::new(0, 0, (table.len() >> 9) as u64);
        key.set_ptrs(1);
        key.ptr[0] = Bkey::make_ptr(st.gen(bucket), start, 0);
        let r = self.journal_commit(
            st,
            Patch {
                uuid_bucket: Some(key),
                ..Patch::default()
            },
        );
        if let Err(e) = r {
            st.release_bucket(bucket);
            return Err(e);
        }
        let old = st.uuid_bucket;
        st.uuid_bucket = bucket;
        st.release_bucket(old);
        st.uuids.buf = table;
        Ok(())
    }
}

/// A copy of the set's uuid table, to change and write.
fn copy_table(st: &IoState) -> Result<KVVec<u8>> {
    let mut table = KVVec::with_capacity(st.uuids.buf.len(), GFP_KERNEL)?;
    table.extend_from_slice(&st.uuids.buf, GFP_KERNEL)?;
    Ok(table)
}

/// Changes the entry of slot `slot` in `table` with `f`.
fn edit_entry(table: &mut [u8], slot: usize, f: impl FnOnce(&mut UuidEntry)) -> Result {
    let at = slot.checked_mul(UUID_ENTRY_BYTES).ok_or(EINVAL)?;
    let end = at.checked_add(UUID_ENTRY_BYTES).ok_or(EINVAL)?;
    let raw = table.get_mut(at..end).ok_or(EINVAL)?;
    let mut e = UuidEntry::decode(raw).ok_or(EINVAL)?;
    f(&mut e);
    e.encode(raw).ok_or(EINVAL)
}
