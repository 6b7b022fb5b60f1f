// SPDX-License-Identifier: GPL-2.0

//! Bio-based block devices (`/dev/bcacheN`) and the bios they receive.
//!
//! C headers: [`include/linux/blkdev.h`](srctree/include/linux/blkdev.h),
//! [`include/linux/bio.h`](srctree/include/linux/bio.h)
//!
//! A [`GenDisk<T>`] is a gendisk whose `submit_bio` (through `rbcache_disk_fops` in
//! `helpers.c`) hands every [`Bio`] to [`DiskOps::submit`], with a [`Remapper`] that can send a
//! bio on to another device and complete it from the clones' completions. Dropping it deletes
//! the disk (no new bios), waits for what the remapper sent, then calls [`DiskOps::drain`] so
//! `T` can wait for bios it still holds, and only then frees the disk, its bio pools and `T`.
//!
//! Every clone comes from one of the disk's two pools, never from `fs_bio_set` (which the
//! filesystems above us share): the remapper's, with a rescuer and the clone's context in its
//! front pad, so that `submit_bio` allocates nothing that can fail for good; and the slow
//! path's ([`Bio::submit_to`] and the like).

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

use super::bdev::BdevFile;
use super::bio::BioSet;
use super::ffi;
use super::noio::{NoIoScope, SubmitAnnotation};
use super::sysfs::{AttrOps, SysfsDir};
use super::workqueue::{RawWork, Wq};

/// What a disk does with its bios.
pub(crate) trait DiskOps: Send + Sync + Sized + 'static {
    /// What a bio remapped by [`Remapper::read_from`] carries to its completion.
    type Remap: Send;
    /// Handles `bio`, ending it now or later; `remap` can send a read on to another device
    /// without waiting for it. Runs inside a [`NoIoScope`]: memory reclaim may be the caller.
    fn submit(&self, bio: Bio, remap: Remapper<'_, Self>);
    /// Completes a read that [`Remapper::read_from`] sent on, with its result. Runs in the
    /// clone's completion context (often an interrupt): it must not sleep, and must not drop
    /// the last reference to anything whose release sleeps. Gives the bio back to have it
    /// handled the slow way ([`DiskOps::handle`], on an `rbcache_io` work item allocated with
    /// the read: nothing is allocated here, so this cannot fail).
    fn remapped(&self, ctx: Self::Remap, bio: Bio, result: Result) -> Option<Bio>;
    /// What a write sent by [`Remapper::write_parts`] carries to its completion.
    type Write: Send;
    /// Completes a write that [`Remapper::write_parts`] sent on, with the first error of its
    /// parts, once all of them have completed. Runs on an `rbcache_done` work item (process
    /// context), which must never wait for what a slow-path item holds (see
    /// [`super::workqueue::IoQueue`]). Gives the bio back to have it handled the slow way, as
    /// [`DiskOps::remapped`] does.
    fn written(&self, ctx: Self::Write, bio: Bio, result: Result) -> Option<Bio>;
    /// Handles `bio` synchronously, and ends it: the slow path of a bio that
    /// [`DiskOps::remapped`] or [`DiskOps::written`] gave back, on an `rbcache_io` work item.
    fn handle(&self, bio: Bio);
    /// Waits until every bio handed to [`DiskOps::submit`] (and not sent on by the
    /// [`Remapper`]) has ended.
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

    /// The head of the data of the disk the bio was submitted to.
    fn head(&self) -> &DiskHead {
        // SAFETY: By the type invariant the bio was submitted to one of our disks (a partition
        // of it shares its gendisk), whose `private_data` is its `DiskData`, `repr(C)` with
        // the head first. The disk waits for every bio it handed on before it frees that
        // (`GenDisk::drop`), so it outlives `self`.
        unsafe {
            &*(*(*(*self.raw()).bi_bdev).bd_disk)
                .private_data
                .cast::<DiskHead>()
        }
    }

    /// A clone of the bio on `bdev` from `set`, sharing its pages, for the caller to submit
    /// and put; the caller must keep the bio live (not ended) until the clone has completed.
    fn clone_in(&self, bdev: &BdevFile, set: &BioSet) -> Result<*mut bindings::bio> {
        clone_raw(self.raw(), bdev, set)
    }

    /// A clone of the bio on `bdev` from the slow path's pool of its disk, as
    /// [`Bio::clone_in`].
    fn clone_to(&self, bdev: &BdevFile) -> Result<*mut bindings::bio> {
        self.clone_in(bdev, &self.head().sync)
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

/// The part of a disk's data that does not depend on its handlers, reached from any of its
/// bios (through the gendisk's `private_data`).
#[repr(C)]
struct DiskHead {
    // Must stay first: the C-facing trampoline reads it through an untyped pointer.
    submit: unsafe fn(*const c_void, Bio),
    /// Clones sent on from `submit_bio` ([`Remapper`]) not yet done with, work items they
    /// queued included: the disk waits for them before it is freed.
    remaps: AtomicUsize,
    /// The pool of the clones [`Remapper`] sends from `submit_bio`: each carries its context
    /// (a [`Sent`]) in its front pad, so that nothing else is allocated for it. Allocated from
    /// under `submit_bio`, hence the rescuer (see [`BioSet`]).
    fast: BioSet,
    /// The pool of the clones the slow path sends and waits for, on work items (never under
    /// `submit_bio`), one at a time.
    sync: BioSet,
}

#[repr(C)]
struct DiskData<T> {
    // Must stay first: a bio of the disk reaches it through an untyped pointer.
    head: DiskHead,
    ops: T,
}

/// Bios each pool of a disk keeps in reserve (6.12's `bcache_device_init()` keeps 4 in each of
/// its pools).
const DISK_POOL: u32 = 4;

/// # Safety
///
/// `data` must point to a live `DiskData<T>`.
unsafe fn submit_typed<T: DiskOps>(data: *const c_void, bio: Bio) {
    // SAFETY: By the safety contract `data` is a live `DiskData<T>`.
    let data = unsafe { &*data.cast::<DiskData<T>>() };
    data.ops.submit(bio, Remapper { data });
}

/// Sends a disk's bios on to another block device from `submit_bio`, completing them from
/// the clones' completions through [`DiskOps::remapped`] and [`DiskOps::written`] (no thread
/// waits for them).
#[derive(Clone, Copy)]
pub(crate) struct Remapper<'a, T: DiskOps> {
    data: &'a DiskData<T>,
}

/// Most parts [`Remapper::write_parts`] sends at once.
pub(crate) const MAX_WRITE_PARTS: usize = 4;

/// What a clone sent on by [`Remapper`] carries in its front pad (the clone is its *host*):
/// the bio, what its completion needs, and a work item, allocated with the clone from the
/// disk's pool, for what cannot be done in the completion. A read ([`Remapper::read_from`])
/// has one clone; a write ([`Remapper::write_parts`]) has up to [`MAX_WRITE_PARTS`], and its
/// context lives in the first, which is put only once the write is done with.
///
/// The work item runs [`DiskOps::written`] on `rbcache_done` (a write, once all its parts have
/// completed), and [`DiskOps::handle`] on `rbcache_io` (a bio `remapped` or `written` gave
/// back for the slow path). Either way the host is put last, then `remaps` drops.
#[repr(C)]
struct Sent<T: DiskOps> {
    // Must stay first: the work function finds the context from it.
    work: RawWork,
    data: *const DiskData<T>,
    /// The clone whose front pad this is.
    host: *mut bindings::bio,
    /// The bio sent on; taken by its completion, and put back for the slow path.
    bio: Option<Bio>,
    /// A read's context, taken by its completion.
    read: Option<T::Remap>,
    /// A write's context, taken by its work item.
    write: Option<T::Write>,
    /// A write's parts not yet completed, plus one while they are being sent.
    left: AtomicUsize,
    /// The first error of a write's parts (a negative errno), or 0.
    err: AtomicI32,
}

/// The front pad of a disk's `fast` pool: room for a [`Sent`], keeping the bio behind it
/// aligned.
fn front_pad<T: DiskOps>() -> usize {
    let align = core::mem::align_of::<bindings::bio>();
    core::mem::size_of::<Sent<T>>().div_ceil(align) * align
}

/// The context in the front pad of `clone`, a clone from `head`'s `fast` pool.
///
/// # Safety
///
/// `clone` must be a live bio allocated from `head.fast`.
unsafe fn sent_of<T: DiskOps>(head: &DiskHead, clone: *mut bindings::bio) -> *mut Sent<T> {
    // SAFETY: A bio of the pool sits `front_pad` bytes into its allocation (`bio_free` puts
    // `bio - front_pad` back); the pool's front pad is `front_pad::<T>()` (`GenDisk::new`),
    // aligned for a `Sent<T>` (checked there).
    unsafe {
        let pad = (*head.fast.as_ptr()).front_pad as usize;
        clone.cast::<u8>().sub(pad).cast::<Sent<T>>()
    }
}

/// Done with the context `s`: drops what is left in it, puts its host (which frees it), and
/// stops counting it; from here the disk may be freed.
///
/// # Safety
///
/// `s` must be a context written by [`Remapper`], whose clones have all completed, used by
/// nothing else and not queued.
unsafe fn release<T: DiskOps>(s: *mut Sent<T>) {
    // SAFETY: `s` is ours alone (safety contract); the disk's data stays live until `remaps`
    // is back to zero (see `GenDisk::drop`), and this context is still counted. The host is
    // put after the context is dropped, since it holds it, and before the count drops, since
    // putting it frees into the disk's pool.
    unsafe {
        let data = (*s).data;
        let host = (*s).host;
        core::ptr::drop_in_place(s);
        bindings::bio_put(host);
        // The last use of `data`.
        (*data).head.remaps.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The work item of a [`Sent`] context: a write's completion, or the slow path of a bio given
/// back.
///
/// # Safety
///
/// `work` must be the `work` of a [`Sent<T>`] whose clones have all completed, queued once.
unsafe extern "C" fn sent_work<T: DiskOps>(work: *mut bindings::work_struct) {
    // SAFETY: `work` is the first field of a `repr(C)` `Sent<T>` that this item alone uses now
    // (safety contract); the disk's data is live while it is counted (see `release`).
    unsafe {
        let s = work.cast::<Sent<T>>();
        let data = &*(*s).data;
        let bio = (*s).bio.take();
        if let Some(ctx) = (*s).write.take() {
            // A write, all of whose parts have completed.
            let result = to_result((*s).err.load(Ordering::Acquire));
            if let Some(bio) = bio.and_then(|bio| data.ops.written(ctx, bio, result)) {
                // Again the slow way, on `rbcache_io`, with the same work item: the write's
                // completion must not wait for what the slow path waits for.
                (*s).bio = Some(bio);
                RawWork::queue(&raw mut (*s).work, Wq::Io);
                return;
            }
        } else if let Some(bio) = bio {
            // A bio given back: the pool element goes back before the slow path, which may
            // wait (for a range, say) on writes that need one from the same pool. The work
            // item lives in that element; the workqueue lets an item free itself. `data` is
            // the disk's, still live: the count drops only after the slow path.
            let head = (*s).data;
            let host = (*s).host;
            core::ptr::drop_in_place(s);
            bindings::bio_put(host);
            data.ops.handle(bio);
            (*head).head.remaps.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        release(s);
    }
}

impl<T: DiskOps> Remapper<'_, T> {
    /// Reads the data of `bio` (a read submitted to this disk) from `sector` of `bdev`
    /// straight into its pages, through a remapped clone; [`DiskOps::remapped`] gets `ctx`,
    /// the bio and the result when it completes. Gives both back if the clone cannot be set
    /// up. The clone, with room for its completion's needs, comes from the disk's own pool,
    /// which never runs dry for good (see [`BioSet`]).
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
        let head = &self.data.head;
        let Ok(clone) = bio.clone_in(bdev, &head.fast) else {
            return Err((bio, ctx));
        };
        // SAFETY: `clone` is a new bio of the disk's `fast` pool, which we own; its front pad
        // is ours to fill. Its completion, `read_end_io::<T>`, finds the context through
        // `bi_private`; the context holds the bio (live, not ended) until then.
        unsafe {
            let s = sent_of::<T>(head, clone);
            s.write(Sent {
                work: RawWork::uninit(),
                data: self.data,
                host: clone,
                bio: Some(bio),
                read: Some(ctx),
                write: None,
                left: AtomicUsize::new(1),
                err: AtomicI32::new(0),
            });
            RawWork::init(&raw mut (*s).work, sent_work::<T>);
            head.remaps.fetch_add(1, Ordering::AcqRel);
            (*clone).bi_iter.bi_sector = sector;
            (*clone).bi_private = s.cast::<c_void>();
            (*clone).bi_end_io = Some(read_end_io::<T>);
            bindings::submit_bio(clone);
        }
        Ok(())
    }

    /// Writes parts of `bio` (a write submitted to this disk) to `bdev` straight from its
    /// pages, each `(sector, skip, len)`: `len` bytes from byte `skip` of the bio at `sector`
    /// (multiples of 512 within the bio), through trimmed clones (plain writes, whatever the
    /// bio's own flags), all in flight together. Nothing waits for them: once all have
    /// completed, an `rbcache_done` work item calls [`DiskOps::written`] with `ctx`, the bio
    /// and the first error. Gives both back, with nothing sent, if the first clone cannot be
    /// set up (or there are no parts, or more than [`MAX_WRITE_PARTS`]).
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
    ///
    /// Each clone is submitted before the next is allocated: under `submit_bio` the clones
    /// submitted wait on `current->bio_list` until it returns, and the pool's rescuer sends
    /// them on should the next allocation have to wait for them.
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
        let head = &self.data.head;
        // The first clone holds the write's context.
        let Ok(first) = bio.clone_in(bdev, &head.fast) else {
            return Err((bio, ctx));
        };
        let src = bio.raw();
        // SAFETY: `first` is a new bio of the disk's `fast` pool, which we own; its front pad
        // is ours to fill. The context holds the bio (live, not ended) until every part has
        // completed and its work item has run; `left` keeps one count until every part is
        // submitted, so no completion can queue the work item before. A clone, once
        // submitted, is not touched here again. Each clone covers the whole bio; the trimmed
        // range lies within it (checked above).
        unsafe {
            let s = sent_of::<T>(head, first);
            s.write(Sent {
                work: RawWork::uninit(),
                data: self.data,
                host: first,
                bio: Some(bio),
                read: None,
                write: Some(ctx),
                left: AtomicUsize::new(1),
                err: AtomicI32::new(0),
            });
            RawWork::init(&raw mut (*s).work, sent_work::<T>);
            head.remaps.fetch_add(1, Ordering::AcqRel);
            for (i, &(sector, skip, len)) in parts.iter().enumerate() {
                let clone = if i == 0 {
                    first
                } else {
                    match clone_raw(src, bdev, &head.fast) {
                        Ok(c) => c,
                        Err(e) => {
                            // Never from a pool that may wait, bar a clone of integrity data
                            // our disks do not have. The parts sent go on; the write fails
                            // (and is done again the slow way if `written` says so).
                            let _ = (*s).err.compare_exchange(
                                0,
                                e.to_errno(),
                                Ordering::AcqRel,
                                Ordering::Acquire,
                            );
                            break;
                        }
                    }
                };
                bindings::bio_trim(clone, (skip >> 9) as u64, (len >> 9) as u64);
                (*clone).bi_iter.bi_sector = sector;
                if !own_flags {
                    (*clone).bi_opf = ffi::rbcache_req_write();
                }
                (*clone).bi_private = s.cast::<c_void>();
                (*clone).bi_end_io = Some(write_end_io::<T>);
                (*s).left.fetch_add(1, Ordering::AcqRel);
                bindings::submit_bio(clone);
            }
            if (*s).left.fetch_sub(1, Ordering::AcqRel) == 1 {
                RawWork::queue(&raw mut (*s).work, Wq::Done);
            }
        }
        Ok(())
    }
}

/// A clone of the live bio `src` on `bdev` from `set`, sharing its pages, for the caller to
/// submit (`GFP_NOIO`: from the pool's reserve when memory is short); the caller must keep
/// `src` live (not ended) until the clone has completed, and put the clone.
fn clone_raw(src: *mut bindings::bio, bdev: &BdevFile, set: &BioSet) -> Result<*mut bindings::bio> {
    // SAFETY: `src` is live (its holder is the caller); `bdev` is open; the pool is
    // initialised (type invariant of `BioSet`); the helper only returns `GFP_NOIO`.
    let clone = unsafe {
        bindings::bio_alloc_clone(bdev.bdev(), src, ffi::rbcache_gfp_noio(), set.as_ptr())
    };
    if clone.is_null() {
        return Err(ENOMEM);
    }
    Ok(clone)
}

/// The completion of a part sent by [`Remapper::write_parts`]: notes its error, puts it
/// (unless it holds the write's context), and the last part queues the write's work item.
///
/// # Safety
///
/// `clone` must be such a part, completing once; its `bi_private` is the write's [`Sent`].
unsafe extern "C" fn write_end_io<T: DiskOps>(clone: *mut bindings::bio) {
    // SAFETY: By the safety contract `bi_private` is the live context, freed only after the
    // last part (possibly this one) queued its work item, which is not touched here after
    // that. A part other than the host is ours to put after reading its status.
    unsafe {
        let s = (*clone).bi_private.cast::<Sent<T>>();
        let errno = bindings::blk_status_to_errno((*clone).bi_status);
        if clone != (*s).host {
            bindings::bio_put(clone);
        }
        if errno != 0 {
            let _ = (*s)
                .err
                .compare_exchange(0, errno, Ordering::AcqRel, Ordering::Acquire);
        }
        if (*s).left.fetch_sub(1, Ordering::AcqRel) == 1 {
            RawWork::queue(&raw mut (*s).work, Wq::Done);
        }
    }
}

/// The completion of a clone sent by [`Remapper::read_from`]: the read ends here, or, given
/// back by [`DiskOps::remapped`], goes down the slow path on the work item it was sent with.
///
/// # Safety
///
/// `clone` must be such a clone, completing once; its `bi_private` is its [`Sent`].
unsafe extern "C" fn read_end_io<T: DiskOps>(clone: *mut bindings::bio) {
    // SAFETY: By the safety contract `bi_private` is the clone's own context, which nothing
    // else uses now; the disk's data is live while the context is counted (see `release`).
    unsafe {
        let s = (*clone).bi_private.cast::<Sent<T>>();
        let status = (*clone).bi_status;
        let data = &*(*s).data;
        let (Some(bio), Some(ctx)) = ((*s).bio.take(), (*s).read.take()) else {
            release(s);
            return;
        };
        let result = if status == 0 { Ok(()) } else { Err(EIO) };
        match data.ops.remapped(ctx, bio, result) {
            None => release(s),
            Some(bio) => {
                (*s).bio = Some(bio);
                RawWork::queue(&raw mut (*s).work, Wq::Io);
            }
        }
    }
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
        // The context of a clone sits in its front pad, right at the start of a slab object
        // (aligned to at least `ARCH_KMALLOC_MINALIGN`, 8).
        if core::mem::align_of::<Sent<T>>() > 8 {
            return Err(EINVAL);
        }
        let pad = u32::try_from(front_pad::<T>()).map_err(|_| EINVAL)?;
        let fast = BioSet::new(DISK_POOL, pad, false, true)?;
        let sync = BioSet::new(DISK_POOL, 0, false, false)?;
        let data = Arc::new(
            DiskData {
                head: DiskHead {
                    submit: submit_typed::<T>,
                    remaps: AtomicUsize::new(0),
                    fast,
                    sync,
                },
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
        let remaps = unsafe { &(*self.data).head.remaps };
        // What the remapper sent completes without a thread to wait on: poll (teardown only).
        while remaps.load(Ordering::Acquire) != 0 {
            // SAFETY: Sleeping is fine here: the disk is dropped in process context.
            unsafe { bindings::msleep(1) };
        }
        self.ops().drain();
        // SAFETY: Nothing refers to the disk or `data` any more, and no bio of its pools is
        // left (each is put before the count that the waits above watch drops), so they may
        // be exited with it.
        unsafe {
            bindings::put_disk(self.disk.as_ptr());
            drop(Arc::from_raw(self.data));
        }
    }
}
