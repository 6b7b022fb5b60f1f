// SPDX-License-Identifier: GPL-2.0

//! The numbers `N` of `/dev/bcacheN`, from one module-wide IDA (6.12's `bcache_device_idx`).
//!
//! C header: [`include/linux/idr.h`](srctree/include/linux/idr.h)

use kernel::bindings;
use kernel::error::{Error, Result};

use super::ffi;

/// A number taken from the module's IDA; given back when dropped.
///
/// # Invariants
///
/// `0` was allocated from `rbcache_device_ida()` and not freed yet.
pub(crate) struct DeviceIndex(u32);

impl DeviceIndex {
    /// Takes the lowest free number in `0..=max` (`ida_alloc_max(..., GFP_KERNEL)`): `ENOSPC`
    /// when all are taken, `ENOMEM` when the IDA cannot grow.
    pub(crate) fn alloc(max: u32) -> Result<Self> {
        // SAFETY: `rbcache_device_ida()` is a static IDA, initialised at compile time
        // (`DEFINE_IDA`) and alive as long as the module; `ida_alloc_range` takes its own lock
        // and may sleep, which a `GFP_KERNEL` caller allows.
        let id = unsafe {
            bindings::ida_alloc_range(ffi::rbcache_device_ida(), 0, max, bindings::GFP_KERNEL)
        };
        if id < 0 {
            return Err(Error::from_errno(id));
        }
        // INVARIANT: `id` was just allocated; it is not negative, so it fits.
        Ok(Self(id as u32))
    }

    /// The number.
    pub(crate) fn get(&self) -> u32 {
        self.0
    }
}

impl Drop for DeviceIndex {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `self.0` is allocated in this static IDA and freed
        // only here, once; `ida_free` takes the IDA's lock itself.
        unsafe { bindings::ida_free(ffi::rbcache_device_ida(), self.0) };
    }
}
