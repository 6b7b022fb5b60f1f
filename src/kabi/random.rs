// SPDX-License-Identifier: GPL-2.0

//! Kernel randomness and wall-clock time.
//!
//! C headers: [`include/linux/random.h`](srctree/include/linux/random.h),
//! [`include/linux/timekeeping.h`](srctree/include/linux/timekeeping.h)

use kernel::bindings;

/// A random 64-bit number (`get_random_u64`).
pub(crate) fn random_u64() -> u64 {
    // SAFETY: `get_random_u64` has no preconditions.
    unsafe { bindings::get_random_u64() }
}

/// Seconds since the epoch (`ktime_get_real_seconds`), truncated as bcache stores them.
pub(crate) fn real_seconds() -> u32 {
    // SAFETY: `ktime_get_real_seconds` has no preconditions.
    unsafe { bindings::ktime_get_real_seconds() as u32 }
}
