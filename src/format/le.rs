// SPDX-License-Identifier: GPL-2.0

//! Little-endian field access for on-disk structures.
//!
//! Callers check lengths first; these index and so would panic on a short slice, which the
//! decoders never pass.

/// Reads a little-endian u16 at `off`.
pub(crate) fn get16(raw: &[u8], off: usize) -> u16 {
    let mut b = [0u8; 2];
    b.copy_from_slice(&raw[off..off + 2]);
    u16::from_le_bytes(b)
}

/// Reads a little-endian u32 at `off`.
pub(crate) fn get32(raw: &[u8], off: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&raw[off..off + 4]);
    u32::from_le_bytes(b)
}

/// Reads a little-endian u64 at `off`.
pub(crate) fn get64(raw: &[u8], off: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&raw[off..off + 8]);
    u64::from_le_bytes(b)
}

/// Writes a little-endian u16 at `off`.
pub(crate) fn put16(raw: &mut [u8], off: usize, v: u16) {
    raw[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

/// Writes a little-endian u32 at `off`.
pub(crate) fn put32(raw: &mut [u8], off: usize, v: u32) {
    raw[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// Writes a little-endian u64 at `off`.
pub(crate) fn put64(raw: &mut [u8], off: usize, v: u64) {
    raw[off..off + 8].copy_from_slice(&v.to_le_bytes());
}
