// SPDX-License-Identifier: GPL-2.0

//! A scope in which allocations do not recurse into IO (`memalloc_noio_save`).
//!
//! C header: [`include/linux/sched/mm.h`](srctree/include/linux/sched/mm.h)
//!
//! The 6.12 `kernel` crate has no `GFP_NOIO`; inside a [`NoIoScope`], `GFP_KERNEL` allocations
//! behave as `GFP_NOIO`, which is what the IO path of a block device needs.

use core::marker::PhantomData;

use super::ffi;

/// While alive, the current task's allocations avoid IO. Not `Send`: it belongs to the task.
pub(crate) struct NoIoScope {
    flags: core::ffi::c_uint,
    _not_send: PhantomData<*mut ()>,
}

impl NoIoScope {
    /// Enters the scope.
    pub(crate) fn new() -> Self {
        // SAFETY: `memalloc_noio_save` only sets a flag on the current task.
        let flags = unsafe { ffi::rbcache_memalloc_noio_save() };
        NoIoScope {
            flags,
            _not_send: PhantomData,
        }
    }
}

impl Drop for NoIoScope {
    fn drop(&mut self) {
        // SAFETY: Restores what `new` saved, on the same task (the type is not `Send`).
        unsafe { ffi::rbcache_memalloc_noio_restore(self.flags) };
    }
}
