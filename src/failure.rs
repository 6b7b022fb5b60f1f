// SPDX-License-Identifier: GPL-2.0

//! How a cache set fails on IO errors (6.12's `bch_count_io_errors()` and
//! `bch_cache_set_error()`).
//!
//! Data IO to the cache device is counted as it completes, in process context: the slow
//! paths' synchronous reads and writes, fast writes from their work item, writeback's and
//! moving GC's reads and writes. (A fast-path read hit that fails is read again the slow way,
//! and counted there.) Once the decaying error count ([`crate::format::io_errors`]) reaches
//! `io_error_limit`, the set fails: its IO is disabled and its GC thread has it unregistered,
//! so its backing devices detach, or stop as `stop_when_cache_set_failed` says, and its
//! flash volumes go.

use kernel::prelude::*;

use crate::format::io_errors::Noted;
use crate::set_io::SetIo;

impl SetIo {
    /// Counts a completed data IO to the cache device with result `r`; `what` names it in the
    /// log line of a failing set.
    pub(crate) fn count_io<T>(&self, r: &Result<T>, what: &str) {
        if let Noted::Limit(n) = self.io_errors.note(r.is_err()) {
            if self.gc.fail() {
                let dev = self.bdev.dev();
                pr_err!(
                    "cache device {}:{}: {} IO errors, the last {}: the cache set fails\n",
                    dev >> 20,
                    dev & 0xfffff,
                    n,
                    what
                );
            }
        }
    }
}
