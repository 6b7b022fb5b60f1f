// SPDX-License-Identifier: GPL-2.0

//! sysfs directories whose attribute files dispatch into Rust.
//!
//! C headers: [`include/linux/kobject.h`](srctree/include/linux/kobject.h),
//! [`include/linux/sysfs.h`](srctree/include/linux/sysfs.h)
//!
//! A [`SysfsDir<T>`] is a kobject embedded in a heap allocation next to a `T: AttrOps`. Its files
//! come from one of the attribute tables of `src/helpers.c` ([`Group`]); reads and writes of
//! them call [`AttrOps::show`] and [`AttrOps::store`] with the file name. Dropping the
//! [`SysfsDir`] removes the directory, waits for running show/store calls to return, and drops
//! the reference that keeps `T` alive; `T` is dropped when the last kobject reference goes.
//!
//! Because removal waits for running callbacks, a [`SysfsDir`] must never be dropped from one of
//! its own callbacks: such work is handed to a workqueue.

use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::alloc::{flags::GFP_KERNEL, KBox};
use kernel::bindings;
use kernel::error::{to_result, Error, Result};
use kernel::ffi::c_char;
use kernel::str::CStr;
use kernel::types::Opaque;

use super::bdev::BdevFile;
use super::disk::{DiskOps, GenDisk};
use super::ffi;

const PAGE_SIZE: usize = 4096;

/// The show/store handlers of a sysfs directory.
pub(crate) trait AttrOps: Send + Sync {
    /// Formats the file `attr` into `out`.
    fn show(&self, attr: &[u8], out: &mut ShowBuf<'_>) -> Result;
    /// Handles a write of `input` to the file `attr`.
    fn store(&self, attr: &[u8], input: &[u8]) -> Result;
}

/// The attribute tables defined in `src/helpers.c`.
#[derive(Clone, Copy)]
pub(crate) enum Group {
    /// `/sys/fs/bcache/`.
    Root,
    /// `/sys/fs/bcache/<set-uuid>/`.
    Set,
    /// `/sys/fs/bcache/<set-uuid>/internal/`.
    Internal,
    /// `/sys/block/<cache device>/bcache/`.
    Cache,
    /// `/sys/block/bcacheN/bcache/` of a flash volume.
    Volume,
    /// `/sys/block/<backing device>/bcache/`.
    Backing,
    /// `stats_total/` etc. of a backing device and of a cache set.
    Stats,
}

impl Group {
    fn as_ptr(self) -> *const bindings::attribute_group {
        match self {
            Group::Root => &raw const ffi::rbcache_root_group,
            Group::Set => &raw const ffi::rbcache_set_group,
            Group::Internal => &raw const ffi::rbcache_internal_group,
            Group::Cache => &raw const ffi::rbcache_cache_group,
            Group::Volume => &raw const ffi::rbcache_volume_group,
            Group::Backing => &raw const ffi::rbcache_backing_group,
            Group::Stats => &raw const ffi::rbcache_stats_group,
        }
    }
}

/// The output buffer of a sysfs read: one page, silently truncated like `sysfs_emit`.
pub(crate) struct ShowBuf<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl fmt::Write for ShowBuf<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

#[repr(C)]
struct DirInner<T> {
    // Must stay the first field: callbacks turn the kobject pointer into a `DirInner` pointer.
    kobj: Opaque<bindings::kobject>,
    data: T,
}

struct Vtable<T>(PhantomData<T>);

impl<T: AttrOps> Vtable<T> {
    const SYSFS_OPS: bindings::sysfs_ops = bindings::sysfs_ops {
        show: Some(show_callback::<T>),
        store: Some(store_callback::<T>),
    };

    const KTYPE: bindings::kobj_type = bindings::kobj_type {
        release: Some(release_callback::<T>),
        sysfs_ops: &Self::SYSFS_OPS,
        default_groups: core::ptr::null_mut(),
        child_ns_type: None,
        namespace: None,
        get_ownership: None,
    };
}

/// # Safety
///
/// `kobj` must be the kobject of a live `DirInner<T>` (sysfs calls show only while the file
/// exists, and removal waits for running calls), `attr` one of its attributes with a static
/// NUL-terminated name, and `buf` a `PAGE_SIZE` buffer.
unsafe extern "C" fn show_callback<T: AttrOps>(
    kobj: *mut bindings::kobject,
    attr: *mut bindings::attribute,
    buf: *mut c_char,
) -> isize {
    // SAFETY: `kobj` is the first field of a live `repr(C)` `DirInner<T>` (safety contract).
    let inner = unsafe { &*kobj.cast::<DirInner<T>>() };
    // SAFETY: Attribute names are static NUL-terminated strings (safety contract).
    let name = unsafe { CStr::from_char_ptr((*attr).name) }.as_bytes();
    // SAFETY: sysfs hands us a writable buffer of `PAGE_SIZE` bytes (safety contract).
    let page = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), PAGE_SIZE) };
    let mut out = ShowBuf { buf: page, len: 0 };
    match inner.data.show(name, &mut out) {
        Ok(()) => out.len as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// # Safety
///
/// As for [`show_callback`], with `buf` holding `count` readable bytes.
unsafe extern "C" fn store_callback<T: AttrOps>(
    kobj: *mut bindings::kobject,
    attr: *mut bindings::attribute,
    buf: *const c_char,
    count: usize,
) -> isize {
    // SAFETY: `kobj` is the first field of a live `repr(C)` `DirInner<T>` (safety contract).
    let inner = unsafe { &*kobj.cast::<DirInner<T>>() };
    // SAFETY: Attribute names are static NUL-terminated strings (safety contract).
    let name = unsafe { CStr::from_char_ptr((*attr).name) }.as_bytes();
    // SAFETY: sysfs hands us `count` readable bytes (safety contract).
    let input = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), count) };
    match inner.data.store(name, input) {
        Ok(()) => count as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// # Safety
///
/// `kobj` must be the kobject of a `DirInner<T>` allocated by [`SysfsDir::create`], whose last
/// reference has just gone.
unsafe extern "C" fn release_callback<T: AttrOps>(kobj: *mut bindings::kobject) {
    // SAFETY: The allocation came from `KBox::into_raw` in `create` and nothing refers to it.
    drop(unsafe { KBox::from_raw(kobj.cast::<DirInner<T>>()) });
}

/// A sysfs directory with Rust show/store handlers `T`.
///
/// # Invariants
///
/// `inner` points to a `DirInner<T>` whose kobject is initialised and added to sysfs, with one
/// reference owned by this handle.
pub(crate) struct SysfsDir<T: AttrOps> {
    inner: NonNull<DirInner<T>>,
}

// SAFETY: The kobject is refcounted and its functions may be called from any thread; `T` is
// `Send + Sync` by the `AttrOps` bound.
unsafe impl<T: AttrOps> Send for SysfsDir<T> {}

// SAFETY: `&SysfsDir` only gives out `&T`, and `T: Sync`.
unsafe impl<T: AttrOps> Sync for SysfsDir<T> {}

impl<T: AttrOps> SysfsDir<T> {
    /// Creates `/sys/fs/<name>/` with the files of `group`.
    pub(crate) fn new_in_fs(name: &CStr, group: Group, data: T) -> Result<Self> {
        // SAFETY: `fs_kobj` is set up at boot and never changes.
        let parent = unsafe { bindings::fs_kobj };
        Self::create(parent, name, group, data)
    }

    /// Creates `<parent>/<name>/` with the files of `group`.
    pub(crate) fn new_child<P: AttrOps>(
        parent: &SysfsDir<P>,
        name: &CStr,
        group: Group,
        data: T,
    ) -> Result<Self> {
        Self::create(parent.kobj(), name, group, data)
    }

    /// Creates `<block device>/<name>/` (such as `/sys/block/vdb/bcache/`).
    ///
    /// The directory must be dropped before `bdev` is closed.
    pub(crate) fn new_under_bdev(
        bdev: &BdevFile,
        name: &CStr,
        group: Group,
        data: T,
    ) -> Result<Self> {
        Self::create(bdev.kobj(), name, group, data)
    }

    /// Creates `<disk>/<name>/` (such as `/sys/block/bcache0/bcache/`).
    ///
    /// The directory must be dropped before `disk`.
    pub(crate) fn new_under_disk<D: DiskOps>(
        disk: &GenDisk<D>,
        name: &CStr,
        group: Group,
        data: T,
    ) -> Result<Self> {
        Self::create(disk.kobj(), name, group, data)
    }

    fn create(parent: *mut bindings::kobject, name: &CStr, group: Group, data: T) -> Result<Self> {
        let inner = KBox::new(
            DirInner {
                // SAFETY: An all-zero kobject is what `kobject_init` expects.
                kobj: Opaque::new(unsafe { core::mem::zeroed() }),
                data,
            },
            GFP_KERNEL,
        )?;
        let inner = KBox::into_raw(inner);
        // SAFETY: `inner` is the live allocation `KBox::into_raw` just returned.
        let kobj = Opaque::raw_get(unsafe { &raw const (*inner).kobj });
        let ktype: &'static bindings::kobj_type = &Vtable::<T>::KTYPE;
        // SAFETY: `kobj` is zeroed and will not move (heap), `ktype` is static, `parent` is a
        // live kobject (which the child pins), and the name goes through a `"%s"` format.
        let ret = unsafe {
            bindings::kobject_init_and_add(
                kobj,
                ktype,
                parent,
                kernel::c_str!("%s").as_char_ptr(),
                name.as_char_ptr(),
            )
        };
        if ret != 0 {
            // SAFETY: After `kobject_init_and_add` fails, the reference must be put; the release
            // callback then frees `inner`.
            unsafe { bindings::kobject_put(kobj) };
            return Err(Error::from_errno(ret));
        }
        // INVARIANT: The kobject is initialised and added, and we own its reference.
        let dir = Self {
            // SAFETY: `KBox::into_raw` never returns null.
            inner: unsafe { NonNull::new_unchecked(inner) },
        };
        // SAFETY: `kobj` is live and the group is a static table from `helpers.c`.
        let ret = unsafe { bindings::sysfs_create_group(kobj, group.as_ptr()) };
        if ret != 0 {
            // Dropping `dir` removes the directory again.
            return Err(Error::from_errno(ret));
        }
        Ok(dir)
    }

    /// Adds a symbolic link `name` in this directory to the sysfs directory of `disk` (6.12's
    /// `dev` link of a backing device). It goes away with this directory.
    pub(crate) fn link_to_disk<D: DiskOps>(&self, name: &CStr, disk: &GenDisk<D>) -> Result {
        // SAFETY: Both kobjects are live and added (type invariants); the link takes its own
        // reference to the target's sysfs node, so it may outlive the disk harmlessly.
        to_result(unsafe {
            bindings::sysfs_create_link(self.kobj(), disk.kobj(), name.as_char_ptr())
        })
    }

    /// Adds a symbolic link `name` in this directory to the directory `target` (6.12's links
    /// between a cache set and its devices, such as `bdev0` or `cache`). A name already taken
    /// gives `EEXIST`, without the warning `sysfs_create_link` would print.
    ///
    /// Remove it with [`SysfsDir::remove_link`] before `target` goes away; links left in this
    /// directory go with it.
    pub(crate) fn link_to_dir<U: AttrOps>(&self, name: &CStr, target: &SysfsDir<U>) -> Result {
        // SAFETY: Both kobjects are live and added (type invariants), and `name` is
        // NUL-terminated. The link takes its own reference to the target's sysfs node, so a
        // link outliving `target` dangles in sysfs but refers to no freed memory.
        to_result(unsafe {
            bindings::sysfs_create_link_nowarn(self.kobj(), target.kobj(), name.as_char_ptr())
        })
    }

    /// Removes the link `name` from this directory; does nothing if there is none.
    pub(crate) fn remove_link(&self, name: &CStr) {
        // SAFETY: The kobject is live and added (type invariant), so its sysfs directory is
        // there; removing a name that is not in it only returns `ENOENT`, which is ignored.
        unsafe { bindings::sysfs_remove_link(self.kobj(), name.as_char_ptr()) };
    }

    pub(super) fn kobj(&self) -> *mut bindings::kobject {
        // SAFETY: By the type invariant `inner` points to a live `DirInner<T>`.
        Opaque::raw_get(unsafe { &raw const (*self.inner.as_ptr()).kobj })
    }
}

impl<T: AttrOps> Drop for SysfsDir<T> {
    fn drop(&mut self) {
        let kobj = self.kobj();
        // SAFETY: By the type invariant the kobject is added and we own one reference.
        // `kobject_del` removes the directory and waits for running show/store calls.
        unsafe {
            bindings::kobject_del(kobj);
            bindings::kobject_put(kobj);
        }
    }
}

/// Returns whether `/sys/fs/<name>` exists (for example because the C bcache module is loaded).
pub(crate) fn fs_entry_exists(name: &CStr) -> bool {
    // SAFETY: `fs_kobj` is set up at boot and never changes; its `sd` is its kernfs directory.
    let dir = unsafe { (*bindings::fs_kobj).sd };
    // SAFETY: `dir` is a live kernfs node and `name` is NUL-terminated.
    let kn =
        unsafe { bindings::kernfs_find_and_get_ns(dir, name.as_char_ptr(), core::ptr::null()) };
    if kn.is_null() {
        return false;
    }
    // SAFETY: Drops the reference `kernfs_find_and_get_ns` took.
    unsafe { bindings::kernfs_put(kn) };
    true
}
