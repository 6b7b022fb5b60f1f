// SPDX-License-Identifier: GPL-2.0

//! Kernel threads, stopped with `kthread_stop`.
//!
//! C header: [`include/linux/kthread.h`](srctree/include/linux/kthread.h)
//!
//! [`Kthread::run`] starts a closure on a new kthread. Dropping the [`Kthread`] calls
//! `kthread_stop`, which wakes the thread and waits until it has exited. The closure must
//! therefore return once the owner asks it to (through state the two share, such as a flag
//! under a lock with a [`kernel::sync::CondVar`]); it must not depend on `kthread_should_stop()`
//! alone, which would race with a sleep that has not started yet.
//!
//! The handle holds a reference on the task, so `kthread_stop` is safe even if the closure
//! returned early and the thread has already exited (the use-after-free that bcache avoids with
//! `wait_for_kthread_stop()`). The closure itself is freed only after the thread is gone, which
//! also covers a thread that is stopped before it ever ran.

use core::ffi::{c_int, c_void};
use core::ptr::NonNull;
use kernel::alloc::{flags::GFP_KERNEL, KBox};
use kernel::bindings;
use kernel::error::{code::EINVAL, from_err_ptr, Result};
use kernel::str::CStr;

const NUMA_NO_NODE: c_int = -1;

/// A running kernel thread; dropping it stops the thread and waits for it.
///
/// # Invariants
///
/// - `task` is a kthread created by `kthread_create_on_node`, on which we hold a reference.
/// - `data` is the `KBox<Option<F>>` given to the thread, and `free_data` is `free::<F>`; the
///   thread accesses `data` only until it exits, and `data` is freed only after that.
pub(crate) struct Kthread {
    task: NonNull<bindings::task_struct>,
    data: *mut c_void,
    free_data: unsafe fn(*mut c_void),
}

// SAFETY: The task is a refcounted kernel object that any thread may stop, and the closure data
// (which is `Send`) is only touched by the kthread and then, after it exited, by the owner.
unsafe impl Send for Kthread {}

// SAFETY: `&Kthread` exposes no operation at all.
unsafe impl Sync for Kthread {}

/// Entry point of every [`Kthread`].
///
/// # Safety
///
/// `data` must be the `KBox<Option<F>>` pointer passed to `kthread_create_on_node`, alive until
/// this thread has exited and not accessed by anyone else meanwhile.
unsafe extern "C" fn trampoline<F: FnOnce() + Send + 'static>(data: *mut c_void) -> c_int {
    // SAFETY: By the function's safety contract `data` is a live `Option<F>` that only this
    // thread accesses.
    let slot = unsafe { &mut *data.cast::<Option<F>>() };
    if let Some(f) = slot.take() {
        f();
    }
    0
}

/// Frees the closure box of a [`Kthread`].
///
/// # Safety
///
/// `data` must come from `KBox::<Option<F>>::into_raw` and no thread may access it any more.
unsafe fn free<F>(data: *mut c_void) {
    // SAFETY: By the function's safety contract we own the box.
    drop(unsafe { KBox::from_raw(data.cast::<Option<F>>()) });
}

impl Kthread {
    /// Starts `f` on a new kernel thread named `name`.
    pub(crate) fn run<F: FnOnce() + Send + 'static>(name: &CStr, f: F) -> Result<Self> {
        let data = KBox::into_raw(KBox::new(Some(f), GFP_KERNEL)?).cast::<c_void>();
        // SAFETY: `trampoline::<F>` has the thread-function signature and `data` is the matching
        // `Option<F>` box, which stays alive until the thread has exited (see `Drop`). The name
        // is passed through a `"%s"` format.
        let task = unsafe {
            bindings::kthread_create_on_node(
                Some(trampoline::<F>),
                data,
                NUMA_NO_NODE,
                kernel::c_str!("%s").as_char_ptr(),
                name.as_char_ptr(),
            )
        };
        let task = match from_err_ptr(task).and_then(|t| NonNull::new(t).ok_or(EINVAL)) {
            Ok(task) => task,
            Err(e) => {
                // SAFETY: No thread was created, so nothing else can see `data`.
                unsafe { free::<F>(data) };
                return Err(e);
            }
        };
        // SAFETY: `task` is a freshly created kthread that has not been woken yet; we take our
        // own reference before letting it run.
        unsafe {
            bindings::get_task_struct(task.as_ptr());
            bindings::wake_up_process(task.as_ptr());
        }
        // INVARIANT: We hold a reference on `task`, and `data`/`free_data` match `F`.
        Ok(Self {
            task,
            data,
            free_data: free::<F>,
        })
    }
}

impl Drop for Kthread {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `task` is a kthread we hold a reference on, so it is
        // valid even if it has already exited. `kthread_stop` returns after it exited.
        unsafe { bindings::kthread_stop(self.task.as_ptr()) };
        // SAFETY: The thread has exited (or never ran), so nothing accesses `data` any more, and
        // `free_data` matches its type by the type invariant.
        unsafe { (self.free_data)(self.data) };
        // SAFETY: Drops the reference taken in `run`.
        unsafe { bindings::put_task_struct(self.task.as_ptr()) };
    }
}
