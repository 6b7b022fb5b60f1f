#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Registration of make-bcache cache and backing devices, the sysfs they create, double
# registration, register_quiet, pendings_cleanup, and unregister.
. ./lib.sh

ktap_print_header
ktap_set_plan 28

fmt_cache /dev/vda
fmt_backing /dev/vdb
CSET=$(cset_uuid /dev/vda)
[ -n "$CSET" ] || die "no cset uuid on /dev/vda"
SET=$RB/$CSET

check "insmod rbcache" rb_load
check "/sys/fs/bcache has register, register_quiet, pendings_cleanup" \
	test -f $RB/register -a -f $RB/register_quiet -a -f $RB/pendings_cleanup
check "register a make-bcache cache device" sysfs_write $RB/register /dev/vda
check "cache set directory /sys/fs/bcache/<set-uuid> appears" test -d "$SET"
files_present() {
	for f in unregister stop block_size bucket_size internal/trigger_gc \
		internal/btree_gc_average_duration_ms internal/btree_gc_average_frequency_sec \
		internal/btree_gc_last_sec internal/btree_gc_max_duration_ms internal/gc_passes \
		internal/gc_running internal/gc_wakeups_sysfs internal/gc_wakeups_allocator \
		internal/gc_wakeups_write internal/io_disable; do
		[ -e "$SET/$f" ] || { echo "# missing $SET/$f"; return 1; }
	done
}
check "set has unregister, stop, internal/trigger_gc and the GC statistics" files_present
check "block_size is 0.5k (512-byte virtio blocks)" test "$(cat "$SET/block_size")" = 0.5k
check "bucket_size is 64.0k" test "$(cat "$SET/bucket_size")" = 64.0k
check "gc_passes starts at 0" test "$(cat "$SET/internal/gc_passes")" = 0
cache_sysfs() {
	local C=/sys/block/vda/bcache
	[ "$(cat $C/bucket_size)" = 64.0k ] && [ "$(cat $C/nbuckets)" = 1024 ] &&
		[ "$(cat $C/cache_replacement_policy)" = "[lru] fifo random" ] &&
		[ "$(cat $C/discard)" = 0 ]
}
check "/sys/block/vda/bcache shows bucket_size, nbuckets, policy, discard" cache_sysfs
# 6.12's fixed values: the writeback cutoffs, the feature files (make-bcache -b 64k sets no
# feature: large_bucket unbracketed, compat and ro_compat empty), idle_max_writeback_rate on.
internal_as_6_12() {
	local I=$SET/internal
	[ "$(cat $I/cutoff_writeback)" = 40 ] && [ "$(cat $I/cutoff_writeback_sync)" = 70 ] &&
		[ "$(cat $I/feature_incompat)" = large_bucket ] &&
		[ -z "$(cat $I/feature_compat)" ] && [ -z "$(cat $I/feature_ro_compat)" ] &&
		[ "$(cat $I/idle_max_writeback_rate)" = 1 ] && [ "$(cat $I/cache_read_races)" = 0 ]
}
check "internal/ shows cutoff_writeback*, feature_*, idle_max_writeback_rate as 6.12" internal_as_6_12
idle_switch() {
	local f=$SET/internal/idle_max_writeback_rate
	expect_errno $f 2 "Invalid argument" && expect_errno $f junk "Invalid argument" &&
		[ "$(cat $f)" = 1 ] && sysfs_write $f 0 && [ "$(cat $f)" = 0 ] &&
		sysfs_write $f 1 && [ "$(cat $f)" = 1 ]
}
check "idle_max_writeback_rate takes 0 and 1 and refuses junk unchanged" idle_switch
clear_cache_stats() {
	local C=/sys/block/vda/bcache
	# A flash volume's 1 MiB write and its journal entry give the counters something.
	sysfs_write $SET/flash_vol_create 4M && wait_for 10 test -b /dev/bcache0 &&
		dd if=/dev/urandom of=/dev/bcache0 bs=64k count=16 oflag=direct 2>/dev/null &&
		wait_for 10 test "$(cat $C/metadata_written)" != 0.0k || {
		echo "# written $(cat $C/written) metadata_written $(cat $C/metadata_written)"
		return 1
	}
	[ "$(cat $C/written)" = 1.0M ] || { echo "# written $(cat $C/written)"; return 1; }
	sysfs_write $C/clear_stats 1 && [ "$(cat $C/written)" = 0.0k ] &&
		[ "$(cat $C/btree_written)" = 0.0k ] && [ "$(cat $C/metadata_written)" = 0.0k ] &&
		[ "$(cat $C/io_errors)" = 0 ]
}
check "the cache device's clear_stats zeroes written, btree_written, metadata_written, io_errors" clear_cache_stats
avail() { v=$(cat "$SET/cache_available_percent") && [ "$v" -gt 90 ] && [ "$v" -le 100 ]; }
check "cache_available_percent of a fresh set is above 90" avail
check "one set: its bcache_gc, bcache_allocator and bcache_journal threads run" test "$(gc_threads)" -eq 3
check "register a make-bcache backing device" sysfs_write $RB/register /dev/vdb

dmesg_mark
check "registering the cache again fails with EBUSY" \
	expect_errno $RB/register /dev/vda "Device or resource busy"
check "... and logs one line naming the device" log_once "register /dev/vda: device already registered"
check "registering the backing device again fails with EBUSY" \
	expect_errno $RB/register /dev/vdb "Device or resource busy"

dmesg_mark
check "register_quiet of a registered device succeeds silently" \
	sysfs_write $RB/register_quiet /dev/vda
not_logged() { ! dmesg_since | grep -qF "$1"; }
check "... with nothing logged" not_logged "register /dev/vda"

check "pendings_cleanup releases the backing device whose set is not registered" \
	sysfs_write $RB/pendings_cleanup 1
check "the released backing device registers again (path with spaces and newline)" \
	sysfs_write $RB/register "  /dev/vdb  "
check "still one set's three threads" test "$(gc_threads)" -eq 3

check "unregister the cache set" sysfs_write "$SET/unregister" 1
check "the set directory disappears" wait_for 10 test ! -e "$SET"
check "/sys/block/vda/bcache disappears" test ! -e /sys/block/vda/bcache
check "no bcache_gc thread remains" wait_for 5 no_gc_threads
unload_removes_root() { rb_unload && test ! -e $RB; }
check "rmmod removes /sys/fs/bcache" unload_removes_root

ktap_finished
