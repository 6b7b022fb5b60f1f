// SPDX-License-Identifier: GPL-2.0

//! Shrinkers: callbacks through which memory reclaim asks a cache to give memory back.
//!
//! C header: [`include/linux/shrinker.h`](srctree/include/linux/shrinker.h)
//!
//! [`Shrinker::register`] allocates and registers a shrinker whose `count_objects` and
//! `scan_objects` call a [`ShrinkerOps`] implementation. Dropping the [`Shrinker`] calls
//! `shrinker_free`, which unregisters it and waits for callbacks in progress, so the ops
//! object it holds a reference on outlives every callback.
//!
//! Reclaim may run inside any allocation, including ones made while the cache's own locks are
//! held: callbacks must not sleep on such locks.

use core::ffi::c_void;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::{code::ENOMEM, Result};
use kernel::str::CStr;
use kernel::sync::Arc;

/// `DEFAULT_SEEKS`.
const DEFAULT_SEEKS: i32 = 2;
/// `SHRINK_STOP`.
const SHRINK_STOP: kernel::ffi::c_ulong = !0;

/// What a shrinker asks of its cache.
pub(crate) trait ShrinkerOps: Send + Sync + 'static {
    /// Objects that could be freed now (0 if none).
    fn count(&self) -> usize;
    /// Frees up to `nr` objects, or arranges for them to be freed soon; returns how many were
    /// freed now, or `None` if nothing can be done.
    fn scan(&self, nr: usize) -> Option<usize>;
}

/// A registered shrinker; dropping it unregisters it.
///
/// # Invariants
///
/// `ptr` is a shrinker from `shrinker_alloc` that is registered, and its `private_data` points to
/// the `T` that `_ops` holds.
pub(crate) struct Shrinker<T: ShrinkerOps> {
    ptr: NonNull<bindings::shrinker>,
    /// Keeps the ops object alive for the callbacks.
    _ops: Arc<T>,
}

// SAFETY: The shrinker is only freed by `drop`, and `T` is `Send + Sync`.
unsafe impl<T: ShrinkerOps> Send for Shrinker<T> {}

// SAFETY: `&Shrinker` exposes nothing but the `Sync` ops object.
unsafe impl<T: ShrinkerOps> Sync for Shrinker<T> {}

/// # Safety
///
/// Called by reclaim on a shrinker registered by [`Shrinker::register`] and not yet freed.
unsafe extern "C" fn count_objects<T: ShrinkerOps>(
    s: *mut bindings::shrinker,
    _sc: *mut bindings::shrink_control,
) -> kernel::ffi::c_ulong {
    // SAFETY: By the type invariants `private_data` is a live `T`: `shrinker_free` waits for
    // this callback before the `Arc` it points into is dropped.
    let ops = unsafe { &*(*s).private_data.cast::<T>() };
    ops.count()
}

/// # Safety
///
/// Called by reclaim on a shrinker registered by [`Shrinker::register`] and not yet freed,
/// with a valid `sc`.
unsafe extern "C" fn scan_objects<T: ShrinkerOps>(
    s: *mut bindings::shrinker,
    sc: *mut bindings::shrink_control,
) -> kernel::ffi::c_ulong {
    // SAFETY: As in `count_objects`.
    let ops = unsafe { &*(*s).private_data.cast::<T>() };
    // SAFETY: Reclaim passes a valid shrink control.
    let nr: usize = unsafe { (*sc).nr_to_scan };
    match ops.scan(nr) {
        Some(freed) => freed,
        None => SHRINK_STOP,
    }
}

impl<T: ShrinkerOps> Shrinker<T> {
    /// Registers a shrinker named `name` (shown in debugfs) calling `ops`.
    pub(crate) fn register(name: &CStr, ops: Arc<T>) -> Result<Self> {
        // SAFETY: The format is a valid C string taking one string argument, `name`.
        let raw = unsafe { bindings::shrinker_alloc(0, c"%s".as_ptr().cast(), name.as_char_ptr()) };
        let ptr = NonNull::new(raw).ok_or(ENOMEM)?;
        // SAFETY: `ptr` is a freshly allocated shrinker that nobody else sees until it is
        // registered below.
        unsafe {
            let s = ptr.as_ptr();
            (*s).count_objects = Some(count_objects::<T>);
            (*s).scan_objects = Some(scan_objects::<T>);
            (*s).seeks = DEFAULT_SEEKS;
            (*s).private_data = (&*ops as *const T).cast_mut().cast::<c_void>();
            bindings::shrinker_register(s);
        }
        Ok(Shrinker { ptr, _ops: ops })
    }
}

impl<T: ShrinkerOps> Drop for Shrinker<T> {
    fn drop(&mut self) {
        // SAFETY: By the type invariants the shrinker is registered; `shrinker_free`
        // unregisters it and waits for running callbacks, after which `ops` may go.
        unsafe { bindings::shrinker_free(self.ptr.as_ptr()) };
    }
}
