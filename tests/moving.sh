#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Moving GC on a fragmented cache: 32 MiB written sequentially, then every other 32 KiB block
# overwritten, and 1 MiB discarded. With moving GC off a pass can free little; with it on, the
# half-empty buckets are compacted: buckets are freed and cache_available_percent rises. GC's
# marks must agree with a recount, and the data (md5 against a reference kept in step) must
# read back before and after, after re-registering and under the C bcache.ko.
. ./lib.sh

ktap_print_header
ktap_set_plan 14

fmt_cache /dev/vdc
CSET=$(cset_uuid /dev/vdc)
SET=$RB/$CSET
I=$SET/internal
up() {
	rb_load && sysfs_write $RB/register /dev/vdc && sysfs_write $I/copy_gc_enabled 0 &&
		sysfs_write $SET/flash_vol_create 48M && wait_for 10 test -b /dev/bcache0
}
check "a fresh cache, moving GC off, a 48 MiB flash volume" up

dd if=/dev/urandom of=/tmp/ref bs=1M count=32 2>/dev/null
dd if=/dev/urandom of=/tmp/ov bs=32k count=512 2>/dev/null
fill() { dd if=/tmp/ref of=/dev/bcache0 bs=1M oflag=direct conv=fsync 2>/dev/null; }
check "write 32 MiB sequentially" fill
holes() {
	exec 4<>/dev/bcache0 || return 1
	i=0
	while [ $i -lt 512 ]; do
		dd if=/tmp/ov of=/proc/self/fd/4 bs=32k skip=$i seek=$((2 * i)) count=1 oflag=direct \
			conv=notrunc 2>/dev/null || return 1
		dd if=/tmp/ov of=/tmp/ref bs=32k skip=$i seek=$((2 * i)) count=1 conv=notrunc \
			2>/dev/null || return 1
		i=$((i + 1))
	done
	exec 4<&-
	blkdiscard -o $((24 << 20)) -l $((1 << 20)) /dev/bcache0 || return 1
	dd if=/dev/zero of=/tmp/ref bs=1M seek=24 count=1 conv=notrunc 2>/dev/null
}
check "overwrite every other 32 KiB block and discard 1 MiB" holes
same() {
	wait_for 10 test -b /dev/bcache0 &&
		[ "$(dd if=/dev/bcache0 bs=1M count=32 2>/dev/null | md5sum)" = "$(md5sum </tmp/ref)" ] ||
		{ echo "# /dev/bcache0 differs from the reference"; return 1; }
}
check "the volume matches the reference (md5)" same

passes_after() { [ "$(cat $I/gc_passes)" -gt "$1" ]; }
pass() { p=$(cat $I/gc_passes) && sysfs_write $I/trigger_gc 1 && wait_for 60 passes_after "$p"; }
marks_ok() { gc_check_ok $SET; }
settle() { pass && marks_ok && A0=$(cat $SET/cache_available_percent) && F0=$(cat $I/moving_gc_buckets_freed); }
check "a pass with moving GC off; the marks agree with a recount" settle
echo "# cache_available_percent before moving GC: $A0"
compact() { sysfs_write $I/copy_gc_enabled 1 && pass && pass; }
check "two passes with moving GC on" compact
freed() {
	f=$(cat $I/moving_gc_buckets_freed)
	echo "# moving GC freed $((f - F0)) buckets, moved $(cat $I/moving_gc_sectors) sectors"
	[ "$f" -gt "$F0" ]
}
check "moving GC freed buckets" freed
rises() {
	a=$(cat $SET/cache_available_percent)
	echo "# cache_available_percent after: $a"
	[ "$a" -gt "$A0" ]
}
check "cache_available_percent rose" rises
check "the marks still agree with a recount" marks_ok
check "the volume still matches the reference (md5)" same
rereg() {
	sysfs_write $SET/unregister 1 && wait_for 20 test ! -e $SET && rb_unload && rb_load &&
		sysfs_write $RB/register /dev/vdc && same
}
check "unregister, rmmod, register: the same data" rereg
to_c() { sysfs_write $SET/stop 1 && wait_for 20 test ! -e $SET && rb_unload && with_c_module /dev/vdc same; }
check "the C bcache.ko reads the same data" to_c
back() { rb_load && sysfs_write $RB/register /dev/vdc && same; }
check "and rbcache again after the C module" back
down() { sysfs_write $SET/stop 1 && wait_for 20 test ! -e $SET && rb_unload; }
check "stop and rmmod" down
rm -f /tmp/ref /tmp/ov
ktap_finished
