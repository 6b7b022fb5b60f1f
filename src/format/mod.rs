// SPDX-License-Identifier: GPL-2.0

//! On-disk formats and pure algorithms.
//!
//! Nothing under this module uses the `kernel` crate: it is compiled into the module and, through
//! `tests/host`, tested on the host with `cargo test`.

pub(crate) mod crc64;
pub(crate) mod gc_stats;
pub(crate) mod superblock;
pub(crate) mod units;
