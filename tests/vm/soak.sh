#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# make soak: one set holding a writeback backing device and a flash volume for SOAK_SECONDS
# (default 600), with fio writing and verifying (crc32c, verify_backlog) on both, while GC is
# triggered, the backing device's cache_mode cycles through writeback, writethrough,
# writearound and back, it is detached (written back) and attached again, and the btree cache
# limit drops to its minimum and drop_caches runs the shrinker. Then a strict gc_check, an md5
# of both verified regions, a stop of the set while other writes are in flight, and the C
# bcache.ko reads both regions back (md5).
. ./lib.sh

SOAK=${SOAK_SECONDS:-600}
CA=/dev/vda
BK=/dev/vdb
ktap_print_header
ktap_set_plan 6
backing_setup $BK $CA
I=$SET/internal

up() {
	rb_load && sysfs_write $RB/register $BK && sysfs_write $RB/register $CA &&
		wait_for 10 test -e $B/attach && sysfs_write $B/attach $CSET &&
		sysfs_write $B/cache_mode writeback && sysfs_write $SET/flash_vol_create 24M || return 1
	wait_for 10 test -e $B/dev || return 1
	BD=/dev/$(basename "$(readlink -f $B/dev)")
	FD=
	for d in /sys/block/bcache*; do
		[ "/dev/$(basename $d)" = "$BD" ] || FD=/dev/$(basename $d)
	done
	echo "# backing device $BD, flash volume $FD"
	[ -b "$BD" ] && [ -b "$FD" ]
}
check "a set with a writeback backing device and a flash volume" up

verify_job() {
	fio --name=soak --filename=$1 --offset=0 --size=$2 --rw=randwrite --bs=4k \
		--ioengine=libaio --iodepth=8 --direct=1 --verify=crc32c --verify_backlog=256 \
		--verify_fatal=1 --time_based --runtime=$SOAK --randseed=$3 --output=/tmp/fio.$3 \
		>/dev/null 2>&1
}
churn() {
	end=$(($(date +%s) + SOAK))
	n=0
	while [ "$(date +%s)" -lt "$end" ]; do
		n=$((n + 1))
		echo 1 >$I/trigger_gc
		case $((n % 4)) in
		0) m=writeback ;;
		1) m=writethrough ;;
		2) m=writearound ;;
		3) m=writeback ;;
		esac
		echo $m >$B/cache_mode || echo "# cache_mode $m refused"
		if [ $((n % 10)) = 5 ]; then
			echo 1 >$B/detach
			wait_for 120 sh -c "! test -e $B/cache" || echo "# detach did not finish"
			echo $CSET >$B/attach || echo "# attach refused"
			echo writeback >$B/cache_mode
		fi
		if [ $((n % 6)) = 3 ]; then
			echo 65536 >$I/btree_cache_limit
			echo 3 >/proc/sys/vm/drop_caches
			sleep 1
			echo 67108864 >$I/btree_cache_limit
		fi
		sleep 3
	done
	echo "# $n rounds of GC triggers and mode switches, $((n / 10)) detach/attach cycles"
}
soak() {
	verify_job $BD 32M 1 &
	P1=$!
	verify_job $FD 16M 2 &
	P2=$!
	churn
	r=0
	wait $P1 || { echo "# backing device verify failed"; r=1; }
	wait $P2 || { echo "# flash volume verify failed"; r=1; }
	for j in 1 2; do grep -E 'write:|verify|err' /tmp/fio.$j | head -3 | sed 's/^/# /'; done
	return $r
}
check "$SOAK s of fio verify on both with GC, mode switches, detach/attach and shrinking" soak
passes_after() { [ "$(cat $I/gc_passes)" -gt "$1" ]; }
gcpass() { p=$(cat $I/gc_passes) && sysfs_write $I/trigger_gc 1 && wait_for 120 passes_after "$p" && gc_check_ok $SET; }
check "a GC pass; the marks agree with a recount" gcpass
sums() {
	echo 3 >/proc/sys/vm/drop_caches
	S1=$(dd if=$BD bs=1M count=32 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
	S2=$(dd if=$FD bs=1M count=16 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
	[ -n "$S1" ] && [ -n "$S2" ]
}
check "md5 of both verified regions" sums
stop_under_io() {
	dd if=/dev/urandom of=$BD bs=64k seek=640 count=128 oflag=direct 2>/dev/null &
	dd if=/dev/urandom of=$FD bs=64k seek=256 count=128 oflag=direct 2>/dev/null &
	usleep 300000
	sysfs_write $SET/stop 1 && wait_for 60 test ! -e $SET && wait_for 30 test ! -e $B/dev &&
		wait && wait_for 10 rb_unload
}
check "stop the set while writes are in flight; rmmod" stop_under_io
c_reads() {
	insmod $MODDIR/bcache.ko || return 1
	echo $CA >$RB/register
	echo $BK >$RB/register
	wait_for 10 test -e $B/dev || { rmmod bcache; return 1; }
	bd=/dev/$(basename "$(readlink -f $B/dev)")
	fd=
	for d in /sys/block/bcache*; do [ "/dev/$(basename $d)" = "$bd" ] || fd=/dev/$(basename $d); done
	r=0
	[ "$(dd if=$bd bs=1M count=32 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)" = "$S1" ] ||
		{ echo "# C reads other data on the backing device"; r=1; }
	[ "$(dd if=$fd bs=1M count=16 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)" = "$S2" ] ||
		{ echo "# C reads other data on the flash volume"; r=1; }
	echo 1 >$B/stop
	echo 1 >$SET/stop
	wait_for 30 test ! -e $SET
	wait_for 10 rmmod bcache || r=1
	return $r
}
check "the C bcache.ko reads both regions back (md5)" c_reads
ktap_finished
