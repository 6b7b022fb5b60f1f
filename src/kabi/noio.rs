// SPDX-License-Identifier: GPL-2.0

//! Scopes in which allocations do not recurse into IO (`memalloc_noio_save`), the locks that
//! must only be held inside one, and the lockdep annotation that checks it.
//!
//! C header: [`include/linux/sched/mm.h`](srctree/include/linux/sched/mm.h)
//!
//! The 6.12 `kernel` crate has no `GFP_NOIO`; inside a [`NoIoScope`], `GFP_KERNEL` allocations
//! behave as `GFP_NOIO`, which is what the IO path of a block device needs.
//!
//! **The rule.** Memory reclaim may write to `/dev/bcacheN` (swap on it, or a filesystem's
//! pages), so it may enter our `submit_bio`. Any lock that `submit_bio` takes, or that is
//! taken while one of those is held, must therefore never be held across an allocation that
//! may start IO, nor across anything that waits for such an allocation: reclaim would call
//! back into `submit_bio` on the same task and wait for the lock forever. Such locks are
//! [`NoIoMutex`]es: taking one enters a [`NoIoScope`] first, and its guard leaves the scope
//! only after unlocking, so the rule holds wherever the lock is taken.
//!
//! **Lockdep.** Every `submit_bio` runs inside a lockdep map of its own ([`SubmitAnnotation`]),
//! so lockdep sees the locks it takes as taken in `rbcache_submit_bio`. rbcache does not tell
//! lockdep that reclaim may enter that map: on 6.12 that claim makes lockdep report, in any
//! test with a loop-backed cache, the known cycle of metadata IO issued under `SetIo::state`
//! with a queue freeze that allocates (Documentation/architecture.md, Lock order). Without
//! lockdep these compile to nothing.

use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use kernel::prelude::*;
use kernel::sync::lock::{mutex::MutexBackend, Guard};
use kernel::sync::Mutex;

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
        // Scopes must end in the reverse order of their start, as `memalloc_noio_restore`
        // requires: every scope is a local or lives in a guard that is one, and none is
        // dropped by hand before a scope started after it.
        unsafe { ffi::rbcache_memalloc_noio_restore(self.flags) };
    }
}

/// A mutex that `submit_bio` of our disks may take (or that is taken under one it takes):
/// held only inside a [`NoIoScope`] (see the module documentation).
#[pin_data]
pub(crate) struct NoIoMutex<T> {
    #[pin]
    inner: Mutex<T>,
}

impl<T> NoIoMutex<T> {
    /// Wraps a mutex made with `new_mutex!` (which gives it its lockdep class and name).
    pub(crate) fn new(inner: impl PinInit<Mutex<T>>) -> impl PinInit<Self> {
        pin_init!(Self { inner <- inner })
    }

    /// Enters a [`NoIoScope`], then locks; the guard unlocks, then leaves the scope.
    pub(crate) fn lock(&self) -> NoIoGuard<'_, T> {
        let scope = NoIoScope::new();
        NoIoGuard {
            guard: self.inner.lock(),
            _scope: scope,
        }
    }
}

/// A locked [`NoIoMutex`]. The fields drop in order: the lock first, then the scope.
pub(crate) struct NoIoGuard<'a, T> {
    guard: Guard<'a, T, MutexBackend>,
    _scope: NoIoScope,
}

impl<'a, T> NoIoGuard<'a, T> {
    /// The mutex guard, to wait on a [`kernel::sync::CondVar`] with (the scope stays).
    pub(crate) fn guard(&mut self) -> &mut Guard<'a, T, MutexBackend> {
        &mut self.guard
    }
}

impl<T> Deref for NoIoGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for NoIoGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

/// For lockdep, a `submit_bio` of one of our disks in progress: locks taken while this lives
/// are taken inside `rbcache_submit_bio`. Not `Send`: it belongs to the task.
pub(crate) struct SubmitAnnotation {
    _not_send: PhantomData<*mut ()>,
}

impl SubmitAnnotation {
    /// Enters the annotation.
    pub(crate) fn new() -> Self {
        // SAFETY: Acquires the helper's lockdep map, released by `drop` on the same task.
        unsafe { ffi::rbcache_lockdep_submit_enter() };
        SubmitAnnotation {
            _not_send: PhantomData,
        }
    }
}

impl Drop for SubmitAnnotation {
    fn drop(&mut self) {
        // SAFETY: Releases what `new` acquired, on the same task (the type is not `Send`).
        unsafe { ffi::rbcache_lockdep_submit_exit() };
    }
}
