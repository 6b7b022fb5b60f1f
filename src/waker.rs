// SPDX-License-Identifier: GPL-2.0

//! A one-bit doorbell for a helper thread: [`Waker::ring`] asks for work, the thread waits in
//! [`Waker::wait`] (optionally lingering a little to batch), and [`Waker::stop`] ends it.
//!
//! The bell is rung and checked under one spinlock, so no ring is lost between the thread's
//! check and its sleep.

use kernel::prelude::*;
use kernel::sync::{new_condvar, new_spinlock, CondVar, SpinLock};
use kernel::time::Jiffies;

struct Bell {
    rung: bool,
    stop: bool,
}

/// See the module documentation.
#[pin_data]
pub(crate) struct Waker {
    #[pin]
    bell: SpinLock<Bell>,
    #[pin]
    wait: CondVar,
}

impl Waker {
    /// A quiet doorbell.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Waker {
            bell <- new_spinlock!(Bell { rung: false, stop: false }, "Waker::bell"),
            wait <- new_condvar!("Waker::wait"),
        })
    }

    /// Asks the thread for a round of work.
    pub(crate) fn ring(&self) {
        let mut b = self.bell.lock();
        if !b.rung {
            b.rung = true;
            self.wait.notify_all();
        }
    }

    /// Asks for a round of work now: also ends a linger in progress.
    pub(crate) fn hurry(&self) {
        let mut b = self.bell.lock();
        b.rung = true;
        self.wait.notify_all();
    }

    /// Tells the thread to leave.
    pub(crate) fn stop(&self) {
        let mut b = self.bell.lock();
        b.stop = true;
        self.wait.notify_all();
    }

    /// Waits for a ring, then lingers `linger` jiffies (a stop cuts it short), then clears the
    /// bell. Returns `false` when the thread should stop.
    pub(crate) fn wait(&self, linger: Jiffies) -> bool {
        let mut b = self.bell.lock();
        while !b.rung && !b.stop {
            // Kthreads ignore signals; an interrupted wait just re-checks.
            let _ = self.wait.wait_interruptible(&mut b);
        }
        if !b.stop && linger > 0 {
            let _ = self.wait.wait_interruptible_timeout(&mut b, linger);
        }
        if b.stop {
            return false;
        }
        b.rung = false;
        true
    }
}
