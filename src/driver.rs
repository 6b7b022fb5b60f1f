// SPDX-License-Identifier: GPL-2.0

//! Module load and unload.

use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::Arc;

use crate::kabi::bio::MetaBios;
use crate::kabi::sysfs;
use crate::kabi::workqueue::IoQueue;
use crate::registry::Registry;

/// The loaded module: owns the registry and, through it, `/sys/fs/bcache/`.
pub(crate) struct RbCache {
    registry: Arc<Registry>,
    // Dropped after the registry is shut down (every disk is gone): drains the queues.
    _io: IoQueue,
    // Dropped last, once no metadata IO is left: exits the pool.
    _bios: MetaBios,
}

impl kernel::Module for RbCache {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        if sysfs::fs_entry_exists(c_str!("bcache")) {
            pr_err!(
                "/sys/fs/bcache already exists (is the C bcache module loaded?): not loading\n"
            );
            return Err(EBUSY);
        }
        let bios = MetaBios::new()?;
        let io = IoQueue::new()?;
        let registry = Registry::new()?;
        pr_info!("loaded\n");
        Ok(Self {
            registry,
            _io: io,
            _bios: bios,
        })
    }
}

impl Drop for RbCache {
    fn drop(&mut self) {
        // Every registered device is stopped, not unregistered: nothing is invalidated.
        self.registry.shutdown();
        pr_info!("unloaded\n");
    }
}
