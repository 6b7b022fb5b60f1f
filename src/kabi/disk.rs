// SPDX-License-Identifier: GPL-2.0

//! Bio-based block devices (`/dev/bcacheN`) and the bios they receive.
//!
//! C headers: [`include/linux/blkdev.h`](srctree/include/linux/blkdev.h),
//! [`include/linux/bio.h`](srctree/include/linux/bio.h)
//!
//! A [`GenDisk<T>`] is a gendisk whose `submit_bio` (through `rbcache_disk_fops` in
//! `helpers.c`) hands every [`Bio`] to [`DiskOps::submit`], with a [`Remapper`] that can send a
//! read on to another device and complete it from the clone's completion. Dropping it deletes
//! the disk (no new bios), waits for the remapped reads, then calls [`DiskOps::drain`] so `T`
//! can wait for bios it still holds, and only then frees the disk and `T`.

use core::ffi::c_void;
use core::fmt::{self, Write};
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use kernel::bindings;
use kernel::error::{from_err_ptr, to_result, Result};
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::sync::Arc;
use kernel::workqueue::{impl_has_work, new_work, Work, WorkItem};

use super::bdev::BdevFile;
use super::ffi;
use super::noio::{NoIoScope, SubmitAnnotation};
use super::sysfs::{AttrOps, SysfsDir};

/// What a disk does with its bios.
pub(crate) trait DiskOps: Send + Sync + Sized + 'static {
    /// What a bio remapped by [`Remapper::read_from`] carries to its completion.
    type Remap: Send;
    /// Handles `bio`, ending it now or later; `remap` can send a read on to another device
    /// without waiting for it. Runs inside a [`NoIoScope`]: memory reclaim may be the caller.
    fn submit(&self, bio: Bio, remap: Remapper<'_, Self>);
    /// Completes a read that [`Remapper::read_from`] sent on, with its result. Runs in the
    /// clone's completion context (often an interrupt): it must not sleep, and must not drop
    /// the last reference to anything whose release sleeps.
    fn remapped(&self, ctx: Self::Remap, bio: Bio, result: Result);
    /// What a write sent by [`Remapper::write_parts`] carries to its completion.
    type Write: Send;
    /// Completes a write that [`Remapper::write_parts`] sent on, with the first error of its
    /// parts, once all of them have completed. Runs on a work item (process context).
    fn written(&self, ctx: Self::Write, bio: Bio, result: Result);
    /// Waits until every bio handed to [`DiskOps::submit`] (and not remapped) has ended.
    fn drain(&self);
}

/// The kind of a bio.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum BioOp {
    /// Read data.
    Read,
    /// Write data.
    Write,
    /// Flush (possibly empty).
    Flush,
    /// Discard.
    Discard,
    /// Anything else.
    Other,
}

/// A bio submitted to one of our disks, ended exactly once (by [`Bio::end`], or with an IO
/// error if dropped).
///
/// # Invariants
///
/// `ptr` is a bio submitted to us and not yet ended.
pub(crate) struct Bio {
    ptr: NonNull<bindings::bio>,
}

// SAFETY: A submitted bio may be completed from any thread.
unsafe impl Send for Bio {}

/// One segment of a bio's data: part of a page.
pub(crate) struct Segment<'a> {
    page: *mut bindings::page,
    offset: usize,
    len: usize,
    _bio: PhantomData<&'a mut Bio>,
}

impl Segment<'_> {
    /// Length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Copies `src` into the segment at byte `at`; `at + src.len()` must not exceed the length.
    pub(crate) fn write_at(&mut self, at: usize, src: &[u8]) -> Result {
        self.with_mapped(at, src.len(), |dst| dst.copy_from_slice(src))
    }

    fn with_mapped(&mut self, at: usize, len: usize, f: impl FnOnce(&mut [u8])) -> Result {
        if at.checked_add(len).map_or(true, |end| end > self.len)
            || self.offset + self.len > PAGE_SIZE
        {
            return Err(EINVAL);
        }
        // SAFETY: The page belongs to a bio we hold, so it is live; `kmap_local_page` maps it.
        let base = unsafe { bindings::kmap_local_page(self.page) }.cast::<u8>();
        // SAFETY: `offset + at + len` is within the mapped page (checked above), and the bio's
        // data pages are ours to fill until the bio ends.
        let dst = unsafe { core::slice::from_raw_parts_mut(base.add(self.offset + at), len) };
        f(dst);
        // SAFETY: Unmaps what `kmap_local_page` mapped, in the same context.
        unsafe { bindings::kunmap_local(base.cast::<c_void>()) };
        Ok(())
    }
}

impl Bio {
    fn raw(&self) -> *mut bindings::bio {
        self.ptr.as_ptr()
    }

    /// The bio's kind.
    pub(crate) fn op(&self) -> BioOp {
        // SAFETY: By the type invariant the bio is live.
        match unsafe { ffi::rbcache_bio_op(self.raw()) } {
            bindings::req_op_REQ_OP_READ => BioOp::Read,
            bindings::req_op_REQ_OP_WRITE => BioOp::Write,
            bindings::req_op_REQ_OP_FLUSH => BioOp::Flush,
            bindings::req_op_REQ_OP_DISCARD => BioOp::Discard,
            _ => BioOp::Other,
        }
    }

    /// Whether the bio carries `REQ_PREFLUSH` or `REQ_FUA`: it must not complete before it,
    /// and everything completed before it, is durable.
    pub(crate) fn wants_flush(&self) -> bool {
        // SAFETY: By the type invariant the bio is live.
        unsafe { ffi::rbcache_bio_wants_flush(self.raw()) }
    }

    /// Whether the bio is readahead or background IO, not metadata
    /// (`readahead_cache_policy`).
    pub(crate) fn is_readahead(&self) -> bool {
        // SAFETY: By the type invariant the bio is live.
        unsafe { ffi::rbcache_bio_readahead(self.raw()) }
    }

    /// Whether the bio is synchronous or metadata: someone waits for it (`op_is_sync()`).
    pub(crate) fn is_sync(&self) -> bool {
        // SAFETY: By the type invariant the bio is live.
        unsafe { ffi::rbcache_bio_sync(self.raw()) }
    }

    /// Reads the bio's data from `sector` of `bdev` straight into its pages (through a clone
    /// that shares them, as a stacking driver remaps), and waits for the read.
    pub(crate) fn read_from(&mut self, bdev: &BdevFile, sector: u64) -> Result {
        if self.op() != BioOp::Read {
            return Err(EINVAL);
        }
        self.submit_to(bdev, sector)
    }

    /// A clone of the bio on `bdev`, sharing its pages, for the caller to submit; the caller
    /// must keep the bio live (not ended) until the clone has completed.
    fn clone_to(&self, bdev: &BdevFile) -> Result<*mut bindings::bio> {
        // SAFETY: By the type invariant the bio is live; `bdev` is open; `fs_bio_set` is set
        // up at boot; the helper only returns `GFP_NOIO`.
        let clone = unsafe {
            bindings::bio_alloc_clone(
                bdev.bdev(),
                self.raw(),
                ffi::rbcache_gfp_noio(),
                &raw mut bindings::fs_bio_set,
            )
        };
        if clone.is_null() {
            return Err(ENOMEM);
        }
        Ok(clone)
    }

    /// Reads or writes the bio's data at `sector` of `bdev` straight from or into its pages,
    /// with its own flags (`REQ_FUA`, `REQ_PREFLUSH`), through a remapped clone; waits for it.
    pub(crate) fn submit_to(&mut self, bdev: &BdevFile, sector: u64) -> Result {
        self.submit_clone(bdev, sector, 0)
    }

    /// As [`Bio::submit_to`] for a write, with `REQ_FUA` added: the data is durable on `bdev`
    /// when this returns.
    pub(crate) fn write_durably_to(&mut self, bdev: &BdevFile, sector: u64) -> Result {
        if self.op() != BioOp::Write {
            return Err(EINVAL);
        }
        // SAFETY: The helper only returns a constant.
        let fua = unsafe { ffi::rbcache_req_fua() };
        self.submit_clone(bdev, sector, fua)
    }

    /// Submits a clone of the bio at `sector` of `bdev` with `flags` added, and waits for it.
    fn submit_clone(&mut self, bdev: &BdevFile, sector: u64, flags: bindings::blk_opf_t) -> Result {
        if !matches!(self.op(), BioOp::Read | BioOp::Write) {
            return Err(EINVAL);
        }
        let clone = self.clone_to(bdev)?;
        // SAFETY: `clone` is a new bio we own; it is submitted, waited for, then put.
        let ret = unsafe {
            (*clone).bi_iter.bi_sector = sector;
            (*clone).bi_opf |= flags;
            let ret = bindings::submit_bio_wait(clone);
            bindings::bio_put(clone);
            ret
        };
        to_result(ret)
    }

    /// As [`Bio::submit_to`], but runs `f` while the clone is in flight, and only then waits
    /// for it; returns the clone's result and `f`'s.
    pub(crate) fn submit_to_while<R>(
        &self,
        bdev: &BdevFile,
        sector: u64,
        f: impl FnOnce() -> R,
    ) -> (Result, R) {
        if !matches!(self.op(), BioOp::Read | BioOp::Write) {
            return (Err(EINVAL), f());
        }
        let clone = match self.clone_to(bdev) {
            Ok(c) => c,
            Err(e) => return (Err(e), f()),
        };
        // SAFETY: `clone` is a new bio we own; the bio is borrowed (so not ended) until the
        // clone has completed, inside `submit_while`.
        unsafe {
            (*clone).bi_iter.bi_sector = sector;
            super::bio::submit_while(clone, f)
        }
    }

    /// Writes parts of the bio's data to `bdev` straight from its pages, each `(sector, skip,
    /// len)`: `len` bytes from byte `skip` of the bio at `sector`. Each goes through a trimmed
    /// clone (a plain synchronous write, whatever the bio's own op and flags); all are in
    /// flight together, and this waits for all of them. `skip` and `len` must be multiples of
    /// 512 within the bio. Stops submitting at the first part that is not; returns the first
    /// error.
    pub(crate) fn write_parts_to(
        &self,
        bdev: &BdevFile,
        parts: impl Iterator<Item = (u64, usize, usize)>,
    ) -> Result {
        let (written, submitted) = super::bio::in_group(|group| -> Result {
            for (sector, skip, len) in parts {
                let end = skip.checked_add(len).ok_or(EINVAL)?;
                if len == 0 || skip % 512 != 0 || len % 512 != 0 || end > self.len() {
                    return Err(EINVAL);
                }
                let clone = self.clone_to(bdev)?;
                // SAFETY: `clone` is a new bio we own, covering the whole bio; the trimmed
                // range lies within it (checked above). The bio is borrowed, so not ended,
                // until `in_group` has waited for the clone.
                unsafe {
                    bindings::bio_trim(clone, (skip >> 9) as u64, (len >> 9) as u64);
                    (*clone).bi_iter.bi_sector = sector;
                    (*clone).bi_opf = ffi::rbcache_req_write();
                    group.submit(clone);
                }
            }
            Ok(())
        });
        submitted.and(written)
    }

    /// First sector.
    pub(crate) fn sector(&self) -> u64 {
        // SAFETY: By the type invariant the bio is live.
        unsafe { (*self.raw()).bi_iter.bi_sector }
    }

    /// Length in bytes.
    pub(crate) fn len(&self) -> usize {
        // SAFETY: By the type invariant the bio is live.
        unsafe { (*self.raw()).bi_iter.bi_size as usize }
    }

    /// Calls `f` with the sector and data of each segment, in order; stops at the first error.
    pub(crate) fn for_each_segment(
        &mut self,
        mut f: impl FnMut(u64, &mut Segment<'_>) -> Result,
    ) -> Result {
        // SAFETY: By the type invariant the bio is live; we walk a copy of its iterator.
        let mut iter = unsafe { (*self.raw()).bi_iter };
        let mut sector = iter.bi_sector;
        while iter.bi_size > 0 {
            let mut bv = bindings::bio_vec {
                bv_page: core::ptr::null_mut(),
                bv_len: 0,
                bv_offset: 0,
            };
            // SAFETY: The bio is live and `iter` is within it.
            unsafe { ffi::rbcache_bio_iter_bvec(self.raw(), &mut iter, &mut bv) };
            let mut seg = Segment {
                page: bv.bv_page,
                offset: bv.bv_offset as usize,
                len: bv.bv_len as usize,
                _bio: PhantomData,
            };
            f(sector, &mut seg)?;
            sector += u64::from(bv.bv_len) >> 9;
            // SAFETY: Advances within the bio by the segment just visited.
            unsafe { ffi::rbcache_bio_advance_iter(self.raw(), &mut iter, bv.bv_len) };
        }
        Ok(())
    }

    /// Ends the bio with `result`.
    pub(crate) fn end(self, result: Result) {
        let ptr = self.raw();
        core::mem::forget(self);
        let errno = match result {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        };
        // SAFETY: The bio is live and not ended (type invariant); `forget` above makes this the
        // only end.
        unsafe {
            (*ptr).bi_status = bindings::errno_to_blk_status(errno);
            bindings::bio_endio(ptr);
        }
    }
}

impl Drop for Bio {
    fn drop(&mut self) {
        // SAFETY: A bio dropped without `end` is still live and not ended: end it with EIO.
        unsafe {
            (*self.raw()).bi_status = bindings::errno_to_blk_status(EIO.to_errno());
            bindings::bio_endio(self.raw());
        }
    }
}

#[repr(C)]
struct DiskData<T> {
    // Must stay first: the C-facing trampoline reads it through an untyped pointer.
    submit: unsafe fn(*const c_void, Bio),
    /// Remapped reads not yet completed: the disk waits for them before it is freed.
    remaps: AtomicUsize,
    ops: T,
}

/// # Safety
///
/// `data` must point to a live `DiskData<T>`.
unsafe fn submit_typed<T: DiskOps>(data: *const c_void, bio: Bio) {
    // SAFETY: By the safety contract `data` is a live `DiskData<T>`.
    let data = unsafe { &*data.cast::<DiskData<T>>() };
    data.ops.submit(bio, Remapper { data });
}

/// Sends reads of a disk's bios on to another block device, completing them from the
/// clone's completion through [`DiskOps::remapped`] (no thread waits for them).
#[derive(Clone, Copy)]
pub(crate) struct Remapper<'a, T: DiskOps> {
    data: &'a DiskData<T>,
}

/// A remapped read in flight: its bio, the disk's data, and what the completion needs.
struct Remapped<T: DiskOps> {
    data: *const DiskData<T>,
    bio: Bio,
    ctx: T::Remap,
}

impl<T: DiskOps> Remapper<'_, T> {
    /// Reads the data of `bio` (a read submitted to this disk) from `sector` of `bdev`
    /// straight into its pages, through a remapped clone; [`DiskOps::remapped`] gets `ctx`,
    /// the bio and the result when it completes. Gives both back if the clone cannot be set
    /// up.
    pub(crate) fn read_from(
        &self,
        bio: Bio,
        bdev: &BdevFile,
        sector: u64,
        ctx: T::Remap,
    ) -> core::result::Result<(), (Bio, T::Remap)> {
        if bio.op() != BioOp::Read {
            return Err((bio, ctx));
        }
        let Ok(clone) = bio.clone_to(bdev) else {
            return Err((bio, ctx));
        };
        let Ok(slot) = KBox::<Remapped<T>>::new_uninit(GFP_KERNEL) else {
            // SAFETY: The clone is ours and was never submitted.
            unsafe { bindings::bio_put(clone) };
            return Err((bio, ctx));
        };
        let remapped = KBox::write(
            slot,
            Remapped {
                data: self.data,
                bio,
                ctx,
            },
        );
        self.data.remaps.fetch_add(1, Ordering::AcqRel);
        // SAFETY: `clone` is a new bio we own; its completion, `remap_end_io::<T>`, takes back
        // the box it is given as `bi_private`, which holds the bio (live, not ended) until
        // then.
        unsafe {
            (*clone).bi_iter.bi_sector = sector;
            (*clone).bi_private = KBox::into_raw(remapped).cast::<c_void>();
            (*clone).bi_end_io = Some(remap_end_io::<T>);
            bindings::submit_bio(clone);
        }
        Ok(())
    }
}

/// Most parts [`Remapper::write_parts`] sends at once.
pub(crate) const MAX_WRITE_PARTS: usize = 4;

/// A write sent on by [`Remapper::write_parts`]: its bio, the disk's data, what the
/// completion needs, and the parts still in flight. The last part's completion queues it on
/// a work item, which calls [`DiskOps::written`].
#[pin_data]
struct Written<T: DiskOps> {
    #[pin]
    work: Work<Written<T>>,
    data: *const DiskData<T>,
    bio: Bio,
    ctx: T::Write,
    /// Parts not yet completed.
    left: AtomicUsize,
    /// The first error of a part (a negative errno), or 0.
    err: AtomicI32,
}

// SAFETY: The disk's data is shared (`T` is `Sync`) and outlives the write (see
// `GenDisk::drop`: it waits for `remaps`); the rest is `Send`.
unsafe impl<T: DiskOps> Send for Written<T> {}

impl_has_work! {
    impl{T: DiskOps} HasWork<Self> for Written<T> { self.work }
}

impl<T: DiskOps> WorkItem for Written<T> {
    type Pointer = Pin<KBox<Self>>;

    fn run(this: Pin<KBox<Self>>) {
        // SAFETY: The work item is running: the workqueue no longer uses its `work_struct`,
        // so the value may move out of the box.
        let this = unsafe { Pin::into_inner_unchecked(this) };
        let Written {
            data,
            bio,
            ctx,
            err,
            ..
        } = KBox::into_inner(this);
        let result = to_result(err.load(Ordering::Acquire));
        // SAFETY: The disk's data stays live until `remaps` is back to zero (see
        // `GenDisk::drop`), and this write is still counted.
        let data = unsafe { &*data };
        data.ops.written(ctx, bio, result);
        // The last use of `data`: from here the disk may be freed.
        data.remaps.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<T: DiskOps> Remapper<'_, T> {
    /// Writes parts of `bio` (a write submitted to this disk) to `bdev` straight from its
    /// pages, each `(sector, skip, len)`: `len` bytes from byte `skip` of the bio at `sector`
    /// (multiples of 512 within the bio), through trimmed clones (plain writes, whatever the
    /// bio's own flags), all in flight together. Nothing waits for them: once all have
    /// completed, a work item calls [`DiskOps::written`] with `ctx`, the bio and the first
    /// error. Gives both back, with nothing sent, if the parts cannot all be set up (or there
    /// are none, or more than [`MAX_WRITE_PARTS`]).
    pub(crate) fn write_parts(
        &self,
        bio: Bio,
        bdev: &BdevFile,
        parts: &[(u64, usize, usize)],
        ctx: T::Write,
    ) -> core::result::Result<(), (Bio, T::Write)> {
        self.send_write(bio, bdev, parts, ctx, false)
    }

    /// Writes all of `bio` (a write submitted to this disk) at `sector` of `bdev` straight
    /// from its pages, through a remapped clone with the bio's own flags, without waiting;
    /// completes through [`DiskOps::written`] as [`Remapper::write_parts`] does.
    pub(crate) fn write_to(
        &self,
        bio: Bio,
        bdev: &BdevFile,
        sector: u64,
        ctx: T::Write,
    ) -> core::result::Result<(), (Bio, T::Write)> {
        let len = bio.len();
        self.send_write(bio, bdev, &[(sector, 0, len)], ctx, true)
    }

    /// [`Remapper::write_parts`]; with `own_flags`, the clones keep the bio's op and flags.
    fn send_write(
        &self,
        bio: Bio,
        bdev: &BdevFile,
        parts: &[(u64, usize, usize)],
        ctx: T::Write,
        own_flags: bool,
    ) -> core::result::Result<(), (Bio, T::Write)> {
        if bio.op() != BioOp::Write || parts.is_empty() || parts.len() > MAX_WRITE_PARTS {
            return Err((bio, ctx));
        }
        let fits = |&(_, skip, len): &(u64, usize, usize)| {
            len > 0
                && skip % 512 == 0
                && len % 512 == 0
                && skip.checked_add(len).is_some_and(|end| end <= bio.len())
        };
        if !parts.iter().all(fits) {
            return Err((bio, ctx));
        }
        let mut clones = [core::ptr::null_mut::<bindings::bio>(); MAX_WRITE_PARTS];
        let put = |clones: &[*mut bindings::bio]| {
            for &c in clones {
                // SAFETY: Each is a clone we own that was never submitted.
                unsafe { bindings::bio_put(c) };
            }
        };
        for (i, slot) in clones.iter_mut().take(parts.len()).enumerate() {
            match bio.clone_to(bdev) {
                Ok(c) => *slot = c,
                Err(_) => {
                    put(&clones[..i]);
                    return Err((bio, ctx));
                }
            }
        }
        let clones = &clones[..parts.len()];
        let Ok(slot) = KBox::<Written<T>>::new_uninit(GFP_KERNEL) else {
            put(clones);
            return Err((bio, ctx));
        };
        let written = match slot.write_pin_init(pin_init!(Written {
            work <- new_work!("Written::work"),
            data: self.data as *const DiskData<T>,
            bio,
            ctx,
            left: AtomicUsize::new(clones.len()),
            err: AtomicI32::new(0),
        })) {
            Ok(w) => w,
            Err(never) => match never {},
        };
        self.data.remaps.fetch_add(1, Ordering::AcqRel);
        // SAFETY: The box is only moved again, re-pinned, by the last part's completion.
        let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(written) });
        for (&clone, &(sector, skip, len)) in clones.iter().zip(parts) {
            // The box holds the bio (live, not ended) until every part has completed; once
            // submitted, a clone is not touched here again.
            // SAFETY: `clone` is a new bio we own, covering the bio; the trimmed range lies in
            // it (checked above). `write_end_io::<T>` finds the box through `bi_private`.
            unsafe {
                bindings::bio_trim(clone, (skip >> 9) as u64, (len >> 9) as u64);
                (*clone).bi_iter.bi_sector = sector;
                if !own_flags {
                    (*clone).bi_opf = ffi::rbcache_req_write();
                }
                (*clone).bi_private = raw.cast::<c_void>();
                (*clone).bi_end_io = Some(write_end_io::<T>);
                bindings::submit_bio(clone);
            }
        }
        Ok(())
    }
}

/// The completion of a part sent by [`Remapper::write_parts`]: notes its error, and the last
/// part queues the write's work item.
///
/// # Safety
///
/// `clone` must be such a part, completing once; its `bi_private` is the `Written<T>` box,
/// which the last part to complete takes back.
unsafe extern "C" fn write_end_io<T: DiskOps>(clone: *mut bindings::bio) {
    // SAFETY: By the safety contract `bi_private` is the live box (freed only after the last
    // part, possibly this one, queued it); the clone is ours to put after reading its status.
    unsafe {
        let w = (*clone).bi_private.cast::<Written<T>>();
        let errno = bindings::blk_status_to_errno((*clone).bi_status);
        bindings::bio_put(clone);
        if errno != 0 {
            let _ = (*w)
                .err
                .compare_exchange(0, errno, Ordering::AcqRel, Ordering::Acquire);
        }
        if (*w).left.fetch_sub(1, Ordering::AcqRel) == 1 {
            let boxed = Pin::new_unchecked(KBox::from_raw(w));
            super::workqueue::io_queue().enqueue(boxed);
        }
    }
}

/// The completion of a clone sent by [`Remapper::read_from`].
///
/// # Safety
///
/// `clone` must be such a clone, completing once; its `bi_private` is the `Remapped<T>` box.
unsafe extern "C" fn remap_end_io<T: DiskOps>(clone: *mut bindings::bio) {
    // SAFETY: By the safety contract `bi_private` is the box `read_from` leaked, taken back
    // once here; the clone is ours to put after reading its status.
    let (remapped, status) = unsafe {
        let r = KBox::from_raw((*clone).bi_private.cast::<Remapped<T>>());
        let status = (*clone).bi_status;
        bindings::bio_put(clone);
        (r, status)
    };
    let Remapped { data, bio, ctx } = KBox::into_inner(remapped);
    let result = if status == 0 { Ok(()) } else { Err(EIO) };
    // SAFETY: The disk's data stays live until `remaps` is back to zero (see `GenDisk::drop`),
    // and this remap is still counted.
    let data = unsafe { &*data };
    data.ops.remapped(ctx, bio, result);
    // The last use of `data`: from here the disk may be freed.
    data.remaps.fetch_sub(1, Ordering::AcqRel);
}

/// The `submit_bio` of every rbcache disk (called by the block layer through
/// `rbcache_disk_fops`).
///
/// Runs inside a [`NoIoScope`] (reclaim may have called it: nothing it allocates may recurse
/// into IO) and, for lockdep, inside a [`SubmitAnnotation`] (see [`super::noio`]).
///
/// # Safety
///
/// `bio` must be a bio submitted to a disk created by [`GenDisk::new`].
#[no_mangle]
pub(crate) unsafe extern "C" fn rbcache_disk_submit_bio(bio: *mut bindings::bio) {
    let _reclaim = SubmitAnnotation::new();
    let _noio = NoIoScope::new();
    // SAFETY: The bio targets one of our disks, whose `private_data` is its `DiskData`, which
    // lives until after `del_gendisk`, i.e. longer than any submission.
    unsafe {
        let disk = (*(*bio).bi_bdev).bd_disk;
        let data = (*disk).private_data.cast_const();
        let submit = *data.cast::<unsafe fn(*const c_void, Bio)>();
        // INVARIANT: The bio was just submitted and is not ended.
        submit(
            data,
            Bio {
                ptr: NonNull::new_unchecked(bio),
            },
        );
    }
}

/// A bio-based gendisk with handlers `T`.
///
/// # Invariants
///
/// `disk` was added with `device_add_disk`; its `private_data` is `data`, an `Arc` raw pointer
/// we own.
pub(crate) struct GenDisk<T: DiskOps> {
    disk: NonNull<bindings::gendisk>,
    data: *const DiskData<T>,
    /// A symbolic link in the disk's sysfs directory ([`GenDisk::link_to_dir`]), removed
    /// before the disk is deleted.
    link: Option<&'static CStr>,
}

// SAFETY: The gendisk may be deleted from any thread, and `T: Send + Sync`.
unsafe impl<T: DiskOps> Send for GenDisk<T> {}

// SAFETY: `&GenDisk` exposes nothing mutable.
unsafe impl<T: DiskOps> Sync for GenDisk<T> {}

/// Writes a disk name into the fixed `disk_name` field, truncating.
struct NameBuf<'a>(&'a mut [u8], usize);

impl Write for NameBuf<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.1 + 1 < self.0.len() {
                self.0[self.1] = b;
                self.1 += 1;
            }
        }
        Ok(())
    }
}

impl<T: DiskOps> GenDisk<T> {
    /// Creates and adds the disk `name` of `sectors` sectors with `block_bytes` blocks.
    pub(crate) fn new(
        name: fmt::Arguments<'_>,
        sectors: u64,
        block_bytes: u32,
        read_only: bool,
        ops: T,
    ) -> Result<Self> {
        let data = Arc::new(
            DiskData {
                submit: submit_typed::<T>,
                remaps: AtomicUsize::new(0),
                ops,
            },
            GFP_KERNEL,
        )?;
        // SAFETY: The helper only calls `blk_alloc_disk`.
        let disk = from_err_ptr(unsafe { ffi::rbcache_alloc_disk(block_bytes) })?;
        let disk = NonNull::new(disk).ok_or(ENOMEM)?;
        let data = Arc::into_raw(data);
        // SAFETY: `disk` is a new, not yet added gendisk that we set up before adding it.
        let ret = unsafe {
            let d = disk.as_ptr();
            (*d).fops = &raw const ffi::rbcache_disk_fops;
            (*d).private_data = data.cast_mut().cast::<c_void>();
            let name_bytes = &mut *(&raw mut (*d).disk_name).cast::<[u8; 32]>();
            name_bytes.fill(0);
            let _ = NameBuf(name_bytes, 0).write_fmt(name);
            bindings::set_capacity(d, sectors);
            if read_only {
                bindings::set_disk_ro(d, true);
            }
            bindings::device_add_disk(core::ptr::null_mut(), d, core::ptr::null_mut())
        };
        if let Err(e) = to_result(ret) {
            // SAFETY: The disk was not added: put it, then drop our `Arc`.
            unsafe {
                bindings::put_disk(disk.as_ptr());
                drop(Arc::from_raw(data));
            }
            return Err(e);
        }
        // INVARIANT: The disk is added and `data` is its `private_data`.
        Ok(Self {
            disk,
            data,
            link: None,
        })
    }

    /// Adds a symbolic link `name` in the disk's sysfs directory to `dir` (6.12's `bcache`
    /// link from `/sys/block/bcacheN/` to the backing device's directory). One link at most.
    pub(crate) fn link_to_dir<A: AttrOps>(
        &mut self,
        name: &'static CStr,
        dir: &SysfsDir<A>,
    ) -> Result {
        if self.link.is_some() {
            return Err(EEXIST);
        }
        // SAFETY: Both kobjects are live and added (type invariants); the link takes its own
        // reference to the target's sysfs node, so it may outlive `dir` harmlessly.
        to_result(unsafe {
            bindings::sysfs_create_link(self.kobj(), dir.kobj(), name.as_char_ptr())
        })?;
        self.link = Some(name);
        Ok(())
    }

    /// The disk's kobject (for sysfs directories under it).
    pub(super) fn kobj(&self) -> *mut bindings::kobject {
        // SAFETY: By the type invariant the disk is added and live.
        unsafe { ffi::rbcache_disk_kobj(self.disk.as_ptr()) }
    }

    /// The handlers.
    pub(crate) fn ops(&self) -> &T {
        // SAFETY: By the type invariant `data` is live while `self` is.
        unsafe { &(*self.data).ops }
    }
}

impl<T: DiskOps> Drop for GenDisk<T> {
    fn drop(&mut self) {
        if let Some(name) = self.link.take() {
            // SAFETY: The disk is still added, so its directory holds the link we made.
            unsafe { bindings::sysfs_remove_link(self.kobj(), name.as_char_ptr()) };
        }
        // SAFETY: By the type invariant the disk is added; after `del_gendisk` no bio is
        // submitted any more, then the handlers drain the bios they hold.
        unsafe { bindings::del_gendisk(self.disk.as_ptr()) };
        // SAFETY: By the type invariant `data` is live while `self` is.
        let remaps = unsafe { &(*self.data).remaps };
        // Remapped reads complete without a thread to wait on: poll (teardown only).
        while remaps.load(Ordering::Acquire) != 0 {
            // SAFETY: Sleeping is fine here: the disk is dropped in process context.
            unsafe { bindings::msleep(1) };
        }
        self.ops().drain();
        // SAFETY: Nothing refers to the disk or `data` any more.
        unsafe {
            bindings::put_disk(self.disk.as_ptr());
            drop(Arc::from_raw(self.data));
        }
    }
}
