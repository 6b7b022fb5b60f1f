// SPDX-License-Identifier: GPL-2.0

//! The registry of registered devices and its sysfs root, `/sys/fs/bcache/`.
//!
//! # Locking
//!
//! One mutex, [`Registry::inner`], serialises registration, unregistration and module exit, as
//! bcache's `bch_register_lock` does. Lock order: `Registry::inner` → `BackingDev::linked` →
//! `CacheSet::running` → `Gc::wake` (a spinlock, innermost) and `Gc::times`.
//!
//! Nothing waits for a sysfs callback while holding `Registry::inner`: directories are removed
//! only after the device was taken out of the registry and the lock dropped, because removal
//! waits for running callbacks, and the `register` callback takes this lock.

use kernel::c_str;
use kernel::prelude::*;
use kernel::rbtree::RBTree;
use kernel::sync::{new_mutex, Arc, Mutex};

use crate::backing::BackingDev;
use crate::cache_set::{CacheSet, StopKind};
use crate::cached_dev::CachedDev;
use crate::kabi::sysfs::{AttrOps, Group, ShowBuf, SysfsDir};
use crate::kabi::workqueue::OwnedQueue;
use crate::register;

/// A registered device.
pub(crate) enum Device {
    /// The cache of a cache set.
    Cache(Arc<CacheSet>),
    /// A backing device.
    Backing(KBox<BackingDev>),
}

/// The registry's state under its lock.
pub(crate) struct RegistryInner {
    /// Registered devices by device number.
    pub(crate) devices: RBTree<u32, Device>,
    /// `/sys/fs/bcache/`, the parent of the cache-set directories.
    pub(crate) root: Option<SysfsDir<RootAttrs>>,
    /// The module is unloading: registration is refused.
    pub(crate) exiting: bool,
}

impl RegistryInner {
    /// Returns the cache set with UUID `uuid`, if registered.
    pub(crate) fn find_set(&self, uuid: &[u8; 16]) -> Option<&Arc<CacheSet>> {
        self.devices.values().find_map(|d| match d {
            Device::Cache(set) if set.set_uuid() == uuid => Some(set),
            _ => None,
        })
    }
}

/// All devices registered with rbcache.
#[pin_data]
pub(crate) struct Registry {
    #[pin]
    inner: Mutex<RegistryInner>,
    /// Runs teardown that sysfs callbacks request (they cannot remove their own directory).
    wq: OwnedQueue,
}

impl Registry {
    /// Creates the registry and `/sys/fs/bcache/`.
    pub(crate) fn new() -> Result<Arc<Self>> {
        let wq = OwnedQueue::new(c_str!("rbcache_ctl"), 0)?;
        let reg = Arc::pin_init(
            pin_init!(Self {
                inner <- new_mutex!(
                    RegistryInner { devices: RBTree::new(), root: None, exiting: false },
                    "Registry::inner"
                ),
                wq,
            }),
            GFP_KERNEL,
        )?;
        let root = SysfsDir::new_in_fs(
            c_str!("bcache"),
            Group::Root,
            RootAttrs { reg: reg.clone() },
        )?;
        reg.inner.lock().root = Some(root);
        Ok(reg)
    }

    /// Locks the registry.
    pub(crate) fn lock(
        &self,
    ) -> kernel::sync::lock::Guard<'_, RegistryInner, kernel::sync::lock::mutex::MutexBackend> {
        self.inner.lock()
    }

    /// Tears `set` down from the workqueue, for the set's `unregister` and `stop` files.
    pub(crate) fn queue_stop(self: &Arc<Self>, set: Arc<CacheSet>, kind: StopKind) -> Result {
        let reg = self.clone();
        self.wq
            .queue()
            .try_spawn(GFP_KERNEL, move || reg.remove_and_stop(&set, kind))?;
        Ok(())
    }

    /// Unregisters flash volume `slot` of `set` from the workqueue (its sysfs callback cannot
    /// remove its own directory).
    pub(crate) fn queue_volume_unregister(&self, set: Arc<CacheSet>, slot: u64) -> Result {
        self.wq
            .queue()
            .try_spawn(GFP_KERNEL, move || set.unregister_volume(slot))?;
        Ok(())
    }

    /// Unregisters backing device `dev` from the workqueue, for its `stop` file: its
    /// `/dev/bcacheN` goes away and the device is released (its cache stays as it is).
    pub(crate) fn queue_backing_stop(self: &Arc<Self>, dev: u32) -> Result {
        let reg = self.clone();
        self.wq.queue().try_spawn(GFP_KERNEL, move || {
            let removed = {
                let mut inner = reg.inner.lock();
                match inner.devices.get(&dev) {
                    Some(Device::Backing(_)) => inner.devices.remove(&dev),
                    _ => None,
                }
            };
            if let Some(Device::Backing(b)) = removed {
                b.release("stopped");
            }
        })?;
        Ok(())
    }

    /// Runs registered backing device `dev` (creates its `/dev/bcacheN`), for its sysfs files
    /// (which cannot reach the directory they are in).
    /// Its sysfs links follow its attachment ([`BackingDev::sync_links`]).
    pub(crate) fn run_backing(&self, dev: u32) -> Result {
        match self.lock().devices.get(&dev) {
            Some(Device::Backing(b)) => {
                b.sync_links();
                b.run()
            }
            _ => Err(ENODEV),
        }
    }

    /// Makes the sysfs links of backing device `dev` follow its attachment (after a detach).
    fn sync_backing_links(&self, dev: u32) {
        if let Some(Device::Backing(b)) = self.lock().devices.get(&dev) {
            b.sync_links();
        }
    }

    /// `detach` of a backing device: starts it at once (new writes stop adding dirty data),
    /// and writes back and detaches from the workqueue, so the sysfs write returns at once,
    /// as 6.12's asynchronous detach. A detach already under way is left to finish.
    pub(crate) fn queue_detach(self: &Arc<Self>, dev: Arc<CachedDev>) -> Result {
        if dev.attached_set().is_none() {
            return Err(ENOENT);
        }
        if !dev.start_detach() {
            return Ok(());
        }
        let d = dev.clone();
        let reg = self.clone();
        self.wq
            .queue()
            .try_spawn(GFP_KERNEL, move || {
                let _ = d.detach();
                reg.sync_backing_links(d.dev());
            })
            .inspect_err(|_| {
                dev.detaching
                    .store(false, core::sync::atomic::Ordering::Release)
            })?;
        Ok(())
    }

    /// Removes `set` from the registry if it is still there, then tears it down.
    ///
    /// For `stop`, as 6.12's `__cache_set_unregister()` does, the backing devices attached to
    /// the set are stopped first (unregistered: their `/dev/bcacheN` goes). Left running
    /// without their cache they would serve stale data where the cache holds newer dirty
    /// data, and writes straight to the backing device would leave the cache stale for when
    /// the set comes back. `unregister` detaches them instead ([`CacheSet::stop`]).
    fn remove_and_stop(&self, set: &Arc<CacheSet>, kind: StopKind) {
        let removed = {
            let mut inner = self.inner.lock();
            let removed = match inner.devices.get(&set.dev()) {
                Some(Device::Cache(s)) if Arc::ptr_eq(s, set) => inner.devices.remove(&set.dev()),
                _ => None,
            };
            if removed.is_some() {
                // The backing devices' links to the set's directory go before it does.
                for d in inner.devices.values() {
                    if let Device::Backing(b) = d {
                        b.unlink(Some(&**set));
                    }
                }
            }
            removed
        };
        // Not there: module exit or another request already took it, and tears it down.
        if removed.is_none() {
            return;
        }
        // No attach from now on (one in progress finishes first), so the steps below see every
        // device that will ever be attached to the set.
        set.close();
        match kind {
            StopKind::Stop => self.stop_attached(set, "its cache set was stopped"),
            StopKind::Unregister => {
                // Detached first, as 6.12 does; a device the set could not detach (dirty
                // data it could not write back) or that stops with a failed set
                // (`stop_when_cache_set_failed`) is still attached, and stops instead of
                // running without its cache.
                set.detach_all();
                self.stop_attached(set, "its cache set failed");
            }
        }
        set.stop(kind);
    }

    /// Stops (unregisters) every backing device attached to `set`, which is out of the
    /// registry, so it takes no new attachments. One by one, each released outside the
    /// registry lock: removing its sysfs directory waits for its callbacks, which may take the
    /// lock.
    fn stop_attached(&self, set: &CacheSet, why: &str) {
        self.release_backing_where(why, |_, b| b.is_attached_to(set));
    }

    /// `pendings_cleanup`: drops every backing device whose cache set is not registered.
    fn pendings_cleanup(&self) {
        self.release_backing_where("pending cleanup", |inner, b| {
            inner.find_set(&b.set_uuid()).is_none()
        });
    }

    /// Takes the backing devices `pick` chooses out of the registry one at a time (deciding
    /// under `inner`) and releases each, with `why`, after the lock is dropped.
    fn release_backing_where(&self, why: &str, pick: impl Fn(&RegistryInner, &BackingDev) -> bool) {
        loop {
            let taken = {
                let mut inner = self.inner.lock();
                let key = inner.devices.iter().find_map(|(dev, d)| match d {
                    Device::Backing(b) if pick(&inner, b) => Some(*dev),
                    _ => None,
                });
                key.and_then(|key| inner.devices.remove(&key))
            };
            let Some(Device::Backing(b)) = taken else {
                break;
            };
            b.release(why);
        }
    }

    /// Module exit: refuses new registrations, stops every device, removes `/sys/fs/bcache/`,
    /// and waits for queued teardown.
    pub(crate) fn shutdown(&self) {
        let (devices, root) = {
            let mut inner = self.inner.lock();
            inner.exiting = true;
            (
                core::mem::replace(&mut inner.devices, RBTree::new()),
                inner.root.take(),
            )
        };
        // Links first, then sets: each releases its backing devices (they go to their backing
        // devices directly from then on), then every device is dropped.
        for device in devices.values() {
            if let Device::Backing(b) = device {
                b.unlink(None);
            }
        }
        for device in devices.values() {
            if let Device::Cache(set) = device {
                set.stop(StopKind::Stop);
            }
        }
        drop(devices);
        drop(root);
        self.wq.flush();
    }
}

/// Handlers of `/sys/fs/bcache/`.
pub(crate) struct RootAttrs {
    reg: Arc<Registry>,
}

impl AttrOps for RootAttrs {
    fn show(&self, _attr: &[u8], _out: &mut ShowBuf<'_>) -> Result {
        Err(EINVAL)
    }

    fn store(&self, attr: &[u8], input: &[u8]) -> Result {
        match attr {
            b"register" => register::register(&self.reg, input, false),
            b"register_quiet" => register::register(&self.reg, input, true),
            b"pendings_cleanup" => {
                self.reg.pendings_cleanup();
                Ok(())
            }
            _ => Err(EINVAL),
        }
    }
}
