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

/// Most pages one read bio carries (`BIO_MAX_VECS`).
const MAX_PAGES_PER_BIO: usize = 256;

/// Reads `buf.len()` bytes at `sector` of `bdev` into `buf`, synchronously, with as few bios as
/// `BIO_MAX_VECS` allows.
///
/// `buf.len()` must be a non-zero multiple of 512.
///
/// # Safety
///
/// `bdev` must be a block device that stays open until this function returns.
pub(crate) unsafe fn read_sync(
    bdev: *mut bindings::block_device,
    sector: u64,
    buf: &mut [u8],
) -> Result {
    if buf.is_empty() || buf.len() % 512 != 0 {
        return Err(EINVAL);
    }
    let mut done = 0;
    while done < buf.len() {
        let len = (buf.len() - done).min(MAX_PAGES_PER_BIO * PAGE_SIZE);
        // SAFETY: `bdev` stays open (safety contract).
        unsafe {
            read_one_bio(
                bdev,
                sector + (done as u64 >> 9),
                &mut buf[done..done + len],
            )
        }?;
        done += len;
    }
    Ok(())
}

/// One bio of up to [`MAX_PAGES_PER_BIO`] pages.
///
/// # Safety
///
/// As for [`read_sync`].
unsafe fn read_one_bio(bdev: *mut bindings::block_device, sector: u64, buf: &mut [u8]) -> Result {
    let npages = buf.len().div_ceil(PAGE_SIZE);
    let mut pages = KVec::with_capacity(npages, GFP_KERNEL)?;
    for _ in 0..npages {
        pages.push(Page::alloc_page(GFP_KERNEL)?, GFP_KERNEL)?;
    }
    // SAFETY: `bdev` is open (safety contract) and `fs_bio_set` is the kernel's global bio set.
    let ptr = unsafe {
        bindings::bio_alloc_bioset(
            bdev,
            npages as u16,
            ffi::rbcache_req_read_meta(),
            bindings::GFP_KERNEL,
            &raw mut bindings::fs_bio_set,
        )
    };
    // INVARIANT: A non-null result is a bio we own.
    let bio = Bio {
        ptr: NonNull::new(ptr).ok_or(ENOMEM)?,
    };
    // SAFETY: We own the bio and it has not been submitted.
    unsafe { (*bio.ptr.as_ptr()).bi_iter.bi_sector = sector };
    for (i, page) in pages.iter().enumerate() {
        let len = (buf.len() - i * PAGE_SIZE).min(PAGE_SIZE);
        // SAFETY: The bio was allocated with room for `npages` vectors; the page outlives it.
        let added =
            unsafe { bindings::bio_add_page(bio.ptr.as_ptr(), page.as_ptr(), len as u32, 0) };
        if added as usize != len {
            return Err(EIO);
        }
    }
    // SAFETY: The bio is fully set up; the pages outlive the synchronous wait.
    to_result(unsafe { bindings::submit_bio_wait(bio.ptr.as_ptr()) })?;
    for (i, page) in pages.iter().enumerate() {
        let chunk = &mut buf[i * PAGE_SIZE..];
        let len = chunk.len().min(PAGE_SIZE);
        // SAFETY: `chunk` is valid for `len` bytes and the page holds `len` bytes read from disk.
        unsafe { page.read_raw(chunk.as_mut_ptr(), 0, len) }?;
    }
    Ok(())
}
