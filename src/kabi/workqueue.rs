// SPDX-License-Identifier: GPL-2.0

//! Workqueues owned by the module, and the one bios go through.
//!
//! C header: [`include/linux/workqueue.h`](srctree/include/linux/workqueue.h)

use core::ptr::{null_mut, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::bindings;
use kernel::c_str;
use kernel::error::{code::ENOMEM, Result};
use kernel::str::CStr;
use kernel::workqueue::{self, Queue};

/// The module's IO workqueue, published by [`IoQueue::new`] (null before and after).
static IO_QUEUE: AtomicPtr<bindings::workqueue_struct> = AtomicPtr::new(null_mut());

/// Owns `rbcache_io`, the workqueue every bio handed to a work item goes through
/// ([`io_queue`]), from module load to unload. It is per-CPU, as 6.12's `bcache` queue: work
/// queued from a completion interrupt runs on that CPU, which is usually idle then, with no
/// cross-CPU wakeup. It has a rescuer (`WQ_MEM_RECLAIM`), so that IO makes progress even when
/// memory is too tight to start new workers (writing to a block device may be what frees
/// memory). Dropping it drains it.
pub(crate) struct IoQueue {
    // Held for its drop.
    _queue: OwnedQueue,
}

impl IoQueue {
    /// Creates `rbcache_io` and publishes it.
    pub(crate) fn new() -> Result<Self> {
        let q = OwnedQueue::new(c_str!("rbcache_io"), bindings::wq_flags_WQ_MEM_RECLAIM)?;
        IO_QUEUE.store(q.ptr.as_ptr(), Ordering::Release);
        Ok(IoQueue { _queue: q })
    }
}

impl Drop for IoQueue {
    fn drop(&mut self) {
        IO_QUEUE.store(null_mut(), Ordering::Release);
        // Then the queue drains and goes (`OwnedQueue::drop`).
    }
}

/// The queue for bios handed to work items: `rbcache_io` while the module is loaded.
pub(crate) fn io_queue() -> &'static Queue {
    let p = IO_QUEUE.load(Ordering::Acquire);
    if p.is_null() {
        return workqueue::system_unbound();
    }
    // SAFETY: `p` was published by `IoQueue::new` and stays live until that `IoQueue` drops,
    // which the module does only after every disk, the only user, is gone.
    unsafe { Queue::from_raw(p) }
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
    pub(crate) fn queue(&self) -> &Queue {
        // SAFETY: By the type invariant the workqueue is live for as long as `self`.
        unsafe { Queue::from_raw(self.ptr.as_ptr()) }
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
