#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The bcache_gc thread's lifecycle: trigger_gc wakes it for exactly one pass per write, the
# statistics move, junk input is refused, IO-disable stops its passes and enabling IO again
# resumes them, and stop with IO disabled still stops it cleanly.
. ./lib.sh

ktap_print_header
ktap_set_plan 21

fmt_cache /dev/vda
CSET=$(cset_uuid /dev/vda)
I=$RB/$CSET/internal
rb_load || die "insmod rbcache"
sysfs_write $RB/register /dev/vda || die "register /dev/vda: $RB_ERR"

passes() { cat $I/gc_passes; }
passes_are() { [ "$(passes)" -eq "$1" ]; }

# Each write to trigger_gc: the counter reaches n, and stays there (no extra pass).
one_pass_per_write() {
	n=0
	while [ $n -lt 5 ]; do
		n=$((n + 1))
		sysfs_write $I/trigger_gc 1 || return 1
		wait_for 10 passes_are $n || { echo "# after write $n: gc_passes $(passes)"; return 1; }
		usleep 300000
		passes_are $n || { echo "# after write $n: gc_passes $(passes), want $n"; return 1; }
	done
}
check "gc_passes is 0 before any trigger" passes_are 0
check "trigger_gc runs exactly one pass per write (5 writes)" one_pass_per_write
check "gc_wakeups_sysfs counts the 5 writes" test "$(cat $I/gc_wakeups_sysfs)" -eq 5
check "no allocator or write-path wakeups yet" \
	test "$(cat $I/gc_wakeups_allocator)" -eq 0 -a "$(cat $I/gc_wakeups_write)" -eq 0
check "gc_running is 0 between passes" test "$(cat $I/gc_running)" -eq 0
check "btree_gc_last_sec is a small number" test "$(cat $I/btree_gc_last_sec)" -lt 30
numeric() { case "$(cat "$1")" in '' | *[!0-9]*) return 1 ;; esac; }
stats_numeric() {
	for f in average_duration_ms max_duration_ms average_frequency_sec; do
		numeric $I/btree_gc_$f || { echo "# btree_gc_$f: '$(cat $I/btree_gc_$f)'"; return 1; }
	done
}
check "btree_gc_average_duration_ms, _max_duration_ms, _average_frequency_sec are numbers" \
	stats_numeric
check "copy_gc_enabled is on by default" test "$(cat $I/copy_gc_enabled)" = 1
tunables() {
	[ "$(cat $I/gc_yield_ms)" = 2 ] && [ "$(cat $I/gc_step_keys)" = 4096 ] &&
		[ "$(cat $I/moving_gc_batch)" = 64 ] && sysfs_write $I/gc_yield_ms 0 &&
		[ "$(cat $I/gc_yield_ms)" = 0 ] && sysfs_write $I/moving_gc_batch 8 &&
		[ "$(cat $I/moving_gc_batch)" = 8 ] && sysfs_write $I/gc_yield_ms 2
}
check "pacing tunables show their defaults and take new values" tunables
refused() {
	expect_errno $I/moving_gc_batch 0 "Invalid argument" &&
		expect_errno $I/moving_gc_batch 65 "Invalid argument" &&
		expect_errno $I/gc_yield_ms 1001 "Invalid argument" &&
		expect_errno $I/gc_step_keys junk "Invalid argument" &&
		expect_errno $I/copy_gc_enabled 2 "Invalid argument" &&
		[ "$(cat $I/moving_gc_batch)" = 8 ] && [ "$(cat $I/copy_gc_enabled)" = 1 ]
}
check "out-of-range and junk tunable values get EINVAL and change nothing" refused
check "io_disable rejects junk with EINVAL" expect_errno $I/io_disable "yes" "Invalid argument"
check "io_disable reads 0" test "$(cat $I/io_disable)" = 0
check "a 4 KiB junk write to trigger_gc still only triggers" \
	dd if=/dev/urandom of=$I/trigger_gc bs=4096 count=1
check "... one more pass" wait_for 10 passes_are 6

check "io_disable=1 is accepted" sysfs_write $I/io_disable 1
sysfs_write $I/trigger_gc 1
usleep 500000
check "with IO disabled trigger_gc runs no pass" passes_are 6
# IO enabled again, the thread goes on (6.12's leaves its loop for good): the trigger that
# came meanwhile runs its pass, a write completes, and trigger_gc runs a pass again.
io_on() { sysfs_write $I/io_disable 0 && wait_for 10 passes_are 7; }
check "io_disable=0: the pass triggered meanwhile runs" io_on
resumed() {
	sysfs_write $RB/$CSET/flash_vol_create 4M && wait_for 10 test -b /dev/bcache0 || return 1
	dd if=/dev/urandom of=/tmp/d bs=4k count=64 2>/dev/null
	dd if=/tmp/d of=/dev/bcache0 bs=4k oflag=direct conv=fsync 2>/dev/null &&
		[ "$(dd if=/dev/bcache0 bs=4k count=64 iflag=direct 2>/dev/null | md5sum)" = \
			"$(md5sum </tmp/d)" ]
}
check "... a write to a flash volume completes and reads back" resumed
gc_again() { sysfs_write $I/trigger_gc 1 && wait_for 10 passes_are 8; }
check "... and trigger_gc runs a pass again" gc_again
sysfs_write $I/io_disable 1
stop_removes_set() {
	sysfs_write $RB/$CSET/stop 1 && wait_for 10 test ! -e $RB/$CSET
}
check "stop with IO disabled removes the set" stop_removes_set
check "... and the thread waiting for kthread_stop is gone" wait_for 5 no_gc_threads

rb_unload
ktap_finished
