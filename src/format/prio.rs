// SPDX-License-Identifier: GPL-2.0

//! Bucket priorities and generations on disk (`struct prio_set`).
//!
//! Each prio bucket holds a 40-byte header — csum, magic, seq, version, pad, next_bucket — then
//! packed 3-byte `{le16 prio, u8 gen}` entries for consecutive buckets, starting at bucket 0.
//! The checksum covers bytes 8 to the end of the whole metadata-bucket buffer. Buckets chain
//! through `next_bucket`; the journal records the first.
//!
//! Pure code: no `kernel::` dependency, tested on the host.

use super::crc64::bch_crc64;
use super::le::{get16, get32, get64, put16, put32, put64};

/// Bytes of the prio_set header.
pub(crate) const PRIO_HEADER: usize = 40;

/// Why a prio bucket was rejected (the reader checks the checksum first, then the magic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PrioError {
    /// Shorter than a header.
    Short,
    /// Wrong checksum.
    BadChecksum,
    /// Wrong magic.
    BadMagic,
}

/// A decoded prio_set header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PrioHeader {
    /// Sequence number of the prio write.
    pub(crate) seq: u64,
    /// Format version (0).
    pub(crate) version: u32,
    /// Next prio bucket of the chain (garbage in the last one).
    pub(crate) next_bucket: u64,
}

/// Checks the prio bucket buffer `raw` and decodes its header.
pub(crate) fn read_header(raw: &[u8], magic: u64) -> Result<PrioHeader, PrioError> {
    if raw.len() < PRIO_HEADER {
        return Err(PrioError::Short);
    }
    if get64(raw, 0) != bch_crc64(&raw[8..]) {
        return Err(PrioError::BadChecksum);
    }
    if get64(raw, 8) != magic {
        return Err(PrioError::BadMagic);
    }
    Ok(PrioHeader {
        seq: get64(raw, 16),
        version: get32(raw, 24),
        next_bucket: get64(raw, 32),
    })
}

/// Number of entries a prio buffer of `len` bytes holds.
pub(crate) fn entries_per_bucket(len: usize) -> usize {
    len.saturating_sub(PRIO_HEADER) / 3
}

/// Byte offset of entry `i`, if the entry lies inside a buffer of `len` bytes.
fn entry_offset(len: usize, i: usize) -> Option<usize> {
    let off = i.checked_mul(3)?.checked_add(PRIO_HEADER)?;
    (off.checked_add(3)? <= len).then_some(off)
}

/// Entry `i` of the buffer: `(prio, gen)`.
pub(crate) fn entry(raw: &[u8], i: usize) -> Option<(u16, u8)> {
    let off = entry_offset(raw.len(), i)?;
    Some((get16(raw, off), *raw.get(off + 2)?))
}

/// Sets entry `i` of the buffer.
pub(crate) fn set_entry(raw: &mut [u8], i: usize, prio: u16, gen: u8) -> Option<()> {
    let off = entry_offset(raw.len(), i)?;
    put16(raw, off, prio);
    *raw.get_mut(off + 2)? = gen;
    Some(())
}

/// The seq of the prio write after one of seq `seq`, or `None` if `seq` is `u64::MAX`.
///
/// 6.12 bumps the seq as a plain `u64` (`ca->disk_buckets->seq++`, starting from the zeroed
/// buffer or the last prio bucket read) and never checks it when reading. No set can make 2^64
/// prio writes, so a seq with no successor is corruption: registration refuses it, and a prio
/// write that would need it fails the set rather than wrap.
pub(crate) fn next_seq(seq: u64) -> Option<u64> {
    seq.checked_add(1)
}

/// Writes the header of the prio buffer `raw` (entries already set) and its checksum.
pub(crate) fn write_header(raw: &mut [u8], magic: u64, h: &PrioHeader) -> Option<()> {
    if raw.len() < PRIO_HEADER {
        return None;
    }
    put64(raw, 8, magic);
    put64(raw, 16, h.seq);
    put32(raw, 24, h.version);
    put32(raw, 28, 0);
    put64(raw, 32, h.next_bucket);
    let csum = bch_crc64(&raw[8..]);
    put64(raw, 0, csum);
    Some(())
}
