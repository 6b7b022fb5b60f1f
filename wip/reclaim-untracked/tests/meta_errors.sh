#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Metadata write errors fail the cache set, as 6.12's bch_cache_set_error() does. The cache
# device, through dm-flakey, starts failing every write (reads still work), and then:
# - a journal write (a flush with keys pending) fails the set at once: one error line naming
#   the cache device and the journal, the set unregisters, its dirty backing device stops
#   (stop_when_cache_set_failed auto: the dirty data stays in the cache) and its flash volume
#   goes. On a healthy device again, everything acknowledged as durable reads back;
# - a uuid-table write (flash_vol_create) fails it likewise; a clean backing device detaches
#   and runs on without its cache, with its data;
# - btree node writes (a GC pass's tree flush) and superblock writes (cache_replacement_policy)
#   count toward io_error_limit, as 6.12 counts them: with a limit of 1 the first fails the set.
. ./lib.sh

ktap_print_header
ktap_set_plan 12

CRAW=/dev/vdc
CSECTORS=$(cat /sys/block/vdc/size)
LINEAR="0 $CSECTORS linear $CRAW 0"
CDM=$(dm_create cdev "$LINEAR") || die "dm-linear on $CRAW"
CDEV=$(cat /sys/block/$(basename $CDM)/dev)
healthy() { dm_reload cdev "$LINEAR"; }
failing_writes() { dm_reload cdev "0 $CSECTORS flakey $CRAW 0 0 3600 1 error_writes"; }

backing_setup /dev/vdb "$CDM"
I=$SET/internal
CDIR=/sys/block/$(basename $CDM)/bcache

# The /dev node of the set's flash volume, and of the backing device.
vol_dev() {
	local l
	for l in $SET/volume*; do
		[ -e "$l" ] && echo "/dev/$(basename "$(dirname "$(readlink -f "$l")")")" && return 0
	done
	return 1
}
bk_dev() { [ -e $B/dev ] && echo "/dev/$(basename "$(readlink -f $B/dev)")"; }
md5_of() { dd if="$1" bs=64k count="$2" iflag=direct 2>/dev/null | md5sum; }
gone() { [ ! -e $SET ] && no_gc_threads; }
# failed_with REASON: one error line since the mark, naming the cache device and REASON.
failed_with() { logged "cache device $CDEV: $1: the cache set fails" && log_once "the cache set fails"; }
# Registers the cache on a healthy device again, and the backing device unless it still is.
register_both() {
	healthy && sysfs_write $RB/register_quiet $BK && sysfs_write $RB/register $CA &&
		uncongested $SET
}

dd if=/dev/urandom of=/tmp/d bs=64k count=16 2>/dev/null
dd if=/dev/urandom of=/tmp/f1 bs=64k count=16 2>/dev/null
dd if=/dev/urandom of=/tmp/f2 bs=64k count=16 2>/dev/null

# journal_delay_ms 10000 (before the writes, which the journal thread's next wait then uses):
# keys written without a flush stay pending for the flush that is made to fail.
up() {
	rb_load && register_both && sysfs_write $SET/journal_delay_ms 10000 &&
		sysfs_write $B/attach "$CSET" &&
		sysfs_write $B/cache_mode writeback && sysfs_write $B/writeback_running 0 &&
		sysfs_write $SET/flash_vol_create 8M && wait_for 10 vol_dev >/dev/null &&
		wait_for 10 bk_dev >/dev/null || { echo "# $RB_ERR"; return 1; }
}
check "a backing device in writeback mode and a flash volume, on a cache through dm" up
durable() {
	dd if=/tmp/d of="$(bk_dev)" bs=64k oflag=direct conv=fsync 2>/dev/null &&
		state_is $B dirty &&
		dd if=/tmp/f1 of="$(vol_dev)" bs=64k oflag=direct conv=fsync 2>/dev/null
}
check "1 MiB written to each and flushed: the backing device is dirty" durable

journal_fails() {
	local vol
	vol=$(vol_dev) && dd if=/tmp/f2 of="$vol" bs=64k seek=16 oflag=direct 2>/dev/null || return 1
	dmesg_mark
	failing_writes || return 1
	# The volume's fsync: an empty flush, which writes the pending journal entry.
	if sync "$vol"; then
		echo "# the flush succeeded with every write failing"
		return 1
	fi
	wait_for 60 gone && failed_with "journal write failed"
}
check "writes fail, then a flush: the journal write fails the set, which unregisters" journal_fails
dirty_stops() {
	wait_for 10 test ! -e $B &&
		logged "stop_when_cache_set_failed is auto and it has dirty data: stopping it" &&
		logged "released: its cache set failed"
}
check "... the dirty backing device stops with it (auto)" dirty_stops

back() {
	register_both && wait_for 10 bk_dev >/dev/null && wait_for 10 vol_dev >/dev/null || return 1
	echo "# state $(cat $B/state)"
	[ "$(md5_of "$(bk_dev)" 16)" = "$(md5sum </tmp/d)" ] &&
		[ "$(md5_of "$(vol_dev)" 16)" = "$(md5sum </tmp/f1)" ]
}
check "healthy again and registered: what was flushed reads back, dirty data from the cache" back
check "... and writeback makes the backing device clean" wait_for 60 state_is $B clean

uuid_fails() {
	dmesg_mark
	failing_writes || return 1
	if sysfs_write $SET/flash_vol_create 4M; then
		echo "# flash_vol_create succeeded with every write failing"
		return 1
	fi
	wait_for 60 gone && failed_with "uuid table write failed"
}
check "writes fail: flash_vol_create's uuid-table write fails the set" uuid_fails
clean_runs() {
	wait_for 10 state_is $B "no cache" && [ "$(md5_of "$(bk_dev)" 16)" = "$(md5sum </tmp/d)" ]
}
check "... the clean backing device runs on without its cache, same data (auto)" clean_runs

node_counts() {
	register_both && wait_for 10 vol_dev >/dev/null || return 1
	# Keys journaled, their leaf dirty: the next tree flush writes it.
	dd if=/tmp/f2 of="$(vol_dev)" bs=64k seek=32 oflag=direct conv=fsync 2>/dev/null &&
		sysfs_write $SET/io_error_limit 1 || return 1
	dmesg_mark
	failing_writes && sysfs_write $I/trigger_gc 1 && wait_for 60 gone &&
		failed_with "1 IO errors, the last writing a btree node"
}
check "io_error_limit 1, writes fail: GC's tree flush fails a node write, the set fails" node_counts

sb_counts() {
	register_both && sysfs_write $SET/io_error_limit 1 || return 1
	dmesg_mark
	failing_writes || return 1
	if sysfs_write $CDIR/cache_replacement_policy fifo; then
		echo "# the superblock write succeeded with every write failing"
		return 1
	fi
	wait_for 60 gone && failed_with "1 IO errors, the last writing the superblock"
}
check "io_error_limit 1, writes fail: a failed superblock write fails the set" sb_counts

final() {
	register_both && wait_for 10 vol_dev >/dev/null &&
		[ "$(md5_of "$(vol_dev)" 16)" = "$(md5sum </tmp/f1)" ] &&
		[ "$(md5_of "$(bk_dev)" 16)" = "$(md5sum </tmp/d)" ] &&
		sysfs_write $SET/unregister 1 && wait_for 30 gone
}
check "healthy again: the volume and the backing device read back the same; unregister" final

check "rmmod" rb_unload
dmsetup remove cdev
ktap_finished
