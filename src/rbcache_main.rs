// SPDX-License-Identifier: GPL-2.0

//! rbcache: bcache's SSD block cache, in Rust, on-disk compatible with bcache in Linux 6.12.
//!
//! See `Documentation/architecture.md` for the design, object lifetimes, threads and lock order.

mod allocator;
mod backing;
mod btree;
mod cache_set;
mod cached_dev;
mod congested;
mod dirty;
mod driver;
mod failure;
mod flash;
mod format;
mod gc;
mod gc_work;
mod handoff;
mod helper_thread;
mod index;
mod journal;
mod kabi;
mod metadata;
mod node_cache;
mod register;
mod registry;
mod request;
mod set_io;
mod stats;
mod uuids;
mod waker;
mod writeback;

use driver::RbCache;
use kernel::prelude::*;

module! {
    type: RbCache,
    name: "rbcache",
    author: "rbcache developers",
    description: "bcache-compatible SSD block cache in Rust",
    license: "GPL",
}
