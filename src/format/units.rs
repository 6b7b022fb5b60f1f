// SPDX-License-Identifier: GPL-2.0

//! sysfs number formatting and parsing with bcache's conventions.
//!
//! Pure code: no `kernel::` dependency, tested on the host.

use core::fmt;

/// Formats a value the way bcache's `bch_hprint()` does: `<int>.<digit><unit>`, dividing by 1024
/// at least once and while more than three digits remain (512 is `0.5k`, 4 MiB is `4.0M`).
pub(crate) struct Hprint(pub(crate) i64);

impl fmt::Display for Hprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: &[u8] = b"?kMGTPEZY";
        let mut q = self.0.unsigned_abs();
        let mut u = 0;
        let mut t;
        loop {
            u += 1;
            t = q & 1023;
            q >>= 10;
            if q < 1000 {
                break;
            }
        }
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{}{}.{}{}", sign, q, t * 10 / 1024, UNITS[u] as char)
    }
}

/// Parses an unsigned decimal number as the kernel's `kstrtoul(buf, 10, ..)` does for sysfs:
/// digits with an optional leading `+` and one optional trailing newline.
pub(crate) fn parse_u64(input: &[u8]) -> Option<u64> {
    let s = input.strip_suffix(b"\n").unwrap_or(input);
    let s = s.strip_prefix(b"+").unwrap_or(s);
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

/// Trims ASCII whitespace (including the newline `echo` adds) from both ends.
pub(crate) fn trim(input: &[u8]) -> &[u8] {
    let start = input
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(input.len());
    let end = input
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &input[start..end]
}
