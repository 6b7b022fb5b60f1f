// SPDX-License-Identifier: GPL-2.0

//! How a cache set, or a backing device, fails on IO errors.
//!
//! **A cache set** (6.12's `bch_count_io_errors()` and `bch_cache_set_error()`).
//! Data IO to the cache device is counted as it completes, in process context: the slow
//! paths' synchronous reads and writes, fast writes from their work item, writeback's and
//! moving GC's reads and writes. (A fast-path read hit that fails is read again the slow way,
//! and counted there.) Btree node and superblock writes are counted too, as 6.12 counts
//! them. Once the decaying error count ([`crate::format::io_errors`]) reaches
//! `io_error_limit`, the set fails. A failed journal, prio or uuid-table write fails it at
//! once (6.12's `cache_set_err_on()` in their completions), and so does a journaled key that
//! cannot reach the index, or a sequence number that cannot advance. A failed set
//! ([`SetIo::fail`]) logs one line naming the cache device and why, disables its IO, writes
//! no more metadata, and its GC thread has it unregistered: its clean backing devices detach,
//! those with dirty data (or `stop_when_cache_set_failed` `always`) stop, and its flash
//! volumes go.
//!
//! **A backing device** (6.12's `bch_count_backing_io_errors()` and `bch_cached_dev_error()`).
//! Its IO is counted likewise (foreground reads, writes, flushes and discards, and writeback's
//! writes; failed readahead is not counted). At `io_error_limit` errors (64) its `io_disable`
//! is set, so every bio fails, and it is stopped, as by its `stop` file.

use core::fmt;
use kernel::prelude::*;

use crate::cached_dev::CachedDev;
use crate::format::io_errors::Noted;
use crate::format::units::DevDisplay;
use crate::set_io::SetIo;
use core::sync::atomic::Ordering;

/// Metadata a cache set writes, for what a failed write does ([`SetIo::meta_io`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Meta {
    /// A journal entry: a failed write fails the set (6.12: "journal io error").
    Journal,
    /// A prio bucket: fails the set ("accessing priorities").
    Prio,
    /// The uuid table: fails the set ("accessing uuids").
    Uuids,
    /// A btree node: counts toward `io_error_limit` ("writing btree").
    Node,
    /// The cache's superblock: counts toward `io_error_limit` ("writing superblock").
    Superblock,
}

impl SetIo {
    /// Counts a completed IO to the cache device with result `r`; `what` names it in the
    /// log line of a failing set.
    pub(crate) fn count_io<T>(&self, r: &Result<T>, what: &str) {
        if let Noted::Limit(n) = self.io_errors.note(r.is_err()) {
            self.fail(format_args!("{} IO errors, the last {}", n, what));
        }
    }

    /// The set fails (6.12's `bch_cache_set_error()`): its IO is disabled, it writes no more
    /// metadata, and its GC thread has it unregistered. The first call logs one line naming
    /// the cache device and `why`; later ones do nothing.
    pub(crate) fn fail(&self, why: fmt::Arguments<'_>) {
        if self.gc.fail() {
            pr_err!(
                "cache device {}: {}: the cache set fails\n",
                DevDisplay(self.bdev.dev()),
                why
            );
        }
    }

    /// Writes metadata `what` with `write`, and handles its failure as 6.12 does: a journal,
    /// prio or uuid-table write fails the set, a node or superblock write is counted. A
    /// failed set writes nothing (`EIO`), as 6.12 fails its bios under
    /// `CACHE_SET_IO_DISABLE`; an allocation failure (`ENOMEM`) is not the device's.
    pub(crate) fn meta_io(&self, what: Meta, write: impl FnOnce() -> Result) -> Result {
        if self.gc.failed() {
            return Err(EIO);
        }
        let r = write();
        if r == Err(ENOMEM) {
            return r;
        }
        match (what, &r) {
            (Meta::Node, _) => self.count_io(&r, "writing a btree node"),
            (Meta::Superblock, _) => self.count_io(&r, "writing the superblock"),
            (_, Err(e)) => {
                let name = match what {
                    Meta::Journal => "journal",
                    Meta::Prio => "prio",
                    _ => "uuid table",
                };
                self.fail(format_args!("{} write failed ({})", name, e.to_errno()));
            }
            (_, Ok(())) => {}
        }
        r
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
