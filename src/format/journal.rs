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

/// Calls `f` with every valid journal entry in the bucket `data` and its packed keys.
pub(crate) fn scan_bucket<'a, F>(data: &'a [u8], block_bytes: usize, magic: u64, mut f: F)
where
    F: FnMut(&JsetHeader, &'a [u8]),
{
    if block_bytes == 0 {
        return;
    }
    let mut off = 0;
    while off < data.len() {
        match JsetHeader::read(&data[off..], magic) {
            Ok((h, keys)) => {
                f(&h, keys);
                off += h.bytes().div_ceil(block_bytes) * block_bytes;
            }
            Err(_) => off += block_bytes,
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
    /// Entries `from..=to` of the live range are missing.
    Missing {
        /// First missing seq.
        from: u64,
        /// Last missing seq.
        to: u64,
    },
}

/// Checks that every seq from `last_seq` to `newest` is among `seqs` (any order, duplicates
/// allowed; sorted in place). Returns the number of live entries.
pub(crate) fn check_live_range(
    seqs: &mut [u64],
    last_seq: u64,
    newest: u64,
) -> Result<u64, JournalError> {
    if seqs.is_empty() {
        return Err(JournalError::Empty);
    }
    if last_seq > newest {
        return Err(JournalError::BadLastSeq);
    }
    seqs.sort_unstable();
    let mut expect = last_seq;
    for &s in seqs.iter().filter(|&&s| s >= last_seq && s <= newest) {
        if s < expect {
            continue; // A duplicate.
        }
        if s > expect {
            return Err(JournalError::Missing {
                from: expect,
                to: s - 1,
            });
        }
        expect += 1;
    }
    if expect <= newest {
        return Err(JournalError::Missing {
            from: expect,
            to: newest,
        });
    }
    Ok(newest - last_seq + 1)
}
