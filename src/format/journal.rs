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
/// ([`check_live_range`]) and the writer fails the set rather than wrap.
pub(crate) fn next_seq(seq: u64) -> Option<u64> {
    seq.checked_add(1)
}

/// Checks that every seq from `last_seq` to `newest` is among `seqs` (any order, duplicates
/// allowed; sorted in place), and that an entry can follow `newest`. Returns the number of live
/// entries.
///
/// Every seq comes from disk: nothing here can overflow, whatever the values.
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
    if next_seq(newest).is_none() {
        return Err(JournalError::SeqExhausted);
    }
    seqs.sort_unstable();
    // The next seq the live range needs; `newest + 1` (which exists, see above) once all are
    // found.
    let mut expect = last_seq;
    for &s in seqs.iter().filter(|&&s| s >= last_seq && s <= newest) {
        if s < expect {
            continue; // A duplicate.
        }
        if s > expect {
            return Err(JournalError::Missing {
                from: expect,
                // `s > expect >= 0`.
                to: s - 1,
            });
        }
        // `s <= newest < u64::MAX`.
        expect = next_seq(s).ok_or(JournalError::SeqExhausted)?;
    }
    if expect <= newest {
        return Err(JournalError::Missing {
            from: expect,
            to: newest,
        });
    }
    // Every seq of the range was found, so it holds at most `seqs.len()` entries.
    (newest - last_seq)
        .checked_add(1)
        .ok_or(JournalError::SeqExhausted)
}
