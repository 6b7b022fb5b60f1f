// SPDX-License-Identifier: GPL-2.0

//! Registration: a device path written to `/sys/fs/bcache/register` becomes a cache set or a
//! backing device.
//!
//! Every refusal returns an errno and logs exactly one `pr_err` line naming the path and the
//! reason:
//! - an empty path or one with a NUL byte: `EINVAL`;
//! - nothing at the path: `ENOENT`; not a block device (a directory, say): `ENOTBLK`;
//! - already registered with rbcache: `EBUSY`;
//! - held exclusively by someone else: `EBUSY`;
//! - `register_quiet` turns both `EBUSY` cases into silent success, as upstream (udev uses it);
//! - too small to hold a superblock, or an invalid superblock: `EINVAL`;
//! - on a cache marked synchronous, metadata that fails its checks (journal, prios, uuids,
//!   btree; see [`crate::metadata`]): `EINVAL`, or the errno of a failed read;
//! - a second cache for a registered set: `EEXIST`;
//! - module unloading: `EBUSY`.

use kernel::prelude::*;
use kernel::rbtree::RBTreeNodeReservation;
use kernel::str::{BStr, CStr};
use kernel::sync::Arc;

use crate::backing::BackingDev;
use crate::cache_set::CacheSet;
use crate::format::superblock::{DeviceGeometry, Superblock, UuidDisplay, SB_SECTOR, SB_SIZE};
use crate::format::units::trim;
use crate::kabi::bdev::{self, BdevFile};
use crate::metadata;
use crate::registry::{Device, Registry};

/// Longest part of a path repeated in a log line.
const LOG_PATH_MAX: usize = 64;

/// Registers the device whose path is written in `input`.
///
/// With `quiet`, registering a device rbcache already has succeeds silently (`register_quiet`,
/// used by udev).
pub(crate) fn register(reg: &Arc<Registry>, input: &[u8], quiet: bool) -> Result {
    let path = trim(input);
    let shown = BStr::from_bytes(&path[..path.len().min(LOG_PATH_MAX)]);
    let fail = |e: Error, why: &str| {
        pr_err!("register {}: {}\n", shown, why);
        e
    };
    if path.is_empty() {
        return Err(fail(EINVAL, "empty device path"));
    }
    if path.contains(&0) {
        return Err(fail(EINVAL, "path contains a NUL byte"));
    }
    let mut cpath = KVec::with_capacity(path.len() + 1, GFP_KERNEL)?;
    cpath.extend_from_slice(path, GFP_KERNEL)?;
    cpath.push(0, GFP_KERNEL)?;
    let cpath = CStr::from_bytes_with_nul(&cpath).map_err(|_| EINVAL)?;

    let dev = bdev::lookup(cpath).map_err(|e| {
        if e == ENOTBLK {
            fail(e, "not a block device")
        } else if e == ENOENT {
            fail(e, "no such device")
        } else {
            fail(e, "cannot look up device")
        }
    })?;

    let mut inner = reg.lock();
    if inner.exiting {
        return Err(fail(EBUSY, "module is unloading"));
    }
    if inner.devices.get(&dev).is_some() {
        if quiet {
            return Ok(());
        }
        return Err(fail(EBUSY, "device already registered"));
    }
    let file = match BdevFile::open_exclusive(cpath) {
        Ok(file) => file,
        // As upstream, `register_quiet` treats a busy device as success, silently.
        Err(e) if e == EBUSY && quiet => return Ok(()),
        Err(e) if e == EBUSY => {
            return Err(fail(e, "device busy (held exclusively by another user)"))
        }
        Err(e) => return Err(fail(e, "cannot open device")),
    };

    let geom = DeviceGeometry {
        sectors: file.nr_sectors(),
        logical_block_size: file.logical_block_size(),
    };
    if geom.sectors < SB_SECTOR + (SB_SIZE as u64 >> 9) {
        return Err(fail(EINVAL, "device too small to hold a superblock"));
    }
    let mut raw = KVec::from_elem(0u8, SB_SIZE, GFP_KERNEL)?;
    file.read_sync(SB_SECTOR, &mut raw)
        .map_err(|e| fail(e, "cannot read superblock"))?;
    let sb = Superblock::read(&raw, geom).map_err(|e| fail(EINVAL, e.reason()))?;

    // Reserve the registry node first: once a set is started, inserting it must not fail.
    let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
    let device = if sb.is_bdev() {
        let backing = BackingDev::new(reg, file, sb)
            .map_err(|e| fail(e, "cannot set up the backing device"))?;
        let backing = KBox::new(backing, GFP_KERNEL)?;
        pr_info!(
            "registered backing device {} (set {}, data offset {} sectors)\n",
            shown,
            UuidDisplay(&backing.set_uuid()),
            backing.data_offset()
        );
        if let Some(set) = inner.find_set(&backing.set_uuid()) {
            backing.attach_if_matches(set);
        }
        Device::Backing(backing)
    } else {
        if inner.find_set(&sb.set_uuid).is_some() {
            return Err(fail(EEXIST, "duplicate cache set member"));
        }
        let Some(root) = inner.root.as_ref() else {
            return Err(fail(EBUSY, "module is unloading"));
        };
        let fresh = !sb.is_synchronous();
        let sb = if fresh {
            // A fresh make-bcache cache: write its metadata first, as 6.12 does.
            match metadata::initialise(&file, &sb, &mut raw) {
                Ok(sb) => sb,
                Err(e) => {
                    pr_err!(
                        "register {}: initialising a new cache set failed: {}\n",
                        shown,
                        e
                    );
                    return Err(e.errno());
                }
            }
        } else {
            sb
        };
        let contents = match metadata::read(&file, &sb) {
            Ok(contents) => contents,
            Err(e) => {
                pr_err!("register {}: {}\n", shown, e);
                return Err(e.errno());
            }
        };
        let meta = contents.meta;
        let uuid = sb.set_uuid;
        let set = CacheSet::start(reg, root, file, sb, contents)
            .map_err(|e| fail(e, "cannot start cache set"))?;
        pr_info!(
                "registered cache device {} as {} set {} (journal seq {}, {} live entries, btree depth {}, {} nodes, {} keys, {} flash volumes)\n",
                shown,
                if fresh { "new" } else { "existing" },
                UuidDisplay(&uuid),
                meta.journal_seq,
                meta.journal_live,
                meta.root_level,
                meta.btree_nodes,
                meta.keys,
                meta.flash_volumes
            );
        // Backing devices registered before their set attach now.
        for d in inner.devices.values() {
            if let Device::Backing(b) = d {
                b.attach_if_matches(&set);
            }
        }
        Device::Cache(set)
    };
    inner.devices.insert(node.into_node(dev, device));
    Ok(())
}
