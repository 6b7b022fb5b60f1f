// SPDX-License-Identifier: GPL-2.0

//! Synchronous bio IO.
//!
//! C header: [`include/linux/bio.h`](srctree/include/linux/bio.h)

use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::{
    code::{EINVAL, EIO, ENOMEM},
    to_result, Result,
};
use kernel::page::{Page, PAGE_SIZE};
use kernel::prelude::*;

use super::ffi;

/// An owned bio, put on drop.
///
/// # Invariants
///
/// `ptr` is a bio allocated by `bio_alloc_bioset` on which we own the reference.
struct Bio {
    ptr: NonNull<bindings::bio>,
}

impl Drop for Bio {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we own the bio's reference.
        unsafe { bindings::bio_put(self.ptr.as_ptr()) };
    }
}

/// Reads `buf.len()` bytes at `sector` of `bdev` into `buf` with one bio, and waits.
///
/// `buf.len()` must be a non-zero multiple of 512 and at most a page.
///
/// # Safety
///
/// `bdev` must be a block device that stays open until this function returns.
pub(crate) unsafe fn read_page_sync(
    bdev: *mut bindings::block_device,
    sector: u64,
    buf: &mut [u8],
) -> Result {
    let len = buf.len();
    if len == 0 || len > PAGE_SIZE || len % 512 != 0 {
        return Err(EINVAL);
    }
    let page = Page::alloc_page(GFP_KERNEL)?;
    // SAFETY: `bdev` is open (safety contract) and `fs_bio_set` is the kernel's global bio set.
    let ptr = unsafe {
        bindings::bio_alloc_bioset(
            bdev,
            1,
            ffi::rbcache_req_read_meta(),
            bindings::GFP_KERNEL,
            &raw mut bindings::fs_bio_set,
        )
    };
    // INVARIANT: A non-null result is a bio we own.
    let bio = Bio {
        ptr: NonNull::new(ptr).ok_or(ENOMEM)?,
    };
    // SAFETY: We own the bio and it has not been submitted, so we may set it up.
    let added = unsafe {
        (*bio.ptr.as_ptr()).bi_iter.bi_sector = sector;
        bindings::bio_add_page(bio.ptr.as_ptr(), page.as_ptr(), len as u32, 0)
    };
    if added as usize != len {
        return Err(EIO);
    }
    // SAFETY: The bio is fully set up; `page` outlives the synchronous wait.
    to_result(unsafe { bindings::submit_bio_wait(bio.ptr.as_ptr()) })?;
    // SAFETY: `buf` is valid for `len` bytes and the page holds `len` bytes read from disk.
    unsafe { page.read_raw(buf.as_mut_ptr(), 0, len) }
}
