// SPDX-License-Identifier: GPL-2.0

//! Block devices opened by path.
//!
//! C header: [`include/linux/blkdev.h`](srctree/include/linux/blkdev.h)

use core::ptr::NonNull;
use kernel::alloc::{flags::GFP_KERNEL, KBox};
use kernel::bindings;
use kernel::error::{code::EINVAL, from_err_ptr, to_result, Result};
use kernel::str::CStr;

use super::bio::{self, WriteKind};
use super::ffi;

/// Returns the device number of the block device at `path` (`lookup_bdev`).
///
/// Fails with `ENOENT` if nothing is there and `ENOTBLK` if it is not a block device.
pub(crate) fn lookup(path: &CStr) -> Result<u32> {
    let mut dev: bindings::dev_t = 0;
    // SAFETY: `path` is NUL-terminated and `dev` is a valid place to store the result.
    to_result(unsafe { bindings::lookup_bdev(path.as_char_ptr(), &mut dev) })?;
    Ok(dev)
}

/// A block device opened read-write and exclusively (`bdev_file_open_by_path`).
///
/// # Invariants
///
/// `file` is an open block-device file, closed only in `Drop`; its holder is `holder`, whose
/// address is unique to this open.
pub(crate) struct BdevFile {
    file: NonNull<bindings::file>,
    // Only its address matters: it is the exclusive holder, distinct for every open.
    _holder: KBox<u64>,
}

// SAFETY: An open block-device file may be used and closed from any thread.
unsafe impl Send for BdevFile {}

// SAFETY: All `&self` methods only read the device's immutable identity or submit IO.
unsafe impl Sync for BdevFile {}

impl BdevFile {
    /// Opens the block device at `path` read-write and exclusively.
    ///
    /// Fails with `EBUSY` if anyone holds it exclusively, including an earlier open of ours.
    pub(crate) fn open_exclusive(path: &CStr) -> Result<Self> {
        let holder = KBox::new(0u64, GFP_KERNEL)?;
        let holder_ptr = (&raw const *holder).cast_mut().cast::<core::ffi::c_void>();
        // SAFETY: `path` is NUL-terminated; the holder pointer stays valid until the file is
        // closed in `Drop`, before the box is freed; no holder operations are passed.
        let file = unsafe {
            bindings::bdev_file_open_by_path(
                path.as_char_ptr(),
                ffi::rbcache_blk_open_rw_excl(),
                holder_ptr,
                core::ptr::null(),
            )
        };
        let file = NonNull::new(from_err_ptr(file)?).ok_or(EINVAL)?;
        // INVARIANT: `file` is open with `holder` as its exclusive holder.
        Ok(Self {
            file,
            _holder: holder,
        })
    }

    pub(super) fn bdev(&self) -> *mut bindings::block_device {
        // SAFETY: By the type invariant `file` is an open block-device file.
        unsafe { bindings::file_bdev(self.file.as_ptr()) }
    }

    /// The block device's kobject (for sysfs directories under it).
    pub(super) fn kobj(&self) -> *mut bindings::kobject {
        // SAFETY: The block device of an open file is live.
        unsafe { ffi::rbcache_bdev_kobj(self.bdev()) }
    }

    /// The block device's name as `%pg` prints it (`vdb`, `vdb1`): the name of its device
    /// in sysfs.
    pub(crate) fn name(&self) -> &CStr {
        // SAFETY: The kobject of an open block device is live and named (`device_add` names
        // it) for as long as the device is open, which is at least as long as `self` lives;
        // its name does not change while it is added.
        unsafe { CStr::from_char_ptr((*self.kobj()).name) }
    }

    /// Returns the device number.
    pub(crate) fn dev(&self) -> u32 {
        // SAFETY: The block device of an open file is live; `bd_dev` never changes.
        unsafe { (*self.bdev()).bd_dev }
    }

    /// Returns the capacity in 512-byte sectors.
    pub(crate) fn nr_sectors(&self) -> u64 {
        // SAFETY: The block device of an open file is live.
        unsafe { ffi::rbcache_bdev_nr_sectors(self.bdev()) }
    }

    /// Returns the logical block size in bytes.
    pub(crate) fn logical_block_size(&self) -> u32 {
        // SAFETY: The block device of an open file is live.
        unsafe { ffi::rbcache_bdev_logical_block_size(self.bdev()) }
    }

    /// Returns the optimal IO size in bytes (0: the device reports none).
    pub(crate) fn io_opt(&self) -> u32 {
        // SAFETY: The block device of an open file is live.
        unsafe { ffi::rbcache_bdev_io_opt(self.bdev()) }
    }

    /// Reads `buf.len()` bytes (a non-zero multiple of 512) at `sector`, synchronously.
    pub(crate) fn read_sync(&self, sector: u64, buf: &mut [u8]) -> Result {
        // SAFETY: The block device stays open, and so valid, for the whole synchronous read.
        unsafe { bio::read_sync(self.bdev(), sector, buf) }
    }

    /// Writes `buf` (a non-zero multiple of 512 bytes) at `sector`, synchronously.
    pub(crate) fn write_sync(&self, sector: u64, buf: &[u8], kind: WriteKind) -> Result {
        // SAFETY: The block device stays open, and so valid, for the whole synchronous write.
        unsafe { bio::write_sync(self.bdev(), sector, buf, kind) }
    }
}

impl BdevFile {
    /// Flushes the device's volatile write cache (`blkdev_issue_flush`).
    pub(crate) fn flush(&self) -> Result {
        // SAFETY: The block device stays open, and so valid, for the whole call.
        to_result(unsafe { bindings::blkdev_issue_flush(self.bdev()) })
    }

    /// Flushes the device's volatile write cache while `f` runs; returns the flush's result
    /// and `f`'s.
    pub(crate) fn flush_while<R>(&self, f: impl FnOnce() -> R) -> (Result, R) {
        // SAFETY: The block device stays open, and so valid, for the whole call.
        unsafe { bio::flush_while(self.bdev(), f) }
    }

    /// Discards `sectors` at `sector` (`blkdev_issue_discard`); a device without discard
    /// support has nothing to do.
    pub(crate) fn discard(&self, sector: u64, sectors: u64) -> Result {
        // SAFETY: The block device stays open, and so valid, for the whole call; the helper
        // only returns `GFP_NOIO`.
        let r = unsafe {
            bindings::blkdev_issue_discard(self.bdev(), sector, sectors, ffi::rbcache_gfp_noio())
        };
        if r == -(bindings::EOPNOTSUPP as i32) {
            return Ok(());
        }
        to_result(r)
    }
}

impl Drop for BdevFile {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `file` is open; this is its only close.
        unsafe { bindings::bdev_fput(self.file.as_ptr()) };
    }
}
