#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Bad input to /sys/fs/bcache/register: each is refused with the right errno and one log line
# naming the device and the reason, and nothing else happens (the run's log check catches any
# kernel splat).
. ./lib.sh

ktap_print_header
ktap_set_plan 34

rb_load || die "insmod rbcache"

# refuse IMAGE "errno text" "log reason"
refuse() {
	dev=$(attach_image "$1")
	dmesg_mark
	check "$1: refused with '$2'" expect_errno $RB/register "$dev" "$2"
	check "$1: logged '$3'" log_once "register $dev: $3"
	losetup -d "$dev"
}

refuse bad_magic "Invalid argument" "Not a bcache superblock (bad magic)"
refuse bad_csum "Invalid argument" "Bad checksum"
refuse bad_version "Invalid argument" "Unsupported superblock version"
refuse bad_offset "Invalid argument" "Not a bcache superblock (bad offset)"
refuse too_few_buckets "Invalid argument" "cache device is too small"
refuse bad_bucket_size "Invalid argument" "Bad bucket size (not power of 2)"
refuse journal_not_sequential "Invalid argument" "Journal buckets not sequential"
refuse device_smaller_than_sb_says "Invalid argument" "Invalid superblock: device too small"
refuse tiny "Invalid argument" "device too small to hold a superblock"
refuse zeroed "Invalid argument" "Not a bcache superblock (bad offset)"

dmesg_mark
check "nonexistent path: ENOENT" expect_errno $RB/register /dev/does-not-exist "No such file or directory"
check "nonexistent path: logged" log_once "register /dev/does-not-exist: no such device"
dmesg_mark
check "directory path: ENOTBLK" expect_errno $RB/register /tmp "Block device required"
check "directory path: logged" log_once "register /tmp: not a block device"
dmesg_mark
check "empty write: EINVAL" expect_errno $RB/register "" "Invalid argument"
check "empty write: logged" log_once "empty device path"
random_write() {
	! dd if=/dev/urandom of=$RB/register bs=4096 count=1 2>/dev/null
}
check "4 KiB of random bytes: refused" random_write
check "4 KiB of random bytes to register_quiet: refused" \
	sh -c "! dd if=/dev/urandom of=$RB/register_quiet bs=4096 count=1 2>/dev/null"

# A good image still registers after all that, and nothing was left registered.
dev=$(attach_image good_cache)
check "a valid superblock on a loop device registers" sysfs_write $RB/register "$dev"
check "its set directory exists" test -d $RB/21222324-2526-2728-292a-2b2c2d2e2f30
dup_refused() {
	cp /tmp/good_cache.img /tmp/dup.img
	l=$(losetup -f)
	losetup "$l" /tmp/dup.img || return 1
	expect_errno $RB/register "$l" "File exists"
	r=$?
	losetup -d "$l"
	return $r
}
dmesg_mark
check "a second cache of the same set is refused with EEXIST" dup_refused
check "... logged as duplicate cache set member" log_once "duplicate cache set member"
check "rmmod with the set registered" rb_unload
reregister() { rb_load && sysfs_write $RB/register "$dev" && rb_unload; }
check "rmmod closed the device: it registers (opens exclusively) again" reregister
losetup -d "$dev"

ktap_finished
