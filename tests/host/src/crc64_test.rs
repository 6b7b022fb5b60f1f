// SPDX-License-Identifier: GPL-2.0

use crate::format::crc64::{bch_crc64, crc64_be};

#[test]
fn check_value() {
    // The CRC-64/WE catalogue check value.
    assert_eq!(bch_crc64(b"123456789"), 0x62EC_59E3_F1A4_F00A);
}

#[test]
fn empty_input() {
    assert_eq!(bch_crc64(b""), 0);
    assert_eq!(crc64_be(0x1234, b""), 0x1234);
}

/// Bit-at-a-time reference model of the same algorithm.
fn model(data: &[u8]) -> u64 {
    let mut crc = !0u64;
    for &b in data {
        crc ^= u64::from(b) << 56;
        for _ in 0..8 {
            crc = if crc >> 63 != 0 {
                (crc << 1) ^ 0x42F0_E1EB_A9EA_3693
            } else {
                crc << 1
            };
        }
    }
    !crc
}

#[test]
fn table_matches_bitwise_model() {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for len in 0..300 {
        let data: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert_eq!(bch_crc64(&data), model(&data), "len {len}");
    }
}

#[test]
fn incremental_equals_whole() {
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
    let whole = bch_crc64(&data);
    let (a, b) = data.split_at(333);
    assert_eq!(!crc64_be(crc64_be(!0, a), b), whole);
}

#[test]
fn any_start_and_split_matches_model() {
    // Eight bytes per round: every start alignment, every tail length, and a CRC continued
    // across a split at each offset must equal the bit-at-a-time model.
    let data: Vec<u8> = (0..200u32).map(|i| (i * 131 + 17) as u8).collect();
    for start in 0..9 {
        for end in start..data.len() {
            let part = &data[start..end];
            let want = model(part);
            assert_eq!(bch_crc64(part), want, "{start}..{end}");
            if end - start < 40 {
                for cut in 0..=part.len() {
                    let (a, b) = part.split_at(cut);
                    assert_eq!(
                        !crc64_be(crc64_be(!0, a), b),
                        want,
                        "{start}..{end} cut {cut}"
                    );
                }
            }
        }
    }
}
