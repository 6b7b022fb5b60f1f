// SPDX-License-Identifier: GPL-2.0

//! Journal entries (`struct jset`).
//!
//! A 240-byte header — csum, magic, seq, version, keys (u64s), last_seq, the uuid-bucket and
//! root keys (each padded to 8 words), the root's level, and one prio-bucket pointer per cache —
//! then the journaled leaf keys. The checksum is CRC-64/WE over bytes 8 to the end of the keys.
//!
//! Pure code: no `kernel::` dependency, tested on the host.

use super::bkey::Bkey;
use super::crc64::bch_crc64;
use super::le::{get16, get32, get64, put16, put32, put64};

/// Bytes of the jset header.
pub(crate) const JSET_HEADER: usize = 240;
/// The jset version 6.12 writes (`BCACHE_JSET_VERSION`).
pub(crate) const JSET_VERSION: u32 = 1;
/// Largest jset: `PAGE_SIZE << JSET_BITS`.
pub(crate) const JSET_MAX_BYTES: usize = 4096 << 3;
/// Pointer slots for prio buckets (one per cache of a set).
pub(crate) const PRIO_SLOTS: usize = 8;

const OFF_UUID_BUCKET: usize = 40;
const OFF_BTREE_ROOT: usize = 104;
const OFF_BTREE_LEVEL: usize = 168;
const OFF_PRIO_BUCKET: usize = 176;
const PADDED_KEY_WORDS: usize = 8;

/// Why a journal entry was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JsetError {
    /// Not a journal entry of this set.
    BadMagic,
    /// Its keys run past the data read, or past the 32 KiB limit.
    TooBig,
    /// Wrong checksum.
    BadChecksum,
    /// A padded key in the header is malformed.
    BadKey,
}

/// A decoded journal-entry header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct JsetHeader {
    /// Stored checksum.
    pub(crate) csum: u64,
    /// The set's jset magic.
    pub(crate) magic: u64,
    /// Sequence number.
    pub(crate) seq: u64,
    /// Format version (below 1: old 64-byte uuid entries).
    pub(crate) version: u32,
    /// Payload length in u64 words.
    pub(crate) keys: u32,
    /// Oldest entry still needed for replay.
    pub(crate) last_seq: u64,
    /// Key of the uuid bucket.
    pub(crate) uuid_bucket: Bkey,
    /// Key of the btree root.
    pub(crate) btree_root: Bkey,
    /// Level of the root (0: the root is a leaf).
    pub(crate) btree_level: u16,
    /// First prio bucket of each cache.
    pub(crate) prio_bucket: [u64; PRIO_SLOTS],
}

fn padded_key(raw: &[u8], off: usize) -> Option<Bkey> {
    let mut w = [0u64; PADDED_KEY_WORDS];
    for (i, x) in w.iter_mut().enumerate() {
        *x = get64(raw, off + 8 * i);
    }
    Bkey::decode(&w)
}

fn put_padded_key(raw: &mut [u8], off: usize, k: &Bkey) -> Option<()> {
    let mut w = [0u64; PADDED_KEY_WORDS];
    k.encode(&mut w)?;
    for (i, x) in w.iter().enumerate() {
        put64(raw, off + 8 * i, *x);
    }
    Some(())
}

/// Bytes of an entry with `keys` u64 words of keys, saturating (a saturated length is larger
/// than any buffer, so it is refused as too big).
fn jset_bytes(keys: u32) -> usize {
    usize::try_from(keys)
        .ok()
        .and_then(|k| k.checked_mul(8))
        .and_then(|k| k.checked_add(JSET_HEADER))
        .unwrap_or(usize::MAX)
}

impl JsetHeader {
    /// Bytes from the header's start to the end of its keys (`usize::MAX` if that does not fit
    /// a `usize`, which no buffer holds).
    pub(crate) fn bytes(&self) -> usize {
        jset_bytes(self.keys)
    }

    /// Decodes and checks the entry at the start of `raw` in the order the journal reader
    /// does: magic, size, checksum. Returns the header and its packed keys.
    pub(crate) fn read(raw: &[u8], magic: u64) -> Result<(Self, &[u8]), JsetError> {
        if raw.len() < JSET_HEADER {
            return Err(JsetError::TooBig);
        }
        if get64(raw, 8) != magic {
            return Err(JsetError::BadMagic);
        }
        let keys = get32(raw, 28);
        let end = jset_bytes(keys);
        if end > raw.len() || end > JSET_MAX_BYTES {
            return Err(JsetError::TooBig);
        }
        if get64(raw, 0) != bch_crc64(&raw[8..end]) {
            return Err(JsetError::BadChecksum);
        }
        let mut prio_bucket = [0u64; PRIO_SLOTS];
        for (i, p) in prio_bucket.iter_mut().enumerate() {
            *p = get64(raw, OFF_PRIO_BUCKET + 8 * i);
        }
        let h = JsetHeader {
            csum: get64(raw, 0),
            magic,
            seq: get64(raw, 16),
            version: get32(raw, 24),
            keys,
            last_seq: get64(raw, 32),
            uuid_bucket: padded_key(raw, OFF_UUID_BUCKET).ok_or(JsetError::BadKey)?,
            btree_root: padded_key(raw, OFF_BTREE_ROOT).ok_or(JsetError::BadKey)?,
            btree_level: get16(raw, OFF_BTREE_LEVEL),
            prio_bucket,
        };
        Ok((h, &raw[JSET_HEADER..end]))
    }

    /// Writes the header and the packed `keys` (`keys.len()` a multiple of 8) into `out`,
    /// setting `self.keys` and the checksum; returns the entry's length in bytes.
    pub(crate) fn write(&mut self, out: &mut [u8], keys: &[u8]) -> Option<usize> {
        if keys.len() % 8 != 0 {
            return None;
        }
        let end = JSET_HEADER + keys.len();
        if end > JSET_MAX_BYTES || end > out.len() {
            return None;
        }
        self.keys = u32::try_from(keys.len() / 8).ok()?;
        out[..JSET_HEADER].fill(0);
        put64(out, 8, self.magic);
        put64(out, 16, self.seq);
        put32(out, 24, self.version);
        put32(out, 28, self.keys);
        put64(out, 32, self.last_seq);
        put_padded_key(out, OFF_UUID_BUCKET, &self.uuid_bucket)?;
        put_padded_key(out, OFF_BTREE_ROOT, &self.btree_root)?;
        put16(out, OFF_BTREE_LEVEL, self.btree_level);
        for (i, p) in self.prio_bucket.iter().enumerate() {
            put64(out, OFF_PRIO_BUCKET + 8 * i, *p);
        }
        out[JSET_HEADER..end].copy_from_slice(keys);
        self.csum = bch_crc64(&out[8..end]);
        put64(out, 0, self.csum);
        Some(end)
    }
}
