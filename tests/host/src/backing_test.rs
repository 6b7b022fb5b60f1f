// SPDX-License-Identifier: GPL-2.0

//! Backing-superblock flags (cache mode, state) and sequential-stream detection.

use crate::format::backing::{BdevState, CacheMode, SeqTracker};

/// Bit positions as 6.12's `BITMASK(CACHE_MODE, ..., 0, 4)` and `BITMASK(BDEV_STATE, ..., 61, 2)`.
#[test]
fn mode_and_state_bits() {
    assert_eq!(CacheMode::Writeback.in_flags(0), 1);
    assert_eq!(CacheMode::None.in_flags(0xf0), 0xf3);
    assert_eq!(CacheMode::from_flags(2), CacheMode::Writearound);
    assert_eq!(BdevState::Dirty.in_flags(0), 2 << 61);
    assert_eq!(BdevState::Clean.in_flags(u64::MAX), !(2u64 << 61));
    assert_eq!(BdevState::from_flags(3 << 61 | 1), BdevState::Stale);
    for m in CacheMode::ALL {
        for st in [
            BdevState::None,
            BdevState::Clean,
            BdevState::Dirty,
            BdevState::Stale,
        ] {
            let f = st.in_flags(m.in_flags(0x1234_0000));
            assert_eq!(
                (CacheMode::from_flags(f), BdevState::from_flags(f)),
                (m, st)
            );
            assert_eq!(f & 0x1234_0000, 0x1234_0000, "other bits kept");
        }
        assert_eq!(CacheMode::from_name(m.name().as_bytes()), Some(m));
    }
    assert_eq!(
        CacheMode::from_name(b"writeback\n"),
        Some(CacheMode::Writeback)
    );
    assert_eq!(CacheMode::from_name(b"write"), None);
    assert_eq!(CacheMode::from_name(b""), None);
}

#[test]
fn sequential_streams() {
    let mut t = SeqTracker::default();
    assert_eq!(t.record(0, 4096, 1), 4096);
    assert_eq!(t.record(8, 4096, 2), 8192);
    // An unrelated IO starts its own stream; the first continues.
    assert_eq!(t.record(1000, 4096, 3), 4096);
    assert_eq!(t.record(16, 1 << 20, 4), 8192 + (1 << 20));
    // Many interleaved random IOs evict old streams but never count as sequential.
    for i in 0..100u64 {
        assert_eq!(t.record(100_000 + i * 64, 4096, 10 + i), 4096);
    }
}

#[test]
fn sequential_peek_matches_record() {
    // Streams that continue, restart and interleave: peek always predicts record, and
    // changes nothing.
    let mut t = SeqTracker::default();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = [0u64; 5];
    for now in 0..2000u64 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let s = (seed % 5) as usize;
        if seed % 11 == 0 {
            next[s] = (seed >> 20) % 1_000_000;
        }
        let bytes = 512 * (1 + (seed >> 40) % 64);
        let p = t.peek(next[s], bytes);
        assert_eq!(t.peek(next[s], bytes), p);
        assert_eq!(t.record(next[s], bytes, now), p);
        next[s] += bytes >> 9;
    }
}
