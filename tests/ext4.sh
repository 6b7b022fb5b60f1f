#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# A real filesystem on a cached device in writeback mode: mke2fs, a file tree with checksums,
# e2fsck clean, the checksums after a remount; then detach (writeback first) and the same
# filesystem, checked and read straight from the raw backing device at data_offset.
. ./lib.sh

ktap_print_header
ktap_set_plan 9

backing_setup /dev/vdb /dev/vdc
need_e2fsprogs

up() {
	rb_load && sysfs_write $RB/register $BK && sysfs_write $RB/register $CA &&
		uncongested $SET && sysfs_write $B/attach "$CSET" &&
		sysfs_write $B/cache_mode writeback &&
		wait_for 10 test -b /dev/bcache0
}
check "a backing device attached in writeback mode" up
mkfs() { $MKE2FS -q -t ext4 -F /dev/bcache0 >/tmp/mkfs.out 2>&1 || { sed 's/^/# /' /tmp/mkfs.out; return 1; }; }
check "mke2fs -t ext4 on /dev/bcache0" mkfs
tree() {
	mount -t ext4 /dev/bcache0 /mnt || return 1
	ext4_tree /mnt || return 1
	sync && umount /mnt
}
check "a tree of 40 files written, checksummed and unmounted" tree
check "the cache holds dirty data" test "$(cat $B/state)" = dirty
check "e2fsck -fn is clean" $E2FSCK -fn /dev/bcache0
again() { mount -t ext4 /dev/bcache0 /mnt && (cd /mnt && md5sum -c /tmp/sums >/dev/null) && umount /mnt; }
check "remounted, every checksum matches" again
det() { detach_wait $B; }
check "detach writes everything back" det
raw() {
	off=$(cat $B/data_offset)
	sysfs_write $B/stop 1 && wait_for 20 test ! -e $B || return 1
	loop=$(losetup -f)
	losetup -o $((off * 512)) "$loop" $BK || return 1
	r=0
	$E2FSCK -fn "$loop" >/dev/null || { echo "# e2fsck on the raw backing device"; r=1; }
	mount -t ext4 -o ro "$loop" /mnt && (cd /mnt && md5sum -c /tmp/sums >/dev/null) || r=1
	umount /mnt
	losetup -d "$loop"
	return $r
}
check "the raw backing device at data_offset holds the same clean filesystem" raw
down() { sysfs_write $SET/unregister 1 && wait_for 20 test ! -e $SET && rb_unload; }
check "unregister and rmmod" down
ktap_finished
