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
    /// `bdev_kobj()`: the block device's kobject.
    pub(crate) fn rbcache_bdev_kobj(bdev: *mut bindings::block_device) -> *mut bindings::kobject;
    /// `&disk_to_dev(disk)->kobj`: the disk's kobject.
    pub(crate) fn rbcache_disk_kobj(disk: *mut bindings::gendisk) -> *mut bindings::kobject;
    /// `bdev_logical_block_size()`.
    pub(crate) fn rbcache_bdev_logical_block_size(
        bdev: *mut bindings::block_device,
    ) -> core::ffi::c_uint;
    /// `bdev_io_opt()`: the optimal IO size in bytes (0: none).
    pub(crate) fn rbcache_bdev_io_opt(bdev: *mut bindings::block_device) -> core::ffi::c_uint;
    /// `BLK_OPEN_READ | BLK_OPEN_WRITE | BLK_OPEN_EXCL`.
    pub(crate) fn rbcache_blk_open_rw_excl() -> bindings::blk_mode_t;
    /// `REQ_OP_READ | REQ_SYNC | REQ_META`.
    pub(crate) fn rbcache_req_read_meta() -> bindings::blk_opf_t;
    /// `REQ_OP_WRITE | REQ_SYNC`.
    pub(crate) fn rbcache_req_write() -> bindings::blk_opf_t;
    /// `REQ_OP_WRITE | REQ_SYNC | REQ_META`.
    pub(crate) fn rbcache_req_write_meta() -> bindings::blk_opf_t;
    /// `REQ_OP_WRITE | REQ_SYNC | REQ_META | REQ_FUA`.
    pub(crate) fn rbcache_req_write_meta_fua() -> bindings::blk_opf_t;
    /// `REQ_OP_WRITE | REQ_SYNC | REQ_META | REQ_PREFLUSH | REQ_FUA`.
    pub(crate) fn rbcache_req_write_meta_flush_fua() -> bindings::blk_opf_t;
    /// `REQ_FUA`.
    pub(crate) fn rbcache_req_fua() -> bindings::blk_opf_t;
    /// `REQ_OP_WRITE | REQ_PREFLUSH`: an empty flush.
    pub(crate) fn rbcache_req_preflush() -> bindings::blk_opf_t;

    /// `blk_alloc_disk()` of a bio-based disk with `block_bytes` logical blocks.
    pub(crate) fn rbcache_alloc_disk(block_bytes: core::ffi::c_uint) -> *mut bindings::gendisk;
    /// `*bv = bio_iter_iovec(bio, *iter)`.
    pub(crate) fn rbcache_bio_iter_bvec(
        bio: *mut bindings::bio,
        iter: *mut bindings::bvec_iter,
        bv: *mut bindings::bio_vec,
    );
    /// `bio_advance_iter_single(bio, iter, bytes)`.
    pub(crate) fn rbcache_bio_advance_iter(
        bio: *mut bindings::bio,
        iter: *mut bindings::bvec_iter,
        bytes: core::ffi::c_uint,
    );
    /// `GFP_NOIO`.
    pub(crate) fn rbcache_gfp_noio() -> bindings::gfp_t;
    /// The module's IDA of `/dev/bcacheN` numbers (a static `DEFINE_IDA`).
    pub(crate) fn rbcache_device_ida() -> *mut bindings::ida;
    /// `init_completion()`.
    pub(crate) fn rbcache_init_completion(done: *mut bindings::completion);
    /// `init_waitqueue_head()` (one lockdep class for all of rbcache's).
    pub(crate) fn rbcache_init_waitqueue_head(wq: *mut bindings::wait_queue_head);
    /// `INIT_WORK(work, func)`.
    pub(crate) fn rbcache_init_work(work: *mut bindings::work_struct, func: bindings::work_func_t);
    /// `queue_work(wq, work)`: false if it was already pending.
    pub(crate) fn rbcache_queue_work(
        wq: *mut bindings::workqueue_struct,
        work: *mut bindings::work_struct,
    ) -> bool;
    /// `memalloc_noio_save()`.
    pub(crate) fn rbcache_memalloc_noio_save() -> core::ffi::c_uint;
    /// `memalloc_noio_restore(flags)`.
    pub(crate) fn rbcache_memalloc_noio_restore(flags: core::ffi::c_uint);
    /// Lockdep: a `submit_bio` of ours begins (nothing without lockdep).
    pub(crate) fn rbcache_lockdep_submit_enter();
    /// Lockdep: that `submit_bio` ends.
    pub(crate) fn rbcache_lockdep_submit_exit();
    /// `bio_op(bio)`.
    pub(crate) fn rbcache_bio_op(bio: *mut bindings::bio) -> bindings::req_op;
    /// `bio->bi_opf & (REQ_PREFLUSH | REQ_FUA)`.
    pub(crate) fn rbcache_bio_wants_flush(bio: *mut bindings::bio) -> bool;
    /// Readahead or background IO that is not metadata (`REQ_RAHEAD | REQ_BACKGROUND`
    /// without `REQ_META | REQ_PRIO`).
    pub(crate) fn rbcache_bio_readahead(bio: *mut bindings::bio) -> bool;
    /// `op_is_sync()`, or metadata (`REQ_META | REQ_PRIO`).
    pub(crate) fn rbcache_bio_sync(bio: *mut bindings::bio) -> bool;
    /// The block-device operations of rbcache's disks (submit_bio is in `kabi::disk`).
    pub(crate) static rbcache_disk_fops: bindings::block_device_operations;

    /// Attributes of `/sys/fs/bcache/`.
    pub(crate) static rbcache_root_group: bindings::attribute_group;
    /// Attributes of `/sys/fs/bcache/<set-uuid>/`.
    pub(crate) static rbcache_set_group: bindings::attribute_group;
    /// Attributes of `/sys/fs/bcache/<set-uuid>/internal/`.
    pub(crate) static rbcache_internal_group: bindings::attribute_group;
    /// Attributes of `/sys/block/<cache device>/bcache/`.
    pub(crate) static rbcache_cache_group: bindings::attribute_group;
    /// Attributes of `/sys/block/bcacheN/bcache/` of a flash volume.
    pub(crate) static rbcache_volume_group: bindings::attribute_group;
    pub(crate) static rbcache_backing_group: bindings::attribute_group;
    pub(crate) static rbcache_stats_group: bindings::attribute_group;
}
