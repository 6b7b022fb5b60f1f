// SPDX-License-Identifier: GPL-2.0

//! Declarations of the C helpers in `src/helpers.c`.
//!
//! C header: `src/helpers.h`

use kernel::bindings;

// Kernel structs named here have zero-sized members in some configurations.
#[allow(improper_ctypes)]
extern "C" {
    /// `bdev_nr_sectors()`.
    pub(crate) fn rbcache_bdev_nr_sectors(bdev: *mut bindings::block_device) -> bindings::sector_t;
    /// `bdev_logical_block_size()`.
    pub(crate) fn rbcache_bdev_logical_block_size(
        bdev: *mut bindings::block_device,
    ) -> core::ffi::c_uint;
    /// `BLK_OPEN_READ | BLK_OPEN_WRITE | BLK_OPEN_EXCL`.
    pub(crate) fn rbcache_blk_open_rw_excl() -> bindings::blk_mode_t;
    /// `REQ_OP_READ | REQ_SYNC | REQ_META`.
    pub(crate) fn rbcache_req_read_meta() -> bindings::blk_opf_t;
    /// `REQ_OP_WRITE | REQ_SYNC | REQ_META`.
    pub(crate) fn rbcache_req_write_meta() -> bindings::blk_opf_t;
    /// `REQ_OP_WRITE | REQ_SYNC | REQ_META | REQ_PREFLUSH | REQ_FUA`.
    pub(crate) fn rbcache_req_write_meta_flush_fua() -> bindings::blk_opf_t;

    /// Attributes of `/sys/fs/bcache/`.
    pub(crate) static rbcache_root_group: bindings::attribute_group;
    /// Attributes of `/sys/fs/bcache/<set-uuid>/`.
    pub(crate) static rbcache_set_group: bindings::attribute_group;
    /// Attributes of `/sys/fs/bcache/<set-uuid>/internal/`.
    pub(crate) static rbcache_internal_group: bindings::attribute_group;
}
