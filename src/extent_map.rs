// SPDX-License-Identifier: GPL-2.0

//! The in-memory index of a cache set: every live extent of every volume, sorted, in one
//! growable array (see [`crate::format::extents`] for the overlap rules).
//!
//! It is the authority for reads and the source every btree leaf is written from. Growth
//! doubles the array (fallibly) before an insert could run out of room, so an insert that has
//! been journaled always reaches the map.

use kernel::prelude::*;

use crate::format::extents::{self, Extent, ExtentList, Full};

/// The extent map of a cache set (all volumes, keyed by [`extents::key`]).
pub(crate) struct Extents {
    buf: KVVec<Extent>,
    len: usize,
}

impl Extents {
    /// Wraps the first `len` entries of `buf`.
    pub(crate) fn new(buf: KVVec<Extent>, len: usize) -> Self {
        let len = len.min(buf.len());
        Extents { buf, len }
    }

    /// The extents, in order.
    pub(crate) fn as_slice(&self) -> &[Extent] {
        &self.buf[..self.len]
    }

    /// Bytes of memory the map holds.
    pub(crate) fn bytes(&self) -> usize {
        self.buf.len() * core::mem::size_of::<Extent>()
    }

    /// Makes room for `keys` more inserts (each adds at most two entries net).
    pub(crate) fn reserve(&mut self, keys: usize) -> Result {
        let need = self.len + 2 * keys + 1;
        if need <= self.buf.len() {
            return Ok(());
        }
        let cap = need.max(self.buf.len().saturating_mul(2)).max(1024);
        let mut buf = KVVec::with_capacity(cap, GFP_KERNEL)?;
        buf.extend_from_slice(self.as_slice(), GFP_KERNEL)?;
        buf.extend_with(cap - self.len, Extent::default(), GFP_KERNEL)?;
        self.buf = buf;
        Ok(())
    }

    /// Inserts one extent (see [`ExtentList::insert`]); call [`Extents::reserve`] first.
    pub(crate) fn insert(
        &mut self,
        start: u64,
        end: u64,
        ptr: Option<u64>,
        dirty: bool,
    ) -> Result<(), Full> {
        let mut list = ExtentList::from_parts(&mut self.buf, self.len);
        let r = list.insert(start, end, ptr, dirty);
        self.len = list.len();
        r
    }

    /// See [`extents::lookup`].
    pub(crate) fn lookup(&self, sector: u64, max: u64) -> (Option<u64>, u64) {
        extents::lookup(self.as_slice(), sector, max)
    }
}
