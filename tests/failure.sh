#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# A failed cache set unregistered under its backing device, and stop_when_cache_set_failed:
# a device with dirty data the set cannot write back (its cache device fails every IO) stops
# with the set, and its data comes back with the set; after internal/io_disable 1, a clean one
# runs on without its cache ("auto"), or stops too ("always"). With the cache device failing
# reads, dirty data fails to read and clean data is read from the backing device.
. ./lib.sh

ktap_print_header
ktap_set_plan 19

# The cache device through device-mapper, so that it can be made to fail every IO.
CRAW=/dev/vdc
CSECTORS=$(cat /sys/block/vdc/size)
CDM=$(dm_create cdev "0 $CSECTORS linear $CRAW 0") || die "dm-linear on $CRAW"
table() { dm_reload cdev "$1"; }

backing_setup /dev/vdb "$CDM"
I=$SET/internal

up() {
	rb_load && sysfs_write $RB/register $BK && sysfs_write $RB/register $CA &&
		uncongested $SET && wait_for 10 test -b /dev/bcache0 &&
		sysfs_write $B/attach "$CSET" && sysfs_write $B/cache_mode writeback &&
		sysfs_write $B/writeback_running 0 || { echo "# $RB_ERR"; return 1; }
}
check "a backing device attached in writeback mode, writeback off" up
policy() {
	[ "$(cat $B/stop_when_cache_set_failed)" = "[auto] always" ] &&
		expect_errno $B/stop_when_cache_set_failed sometimes "Invalid argument" &&
		expect_errno $B/stop_when_cache_set_failed "" "Invalid argument" &&
		sysfs_write $B/stop_when_cache_set_failed always &&
		[ "$(cat $B/stop_when_cache_set_failed)" = "auto [always]" ] &&
		sysfs_write $B/stop_when_cache_set_failed auto &&
		[ "$(cat $B/stop_when_cache_set_failed)" = "[auto] always" ]
}
check "stop_when_cache_set_failed is [auto] always, takes both and refuses junk" policy

dd if=/dev/urandom of=/tmp/d bs=1M count=2 2>/dev/null
WANT=$(md5sum </tmp/d)
got() { dd if=/dev/bcache0 bs=1M count=2 iflag=direct 2>/dev/null | md5sum; }
dirty() {
	dd if=/tmp/d of=/dev/bcache0 bs=64k oflag=direct conv=fsync 2>/dev/null &&
		state_is $B dirty &&
		[ "$(got)" = "$WANT" ]
}
check "2 MiB written: state dirty, the data reads back" dirty

gone() { [ ! -e $SET ] && [ ! -b /dev/bcache0 ] && [ ! -e $B ]; }
# The cache device fails every IO: writeback cannot read the dirty data.
fail_dirty() {
	dmesg_mark
	table "0 $CSECTORS error" && sysfs_write $SET/unregister 1 && wait_for 60 gone || return 1
	logged "dirty data could not be written back" && logged "released: its cache set failed"
}
check "the cache fails, then unregister: the dirty device stops with its set, not in passthrough" \
	fail_dirty
sbdirty() { bcache-super-show $BK | grep "dev.data.cache_state" | grep -q dirty; }
check "its superblock still says dirty" sbdirty

back() {
	# Writeback held until the data has been read through the cache.
	table "0 $CSECTORS linear $CRAW 0" && sysfs_write $RB/register $BK &&
		sysfs_write $B/writeback_running 0 && sysfs_write $RB/register $CA &&
		uncongested $SET && wait_for 10 test -b /dev/bcache0 && state_is $B dirty || return 1
	echo "# state $(cat $B/state), dirty_data $(cat $B/dirty_data)"
	[ "$(got)" = "$WANT" ]
}
check "both registered again: the device attaches dirty and reads the data from the cache" back
# A cache device that fails reads. Dirty data is only in the cache: reads of it fail rather
# than return the older data on the backing device.
rec() { cat $I/read_errors_recovered; }
dirty_err() {
	r=$(rec)
	table "0 $CSECTORS error" || return 1
	if dd if=/dev/bcache0 of=/dev/null bs=64k count=1 iflag=direct 2>/dev/null; then
		table "0 $CSECTORS linear $CRAW 0"
		echo "# a read of dirty data succeeded with the cache failing"
		return 1
	fi
	table "0 $CSECTORS linear $CRAW 0" && [ "$(rec)" = "$r" ] && [ "$(got)" = "$WANT" ]
}
check "the cache fails reads: a read of dirty data fails (EIO); healthy again, it reads back" dirty_err
drain() {
	sysfs_write $B/writeback_running 1 && wait_for 60 state_is $B clean &&
		echo 3 >/proc/sys/vm/drop_caches &&
		[ "$(dd if=$BK bs=512 skip=$(cat $B/data_offset) count=4096 2>/dev/null | md5sum)" = "$WANT" ]
}
check "writeback drains it: clean, and the backing device holds the data" drain
# Clean data is on the backing device too: with the cache failing reads, it is read from
# there (6.12's recoverable read error), the whole-extent reads and the mixed ones alike.
clean_err() {
	r=$(rec)
	# Many errors follow: the set must not fail here (see errlimit).
	sysfs_write $SET/io_error_limit 1000 && table "0 $CSECTORS error" || return 1
	g=$(got)
	m=$(dd if=/dev/bcache0 bs=4k skip=3 count=4 iflag=direct 2>/dev/null | md5sum)
	table "0 $CSECTORS linear $CRAW 0" || return 1
	echo "# read_errors_recovered $r -> $(rec)"
	[ "$g" = "$WANT" ] && [ "$(rec)" -gt "$r" ] &&
		[ "$m" = "$(dd if=/tmp/d bs=4k skip=3 count=4 2>/dev/null | md5sum)" ]
}
check "the cache fails reads: clean data is read from the backing device, counted" clean_err

# Error accounting (6.12's bch_count_io_errors): the cache device's io_errors, and the set's
# errors, io_error_limit and io_error_halflife.
ioerr() { cat /sys/block/$(basename $CA)/bcache/io_errors; }
errknobs() {
	echo "# io_errors $(ioerr)"
	[ "$(ioerr)" -ge 36 ] && [ "$(cat $SET/errors)" = "[unregister]" ] &&
		sysfs_write $SET/errors unregister &&
		expect_errno $SET/errors panic "Invalid argument" &&
		expect_errno $SET/errors junk "Invalid argument" &&
		expect_errno $SET/io_error_limit -1 "Invalid argument" &&
		expect_errno $SET/io_error_halflife x "Invalid argument" &&
		[ "$(cat $SET/io_error_limit)" = 1000 ] && [ "$(cat $SET/io_error_halflife)" = 0 ] &&
		sysfs_write $SET/io_error_halflife 1000 && [ "$(cat $SET/io_error_halflife)" = 968 ] &&
		sysfs_write $SET/io_error_halflife 0 && sysfs_write $SET/io_error_limit 99999999999 &&
		[ "$(cat $SET/io_error_limit)" = 4294967295 ]
}
check "io_errors counts; errors, io_error_limit and io_error_halflife take values, refuse junk" \
	errknobs
# Past io_error_limit the set fails (IO disabled) and unregisters itself: the clean device
# detaches and runs on in passthrough (stop_when_cache_set_failed auto) with the same data.
errlimit() {
	sysfs_write $SET/io_error_limit $(($(ioerr) + 4)) || return 1
	dmesg_mark
	table "0 $CSECTORS error" || return 1
	got >/dev/null
	wait_for 30 test ! -e $SET
	gone_ok=$?
	table "0 $CSECTORS linear $CRAW 0" || return 1
	[ $gone_ok = 0 ] && logged "IO errors, the last reading data: the cache set fails" &&
		state_is $B "no cache" && [ "$(got)" = "$WANT" ]
}
check "past io_error_limit the set fails and unregisters; the clean device runs on, same data" \
	errlimit
reattach() {
	sysfs_write $RB/register $CA && uncongested $SET && sysfs_write $B/attach "$CSET" &&
		sysfs_write $B/cache_mode writeback && state_is $B clean && [ "$(got)" = "$WANT" ] &&
		[ "$(ioerr)" = 0 ] && [ "$(cat $SET/io_error_limit)" = 8 ]
}
check "registered and attached again: clean, the data unchanged, the error count fresh" reattach

fail_clean() {
	sysfs_write $I/io_disable 1 && sysfs_write $SET/unregister 1 && wait_for 30 test ! -e $SET &&
		test -b /dev/bcache0 && state_is $B "no cache"
}
check "clean, auto: after io_disable and unregister the device runs on, state no cache" fail_clean
check "... and reads back the data from the backing device" test "$(got)" = "$WANT"
nosb() { ! bcache-super-show $BK | grep -q "cset.uuid.*$CSET"; }
check "... and its superblock names no set" nosb

again() {
	sysfs_write $RB/register $CA && uncongested $SET && sysfs_write $B/attach "$CSET" &&
		state_is $B clean && [ "$(got)" = "$WANT" ]
}
check "attached again: clean, the data unchanged" again
always() {
	dmesg_mark
	sysfs_write $B/stop_when_cache_set_failed always && sysfs_write $I/io_disable 1 &&
		sysfs_write $SET/unregister 1 && wait_for 30 gone &&
		logged "stop_when_cache_set_failed is always"
}
check "clean, always: after io_disable and unregister the device stops with its set" always
raw() {
	echo 3 >/proc/sys/vm/drop_caches
	off=$(bcache-super-show $BK | awk '$1 == "dev.data.first_sector" { print $2 }')
	[ -n "$off" ] || off=16
	[ "$(dd if=$BK bs=512 skip=$off count=4096 2>/dev/null | md5sum)" = "$WANT" ]
}
check "the backing device holds the data" raw

check "rmmod" rb_unload
dmsetup remove cdev
ktap_finished
