// SPDX-License-Identifier: GPL-2.0

//! Synchronous bio IO for metadata and data, and the module's private bio pools.
//!
//! C header: [`include/linux/bio.h`](srctree/include/linux/bio.h)
//!
//! No bio of rbcache comes from `fs_bio_set`, the pool the filesystems share: a bio of
//! theirs may be waiting for our work items, so a work item of ours that waited for room in
//! their pool could wait for itself. Metadata IO uses the module's pool ([`MetaBios`]); the
//! clones of a disk's bios use the disk's own pools (`disk.rs`).

use core::ptr::{null_mut, NonNull};
use core::sync::atomic::{AtomicI32, AtomicPtr, AtomicUsize, Ordering};
use kernel::bindings;
use kernel::error::{
    code::{EINVAL, EIO, ENOMEM},
    to_result, Result,
};
use kernel::page::{Page, PAGE_SIZE};
use kernel::prelude::*;
use kernel::types::Opaque;

use super::ffi;

/// A private pool of bios (`struct bio_set`), exited on drop.
///
/// Each pool keeps `pool` bios (and, with bvecs, `pool` bio_vec arrays of `BIO_MAX_VECS`) in
/// reserve, so that an allocation that may wait (`GFP_NOIO`, `GFP_KERNEL`) always succeeds
/// once bios of the pool already in flight complete: a task must therefore submit each bio it
/// allocates from a pool before it allocates the next. Under `submit_bio`, bios submitted are
/// only sent on once it returns, so a pool used there needs a rescuer (a workqueue that sends
/// them on when an allocation would wait).
///
/// # Invariants
///
/// `set` was initialised by `bioset_init` and stays where it is (boxed) until `bioset_exit`,
/// in `Drop`. Its owner (in `kabi`) drops it only once every bio allocated from it is put.
pub(super) struct BioSet {
    set: KBox<Opaque<bindings::bio_set>>,
}

// SAFETY: A bio set is used from any context: its mempools lock themselves.
unsafe impl Send for BioSet {}

// SAFETY: As for `Send`: allocating and freeing need no exclusive access.
unsafe impl Sync for BioSet {}

impl BioSet {
    /// A pool of `pool` bios with `front_pad` bytes before each; `bvecs`: bios may carry their
    /// own bio_vecs (else only clones, which share their source's); `rescuer`: bios may be
    /// allocated from it under `submit_bio`.
    pub(super) fn new(pool: u32, front_pad: u32, bvecs: bool, rescuer: bool) -> Result<Self> {
        // SAFETY: `bio_set` is a plain C struct; all zeroes is the state `bioset_exit`
        // accepts for one never initialised, and what `bioset_init` starts from.
        let set = KBox::new(
            Opaque::new(unsafe { core::mem::zeroed::<bindings::bio_set>() }),
            GFP_KERNEL,
        )?;
        let mut flags = 0;
        if bvecs {
            flags |= bindings::BIOSET_NEED_BVECS;
        }
        if rescuer {
            flags |= bindings::BIOSET_NEED_RESCUER;
        }
        // SAFETY: `set` is zeroed and boxed, so it does not move; on failure `bioset_init` has
        // undone what it did, and the box is simply freed.
        to_result(unsafe { bindings::bioset_init(set.get(), pool, front_pad, flags as i32) })?;
        // INVARIANT: Initialised, and boxed.
        Ok(BioSet { set })
    }

    /// The pool, for `bio_alloc_bioset` and `bio_alloc_clone`.
    pub(super) fn as_ptr(&self) -> *mut bindings::bio_set {
        self.set.get()
    }
}

impl Drop for BioSet {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the set was initialised and no bio of it is left; the
        // rescuer, if any, is drained by `bioset_exit` before it goes.
        unsafe { bindings::bioset_exit(self.set.get()) };
    }
}

/// The module's pool for metadata IO, published by [`MetaBios::new`] (null before and after).
static META_BIOS: AtomicPtr<bindings::bio_set> = AtomicPtr::new(null_mut());

/// Owns the pool of the module's metadata bios ([`read_sync`], [`write_sync`],
/// [`flush_while`]) from module load to unload: four bios and four `BIO_MAX_VECS` bio_vec
/// arrays in reserve, as 6.12's `bcache` keeps four in each of its pools. These bios are
/// sent from threads and work items, never under `submit_bio`, and each is submitted before
/// the next is allocated: no rescuer.
pub(crate) struct MetaBios {
    // Exited when dropped, after `Drop::drop` unpublished it.
    _set: BioSet,
}

impl MetaBios {
    /// Creates the pool and publishes it.
    pub(crate) fn new() -> Result<Self> {
        let set = BioSet::new(4, 0, true, false)?;
        META_BIOS.store(set.as_ptr(), Ordering::Release);
        Ok(MetaBios { _set: set })
    }
}

impl Drop for MetaBios {
    fn drop(&mut self) {
        // The module drops it after every cache set and device is gone, so no metadata IO is
        // in flight or to come; then the pool is exited.
        META_BIOS.store(null_mut(), Ordering::Release);
    }
}

/// The pool for a metadata bio: the module's ([`MetaBios`]), or, outside the module's
/// lifetime (never, in practice), `fs_bio_set`.
fn meta_bios() -> *mut bindings::bio_set {
    let p = META_BIOS.load(Ordering::Acquire);
    if p.is_null() {
        return &raw mut bindings::fs_bio_set;
    }
    p
}

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

/// How a synchronous metadata write reaches the media.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteKind {
    /// `REQ_SYNC`: data, made durable by a later flush.
    Data,
    /// `REQ_SYNC | REQ_META`: ordered by a later flush.
    Meta,
    /// Also `REQ_FUA`: this is durable when it completes (what was written before may not be).
    Fua,
    /// Also `REQ_PREFLUSH | REQ_FUA`: everything written before, and this, is durable when it
    /// completes.
    FlushFua,
}

/// The data side of a synchronous bio.
enum Data<'a> {
    Read(&'a mut [u8]),
    Write(&'a [u8], WriteKind),
}

impl Data<'_> {
    fn len(&self) -> usize {
        match self {
            Data::Read(b) => b.len(),
            Data::Write(b, _) => b.len(),
        }
    }
}

/// Splits `total` bytes (a non-zero multiple of 512) into bio-sized chunks: `f(offset, len)`.
fn for_each_chunk(total: usize, mut f: impl FnMut(usize, usize) -> Result) -> Result {
    if total == 0 || total % 512 != 0 {
        return Err(EINVAL);
    }
    let mut done = 0;
    while done < total {
        let len = (total - done).min(MAX_PAGES_PER_BIO * PAGE_SIZE);
        f(done, len)?;
        done += len;
    }
    Ok(())
}

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
    for_each_chunk(buf.len(), |off, len| {
        let chunk = Data::Read(&mut buf[off..off + len]);
        // SAFETY: `bdev` stays open (safety contract).
        unsafe { one_bio(bdev, sector + (off as u64 >> 9), chunk) }
    })
}

/// Writes `buf` (a non-zero multiple of 512 bytes) at `sector` of `bdev`, synchronously.
///
/// With [`WriteKind::FlushFua`] and more than one bio, every bio carries the flags.
///
/// # Safety
///
/// `bdev` must be a block device that stays open until this function returns.
pub(crate) unsafe fn write_sync(
    bdev: *mut bindings::block_device,
    sector: u64,
    buf: &[u8],
    kind: WriteKind,
) -> Result {
    for_each_chunk(buf.len(), |off, len| {
        let chunk = Data::Write(&buf[off..off + len], kind);
        // SAFETY: `bdev` stays open (safety contract).
        unsafe { one_bio(bdev, sector + (off as u64 >> 9), chunk) }
    })
}

/// One bio of up to [`MAX_PAGES_PER_BIO`] pages.
///
/// # Safety
///
/// As for [`read_sync`].
unsafe fn one_bio(bdev: *mut bindings::block_device, sector: u64, mut data: Data<'_>) -> Result {
    let total = data.len();
    let npages = total.div_ceil(PAGE_SIZE);
    let mut pages = KVec::with_capacity(npages, GFP_KERNEL)?;
    for i in 0..npages {
        let page = Page::alloc_page(GFP_KERNEL)?;
        if let Data::Write(src, _) = &data {
            let chunk = &src[i * PAGE_SIZE..];
            let len = chunk.len().min(PAGE_SIZE);
            // SAFETY: `chunk` is valid for `len` bytes, which fit in the page.
            unsafe { page.write_raw(chunk.as_ptr(), 0, len) }?;
        }
        pages.push(page, GFP_KERNEL)?;
    }
    // SAFETY: These helpers only return constants.
    let opf = unsafe {
        match &data {
            Data::Read(_) => ffi::rbcache_req_read_meta(),
            Data::Write(_, WriteKind::Data) => ffi::rbcache_req_write(),
            Data::Write(_, WriteKind::Meta) => ffi::rbcache_req_write_meta(),
            Data::Write(_, WriteKind::Fua) => ffi::rbcache_req_write_meta_fua(),
            Data::Write(_, WriteKind::FlushFua) => ffi::rbcache_req_write_meta_flush_fua(),
        }
    };
    // SAFETY: `bdev` is open (safety contract); the pool is the module's, live while any
    // metadata IO can be issued (see `MetaBios`), or `fs_bio_set`, set up at boot.
    let ptr = unsafe {
        bindings::bio_alloc_bioset(bdev, npages as u16, opf, bindings::GFP_KERNEL, meta_bios())
    };
    // INVARIANT: A non-null result is a bio we own.
    let bio = Bio {
        ptr: NonNull::new(ptr).ok_or(ENOMEM)?,
    };
    // SAFETY: We own the bio and it has not been submitted.
    unsafe { (*bio.ptr.as_ptr()).bi_iter.bi_sector = sector };
    for (i, page) in pages.iter().enumerate() {
        let len = (total - i * PAGE_SIZE).min(PAGE_SIZE);
        // SAFETY: The bio was allocated with room for `npages` vectors; the page outlives it.
        let added =
            unsafe { bindings::bio_add_page(bio.ptr.as_ptr(), page.as_ptr(), len as u32, 0) };
        if added as usize != len {
            return Err(EIO);
        }
    }
    // SAFETY: The bio is fully set up; the pages outlive the synchronous wait.
    to_result(unsafe { bindings::submit_bio_wait(bio.ptr.as_ptr()) })?;
    if let Data::Read(dst) = &mut data {
        for (i, page) in pages.iter().enumerate() {
            let chunk = &mut dst[i * PAGE_SIZE..];
            let len = chunk.len().min(PAGE_SIZE);
            // SAFETY: `chunk` is valid for `len` bytes and the page holds `len` bytes read.
            unsafe { page.read_raw(chunk.as_mut_ptr(), 0, len) }?;
        }
    }
    Ok(())
}

/// Submits `bio`, runs `f` while it is in flight, then waits for it and puts it; returns its
/// result and `f`'s.
///
/// # Safety
///
/// `bio` must be a fully set up bio that we own and have not submitted; whatever its pages
/// and device are must stay valid until this function returns.
pub(crate) unsafe fn submit_while<R>(
    bio: *mut bindings::bio,
    f: impl FnOnce() -> R,
) -> (Result, R) {
    let done = Opaque::<bindings::completion>::uninit();
    // SAFETY: `done` is initialised in place and stays where it is until this function
    // returns, after the bio has completed; `end_io_complete` only completes it. The bio is
    // ours to submit (safety contract).
    unsafe {
        ffi::rbcache_init_completion(done.get());
        (*bio).bi_private = done.get().cast::<core::ffi::c_void>();
        (*bio).bi_end_io = Some(end_io_complete);
        bindings::submit_bio(bio);
    }
    let r = f();
    // SAFETY: Waits for `end_io_complete`; then the bio is ours again, to read and put.
    let errno = unsafe {
        bindings::wait_for_completion_io(done.get());
        let status = (*bio).bi_status;
        bindings::bio_put(bio);
        bindings::blk_status_to_errno(status)
    };
    (to_result(errno), r)
}

/// The completion of a bio sent by [`submit_while`]: wakes its waiter.
///
/// # Safety
///
/// `bio`'s `bi_private` must be the initialised completion its sender waits on.
unsafe extern "C" fn end_io_complete(bio: *mut bindings::bio) {
    // SAFETY: By the safety contract `bi_private` is a live completion.
    unsafe { bindings::complete((*bio).bi_private.cast::<bindings::completion>()) };
}

/// Bios in flight together, waited for together ([`in_group`]).
pub(crate) struct Group {
    /// Bios not yet completed, plus one while the group is still being filled.
    left: AtomicUsize,
    /// The first error of any of them (a negative errno), or 0.
    err: AtomicI32,
    /// Completed by the bio that brings `left` to 0.
    done: Opaque<bindings::completion>,
}

impl Group {
    /// Submits `bio` as one of the group.
    ///
    /// # Safety
    ///
    /// `bio` must be a fully set up bio that we own and have not submitted; whatever its
    /// pages and device are must stay valid until [`in_group`] returns. The group takes its
    /// reference (it is put on completion).
    pub(crate) unsafe fn submit(&self, bio: *mut bindings::bio) {
        self.left.fetch_add(1, Ordering::AcqRel);
        // SAFETY: The group outlives the bio: `in_group` waits for `left` to reach 0 before
        // it returns. The bio is ours to submit (safety contract).
        unsafe {
            (*bio).bi_private = (self as *const Group)
                .cast_mut()
                .cast::<core::ffi::c_void>();
            (*bio).bi_end_io = Some(end_io_group);
            bindings::submit_bio(bio);
        }
    }
}

/// Runs `f`, which may submit bios to the group it is given, then waits for all of them;
/// returns the first error any of them had, and `f`'s result.
pub(crate) fn in_group<R>(f: impl FnOnce(&Group) -> R) -> (Result, R) {
    let group = Group {
        left: AtomicUsize::new(1),
        err: AtomicI32::new(0),
        done: Opaque::uninit(),
    };
    // SAFETY: `done` is initialised in place before any bio can complete it, and `group`
    // stays where it is until every bio has completed (waited for below).
    unsafe { ffi::rbcache_init_completion(group.done.get()) };
    let r = f(&group);
    if group.left.fetch_sub(1, Ordering::AcqRel) != 1 {
        // SAFETY: The last bio to complete completes `done`, and touches the group no more.
        unsafe { bindings::wait_for_completion_io(group.done.get()) };
    }
    (to_result(group.err.load(Ordering::Acquire)), r)
}

/// The completion of a bio of a [`Group`]: notes its error, puts it, and completes the group
/// if it was the last one.
///
/// # Safety
///
/// `bio`'s `bi_private` must be the live [`Group`] that submitted it.
unsafe extern "C" fn end_io_group(bio: *mut bindings::bio) {
    // SAFETY: By the safety contract `bi_private` is a live group, which stays live until
    // `left` drops to 0 below; the bio's reference is ours (taken by `Group::submit`).
    unsafe {
        let group = &*((*bio).bi_private as *const Group);
        let errno = bindings::blk_status_to_errno((*bio).bi_status);
        bindings::bio_put(bio);
        if errno != 0 {
            let _ = group
                .err
                .compare_exchange(0, errno, Ordering::AcqRel, Ordering::Acquire);
        }
        if group.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            bindings::complete(group.done.get());
        }
    }
}

/// Flushes `bdev`'s volatile write cache (an empty `REQ_PREFLUSH` write) while `f` runs;
/// returns the flush's result and `f`'s.
///
/// # Safety
///
/// `bdev` must be a block device that stays open until this function returns.
pub(crate) unsafe fn flush_while<R>(
    bdev: *mut bindings::block_device,
    f: impl FnOnce() -> R,
) -> (Result, R) {
    // SAFETY: `bdev` is open (safety contract); the pool is live (see `one_bio`); the
    // helpers only return constants.
    let bio = unsafe {
        bindings::bio_alloc_bioset(
            bdev,
            0,
            ffi::rbcache_req_preflush(),
            ffi::rbcache_gfp_noio(),
            meta_bios(),
        )
    };
    if bio.is_null() {
        return (Err(ENOMEM), f());
    }
    // SAFETY: A new empty flush bio we own, for an open device.
    unsafe { submit_while(bio, f) }
}
