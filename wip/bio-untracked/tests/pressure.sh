#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The IO path under memory pressure, with failslab.
# - Every bio slab fails, so each bio comes from its pool's reserve: several writers' fast
#   writes of three or four parts each to a flash volume complete and read back (each clone
#   is submitted before the next is allocated, from the disk's own pools, whose rescuer sends
#   on the clones waiting under submit_bio; from fs_bio_set, whose reserve is two bios, the
#   third clone waited for ever).
# - No worker thread can be started (kthreadd's allocations fail): a write around the cache
#   completes while slow-path writes wait on its range (its completion runs on rbcache_done;
#   on rbcache_io it sat behind them while the queue's rescuer waited on the range).
# - A writer's own allocations fail at random: its errors come back, nothing hangs, and the
#   set still stops cleanly (leaks are looked for at the end of the run).
. ./lib.sh

ktap_print_header
ktap_set_plan 11

F=/sys/kernel/debug/failslab
[ -d $F ] || die "no $F (CONFIG_FAILSLAB, debugfs)"
# failslab off again: nothing filtered, no bio slab marked, kthreadd not marked.
fs_off() {
	local s
	echo 0 >$F/probability
	echo N >$F/task-filter
	echo N >$F/cache-filter
	for s in /sys/kernel/slab/bio-*/failslab; do echo 0 >"$s"; done
	echo 0 >/proc/2/make-it-fail
}
# fs_on PERCENT: failslab fails that share of the allocations it is let at (sleeping ones too),
# silently, for ever.
fs_on() {
	echo N >$F/ignore-gfp-wait
	echo 0 >$F/verbose
	echo 0 >$F/space
	echo 1 >$F/interval
	echo -1 >$F/times
	echo "$1" >$F/probability
}
# Every bio slab fails (whoever allocates): bios come only from their pools' reserves.
bio_slabs_fail() {
	local s n=0
	echo N >$F/task-filter && echo Y >$F/cache-filter || return 1
	for s in /sys/kernel/slab/bio-*; do
		echo 1 >"$s/failslab" || return 1
		n=$((n + 1))
	done
	echo "# $n bio slabs fail"
	fs_on 100
}
# gone PID: the process has exited (a zombie not yet reaped counts).
gone() {
	[ ! -e "/proc/$1/stat" ] || [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# --- 1. Bios only from the reserves. ---
fmt_cache /dev/vdc
CSET=$(cset_uuid /dev/vdc)
SET=$RB/$CSET
vol() {
	rb_load && sysfs_write $RB/register /dev/vdc && sysfs_write $SET/flash_vol_create 32M &&
		wait_for 10 test -b /dev/bcache0
}
check "a 32 MiB flash volume on a fresh cache with 64 KiB buckets" vol

# Four writers, each over its own 6 MiB, 192 KiB at a time: three or four buckets a write.
WRITERS="--name=w --filename=/dev/bcache0 --rw=randwrite --bs=192k --size=6M --offset=0
	--offset_increment=6M --numjobs=4 --direct=1 --ioengine=psync --thread --randseed=7
	$(fio_gen 7) --allow_file_create=0"
multi_part() {
	local p r
	bio_slabs_fail || return 1
	fio $WRITERS --do_verify=0 --output=/tmp/fio.out >/dev/null 2>&1 &
	p=$!
	wait_for 120 gone $p
	r=$?
	if [ $r != 0 ]; then
		echo "# the writers still wait after 120 s; with the slabs back:"
		fs_off
		wait_for 60 gone $p
		wait $p
		tail -n 5 /tmp/fio.out | sed 's/^/# /'
		return 1
	fi
	wait $p || { tail -n 20 /tmp/fio.out | sed 's/^/# /'; return 1; }
	# Read back, still from the reserves (hits go through the disk's pool too).
	fio $WRITERS --verify_only --output=/tmp/fio.out >/dev/null 2>&1 || {
		tail -n 20 /tmp/fio.out | sed 's/^/# /'
		return 1
	}
}
check "every bio slab fails: four writers' multi-part writes complete and read back" multi_part
fs_off
reverify() {
	fio $WRITERS --verify_only --output=/tmp/fio.out >/dev/null 2>&1 ||
		{ tail -n 20 /tmp/fio.out | sed 's/^/# /'; return 1; }
}
check "with the slabs back the data still reads back" reverify
stop_set() {
	sysfs_write $SET/stop 1 && wait_for 30 test ! -e $SET && wait_for 10 no_gc_threads
}
check "the set stops cleanly" stop_set

# --- 2. No worker can be started. ---
BSECTORS=$(cat /sys/block/vdb/size)
SLOWB=$(dm_create slowb "0 $BSECTORS delay /dev/vdb 0 0") || die "dm-delay on /dev/vdb"
backing_setup "$SLOWB" /dev/vdd
around() {
	sysfs_write $RB/register "$BK" && sysfs_write $RB/register "$CA" && uncongested $SET &&
		wait_for 10 test -b /dev/bcache0 && sysfs_write $B/attach "$CSET" &&
		sysfs_write $B/cache_mode writearound || { echo "# $RB_ERR"; return 1; }
	# Writes to the backing device take 4 s from here (a new target: its thread and queue
	# start now, while they still can).
	dm_reload slowb "0 $BSECTORS delay /dev/vdb 0 0 /dev/vdb 0 4000"
}
check "a backing device on dm-delay attached in writearound mode; its writes take 4 s" around
dd if=/dev/urandom of=/tmp/w0 bs=256k count=1 2>/dev/null
# Two writers pinned to each CPU, 24 writes of 4 KiB in flight each, all inside the first
# write's range: every one is handed to an rbcache_io work item and waits there for the range.
WAITERS="--filename=/dev/bcache0 --rw=write --bs=4k --size=96k --direct=1 --ioengine=libaio
	--iodepth=24 --iodepth_batch_submit=24 --thread --allow_file_create=0 $(fio_gen 9)
	--name=a --offset=0 --cpus_allowed=0 --name=b --offset=128k --cpus_allowed=1"
# w0_sent: a write is in flight on the backing device's dm-delay.
w0_sent() { [ "$(awk '{ print $2 }' /sys/block/$(basename $SLOWB)/inflight)" -ge 1 ]; }
no_worker() {
	local w0 p r
	echo Y >$F/task-filter && echo N >$F/cache-filter && echo 1 >/proc/2/make-it-fail || return 1
	fs_on 100
	# The first write goes around the cache from submit_bio and holds its range for 4 s.
	taskset 1 dd if=/tmp/w0 of=/dev/bcache0 bs=256k count=1 oflag=direct conv=notrunc 2>/dev/null &
	w0=$!
	# Once it is on its way to the backing device (held there by dm-delay), the writers start.
	wait_for 1 w0_sent || echo "# the write around the cache is not in flight on $SLOWB"
	fio $WAITERS --do_verify=0 --output=/tmp/fio.out >/dev/null 2>&1 &
	WAITERS_PID=$!
	wait_for 20 gone $w0
	r=$?
	fs_off
	[ $r = 0 ] || { echo "# the write around the cache was still in flight after 20 s"; return 1; }
	wait $w0
}
check "no worker can be started: a write around the cache still completes" no_worker
waiters_done() {
	wait_for 120 gone $WAITERS_PID || return 1
	wait $WAITERS_PID || { tail -n 20 /tmp/fio.out | sed 's/^/# /'; return 1; }
	dm_reload slowb "0 $BSECTORS delay /dev/vdb 0 0" &&
		fio $WAITERS --verify_only --output=/tmp/fio.out >/dev/null 2>&1 ||
		{ tail -n 20 /tmp/fio.out | sed 's/^/# /'; return 1; }
	# Between the two writers' ranges the first write's data is left.
	[ "$(dd if=/dev/bcache0 bs=32k skip=3 count=1 iflag=direct 2>/dev/null | md5sum)" = \
		"$(dd if=/tmp/w0 bs=32k skip=3 count=1 2>/dev/null | md5sum)" ]
}
check "the writes that waited on its range complete, and all of it reads back" waiters_done

# --- 3. The writer's own allocations fail. ---
check "writeback mode" sysfs_write $B/cache_mode writeback
MIXED="--name=m --filename=/dev/bcache0 --rw=randrw --bs=64k --size=8M --offset=16M
	--direct=1 --ioengine=psync --thread --time_based --runtime=8 --continue_on_error=all
	--allow_file_create=0"
own_fail() {
	local p t n=0
	fio $MIXED --output=/tmp/fio.out >/dev/null 2>&1 &
	p=$!
	sleep 2
	echo Y >$F/task-filter && echo N >$F/cache-filter || return 1
	for t in /proc/$p/task/*; do
		echo 1 >"$t/make-it-fail" 2>/dev/null && n=$((n + 1))
	done
	fs_on 10
	wait_for 60 gone $p
	r=$?
	fs_off
	[ $r = 0 ] || { echo "# fio still runs after 60 s"; wait_for 60 gone $p; return 1; }
	wait $p
	echo "# $n fio threads failed 10% of their allocations; $(grep -m1 -o 'errors *: total=[0-9]*' /tmp/fio.out || echo 'no errors')"
}
check "a writer whose allocations fail at random ends in time" own_fail
after() {
	fio_region /dev/bcache0 16M 8M 11 --do_verify=1
}
check "afterwards the device writes and reads back correctly" after
teardown() {
	sysfs_write $B/stop 1 && sysfs_write $SET/stop 1 && wait_for 30 test ! -e $SET &&
		wait_for 10 test ! -b /dev/bcache0 && wait_for 10 no_gc_threads && rb_unload
}
check "the device and the set stop, the module unloads" teardown
dmsetup remove slowb

ktap_finished
