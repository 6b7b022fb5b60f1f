#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Writeback racing a foreground write, forced: the backing device sits behind dm-delay, so a
# writeback write of a dirty block stays in flight for 2 s; the block is overwritten (in
# writeback mode, into the cache) meanwhile. Writeback's compare-and-replace must then leave
# the newer key dirty (counted as a race in writeback_rate_debug), write it back on a later
# pass, and the backing device and /dev/bcache0 must both end with the newer data. Then the
# backing device's error accounting, up to the device stopping at its io_error_limit.
. ./lib.sh

ktap_print_header
ktap_set_plan 8

SECTORS=$(cat /sys/block/vdb/size)
BKD=$(dm_create bkd "0 $SECTORS delay /dev/vdb 0 0") || die "dm-delay on /dev/vdb"
backing_setup "$BKD" /dev/vdc
# Writes (and flushes) of the backing device take MS more milliseconds; reads none.
wdelay() { dm_reload bkd "0 $SECTORS delay /dev/vdb 0 0 /dev/vdb 0 $1"; }
# Block 100 (4 KiB) of a device, skipping OFFSET sectors first.
blk() {
	echo 3 >/proc/sys/vm/drop_caches
	dd if="$1" bs=4096 iflag=skip_bytes skip=$((${2:-0} * 512 + 409600)) count=1 2>/dev/null |
		md5sum | cut -d' ' -f1
}
races() { awk '/^races:/ { print $2 }' $B/writeback_rate_debug; }

up() {
	rb_load && sysfs_write $RB/register $BKD && sysfs_write $RB/register $CA &&
		uncongested $SET && sysfs_write $B/attach "$CSET" &&
		sysfs_write $B/cache_mode writeback && sysfs_write $B/writeback_running 0 &&
		sysfs_write $B/writeback_percent 0 && sysfs_write $B/writeback_delay 0 &&
		sysfs_write $B/sequential_cutoff 0 && wait_for 10 test -b /dev/bcache0
}
check "a backing device behind dm-delay, attached in writeback mode, writeback off" up
[ -d $SET ] || die "setup failed: $RB_ERR"

dd if=/dev/urandom of=/tmp/a bs=4k count=1 2>/dev/null
dd if=/dev/urandom of=/tmp/b bs=4k count=1 2>/dev/null
A=$(md5sum </tmp/a | cut -d' ' -f1)
W=$(md5sum </tmp/b | cut -d' ' -f1)
first() {
	dd if=/tmp/a of=/dev/bcache0 bs=4k seek=100 oflag=direct conv=fsync 2>/dev/null &&
		state_is $B dirty && [ "$(blk /dev/bcache0)" = "$A" ]
}
check "a 4 KiB block written: dirty in the cache" first

# Writeback's write of the block to the backing device, in flight: held by dm-delay (its
# status counts the reads, writes and flushes it holds).
wb_inflight() { [ "$(dmsetup status bkd | awk '{ print $5 }')" -gt 0 ]; }
overwrite() {
	r=$(races)
	wdelay 2000 && sysfs_write $B/writeback_running 1 || return 1
	wait_for 5 wb_inflight || {
		echo "# no write held: $(dmsetup status bkd)"
		return 1
	}
	# No fsync: a flush could wait for the delayed backing device.
	dd if=/tmp/b of=/dev/bcache0 bs=4k seek=100 oflag=direct 2>/dev/null || return 1
	# The overwrite went to the cache while writeback's backing write was still held.
	wb_inflight || { echo "# writeback's write completed before the overwrite"; return 1; }
	echo "# races before $r"
	wait_for 20 races_grew
}
races_grew() {
	[ "$(races)" -gt "$r" ] || return 1
	echo "# races now $(races), writeback_keys_failed $(cat $SET/internal/writeback_keys_failed)"
	# The set's count of the same (6.12's name; 6.12 itself never counts it).
	[ "$(cat $SET/internal/writeback_keys_failed)" -ge 1 ]
}
check "overwritten while writeback's backing write is in flight: counted as a race (and in writeback_keys_failed)" overwrite
clean_wait() { wdelay 0 && wait_for 60 state_is $B clean; }
check "writeback writes the newer data on a later pass: state clean" clean_wait
check "/dev/bcache0 reads the newer data" test "$(blk /dev/bcache0)" = "$W"
raw() {
	got=$(blk /dev/vdb "$(cat $B/data_offset)")
	echo "# backing block md5 $got, newer $W, older $A"
	[ "$got" = "$W" ]
}
check "the backing device holds the newer data" raw

# The backing device's error accounting (6.12's bch_count_backing_io_errors): io_errors,
# io_error_limit (64) and io_disable, then the device stopping at its limit.
bk_knobs() {
	[ "$(cat $B/io_errors)" = 0 ] && [ "$(cat $B/io_error_limit)" = 64 ] &&
		[ "$(cat $B/io_disable)" = 0 ] &&
		expect_errno $B/io_error_limit x "Invalid argument" &&
		expect_errno $B/io_disable junk "Invalid argument" &&
		sysfs_write $B/io_error_limit 99999999999 &&
		[ "$(cat $B/io_error_limit)" = 2147483647 ] &&
		sysfs_write $B/io_disable 5 && [ "$(cat $B/io_disable)" = 1 ] || return 1
	if dd if=/dev/bcache0 of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null; then
		echo "# a read went through with io_disable 1"
		return 1
	fi
	sysfs_write $B/io_disable 0 && dd if=/dev/bcache0 of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null
}
check "io_errors, io_error_limit (64) and io_disable: junk refused; io_disable fails IO" bk_knobs
bk_fail() {
	sysfs_write $B/io_error_limit 4 || return 1
	dmesg_mark
	dm_reload bkd "0 $SECTORS error" || return 1
	# Reads of blocks the cache does not hold: each fails on the backing device.
	for i in 1 2 3 4 5 6; do
		dd if=/dev/bcache0 of=/dev/null bs=4k skip=$((2000 + i * 10)) count=1 iflag=direct \
			2>/dev/null
	done
	echo "# io_errors $(cat $B/io_errors 2>/dev/null)"
	wait_for 10 sh -c "! test -b /dev/bcache0"
	gone=$?
	dm_reload bkd "0 $SECTORS delay /dev/vdb 0 0" || return 1
	[ $gone = 0 ] && [ ! -e $B ] && logged "4 IO errors: stopping it"
}
check "at the backing device's io_error_limit, /dev/bcache0 stops, with one log line" bk_fail

sysfs_write $SET/unregister 1
wait_for 30 no_gc_threads
sysfs_write $B/stop 1
wait_for 10 sh -c "! test -b /dev/bcache0"
rb_unload
dmsetup remove bkd
ktap_finished
