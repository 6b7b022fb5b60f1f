// SPDX-License-Identifier: GPL-2.0

//! Workqueues owned by the module, and the two bios go through.
//!
//! C header: [`include/linux/workqueue.h`](srctree/include/linux/workqueue.h)

use core::ptr::{null_mut, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::bindings;
use kernel::c_str;
use kernel::error::{code::ENOMEM, Result};
use kernel::str::CStr;
use kernel::types::Opaque;
use kernel::workqueue;

use super::ffi;

/// The module's IO workqueue, published by [`IoQueue::new`] (null before and after).
static IO_QUEUE: AtomicPtr<bindings::workqueue_struct> = AtomicPtr::new(null_mut());
/// The module's completion workqueue, published likewise.
static DONE_QUEUE: AtomicPtr<bindings::workqueue_struct> = AtomicPtr::new(null_mut());

/// Owns the two workqueues bios go through, from module load to unload:
///
/// - `rbcache_io` ([`io_queue`]): the slow path, every bio handled synchronously on a work
///   item. Such an item may block (on a locked range, on IO, on room in the cache).
/// - `rbcache_done` ([`Wq::Done`]): the completions of fast-path writes, which release what
///   those writes hold (their range locks, their reserved room) and end their bios. They
///   never wait for a slow-path item, so that a slow-path item blocked on what a completion
///   releases cannot hold that completion up: were both on one queue, then under memory
///   pressure, with no new worker to be had, the queue's rescuer could run the blocked item and
///   never the completion behind it.
///
/// Both are per-CPU, as 6.12's `bcache` queue: work queued from a completion interrupt runs
/// on that CPU, which is usually idle then, with no cross-CPU wakeup. Both have a rescuer
/// (`WQ_MEM_RECLAIM`), so that IO makes progress even when memory is too tight to start new
/// workers (writing to a block device may be what frees memory). Dropping it drains them.
pub(crate) struct IoQueue {
    // Held for their drop.
    _io: OwnedQueue,
    _done: OwnedQueue,
}

impl IoQueue {
    /// Creates `rbcache_io` and `rbcache_done` and publishes them.
    pub(crate) fn new() -> Result<Self> {
        let io = OwnedQueue::new(c_str!("rbcache_io"), bindings::wq_flags_WQ_MEM_RECLAIM)?;
        let done = OwnedQueue::new(c_str!("rbcache_done"), bindings::wq_flags_WQ_MEM_RECLAIM)?;
        IO_QUEUE.store(io.ptr.as_ptr(), Ordering::Release);
        DONE_QUEUE.store(done.ptr.as_ptr(), Ordering::Release);
        Ok(IoQueue {
            _io: io,
            _done: done,
        })
    }
}

impl Drop for IoQueue {
    fn drop(&mut self) {
        IO_QUEUE.store(null_mut(), Ordering::Release);
        DONE_QUEUE.store(null_mut(), Ordering::Release);
        // Then the queues drain and go (`OwnedQueue::drop`).
    }
}

/// Which of the module's queues a [`RawWork`] goes on.
#[derive(Clone, Copy)]
pub(super) enum Wq {
    /// `rbcache_io`: the slow path.
    Io,
    /// `rbcache_done`: completions of fast-path writes.
    Done,
}

impl Wq {
    /// The queue's `workqueue_struct`: published while the module is loaded, else
    /// `system_unbound_wq`.
    fn raw(self) -> *mut bindings::workqueue_struct {
        let p = match self {
            Wq::Io => IO_QUEUE.load(Ordering::Acquire),
            Wq::Done => DONE_QUEUE.load(Ordering::Acquire),
        };
        if p.is_null() {
            // SAFETY: `system_unbound_wq` is set up at boot and never changes.
            return unsafe { bindings::system_unbound_wq };
        }
        p
    }
}

/// The queue for bios handed to work items: `rbcache_io` while the module is loaded.
pub(crate) fn io_queue() -> &'static workqueue::Queue {
    // SAFETY: The pointer is `system_unbound_wq`, or `rbcache_io`, published by `IoQueue::new`
    // and live until that `IoQueue` drops, which the module does only after every disk, the
    // only user, is gone.
    unsafe { workqueue::Queue::from_raw(Wq::Io.raw()) }
}

/// A work item that lives in memory kabi manages itself (the front pad of a bio clone, see
/// `disk.rs`), run by a plain C function; for what `kernel::workqueue::WorkItem` cannot
/// express (it owns its item through a `KBox` or an `Arc`).
#[repr(transparent)]
pub(super) struct RawWork(Opaque<bindings::work_struct>);

impl RawWork {
    /// A work item to be initialised in place ([`RawWork::init`]).
    pub(super) const fn uninit() -> Self {
        RawWork(Opaque::uninit())
    }

    /// Initialises the work item at `this` to run `f`.
    ///
    /// # Safety
    ///
    /// `this` must be valid for writes and not queued.
    pub(super) unsafe fn init(
        this: *mut RawWork,
        f: unsafe extern "C" fn(*mut bindings::work_struct),
    ) {
        // SAFETY: `this` is valid and not queued (safety contract); `RawWork` is a
        // transparent `work_struct`.
        unsafe { ffi::rbcache_init_work(this.cast::<bindings::work_struct>(), Some(f)) };
    }

    /// Queues the work item at `this` on `queue`.
    ///
    /// # Safety
    ///
    /// `this` must have been initialised by [`RawWork::init`], must not be pending, and must
    /// stay valid until its function has run (which may free it).
    pub(super) unsafe fn queue(this: *mut RawWork, queue: Wq) {
        // SAFETY: The queue is live (see `Wq::raw`); the item is initialised, not pending,
        // and stays valid until it has run (safety contract). Not pending, it is always queued.
        unsafe { ffi::rbcache_queue_work(queue.raw(), this.cast::<bindings::work_struct>()) };
    }
}

/// A workqueue created with `alloc_workqueue`, destroyed (after draining) on drop.
///
/// # Invariants
///
/// `ptr` is a workqueue from `alloc_workqueue`, destroyed only in `Drop`.
pub(crate) struct OwnedQueue {
    ptr: NonNull<bindings::workqueue_struct>,
}

// SAFETY: Workqueues may be used and destroyed from any thread.
unsafe impl Send for OwnedQueue {}

// SAFETY: Queueing and flushing are thread-safe.
unsafe impl Sync for OwnedQueue {}

impl OwnedQueue {
    /// Creates a workqueue named `name` with `alloc_workqueue` `flags`.
    pub(crate) fn new(name: &CStr, flags: u32) -> Result<Self> {
        // SAFETY: The name goes through a `"%s"` format; 0 means the default concurrency.
        let ptr = unsafe {
            bindings::alloc_workqueue(
                kernel::c_str!("%s").as_char_ptr(),
                flags,
                0,
                name.as_char_ptr(),
            )
        };
        // INVARIANT: A non-null result is a new workqueue we own.
        Ok(Self {
            ptr: NonNull::new(ptr).ok_or(ENOMEM)?,
        })
    }

    /// Returns the queue for enqueueing work.
    pub(crate) fn queue(&self) -> &workqueue::Queue {
        // SAFETY: By the type invariant the workqueue is live for as long as `self`.
        unsafe { workqueue::Queue::from_raw(self.ptr.as_ptr()) }
    }

    /// Waits until all work queued so far has finished.
    pub(crate) fn flush(&self) {
        // SAFETY: By the type invariant the workqueue is live.
        unsafe { bindings::__flush_workqueue(self.ptr.as_ptr()) };
    }
}

impl Drop for OwnedQueue {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the workqueue is live; `destroy_workqueue` drains it.
        unsafe { bindings::destroy_workqueue(self.ptr.as_ptr()) };
    }
}
