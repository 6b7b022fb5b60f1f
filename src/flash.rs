// SPDX-License-Identifier: GPL-2.0

//! Flash-only volumes: `/dev/bcacheN` devices whose data lives only on the cache.
//!
//! Reads are served from the set's index (see [`crate::set_io`]), holes read as zeroes;
//! writes and discards go through the set's data path, which adds their keys to the pending
//! journal entry. A bio with `REQ_PREFLUSH` or `REQ_FUA`, and an empty flush, completes only
//! after the journal write that makes it (and everything completed before it) durable.
//!
//! A read that one live extent serves entirely is sent on to the cache device from the
//! submitter's context and completed from the clone's completion (read again the slow way
//! if a bucket may have been reused meanwhile). Other bios run on `rbcache_io` work
//! items inside a [`NoIoScope`]; `drain` waits for outstanding bios before the disk is freed.

use kernel::fmt;
use kernel::prelude::*;
use kernel::sync::Arc;

use crate::congested::now_us;
use crate::format::uuid::volume_sectors_ok;
use crate::handoff::{Handler, Handoff};
use crate::kabi::disk::{Bio, BioOp, DiskOps, GenDisk, Remapper, Segment, MAX_WRITE_PARTS};
use crate::kabi::ida::DeviceIndex;
use crate::kabi::noio::NoIoScope;
use crate::set_io::{Direct, Hit, Reserved, SetIo, Source};

/// How many `/dev/bcacheN` there can be, as in 6.12 (`BCACHE_DEVICE_IDX_MAX`): the
/// `1 << MINORBITS` minors, 128 (`BCACHE_MINORS`) to a device. (rbcache's disks take their
/// device numbers from the block layer; only the numbers `N` are shared out here.)
const DEVICE_INDEX_MAX: u32 = (1 << 20) / 128;

/// Takes the lowest free `/dev/bcacheN` number, given back when the index is dropped.
pub(crate) fn alloc_index() -> Result<DeviceIndex> {
    DeviceIndex::alloc(DEVICE_INDEX_MAX - 1)
}

/// A write whose data is in flight to the cache ([`VolumeState::write_async`]).
struct VolumeWrite {
    sector: u64,
    reserved: Reserved,
    /// When it was sent ([`now_us`]), for congestion.
    start: u64,
}

#[pin_data]
struct VolumeState {
    inode: u64,
    sectors: u64,
    io: Arc<SetIo>,
    #[pin]
    handoff: Handoff,
}

impl VolumeState {
    /// Sends a read that one live extent serves entirely on to the cache device, completed by
    /// [`VolumeIo::remapped`]; gives the bio back when it cannot.
    fn read_hit_async(&self, bio: Bio, remap: &Remapper<'_, VolumeIo>) -> Option<Bio> {
        if bio.op() != BioOp::Read || bio.wants_flush() {
            return Some(bio);
        }
        let len = bio.len();
        let sectors = (len >> 9) as u64;
        let sector = bio.sector();
        if sectors == 0
            || len.checked_rem(512) != Some(0)
            || self.check_range(sector, sectors).is_err()
        {
            return Some(bio);
        }
        let Ok(Some(hit)) = self.io.locate_hit(self.inode, sector, sectors) else {
            return Some(bio);
        };
        let ptr = hit.ptr;
        remap
            .read_from(bio, &self.io.bdev, ptr, (hit, now_us()))
            .err()
            .map(|(bio, _)| bio)
    }

    fn handle_bio(&self, mut bio: Bio) {
        let _noio = NoIoScope::new();
        let mut result = match bio.op() {
            BioOp::Read => self.read_into(&mut bio),
            BioOp::Write => self.write_from(&mut bio),
            BioOp::Discard => self.discard(&bio),
            BioOp::Flush => Ok(()),
            _ => Err(EIO),
        };
        if result.is_ok() && (bio.wants_flush() || bio.op() == BioOp::Flush) {
            // Everything completed so far, and this bio, becomes durable.
            result = self.io.flush_journal();
        }
        bio.end(result);
    }

    /// Checks that `start..start + len` (sectors) lies inside the volume.
    fn check_range(&self, start: u64, len: u64) -> Result {
        match start.checked_add(len) {
            Some(end) if end <= self.sectors => Ok(()),
            _ => Err(EIO),
        }
    }

    /// Sends a write that fits in room the cache already has on to the cache device from the
    /// submitter's context; [`VolumeIo::written`] adds its keys once it has completed. Gives
    /// the bio back for anything else (flushes and FUA too).
    fn write_async(&self, bio: Bio, remap: &Remapper<'_, VolumeIo>) -> Option<Bio> {
        let len = bio.len();
        let sectors = (len >> 9) as u64;
        let sector = bio.sector();
        if bio.op() != BioOp::Write
            || bio.wants_flush()
            || sectors == 0
            || len.checked_rem(self.io.layout.block_bytes) != Some(0)
            || self.check_range(sector, sectors).is_err()
        {
            return Some(bio);
        }
        let Some(reserved) = self.io.reserve_nowait(sectors) else {
            return Some(bio);
        };
        let mut parts = [(0u64, 0usize, 0usize); MAX_WRITE_PARTS];
        let parts = reserved.parts(&mut parts);
        let w = VolumeWrite {
            sector,
            reserved,
            start: now_us(),
        };
        match remap.write_parts(bio, &self.io.bdev, parts, w) {
            Ok(()) => None,
            Err((bio, w)) => {
                // Releases the room (nothing is added).
                let _ = self
                    .io
                    .commit_reserved(self.inode, sector, &w.reserved, Err(ENOMEM));
                Some(bio)
            }
        }
    }

    fn read_into(&self, bio: &mut Bio) -> Result {
        let sector = bio.sector();
        self.check_range(sector, (bio.len() >> 9) as u64)?;
        // A hit on one extent: read straight into the bio's pages.
        if self.io.read_direct(self.inode, sector, bio)? == Direct::Hit {
            return Ok(());
        }
        let mut tmp = KVec::from_elem(0u8, 4096, GFP_KERNEL)?;
        bio.for_each_segment(|sector, seg: &mut Segment<'_>| {
            let mut at = 0;
            while at < seg.len() {
                let s = sector + (at as u64 >> 9);
                let want = ((seg.len() - at) >> 9) as u64;
                if want == 0 {
                    return Err(EIO);
                }
                self.check_range(s, 1)?;
                let max = want.min(self.sectors - s).min(8);
                let bytes = self.io.read(self.inode, s, max, &mut tmp)?;
                seg.write_at(at, tmp.get(..bytes).ok_or(EIO)?)?;
                at += bytes;
            }
            Ok(())
        })
    }

    fn write_from(&self, bio: &mut Bio) -> Result {
        let len = bio.len();
        if len == 0 {
            // A pure flush: handled by the caller.
            return Ok(());
        }
        let start = bio.sector();
        self.check_range(start, (len >> 9) as u64)?;
        // Straight from the bio's pages.
        self.io.write(self.inode, start, Source::Bio(bio, 0))
    }

    fn discard(&self, bio: &Bio) -> Result {
        let sectors = (bio.len() >> 9) as u64;
        self.check_range(bio.sector(), sectors)?;
        self.io.discard(self.inode, bio.sector(), sectors)
    }
}

impl Handler for VolumeState {
    fn handoff(&self) -> &Handoff {
        &self.handoff
    }

    fn handle(&self, bio: Bio) {
        self.handle_bio(bio);
    }
}

struct VolumeIo {
    state: Arc<VolumeState>,
}

impl DiskOps for VolumeIo {
    /// The hit, and when it was sent ([`now_us`]), for congestion.
    type Remap = (Hit, u64);

    fn submit(&self, bio: Bio, remap: Remapper<'_, Self>) {
        // As 6.12 with `CACHE_SET_IO_DISABLE`: every bio fails.
        if self.state.io.gc.io_disabled() {
            bio.end(Err(EIO));
            return;
        }
        let Some(bio) = self.state.read_hit_async(bio, &remap) else {
            return;
        };
        if let Some(bio) = self.state.write_async(bio, &remap) {
            Handoff::spawn(&self.state, bio);
        }
    }

    fn remapped(&self, (hit, start): (Hit, u64), bio: Bio, result: Result) -> Option<Bio> {
        self.state.io.io_latency(false, start);
        if result.is_ok() && self.state.io.hit_is_live(&hit) {
            bio.end(Ok(()));
            None
        } else {
            // A cache read error, or a bucket reused meanwhile: read it again the slow way.
            Some(bio)
        }
    }

    type Write = VolumeWrite;

    fn written(&self, w: VolumeWrite, bio: Bio, result: Result) -> Option<Bio> {
        let _noio = NoIoScope::new();
        let state = &self.state;
        // Noted on the work item, a little after the write completed.
        state.io.io_latency(true, w.start);
        state.io.count_io(&result, "writing data");
        match state
            .io
            .commit_reserved(state.inode, w.sector, &w.reserved, result)
        {
            Ok(()) => {
                bio.end(Ok(()));
                None
            }
            // Nothing was added: the slow path does it all again.
            Err(_) => Some(bio),
        }
    }

    fn handle(&self, bio: Bio) {
        self.state.handle_bio(bio);
    }

    fn drain(&self) {
        self.state.handoff.drain();
    }
}

/// A flash-only volume exposed as `/dev/bcacheN`.
pub(crate) struct FlashVolume {
    // Dropped first: deletes the disk and drains its reads; then the number is free again.
    disk: GenDisk<VolumeIo>,
    index: DeviceIndex,
}

impl FlashVolume {
    /// Exposes uuid slot `inode`, a volume of `sectors` sectors, through the set's data path.
    /// `EINVAL` for a size no block device can have ([`volume_sectors_ok`]).
    pub(crate) fn new(inode: u64, sectors: u64, block_bytes: u32, io: Arc<SetIo>) -> Result<Self> {
        if !volume_sectors_ok(sectors) {
            return Err(EINVAL);
        }
        let index = alloc_index()?;
        let state = Arc::pin_init(
            pin_init!(VolumeState {
                inode,
                sectors,
                io,
                handoff <- Handoff::new(),
            }),
            GFP_KERNEL,
        )?;
        let disk = GenDisk::new(
            fmt!("bcache{}", index.get()),
            sectors,
            block_bytes,
            false,
            VolumeIo { state },
        )?;
        Ok(FlashVolume { disk, index })
    }

    /// The disk, for sysfs directories under it.
    pub(crate) fn disk(&self) -> &GenDisk<impl DiskOps> {
        &self.disk
    }

    /// The `N` of `/dev/bcacheN`.
    pub(crate) fn index(&self) -> u32 {
        self.index.get()
    }
}
