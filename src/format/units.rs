// SPDX-License-Identifier: GPL-2.0

//! sysfs number formatting and parsing with bcache's conventions.
//!
//! Pure code: no `kernel::` dependency, tested on the host.

use core::fmt;

/// Displays a kernel device number (`dev_t`) as `major:minor`, the form of `/sys/block/*/dev`
/// and of `%d:%d` in the kernel's own messages (`MAJOR()` is the top 12 bits, `MINOR()` the
/// low 20).
#[derive(Clone, Copy)]
pub(crate) struct DevDisplay(pub(crate) u32);

impl fmt::Display for DevDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0 >> 20, self.0 & 0xfffff)
    }
}

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

/// Parses as [`parse_u64`] and clamps the value to `u32`, as 6.12's `sysfs_strtoul_clamp` does
/// for attributes such as `congested_read_threshold_us`.
pub(crate) fn parse_u32_clamped(input: &[u8]) -> Option<u32> {
    parse_u64(input).map(|v| u32::try_from(v).unwrap_or(u32::MAX))
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

/// Parses a size with an optional binary unit, as bcache's `bch_strtoull_h()` does for
/// `flash_vol_create`: decimal digits, then optionally one of `k m g t p e z y` (any case, powers
/// of 1024; `z` and `y` both mean 1024^7), then optionally one newline. Overflow is refused.
pub(crate) fn parse_size(input: &[u8]) -> Option<u64> {
    let digits = input.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut v: u64 = 0;
    for &c in &input[..digits] {
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    let mut rest = &input[digits..];
    let mut units = 0;
    if let Some(&c) = rest.first() {
        units = match c.to_ascii_lowercase() {
            b'k' => 1,
            b'm' => 2,
            b'g' => 3,
            b't' => 4,
            b'p' => 5,
            b'e' => 6,
            b'z' | b'y' => 7,
            _ => 0,
        };
        if units != 0 {
            if digits == 0 {
                return None;
            }
            rest = &rest[1..];
        }
    }
    let rest = rest.strip_prefix(b"\n").unwrap_or(rest);
    if !rest.is_empty() {
        return None;
    }
    for _ in 0..units {
        v = v.checked_mul(1024)?;
    }
    Some(v)
}
