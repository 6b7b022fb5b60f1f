// SPDX-License-Identifier: GPL-2.0

//! Bios handed to work items: a disk's handlers run each on an `rbcache_io` work item,
//! synchronously, and count them so that the disk can wait for them before it goes.
//!
//! A bio is handed on from `submit_bio`, inside the handlers' `NoIoScope` (so the work item is
//! allocated as with `GFP_NOIO`). A bio the fast paths sent on and then gave back, from a
//! completion, goes down the slow path on the work item it was sent with instead
//! ([`crate::kabi::disk::DiskOps::handle`]): nothing is allocated in a completion.

use core::sync::atomic::{AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::sync::Arc;

use crate::kabi::disk::Bio;
use crate::kabi::wait::WaitQueue;
use crate::kabi::workqueue::io_queue;

/// The bios of one disk that are on work items.
#[pin_data]
pub(crate) struct Handoff {
    /// Bios handed on and not yet ended.
    count: AtomicU64,
    /// Woken when `count` reaches 0.
    #[pin]
    idle: WaitQueue,
}

/// What handles the bios a [`Handoff`] hands on.
pub(crate) trait Handler: Send + Sync + 'static {
    /// The handler's handoff.
    fn handoff(&self) -> &Handoff;
    /// Handles `bio` synchronously and ends it.
    fn handle(&self, bio: Bio);
}

impl Handoff {
    /// No bio handed on yet.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Handoff {
            count: AtomicU64::new(0),
            idle <- WaitQueue::new(),
        })
    }

    /// Hands `bio` to a work item that runs `owner`'s handler on it; a bio that cannot be
    /// handed on (no memory for the work item) ends with `EIO`.
    pub(crate) fn spawn<H: Handler>(owner: &Arc<H>, bio: Bio) {
        let h = owner.handoff();
        h.count.fetch_add(1, Ordering::AcqRel);
        let me = owner.clone();
        let spawned = io_queue().try_spawn(GFP_KERNEL, move || {
            me.handle(bio);
            me.handoff().done();
        });
        if spawned.is_err() {
            // The closure, and with it the bio, was dropped: the bio ended with EIO.
            h.done();
        }
    }

    /// A bio handed on has ended (any context).
    fn done(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.wake_all();
        }
    }

    /// Waits, uninterruptibly (teardown must not end early, nor spin on a pending signal),
    /// until every bio handed on has ended.
    pub(crate) fn drain(&self) {
        self.idle
            .wait_until(|| self.count.load(Ordering::Acquire) == 0);
    }
}
