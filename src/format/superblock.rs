// SPDX-License-Identifier: GPL-2.0

//! The bcache superblock (`struct cache_sb_disk`): decode, validate and encode.
//!
//! The superblock lives at byte 4096 of every bcache device, cache or backing. Its layout and
//! checksum are bcache's (Linux 6.12 `bcache_ondisk.h`), byte for byte, little endian. Validation
//! follows 6.12's `read_super()` rule by rule and in the same order, so the same corrupt device
//! gets the same reason, plus the runtime limit of `cache_alloc()` (at least 513 buckets) that
//! the C module only finds later.
//!
//! Differences from the C code, all on input it would mishandle:
//! - a journal-bucket count so large that the checksummed range leaves the 4 KiB block is
//!   refused before the checksum is computed (the C code reads past its page);
//! - a large-bucket order above 31 is refused (the C code logs it and shifts anyway);
//! - a cache of more than 2^32 - 1 buckets is refused: rbcache numbers buckets as `u32` where
//!   it sorts them (the C code would allocate a 48 GiB bucket array for them).
//!
//! Pure code: no `kernel::` dependency, tested on the host.

use super::bkey::PTR_OFFSET_MAX;
use super::crc64::bch_crc64;
use super::le::{get16, get32, get64, put16, put32, put64};
use core::fmt;

/// Sector of the superblock on every bcache device.
pub(crate) const SB_SECTOR: u64 = 8;
/// Bytes read and written for the superblock.
pub(crate) const SB_SIZE: usize = 4096;
/// Maximum number of journal buckets recorded in the superblock.
pub(crate) const SB_JOURNAL_BUCKETS: usize = 256;
/// Size of the label field.
pub(crate) const SB_LABEL_SIZE: usize = 32;
/// Sectors in a 4 KiB page.
pub(crate) const PAGE_SECTORS: u32 = 8;
/// Default data offset of a backing device, in sectors.
pub(crate) const BDEV_DATA_START_DEFAULT: u64 = 16;
/// Most caches a set may name.
pub(crate) const MAX_CACHES_PER_SET: u16 = 8;
/// Fewest buckets the 6.12 kernel runs a cache with (`cache_alloc`).
pub(crate) const MIN_RUNTIME_BUCKETS: u64 = 513;
/// Most buckets rbcache runs a cache with: its allocator and moving GC sort bucket numbers as
/// `u32`. (6.12 has no such limit, but would need a 48 GiB bucket array for that many.)
pub(crate) const MAX_RUNTIME_BUCKETS: u64 = u32::MAX as u64;
/// Most sectors rbcache runs a cache with: every sector must be addressable by a key's 43-bit
/// pointer. (6.12 has no such limit, and truncates the pointers past it.)
pub(crate) const MAX_RUNTIME_SECTORS: u64 = PTR_OFFSET_MAX + 1;

/// bcache's superblock magic.
pub(crate) const BCACHE_MAGIC: [u8; 16] = [
    0xc6, 0x85, 0x73, 0xf6, 0x4e, 0x1a, 0x45, 0xca, 0x82, 0x65, 0xf5, 0x7f, 0x48, 0xba, 0x6d, 0x81,
];

/// Cache flag: the set was initialised and its metadata is authoritative ("synchronous").
pub(crate) const CACHE_SYNC: u64 = 1;

/// Cache flag: issue discards for reused buckets.
pub(crate) const CACHE_DISCARD: u64 = 2;

/// Cache device, as written by make-bcache.
pub(crate) const VERSION_CDEV: u64 = 0;
/// Backing device with the default data offset.
pub(crate) const VERSION_BDEV: u64 = 1;
/// Cache device with the new uuid format.
pub(crate) const VERSION_CDEV_WITH_UUID: u64 = 3;
/// Backing device with an explicit data offset.
pub(crate) const VERSION_BDEV_WITH_OFFSET: u64 = 4;
/// Cache device with feature words.
pub(crate) const VERSION_CDEV_WITH_FEATURES: u64 = 5;
/// Backing device with feature words.
pub(crate) const VERSION_BDEV_WITH_FEATURES: u64 = 6;

/// Incompatible feature: bucket size high bits in `obso_bucket_size_hi`.
pub(crate) const FEATURE_INCOMPAT_OBSO_LARGE_BUCKET: u64 = 0x1;
/// Incompatible feature: `bucket_size` holds log2 of the bucket size.
pub(crate) const FEATURE_INCOMPAT_LOG_LARGE_BUCKET_SIZE: u64 = 0x2;
const FEATURE_INCOMPAT_SUPP: u64 =
    FEATURE_INCOMPAT_OBSO_LARGE_BUCKET | FEATURE_INCOMPAT_LOG_LARGE_BUCKET_SIZE;

// Field offsets inside the 4 KiB superblock block.
const OFF_CSUM: usize = 0x000;
const OFF_OFFSET: usize = 0x008;
const OFF_VERSION: usize = 0x010;
const OFF_MAGIC: usize = 0x018;
const OFF_UUID: usize = 0x028;
const OFF_SET_UUID: usize = 0x038;
const OFF_LABEL: usize = 0x048;
const OFF_FLAGS: usize = 0x068;
const OFF_SEQ: usize = 0x070;
const OFF_FEATURE_COMPAT: usize = 0x078;
const OFF_FEATURE_INCOMPAT: usize = 0x080;
const OFF_FEATURE_RO_COMPAT: usize = 0x088;
const OFF_NBUCKETS: usize = 0x0b8;
const OFF_BLOCK_SIZE: usize = 0x0c0;
const OFF_BUCKET_SIZE: usize = 0x0c2;
const OFF_NR_IN_SET: usize = 0x0c4;
const OFF_NR_THIS_DEV: usize = 0x0c6;
const OFF_LAST_MOUNT: usize = 0x0c8;
const OFF_FIRST_BUCKET: usize = 0x0cc;
const OFF_KEYS: usize = 0x0ce;
const OFF_D: usize = 0x0d0;
const OFF_OBSO_BUCKET_SIZE_HI: usize = 0x8d0;

/// Why a superblock was refused.
///
/// [`SbError::reason`] gives the 6.12 kernel's wording where it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SbError {
    /// Fewer than 4 KiB of superblock data.
    ShortBuffer,
    /// `offset` is not [`SB_SECTOR`].
    BadOffset,
    /// The magic does not match.
    BadMagic,
    /// So many journal buckets that the checksummed range leaves the 4 KiB block.
    JournalBucketsOverflow,
    /// The CRC-64 does not match.
    BadChecksum,
    /// The device UUID is all zeroes.
    BadUuid,
    /// `block_size` is smaller than the device's logical block size.
    BlockSizeTooSmall,
    /// A backing device's data offset is below 16 sectors.
    BadDataOffset,
    /// Unknown compat feature bit.
    UnknownCompatFeature,
    /// Unknown read-only compat feature bit.
    UnknownRoCompatFeature,
    /// Unknown incompat feature bit.
    UnknownIncompatFeature,
    /// The version is not one 6.12 knows.
    UnsupportedVersion,
    /// More than 256 journal buckets.
    TooManyJournalBuckets,
    /// `nbuckets` exceeds `LONG_MAX`.
    TooManyBuckets,
    /// Fewer than 128 buckets.
    NotEnoughBuckets,
    /// `block_size` is not a power of two.
    BlockSizeNotPowerOfTwo,
    /// `block_size` exceeds a page.
    BlockSizeTooLarge,
    /// A large-bucket order above 31.
    BucketSizeOverflow,
    /// `bucket_size` is not a power of two.
    BucketSizeNotPowerOfTwo,
    /// `bucket_size` is smaller than a page.
    BucketSizeTooSmall,
    /// The device is smaller than `nbuckets * bucket_size`.
    DeviceTooSmall,
    /// The cache-set UUID is all zeroes.
    BadSetUuid,
    /// `nr_in_set` or `nr_this_dev` is out of range.
    BadDeviceNumber,
    /// Journal bucket `i` is not `first_bucket + i`.
    JournalNotSequential,
    /// The journal buckets run past `nbuckets`.
    JournalPastEnd,
    /// The first bucket overlaps the superblock.
    FirstBucketOverlapsSuper,
    /// Fewer than 513 buckets: valid on disk, but too small to run (`cache_alloc`).
    CacheTooSmallToRun,
    /// More than [`MAX_RUNTIME_BUCKETS`] buckets: valid on disk, but rbcache cannot number
    /// them.
    CacheTooBigToRun,
    /// More than [`MAX_RUNTIME_SECTORS`] sectors: valid on disk, but a key's pointer cannot
    /// name them all.
    CacheTooBigToAddress,
}

impl SbError {
    /// Returns the human-readable reason, as the 6.12 kernel words it where it has one.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::ShortBuffer => "Superblock read was short",
            Self::BadOffset => "Not a bcache superblock (bad offset)",
            Self::BadMagic => "Not a bcache superblock (bad magic)",
            Self::JournalBucketsOverflow => "Too many journal buckets (checksum range overflows)",
            Self::BadChecksum => "Bad checksum",
            Self::BadUuid => "Bad UUID",
            Self::BlockSizeTooSmall => "Superblock block size smaller than device block size",
            Self::BadDataOffset => "Bad data offset",
            Self::UnknownCompatFeature => "Unsupported compatible feature found",
            Self::UnknownRoCompatFeature => "Unsupported read-only compatible feature found",
            Self::UnknownIncompatFeature => "Unsupported incompatible feature found",
            Self::UnsupportedVersion => "Unsupported superblock version",
            Self::TooManyJournalBuckets => "Too many journal buckets",
            Self::TooManyBuckets => "Too many buckets",
            Self::NotEnoughBuckets => "Not enough buckets",
            Self::BlockSizeNotPowerOfTwo => "Bad block size (not power of 2)",
            Self::BlockSizeTooLarge => "Bad block size (larger than page size)",
            Self::BucketSizeOverflow => "Bad bucket size (large bucket order overflows)",
            Self::BucketSizeNotPowerOfTwo => "Bad bucket size (not power of 2)",
            Self::BucketSizeTooSmall => "Bad bucket size (smaller than page size)",
            Self::DeviceTooSmall => "Invalid superblock: device too small",
            Self::BadSetUuid => "Bad cache set UUID",
            Self::BadDeviceNumber => "Bad cache device number in set",
            Self::JournalNotSequential => "Journal buckets not sequential",
            Self::JournalPastEnd => "Too many journal buckets (past the last bucket)",
            Self::FirstBucketOverlapsSuper => {
                "Invalid superblock: first bucket comes before end of super"
            }
            Self::CacheTooSmallToRun => "cache device is too small (fewer than 513 buckets)",
            Self::CacheTooBigToRun => "cache device has too many buckets (more than 2^32 - 1)",
            Self::CacheTooBigToAddress => {
                "cache device is too big for bcache's 43-bit pointers (more than 4 PiB)"
            }
        }
    }
}

impl fmt::Display for SbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// What the device under the superblock looks like.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DeviceGeometry {
    /// Capacity in 512-byte sectors.
    pub(crate) sectors: u64,
    /// Logical block size in bytes.
    pub(crate) logical_block_size: u32,
}

/// A decoded bcache superblock (the in-memory `struct cache_sb`).
///
/// Journal bucket numbers are not stored: validation proves `d[i] == first_bucket + i`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Superblock {
    /// Sector the superblock claims to live at.
    pub(crate) offset: u64,
    /// Format version.
    pub(crate) version: u64,
    /// This device's UUID.
    pub(crate) uuid: [u8; 16],
    /// The cache set's UUID (for a backing device: the set it belongs to).
    pub(crate) set_uuid: [u8; 16],
    /// Label, NUL padded.
    pub(crate) label: [u8; SB_LABEL_SIZE],
    /// Flags word (cache: sync, discard, replacement; backing: cache mode, state).
    pub(crate) flags: u64,
    /// Sequence number, bumped by every cache-set superblock write.
    pub(crate) seq: u64,
    /// Compat feature bits (version 5 and later).
    pub(crate) feature_compat: u64,
    /// Incompat feature bits (version 5 and later).
    pub(crate) feature_incompat: u64,
    /// Read-only compat feature bits (version 5 and later).
    pub(crate) feature_ro_compat: u64,
    /// Cache: number of buckets. Backing: the raw data-offset field.
    pub(crate) nbuckets: u64,
    /// Block size in sectors.
    pub(crate) block_size: u16,
    /// Bucket size in sectors, with the large-bucket features applied.
    pub(crate) bucket_size: u32,
    /// Number of caches in the set.
    pub(crate) nr_in_set: u16,
    /// This cache's index in the set.
    pub(crate) nr_this_dev: u16,
    /// Seconds since the epoch of the last registration.
    pub(crate) last_mount: u32,
    /// First bucket available for metadata and data.
    pub(crate) first_bucket: u16,
    /// Number of journal buckets.
    pub(crate) njournal_buckets: u16,
}

fn bytes16(raw: &[u8], off: usize) -> [u8; 16] {
    let mut b = [0u8; 16];
    b.copy_from_slice(&raw[off..off + 16]);
    b
}

fn is_zero(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0)
}

/// Returns the end of the checksummed range for a superblock with `keys` journal buckets.
fn csum_end(keys: u16) -> usize {
    OFF_D + 8 * keys as usize
}

/// Computes the superblock checksum of `raw` (CRC-64/WE over bytes 8 to the last journal slot).
///
/// Returns `None` if the journal-bucket count puts the range outside the 4 KiB block.
pub(crate) fn checksum(raw: &[u8]) -> Option<u64> {
    if raw.len() < SB_SIZE {
        return None;
    }
    let end = csum_end(get16(raw, OFF_KEYS));
    if end > SB_SIZE {
        return None;
    }
    Some(bch_crc64(&raw[OFF_OFFSET..end]))
}

/// Returns whether `version` is a backing-device version.
pub(crate) fn version_is_bdev(version: u64) -> bool {
    matches!(
        version,
        VERSION_BDEV | VERSION_BDEV_WITH_OFFSET | VERSION_BDEV_WITH_FEATURES
    )
}

impl Superblock {
    /// Decodes and validates the 4 KiB superblock block `raw`, read from a device of `geom`.
    ///
    /// The rules and their order are those of 6.12's `read_super()`; a cache device must also
    /// have at least [`MIN_RUNTIME_BUCKETS`] buckets, at most [`MAX_RUNTIME_BUCKETS`], and at most
    /// [`MAX_RUNTIME_SECTORS`] sectors.
    pub(crate) fn read(raw: &[u8], geom: DeviceGeometry) -> Result<Self, SbError> {
        if raw.len() < SB_SIZE {
            return Err(SbError::ShortBuffer);
        }
        let mut sb = Superblock {
            offset: get64(raw, OFF_OFFSET),
            version: get64(raw, OFF_VERSION),
            uuid: bytes16(raw, OFF_UUID),
            set_uuid: bytes16(raw, OFF_SET_UUID),
            label: [0; SB_LABEL_SIZE],
            flags: get64(raw, OFF_FLAGS),
            seq: get64(raw, OFF_SEQ),
            feature_compat: 0,
            feature_incompat: 0,
            feature_ro_compat: 0,
            nbuckets: get64(raw, OFF_NBUCKETS),
            block_size: 0,
            bucket_size: 0,
            nr_in_set: 0,
            nr_this_dev: 0,
            last_mount: get32(raw, OFF_LAST_MOUNT),
            first_bucket: 0,
            njournal_buckets: get16(raw, OFF_KEYS),
        };
        sb.label
            .copy_from_slice(&raw[OFF_LABEL..OFF_LABEL + SB_LABEL_SIZE]);

        if sb.offset != SB_SECTOR {
            return Err(SbError::BadOffset);
        }
        if raw[OFF_MAGIC..OFF_MAGIC + 16] != BCACHE_MAGIC {
            return Err(SbError::BadMagic);
        }
        let csum = checksum(raw).ok_or(SbError::JournalBucketsOverflow)?;
        if get64(raw, OFF_CSUM) != csum {
            return Err(SbError::BadChecksum);
        }
        if is_zero(&sb.uuid) {
            return Err(SbError::BadUuid);
        }
        sb.block_size = get16(raw, OFF_BLOCK_SIZE);
        if (u32::from(sb.block_size) << 9) < geom.logical_block_size {
            return Err(SbError::BlockSizeTooSmall);
        }

        match sb.version {
            VERSION_BDEV => {}
            VERSION_BDEV_WITH_OFFSET | VERSION_BDEV_WITH_FEATURES => {
                if sb.nbuckets < BDEV_DATA_START_DEFAULT {
                    return Err(SbError::BadDataOffset);
                }
            }
            VERSION_CDEV | VERSION_CDEV_WITH_UUID => sb.read_cache(raw, geom)?,
            VERSION_CDEV_WITH_FEATURES => {
                sb.feature_compat = get64(raw, OFF_FEATURE_COMPAT);
                sb.feature_incompat = get64(raw, OFF_FEATURE_INCOMPAT);
                sb.feature_ro_compat = get64(raw, OFF_FEATURE_RO_COMPAT);
                if sb.feature_compat != 0 {
                    return Err(SbError::UnknownCompatFeature);
                }
                if sb.feature_ro_compat != 0 {
                    return Err(SbError::UnknownRoCompatFeature);
                }
                if sb.feature_incompat & !FEATURE_INCOMPAT_SUPP != 0 {
                    return Err(SbError::UnknownIncompatFeature);
                }
                sb.read_cache(raw, geom)?;
            }
            _ => return Err(SbError::UnsupportedVersion),
        }
        Ok(sb)
    }

    /// The cache-device rules (`read_super_common()` and `cache_alloc()`'s size limit).
    fn read_cache(&mut self, raw: &[u8], geom: DeviceGeometry) -> Result<(), SbError> {
        self.first_bucket = get16(raw, OFF_FIRST_BUCKET);
        self.bucket_size = self.decode_bucket_size(raw)?;
        self.nr_in_set = get16(raw, OFF_NR_IN_SET);
        self.nr_this_dev = get16(raw, OFF_NR_THIS_DEV);
        let keys = usize::from(self.njournal_buckets);

        if keys > SB_JOURNAL_BUCKETS {
            return Err(SbError::TooManyJournalBuckets);
        }
        if self.nbuckets > i64::MAX as u64 {
            return Err(SbError::TooManyBuckets);
        }
        if self.nbuckets < 1 << 7 {
            return Err(SbError::NotEnoughBuckets);
        }
        if !self.block_size.is_power_of_two() {
            return Err(SbError::BlockSizeNotPowerOfTwo);
        }
        if u32::from(self.block_size) > PAGE_SECTORS {
            return Err(SbError::BlockSizeTooLarge);
        }
        if !self.bucket_size.is_power_of_two() {
            return Err(SbError::BucketSizeNotPowerOfTwo);
        }
        if self.bucket_size < PAGE_SECTORS {
            return Err(SbError::BucketSizeTooSmall);
        }
        match u64::from(self.bucket_size).checked_mul(self.nbuckets) {
            Some(need) if need <= geom.sectors => {}
            _ => return Err(SbError::DeviceTooSmall),
        }
        if is_zero(&self.set_uuid) {
            return Err(SbError::BadSetUuid);
        }
        if self.nr_in_set == 0
            || self.nr_in_set <= self.nr_this_dev
            || self.nr_in_set > MAX_CACHES_PER_SET
        {
            return Err(SbError::BadDeviceNumber);
        }
        for i in 0..keys {
            if get64(raw, OFF_D + 8 * i) != u64::from(self.first_bucket) + i as u64 {
                return Err(SbError::JournalNotSequential);
            }
        }
        if u64::from(self.first_bucket) + keys as u64 > self.nbuckets {
            return Err(SbError::JournalPastEnd);
        }
        if u64::from(self.first_bucket) * u64::from(self.bucket_size) < 16 {
            return Err(SbError::FirstBucketOverlapsSuper);
        }
        if self.nbuckets < MIN_RUNTIME_BUCKETS {
            return Err(SbError::CacheTooSmallToRun);
        }
        if self.nbuckets > MAX_RUNTIME_BUCKETS {
            return Err(SbError::CacheTooBigToRun);
        }
        match u64::from(self.bucket_size).checked_mul(self.nbuckets) {
            Some(sectors) if sectors <= MAX_RUNTIME_SECTORS => {}
            _ => return Err(SbError::CacheTooBigToAddress),
        }
        Ok(())
    }

    /// `get_bucket_size()`: the bucket size with the large-bucket features applied.
    fn decode_bucket_size(&self, raw: &[u8]) -> Result<u32, SbError> {
        let field = get16(raw, OFF_BUCKET_SIZE);
        if self.version < VERSION_CDEV_WITH_FEATURES {
            return Ok(u32::from(field));
        }
        if self.feature_incompat & FEATURE_INCOMPAT_LOG_LARGE_BUCKET_SIZE != 0 {
            if field > 31 {
                return Err(SbError::BucketSizeOverflow);
            }
            Ok(1u32 << field)
        } else if self.feature_incompat & FEATURE_INCOMPAT_OBSO_LARGE_BUCKET != 0 {
            Ok(u32::from(field) + (u32::from(get16(raw, OFF_OBSO_BUCKET_SIZE_HI)) << 16))
        } else {
            Ok(u32::from(field))
        }
    }

    /// Returns whether a cache's metadata was initialised (`CACHE_SYNC`).
    pub(crate) fn is_synchronous(&self) -> bool {
        self.flags & CACHE_SYNC != 0
    }

    /// Returns whether this is a backing-device superblock.
    pub(crate) fn is_bdev(&self) -> bool {
        version_is_bdev(self.version)
    }

    /// Returns the data offset of a backing device, in sectors.
    pub(crate) fn data_offset(&self) -> u64 {
        if self.version == VERSION_BDEV {
            BDEV_DATA_START_DEFAULT
        } else {
            self.nbuckets
        }
    }

    /// Encodes every field into `raw` (at least 4 KiB) and sets the checksum.
    ///
    /// Journal slots are written as `first_bucket + i`. Bytes this struct does not describe are
    /// left as they are, as the kernel preserves them.
    pub(crate) fn write(&self, raw: &mut [u8]) -> Result<(), SbError> {
        if raw.len() < SB_SIZE {
            return Err(SbError::ShortBuffer);
        }
        if usize::from(self.njournal_buckets) > SB_JOURNAL_BUCKETS {
            return Err(SbError::TooManyJournalBuckets);
        }
        put64(raw, OFF_OFFSET, self.offset);
        put64(raw, OFF_VERSION, self.version);
        raw[OFF_MAGIC..OFF_MAGIC + 16].copy_from_slice(&BCACHE_MAGIC);
        raw[OFF_UUID..OFF_UUID + 16].copy_from_slice(&self.uuid);
        raw[OFF_SET_UUID..OFF_SET_UUID + 16].copy_from_slice(&self.set_uuid);
        raw[OFF_LABEL..OFF_LABEL + SB_LABEL_SIZE].copy_from_slice(&self.label);
        put64(raw, OFF_FLAGS, self.flags);
        put64(raw, OFF_SEQ, self.seq);
        if self.version >= VERSION_CDEV_WITH_FEATURES {
            put64(raw, OFF_FEATURE_COMPAT, self.feature_compat);
            put64(raw, OFF_FEATURE_INCOMPAT, self.feature_incompat);
            put64(raw, OFF_FEATURE_RO_COMPAT, self.feature_ro_compat);
        }
        put64(raw, OFF_NBUCKETS, self.nbuckets);
        put16(raw, OFF_BLOCK_SIZE, self.block_size);
        let (lo, hi) = self.encode_bucket_size();
        put16(raw, OFF_BUCKET_SIZE, lo);
        if hi != 0 {
            put16(raw, OFF_OBSO_BUCKET_SIZE_HI, hi);
        }
        put16(raw, OFF_NR_IN_SET, self.nr_in_set);
        put16(raw, OFF_NR_THIS_DEV, self.nr_this_dev);
        put32(raw, OFF_LAST_MOUNT, self.last_mount);
        put16(raw, OFF_FIRST_BUCKET, self.first_bucket);
        put16(raw, OFF_KEYS, self.njournal_buckets);
        for i in 0..usize::from(self.njournal_buckets) {
            put64(raw, OFF_D + 8 * i, u64::from(self.first_bucket) + i as u64);
        }
        let csum = checksum(raw).ok_or(SbError::JournalBucketsOverflow)?;
        put64(raw, OFF_CSUM, csum);
        Ok(())
    }

    /// Splits the bucket size into the on-disk field and the obsolete high half.
    fn encode_bucket_size(&self) -> (u16, u16) {
        if self.version >= VERSION_CDEV_WITH_FEATURES {
            if self.feature_incompat & FEATURE_INCOMPAT_LOG_LARGE_BUCKET_SIZE != 0 {
                return (self.bucket_size.trailing_zeros() as u16, 0);
            }
            if self.feature_incompat & FEATURE_INCOMPAT_OBSO_LARGE_BUCKET != 0 {
                return (self.bucket_size as u16, (self.bucket_size >> 16) as u16);
            }
        }
        (self.bucket_size as u16, 0)
    }
}

/// One of a superblock's three feature sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FeatureKind {
    Compat,
    RoCompat,
    Incompat,
}

/// The features 6.12 has names for (`features.c`'s `feature_list`).
const FEATURE_NAMES: &[(FeatureKind, u64, &str)] = &[(
    FeatureKind::Incompat,
    FEATURE_INCOMPAT_LOG_LARGE_BUCKET_SIZE,
    "large_bucket",
)];

impl Superblock {
    /// The bits of one feature set.
    pub(crate) fn features(&self, kind: FeatureKind) -> u64 {
        match kind {
            FeatureKind::Compat => self.feature_compat,
            FeatureKind::RoCompat => self.feature_ro_compat,
            FeatureKind::Incompat => self.feature_incompat,
        }
    }
}

/// Displays one feature set as 6.12's `internal/feature_*` files do: every named feature of
/// that kind, space-separated, those whose bit is set in brackets, then a newline; nothing at
/// all for a kind with no named feature.
pub(crate) struct FeaturesDisplay(pub(crate) FeatureKind, pub(crate) u64);

impl fmt::Display for FeaturesDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for &(kind, mask, name) in FEATURE_NAMES {
            if kind != self.0 {
                continue;
            }
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            if self.1 & mask != 0 {
                write!(f, "[{}]", name)?;
            } else {
                f.write_str(name)?;
            }
        }
        if first {
            Ok(())
        } else {
            f.write_str("\n")
        }
    }
}

/// Displays a 16-byte UUID as the kernel's `%pU` does (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`).
pub(crate) struct UuidDisplay<'a>(pub(crate) &'a [u8; 16]);

impl fmt::Display for UuidDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{:02x}", b)?;
        }
        Ok(())
    }
}
