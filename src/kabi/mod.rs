// SPDX-License-Identifier: GPL-2.0

//! Local abstractions over the C APIs that the 6.12 `kernel` crate lacks.
//!
//! Every `unsafe` block of rbcache lives under this module, each with a `// SAFETY:` comment;
//! the cache logic above it is safe Rust. Each file wraps one C facility:
//!
//! - [`kthread`]: kernel threads stopped with `kthread_stop`;
//! - [`sysfs`]: kobject directories whose attribute files dispatch into Rust;
//! - [`bdev`]: block devices opened by path, exclusively;
//! - [`bio`]: synchronous metadata reads and writes;
//! - [`disk`]: bio-based gendisks (`/dev/bcacheN`) and the bios they receive;
//! - [`ida`]: the numbers of `/dev/bcacheN`;
//! - [`noio`]: scopes whose allocations avoid IO, the locks `submit_bio` takes (held only
//!   inside one), and lockdep's view of `submit_bio` as reachable from reclaim;
//! - [`workqueue`]: a module-owned workqueue;
//! - [`random`]: random numbers and wall-clock seconds;
//! - [`shrinker`]: callbacks through which reclaim asks for memory back;
//! - [`wait`]: uninterruptible waits for conditions that change in any context.
//!
//! The C side of the layer is `src/helpers.c` (static inlines, macros and attribute tables only),
//! declared to Rust in [`ffi`].

pub(crate) mod bdev;
pub(crate) mod bio;
pub(crate) mod disk;
pub(crate) mod ffi;
pub(crate) mod ida;
pub(crate) mod kthread;
pub(crate) mod noio;
pub(crate) mod random;
pub(crate) mod shrinker;
pub(crate) mod sysfs;
pub(crate) mod wait;
pub(crate) mod workqueue;
