// SPDX-License-Identifier: GPL-2.0

//! Dirty-data accounting of attached cached devices: sectors of dirty data per stripe of the
//! backing device, as 6.12's `stripe_sectors_dirty`.
//!
//! The counts of a device are set up when it attaches, from a scan of its keys under the
//! state lock ([`SetIo::track_dirty`]), and then kept by every key the index takes in
//! ([`crate::index::Index::insert`] reports the dirty data each insert removes and adds).
//! They give `dirty_data`, tell writeback whether there is anything to do, and feed the
//! writeback rate controller, without walking the index.

use kernel::prelude::*;

use crate::format::extents::{self, INODE_SHIFT};
use crate::format::writeback::{account, stripe_count};
use crate::set_io::{IoState, SetIo};

/// Dirty sectors per stripe of one cached device.
pub(crate) struct DirtyCounts {
    inode: u64,
    stripe: u64,
    counts: KVVec<u32>,
}

impl DirtyCounts {
    /// The accounting callback for keys of `inode` (see [`crate::index::Index::insert`]):
    /// counts the dirty data of a tracked device, ignores the others.
    pub(crate) fn accountant(
        all: &mut KVec<Option<DirtyCounts>>,
        inode: u64,
    ) -> impl FnMut(u64, u64, bool) + '_ {
        let mask = (1u64 << INODE_SHIFT) - 1;
        let mut dev = all.iter_mut().flatten().find(|d| d.inode == inode);
        move |a, b, added| {
            if let Some(d) = dev.as_mut() {
                account(&mut d.counts, d.stripe, a & mask, b & mask, added);
            }
        }
    }

    fn total(&self) -> u64 {
        self.counts.iter().map(|&c| u64::from(c)).sum()
    }
}

impl SetIo {
    /// Starts counting the dirty data of `inode`, a device of `sectors` sectors in stripes of
    /// `stripe` sectors: the counts start from a scan of its keys.
    pub(crate) fn track_dirty(&self, inode: u64, sectors: u64, stripe: u64) -> Result {
        let n = usize::try_from(stripe_count(sectors, stripe)).map_err(|_| EINVAL)?;
        let mut counts = KVVec::from_elem(0u32, n, GFP_KERNEL)?;
        let (Some(lo), Some(hi)) = (extents::key(inode, 0), extents::key(inode + 1, 0)) else {
            return Err(EINVAL);
        };
        let mask = (1u64 << INODE_SHIFT) - 1;
        let mut guard = self.state.lock();
        let IoState {
            index,
            buckets,
            dirty,
            ..
        } = &mut *guard;
        let bs = self.layout.bucket_size;
        index.scan(lo, &self.nodes(buckets), &mut |e| {
            if e.start >= hi {
                return false;
            }
            let live = buckets
                .get(e.ptr.checked_div(bs).unwrap_or(u64::MAX) as usize)
                .map(|b| b.gen)
                == Some(e.gen);
            if e.dirty && live {
                account(
                    &mut counts,
                    stripe,
                    e.start & mask,
                    e.end.min(hi) & mask,
                    true,
                );
            }
            true
        })?;
        let new = DirtyCounts {
            inode,
            stripe,
            counts,
        };
        // The device's old slot if it has one (a re-attach), else a free one.
        let slot = match dirty
            .iter()
            .position(|d| d.as_ref().is_some_and(|d| d.inode == inode))
        {
            Some(i) => Some(i),
            None => dirty.iter().position(Option::is_none),
        };
        match slot.and_then(|i| dirty.get_mut(i)) {
            Some(slot) => *slot = Some(new),
            None => dirty.push(Some(new), GFP_KERNEL)?,
        }
        Ok(())
    }

    /// Stops counting the dirty data of `inode`.
    pub(crate) fn untrack_dirty(&self, inode: u64) {
        for d in self.state.lock().dirty.iter_mut() {
            if d.as_ref().is_some_and(|d| d.inode == inode) {
                *d = None;
            }
        }
    }

    /// Sectors of dirty data of `inode` in the cache (`dirty_data`); 0 for a device whose
    /// data is not counted.
    pub(crate) fn dirty_sectors(&self, inode: u64) -> u64 {
        let st = self.state.lock();
        st.dirty
            .iter()
            .flatten()
            .find(|d| d.inode == inode)
            .map_or(0, DirtyCounts::total)
    }

    /// Sectors of the cache that `writeback_percent` is a share of: every bucket's sectors
    /// (6.12 also subtracts the data of flash volumes, which rbcache does not count).
    pub(crate) fn writeback_room(&self) -> u64 {
        self.layout.nbuckets * self.layout.bucket_size
    }
}
