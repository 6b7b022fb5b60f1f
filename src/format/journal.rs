// SPDX-License-Identifier: GPL-2.0

//! Finding the journal's live entries at registration.
//!
//! Every journal bucket is scanned block by block. A bad entry does not end the scan of its
//! bucket, as it does in 6.12: later valid entries are still found, so an entry lost in the
//! middle of the live range shows up as a gap and refuses registration instead of silently
//! truncating the journal. A torn last write (the usual result of a power cut) is the newest
//! entry and simply is not found, which is the same outcome as in 6.12.
//!
//! Pure code: no `kernel::` dependency, tested on the host.

use super::jset::JsetHeader;

/// Calls `f` with the byte offset, header and packed keys of every valid journal entry in the
/// bucket `data`.
pub(crate) fn scan_bucket<'a, F>(data: &'a [u8], block_bytes: usize, magic: u64, mut f: F)
where
    F: FnMut(usize, &JsetHeader, &'a [u8]),
{
    if block_bytes == 0 {
        return;
    }
    let mut off = 0;
    while off < data.len() {
        match JsetHeader::read(&data[off..], magic) {
            Ok((h, keys)) => {
                f(off, &h, keys);
                // The entry fits in `data` (`read` checked it), so this cannot overflow; if it
                // did, the scan would simply end.
                let step = h.bytes().div_ceil(block_bytes).checked_mul(block_bytes);
                match step.and_then(|step| off.checked_add(step)) {
                    Some(next) => off = next,
                    None => break,
                }
            }
            Err(_) => match off.checked_add(block_bytes) {
                Some(next) => off = next,
                None => break,
            },
        }
    }
}

/// Why the journal cannot be replayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JournalError {
    /// No entry at all on a cache marked synchronous.
    Empty,
    /// The newest entry's `last_seq` is after its own seq.
    BadLastSeq,
    /// The newest entry's seq is `u64::MAX`: no entry can follow it.
    SeqExhausted,
    /// Entries `from..=to` of the live range are missing.
    Missing {
        /// First missing seq.
        from: u64,
        /// Last missing seq.
        to: u64,
    },
}

/// The seq of the entry after `seq`, or `None` if `seq` is `u64::MAX`.
///
/// 6.12 increments the journal seq as a plain `u64` (`++j->seq`), which would wrap to 0 and
/// make the next registration take an older entry for the newest. No set can write 2^64
/// entries, so a seq with no successor is corruption: registration refuses it
/// ([`replay_order`]) and the writer fails the set rather than wrap.
pub(crate) fn next_seq(seq: u64) -> Option<u64> {
    seq.checked_add(1)
}

/// Where a journal entry was found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct EntryPos {
    /// Its sequence number.
    pub(crate) seq: u64,
    /// Its journal bucket (an index into the superblock's list).
    pub(crate) bucket: usize,
    /// Its byte offset in that bucket.
    pub(crate) offset: usize,
}

/// Puts the live entries among `entries` (every valid entry found, in any order) first, in
/// replay order: one per seq from `last_seq` to `newest`, and of an entry found twice the first
/// copy (lowest bucket, then offset), as 6.12 keeps the first it reads. Fails if a seq of that
/// range is missing. Returns the number of live entries.
///
/// Replay then reads the entries one at a time from their buckets, so memory grows with the
/// number of entries (24 bytes each), not with the keys they hold.
pub(crate) fn replay_order(
    entries: &mut [EntryPos],
    last_seq: u64,
    newest: u64,
) -> Result<usize, JournalError> {
    if entries.is_empty() {
        return Err(JournalError::Empty);
    }
    if last_seq > newest {
        return Err(JournalError::BadLastSeq);
    }
    // The entry after the newest must be possible: a set whose journal cannot advance is
    // refused here rather than wrapped by the writer.
    if next_seq(newest).is_none() {
        return Err(JournalError::SeqExhausted);
    }
    entries.sort_unstable_by_key(|e| (e.seq, e.bucket, e.offset));
    let mut expect = last_seq;
    let mut live = 0;
    for i in 0..entries.len() {
        let Some(&e) = entries.get(i) else {
            break;
        };
        if e.seq < expect || e.seq > newest {
            continue; // Older than the live range, or a duplicate.
        }
        if e.seq > expect {
            return Err(JournalError::Missing {
                from: expect,
                // `e.seq > expect >= 0`.
                to: e.seq - 1,
            });
        }
        if let Some(slot) = entries.get_mut(live) {
            *slot = e;
        }
        live += 1;
        if expect == newest {
            return Ok(live);
        }
        // `expect < newest < u64::MAX`.
        expect = next_seq(expect).ok_or(JournalError::SeqExhausted)?;
    }
    Err(JournalError::Missing {
        from: expect,
        to: newest,
    })
}
