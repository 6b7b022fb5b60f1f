// SPDX-License-Identifier: GPL-2.0

//! rbcache's on-disk parsers under cargo-fuzz.
//!
//! `src/format` is compiled here unchanged, as in `tests/host`, and the harnesses are
//! `tests/host/src/fuzz_harness.rs`, which the host tests also use to replay the corpus on
//! stable Rust.

#[path = "../../../src/format/mod.rs"]
#[allow(dead_code)]
pub(crate) mod format;

#[path = "../../host/src/fuzz_harness.rs"]
pub mod harness;
