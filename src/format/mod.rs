// SPDX-License-Identifier: GPL-2.0

//! On-disk formats and pure algorithms.
//!
//! Nothing under this module uses the `kernel` crate: it is compiled into the module and, through
//! `tests/host`, tested on the host with `cargo test`.

// Some helpers are only used by the host tests.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod alloc;
pub(crate) mod backing;
pub(crate) mod congestion;
pub(crate) mod crc64;
pub(crate) mod gc_policy;
pub(crate) mod gc_stats;
pub(crate) mod io_errors;
mod le;
pub(crate) mod stats;
pub(crate) mod superblock;
pub(crate) mod units;
pub(crate) mod writeback;

// The cache-set formats below are complete and host-tested, including against an image written
// by the C module; the kernel side starts using them with the cache-set core.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod bkey;
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod bset;
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod chunked;
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod extents;
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod geometry;
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod init;
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod journal;
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod jset;
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod prio;
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod uuid;
