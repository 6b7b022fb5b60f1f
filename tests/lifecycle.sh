#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Module lifecycle: refusing to load beside the C bcache module, rmmod with devices still
# registered, and re-registration after that.
. ./lib.sh

ktap_print_header
ktap_set_plan 12

fmt_cache /dev/vda
fmt_cache /dev/vdc
fmt_backing /dev/vdb
A=$(cset_uuid /dev/vda)
C=$(cset_uuid /dev/vdc)

check "the C bcache.ko loads (it owns /sys/fs/bcache)" insmod $MODDIR/bcache.ko
dmesg_mark
refused_load() { ! rb_load 2>/dev/null; }
check "rbcache refuses to load beside it" refused_load
# (busybox insmod tries finit_module, then init_module: two attempts, two lines.)
check "... saying why" logged "/sys/fs/bcache already exists (is the C bcache module loaded?)"
check "rmmod bcache" rmmod bcache

check "insmod rbcache" rb_load
register_all() {
	sysfs_write $RB/register /dev/vda && sysfs_write $RB/register /dev/vdb &&
		sysfs_write $RB/register /dev/vdc
}
check "register two cache sets and a backing device" register_all
check "two sets: two each of bcache_gc, bcache_allocator, bcache_journal" test "$(gc_threads)" -eq 6
check "both set directories exist" test -d "$RB/$A" -a -d "$RB/$C"
dmesg_mark
check "rmmod with everything registered succeeds" rb_unload
both_stopped() {
	[ "$(dmesg_since | grep -c 'Cache set .* stopped')" -eq 2 ] && [ "$(gc_threads)" -eq 0 ]
}
check "... stopped both sets and removed their threads" both_stopped
reload_register() {
	rb_load && sysfs_write $RB/register /dev/vda && sysfs_write $RB/register /dev/vdb &&
		test -d "$RB/$A"
}
check "after reload the same devices register again" reload_register
check "rmmod again" rb_unload

ktap_finished
