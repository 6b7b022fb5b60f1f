#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Power cut in writeback mode (run in two boots by `scripts/vm.sh crash crash_writeback`):
# phase 1 attaches a backing device in writeback mode, writes 4 MiB of random 4 KiB O_SYNC
# blocks with crc32c headers (dirty in the cache, each durable when it returns), starts a
# buffered burst and resets the machine. Phase 2: rbcache finds the set and the device still
# dirty and every synced block intact; then the C bcache.ko reads the same data and writes it
# back, and the raw backing device at data_offset holds every block.
. ./lib.sh

BK=/dev/vdb
CA=/dev/vda
B=/sys/block/vdb/bcache
fio_region() {
	fio --name=wb --filename="${DEV:-/dev/bcache0}" --offset=8M --size=4M --bs=4k \
		--rw=randwrite --direct=1 --ioengine=psync --verify=crc32c --randseed=21 \
		--allow_file_create=0 --thread --output=/tmp/fio.out "$@" >/dev/null 2>&1 || {
		tail -n 20 /tmp/fio.out
		return 1
	}
}

if [ "${PHASE:-1}" = 1 ]; then
	fmt_backing $BK
	fmt_cache $CA
	rb_load || exit 1
	echo $BK >$RB/register && echo $CA >$RB/register || exit 1
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
ktap_set_plan 8
SET=$RB/$(cset_uuid $CA)
check "phase 1 finished its synced writes" test "$(dd if=/dev/vdd bs=4 count=1 2>/dev/null)" = done
# The backing device first, its writeback held until the checks through the cache are done.
up() {
	rb_load && sysfs_write $RB/register $BK && sysfs_write $B/writeback_running 0 &&
		sysfs_write $RB/register $CA && wait_for 10 test -b /dev/bcache0
}
check "rbcache registers both after the power cut; the device attaches by itself" up
check "the device is still dirty" test "$(cat $B/state)" = dirty
check "every synced block verifies through rbcache (crc32c)" fio_region --verify_only
down() {
	sysfs_write $SET/stop 1 && wait_for 20 test ! -e $SET && sysfs_write $B/stop 1 &&
		wait_for 20 test ! -e $B && rb_unload
}
check "stop the set and the backing device, rmmod" down
check "the C bcache.ko reads every block and writes the dirty data back" \
	c_writeback $CA $BK fio_region --verify_only
raw() {
	off=$(bcache-super-show $BK | awk '$1 == "dev.data.first_sector" { print $2 }')
	[ -n "$off" ] || off=16
	loop=$(losetup -f)
	losetup -o $((off * 512)) "$loop" $BK || return 1
	DEV=$loop fio_region --verify_only
	r=$?
	losetup -d "$loop"
	return $r
}
check "the raw backing device at data_offset holds every block" raw
check "no cache-set thread is left" no_gc_threads
ktap_finished
