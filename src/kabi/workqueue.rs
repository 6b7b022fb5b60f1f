// SPDX-License-Identifier: GPL-2.0

//! A workqueue owned by the module.
//!
//! C header: [`include/linux/workqueue.h`](srctree/include/linux/workqueue.h)

use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::{code::ENOMEM, Result};
use kernel::str::CStr;
use kernel::workqueue::Queue;

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
