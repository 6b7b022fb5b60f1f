// SPDX-License-Identifier: GPL-2.0

//! A registered backing device.
//!
//! At this stage a backing device is recorded and held open (exclusively, as bcache does) until
//! `pendings_cleanup` or module exit releases it; attaching, `/dev/bcacheN` and its sysfs come
//! with the backing-device support.

use kernel::prelude::*;

use crate::format::superblock::{Superblock, UuidDisplay};
use crate::kabi::bdev::BdevFile;

/// A registered backing device.
pub(crate) struct BackingDev {
    sb: Superblock,
    bdev: BdevFile,
}

impl BackingDev {
    /// Records the opened backing device `bdev` whose superblock is `sb`.
    pub(crate) fn new(bdev: BdevFile, sb: Superblock) -> Self {
        Self { sb, bdev }
    }

    /// Returns the data offset in sectors: where the cached data starts on the device.
    pub(crate) fn data_offset(&self) -> u64 {
        self.sb.data_offset()
    }

    /// Returns the UUID of the cache set this device belongs to.
    pub(crate) fn set_uuid(&self) -> &[u8; 16] {
        &self.sb.set_uuid
    }

    /// Releases the device, logging why.
    pub(crate) fn release(self: KBox<Self>, why: &str) {
        let dev = self.bdev.dev();
        pr_info!(
            "backing device {}:{} ({}) released: {}\n",
            dev >> 20,
            dev & 0xfffff,
            UuidDisplay(&self.sb.uuid),
            why
        );
    }
}
