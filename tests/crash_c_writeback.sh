#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The reverse of crash_writeback (two boots, `scripts/vm.sh crash crash_c_writeback`): phase 1
# lets the C bcache.ko attach a backing device in writeback mode (writeback stopped), write
# 4 MiB of random 4 KiB O_SYNC blocks with crc32c headers (dirty in the cache, each durable
# when it returns), start a buffered burst and cut the power. Phase 2: rbcache replays the C
# module's journal, finds the device attached and dirty and every synced block intact; then
# rbcache's own writeback drains it, and the raw backing device at data_offset holds every
# block.
. ./lib.sh

BK=/dev/vdb
CA=/dev/vda
B=/sys/block/vdb/bcache
fio_region() {
	fio --name=cwb --filename="${DEV:-/dev/bcache0}" --offset=8M --size=4M --bs=4k \
		--rw=randwrite --direct=1 --ioengine=psync --verify=crc32c --randseed=23 \
		--allow_file_create=0 --thread --output=/tmp/fio.out "$@" >/dev/null 2>&1 || {
		tail -n 20 /tmp/fio.out
		return 1
	}
}

if [ "${PHASE:-1}" = 1 ]; then
	fmt_backing $BK
	fmt_cache $CA
	insmod $MODDIR/bcache.ko || exit 1
	echo $BK >$RB/register && echo $CA >$RB/register || exit 1
	wait_for 10 test -e $B/attach || exit 1
	echo "$(cset_uuid $CA)" >$B/attach || exit 1
	echo writeback >$B/cache_mode && echo 0 >$B/writeback_running || exit 1
	wait_for 5 test -b /dev/bcache0 || exit 1
	fio_region --do_verify=0 --sync=1 || exit 1
	echo done | dd of=/dev/vdd bs=512 count=1 conv=sync,fsync 2>/dev/null
	dd if=/dev/urandom of=/dev/bcache0 bs=64k seek=300 count=64 2>/dev/null &
	usleep 300000
	echo b >/proc/sysrq-trigger
	sleep 10
	exit 1
fi

ktap_print_header
ktap_set_plan 10
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
check "every synced block verifies through rbcache (crc32c)" fio_region --verify_only
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
check "rbcache's writeback drains it: state clean, at least 4 MiB written back" drain
check "every block still verifies through rbcache" fio_region --verify_only
down() {
	sysfs_write $SET/stop 1 && wait_for 20 test ! -e $SET && sysfs_write $B/stop 1 &&
		wait_for 20 test ! -e $B && rb_unload
}
check "stop the set and the backing device, rmmod" down
raw() {
	off=$(bcache-super-show $BK | awk '$1 == "dev.data.first_sector" { print $2 }')
	[ -n "$off" ] || off=16
	st=$(bcache-super-show $BK | awk '$1 == "dev.data.cache_state" { print $3 }')
	[ "$st" = "[clean]" ] || { echo "# backing superblock cache_state $st"; return 1; }
	echo 3 >/proc/sys/vm/drop_caches
	loop=$(losetup -f)
	losetup -o $((off * 512)) "$loop" $BK || return 1
	DEV=$loop fio_region --verify_only
	r=$?
	losetup -d "$loop"
	return $r
}
check "the backing superblock is clean; the raw device at data_offset holds every block" raw
check "no cache-set thread is left" no_gc_threads
ktap_finished
