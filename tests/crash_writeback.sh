#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Power cut in writeback mode (run in two boots by `scripts/vm.sh crash crash_writeback`):
# phase 1 attaches a backing device in writeback mode (writeback stopped), writes 4 MiB of
# random 4 KiB O_SYNC blocks verified by fio (dirty in the cache, each durable when it
# returns), starts a buffered burst and resets the machine. Phase 2: rbcache registers both
# devices and finds the device still attached and dirty, dirty_data counting the 4 MiB, and
# every synced block intact. With SYS=rb (this test) rbcache wrote them; then the C bcache.ko
# reads the same data and writes it back. `crash_c_writeback` runs this with SYS=c, the
# reverse: the C bcache.ko writes in phase 1, and rbcache replays its journal and drains the
# dirty data with its own writeback. Either way the backing superblock ends clean and the raw
# backing device at data_offset holds every block.
. ./lib.sh

SYS=${SYS:-rb}
if [ "$SYS" = rb ]; then
	load() { rb_load; }
	SEED=21
else
	load() { insmod $MODDIR/bcache.ko; }
	SEED=23
fi

BK=/dev/vdb
CA=/dev/vda
B=/sys/block/vdb/bcache
# 4 MiB at 8 MiB of DEV (default /dev/bcache0) in random 4 KiB blocks of one generation (fio_gen).
region() { fio_region "${DEV:-/dev/bcache0}" 8M 4M $SEED "$@"; }

if [ "${PHASE:-1}" = 1 ]; then
	register_fresh $BK $CA load
	uncongested $RB/$(cset_uuid $CA) || exit 1
	echo "$(cset_uuid $CA)" >$B/attach || exit 1
	echo writeback >$B/cache_mode && echo 0 >$B/writeback_running || exit 1
	wait_for 5 test -b /dev/bcache0 || exit 1
	region --do_verify=0 --sync=1 || exit 1
	echo done | dd of=/dev/vdd bs=512 count=1 conv=sync,fsync 2>/dev/null
	dd if=/dev/urandom of=/dev/bcache0 bs=64k seek=300 count=64 2>/dev/null &
	power_cut 300000
fi

ktap_print_header
if [ "$SYS" = rb ]; then ktap_set_plan 9; else ktap_set_plan 10; fi
SET=$RB/$(cset_uuid $CA)
check "phase 1 finished its synced writes" test "$(dd if=/dev/vdd bs=4 count=1 2>/dev/null)" = done
# The backing device first: its writeback is held (writeback_running 0, writeback_delay 0)
# before the cache comes and it attaches, until the checks through the cache are done.
up() {
	rb_load && sysfs_write $RB/register $BK && sysfs_write $B/writeback_running 0 &&
		sysfs_write $B/writeback_delay 0 && sysfs_write $RB/register $CA &&
		wait_for 10 test -b /dev/bcache0 && wait_for 10 test -e $SET
}
check "rbcache registers both after the power cut; the device attaches by itself" up
check "the device is still dirty" test "$(cat $B/state)" = dirty
dirty() {
	d=$(cat $B/dirty_data)
	echo "# dirty_data $d"
	[ "$(echo "$d" | bytes)" -ge $((4 << 20)) ]
}
check "dirty_data counts at least the 4 MiB synced" dirty
check "every synced block verifies through rbcache" region --verify_only
is_clean() { [ "$(cat $B/state)" = clean ] && [ "$(cat $B/dirty_data)" = 0.0k ]; }
# writeback_percent 0: no rate limit.
drain() {
	sysfs_write $B/writeback_percent 0 && sysfs_write $B/writeback_running 1 || return 1
	t0=$(date +%s)
	wait_for 90 is_clean || { echo "# state $(cat $B/state)"; return 1; }
	echo "# clean after $(($(date +%s) - t0)) s"
	sed 's/^/# /' $B/writeback_rate_debug
	w=$(awk '$1 == "written:" { print $2 }' $B/writeback_rate_debug | bytes)
	[ "$w" -ge $((4 << 20)) ] && [ "$(cat $B/dirty_data)" = "0.0k" ]
}
if [ "$SYS" = c ]; then
	check "rbcache's writeback drains it: state clean, at least 4 MiB written back" drain
	check "every block still verifies through rbcache" region --verify_only
fi
# The set's stop stops its attached backing devices too, as 6.12's does.
down() {
	sysfs_write $SET/stop 1 && wait_for 20 test ! -e $SET && wait_for 20 test ! -e $B &&
		rb_unload
}
check "stop the set (the backing device stops with it), rmmod" down
if [ "$SYS" = rb ]; then
	check "the C bcache.ko reads every block and writes the dirty data back" \
		c_writeback $CA $BK region --verify_only
fi
raw() {
	off=$(bcache-super-show $BK | awk '$1 == "dev.data.first_sector" { print $2 }')
	[ -n "$off" ] || off=16
	st=$(bcache-super-show $BK | awk '$1 == "dev.data.cache_state" { print $3 }')
	[ "$st" = "[clean]" ] || { echo "# backing superblock cache_state $st"; return 1; }
	echo 3 >/proc/sys/vm/drop_caches
	loop=$(losetup -f)
	losetup -o $((off * 512)) "$loop" $BK || return 1
	DEV=$loop region --verify_only
	r=$?
	losetup -d "$loop"
	return $r
}
check "the backing superblock is clean; the raw device at data_offset holds every block" raw
check "no cache-set thread is left" no_gc_threads
ktap_finished
