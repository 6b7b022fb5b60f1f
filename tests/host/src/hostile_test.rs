// SPDX-License-Identifier: GPL-2.0

//! Numbers read from disk at their extremes, with valid checksums: every parser and every
//! pure step that registration runs on them must refuse them with a reason, never overflow.
//! (The host build checks overflow, as the kernel's `CONFIG_RUST_OVERFLOW_CHECKS` does: an
//! overflow here is a panic, which in the kernel is an oops.)

use crate::format::bkey::{Bkey, MAX_INODE, PTR_OFFSET_MAX};
use crate::format::extents::{self, INODE_SHIFT};

#[test]
fn bkey_with_size_past_its_offset_has_no_start() {
    let k = Bkey::new(1, 5, 10);
    assert_eq!(k.start(), None);
    assert_eq!(k.start_pos(), None);
    let mut c = k;
    assert_eq!(c.cut_front(&Bkey::new(1, 3, 0)), None);
    assert_eq!(c.cut_back(&Bkey::new(1, 3, 0)), None);
    assert_eq!(c, k);
    assert_eq!(Bkey::new(1, 10, 10).start(), Some(0));
}

#[test]
fn bkey_cut_front_refuses_a_pointer_past_43_bits() {
    // Valid shape, but its pointer runs past the largest cache sector a pointer holds: the
    // trimmed pointer must not wrap to a low sector (which would read some other data).
    let mut k = Bkey::new(1, 100, 50);
    k.set_ptrs(1);
    k.ptr[0] = Bkey::make_ptr(3, PTR_OFFSET_MAX - 10, 0);
    let before = k;
    assert_eq!(k.cut_front(&Bkey::new(1, 80, 0)), None);
    assert_eq!(k, before);
    // In range, it moves as before.
    k.ptr[0] = Bkey::make_ptr(3, 1000, 0);
    assert_eq!(k.cut_front(&Bkey::new(1, 80, 0)), Some(true));
    assert_eq!((k.start(), k.ptr_offset(0)), (Some(80), 1030));
}

#[test]
fn extent_positions_never_alias_another_inode() {
    // The end of the last inode's last sector, and an inode past 20 bits, do not fit.
    assert_eq!(extents::key(MAX_INODE, 1 << INODE_SHIFT), None);
    assert_eq!(extents::key(1 << (64 - INODE_SHIFT), 0), None);
    assert_eq!(extents::key(u64::MAX, 0), None);
    assert_eq!(
        extents::key(MAX_INODE, (1 << INODE_SHIFT) - 1),
        Some(u64::MAX)
    );
    assert_eq!(extents::key(2, 1 << INODE_SHIFT), Some(3 << INODE_SHIFT));
}
