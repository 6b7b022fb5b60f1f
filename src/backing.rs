// SPDX-License-Identifier: GPL-2.0

//! A registered backing device: its [`CachedDev`], its `/dev/bcacheN` and its sysfs directory
//! `/sys/block/<dev>/bcache/` (with `stats_total/`, `stats_five_minute/`, `stats_hour/` and
//! `stats_day/`).
//!
//! `/dev/bcacheN` appears when the device can run: at once if its superblock says it has no
//! cache (state NONE), otherwise when it attaches to its cache set, or when `running` is set
//! (then without its cache: state STALE), as 6.12's `bch_cached_dev_run()`.
//!
//! While attached, the directory and the set's are linked as 6.12 links them (`cache` here,
//! `bdev<slot>` there; [`BackingDev::sync_links`]). The links follow the attachment: made at
//! attach, removed at detach, before the set stops and before this directory goes.
//!
//! Teardown: the links go first, then the sysfs directories, then the disk (which drains its
//! bios), then the cache is released; the backing device closes when the last reference goes.

use core::fmt::Write;
use core::sync::atomic::Ordering;
use kernel::c_str;
use kernel::fmt;
use kernel::prelude::*;
use kernel::sync::{new_mutex, Arc, Mutex};

use crate::cache_set::CacheSet;
use crate::cached_dev::CachedDev;
use crate::flash::alloc_index;
use crate::format::backing::{trim, BdevState, CacheMode};
use crate::format::superblock::{Superblock, UuidDisplay};
use crate::format::units::{parse_size, parse_u32_clamped, parse_u64, DevDisplay, Hprint};
use crate::kabi::bdev::BdevFile;
use crate::kabi::disk::GenDisk;
use crate::kabi::ida::DeviceIndex;
use crate::kabi::sysfs::{AttrOps, Group, ShowBuf, SysfsDir};
use crate::registry::Registry;
use crate::request::{CachedDisk, CachedIo};
use crate::stats::{stats_dirs, StatsDirs};

/// The running disk of a backing device.
struct Running {
    // Held for its lifetime: dropping it deletes the disk and drains its bios; then the
    // number is free again.
    _disk: GenDisk<CachedDisk>,
    _index: DeviceIndex,
}

/// The set whose directory is linked with a backing device's, and the device's slot there.
type Linked = Option<(Arc<CacheSet>, u64)>;

/// A registered backing device.
pub(crate) struct BackingDev {
    // Dropped first: no sysfs callback runs once they are gone.
    stats_dirs: Option<StatsDirs<CachedDev>>,
    dir: Option<SysfsDir<BackingAttrs>>,
    disk: Arc<Mutex<Option<Running>>>,
    /// The set `dir` is linked with. Lock order: before `CacheSet::running`.
    linked: Arc<Mutex<Linked>>,
    dev: Arc<CachedDev>,
}

impl BackingDev {
    /// Registers the opened backing device `bdev` whose superblock is `sb`: its sysfs
    /// directory, and its disk if it runs without a cache.
    pub(crate) fn new(reg: &Arc<Registry>, bdev: BdevFile, sb: Superblock) -> Result<Self> {
        let bdev = Arc::new(bdev, GFP_KERNEL)?;
        let dev = CachedDev::new(bdev.clone(), sb)?;
        let disk = Arc::pin_init(new_mutex!(None, "BackingDev::disk"), GFP_KERNEL)?;
        let dir = SysfsDir::new_under_bdev(
            &bdev,
            c_str!("bcache"),
            Group::Backing,
            BackingAttrs {
                dev: dev.clone(),
                disk: disk.clone(),
                reg: reg.clone(),
            },
        )?;
        let stats_dirs = stats_dirs(&dir, &dev)?;
        let linked = Arc::pin_init(new_mutex!(None, "BackingDev::linked"), GFP_KERNEL)?;
        // Until the device is released (`Drop` takes it back).
        dev.set_stopper(Some(reg.clone()));
        let b = BackingDev {
            stats_dirs: Some(stats_dirs),
            dir: Some(dir),
            disk,
            linked,
            dev,
        };
        if b.dev.state() == BdevState::None {
            b.run()?;
        }
        Ok(b)
    }

    /// Creates the device's `/dev/bcacheN` if it is not there yet, with 6.12's links between
    /// the two sysfs directories (`/sys/block/bcacheN/bcache` and `.../bcache/dev`).
    pub(crate) fn run(&self) -> Result {
        run(&self.dev, &self.disk, self.dir.as_ref())
    }

    /// Makes the links between the sysfs directory and the cache set's follow the attachment:
    /// removes those to a set the device left, makes those to the set it is attached to. A
    /// link that cannot be made is logged; the device stays attached without it.
    pub(crate) fn sync_links(&self) {
        let Some(dir) = self.dir.as_ref() else {
            return;
        };
        let want = self.dev.attached_slot();
        let mut linked = self.linked.lock();
        let same = match (linked.as_ref(), want.as_ref()) {
            (Some((a, x)), Some((b, y))) => Arc::ptr_eq(a, b) && x == y,
            (None, None) => true,
            _ => false,
        };
        if same {
            return;
        }
        if let Some((set, slot)) = linked.take() {
            set.unlink_backing(dir, slot);
        }
        let Some((set, slot)) = want else {
            return;
        };
        match set.link_backing(dir, slot) {
            Ok(()) => *linked = Some((set, slot)),
            Err(e) => {
                // Leave nothing half made.
                set.unlink_backing(dir, slot);
                pr_err!(
                    "backing device {}: cannot link it with cache set {}'s sysfs directory ({})\n",
                    DevDisplay(self.dev.dev()),
                    UuidDisplay(set.set_uuid()),
                    e.to_errno()
                );
            }
        }
    }

    /// Removes the links with `set`'s directory (the set is stopping), or with any set's if
    /// `set` is `None`.
    pub(crate) fn unlink(&self, set: Option<&CacheSet>) {
        let Some(dir) = self.dir.as_ref() else {
            return;
        };
        let mut linked = self.linked.lock();
        let matches = match (linked.as_ref(), set) {
            (Some((l, _)), Some(s)) => core::ptr::eq(&**l, s),
            (Some(_), None) => true,
            (None, _) => false,
        };
        if matches {
            if let Some((l, slot)) = linked.take() {
                l.unlink_backing(dir, slot);
            }
        }
    }

    /// Returns the data offset in sectors: where the cached data starts on the device.
    pub(crate) fn data_offset(&self) -> u64 {
        self.dev.data_offset
    }

    /// Returns the UUID of the cache set this device belongs to.
    pub(crate) fn set_uuid(&self) -> [u8; 16] {
        self.dev.sb().set_uuid
    }

    /// Whether the device is attached to `set`.
    pub(crate) fn is_attached_to(&self, set: &CacheSet) -> bool {
        self.dev
            .attached_set()
            .is_some_and(|s| core::ptr::eq(&*s, set))
    }

    /// Attaches to `set` if it is this device's set (automatic attach at registration).
    pub(crate) fn attach_if_matches(&self, set: &Arc<CacheSet>) {
        if self.dev.attached_set().is_some() || self.set_uuid() != *set.set_uuid() {
            return;
        }
        match self.dev.attach(set) {
            Ok(()) => {
                self.sync_links();
                if let Err(e) = self.run() {
                    pr_err!(
                        "backing device {}: cannot create its bcache device ({})\n",
                        DevDisplay(self.dev.dev()),
                        e.to_errno()
                    );
                }
            }
            Err(e) => pr_err!(
                "backing device {}: attaching to cache set {} failed ({})\n",
                DevDisplay(self.dev.dev()),
                UuidDisplay(set.set_uuid()),
                e.to_errno()
            ),
        }
    }

    /// Releases the device, logging why.
    pub(crate) fn release(self: KBox<Self>, why: &str) {
        let dev = self.dev.dev();
        let uuid = self.dev.sb().uuid;
        drop(self);
        pr_info!(
            "backing device {} ({}) released: {}\n",
            DevDisplay(dev),
            UuidDisplay(&uuid),
            why
        );
    }
}

impl Drop for BackingDev {
    fn drop(&mut self) {
        drop(self.dev.set_stopper(None));
        // The set's link to the directory goes before the directory.
        self.unlink(None);
        drop(self.stats_dirs.take());
        drop(self.dir.take());
        drop(self.disk.lock().take());
        self.dev.release();
    }
}

/// Creates the device's `/dev/bcacheN` if it is not there yet, linked with `dir`.
fn run(
    dev: &Arc<CachedDev>,
    disk: &Mutex<Option<Running>>,
    dir: Option<&SysfsDir<BackingAttrs>>,
) -> Result {
    let mut disk = disk.lock();
    if disk.is_some() {
        return Ok(());
    }
    let index = alloc_index()?;
    let n = index.get();
    let ops = Arc::pin_init(CachedIo::new(dev.clone()), GFP_KERNEL)?;
    // Dropped on an error, the disk is deleted again and the number freed.
    let mut d = GenDisk::new(
        fmt!("bcache{}", n),
        dev.sectors,
        dev.block_bytes,
        false,
        CachedDisk(ops),
    )?;
    let links = match dir {
        Some(dir) => d
            .link_to_dir(c_str!("bcache"), dir)
            .and_then(|()| dir.link_to_disk(c_str!("dev"), &d)),
        None => Ok(()),
    };
    let running = Running {
        _disk: d,
        _index: index,
    };
    if let Err(e) = links {
        pr_err!(
            "backing device {}: cannot link its sysfs directory and /dev/bcache{} ({})\n",
            DevDisplay(dev.dev()),
            n,
            e.to_errno()
        );
        drop(running);
        return Err(e);
    }
    pr_info!(
        "backing device {} is /dev/bcache{}\n",
        DevDisplay(dev.dev()),
        n
    );
    *disk = Some(running);
    Ok(())
}

/// Handlers of `/sys/block/<dev>/bcache/`.
struct BackingAttrs {
    dev: Arc<CachedDev>,
    disk: Arc<Mutex<Option<Running>>>,
    reg: Arc<Registry>,
}

/// Parses a set UUID as `attach` takes it (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`).
fn parse_uuid(input: &[u8]) -> Option<[u8; 16]> {
    let s = trim(input);
    let mut out = [0u8; 16];
    let mut n = 0;
    let mut hi: Option<u8> = None;
    for &c in s {
        if c == b'-' {
            continue;
        }
        let v = (c as char).to_digit(16)? as u8;
        match hi.take() {
            None => hi = Some(v),
            Some(h) => {
                *out.get_mut(n)? = (h << 4) | v;
                n += 1;
            }
        }
    }
    (n == 16 && hi.is_none()).then_some(out)
}

impl AttrOps for BackingAttrs {
    fn show(&self, attr: &[u8], out: &mut ShowBuf<'_>) -> Result {
        let dev = &self.dev;
        match attr {
            b"cache_mode" => {
                let cur = dev.mode();
                for (i, m) in CacheMode::ALL.iter().enumerate() {
                    let sep = if i == 0 { "" } else { " " };
                    if *m == cur {
                        write!(out, "{}[{}]", sep, m.name())
                    } else {
                        write!(out, "{}{}", sep, m.name())
                    }
                    .map_err(|_| EINVAL)?;
                }
                writeln!(out)
            }
            b"backing_dev_name" => writeln!(out, "{}", dev.bdev.name()),
            b"backing_dev_uuid" => writeln!(out, "{}", UuidDisplay(&dev.sb().uuid)),
            b"state" => writeln!(out, "{}", dev.state().name()),
            b"running" => writeln!(out, "{}", u8::from(self.disk.lock().is_some())),
            b"label" => {
                let sb = dev.sb();
                let len = sb.label.iter().position(|&b| b == 0).unwrap_or(32);
                writeln!(out, "{}", kernel::str::BStr::from_bytes(&sb.label[..len]))
            }
            b"sequential_cutoff" => writeln!(out, "{}", Hprint(dev.cutoff() as i64)),
            b"dirty_data" => {
                let dirty = dev.cache().map_or(0, |c| c.io.dirty_sectors(c.inode));
                writeln!(out, "{}", Hprint((dirty << 9) as i64))
            }
            b"data_offset" => writeln!(out, "{}", dev.data_offset),
            b"writeback_running" => {
                writeln!(out, "{}", u8::from(dev.wb.running.load(Ordering::Relaxed)))
            }
            b"writeback_delay" => writeln!(out, "{}", dev.wb.delay_s.load(Ordering::Relaxed)),
            b"writeback_percent" => writeln!(out, "{}", dev.wb.percent.load(Ordering::Relaxed)),
            b"writeback_rate" => writeln!(out, "{}", Hprint((dev.writeback_rate() << 9) as i64)),
            b"writeback_rate_update_seconds" => writeln!(out, "{}", get32(&dev.wb.update_s)),
            b"writeback_rate_p_term_inverse" => writeln!(out, "{}", get32(&dev.wb.p_inv)),
            b"writeback_rate_i_term_inverse" => writeln!(out, "{}", get32(&dev.wb.i_inv)),
            b"writeback_rate_minimum" => writeln!(out, "{}", get32(&dev.wb.minimum)),
            b"writeback_rate_fp_term_low" => writeln!(out, "{}", get32(&dev.wb.fp_term[0])),
            b"writeback_rate_fp_term_mid" => writeln!(out, "{}", get32(&dev.wb.fp_term[1])),
            b"writeback_rate_fp_term_high" => writeln!(out, "{}", get32(&dev.wb.fp_term[2])),
            b"writeback_consider_fragment" => {
                writeln!(out, "{}", getb(&dev.wb.consider_fragment))
            }
            b"writeback_metadata" => writeln!(out, "{}", getb(&dev.wb.metadata)),
            b"readahead_cache_policy" => {
                if dev.policy.readahead_meta_only.load(Ordering::Relaxed) {
                    writeln!(out, "all [meta-only]")
                } else {
                    writeln!(out, "[all] meta-only")
                }
            }
            b"stop_when_cache_set_failed" => {
                if dev.policy.stop_always.load(Ordering::Relaxed) {
                    writeln!(out, "auto [always]")
                } else {
                    writeln!(out, "[auto] always")
                }
            }
            b"io_errors" => writeln!(out, "{}", dev.policy.errors.count()),
            b"io_error_limit" => writeln!(out, "{}", dev.policy.errors.limit()),
            b"io_disable" => writeln!(out, "{}", getb(&dev.policy.io_disable)),
            b"stripe_size" => writeln!(out, "{}", Hprint((dev.stripe << 9) as i64)),
            b"partial_stripes_expensive" => writeln!(out, "0"),
            b"writeback_rate_debug" => {
                let r = dev.rate_state();
                let dirty = dev.cache().map_or(0, |c| c.io.dirty_sectors(c.inode));
                let next_ms = (r.next as i64 - crate::gc::now_ns() as i64) / 1_000_000;
                let w = &dev.wb;
                writeln!(
                    out,
                    "rate:\t\t{}/sec\ndirty:\t\t{}\ntarget:\t\t{}\nproportional:\t{}\n\
                     integral:\t{}\nchange:\t\t{}/sec\nnext io:\t{}ms\n\
                     written:\t{}\nkeys:\t\t{}\nraces:\t\t{}\npasses:\t\t{}",
                    Hprint((dev.writeback_rate() << 9) as i64),
                    Hprint((dirty << 9) as i64),
                    Hprint((r.target << 9) as i64),
                    Hprint(r.proportional.saturating_mul(512)),
                    Hprint(r.integral_scaled.saturating_mul(512)),
                    Hprint(r.change.saturating_mul(512)),
                    next_ms,
                    Hprint((w.sectors.load(Ordering::Relaxed) << 9) as i64),
                    w.keys.load(Ordering::Relaxed),
                    w.races.load(Ordering::Relaxed),
                    w.passes.load(Ordering::Relaxed)
                )
            }
            _ => return Err(EINVAL),
        }
        .map_err(|_| EINVAL)
    }

    fn store(&self, attr: &[u8], input: &[u8]) -> Result {
        let dev = &self.dev;
        match attr {
            b"cache_mode" => {
                let Some(mode) = CacheMode::from_name(input) else {
                    pr_err!(
                        "backing device {}: cache_mode: unknown mode\n",
                        DevDisplay(dev.dev())
                    );
                    return Err(EINVAL);
                };
                dev.set_mode(mode)
            }
            b"sequential_cutoff" => {
                let v = parse_size(input).ok_or(EINVAL)?;
                if v > u64::from(u32::MAX) {
                    return Err(EINVAL);
                }
                dev.set_cutoff(v);
                Ok(())
            }
            b"label" => {
                let label = input.strip_suffix(b"\n").unwrap_or(input);
                if label.len() > 32 {
                    return Err(EINVAL);
                }
                let mut l = [0u8; 32];
                l[..label.len()].copy_from_slice(label);
                dev.write_sb(|sb| sb.label = l)?;
                if let Some(c) = dev.cache() {
                    c.io.set_label(c.inode, label)?;
                }
                Ok(())
            }
            b"attach" => {
                let Some(uuid) = parse_uuid(input) else {
                    pr_err!(
                        "backing device {}: attach: not a cache set UUID\n",
                        DevDisplay(dev.dev())
                    );
                    return Err(EINVAL);
                };
                let set = {
                    let inner = self.reg.lock();
                    inner.find_set(&uuid).cloned()
                };
                let Some(set) = set else {
                    pr_err!(
                        "backing device {}: attach: no cache set {}\n",
                        DevDisplay(dev.dev()),
                        UuidDisplay(&uuid)
                    );
                    return Err(ENOENT);
                };
                if dev.attached_set().is_some() {
                    pr_err!(
                        "backing device {}: attach: already attached\n",
                        DevDisplay(dev.dev())
                    );
                    return Err(EBUSY);
                }
                dev.attach(&set)?;
                self.reg.run_backing(dev.dev())
            }
            b"detach" => self.reg.queue_detach(dev.clone()),
            b"running" => {
                let v = parse_u64(input).ok_or(EINVAL)?;
                if v != 1 {
                    return Err(EINVAL);
                }
                dev.run_without_cache()?;
                self.reg.run_backing(dev.dev())
            }
            b"stop" => self.reg.queue_backing_stop(dev.dev()),
            b"writeback_running" => {
                let v = parse_u64(input).ok_or(EINVAL)?;
                if v > 1 {
                    return Err(EINVAL);
                }
                dev.wb.running.store(v == 1, Ordering::Relaxed);
                if v == 1 {
                    dev.hurry_writeback();
                }
                Ok(())
            }
            b"writeback_delay" => {
                let v = parse_u64(input).ok_or(EINVAL)?;
                let v = u32::try_from(v).map_err(|_| EINVAL)?;
                dev.wb.delay_s.store(v, Ordering::Relaxed);
                dev.hurry_writeback();
                Ok(())
            }
            b"writeback_percent" => {
                let v = parse_u64(input).ok_or(EINVAL)?;
                if v > 40 {
                    return Err(EINVAL);
                }
                dev.wb.percent.store(v as u32, Ordering::Relaxed);
                dev.hurry_writeback();
                Ok(())
            }
            b"writeback_rate" => {
                let v = parse_u64(input).ok_or(EINVAL)?;
                if !(1..=i32::MAX as u64).contains(&v) {
                    return Err(EINVAL);
                }
                dev.set_writeback_rate(v);
                Ok(())
            }
            b"writeback_rate_update_seconds" => set32(&dev.wb.update_s, input, 1, 60),
            b"writeback_rate_p_term_inverse" => set32(&dev.wb.p_inv, input, 1, u32::MAX),
            b"writeback_rate_i_term_inverse" => set32(&dev.wb.i_inv, input, 1, u32::MAX),
            b"writeback_rate_minimum" => set32(&dev.wb.minimum, input, 1, u32::MAX),
            b"writeback_rate_fp_term_low" => dev.set_fp_term(0, parse32(input)?),
            b"writeback_rate_fp_term_mid" => dev.set_fp_term(1, parse32(input)?),
            b"writeback_rate_fp_term_high" => dev.set_fp_term(2, parse32(input)?),
            b"writeback_consider_fragment" => setb(&dev.wb.consider_fragment, input),
            b"writeback_metadata" => setb(&dev.wb.metadata, input),
            b"readahead_cache_policy" => {
                let meta_only = match trim(input) {
                    b"all" => false,
                    b"meta-only" => true,
                    _ => return Err(EINVAL),
                };
                dev.policy
                    .readahead_meta_only
                    .store(meta_only, Ordering::Relaxed);
                Ok(())
            }
            b"stop_when_cache_set_failed" => {
                let always = match trim(input) {
                    b"auto" => false,
                    b"always" => true,
                    _ => return Err(EINVAL),
                };
                dev.policy.stop_always.store(always, Ordering::Relaxed);
                Ok(())
            }
            b"clear_stats" => {
                dev.stats.clear();
                Ok(())
            }
            // Clamped to `0..=i32::MAX`, as 6.12.
            b"io_error_limit" => {
                dev.policy
                    .errors
                    .set_limit(parse_u32_clamped(input).ok_or(EINVAL)?);
                Ok(())
            }
            // Any number; not 0 disables (6.12).
            b"io_disable" => {
                let v = parse_u64(input).ok_or(EINVAL)?;
                dev.policy.io_disable.store(v != 0, Ordering::Relaxed);
                Ok(())
            }
            _ => Err(EINVAL),
        }
    }
}

fn get32(v: &core::sync::atomic::AtomicU32) -> u32 {
    v.load(Ordering::Relaxed)
}

fn getb(v: &core::sync::atomic::AtomicBool) -> u8 {
    u8::from(v.load(Ordering::Relaxed))
}

/// A `u32`; `EINVAL` for anything else.
fn parse32(input: &[u8]) -> Result<u32> {
    let n = parse_u64(input).ok_or(EINVAL)?;
    u32::try_from(n).map_err(|_| EINVAL)
}

/// Stores a boolean (0 or 1) into `v`; `EINVAL` for anything else.
fn setb(v: &core::sync::atomic::AtomicBool, input: &[u8]) -> Result {
    match parse_u64(input).ok_or(EINVAL)? {
        0 => v.store(false, Ordering::Relaxed),
        1 => v.store(true, Ordering::Relaxed),
        _ => return Err(EINVAL),
    }
    Ok(())
}

/// Stores a number in `lo..=hi` into `v`; `EINVAL` for anything else.
fn set32(v: &core::sync::atomic::AtomicU32, input: &[u8], lo: u32, hi: u32) -> Result {
    let n = parse_u64(input).ok_or(EINVAL)?;
    let n = u32::try_from(n).map_err(|_| EINVAL)?;
    if n < lo || n > hi {
        return Err(EINVAL);
    }
    v.store(n, Ordering::Relaxed);
    Ok(())
}
