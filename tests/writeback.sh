#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Writeback policy of a cached device: the rate controller's sysfs files (junk refused), dirty
# accounting (dirty_data follows writes, overwrites and writethrough), the PI controller
# (minimum rate under the target, faster above it, full speed once idle or with
# writeback_percent 0), gc_after_writeback, the full-cache bypass that wakes GC, an
# asynchronous detach under write load, and attaching with a block size mismatch.
# The cache is a 16 MiB loop device (1024 buckets of 16 KiB), so filling it is quick under TCG.
. ./lib.sh

ktap_print_header
ktap_set_plan 25

BK=/dev/vdb
truncate -s 16M /tmp/cache16.img
CA=$(losetup -f)
losetup "$CA" /tmp/cache16.img || die "losetup"
fmt_backing $BK
make-bcache --wipe-bcache -b 16k -C "$CA" >/dev/null 2>&1 || die "make-bcache -C $CA"
CSET=$(cset_uuid $CA)
SET=$RB/$CSET
I=$SET/internal
B=/sys/block/vdb/bcache

up() {
	rb_load && sysfs_write $RB/register $BK && sysfs_write $RB/register $CA &&
		uncongested $SET && sysfs_write $B/attach "$CSET" &&
		sysfs_write $B/cache_mode writeback &&
		sysfs_write $B/writeback_running 0 && sysfs_write $B/writeback_delay 0 &&
		sysfs_write $B/sequential_cutoff 0 && wait_for 10 test -b /dev/bcache0
}
check "a backing device attached in writeback mode, writeback off" up
[ -d $SET ] || die "setup failed: $RB_ERR"

junk() {
	expect_errno $B/writeback_rate 0 "Invalid argument" &&
		expect_errno $B/writeback_rate 2147483648 "Invalid argument" &&
		expect_errno $B/writeback_rate fast "Invalid argument" &&
		expect_errno $B/writeback_rate_update_seconds 0 "Invalid argument" &&
		expect_errno $B/writeback_rate_update_seconds 61 "Invalid argument" &&
		expect_errno $B/writeback_rate_p_term_inverse 0 "Invalid argument" &&
		expect_errno $B/writeback_rate_i_term_inverse -1 "Invalid argument" &&
		expect_errno $B/writeback_rate_minimum 0 "Invalid argument" &&
		expect_errno $B/writeback_percent 41 "Invalid argument" &&
		expect_errno $B/readahead_cache_policy some "Invalid argument" &&
		expect_errno $I/gc_after_writeback 2 "Invalid argument" &&
		test "$(cat $B/writeback_rate_update_seconds)" = 5 &&
		test "$(cat $B/writeback_rate_p_term_inverse)" = 40 &&
		test "$(cat $B/writeback_rate_i_term_inverse)" = 10000 &&
		test "$(cat $B/writeback_rate_minimum)" = 8 &&
		test "$(cat $B/readahead_cache_policy)" = "[all] meta-only" &&
		test "$(cat $I/gc_after_writeback)" = 0
}
check "junk to the writeback tunables is refused; the defaults stay" junk
fp_is() {
	got="$(cat $B/writeback_rate_fp_term_low) $(cat $B/writeback_rate_fp_term_mid) $(cat $B/writeback_rate_fp_term_high)"
	[ "$got" = "$1" ] || { echo "# fp_term $got, want $1"; return 1; }
}
fpjunk() {
	for f in writeback_rate_fp_term_low writeback_rate_fp_term_mid writeback_rate_fp_term_high \
		writeback_consider_fragment writeback_metadata; do
		expect_errno $B/$f junk "Invalid argument" && expect_errno $B/$f -1 "Invalid argument" &&
			expect_errno $B/$f 4294967296 "Invalid argument" || return 1
	done
	expect_errno $B/writeback_rate_fp_term_low 0 "Invalid argument" &&
		expect_errno $B/writeback_consider_fragment 2 "Invalid argument" &&
		expect_errno $B/writeback_metadata 2 "Invalid argument" &&
		fp_is "1 10 1000" && test "$(cat $B/writeback_consider_fragment)" = 1 &&
		test "$(cat $B/writeback_metadata)" = 1
}
check "junk to fp_term, consider_fragment and metadata is refused; the defaults (1 10 1000, 1, 1) stay" fpjunk
fporder() {
	# Each term must stay strictly between its neighbours (what 6.12 keeps as written).
	expect_errno $B/writeback_rate_fp_term_low 10 "Invalid argument" &&
		expect_errno $B/writeback_rate_fp_term_mid 1 "Invalid argument" &&
		expect_errno $B/writeback_rate_fp_term_mid 1000 "Invalid argument" &&
		expect_errno $B/writeback_rate_fp_term_high 10 "Invalid argument" &&
		expect_errno $B/writeback_rate_fp_term_high 5 "Invalid argument" && fp_is "1 10 1000" &&
		sysfs_write $B/writeback_rate_fp_term_high 4000 &&
		sysfs_write $B/writeback_rate_fp_term_mid 3000 &&
		sysfs_write $B/writeback_rate_fp_term_low 2999 && fp_is "2999 3000 4000" &&
		expect_errno $B/writeback_rate_fp_term_mid 2999 "Invalid argument" &&
		expect_errno $B/writeback_rate_fp_term_high 3000 "Invalid argument" &&
		fp_is "2999 3000 4000" &&
		sysfs_write $B/writeback_rate_fp_term_low 1 && sysfs_write $B/writeback_rate_fp_term_mid 10 &&
		sysfs_write $B/writeback_rate_fp_term_high 1000 && fp_is "1 10 1000" &&
		sysfs_write $B/writeback_consider_fragment 0 &&
		test "$(cat $B/writeback_consider_fragment)" = 0 &&
		sysfs_write $B/writeback_consider_fragment 1 && sysfs_write $B/writeback_metadata 0 &&
		test "$(cat $B/writeback_metadata)" = 0 && sysfs_write $B/writeback_metadata 1 &&
		test "$(cat $B/writeback_metadata)" = 1
}
check "fp_term stays ordered low < mid < high; the booleans take 0 and 1" fporder
valid() {
	sysfs_write $B/readahead_cache_policy meta-only &&
		test "$(cat $B/readahead_cache_policy)" = "all [meta-only]" &&
		sysfs_write $B/readahead_cache_policy all &&
		sysfs_write $B/writeback_rate 4096 && test "$(cat $B/writeback_rate)" = 0.0k &&
		sysfs_write $B/writeback_rate_update_seconds 1 &&
		test "$(cat $B/stripe_size)" = 1.0T && test "$(cat $B/partial_stripes_expensive)" = 0
}
check "valid values are taken; stripe_size is one stripe; the rate shows 0 while off" valid
[ "$(cat $B/writeback_rate)" = 0.0k ] || echo "# writeback_rate $(cat $B/writeback_rate), stripe_size $(cat $B/stripe_size)"

# Reads in the background keep the device from counting as idle.
reader() {
	while :; do
		dd if=/dev/bcache0 of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null
		usleep 300000
	done
}
READER=
busy() { reader & READER=$!; }
quiet() { [ -n "$READER" ] && kill $READER && wait $READER 2>/dev/null; READER=; }

rwfio() {
	fio --name=w --filename=/dev/bcache0 --bs=4k --direct=1 --ioengine=psync \
		$(fio_gen "$(seed_of "$@")") --allow_file_create=0 --thread --output=/tmp/fio.out "$@" ||
		{ tail -n 20 /tmp/fio.out; return 1; }
}
dirty_is() { [ "$(cat $B/dirty_data)" = "$1" ] || { echo "# dirty_data $(cat $B/dirty_data), want $1"; return 1; }; }
acct() {
	rwfio --rw=randwrite --size=4M --offset=8M --randseed=3 --do_verify=1 && dirty_is 4.0M &&
		rwfio --rw=randwrite --size=1M --offset=8M --randseed=4 --do_verify=1 && dirty_is 4.0M
}
check "dirty_data counts 4 MiB of dirty writes, and overwrites once" acct
wt() {
	sysfs_write $B/cache_mode writethrough &&
		dd if=/dev/urandom of=/dev/bcache0 bs=1M seek=8 count=1 oflag=direct 2>/dev/null &&
		dirty_is 3.0M && sysfs_write $B/cache_mode writeback
}
check "a writethrough overwrite of 1 MiB leaves 3 MiB dirty" wt

rate_bytes() { cat $B/writeback_rate | bytes; }
throttled() {
	busy
	sysfs_write $B/writeback_percent 40 && sysfs_write $B/writeback_running 1 && sleep 3 ||
		return 1
	r=$(cat $B/writeback_rate)
	d=$(cat $B/dirty_data | bytes)
	echo "# rate $r, dirty $d"
	[ "$r" = 4.0k ] && [ "$d" -gt $((2 << 20)) ] && test "$(cat $B/state)" = dirty
}
check "under the target (40% of the cache), a busy device writes back at the minimum rate" throttled
idle() {
	quiet
	wait_for 60 state_is $B clean || { sed 's/^/# /' $B/writeback_rate_debug; return 1; }
	dirty_is 0.0k && [ "$(rate_bytes)" -gt $((1 << 30)) ]
}
check "once idle, it writes back at the maximum rate until clean" idle

faster() {
	sysfs_write $B/writeback_running 0 &&
		rwfio --rw=randwrite --size=4M --offset=16M --randseed=5 --do_verify=0 || return 1
	busy
	sysfs_write $B/writeback_percent 1 && sysfs_write $B/writeback_running 1 && sleep 3 || return 1
	sed 's/^/# /' $B/writeback_rate_debug
	[ "$(rate_bytes)" -gt 4096 ] && grep -q "^target:.*163.5k" $B/writeback_rate_debug
}
check "above the target (writeback_percent 1), the rate rises over the minimum" faster
pct0() {
	quiet
	sysfs_write $B/writeback_percent 0 && wait_for 30 state_is $B clean &&
		rwfio --rw=randwrite --size=4M --offset=16M --randseed=5 --verify_only || return 1
	# Every extent written back was marked clean: the set counts them (6.12's name).
	done=$(cat $SET/internal/writeback_keys_done)
	echo "# writeback_keys_done $done, writeback_keys_failed $(cat $SET/internal/writeback_keys_failed)"
	[ "$done" -gt 0 ] && sysfs_write $SET/clear_stats 1 &&
		[ "$(cat $SET/internal/writeback_keys_done)" = 0 ]
}
check "writeback_percent 0 writes back at once; the data verifies; writeback_keys_done counts it and clear_stats zeroes it" pct0

# A write landing while writeback ends a pass must not leave the superblock CLEAN over dirty
# data (6.12 guards this with writeback_lock): stop writeback right after such writes and
# look, many times.
race() {
	bad=0
	for i in $(seq 1 30); do
		sysfs_write $B/writeback_running 1
		usleep $((i * 7919 % 40000))
		dd if=/dev/urandom of=/dev/bcache0 bs=4k seek=$((4096 + i)) count=1 oflag=direct \
			conv=fsync 2>/dev/null
		usleep $((i * 3571 % 20000))
		sysfs_write $B/writeback_running 0
		usleep 300000
		st=$(cat $B/state)
		d=$(cat $B/dirty_data)
		if [ "$st" = clean ] && [ "$d" != 0.0k ]; then
			echo "# trial $i: state clean with $d dirty"
			bad=1
		fi
	done
	[ $bad = 0 ] && sysfs_write $B/writeback_running 1 && wait_for 30 state_is $B clean &&
		dirty_is 0.0k
}
check "writes racing with writeback's last pass never leave the superblock clean over dirty data" race

# Detach under write load: it returns at once and completes while fio writes and verifies.
underload() {
	sysfs_write $B/cache_mode writeback && sysfs_write $B/writeback_running 0 &&
		rwfio --rw=randwrite --size=4M --offset=24M --randseed=7 --do_verify=0 || return 1
	rwfio --rw=randwrite --size=4M --offset=32M --randseed=8 --do_verify=1 &
	f=$!
	usleep 500000
	sysfs_write $B/detach 1 || { echo "# $RB_ERR"; kill $f; return 1; }
	# The write returned before the device was clean and detached.
	st=$(cat $B/state)
	echo "# state right after the detach write: $st"
	wait $f || return 1
	wait_for 60 state_is $B "no cache" &&
		rwfio --rw=randwrite --size=4M --offset=24M --randseed=7 --verify_only
}
check "detach under write load: fio verifies, the device ends with no cache" underload
# md5 of 16 MiB of DEV from sector OFF.
md5at() {
	dd if="$1" bs=4096 iflag=skip_bytes skip="$(($2 * 512))" count=4096 2>/dev/null | md5sum
}
raw() {
	echo 3 >/proc/sys/vm/drop_caches
	[ "$(md5at /dev/bcache0 0)" = "$(md5at $BK "$(cat $B/data_offset)")" ]
}
check "the raw backing device holds what /dev/bcache0 reads" raw
check "the backing superblock has no set any more" sh -c "! bcache-super-show $BK | grep -q 'cset.uuid.*$CSET'"
check "detach again: nothing attached" expect_errno $B/detach 1 "No such file"

# gc_after_writeback: a cache that writeback found more than half in use gets a GC pass once
# writeback is done. (Writes past 70% in use go writethrough, so only part is dirty.)
dd if=/dev/urandom of=/tmp/big bs=1M count=9 2>/dev/null
passes_after() { [ "$(cat $I/gc_passes)" -gt "$1" ]; }
fill() {
	sysfs_write $SET/unregister 1 && wait_for 20 test ! -e $SET || return 1
	wipe_sb "$CA"
	make-bcache --wipe-bcache -b 16k -C "$CA" >/dev/null 2>&1 || { echo "# make-bcache"; return 1; }
	CSET=$(cset_uuid $CA)
	SET=$RB/$CSET
	I=$SET/internal
	sysfs_write $RB/register $CA && uncongested $SET && sysfs_write $B/attach "$CSET" &&
		sysfs_write $B/cache_mode writeback &&
		sysfs_write $B/writeback_running 0 && sysfs_write $I/gc_after_writeback 1 &&
		dd if=/tmp/big of=/dev/bcache0 bs=1M oflag=direct 2>/dev/null || return 1
	p=$(cat $I/gc_passes) && sysfs_write $I/trigger_gc 1 && wait_for 60 passes_after "$p" &&
		echo "# cache_available_percent $(cat $SET/cache_available_percent)" &&
		state_is $B dirty
}
check "a new cache attached; 9 MiB written in writeback mode, then a GC pass" fill
afterwb() {
	w=$(cat $I/gc_wakeups_writeback)
	sysfs_write $B/writeback_running 1 && wait_for 60 state_is $B clean &&
		wait_for 30 file_gt $I/gc_wakeups_writeback "$w" &&
		test "$(cat $I/gc_after_writeback)" = 1 &&
		[ "$(dd if=/dev/bcache0 bs=1M count=9 iflag=direct 2>/dev/null | md5sum)" = \
			"$(md5sum </tmp/big)" ]
}
check "gc_after_writeback: writeback runs a GC pass when done; the data reads back" afterwb

# A cache found more than 95% in use is bypassed, and a clean device wakes GC for it.
full() {
	sysfs_write $B/cache_mode writethrough &&
		dd if=/dev/urandom of=/tmp/all bs=1M count=20 2>/dev/null &&
		dd if=/tmp/all of=/dev/bcache0 bs=1M oflag=direct 2>/dev/null || return 1
	p=$(cat $I/gc_passes) && sysfs_write $I/trigger_gc 1 && wait_for 60 passes_after "$p" || return 1
	f=$(cat $I/gc_last_free_buckets)
	n=$(cat /sys/block/$(basename $CA)/bcache/nbuckets)
	echo "# free buckets after GC: $f of $n"
	[ $(((n - f) * 100 / n)) -gt 95 ]
}
check "20 MiB written through: GC finds the cache more than 95% in use" full
bypass() {
	b=$(cat $B/stats_total/bypassed | bytes)
	w=$(cat $I/gc_wakeups_full)
	# A write that finds GC already running does not wake it: try a few times.
	for i in 2 3 4 5 6; do
		dd if=/tmp/all of=/dev/bcache0 bs=1M count=1 seek=$i skip=$i oflag=direct 2>/dev/null
		file_gt $I/gc_wakeups_full "$w" && break
		sleep 1
	done
	[ "$(cat $B/stats_total/bypassed | bytes)" -gt "$b" ] && file_gt $I/gc_wakeups_full "$w" &&
		[ "$(dd if=/dev/bcache0 bs=1M count=20 iflag=direct 2>/dev/null | md5sum)" = \
			"$(md5sum </tmp/all)" ]
}
check "a write then bypasses the cache and wakes GC; everything reads back" bypass
check "nothing is dirty: state clean" state_is $B clean

down() {
	sysfs_write $SET/unregister 1 && wait_for 20 test ! -e $SET && sysfs_write $B/stop 1 &&
		wait_for 20 test ! -e $B && rb_unload
}
check "unregister, stop, rmmod" down

# A cache with 4 KiB blocks cannot take a backing device with 512-byte blocks.
CA4=/dev/vdd
wipe_sb $CA4
make-bcache --wipe-bcache -w 4k -b 64k -C $CA4 >/dev/null 2>&1 || die "make-bcache -w 4k -C"
fmt_backing $BK
mismatch() {
	rb_load && sysfs_write $RB/register $CA4 && sysfs_write $RB/register $BK &&
		wait_for 10 test -b /dev/bcache0 || return 1
	dmesg_mark
	expect_errno $B/attach "$(cset_uuid $CA4)" "Invalid argument" &&
		logged "block size 512 is smaller than cache set" &&
		test "$(cat $B/state)" = "no cache"
}
check "attach with a block size mismatch: EINVAL, one clear log line" mismatch
fin() {
	sysfs_write $RB/$(cset_uuid $CA4)/unregister 1 && wait_for 20 test ! -e $RB/$(cset_uuid $CA4) &&
		sysfs_write $B/stop 1 && wait_for 20 test ! -e $B && rb_unload
}
check "unregister, stop, rmmod" fin
check "no cache-set thread is left" no_gc_threads
losetup -d "$CA"
ktap_finished
