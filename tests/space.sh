#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Space management on a flash volume: three times more data than the cache holds is written
# over the same 36 MiB, so buckets must be invalidated and reused (prio writes, moving GC
# compacting fragmented buckets), and the btree splits and grows a root.
# Every block is verified with fio after each pass, after re-registration, under the C
# bcache.ko, and back under rbcache; GC's marks must agree with a recount.
. ./lib.sh

ktap_print_header
ktap_set_plan 21

fmt_cache /dev/vdb
CSET=$(cset_uuid /dev/vdb)
SET=$RB/$CSET
I=$SET/internal
up() { rb_load && sysfs_write $RB/register /dev/vdb; }
check "register a fresh 64 MiB cache" up
check "create a 40 MiB flash volume" sysfs_write $SET/flash_vol_create 40M
check "/dev/bcache0 appears" wait_for 10 test -b /dev/bcache0

# 8 KiB blocks over 36 MiB, of the pass's generation (fio_gen); every pass covers every block once.
fio_run() {
	fio --name=space --filename=/dev/bcache0 --bs=8k --size=36M --direct=1 --ioengine=psync \
		$(fio_gen "$(seed_of "$@")") --rw=randwrite --thread --output=/tmp/fio.out "$@" >/dev/null 2>&1 || {
		tail -n 20 /tmp/fio.out
		return 1
	}
}
overwrite3() {
	for i in 1 2 3; do
		fio_run --do_verify=1 --randseed=$i || { echo "# pass $i failed"; return 1; }
	done
}
check "108 MiB of random 8 KiB writes into the 64 MiB cache verify (3 passes)" overwrite3
val() { cat "$I/$1"; }
positive() { [ "$(val "$1")" -gt 0 ] || { echo "# $1 is $(val "$1")"; return 1; }; }
check "buckets were invalidated for reuse" positive buckets_invalidated
check "prios and gens were written" positive prio_writes
check "moving GC moved live data out of fragmented buckets" positive moving_gc_keys
check "journal reclaim wrote the btree" positive root_writes
depth() { [ "$(cat $SET/tree_depth)" -ge 1 ] || { echo "# tree_depth $(cat $SET/tree_depth)"; return 1; }; }
check "the btree split and grew a root (tree_depth >= 1)" depth

# A pass with no IO running, then the marks must match a recount exactly.
passes_after() { [ "$(val gc_passes)" -gt "$1" ]; }
quiet_pass() {
	p=$(val gc_passes)
	sysfs_write $I/trigger_gc 1 && wait_for 30 passes_after "$p" && sleep 1 &&
		gc_check_ok $SET
}
check "after a GC pass the marks agree with a recount (gc_check: 0 mismatches)" quiet_pass
avail() {
	a=$(cat $SET/cache_available_percent)
	[ "$a" -ge 5 ] && [ "$a" -le 60 ] || { echo "# cache_available_percent $a"; return 1; }
}
check "cache_available_percent is between 5 and 60 with 36 MiB live" avail

verify_only() { wait_for 10 test -b /dev/bcache0 && fio_run --verify_only --randseed=3; }
rereg() {
	sysfs_write $SET/unregister 1 && wait_for 20 test ! -e $SET && rb_unload &&
		up && verify_only
}
check "unregister, rmmod, register again: every block verifies" rereg
c_reads() {
	verify_only && ! dmesg_since | grep -q "invalidating existing data"
}
to_c() {
	sysfs_write $SET/stop 1 && wait_for 20 test ! -e $SET && rb_unload &&
		dmesg_mark && with_c_module /dev/vdb c_reads
}
check "the C bcache.ko reads the set rbcache wrote: every block verifies" to_c
back() { up && verify_only; }
check "back under rbcache: every block verifies" back
stop_all() { sysfs_write $SET/stop 1 && wait_for 20 test ! -e $SET && rb_unload; }
check "stop and rmmod" stop_all

# The allocator trigger: with moving GC off, 59 MiB written twice over the same range leaves
# the free buckets fewer than the write-path trigger's 4 MiB, so the allocator runs dry, wakes
# GC and waits for it instead of failing.
fmt_cache /dev/vdc
CSET=$(cset_uuid /dev/vdc)
SET=$RB/$CSET
I=$SET/internal
up2() {
	rb_load && sysfs_write $RB/register /dev/vdc && sysfs_write $I/copy_gc_enabled 0 &&
		sysfs_write $SET/flash_vol_create 59M && wait_for 10 test -b /dev/bcache0
}
check "a second fresh cache, moving GC off, a 59 MiB volume" up2
fill_twice() {
	dd if=/dev/urandom of=/tmp/fill bs=1M count=59 2>/dev/null &&
		dd if=/tmp/fill of=/dev/bcache0 bs=1M oflag=direct 2>/dev/null &&
		dd if=/dev/urandom of=/tmp/fill bs=1M count=59 2>/dev/null &&
		dd if=/tmp/fill of=/dev/bcache0 bs=1M oflag=direct 2>/dev/null &&
		[ "$(md5sum </dev/bcache0)" = "$(md5sum </tmp/fill)" ]
}
check "59 MiB written twice read back exactly (md5)" fill_twice
check "the allocator ran dry and woke GC (gc_wakeups_allocator > 0)" positive gc_wakeups_allocator
check "moving GC stayed off" test "$(val moving_gc_keys)" -eq 0
rereg2() {
	sysfs_write $SET/stop 1 && wait_for 20 test ! -e $SET && sysfs_write $RB/register /dev/vdc &&
		wait_for 10 test -b /dev/bcache0 && [ "$(md5sum </dev/bcache0)" = "$(md5sum </tmp/fill)" ]
}
check "after re-registering the data still reads back (md5)" rereg2
rm -f /tmp/fill
check "stop and rmmod" stop_all
ktap_finished
