// SPDX-License-Identifier: GPL-2.0

//! Flash-only volumes: `/dev/bcacheN` devices whose data lives only on the cache.
//!
//! At this stage a volume is read-only. Its reads are served from the extent map built at
//! registration from the btree and the journal (see [`crate::metadata`]); holes read as zeroes.
//! The disk is marked read-only and writes and discards end with `EROFS`: the write path comes
//! with the btree insert and journal code.
//!
//! Reads run on `system_unbound` work items inside a [`NoIoScope`], one synchronous cache read
//! per contiguous run; `drain` waits for outstanding reads before the disk is freed.

use core::sync::atomic::{AtomicU64, Ordering};
use kernel::fmt;
use kernel::prelude::*;
use kernel::sync::{new_condvar, new_mutex, Arc, CondVar, Mutex};
use kernel::workqueue;

use crate::format::extents::{self, Extent};
use crate::kabi::bdev::BdevFile;
use crate::kabi::disk::{Bio, BioOp, DiskOps, GenDisk, Segment};
use crate::kabi::noio::NoIoScope;

/// Bitmap of `/dev/bcacheN` indices in use.
static INDICES: AtomicU64 = AtomicU64::new(0);

fn alloc_index() -> Option<u32> {
    let mut cur = INDICES.load(Ordering::Relaxed);
    loop {
        let free = (!cur).trailing_zeros();
        if free >= 64 {
            return None;
        }
        match INDICES.compare_exchange(cur, cur | (1 << free), Ordering::AcqRel, Ordering::Relaxed)
        {
            Ok(_) => return Some(free),
            Err(now) => cur = now,
        }
    }
}

fn free_index(i: u32) {
    INDICES.fetch_and(!(1u64 << i), Ordering::AcqRel);
}

/// The extent map of a cache set (all volumes, keyed by [`extents::key`]).
pub(crate) struct Extents {
    buf: KVVec<Extent>,
    len: usize,
}

impl Extents {
    /// Wraps the first `len` entries of `buf`.
    pub(crate) fn new(buf: KVVec<Extent>, len: usize) -> Self {
        Extents { buf, len }
    }

    fn as_slice(&self) -> &[Extent] {
        &self.buf[..self.len.min(self.buf.len())]
    }
}

#[pin_data]
struct VolumeState {
    inode: u64,
    sectors: u64,
    extents: Arc<Extents>,
    bdev: Arc<BdevFile>,
    #[pin]
    pending: Mutex<u64>,
    #[pin]
    idle: CondVar,
}

impl VolumeState {
    fn done(&self) {
        let mut pending = self.pending.lock();
        *pending -= 1;
        if *pending == 0 {
            self.idle.notify_all();
        }
    }

    fn read(&self, mut bio: Bio) {
        let _noio = NoIoScope::new();
        let result = self.read_into(&mut bio);
        bio.end(result);
    }

    fn read_into(&self, bio: &mut Bio) -> Result {
        let mut tmp = KVec::from_elem(0u8, 4096, GFP_KERNEL)?;
        let map = self.extents.as_slice();
        bio.for_each_segment(|sector, seg: &mut Segment<'_>| {
            let mut at = 0;
            while at < seg.len() {
                let s = sector + (at as u64 >> 9);
                let want = ((seg.len() - at) >> 9) as u64;
                if want == 0 {
                    return Err(EIO);
                }
                let (ptr, run) = match extents::key(self.inode, s) {
                    Some(k) if s < self.sectors => {
                        extents::lookup(map, k, want.min(self.sectors - s).min(8))
                    }
                    _ => (None, want),
                };
                let bytes = (run as usize) << 9;
                match ptr {
                    Some(c) => {
                        let buf = tmp.get_mut(..bytes).ok_or(EIO)?;
                        self.bdev.read_sync(c, buf)?;
                        seg.write_at(at, buf)?;
                    }
                    None => seg.zero_at(at, bytes)?,
                }
                at += bytes;
            }
            Ok(())
        })
    }
}

struct VolumeIo {
    state: Arc<VolumeState>,
}

impl DiskOps for VolumeIo {
    fn submit(&self, bio: Bio) {
        match bio.op() {
            BioOp::Read => {
                *self.state.pending.lock() += 1;
                let state = self.state.clone();
                let _noio = NoIoScope::new();
                let spawned = workqueue::system_unbound().try_spawn(GFP_KERNEL, move || {
                    state.read(bio);
                    state.done();
                });
                if spawned.is_err() {
                    // The closure, and with it the bio, was dropped: the bio ended with EIO.
                    self.state.done();
                }
            }
            BioOp::Flush if bio.len() == 0 => bio.end(Ok(())),
            _ => bio.end(Err(EROFS)),
        }
    }

    fn drain(&self) {
        let mut pending = self.state.pending.lock();
        while *pending > 0 {
            self.state.idle.wait(&mut pending);
        }
    }
}

/// A flash-only volume exposed as `/dev/bcacheN`.
pub(crate) struct FlashVolume {
    // Dropped first: deletes the disk and drains its reads.
    disk: Option<GenDisk<VolumeIo>>,
    index: u32,
}

impl FlashVolume {
    /// Exposes uuid slot `inode`, a volume of `sectors` sectors, reading cache `bdev`.
    pub(crate) fn new(
        inode: u64,
        sectors: u64,
        block_bytes: u32,
        extents: Arc<Extents>,
        bdev: Arc<BdevFile>,
    ) -> Result<Self> {
        let index = alloc_index().ok_or(ENOSPC)?;
        let state = Arc::pin_init(
            pin_init!(VolumeState {
                inode,
                sectors,
                extents,
                bdev,
                pending <- new_mutex!(0, "VolumeState::pending"),
                idle <- new_condvar!("VolumeState::idle"),
            }),
            GFP_KERNEL,
        );
        let state = match state {
            Ok(s) => s,
            Err(e) => {
                free_index(index);
                return Err(e);
            }
        };
        match GenDisk::new(
            fmt!("bcache{}", index),
            sectors,
            block_bytes,
            true,
            VolumeIo { state },
        ) {
            Ok(disk) => Ok(FlashVolume {
                disk: Some(disk),
                index,
            }),
            Err(e) => {
                free_index(index);
                Err(e)
            }
        }
    }

    /// The `N` of `/dev/bcacheN`.
    pub(crate) fn index(&self) -> u32 {
        self.index
    }
}

impl Drop for FlashVolume {
    fn drop(&mut self) {
        drop(self.disk.take());
        free_index(self.index);
    }
}
