#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The cache set's synchronous flag (CACHE_SYNC in the superblock), writable as in 6.12: junk is
# refused; turning it off and on again keeps the data across a re-register; a cache registered
# while it is off is initialised afresh, as 6.12 does ("invalidating existing data").
. ./lib.sh

ktap_print_header
ktap_set_plan 8

fmt_cache /dev/vdc
CSET=$(cset_uuid /dev/vdc)
SET=$RB/$CSET
up() {
	rb_load && sysfs_write $RB/register /dev/vdc && sysfs_write $SET/flash_vol_create 16M &&
		wait_for 10 test -b /dev/bcache0 && write_pattern /dev/bcache0 && sync &&
		M=$(md5sum </dev/bcache0 | cut -d' ' -f1)
}
check "a flash volume with a pattern" up
junk() {
	expect_errno $SET/synchronous 2 "Invalid argument" &&
		expect_errno $SET/synchronous yes "Invalid argument" &&
		test "$(cat $SET/synchronous)" = 1
}
check "synchronous refuses junk and stays 1" junk
toggle() {
	sysfs_write $SET/synchronous 0 && test "$(cat $SET/synchronous)" = 0 &&
		sysfs_write $SET/synchronous 1 && test "$(cat $SET/synchronous)" = 1
}
check "synchronous goes to 0 and back to 1" toggle
rereg() {
	sysfs_write $SET/unregister 1 && wait_for 20 test ! -e $SET && rb_unload && rb_load &&
		sysfs_write $RB/register /dev/vdc && volume_md5_is "$M"
}
check "after unregister and register the data is intact" rereg
off() {
	sysfs_write $SET/synchronous 0 && sysfs_write $SET/unregister 1 &&
		wait_for 20 test ! -e $SET
}
check "synchronous 0, then unregister" off
# The superblock's flags word (offset 0x68 of the superblock at 4 KiB): bit 0 is CACHE_SYNC.
sbflag() {
	f=$(dd if=/dev/vdc bs=1 skip=$((4096 + 0x68)) count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
	[ $((f & 1)) -eq "$1" ] || { echo "# flags byte $f"; return 1; }
}
check "the superblock records CACHE_SYNC clear" sbflag 0
fresh() {
	sysfs_write $RB/register /dev/vdc && test "$(cat $SET/synchronous)" = 1 && usleep 500000 &&
		! test -b /dev/bcache0 && sbflag 1
}
check "registered again, the cache is initialised afresh (no volume, CACHE_SYNC set)" fresh
down() { sysfs_write $SET/stop 1 && wait_for 20 test ! -e $SET && rb_unload; }
check "stop and rmmod" down
ktap_finished
