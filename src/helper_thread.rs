// SPDX-License-Identifier: GPL-2.0

//! A cache set's helper threads, `bcache_allocator` and `bcache_journal`: started with the
//! set, woken through their [`crate::waker::Waker`], and stopped (in that order) at teardown.
//! Stopping the journal thread also writes what is still pending.

use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::Arc;

use crate::kabi::kthread::Kthread;
use crate::kabi::noio::NoIoScope;
use crate::set_io::SetIo;
use crate::waker::Waker;

/// Which helper.
#[derive(Clone, Copy)]
pub(crate) enum Helper {
    /// `bcache_allocator`: keeps the free fifos topped up ([`SetIo::allocator_main`]).
    Allocator,
    /// `bcache_journal`: writes the pending journal entry after `journal_delay_ms`
    /// ([`SetIo::flusher_main`]).
    Journal,
}

/// A running helper thread; dropping it stops the thread.
pub(crate) struct HelperThread {
    io: Arc<SetIo>,
    which: Helper,
    thread: Option<Kthread>,
}

impl HelperThread {
    /// Starts helper `which` of the set whose data path is `io`.
    pub(crate) fn start(io: Arc<SetIo>, which: Helper) -> Result<Self> {
        let worker = io.clone();
        let thread = match which {
            Helper::Allocator => {
                Kthread::run(c_str!("bcache_allocator"), move || worker.allocator_main())?
            }
            Helper::Journal => {
                Kthread::run(c_str!("bcache_journal"), move || worker.flusher_main())?
            }
        };
        Ok(HelperThread {
            io,
            which,
            thread: Some(thread),
        })
    }

    fn waker(&self) -> &Waker {
        match self.which {
            Helper::Allocator => &self.io.allocator,
            Helper::Journal => &self.io.flusher,
        }
    }
}

impl Drop for HelperThread {
    fn drop(&mut self) {
        self.waker().stop();
        drop(self.thread.take());
        if let Helper::Journal = self.which {
            let _noio = NoIoScope::new();
            // A failed set writes nothing more, and said so when it failed.
            let r = self.io.flush_journal();
            if let (Err(e), false) = (r, self.io.gc.failed()) {
                pr_err!(
                    "writing the journal at stop failed ({}): keys since the last flush are lost\n",
                    e.to_errno()
                );
            }
        }
    }
}
