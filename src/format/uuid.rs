// SPDX-License-Identifier: GPL-2.0

//! The uuid table (`struct uuid_entry`): one 128-byte slot per backing device or flash volume.
//!
//! A slot's index is the inode of all its btree keys. An all-zero UUID marks an empty slot; a
//! detached device's slot gets [`INVALID_UUID`]. The uuid bucket has no checksum.
//!
//! Pure code: no `kernel::` dependency, tested on the host.

use super::le::{get32, get64, put32, put64};

/// Bytes of a slot.
pub(crate) const UUID_ENTRY_BYTES: usize = 128;
/// Bytes of an old (jset version 0) slot.
pub(crate) const UUID_ENTRY_V0_BYTES: usize = 64;
/// Flag: the slot is a flash-only volume.
pub(crate) const UUID_FLASH_ONLY: u32 = 1;
/// The UUID of an invalidated slot.
pub(crate) const INVALID_UUID: [u8; 16] = [
    0xa0, 0x3e, 0xf8, 0xed, 0x3e, 0xe1, 0xb8, 0x78, 0xc8, 0x50, 0xfc, 0x5e, 0xcb, 0x16, 0xcd, 0x99,
];

/// The largest flash volume, in sectors: one whose size in bytes fits a block device's `loff_t`
/// (`i64`). 6.12's `bcache_device_init()` refuses an empty volume, and one of more than
/// `INT_MAX` stripes of 2^31 sectors; a block device of more than `i64::MAX` bytes would have a
/// negative size, so rbcache refuses those too.
pub(crate) const VOLUME_SECTORS_MAX: u64 = (i64::MAX as u64) >> 9;

/// Whether a flash volume of `sectors` sectors can be started: not empty, and at most
/// [`VOLUME_SECTORS_MAX`].
pub(crate) fn volume_sectors_ok(sectors: u64) -> bool {
    (1..=VOLUME_SECTORS_MAX).contains(&sectors)
}

/// A decoded uuid slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct UuidEntry {
    /// Device UUID; zero for an empty slot.
    pub(crate) uuid: [u8; 16],
    /// Label, NUL padded.
    pub(crate) label: [u8; 32],
    /// First registration time (seconds).
    pub(crate) first_reg: u32,
    /// Last registration time (seconds).
    pub(crate) last_reg: u32,
    /// When the slot was invalidated (seconds), 0 if not.
    pub(crate) invalidated: u32,
    /// Flags ([`UUID_FLASH_ONLY`]).
    pub(crate) flags: u32,
    /// Size of a flash volume in sectors.
    pub(crate) sectors: u64,
}

/// Converts a pre-version-1 uuid table (64-byte entries) in place to the version-1 layout, as
/// 6.12's `uuid_read()` does: the first `buf.len() / 128` entries keep their uuid, label and
/// times, with no flags and no size. Works from the last entry down, since each entry moves
/// up.
pub(crate) fn convert_v0(buf: &mut [u8]) {
    let n = buf.len() / UUID_ENTRY_BYTES;
    for i in (0..n).rev() {
        let Some(e) = buf
            .get(i * UUID_ENTRY_V0_BYTES..(i + 1) * UUID_ENTRY_V0_BYTES)
            .and_then(UuidEntry::decode)
        else {
            continue;
        };
        if let Some(dst) = buf.get_mut(i * UUID_ENTRY_BYTES..) {
            let _ = e.encode(dst);
        }
    }
}

impl UuidEntry {
    /// Decodes slot `raw` (at least 64 bytes; the v0 layout is the first 60 bytes of v1, with
    /// no size).
    pub(crate) fn decode(raw: &[u8]) -> Option<Self> {
        if raw.len() < UUID_ENTRY_V0_BYTES {
            return None;
        }
        let mut e = UuidEntry::default();
        e.uuid.copy_from_slice(&raw[0..16]);
        e.label.copy_from_slice(&raw[16..48]);
        e.first_reg = get32(raw, 48);
        e.last_reg = get32(raw, 52);
        e.invalidated = get32(raw, 56);
        if raw.len() >= UUID_ENTRY_BYTES {
            e.flags = get32(raw, 60);
            e.sectors = get64(raw, 64);
        }
        Some(e)
    }

    /// Encodes the slot into `raw` (at least 128 bytes), zeroing the padding.
    pub(crate) fn encode(&self, raw: &mut [u8]) -> Option<()> {
        let raw = raw.get_mut(..UUID_ENTRY_BYTES)?;
        raw.fill(0);
        raw[0..16].copy_from_slice(&self.uuid);
        raw[16..48].copy_from_slice(&self.label);
        put32(raw, 48, self.first_reg);
        put32(raw, 52, self.last_reg);
        put32(raw, 56, self.invalidated);
        put32(raw, 60, self.flags);
        put64(raw, 64, self.sectors);
        Some(())
    }

    /// Whether the slot is unused.
    pub(crate) fn is_empty(&self) -> bool {
        self.uuid == [0; 16]
    }

    /// Whether the slot was invalidated.
    pub(crate) fn is_invalid(&self) -> bool {
        self.uuid == INVALID_UUID
    }

    /// Whether the slot is a flash-only volume.
    pub(crate) fn is_flash_only(&self) -> bool {
        self.flags & UUID_FLASH_ONLY != 0
    }
}
