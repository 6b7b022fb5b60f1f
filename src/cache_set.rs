// SPDX-License-Identifier: GPL-2.0

//! A registered cache set: one cache device, its sysfs directories and its GC thread.
//!
//! In 6.12 a cache set has exactly one cache, so the set is created when its cache device
//! registers. The set holds the device open, owns its data path ([`SetIo`]: index, journal,
//! btree, allocator), exposes `/sys/fs/bcache/<set-uuid>/` and `internal/`, and runs the
//! `bcache_gc` thread.
//!
//! Teardown ([`CacheSet::stop`]) runs on the registry's workqueue (or at module exit), never from
//! one of the set's own sysfs callbacks, in this order: remove the flash volumes' disks (and
//! drain their reads), remove `internal/` and the set directory (which waits for running
//! callbacks), stop the GC thread, close the device.

use core::fmt::Write;
use core::sync::atomic::Ordering;
use kernel::c_str;
use kernel::fmt;
use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::{new_mutex, Arc};

use crate::cached_dev::CachedDev;
use crate::flash::FlashVolume;
use crate::format::alloc::{Policy, Reserve};
use crate::format::backing::BdevState;
use crate::format::congestion::{READ_THRESHOLD_US, WRITE_THRESHOLD_US};
use crate::format::geometry::{Geometry, SetMagic};
use crate::format::superblock::{
    FeatureKind, FeaturesDisplay, Superblock, UuidDisplay, CACHE_DISCARD,
};
use crate::format::units::{parse_size, parse_u32_clamped, parse_u64, trim, DevDisplay, Hprint};
use crate::format::uuid::volume_sectors_ok;
use crate::gc::{Gc, GcThread, Tunable};
use crate::helper_thread::{Helper, HelperThread};
use crate::index::{CACHE_LIMIT_MAX, CACHE_LIMIT_MIN};
use crate::kabi::bdev::BdevFile;
use crate::kabi::noio::{NoIoGuard, NoIoMutex};
use crate::kabi::random::{random_u64, real_seconds};
use crate::kabi::shrinker::Shrinker;
use crate::kabi::sysfs::{AttrOps, Group, ShowBuf, SysfsDir};
use crate::metadata::{SetContents, SetMetadata};
use crate::registry::{Registry, RootAttrs};
use crate::request::{CUTOFF_WRITEBACK, CUTOFF_WRITEBACK_SYNC};
use crate::set_io::{Layout, SetIo};
use crate::stats::{stats_dirs, StatsDirs};

/// Why a cache set is being torn down.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopKind {
    /// `unregister`: detach devices (invalidating their slots), then tear down.
    Unregister,
    /// `stop`, rmmod or an error: tear down without invalidating anything.
    Stop,
}

/// What a running set owns; taken out and dropped, in order, by [`CacheSet::stop`].
struct Running {
    io: Arc<SetIo>,
    volumes: KVVec<Option<VolumeEntry>>,
    internal: SysfsDir<InternalAttrs>,
    stats_dirs: StatsDirs<SetIo>,
    dir: SysfsDir<SetAttrs>,
    cache_dir: SysfsDir<CacheAttrs>,
    gc_thread: GcThread,
    allocator: HelperThread,
    flusher: HelperThread,
    shrinker: Shrinker<SetIo>,
    bdev: Arc<BdevFile>,
}

/// The name of a device's link in the set directory: `bdev<slot>`, `volume<slot>`,
/// `cache<nr_this_dev>`.
fn link_name(prefix: &str, n: u64) -> Result<CString> {
    CString::try_from_fmt(fmt!("{}{}", prefix, n))
}

/// A flash volume with its sysfs directory (dropped first).
struct VolumeEntry {
    // Held for its lifetime only; declared first so it is removed before the disk.
    _dir: SysfsDir<VolumeAttrs>,
    vol: FlashVolume,
    slot: u64,
}

impl VolumeEntry {
    fn new(
        set: &Arc<CacheSet>,
        reg: &Arc<Registry>,
        vol: FlashVolume,
        slot: u64,
        sectors: u64,
        set_dir: &SysfsDir<SetAttrs>,
    ) -> Result<Self> {
        let disk = vol.disk();
        let dir = SysfsDir::new_under_disk(
            disk,
            c_str!("bcache"),
            Group::Volume,
            VolumeAttrs {
                set: set.clone(),
                reg: reg.clone(),
                slot,
                sectors,
            },
        )?;
        // 6.12's `bcache_device_link()`: `volume<slot>` in the set directory and `cache` in
        // the volume's; a failure is logged and the volume runs without them.
        let name = link_name("volume", slot)?;
        let linked = dir
            .link_to_dir(c_str!("cache"), set_dir)
            .and_then(|()| set_dir.link_to_dir(&name, &dir));
        if let Err(e) = linked {
            pr_err!(
                "flash volume {} (/dev/bcache{}): cannot link it with its cache set's sysfs directory ({})\n",
                slot,
                vol.index(),
                e.to_errno()
            );
        }
        Ok(VolumeEntry {
            _dir: dir,
            vol,
            slot,
        })
    }

    /// Removes the set directory's `volume<slot>` link (before the volume's directory goes).
    fn unlink(&self, set_dir: &SysfsDir<SetAttrs>) {
        if let Ok(name) = link_name("volume", self.slot) {
            set_dir.remove_link(&name);
        }
    }
}

/// A cache set.
#[pin_data]
pub(crate) struct CacheSet {
    sb: Superblock,
    meta: SetMetadata,
    dev: u32,
    gc: Arc<Gc>,
    // `running` and `cached` are taken under `CachedDev::link`, which `submit_bio` takes:
    // held only inside a no-IO scope ([`NoIoMutex`]).
    #[pin]
    running: NoIoMutex<Option<Running>>,
    /// Backing devices attached to the set. An attach holds it from before its first write
    /// to the set until it is recorded here ([`CacheSet::begin_attach`]).
    #[pin]
    cached: NoIoMutex<Attachments>,
}

/// The backing devices attached to a set, and whether it still takes new ones.
struct Attachments {
    devs: KVec<Arc<CachedDev>>,
    /// The set is stopping: nothing attaches any more ([`CacheSet::close`]).
    closed: bool,
}

/// An attach to a set in progress, admitted by [`CacheSet::begin_attach`]: until it is
/// recorded ([`Admission::admit`]) or dropped (the attach failed), it holds the set's list of
/// attached devices locked, with room for one more, so the set cannot close meanwhile.
pub(crate) struct Admission<'a>(NoIoGuard<'a, Attachments>);

impl Admission<'_> {
    /// Records `dev` as attached.
    pub(crate) fn admit(mut self, dev: Arc<CachedDev>) {
        // Cannot fail: `begin_attach` made room.
        let _ = self.0.devs.push(dev, GFP_KERNEL);
    }
}

impl CacheSet {
    /// Starts a cache set on the opened cache device `bdev` whose superblock is `sb`.
    ///
    /// `parent` is `/sys/fs/bcache/`, under which the set's directory is created.
    pub(crate) fn start(
        reg: &Arc<Registry>,
        parent: &SysfsDir<RootAttrs>,
        bdev: BdevFile,
        sb: Superblock,
        contents: SetContents,
    ) -> Result<Arc<Self>> {
        let SetContents {
            meta,
            volumes: volume_list,
            data,
        } = contents;
        let bdev = Arc::new(bdev, GFP_KERNEL)?;
        let cache_sectors = u64::from(sb.bucket_size).saturating_mul(sb.nbuckets);
        let gc = Arc::pin_init(Gc::new(cache_sectors), GFP_KERNEL)?;
        let dev = bdev.dev();
        let set_gc = gc.clone();
        let set = Arc::pin_init(
            pin_init!(Self {
                dev,
                sb,
                meta,
                gc: set_gc,
                running <- NoIoMutex::new(new_mutex!(None, "CacheSet::running")),
                cached <- NoIoMutex::new(new_mutex!(
                    Attachments { devs: KVec::new(), closed: false },
                    "CacheSet::cached"
                )),
            }),
            GFP_KERNEL,
        )?;

        let name = CString::try_from_fmt(fmt!("{}", UuidDisplay(&set.sb.set_uuid)))?;
        let dir = SysfsDir::new_child(
            parent,
            &name,
            Group::Set,
            SetAttrs {
                set: set.clone(),
                reg: reg.clone(),
            },
        )?;
        let internal = SysfsDir::new_child(
            &dir,
            c_str!("internal"),
            Group::Internal,
            InternalAttrs {
                set: set.clone(),
                gc: gc.clone(),
                meta,
            },
        )?;
        let block_bytes = u32::from(set.sb.block_size) << 9;
        let g = Geometry::new(&set.sb);
        let magic = SetMagic::new(&set.sb.set_uuid);
        let njournal = u64::from(set.sb.njournal_buckets);
        let mut fifo_sizes = [0usize; 5];
        fifo_sizes[Reserve::Btree as usize] = g.btree_reserve_size(njournal) as usize;
        fifo_sizes[Reserve::Prio as usize] = g.prio_buckets as usize;
        fifo_sizes[Reserve::MovingGc as usize] = g.free_fifo_size() as usize;
        fifo_sizes[Reserve::None as usize] = g.free_fifo_size() as usize;
        fifo_sizes[4] = g.free_inc_size() as usize;
        let layout = Layout {
            bucket_size: u64::from(set.sb.bucket_size),
            nbuckets: set.sb.nbuckets,
            first_bucket: u64::from(set.sb.first_bucket),
            njournal,
            block_bytes: block_bytes as usize,
            node_sectors: g.btree_sectors(),
            meta_bucket_bytes: g.meta_bucket_bytes() as usize,
            prio_buckets: g.prio_buckets,
            dev_idx: usize::from(set.sb.nr_this_dev).min(7),
            bset_magic: magic.bset(),
            pset_magic: magic.pset(),
            policy: Policy::from_sb((set.sb.flags >> 2) & 7),
            fifo_sizes,
        };
        let io = SetIo::new(bdev.clone(), set.gc.clone(), layout, data, set.sb.clone())?;
        match io.upgrade_uuids() {
            Ok(true) => pr_info!(
                "cache set {}: converted a pre-version-1 uuid table\n",
                UuidDisplay(&set.sb.set_uuid)
            ),
            Ok(false) => {}
            Err(e) => {
                pr_err!(
                    "cache set {}: cannot rewrite the pre-version-1 uuid table ({})\n",
                    UuidDisplay(&set.sb.set_uuid),
                    e.to_errno()
                );
                return Err(e);
            }
        }
        let stats_dirs = stats_dirs(&dir, &io)?;
        // A failed set unregisters as if asked to (6.12's `bch_cache_set_error()`).
        let (fail_reg, fail_set) = (reg.clone(), set.clone());
        let gc_thread = GcThread::start(gc, io.clone(), move || {
            if fail_reg.queue_stop(fail_set, StopKind::Unregister).is_err() {
                pr_err!("a failed cache set could not be unregistered\n");
            }
        })?;
        let allocator = HelperThread::start(io.clone(), Helper::Allocator)?;
        let flusher = HelperThread::start(io.clone(), Helper::Journal)?;
        let shrinker = Shrinker::register(c_str!("rbcache-btree"), io.clone())?;
        let mut volumes = KVVec::with_capacity(volume_list.len(), GFP_KERNEL)?;
        for &(slot, sectors) in volume_list.iter() {
            // A volume that cannot start is left out (its slot and data stay as they are):
            // the set and its other volumes run.
            let started = FlashVolume::new(slot, sectors, block_bytes, io.clone())
                .and_then(|v| VolumeEntry::new(&set, reg, v, slot, sectors, &dir));
            match started {
                Ok(entry) => {
                    pr_info!(
                        "flash volume {} of set {} ({} sectors) is /dev/bcache{}\n",
                        slot,
                        UuidDisplay(&set.sb.set_uuid),
                        sectors,
                        entry.vol.index()
                    );
                    // Cannot fail: the capacity is there.
                    volumes.push(Some(entry), GFP_KERNEL)?;
                }
                Err(_) if !volume_sectors_ok(sectors) => pr_err!(
                    "cache device {}: flash volume {} of set {} not started: its size, {} sectors, is 0 or more than a block device can hold\n",
                    bdev.name(),
                    slot,
                    UuidDisplay(&set.sb.set_uuid),
                    sectors
                ),
                Err(e) => pr_err!(
                    "cache device {}: flash volume {} of set {} ({} sectors) not started ({})\n",
                    bdev.name(),
                    slot,
                    UuidDisplay(&set.sb.set_uuid),
                    sectors,
                    e.to_errno()
                ),
            }
        }
        let cache_dir = SysfsDir::new_under_bdev(
            &bdev,
            c_str!("bcache"),
            Group::Cache,
            CacheAttrs {
                sb: set.sb.clone(),
                set: set.clone(),
            },
        )?;
        // 6.12's `register_cache_set()`: `set` in the cache's directory, `cache<n>` in the
        // set's; a failure is logged and the set runs without them.
        let cache_name = link_name("cache", u64::from(set.sb.nr_this_dev))?;
        let linked = cache_dir
            .link_to_dir(c_str!("set"), &dir)
            .and_then(|()| dir.link_to_dir(&cache_name, &cache_dir));
        if let Err(e) = linked {
            pr_err!(
                "cache device {}: cannot link it with cache set {}'s sysfs directory ({})\n",
                DevDisplay(dev),
                UuidDisplay(&set.sb.set_uuid),
                e.to_errno()
            );
        }
        *set.running.lock() = Some(Running {
            io,
            volumes,
            internal,
            stats_dirs,
            dir,
            cache_dir,
            gc_thread,
            allocator,
            flusher,
            shrinker,
            bdev,
        });
        Ok(set)
    }

    /// `flash_vol_create`: creates a flash-only volume of `sectors` and its `/dev/bcacheN`.
    ///
    /// The volume's uuid slot is written first (as in 6.12); if the volume then cannot start,
    /// the slot is given back: emptied again if its disk never appeared, invalidated (as an
    /// unregistered volume's) if it did.
    pub(crate) fn create_flash_volume(
        self: &Arc<Self>,
        reg: &Arc<Registry>,
        sectors: u64,
    ) -> Result {
        let mut running = self.running.lock();
        let running = running.as_mut().ok_or(EINTR)?;
        // Room first: once linked, the entry must not be dropped by a failed push.
        running.volumes.reserve(1, GFP_KERNEL)?;
        let mut uuid = [0u8; 16];
        uuid[..8].copy_from_slice(&random_u64().to_le_bytes());
        uuid[8..].copy_from_slice(&random_u64().to_le_bytes());
        let claimed = running.io.create_volume(sectors, uuid, real_seconds())?;
        let slot = claimed.slot;
        let block_bytes = u32::from(self.sb.block_size) << 9;
        let v = match FlashVolume::new(slot, sectors, block_bytes, running.io.clone()) {
            Ok(v) => v,
            Err(e) => {
                let undone = running.io.unclaim_volume(&claimed);
                self.volume_not_created(slot, e, undone, "empty again");
                return Err(e);
            }
        };
        let index = v.index();
        // On an error the volume is dropped inside: its disk is gone, its IO drained.
        let entry = match VolumeEntry::new(self, reg, v, slot, sectors, &running.dir) {
            Ok(entry) => entry,
            Err(e) => {
                let undone = running.io.invalidate_volume(slot, real_seconds());
                self.volume_not_created(slot, e, undone, "invalidated");
                return Err(e);
            }
        };
        pr_info!(
            "created flash volume {} of set {} ({} sectors) as /dev/bcache{}\n",
            slot,
            UuidDisplay(&self.sb.set_uuid),
            sectors,
            index
        );
        // Cannot fail: the capacity is there.
        running.volumes.push(Some(entry), GFP_KERNEL)?;
        Ok(())
    }

    /// Logs a `flash_vol_create` whose volume could not start (`e`), and how its uuid slot was
    /// given back (`undone`: the table written with the slot `how`).
    fn volume_not_created(&self, slot: u64, e: Error, undone: Result, how: &str) {
        match undone {
            Ok(()) => pr_err!(
                "cache set {}: flash volume {} cannot start ({}); its uuid slot is {}\n",
                UuidDisplay(&self.sb.set_uuid),
                slot,
                e.to_errno(),
                how
            ),
            Err(e2) => pr_err!(
                "cache set {}: flash volume {} cannot start ({}), and writing its uuid slot {} failed ({}): the volume stays in the table\n",
                UuidDisplay(&self.sb.set_uuid),
                slot,
                e.to_errno(),
                how,
                e2.to_errno()
            ),
        }
    }

    /// A flash volume's `unregister`: removes its disk (waiting for its IO), then invalidates its
    /// uuid slot. Runs from the registry's workqueue.
    pub(crate) fn unregister_volume(&self, slot: u64) {
        let (entry, io) = {
            let mut running = self.running.lock();
            let Some(running) = running.as_mut() else {
                return;
            };
            let found = running
                .volumes
                .iter_mut()
                .find(|e| e.as_ref().is_some_and(|e| e.slot == slot))
                .and_then(Option::take);
            if let Some(entry) = found.as_ref() {
                entry.unlink(&running.dir);
            }
            (found, running.io.clone())
        };
        let Some(entry) = entry else {
            return;
        };
        let index = entry.vol.index();
        drop(entry);
        match io.invalidate_volume(slot, real_seconds()) {
            Ok(()) => pr_info!(
                "flash volume {} (/dev/bcache{}) unregistered\n",
                slot,
                index
            ),
            Err(e) => pr_err!(
                "flash volume {} (/dev/bcache{}): invalidating its uuid slot failed ({})\n",
                slot,
                index,
                e.to_errno()
            ),
        }
    }

    /// The data path, while the set runs.
    pub(crate) fn io(&self) -> Option<Arc<SetIo>> {
        self.running.lock().as_ref().map(|r| r.io.clone())
    }

    /// The cache's block size in sectors.
    pub(crate) fn block_sectors(&self) -> u16 {
        self.sb.block_size
    }

    /// Links the sysfs directory `dev_dir` of an attached backing device with the set's, as
    /// 6.12's `bcache_device_link()`: `cache` in `dev_dir` and `bdev<slot>` in the set's.
    pub(crate) fn link_backing<A: AttrOps>(&self, dev_dir: &SysfsDir<A>, slot: u64) -> Result {
        let name = link_name("bdev", slot)?;
        let running = self.running.lock();
        let running = running.as_ref().ok_or(EINTR)?;
        dev_dir.link_to_dir(c_str!("cache"), &running.dir)?;
        running.dir.link_to_dir(&name, dev_dir)
    }

    /// Removes the links [`CacheSet::link_backing`] made (those that are there).
    pub(crate) fn unlink_backing<A: AttrOps>(&self, dev_dir: &SysfsDir<A>, slot: u64) {
        dev_dir.remove_link(c_str!("cache"));
        let Ok(name) = link_name("bdev", slot) else {
            return;
        };
        if let Some(running) = self.running.lock().as_ref() {
            running.dir.remove_link(&name);
        }
    }

    /// Starts an attach of a backing device to the set, before anything is written to it:
    /// `None` once the set is stopping ([`CacheSet::close`]). The attach then records the
    /// device with [`Admission::admit`]; until then `close` waits, so a stop either finds the
    /// device attached or has it refused. (6.12 refuses an attach once the set is
    /// `CACHE_SET_STOPPING`.)
    pub(crate) fn begin_attach(&self) -> Result<Option<Admission<'_>>> {
        let mut cached = self.cached.lock();
        if cached.closed {
            return Ok(None);
        }
        cached.devs.reserve(1, GFP_KERNEL)?;
        Ok(Some(Admission(cached)))
    }

    /// Refuses every attach from now on (the set is stopping), waiting for one in progress
    /// to finish: from then on the set's attached devices are all there are.
    pub(crate) fn close(&self) {
        self.cached.lock().closed = true;
    }

    /// Closes the set ([`CacheSet::close`]) and takes its attached devices out of it.
    fn take_cached(&self) -> KVec<Arc<CachedDev>> {
        let mut cached = self.cached.lock();
        cached.closed = true;
        core::mem::replace(&mut cached.devs, KVec::new())
    }

    /// Sectors of all attached backing devices (each one's share of the writeback target).
    pub(crate) fn cached_sectors(&self) -> u64 {
        self.cached.lock().devs.iter().map(|d| d.sectors).sum()
    }

    /// Forgets an attached backing device.
    pub(crate) fn remove_cached(&self, dev: &CachedDev) {
        let mut cached = self.cached.lock();
        let mut keep = KVec::with_capacity(cached.devs.len(), GFP_KERNEL);
        if let Ok(keep) = keep.as_mut() {
            for d in cached.devs.iter() {
                if !core::ptr::eq(&**d, dev) {
                    // Cannot fail: the capacity is there.
                    let _ = keep.push(d.clone(), GFP_KERNEL);
                }
            }
        }
        if let Ok(keep) = keep {
            cached.devs = keep;
        }
    }

    /// Returns the set's UUID.
    pub(crate) fn set_uuid(&self) -> &[u8; 16] {
        &self.sb.set_uuid
    }

    /// Returns the cache device's number.
    pub(crate) fn dev(&self) -> u32 {
        self.dev
    }

    /// `unregister`'s first step: detaches every backing device attached to the set, as 6.12
    /// does. Leaves attached, for the registry to stop, each device that must not run
    /// without its cache: one whose dirty data could not be written back (its superblock
    /// stays dirty, the data stays in the cache), and, if the set has failed (`io_disable`),
    /// as 6.12's `conditional_stop_bcache_device()`, one whose `stop_when_cache_set_failed` is
    /// `always`, or `auto` with dirty data (no writeback is tried from a failed cache; its
    /// IO fails until it is stopped).
    pub(crate) fn detach_all(&self) {
        let failed = self.gc.io_disabled();
        let cached = self.take_cached();
        for dev in cached.iter() {
            let name = DevDisplay(dev.dev());
            if failed && dev.policy.stop_always.load(Ordering::Relaxed) {
                pr_warn!(
                    "backing device {}: stop_when_cache_set_failed is always: stopping it with its failed cache set\n",
                    name
                );
                continue;
            }
            if failed && dev.state() == BdevState::Dirty {
                pr_warn!(
                    "backing device {}: stop_when_cache_set_failed is auto and it has dirty data: stopping it with its failed cache set, which keeps the data\n",
                    name
                );
                continue;
            }
            let Err(e) = dev.detach() else {
                continue;
            };
            if dev.attached_set().is_some() {
                pr_err!(
                    "backing device {}: dirty data could not be written back ({}): stopping it with its cache set, which keeps the data\n",
                    name,
                    e.to_errno()
                );
            }
        }
    }

    /// Tears the set down; later calls do nothing.
    ///
    /// Must not be called from one of the set's sysfs callbacks (it waits for them).
    pub(crate) fn stop(&self, kind: StopKind) {
        // Backing devices first, while the set still works. For `unregister` the registry
        // has detached them ([`CacheSet::detach_all`]) and stopped those that could not be;
        // for the set's `stop` file it has stopped them (`Registry::remove_and_stop`); at
        // module exit and `pendings_cleanup` they are released here, and their disks go with
        // the module.
        // Closed first: an attach in progress finishes (and is released here) or is refused.
        let cached = self.take_cached();
        for dev in cached.iter() {
            dev.release();
        }
        drop(cached);
        let Some(running) = self.running.lock().take() else {
            return;
        };
        let Running {
            io,
            volumes,
            internal,
            stats_dirs,
            dir,
            cache_dir,
            gc_thread,
            allocator,
            flusher,
            shrinker,
            bdev,
        } = running;
        // No more reclaim callbacks into the set.
        drop(shrinker);
        // Links before the directories they point at.
        for entry in volumes.iter().flatten() {
            entry.unlink(&dir);
        }
        cache_dir.remove_link(c_str!("set"));
        if let Ok(name) = link_name("cache", u64::from(self.sb.nr_this_dev)) {
            dir.remove_link(&name);
        }
        // Volumes first: their disks go away and their IO drains before the cache closes.
        drop(volumes);
        drop(internal);
        drop(stats_dirs);
        drop(dir);
        drop(cache_dir);
        drop(gc_thread);
        drop(allocator);
        // Last writer gone: the journal thread stops and writes what is pending.
        drop(flusher);
        drop(io);
        drop(bdev);
        let what = match kind {
            StopKind::Unregister => "unregistered",
            StopKind::Stop => "stopped",
        };
        pr_info!("Cache set {} {}\n", UuidDisplay(&self.sb.set_uuid), what);
    }
}

/// Handlers of `/sys/fs/bcache/<set-uuid>/`.
struct SetAttrs {
    set: Arc<CacheSet>,
    reg: Arc<Registry>,
}

impl AttrOps for SetAttrs {
    fn show(&self, attr: &[u8], out: &mut ShowBuf<'_>) -> Result {
        let sb = &self.set.sb;
        match attr {
            b"block_size" => writeln!(out, "{}", Hprint(i64::from(sb.block_size) << 9)),
            b"bucket_size" => writeln!(out, "{}", Hprint(i64::from(sb.bucket_size) << 9)),
            b"synchronous" => writeln!(
                out,
                "{}",
                u8::from(
                    self.set
                        .io()
                        .map_or(sb.is_synchronous(), |io| io.synchronous())
                )
            ),
            b"tree_depth" => writeln!(
                out,
                "{}",
                self.set
                    .io()
                    .map_or(self.set.meta.root_level, |io| io.tree_depth())
            ),
            b"cache_available_percent" => {
                let percent = self.set.io().map_or(0, |io| io.available_percent());
                writeln!(out, "{}", percent)
            }
            b"btree_cache_size" => {
                let bytes = self.set.io().map_or(0, |io| io.index_bytes());
                writeln!(out, "{}", Hprint(bytes as i64))
            }
            b"root_usage_percent" => writeln!(
                out,
                "{}",
                self.set.io().map_or(0, |io| io.root_usage_percent())
            ),
            b"journal_delay_ms" => writeln!(
                out,
                "{}",
                self.set.io().map_or(0, |io| io.journal_delay_ms())
            ),
            b"average_key_size" => {
                let bytes = self.set.io().map_or(0, |io| io.average_key_bytes());
                writeln!(out, "{}", Hprint(bytes as i64))
            }
            b"congested" => {
                let sectors = self.set.io().map_or(0, |io| io.congested());
                writeln!(out, "{}", Hprint(i64::from(sectors) << 9))
            }
            b"congested_read_threshold_us" => writeln!(
                out,
                "{}",
                self.set
                    .io()
                    .map_or(READ_THRESHOLD_US, |io| io.congestion.read_threshold_us())
            ),
            b"congested_write_threshold_us" => writeln!(
                out,
                "{}",
                self.set
                    .io()
                    .map_or(WRITE_THRESHOLD_US, |io| io.congestion.write_threshold_us())
            ),
            // A failing set always unregisters: rbcache does not offer 6.12's `panic`.
            b"errors" => writeln!(out, "[unregister]"),
            b"io_error_limit" => writeln!(out, "{}", self.set.io().ok_or(EIO)?.io_errors.limit()),
            b"io_error_halflife" => {
                writeln!(out, "{}", self.set.io().ok_or(EIO)?.io_errors.halflife())
            }
            _ => return Err(EINVAL),
        }
        .map_err(|_| EINVAL)
    }

    fn store(&self, attr: &[u8], input: &[u8]) -> Result {
        let kind = match attr {
            b"unregister" => StopKind::Unregister,
            b"stop" => StopKind::Stop,
            b"flash_vol_create" => {
                let bytes = parse_size(input).ok_or(EINVAL)?;
                let sectors = bytes >> 9;
                if !volume_sectors_ok(sectors) {
                    return Err(EINVAL);
                }
                return self.set.create_flash_volume(&self.reg, sectors);
            }
            b"journal_delay_ms" => {
                let ms = parse_u64(input).ok_or(EINVAL)?;
                return self.set.io().ok_or(EIO)?.set_journal_delay_ms(ms);
            }
            b"congested_read_threshold_us" => {
                let us = parse_u32_clamped(input).ok_or(EINVAL)?;
                self.set
                    .io()
                    .ok_or(EIO)?
                    .congestion
                    .set_read_threshold_us(us);
                return Ok(());
            }
            b"congested_write_threshold_us" => {
                let us = parse_u32_clamped(input).ok_or(EINVAL)?;
                self.set
                    .io()
                    .ok_or(EIO)?
                    .congestion
                    .set_write_threshold_us(us);
                return Ok(());
            }
            b"errors" => {
                if trim(input) == b"unregister" {
                    return Ok(());
                }
                if trim(input) == b"panic" {
                    pr_err!(
                        "cache set {}: errors: panic is not supported; a failing set unregisters\n",
                        UuidDisplay(self.set.set_uuid())
                    );
                }
                return Err(EINVAL);
            }
            // Clamped to `u32`, as 6.12's `sysfs_strtoul_clamp`.
            b"io_error_limit" => {
                let v = parse_u32_clamped(input).ok_or(EINVAL)?;
                self.set.io().ok_or(EIO)?.io_errors.set_limit(v);
                return Ok(());
            }
            b"io_error_halflife" => {
                let v = parse_u32_clamped(input).ok_or(EINVAL)?;
                self.set.io().ok_or(EIO)?.io_errors.set_halflife(v);
                return Ok(());
            }
            b"synchronous" => {
                let v = parse_u64(input).ok_or(EINVAL)?;
                if v > 1 {
                    return Err(EINVAL);
                }
                return self.set.io().ok_or(EIO)?.set_synchronous(v == 1);
            }
            // 6.12 also zeroes its GC statistics here, `in_use` among them, which the IO path
            // decides by; rbcache leaves those to the next GC.
            b"clear_stats" => {
                let io = self.set.io().ok_or(EIO)?;
                io.accounting.clear();
                let s = &io.stats;
                s.writeback_keys_done.store(0, Ordering::Relaxed);
                s.writeback_keys_failed.store(0, Ordering::Relaxed);
                return Ok(());
            }
            _ => return Err(EINVAL),
        };
        self.reg.queue_stop(self.set.clone(), kind)
    }
}

/// Handlers of `/sys/fs/bcache/<set-uuid>/internal/`.
struct InternalAttrs {
    set: Arc<CacheSet>,
    gc: Arc<Gc>,
    meta: SetMetadata,
}

impl AttrOps for InternalAttrs {
    fn show(&self, attr: &[u8], out: &mut ShowBuf<'_>) -> Result {
        let gc = &self.gc;
        let c = gc.counters();
        match attr {
            b"btree_gc_average_duration_ms" => {
                writeln!(out, "{}", gc.times().average_duration_ms())
            }
            b"btree_gc_average_frequency_sec" => {
                writeln!(out, "{}", gc.times().average_frequency_sec())
            }
            b"btree_gc_last_sec" => writeln!(out, "{}", gc.times().last_sec(crate::gc::now_ns())),
            b"btree_gc_max_duration_ms" => writeln!(out, "{}", gc.times().max_duration_ms()),
            b"gc_passes" => writeln!(out, "{}", c.passes),
            b"gc_running" => writeln!(out, "{}", u8::from(c.running)),
            b"gc_wakeups_sysfs" => writeln!(out, "{}", c.wakeups_sysfs),
            b"gc_wakeups_allocator" => writeln!(out, "{}", c.wakeups_allocator),
            b"gc_wakeups_write" => writeln!(out, "{}", c.wakeups_write),
            b"gc_wakeups_writeback" => writeln!(out, "{}", c.wakeups_writeback),
            b"gc_wakeups_full" => writeln!(out, "{}", c.wakeups_full),
            b"gc_after_writeback" => writeln!(out, "{}", gc.after_writeback()),
            b"io_disable" => writeln!(out, "{}", u8::from(gc.io_disabled())),
            b"btree_nodes" => writeln!(
                out,
                "{}",
                self.set
                    .io()
                    .map_or(self.meta.btree_nodes, |io| io.tree_nodes())
            ),
            b"active_journal_entries" => writeln!(out, "{}", self.meta.journal_live),
            b"cutoff_writeback" => writeln!(out, "{}", CUTOFF_WRITEBACK),
            b"cutoff_writeback_sync" => writeln!(out, "{}", CUTOFF_WRITEBACK_SYNC),
            b"feature_compat" | b"feature_ro_compat" | b"feature_incompat" => {
                let kind = match attr {
                    b"feature_compat" => FeatureKind::Compat,
                    b"feature_ro_compat" => FeatureKind::RoCompat,
                    _ => FeatureKind::Incompat,
                };
                write!(out, "{}", FeaturesDisplay(kind, self.set.sb.features(kind)))
            }
            b"idle_max_writeback_rate" => writeln!(out, "{}", u8::from(gc.idle_max_rate())),
            b"copy_gc_enabled" => writeln!(out, "{}", u8::from(gc.copy_gc_enabled())),
            b"gc_yield_ms" => writeln!(out, "{}", gc.tunable(Tunable::YieldMs)),
            b"gc_step_keys" => writeln!(out, "{}", gc.tunable(Tunable::StepKeys)),
            b"moving_gc_batch" => writeln!(out, "{}", gc.tunable(Tunable::MoveBatch)),
            b"gc_yields" => writeln!(out, "{}", c.yields),
            b"gc_last_nodes" => writeln!(out, "{}", c.last_nodes),
            b"gc_last_keys" => writeln!(out, "{}", c.last_keys),
            b"gc_last_free_buckets" => writeln!(out, "{}", c.last_free),
            b"gc_last_coalesced" => writeln!(out, "{}", c.last_coalesced),
            b"gc_last_rewritten" => writeln!(out, "{}", c.last_rewritten),
            b"gc_aborted" => writeln!(out, "{}", c.aborted),
            b"moving_gc_keys" => writeln!(out, "{}", c.moved_keys),
            b"moving_gc_sectors" => writeln!(out, "{}", c.moved_sectors),
            b"moving_gc_races" => writeln!(out, "{}", c.move_races),
            b"moving_gc_buckets_freed" => writeln!(out, "{}", c.move_freed),
            b"btree_cache_limit" => writeln!(out, "{}", self.set.io().ok_or(EIO)?.cache_limit()),
            b"btree_cache_loads" => {
                writeln!(out, "{}", self.set.io().ok_or(EIO)?.cache_stats().loads)
            }
            b"btree_cache_evictions" => {
                writeln!(out, "{}", self.set.io().ok_or(EIO)?.cache_stats().evictions)
            }
            b"gc_check" => {
                let (checked, bad) = self.set.io().ok_or(EIO)?.check_marks()?;
                writeln!(out, "checked {} mismatches {}", checked, bad)
            }
            _ => {
                let io = self.set.io().ok_or(EIO)?;
                let s = &io.stats;
                let v = match attr {
                    b"root_writes" => &s.tree_flushes,
                    b"btree_nodes_written" => &s.nodes_written,
                    b"prio_writes" => &s.prio_writes,
                    b"buckets_invalidated" => &s.invalidated,
                    b"gen_wraps" => &s.gen_wraps,
                    // 6.12's name for the same count.
                    b"read_races" | b"cache_read_races" => &s.read_races,
                    b"fast_read_retries" => &s.fast_read_retries,
                    b"fast_writes" => &s.fast_writes,
                    b"empty_invalidations" => &s.empty_invalidations,
                    b"read_errors_recovered" => &s.read_errors_recovered,
                    b"journal_flushes" => &s.journal_flushes,
                    b"journal_writes" => &s.journal_writes,
                    b"shrinker_scans" => &s.shrinker_scans,
                    b"shrinker_evictions" => &s.shrinker_evictions,
                    b"reclaim" => &s.journal_reclaims,
                    b"reclaimed_journal_buckets" => &s.journal_buckets_reclaimed,
                    b"flush_write" => &s.journal_flush_writes,
                    b"writeback_keys_done" => &s.writeback_keys_done,
                    b"writeback_keys_failed" => &s.writeback_keys_failed,
                    _ => return Err(EINVAL),
                };
                writeln!(out, "{}", v.load(core::sync::atomic::Ordering::Relaxed))
            }
        }
        .map_err(|_| EINVAL)
    }

    fn store(&self, attr: &[u8], input: &[u8]) -> Result {
        match attr {
            b"trigger_gc" => {
                self.gc.force_wake();
                Ok(())
            }
            b"io_disable" => {
                let v = parse_u64(input).ok_or(EINVAL)?;
                self.gc.set_io_disable(v != 0).inspect_err(|_| {
                    pr_err!(
                        "cache set {}: io_disable stays 1: the set has failed\n",
                        UuidDisplay(&self.set.sb.set_uuid)
                    )
                })
            }
            b"gc_yield_ms" | b"gc_step_keys" | b"moving_gc_batch" => {
                let t = match attr {
                    b"gc_yield_ms" => Tunable::YieldMs,
                    b"gc_step_keys" => Tunable::StepKeys,
                    _ => Tunable::MoveBatch,
                };
                self.gc.set_tunable(t, parse_u64(input).ok_or(EINVAL)?)
            }
            b"btree_cache_limit" => {
                let v = parse_u64(input).ok_or(EINVAL)?;
                let v = usize::try_from(v).map_err(|_| EINVAL)?;
                if !(CACHE_LIMIT_MIN..=CACHE_LIMIT_MAX).contains(&v) {
                    return Err(EINVAL);
                }
                self.set.io().ok_or(EIO)?.set_cache_limit(v)
            }
            b"copy_gc_enabled" | b"gc_after_writeback" | b"idle_max_writeback_rate" => {
                let v = parse_u64(input).ok_or(EINVAL)?;
                if v > 1 {
                    return Err(EINVAL);
                }
                match attr {
                    b"copy_gc_enabled" => self.gc.set_copy_gc_enabled(v != 0),
                    b"gc_after_writeback" => self.gc.set_after_writeback(v != 0),
                    _ => self.gc.set_idle_max_rate(v != 0),
                }
                Ok(())
            }
            _ => Err(EINVAL),
        }
    }
}

/// Handlers of `/sys/block/<cache device>/bcache/`.
struct CacheAttrs {
    sb: Superblock,
    set: Arc<CacheSet>,
}

impl AttrOps for CacheAttrs {
    fn show(&self, attr: &[u8], out: &mut ShowBuf<'_>) -> Result {
        let sb = &self.sb;
        match attr {
            b"bucket_size" => writeln!(out, "{}", Hprint(i64::from(sb.bucket_size) << 9)),
            b"block_size" => writeln!(out, "{}", Hprint(i64::from(sb.block_size) << 9)),
            b"nbuckets" => writeln!(out, "{}", sb.nbuckets),
            b"discard" => writeln!(out, "{}", u8::from(sb.flags & CACHE_DISCARD != 0)),
            b"cache_replacement_policy" => {
                let policy = self.set.io().ok_or(EIO)?.policy();
                for (i, p) in Policy::ALL.iter().enumerate() {
                    let sep = if i == 0 { "" } else { " " };
                    if *p == policy {
                        write!(out, "{}[{}]", sep, p.name())
                    } else {
                        write!(out, "{}{}", sep, p.name())
                    }
                    .map_err(|_| EINVAL)?;
                }
                writeln!(out)
            }
            b"written" | b"btree_written" | b"metadata_written" => {
                // As 6.12: data written to the cache, btree nodes written, and all metadata
                // (journal, prios, uuids and btree nodes).
                let io = self.set.io().ok_or(EIO)?;
                let s = &io.stats;
                let sectors = match attr {
                    b"written" => s.data_sectors.load(Ordering::Relaxed),
                    b"btree_written" => s
                        .nodes_written
                        .load(Ordering::Relaxed)
                        .saturating_mul(io.layout.node_sectors),
                    _ => s.meta_sectors.load(Ordering::Relaxed),
                };
                writeln!(out, "{}", Hprint((sectors << 9) as i64))
            }
            b"io_errors" => writeln!(out, "{}", self.set.io().ok_or(EIO)?.io_errors.count()),
            b"priority_stats" => {
                let io = self.set.io().ok_or(EIO)?;
                let (unused, meta, dirty) = io.usage();
                writeln!(out, "Unused:\t\t{}%", unused)
                    .and_then(|()| writeln!(out, "Clean:\t\t{}%", 100 - unused - meta - dirty))
                    .and_then(|()| writeln!(out, "Dirty:\t\t{}%", dirty))
                    .and_then(|()| writeln!(out, "Metadata:\t{}%", meta))
            }
            _ => return Err(EINVAL),
        }
        .map_err(|_| EINVAL)
    }

    fn store(&self, attr: &[u8], input: &[u8]) -> Result {
        match attr {
            b"cache_replacement_policy" => {
                let p = Policy::from_name(input).ok_or(EINVAL)?;
                self.set.io().ok_or(EIO)?.set_policy(p)
            }
            // As 6.12: `written`, `btree_written`, `metadata_written` and `io_errors` start
            // again from 0. The set's `internal/btree_nodes_written` is the same counter as
            // `btree_written`, so it does too.
            b"clear_stats" => {
                let io = self.set.io().ok_or(EIO)?;
                let s = &io.stats;
                s.data_sectors.store(0, Ordering::Relaxed);
                s.nodes_written.store(0, Ordering::Relaxed);
                s.meta_sectors.store(0, Ordering::Relaxed);
                io.io_errors.clear();
                Ok(())
            }
            _ => Err(EINVAL),
        }
    }
}

/// Handlers of `/sys/block/bcacheN/bcache/` of a flash volume.
struct VolumeAttrs {
    set: Arc<CacheSet>,
    reg: Arc<Registry>,
    slot: u64,
    sectors: u64,
}

impl AttrOps for VolumeAttrs {
    fn show(&self, attr: &[u8], out: &mut ShowBuf<'_>) -> Result {
        match attr {
            b"size" => writeln!(out, "{}", Hprint((self.sectors << 9) as i64)),
            b"label" => {
                let label = self.set.io().map_or([0; 32], |io| io.label(self.slot));
                let len = label.iter().position(|&b| b == 0).unwrap_or(label.len());
                writeln!(out, "{}", kernel::str::BStr::from_bytes(&label[..len]))
            }
            _ => return Err(EINVAL),
        }
        .map_err(|_| EINVAL)
    }

    fn store(&self, attr: &[u8], input: &[u8]) -> Result {
        match attr {
            b"label" => {
                let label = input.strip_suffix(b"\n").unwrap_or(input);
                self.set.io().ok_or(EIO)?.set_label(self.slot, label)
            }
            b"unregister" => self
                .reg
                .queue_volume_unregister(self.set.clone(), self.slot),
            _ => Err(EINVAL),
        }
    }
}
