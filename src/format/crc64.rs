// SPDX-License-Identifier: GPL-2.0

//! CRC-64/WE, the checksum bcache calls `bch_crc64`.
//!
//! ECMA-182 polynomial `0x42F0E1EBA9EA3693`, MSB first (not reflected), initial value and final
//! XOR all ones. The C module computes it with the kernel's `crc64_be()`; this is a table-driven
//! implementation (slicing-by-8, tables built at compile time) of the same catalogue algorithm.
//!
//! Pure code: no `kernel::` dependency, tested on the host.

const POLY: u64 = 0x42F0_E1EB_A9EA_3693;

/// `TABLES[0][i]` is the CRC of byte `i` (as the top byte of a zero register);
/// `TABLES[k][i]` is that register shifted on by `k` more zero bytes, so eight table lookups
/// advance the CRC by eight bytes at once ("slicing-by-8").
const fn make_tables() -> [[u64; 256]; 8] {
    let mut tables = [[0u64; 256]; 8];
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
        tables[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[k - 1][i];
            tables[k][i] = (prev << 8) ^ tables[0][(prev >> 56) as usize];
            i += 1;
        }
        k += 1;
    }
    tables
}

static TABLES: [[u64; 256]; 8] = make_tables();

/// One byte through the register.
#[inline(always)]
fn step(crc: u64, byte: u8) -> u64 {
    TABLES[0][((crc >> 56) as u8 ^ byte) as usize] ^ (crc << 8)
}

/// Continues a raw (not inverted) big-endian CRC-64 over `data`.
///
/// This is the kernel's `crc64_be(crc, p, len)`, eight bytes per round: the C module's is one
/// byte per round, and a 64 KiB btree node write checksums the whole node.
pub(crate) fn crc64_be(mut crc: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(8);
    for word in &mut words {
        let Ok(bytes) = <[u8; 8]>::try_from(word) else {
            break;
        };
        let x = crc ^ u64::from_be_bytes(bytes);
        crc = TABLES[7][(x >> 56) as usize]
            ^ TABLES[6][(x >> 48) as u8 as usize]
            ^ TABLES[5][(x >> 40) as u8 as usize]
            ^ TABLES[4][(x >> 32) as u8 as usize]
            ^ TABLES[3][(x >> 24) as u8 as usize]
            ^ TABLES[2][(x >> 16) as u8 as usize]
            ^ TABLES[1][(x >> 8) as u8 as usize]
            ^ TABLES[0][x as u8 as usize];
    }
    for &byte in words.remainder() {
        crc = step(crc, byte);
    }
    crc
}

/// Computes bcache's checksum (CRC-64/WE) of `data`.
pub(crate) fn bch_crc64(data: &[u8]) -> u64 {
    !crc64_be(!0, data)
}
