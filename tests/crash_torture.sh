#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# vm-cycles: 1
# vm-disks-mb: 64 256 64 64
#
# Power cuts at random moments under mixed IO (scripts/vm.sh crash crash_torture [CYCLES]; `make
# torture` runs many). The disks are scripts/pdisk.py's: at each cut they keep what was
# flushed or FUA and a random subset of the rest. Every boot but the last runs the workload
# and is cut 3-25 s into it:
#   - tests/vm/stamp writes stamped 4 KiB blocks at random over 48 MiB of /dev/bcache0 with
#     O_DIRECT, fdatasync()s every 32 writes, and only then records them as acknowledged (on
#     ttyS2, which survives the cut);
#   - fio writes at random, never synced, over another 128 MiB of the device;
#   - GC is triggered every 2 s, so btree GC and moving GC run, and writeback runs (VARIANT=wb:
#     a 256 MiB backing device behind a 64 MiB cache in writeback mode, writeback_percent 5,
#     writeback_delay 1) or the cache fills (VARIANT=flash: a 192 MiB flash volume on a 256 MiB
#     cache).
# Each boot after a cut registers the devices again and reads back every block acknowledged in
# any earlier boot: it must hold the acknowledged version or a newer one, and no block may
# ever hold data that was not written to it (stamp verify). The last boot also runs a GC pass
# with a strict gc_check, stops the set, and has the C bcache.ko read every block again.
# SYS=c runs the same loop on the C module (the anchor; scripts/torture.sh).
. ./lib.sh

SYS=${SYS:-rb}
VARIANT=${VARIANT:-wb}
CA=/dev/vda
BK=/dev/vdb
NBLK=12288
if [ "$SYS" = rb ]; then
	load() { rb_load; }
	WHO=rbcache
else
	load() { insmod $MODDIR/bcache.ko; }
	WHO="the C module"
fi
B=/sys/block/vdb/bcache

rand() { echo $(($(od -An -N4 -tu4 /dev/urandom) % $1)); }

ktap_print_header
if [ -n "${LAST:-}" ]; then
	if [ "$SYS" = rb ]; then ktap_set_plan 5; else ktap_set_plan 3; fi
elif [ "$PHASE" = 1 ]; then
	ktap_set_plan 1
else
	ktap_set_plan 2
fi

fresh() {
	if [ "$VARIANT" = flash ]; then
		fmt_cache $CA && load && sysfs_write $RB/register $CA || return 1
		SET=$RB/$(cset_uuid $CA)
		sysfs_write $SET/flash_vol_create 192M && wait_for 10 test -b /dev/bcache0
	else
		fmt_backing $BK && fmt_cache $CA && load && sysfs_write $RB/register $BK &&
			sysfs_write $RB/register $CA && wait_for 10 test -e $B/attach || return 1
		SET=$RB/$(cset_uuid $CA)
		sysfs_write $B/attach "$(cset_uuid $CA)" && sysfs_write $B/cache_mode writeback &&
			wait_for 10 test -b /dev/bcache0
	fi
}
again() {
	load || return 1
	SET=$RB/$(cset_uuid $CA)
	if [ "$VARIANT" = flash ]; then
		sysfs_write $RB/register $CA && wait_for 10 test -b /dev/bcache0
	else
		sysfs_write $RB/register $BK && sysfs_write $RB/register $CA &&
			wait_for 10 test -b /dev/bcache0 && wait_for 10 test -e $SET &&
			wait_for 10 grep -q "\\[writeback\\]" $B/cache_mode
	fi
}
verify() {
	out=$(stamp verify /dev/bcache0 0 $NBLK 1 </acks)
	r=$?
	echo "$out"
	echo "# acknowledged writes logged so far: $(grep -c '^A ' /acks)"
	return $r
}

if [ "$PHASE" = 1 ]; then
	check "$WHO formats and starts the devices ($VARIANT)" fresh
else
	check "boot $PHASE: $WHO registers the devices after power cut $((PHASE - 1))" again
	check "boot $PHASE: every acknowledged block holds its data or newer, none foreign" verify
fi

if [ -n "${LAST:-}" ]; then
	if [ "$SYS" = rb ]; then
		passes_after() { [ "$(cat $SET/internal/gc_passes)" -gt "$1" ]; }
		gcpass() {
			# Marks equal a recount only with no IO running (writeback cleaning keys
			# changes what a recount finds, not the marks, until the next pass): in
			# writeback mode, everything is written back first.
			if [ "$VARIANT" = wb ]; then
				sysfs_write $B/writeback_percent 0 && wait_for 120 state_is $B clean ||
					{ echo "# not clean: $(cat $B/dirty_data) dirty"; return 1; }
			fi
			p=$(cat $SET/internal/gc_passes) && sysfs_write $SET/internal/trigger_gc 1 &&
				wait_for 120 passes_after "$p" && gc_check_ok $SET
		}
		check "a GC pass over what the cuts left (written back first in writeback mode); the marks agree with a recount" gcpass
		down() { sysfs_write $SET/stop 1 && wait_for 30 test ! -e $SET && rb_unload; }
		check "stop the set, rmmod" down
		if [ "$VARIANT" = flash ]; then
			c_reads() {
				insmod $MODDIR/bcache.ko && sysfs_write $RB/register $CA &&
					wait_for 10 test -b /dev/bcache0 || return 1
				verify
				r=$?
				echo 1 >$RB/$(cset_uuid $CA)/stop
				wait_for 20 test ! -e $RB/$(cset_uuid $CA) && wait_for 10 rmmod bcache && return $r
			}
			check "the C bcache.ko reads every acknowledged block" c_reads
		else
			check "the C bcache.ko reads every acknowledged block and writes back" \
				c_writeback $CA $BK verify
		fi
	else
		down() {
			[ -e $B/stop ] && echo 1 >$B/stop
			sysfs_write $SET/stop 1 && wait_for 30 test ! -e $SET && wait_for 10 rmmod bcache
		}
		check "stop the set, rmmod" down
	fi
	ktap_finished
fi

# The workload, then the cut.
# Congestion bypass stays on (6.12's thresholds): under TCG, IO goes around the cache at random.
if [ "$VARIANT" = wb ]; then
	sysfs_write $B/writeback_delay 1
	sysfs_write $B/writeback_percent 5
fi
stamp write /dev/bcache0 0 $NBLK 1 "$PHASE" 32 "$(rand 1000000)" >/dev/ttyS2 &
fio --name=noise --filename=/dev/bcache0 --offset=64M --size=128M --rw=randwrite --bs=4k \
	--ioengine=psync --direct=1 --time_based --runtime=120 --randseed=$(rand 100000) \
	>/dev/null 2>&1 &
(while :; do
	sleep 2
	echo 1 >$SET/internal/trigger_gc
done) 2>/dev/null &
power_cut $((3000000 + $(rand 22000000)))
