// SPDX-License-Identifier: GPL-2.0

use crate::format::superblock::*;
use std::path::PathBuf;
use std::process::Command;

const GEOM_64M: DeviceGeometry = DeviceGeometry {
    sectors: 64 << 11,
    logical_block_size: 512,
};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The make-bcache -C vector of the reference's Appendix A (64 MiB, defaults).
fn appendix_a_cache() -> Vec<u8> {
    let mut raw = vec![0u8; SB_SIZE];
    let mut head = hex("d2dfa77dc93991c6 0800000000000000 0000000000000000
         c68573f64e1a45ca8265f57f48ba6d81 5bb17e33b0fb45dd9f6ecb8bd9cd86ec
         e39d591ed49343d7a3df9837817ad1cd");
    head.resize(0xb8, 0);
    head.extend(hex(
        "8000000000000000 0800 0004 0100 0000 00000000 0100 0000",
    ));
    assert_eq!(head.len(), 0xd0);
    raw[..0xd0].copy_from_slice(&head);
    raw
}

fn set16(raw: &mut [u8], off: usize, v: u16) {
    raw[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

fn set64(raw: &mut [u8], off: usize, v: u64) {
    raw[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

fn fix_csum(raw: &mut [u8]) {
    let c = checksum(raw).expect("checksum range fits");
    set64(raw, 0, c);
}

/// A valid make-bcache-style cache superblock: 1024 buckets of 64 KiB, 4 KiB blocks.
pub(crate) fn valid_cache() -> Superblock {
    Superblock {
        offset: SB_SECTOR,
        version: VERSION_CDEV,
        uuid: [0x11; 16],
        set_uuid: [0x22; 16],
        label: [0; SB_LABEL_SIZE],
        flags: 0,
        seq: 0,
        feature_compat: 0,
        feature_incompat: 0,
        feature_ro_compat: 0,
        nbuckets: 1024,
        block_size: 8,
        bucket_size: 128,
        nr_in_set: 1,
        nr_this_dev: 0,
        last_mount: 0,
        first_bucket: 1,
        njournal_buckets: 0,
    }
}

fn encode(sb: &Superblock) -> Vec<u8> {
    let mut raw = vec![0u8; SB_SIZE];
    sb.write(&mut raw).unwrap();
    raw
}

#[test]
fn appendix_a_vector_decodes() {
    let raw = appendix_a_cache();
    assert_eq!(checksum(&raw), Some(0xC691_39C9_7DA7_DFD2));
    // 128 buckets is valid on disk but too small for the 6.12 kernel to run.
    assert_eq!(
        Superblock::read(&raw, GEOM_64M),
        Err(SbError::CacheTooSmallToRun)
    );
    // Derived set magic of the reference (first 8 bytes of set_uuid, LE).
    assert_eq!(
        u64::from_le_bytes(raw[0x38..0x40].try_into().unwrap()),
        0xd743_93d4_1e59_9de3
    );
}

#[test]
fn uuid_display_matches_kernel_pu() {
    let raw = appendix_a_cache();
    let uuid: [u8; 16] = raw[0x28..0x38].try_into().unwrap();
    assert_eq!(
        UuidDisplay(&uuid).to_string(),
        "5bb17e33-b0fb-45dd-9f6e-cb8bd9cd86ec"
    );
}

#[test]
fn round_trip_cache_and_backing() {
    let mut sb = valid_cache();
    sb.njournal_buckets = 8;
    sb.label[..5].copy_from_slice(b"hello");
    sb.seq = 42;
    sb.flags = 1;
    let raw = encode(&sb);
    assert_eq!(Superblock::read(&raw, GEOM_64M), Ok(sb.clone()));

    let mut bd = valid_cache();
    bd.version = VERSION_BDEV_WITH_OFFSET;
    bd.nbuckets = 2048;
    let raw = encode(&bd);
    let got = Superblock::read(&raw, GEOM_64M).unwrap();
    assert!(got.is_bdev());
    assert_eq!(got.data_offset(), 2048);

    // Version 5 with a log2 bucket size.
    let mut v5 = valid_cache();
    v5.version = VERSION_CDEV_WITH_FEATURES;
    v5.feature_incompat = FEATURE_INCOMPAT_LOG_LARGE_BUCKET_SIZE;
    let raw = encode(&v5);
    assert_eq!(u16::from_le_bytes([raw[0xc2], raw[0xc3]]), 7);
    assert_eq!(Superblock::read(&raw, GEOM_64M), Ok(v5));

    // Version 5 with the obsolete split bucket size.
    let mut obso = valid_cache();
    obso.version = VERSION_CDEV_WITH_FEATURES;
    obso.feature_incompat = FEATURE_INCOMPAT_OBSO_LARGE_BUCKET;
    obso.bucket_size = 1 << 17;
    obso.nbuckets = 520;
    let geom = DeviceGeometry {
        sectors: 520 << 17,
        logical_block_size: 512,
    };
    let raw = encode(&obso);
    assert_eq!(Superblock::read(&raw, geom), Ok(obso));
}

#[test]
fn write_preserves_undescribed_bytes() {
    let mut raw = vec![0xa5u8; SB_SIZE];
    valid_cache().write(&mut raw).unwrap();
    assert!(raw[0x90..0xb8].iter().all(|&b| b == 0xa5), "pad kept");
    assert!(raw[0x8d8..].iter().all(|&b| b == 0xa5), "tail kept");
}

#[test]
fn every_single_bit_flip_is_detected() {
    let mut sb = valid_cache();
    sb.njournal_buckets = 4;
    let raw = encode(&sb);
    let stored = checksum(&raw).unwrap();
    let end = 0xd0 + 8 * 4;
    let mut flips = 0;
    for byte in 0..end {
        for bit in 0..8 {
            let mut bad = raw.clone();
            bad[byte] ^= 1 << bit;
            assert!(
                Superblock::read(&bad, GEOM_64M).is_err(),
                "flip of byte {byte:#x} bit {bit} accepted"
            );
            if byte >= 8 {
                assert_ne!(checksum(&bad), Some(stored), "byte {byte:#x} bit {bit}");
            }
            flips += 1;
        }
    }
    assert_eq!(flips, end * 8);
}

/// Applies `mutate` to a valid cache superblock's bytes, fixes the checksum and reads it.
fn read_mutated(
    mutate: impl FnOnce(&mut Vec<u8>),
    geom: DeviceGeometry,
) -> Result<Superblock, SbError> {
    let mut raw = encode(&valid_cache());
    mutate(&mut raw);
    if checksum(&raw).is_some() {
        fix_csum(&mut raw);
    }
    Superblock::read(&raw, geom)
}

fn expect(err: SbError, mutate: impl FnOnce(&mut Vec<u8>)) {
    assert_eq!(read_mutated(mutate, GEOM_64M), Err(err), "{}", err.reason());
}

#[test]
fn valid_base_is_accepted() {
    assert_eq!(read_mutated(|_| {}, GEOM_64M), Ok(valid_cache()));
}

#[test]
fn each_rule_has_a_failing_case() {
    expect(SbError::BadOffset, |r| set64(r, 0x08, 9));
    expect(SbError::BadMagic, |r| r[0x18] ^= 1);
    {
        let mut raw = encode(&valid_cache());
        raw[0] ^= 1;
        assert_eq!(Superblock::read(&raw, GEOM_64M), Err(SbError::BadChecksum));
    }
    expect(SbError::JournalBucketsOverflow, |r| set16(r, 0xce, 1000));
    expect(SbError::BadUuid, |r| r[0x28..0x38].fill(0));
    assert_eq!(
        read_mutated(
            |r| set16(r, 0xc0, 1),
            DeviceGeometry {
                sectors: GEOM_64M.sectors,
                logical_block_size: 4096
            }
        ),
        Err(SbError::BlockSizeTooSmall)
    );
    expect(SbError::BadDataOffset, |r| {
        set64(r, 0x10, VERSION_BDEV_WITH_OFFSET);
        set64(r, 0xb8, 8);
    });
    expect(SbError::BadDataOffset, |r| {
        set64(r, 0x10, VERSION_BDEV_WITH_FEATURES);
        set64(r, 0xb8, 15);
    });
    expect(SbError::UnknownCompatFeature, |r| {
        set64(r, 0x10, VERSION_CDEV_WITH_FEATURES);
        set64(r, 0x78, 1);
    });
    expect(SbError::UnknownIncompatFeature, |r| {
        set64(r, 0x10, VERSION_CDEV_WITH_FEATURES);
        set64(r, 0x80, 4);
    });
    expect(SbError::UnknownRoCompatFeature, |r| {
        set64(r, 0x10, VERSION_CDEV_WITH_FEATURES);
        set64(r, 0x88, 1 << 40);
    });
    expect(SbError::UnsupportedVersion, |r| set64(r, 0x10, 2));
    expect(SbError::UnsupportedVersion, |r| set64(r, 0x10, 7));
    expect(SbError::UnsupportedVersion, |r| set64(r, 0x10, u64::MAX));
    expect(SbError::TooManyJournalBuckets, |r| set16(r, 0xce, 257));
    expect(SbError::TooManyBuckets, |r| set64(r, 0xb8, 1 << 63));
    expect(SbError::NotEnoughBuckets, |r| set64(r, 0xb8, 127));
    expect(SbError::BlockSizeNotPowerOfTwo, |r| set16(r, 0xc0, 3));
    expect(SbError::BlockSizeTooSmall, |r| set16(r, 0xc0, 0));
    expect(SbError::BlockSizeTooLarge, |r| set16(r, 0xc0, 16));
    expect(SbError::BucketSizeOverflow, |r| {
        set64(r, 0x10, VERSION_CDEV_WITH_FEATURES);
        set64(r, 0x80, FEATURE_INCOMPAT_LOG_LARGE_BUCKET_SIZE);
        set16(r, 0xc2, 40);
    });
    expect(SbError::BucketSizeNotPowerOfTwo, |r| set16(r, 0xc2, 100));
    expect(SbError::BucketSizeNotPowerOfTwo, |r| set16(r, 0xc2, 0));
    expect(SbError::BucketSizeTooSmall, |r| set16(r, 0xc2, 4));
    assert_eq!(
        read_mutated(
            |_| {},
            DeviceGeometry {
                sectors: 1024 * 128 - 1,
                logical_block_size: 512
            }
        ),
        Err(SbError::DeviceTooSmall)
    );
    // bucket_size * nbuckets overflowing u64 must not wrap into "fits".
    expect(SbError::DeviceTooSmall, |r| set64(r, 0xb8, (1 << 62) + 1));
    expect(SbError::BadSetUuid, |r| r[0x38..0x48].fill(0));
    expect(SbError::BadDeviceNumber, |r| set16(r, 0xc4, 0));
    expect(SbError::BadDeviceNumber, |r| set16(r, 0xc6, 1));
    expect(SbError::BadDeviceNumber, |r| {
        set16(r, 0xc4, 9);
        set16(r, 0xc6, 0);
    });
    expect(SbError::JournalNotSequential, |r| {
        set16(r, 0xce, 2);
        set64(r, 0xd0, 1);
        set64(r, 0xd8, 3);
    });
    expect(SbError::JournalPastEnd, |r| {
        set16(r, 0xcc, 1023);
        set16(r, 0xce, 2);
        set64(r, 0xd0, 1023);
        set64(r, 0xd8, 1024);
    });
    expect(SbError::FirstBucketOverlapsSuper, |r| {
        set16(r, 0xcc, 0);
    });
    expect(SbError::CacheTooSmallToRun, |r| set64(r, 0xb8, 512));
    // A backing device skips the cache rules entirely.
    assert!(read_mutated(
        |r| {
            set64(r, 0x10, VERSION_BDEV);
            set64(r, 0xb8, 0);
            set16(r, 0xc2, 3);
        },
        GEOM_64M
    )
    .is_ok());
}

#[test]
fn short_buffer_is_refused() {
    assert_eq!(
        Superblock::read(&[0u8; 100], GEOM_64M),
        Err(SbError::ShortBuffer)
    );
    assert_eq!(checksum(&[0u8; 100]), None);
}

#[test]
fn zeroed_and_random_blocks_are_refused() {
    assert_eq!(
        Superblock::read(&[0u8; SB_SIZE], GEOM_64M),
        Err(SbError::BadOffset)
    );
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..2000 {
        let raw: Vec<u8> = (0..SB_SIZE)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(Superblock::read(&raw, GEOM_64M).is_err());
    }
}

/// Runs make-bcache on a fresh 64 MiB image and returns its superblock block.
fn make_bcache(args: &[&str]) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!(
        "rbcache-sb-{}-{}",
        std::process::id(),
        args.join("_").replace(['/', '-', ' '], "")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let img: PathBuf = dir.join("img");
    let f = std::fs::File::create(&img).unwrap();
    f.set_len(64 << 20).unwrap();
    drop(f);
    let out = Command::new("make-bcache")
        .args(args)
        .arg(&img)
        .output()
        .expect("make-bcache not found: run scripts/deps.sh (bcache-tools)");
    assert!(
        out.status.success(),
        "make-bcache {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = std::fs::read(&img).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        data[..4096].iter().all(|&b| b == 0),
        "make-bcache zero-fills"
    );
    data[4096..8192].to_vec()
}

#[test]
fn make_bcache_cache_images() {
    let raw = make_bcache(&["-b", "64k", "-C"]);
    let sb = Superblock::read(&raw, GEOM_64M).unwrap();
    assert_eq!(sb.version, VERSION_CDEV);
    assert_eq!(sb.bucket_size, 128);
    assert_eq!(sb.nbuckets, 1024);
    assert_eq!(sb.first_bucket, 1);
    assert_eq!(sb.njournal_buckets, 0);
    assert_eq!(sb.flags, 0);
    assert_eq!((sb.nr_in_set, sb.nr_this_dev), (1, 0));
    // Re-encoding what we decoded reproduces make-bcache's bytes exactly.
    let mut again = raw.clone();
    sb.write(&mut again).unwrap();
    assert_eq!(again, raw);

    let raw = make_bcache(&[
        "-b",
        "64k",
        "-w",
        "512",
        "--discard",
        "--cache_replacement_policy=fifo",
        "-C",
    ]);
    let sb = Superblock::read(&raw, GEOM_64M).unwrap();
    assert_eq!(sb.block_size, 1);
    assert_eq!(sb.flags, 6);

    // Default 512 KiB buckets on 64 MiB: 128 buckets, refused at run time like 6.12 does.
    let raw = make_bcache(&["-C"]);
    assert_eq!(
        Superblock::read(&raw, GEOM_64M),
        Err(SbError::CacheTooSmallToRun)
    );
}

#[test]
fn make_bcache_backing_images() {
    let raw = make_bcache(&["-B"]);
    let sb = Superblock::read(&raw, GEOM_64M).unwrap();
    assert_eq!(sb.version, VERSION_BDEV);
    assert!(sb.is_bdev());
    assert_eq!(sb.data_offset(), BDEV_DATA_START_DEFAULT);

    let raw = make_bcache(&["-o", "2048", "--writeback", "-B"]);
    let sb = Superblock::read(&raw, GEOM_64M).unwrap();
    assert_eq!(sb.version, VERSION_BDEV_WITH_OFFSET);
    assert_eq!(sb.data_offset(), 2048);
    assert_eq!(sb.flags, 1);
}

#[test]
fn vm_test_images_decode_as_intended() {
    // tests/vm/mkimages.py encodes superblocks independently (Python); cross-check both ways.
    let dir = std::env::temp_dir().join(format!("rbcache-imgs-{}", std::process::id()));
    let status = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../vm/mkimages.py"))
        .arg(&dir)
        .status()
        .expect("python3");
    assert!(status.success());
    let sizes = std::fs::read_to_string(dir.join("sizes")).unwrap();
    let expected: &[(&str, Result<(), SbError>)] = &[
        ("good_cache", Ok(())),
        ("bad_magic", Err(SbError::BadMagic)),
        ("bad_csum", Err(SbError::BadChecksum)),
        ("bad_version", Err(SbError::UnsupportedVersion)),
        ("bad_offset", Err(SbError::BadOffset)),
        ("too_few_buckets", Err(SbError::CacheTooSmallToRun)),
        ("bad_bucket_size", Err(SbError::BucketSizeNotPowerOfTwo)),
        ("journal_not_sequential", Err(SbError::JournalNotSequential)),
        ("device_smaller_than_sb_says", Err(SbError::DeviceTooSmall)),
        ("zeroed", Err(SbError::BadOffset)),
    ];
    for line in sizes.lines() {
        let mut it = line.split_whitespace();
        let name = it.next().unwrap();
        let size: u64 = it.next().unwrap().parse().unwrap();
        if name == "tiny" {
            assert_eq!(size, 4096);
            continue;
        }
        let data = std::fs::read(dir.join(format!("{name}.img"))).unwrap();
        let geom = DeviceGeometry {
            sectors: size / 512,
            logical_block_size: 512,
        };
        let got = Superblock::read(&data[4096..8192], geom).map(|_| ());
        let want = expected
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("unexpected image {name}"))
            .1;
        assert_eq!(got, want, "{name}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn feature_files_read_as_in_6_12() {
    // features.c names one feature, large_bucket (incompat bit 0x2); a kind with no named
    // feature shows nothing at all, not even a newline.
    let cases: &[(FeatureKind, u64, &str)] = &[
        (FeatureKind::Incompat, 0, "large_bucket\n"),
        (
            FeatureKind::Incompat,
            FEATURE_INCOMPAT_LOG_LARGE_BUCKET_SIZE,
            "[large_bucket]\n",
        ),
        (
            FeatureKind::Incompat,
            FEATURE_INCOMPAT_OBSO_LARGE_BUCKET,
            "large_bucket\n",
        ),
        (FeatureKind::Incompat, u64::MAX, "[large_bucket]\n"),
        (FeatureKind::Compat, 0, ""),
        (FeatureKind::Compat, u64::MAX, ""),
        (FeatureKind::RoCompat, u64::MAX, ""),
    ];
    for &(kind, bits, want) in cases {
        assert_eq!(
            FeaturesDisplay(kind, bits).to_string(),
            want,
            "{kind:?} {bits:#x}"
        );
    }
    let mut sb = Superblock::read(&make_bcache(&["-b", "64k", "-C"]), GEOM_64M).unwrap();
    assert_eq!(
        sb.features(FeatureKind::Incompat),
        0,
        "make-bcache -b 64k sets no feature"
    );
    sb.feature_incompat = FEATURE_INCOMPAT_LOG_LARGE_BUCKET_SIZE;
    sb.feature_compat = 4;
    assert_eq!(
        sb.features(FeatureKind::Incompat),
        FEATURE_INCOMPAT_LOG_LARGE_BUCKET_SIZE
    );
    assert_eq!(sb.features(FeatureKind::Compat), 4);
    assert_eq!(sb.features(FeatureKind::RoCompat), 0);
}
