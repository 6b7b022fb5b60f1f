// SPDX-License-Identifier: GPL-2.0

use crate::format::units::{parse_u32_clamped, parse_u64, trim, DevDisplay, Hprint};

#[test]
fn hprint_matches_bch_hprint() {
    let cases: &[(i64, &str)] = &[
        (0, "0.0k"),
        (512, "0.5k"),
        (1024, "1.0k"),
        (32768, "32.0k"),
        (65536, "64.0k"),
        (999 * 1024, "999.0k"),
        (1000 * 1024, "0.9M"),
        (1024 * 1024 * 1000, "0.9G"),
        (1024 * 1024 * 1024 * 1000, "0.9T"),
        (1_048_576, "1.0M"),
        (4 << 20, "4.0M"),
        (1_536 * 1024 * 1024, "1.5G"),
        (-512, "-0.5k"),
        (i64::MIN, "-8.0E"),
    ];
    for &(v, want) in cases {
        assert_eq!(Hprint(v).to_string(), want, "{v}");
    }
}

#[test]
fn dev_display_is_major_colon_minor() {
    // MKDEV(major, minor) is (major << 20) | minor.
    let cases: &[(u32, &str)] = &[
        (0, "0:0"),
        ((8 << 20) | 16, "8:16"),
        ((253 << 20) | 3, "253:3"),
        ((254 << 20) | 0xfffff, "254:1048575"),
        (u32::MAX, "4095:1048575"),
    ];
    for &(dev, want) in cases {
        assert_eq!(DevDisplay(dev).to_string(), want, "{dev:#x}");
    }
}

#[test]
fn parse_like_kstrtoul() {
    assert_eq!(parse_u64(b"0"), Some(0));
    assert_eq!(parse_u64(b"1\n"), Some(1));
    assert_eq!(parse_u64(b"+7"), Some(7));
    assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
    assert_eq!(parse_u64(b"18446744073709551616"), None);
    for bad in [
        &b""[..],
        b"\n",
        b"-1",
        b"1\n\n",
        b" 1",
        b"1k",
        b"0x10",
        b"1 ",
    ] {
        assert_eq!(parse_u64(bad), None, "{bad:?}");
        assert_eq!(parse_u32_clamped(bad), None, "{bad:?}");
    }
}

#[test]
fn trim_strips_both_ends() {
    assert_eq!(trim(b"  /dev/vda \n"), b"/dev/vda");
    assert_eq!(trim(b"\n"), b"");
    assert_eq!(trim(b""), b"");
    assert_eq!(trim(b"x"), b"x");
}

#[test]
fn parse_size_like_bch_strtoull_h() {
    use crate::format::units::parse_size;
    assert_eq!(parse_size(b"16M\n"), Some(16 << 20));
    assert_eq!(parse_size(b"16m"), Some(16 << 20));
    assert_eq!(parse_size(b"1k"), Some(1024));
    assert_eq!(parse_size(b"2G"), Some(2 << 30));
    assert_eq!(parse_size(b"4096"), Some(4096));
    assert_eq!(parse_size(b"1T"), Some(1 << 40));
    assert_eq!(parse_size(b"8E"), Some(8 << 60));
    assert_eq!(parse_size(b""), Some(0));
    for bad in [
        &b"k"[..],
        b"16Q",
        b"16MB",
        b"-1",
        b"1.5G",
        b"16E",
        b"1Z",
        b" 1",
        b"1\n\n",
        b"0x10",
    ] {
        assert_eq!(parse_size(bad), None, "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn parse_u32_clamped_clamps() {
    assert_eq!(parse_u32_clamped(b"0\n"), Some(0));
    assert_eq!(parse_u32_clamped(b"2000\n"), Some(2000));
    assert_eq!(parse_u32_clamped(b"4294967295"), Some(u32::MAX));
    assert_eq!(parse_u32_clamped(b"4294967296\n"), Some(u32::MAX));
    assert_eq!(parse_u32_clamped(b"18446744073709551615"), Some(u32::MAX));
    assert_eq!(parse_u32_clamped(b"18446744073709551616"), None);
}
