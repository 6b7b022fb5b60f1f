// SPDX-License-Identifier: GPL-2.0

//! Backing-device state in the superblock's flags word, as 6.12 keeps it: the cache mode in
//! bits 0..4 (`BDEV_CACHE_MODE`) and the attachment state in bits 61..63 (`BDEV_STATE`).
//!
//! Pure code: no `kernel::` dependency, tested on the host.

/// Bits of the cache mode.
const MODE_MASK: u64 = 0xf;
/// First bit of the state.
const STATE_SHIFT: u32 = 61;
/// Bits of the state (after shifting).
const STATE_MASK: u64 = 0x3;

/// `s` without leading and trailing ASCII whitespace (sysfs input ends in a newline).
pub(crate) fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    s.get(start..end).unwrap_or(&[])
}

/// How a cached device uses its cache (`cache_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CacheMode {
    /// Writes go to the backing device and into the cache.
    Writethrough = 0,
    /// Writes go to the cache only, and are written back later.
    Writeback = 1,
    /// Writes go to the backing device only.
    Writearound = 2,
    /// The cache is not used.
    None = 3,
}

impl CacheMode {
    /// Every mode, in on-disk order.
    pub(crate) const ALL: [CacheMode; 4] = [
        CacheMode::Writethrough,
        CacheMode::Writeback,
        CacheMode::Writearound,
        CacheMode::None,
    ];

    /// The mode in a backing superblock's `flags` (unknown values read as writethrough).
    pub(crate) fn from_flags(flags: u64) -> Self {
        Self::ALL
            .get((flags & MODE_MASK) as usize)
            .copied()
            .unwrap_or(CacheMode::Writethrough)
    }

    /// `flags` with this mode.
    pub(crate) fn in_flags(self, flags: u64) -> u64 {
        (flags & !MODE_MASK) | self as u64
    }

    /// The sysfs name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            CacheMode::Writethrough => "writethrough",
            CacheMode::Writeback => "writeback",
            CacheMode::Writearound => "writearound",
            CacheMode::None => "none",
        }
    }

    /// The mode named `s` (surrounding whitespace ignored), as `__sysfs_match_string` matches.
    pub(crate) fn from_name(s: &[u8]) -> Option<Self> {
        let s = trim(s);
        Self::ALL.into_iter().find(|m| m.name().as_bytes() == s)
    }
}

/// Where a backing device stands with its cache set (`BDEV_STATE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BdevState {
    /// Never attached, or cleanly detached.
    None = 0,
    /// Attached; the cache holds no dirty data.
    Clean = 1,
    /// Attached, with dirty data in the cache.
    Dirty = 2,
    /// Run without its cache while attached: the cached data is out of date.
    Stale = 3,
}

impl BdevState {
    /// The state in a backing superblock's `flags`.
    pub(crate) fn from_flags(flags: u64) -> Self {
        match (flags >> STATE_SHIFT) & STATE_MASK {
            0 => BdevState::None,
            1 => BdevState::Clean,
            2 => BdevState::Dirty,
            _ => BdevState::Stale,
        }
    }

    /// `flags` with this state.
    pub(crate) fn in_flags(self, flags: u64) -> u64 {
        (flags & !(STATE_MASK << STATE_SHIFT)) | ((self as u64) << STATE_SHIFT)
    }

    /// The name the `state` sysfs file shows.
    pub(crate) fn name(self) -> &'static str {
        match self {
            BdevState::None => "no cache",
            BdevState::Clean => "clean",
            BdevState::Dirty => "dirty",
            BdevState::Stale => "inconsistent",
        }
    }
}

/// Per-device detection of sequential IO, for `sequential_cutoff`: a small table of recent
/// streams, each the next sector expected and the bytes it has run so far (6.12 hashes 128
/// such entries; a few suffice for a handful of streams).
#[derive(Clone, Copy, Default)]
pub(crate) struct Stream {
    /// The sector the stream continues at.
    pub(crate) next: u64,
    /// Bytes in the stream so far.
    pub(crate) bytes: u64,
    /// When it was last extended (any monotonic clock; for replacement only).
    pub(crate) used: u64,
}

/// Entries in a [`SeqTracker`].
pub(crate) const STREAMS: usize = 16;

/// The recent streams of one device.
#[derive(Default)]
pub(crate) struct SeqTracker {
    streams: [Stream; STREAMS],
}

impl SeqTracker {
    /// What [`SeqTracker::record`] would return for the same IO, without recording it.
    pub(crate) fn peek(&self, sector: u64, bytes: u64) -> u64 {
        self.streams
            .iter()
            .find(|s| s.bytes > 0 && s.next == sector)
            .map_or(bytes, |s| s.bytes.saturating_add(bytes))
    }

    /// Records an IO of `bytes` at `sector` at time `now`; returns the bytes of the stream it
    /// belongs to, itself included.
    pub(crate) fn record(&mut self, sector: u64, bytes: u64, now: u64) -> u64 {
        let end = sector.saturating_add(bytes >> 9);
        if let Some(s) = self
            .streams
            .iter_mut()
            .find(|s| s.bytes > 0 && s.next == sector)
        {
            s.next = end;
            s.bytes = s.bytes.saturating_add(bytes);
            s.used = now;
            return s.bytes;
        }
        let oldest = self
            .streams
            .iter_mut()
            .min_by_key(|s| (s.bytes > 0, s.used));
        if let Some(s) = oldest {
            *s = Stream {
                next: end,
                bytes,
                used: now,
            };
        }
        bytes
    }
}
