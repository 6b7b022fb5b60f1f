// SPDX-License-Identifier: GPL-2.0

//! How a cache set, or a backing device, fails on IO errors.
//!
//! **A cache set** (6.12's `bch_count_io_errors()` and `bch_cache_set_error()`).
//! Data IO to the cache device is counted as it completes, in process context: the slow
//! paths' synchronous reads and writes, fast writes from their work item, writeback's and
//! moving GC's reads and writes. (A fast-path read hit that fails is read again the slow way,
//! and counted there.) Once the decaying error count ([`crate::format::io_errors`]) reaches
//! `io_error_limit`, the set fails: its IO is disabled and its GC thread has it unregistered,
//! so its backing devices detach, or stop as `stop_when_cache_set_failed` says, and its
//! flash volumes go.
//!
//! **A backing device** (6.12's `bch_count_backing_io_errors()` and `bch_cached_dev_error()`).
//! Its IO is counted likewise (foreground reads, writes, flushes and discards, and writeback's
//! writes; failed readahead is not counted). At `io_error_limit` errors (64) its `io_disable`
//! is set, so every bio fails, and it is stopped, as by its `stop` file.

use kernel::prelude::*;

use crate::cached_dev::CachedDev;
use crate::format::io_errors::Noted;
use crate::format::units::DevDisplay;
use crate::set_io::SetIo;
use core::sync::atomic::Ordering;

impl SetIo {
    /// Counts a completed data IO to the cache device with result `r`; `what` names it in the
    /// log line of a failing set.
    pub(crate) fn count_io<T>(&self, r: &Result<T>, what: &str) {
        if let Noted::Limit(n) = self.io_errors.note(r.is_err()) {
            if self.gc.fail() {
                let dev = self.bdev.dev();
                pr_err!(
                    "cache device {}: {} IO errors, the last {}: the cache set fails\n",
                    DevDisplay(dev),
                    n,
                    what
                );
            }
        }
    }
}

impl CachedDev {
    /// Counts a completed IO to the backing device with result `r` (`readahead`: not
    /// counted), and gives `r` back.
    pub(crate) fn backing<T>(&self, r: Result<T>, readahead: bool) -> Result<T> {
        if r.is_err() && !readahead {
            if let Noted::Limit(n) = self.policy.errors.note_error() {
                self.fail(n);
            }
        }
        r
    }

    /// The device has had `n` IO errors, its limit: disables its IO and has it stopped.
    fn fail(&self, n: u32) {
        if self.policy.io_disable.swap(true, Ordering::AcqRel) {
            return;
        }
        let dev = self.dev();
        pr_err!(
            "backing device {}: {} IO errors: stopping it\n",
            DevDisplay(dev),
            n
        );
        if let Some(reg) = self.set_stopper(None) {
            if reg.queue_backing_stop(dev).is_err() {
                pr_err!(
                    "backing device {}: cannot queue its stop\n",
                    DevDisplay(dev)
                );
            }
        }
    }
}
