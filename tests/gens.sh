#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Generation safety on a tiny cache (525 buckets of 8 KiB): the same 1 MiB is rewritten until
# every bucket has been invalidated well over 96 times, so bucket generations wrap several
# times over. The data must never come back stale: md5 after the writes, after re-registering,
# and under the C bcache.ko.
. ./lib.sh

ktap_print_header
ktap_set_plan 7

truncate -s 4200K /tmp/tiny.img
LOOP=$(losetup -f)
losetup "$LOOP" /tmp/tiny.img || die "losetup"
make-bcache -b 8k -C "$LOOP" >/dev/null 2>&1 || die "make-bcache"
CSET=$(cset_uuid "$LOOP")
SET=$RB/$CSET
I=$SET/internal
up() {
	rb_load && sysfs_write $RB/register "$LOOP" && sysfs_write $SET/flash_vol_create 2M &&
		wait_for 10 test -b /dev/bcache0
}
check "a 525-bucket cache with a 2 MiB flash volume" up
dd if=/dev/urandom of=/tmp/a bs=1M count=1 2>/dev/null
dd if=/dev/urandom of=/tmp/b bs=1M count=1 2>/dev/null
NB=$(cat /sys/block/$(basename "$LOOP")/bcache/nbuckets)
rewrite() {
	i=0
	exec 4<>/dev/bcache0 || return 1
	while [ "$(cat $I/buckets_invalidated)" -lt $((NB * 110)) ]; do
		i=$((i + 1))
		[ $i -le 2000 ] || { echo "# still $(cat $I/buckets_invalidated) invalidations"; return 1; }
		if [ $((i % 2)) = 0 ]; then f=/tmp/a; else f=/tmp/b; fi
		dd if=$f of=/proc/self/fd/4 bs=64k oflag=direct conv=notrunc 2>/dev/null || return 1
		LAST=$f
	done
	exec 4<&-
	echo "# $i rewrites, $(cat $I/buckets_invalidated) invalidations of $NB buckets"
}
check "rewrite 1 MiB until buckets were invalidated 110 times each on average" rewrite
same() { [ "$(dd if=/dev/bcache0 bs=1M count=1 2>/dev/null | md5sum)" = "$(md5sum <$LAST)" ]; }
check "the volume holds the last data written (md5)" same
rereg() {
	sysfs_write $SET/stop 1 && wait_for 20 test ! -e $SET && sysfs_write $RB/register "$LOOP" &&
		wait_for 10 test -b /dev/bcache0 && same
}
check "after re-registering: the last data, nothing older (md5)" rereg
to_c() { sysfs_write $SET/stop 1 && wait_for 20 test ! -e $SET && rb_unload && with_c_module "$LOOP" c_same; }
c_same() { wait_for 10 test -b /dev/bcache0 && same; }
check "the C bcache.ko reads the last data too (md5)" to_c
back() { rb_load && sysfs_write $RB/register "$LOOP" && wait_for 10 test -b /dev/bcache0 && same; }
check "and rbcache again after the C module (md5)" back
down() { sysfs_write $SET/stop 1 && wait_for 20 test ! -e $SET && rb_unload && losetup -d "$LOOP"; }
check "stop, rmmod, detach the loop device" down
ktap_finished
