// SPDX-License-Identifier: GPL-2.0

//! The cache set's side of congestion bypass ([`crate::format::congestion`]): the latency of
//! every data IO to the cache device is noted as it completes (from the fast paths' completions
//! and around the slow paths' synchronous IO), and the request paths ask for the cutoff once
//! per bio.

use crate::kabi::random::random_u64;
use crate::set_io::SetIo;

/// The clock congestion runs on: the monotonic clock in units of 1024 ns, as 6.12's
/// `local_clock_us()`.
pub(crate) fn now_us() -> u64 {
    crate::gc::now_ns() >> 10
}

impl SetIo {
    /// The congestion cutoff in sectors for a bio submitted now (`congested`): 0 when the
    /// cache is not congested, else a bio whose stream has reached it bypasses the cache.
    pub(crate) fn congested(&self) -> u32 {
        if !self.congestion.enabled() {
            return 0;
        }
        // The low half of a random word: its bits soften the cutoff.
        self.congestion.cutoff(now_us(), || random_u64() as u32)
    }

    /// Notes a data IO to the cache device that started at `start` ([`now_us`]) and has
    /// completed. Lock-free: callable from a bio's completion.
    pub(crate) fn io_latency(&self, write: bool, start: u64) {
        if self.congestion.enabled() {
            self.congestion.note(write, start, now_us());
        }
    }

    /// Runs `f`, a synchronous data IO to the cache device, and notes its latency.
    pub(crate) fn timed<R>(&self, write: bool, f: impl FnOnce() -> R) -> R {
        let start = now_us();
        let r = f();
        self.io_latency(write, start);
        r
    }
}
