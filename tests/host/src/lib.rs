// SPDX-License-Identifier: GPL-2.0

//! Host-side tests of rbcache's pure modules.
//!
//! The files under `src/format/` are compiled here unchanged, exactly as the kernel module
//! compiles them, and tested with `cargo test`.

#[path = "../../../src/format/mod.rs"]
#[allow(dead_code)]
pub(crate) mod format;

#[cfg(test)]
mod alloc_test;
#[cfg(test)]
mod backing_test;
#[cfg(test)]
mod bigset_fixture_test;
#[cfg(test)]
mod c_fixture_test;
#[cfg(test)]
mod chunked_test;
#[cfg(test)]
mod congestion_test;
#[cfg(test)]
mod crc64_test;
#[cfg(test)]
mod extents_test;
#[cfg(test)]
mod formats_test;
#[cfg(test)]
mod fuzz_harness;
#[cfg(test)]
mod fuzz_replay_test;
#[cfg(test)]
mod fuzz_seeds;
#[cfg(test)]
mod gc_policy_test;
#[cfg(test)]
mod gc_stats_test;
#[cfg(test)]
mod hostile_images_test;
#[cfg(test)]
mod hostile_test;
#[cfg(test)]
mod init_test;
#[cfg(test)]
mod io_errors_test;
#[cfg(test)]
mod rng;
#[cfg(test)]
mod stats_test;
#[cfg(test)]
mod superblock_test;
#[cfg(test)]
mod units_test;
#[cfg(test)]
mod writeback_test;
