// SPDX-License-Identifier: GPL-2.0

//! Btree node contents: `struct bset`s and the walk of a node's log of bsets.
//!
//! A node on disk is a sequence of bsets, each starting on a block boundary: a 32-byte header
//! (csum, magic, seq, version, keys in u64s) followed by packed keys. All bsets of a node share
//! the first one's random seq. Version 1 checksums are `crc64_be` seeded with the node pointer
//! word (as stored in the parent), over bytes 8 to the end of the keys, inverted at the end;
//! version 0 uses the plain CRC-64/WE.
//!
//! Pure code: no `kernel::` dependency, tested on the host.

use super::bkey::Bkey;
use super::crc64::{bch_crc64, crc64_be};
use super::le::{get32, get64, put32, put64};

/// Bytes of the bset header.
pub(crate) const BSET_HEADER: usize = 32;
/// The bset version 6.12 writes (`BCACHE_BSET_CSUM`).
pub(crate) const BSET_VERSION: u32 = 1;

/// A decoded bset header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BsetHeader {
    /// Stored checksum.
    pub(crate) csum: u64,
    /// Must be the set's bset magic.
    pub(crate) magic: u64,
    /// The node's random sequence number.
    pub(crate) seq: u64,
    /// 0 (CRC-64/WE) or 1 (seeded checksum).
    pub(crate) version: u32,
    /// Payload length in u64 words.
    pub(crate) keys: u32,
}

impl BsetHeader {
    /// Decodes the header at the start of `raw`.
    pub(crate) fn decode(raw: &[u8]) -> Option<Self> {
        if raw.len() < BSET_HEADER {
            return None;
        }
        Some(BsetHeader {
            csum: get64(raw, 0),
            magic: get64(raw, 8),
            seq: get64(raw, 16),
            version: get32(raw, 24),
            keys: get32(raw, 28),
        })
    }

    /// Bytes from the header's start to the end of its keys (`usize::MAX` if that does not fit
    /// a `usize`, which no node holds).
    pub(crate) fn bytes(&self) -> usize {
        usize::try_from(self.keys)
            .ok()
            .and_then(|k| k.checked_mul(8))
            .and_then(|k| k.checked_add(BSET_HEADER))
            .unwrap_or(usize::MAX)
    }

    /// Blocks the bset occupies (`set_blocks`); `usize::MAX` for a zero `block_bytes`.
    pub(crate) fn blocks(&self, block_bytes: usize) -> usize {
        if block_bytes == 0 {
            return usize::MAX;
        }
        self.bytes().div_ceil(block_bytes)
    }
}

/// Computes the checksum of the bset at the start of `raw` for `version`, seeded for version 1
/// by `ptr0`, the node's first pointer word. `None` if `raw` is shorter than the bset.
pub(crate) fn checksum(raw: &[u8], version: u32, ptr0: u64) -> Option<u64> {
    let h = BsetHeader::decode(raw)?;
    let body = raw.get(8..h.bytes())?;
    Some(if version == 0 {
        bch_crc64(body)
    } else {
        !crc64_be(ptr0, body)
    })
}

/// Why a node failed to read (`bch_btree_node_read_done`'s reasons).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NodeError {
    /// The first bset has seq 0, or a bset runs past the node ("bad btree header").
    BadHeader,
    /// A bset version above 1.
    UnsupportedVersion,
    /// Wrong magic.
    BadMagic,
    /// Wrong checksum.
    BadChecksum,
    /// A bset after the first has no keys.
    EmptySet,
    /// A block after the last valid bset carries the node's seq.
    Corrupted,
    /// A key runs past the end of its bset.
    BadKey,
}

impl NodeError {
    /// The 6.12 kernel's wording.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::BadHeader => "bad btree header",
            Self::UnsupportedVersion => "unsupported bset version",
            Self::BadMagic => "bad magic",
            Self::BadChecksum => "bad checksum",
            Self::EmptySet => "empty set",
            Self::Corrupted => "corrupted btree",
            Self::BadKey => "bad key",
        }
    }
}

/// One valid bset found in a node.
pub(crate) struct NodeBset<'a> {
    /// Byte offset of the bset in the node.
    pub(crate) offset: usize,
    /// Its header.
    pub(crate) header: BsetHeader,
    /// Its packed keys.
    pub(crate) keys: &'a [u8],
}

/// Walks the bsets of the node image `node` as 6.12 reads them, calling `f` for each valid one,
/// and returns the number of blocks written.
///
/// `block_bytes` is the cache block size, `magic` the set's bset magic and `ptr0` the node's
/// first pointer word.
pub(crate) fn walk_node<'a, F>(
    node: &'a [u8],
    block_bytes: usize,
    magic: u64,
    ptr0: u64,
    mut f: F,
) -> Result<usize, NodeError>
where
    F: FnMut(NodeBset<'a>) -> Result<(), NodeError>,
{
    if block_bytes == 0 || node.len() < BSET_HEADER {
        return Err(NodeError::BadHeader);
    }
    let node_blocks = node.len() / block_bytes;
    let first = BsetHeader::decode(node).ok_or(NodeError::BadHeader)?;
    if first.seq == 0 {
        return Err(NodeError::BadHeader);
    }
    let mut written = 0;
    while written < node_blocks {
        let off = written * block_bytes;
        let Some(h) = BsetHeader::decode(&node[off..]) else {
            break;
        };
        if h.seq != first.seq {
            break;
        }
        if h.version > BSET_VERSION {
            return Err(NodeError::UnsupportedVersion);
        }
        // `keys` is read from disk: the end of the bset is computed without overflow.
        let Some(next) = written
            .checked_add(h.blocks(block_bytes))
            .filter(|&n| n <= node_blocks)
        else {
            return Err(NodeError::BadHeader);
        };
        if h.magic != magic {
            return Err(NodeError::BadMagic);
        }
        if checksum(&node[off..], h.version, ptr0) != Some(h.csum) {
            return Err(NodeError::BadChecksum);
        }
        if written != 0 && h.keys == 0 {
            return Err(NodeError::EmptySet);
        }
        f(NodeBset {
            offset: off,
            header: h,
            keys: &node[off + BSET_HEADER..off + h.bytes()],
        })?;
        written = next;
    }
    let mut off = written * block_bytes;
    while off + BSET_HEADER <= node.len() {
        if get64(node, off + 16) == first.seq {
            return Err(NodeError::Corrupted);
        }
        off += block_bytes;
    }
    Ok(written)
}

/// Iterates over the packed keys of a bset or journal entry.
pub(crate) struct Keys<'a> {
    raw: &'a [u8],
    pos: usize,
}

impl<'a> Keys<'a> {
    /// Iterates over the keys packed in `raw` (a whole number of u64 words).
    pub(crate) fn new(raw: &'a [u8]) -> Self {
        Keys { raw, pos: 0 }
    }
}

impl Iterator for Keys<'_> {
    type Item = Result<Bkey, NodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos + 16 > self.raw.len() {
            return None;
        }
        let high = get64(self.raw, self.pos);
        let mut words = [0u64; 2 + super::bkey::MAX_PTRS];
        let n = 2 + ((high >> 60) & 7) as usize;
        if self.pos + 8 * n > self.raw.len() {
            self.pos = self.raw.len();
            return Some(Err(NodeError::BadKey));
        }
        for (i, w) in words.iter_mut().enumerate().take(n) {
            *w = get64(self.raw, self.pos + 8 * i);
        }
        self.pos += 8 * n;
        Some(Bkey::decode(&words[..n]).ok_or(NodeError::BadKey))
    }
}

/// Writes a version-1 bset with `keys` at the start of `out` and returns its length in bytes,
/// or `None` if `out` is too small.
pub(crate) fn write_bset(
    out: &mut [u8],
    magic: u64,
    seq: u64,
    ptr0: u64,
    keys: &[Bkey],
) -> Option<usize> {
    let mut words = 0usize;
    for k in keys {
        let start = BSET_HEADER + 8 * words;
        let end = start + 8 * k.u64s();
        let dst = out.get_mut(start..end)?;
        let mut tmp = [0u64; 2 + super::bkey::MAX_PTRS];
        let n = k.encode(&mut tmp)?;
        for (i, w) in tmp[..n].iter().enumerate() {
            put64(dst, 8 * i, *w);
        }
        words += n;
    }
    let hdr = out.get_mut(..BSET_HEADER)?;
    put64(hdr, 8, magic);
    put64(hdr, 16, seq);
    put32(hdr, 24, BSET_VERSION);
    put32(hdr, 28, u32::try_from(words).ok()?);
    let csum = checksum(out, BSET_VERSION, ptr0)?;
    put64(out, 0, csum);
    Some(BSET_HEADER + 8 * words)
}
