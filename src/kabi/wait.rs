// SPDX-License-Identifier: GPL-2.0

//! A wait queue for sleeping, uninterruptibly, until a condition holds that may change in any
//! context (a bio's completion, say), as C's `wait_event()` does.
//!
//! C header: [`include/linux/wait.h`](srctree/include/linux/wait.h)
//!
//! The 6.12 `CondVar` checks its condition under a lock, before it queues the waiter, so a
//! waker that cannot take that lock (a completion) may wake nobody between the check and the
//! sleep; and its only uninterruptible wait has no timeout to recover with. Here the waiter is
//! queued first and the condition checked after, so no wakeup is lost, and a pending signal
//! does not end the sleep (a caller with one neither spins nor gives up).

use core::ptr;
use kernel::bindings;
use kernel::prelude::*;
use kernel::task::{TASK_NORMAL, TASK_UNINTERRUPTIBLE};
use kernel::types::Opaque;

use super::ffi;

/// See the module documentation.
#[pin_data]
pub(crate) struct WaitQueue {
    #[pin]
    head: Opaque<bindings::wait_queue_head>,
}

// SAFETY: A wait queue head is made to be used from any thread and any context: its own
// spinlock (taken with interrupts off) serialises every access.
unsafe impl Send for WaitQueue {}
// SAFETY: As above.
unsafe impl Sync for WaitQueue {}

impl WaitQueue {
    /// An empty wait queue.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(WaitQueue {
            // SAFETY: `slot` is valid, pinned memory for a wait queue head while the closure
            // runs; the helper initialises it completely.
            head <- Opaque::ffi_init(|slot| unsafe { ffi::rbcache_init_waitqueue_head(slot) }),
        })
    }

    /// Wakes every waiter, which then checks its condition again. Does not sleep: any context.
    pub(crate) fn wake_all(&self) {
        // SAFETY: `head` was initialised by `new` and is pinned for as long as `self` lives.
        unsafe { bindings::__wake_up(self.head.get(), TASK_NORMAL, 0, ptr::null_mut()) };
    }

    /// Sleeps, uninterruptibly, until `done` returns true. `done` is called with the task
    /// already queued (and not running), so it must not sleep: an atomic load, say. Whoever
    /// makes it true must then call [`WaitQueue::wake_all`].
    pub(crate) fn wait_until(&self, mut done: impl FnMut() -> bool) {
        let entry = Opaque::<bindings::wait_queue_entry>::uninit();
        // SAFETY: `entry` is valid memory that stays in place (it is never moved) until the
        // end of this function, after `finish_wait` has taken it off the queue.
        unsafe { bindings::init_wait(entry.get()) };
        loop {
            // SAFETY: `head` is initialised and pinned, `entry` initialised above; queueing
            // before the check below is what makes a wakeup in between not lost.
            unsafe {
                bindings::prepare_to_wait(self.head.get(), entry.get(), TASK_UNINTERRUPTIBLE)
            };
            if done() {
                break;
            }
            // SAFETY: Sleeps until woken; the task is queued on `head`, so `wake_all` wakes it.
            unsafe { bindings::schedule() };
        }
        // SAFETY: Takes `entry` off the queue (if a wakeup has not already) and sets the task
        // running again.
        unsafe { bindings::finish_wait(self.head.get(), entry.get()) };
    }
}
