// SPDX-License-Identifier: GPL-2.0

//! CRC-64/WE, the checksum bcache calls `bch_crc64`.
//!
//! ECMA-182 polynomial `0x42F0E1EBA9EA3693`, MSB first (not reflected), initial value and final
//! XOR all ones. The C module computes it with the kernel's `crc64_be()`; this is a table-driven
//! implementation of the same catalogue algorithm, built at compile time.
//!
//! Pure code: no `kernel::` dependency, tested on the host.

const POLY: u64 = 0x42F0_E1EB_A9EA_3693;

const fn make_table() -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u64) << 56;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & (1 << 63) != 0 {
                (crc << 1) ^ POLY
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

static TABLE: [u64; 256] = make_table();

/// Continues a raw (not inverted) big-endian CRC-64 over `data`.
///
/// This is the kernel's `crc64_be(crc, p, len)`.
pub(crate) fn crc64_be(mut crc: u64, data: &[u8]) -> u64 {
    for &byte in data {
        let idx = ((crc >> 56) as u8 ^ byte) as usize;
        crc = TABLE[idx] ^ (crc << 8);
    }
    crc
}

/// Computes bcache's checksum (CRC-64/WE) of `data`.
pub(crate) fn bch_crc64(data: &[u8]) -> u64 {
    !crc64_be(!0, data)
}
