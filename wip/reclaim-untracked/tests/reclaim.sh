#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Memory reclaim into rbcache's own disks. A cached /dev/bcacheN is the swap device and a
# memory hog (most of memory pinned in ramfs, then data in tmpfs) pushes pages out to it. While
# pages keep moving in and out, with IO on a flash volume, every sysfs store that takes a lock
# rbcache's submit_bio takes runs (flash_vol_create, a volume's and a backing device's label,
# cache_replacement_policy, synchronous, btree_cache_limit, cache_mode, trigger_gc, and a read
# of gc_check), a second backing device attaches and detaches, and a volume is unregistered
# (the detach and unregister work items). Such a lock held across an allocation that may do
# IO deadlocks once reclaim, entered from that allocation, writes to the swap device. Lockdep,
# told by rbcache that reclaim enters its submit_bio (kabi/noio.rs), reports any such
# allocation as a circular dependency on fs_reclaim, and the run's clean-log check fails.
# The swapped-out data reads back unchanged (md5) after swapoff.
. ./lib.sh

ktap_print_header
ktap_set_plan 20

backing_setup /dev/vdb /dev/vdc
BK2=/dev/vdd
fmt_backing $BK2
B2=/sys/block/vdd/bcache
I=$SET/internal
CDIR=/sys/block/vdc/bcache
PIN=/tmp/pin
HOG=/tmp/hog
STOP=/tmp/reclaim.stop
mkdir -p $PIN $HOG

# Whatever happens, swap is turned off and the pinned memory given back before the next test.
finish() {
	touch $STOP
	wait
	swapoff -a 2>/dev/null
	umount $PIN 2>/dev/null
	rm -rf $HOG
}
trap finish EXIT

# The /dev node of a backing device (its bcache directory's `dev` link), and the volumes'.
bk_dev() { [ -e "$1/dev" ] && echo "/dev/$(basename "$(readlink -f "$1/dev")")"; }
volumes() {
	local l
	for l in $SET/volume*; do
		[ -e "$l" ] && echo "/dev/$(basename "$(dirname "$(readlink -f "$l")")")"
	done
}
nvolumes() { volumes | wc -l; }
# KiB of swap in use on DEV.
swap_kib() { awk -v d="$1" '$1 == d { print $4 }' /proc/swaps; }

up() {
	rb_load && sysfs_write $RB/register $BK && sysfs_write $RB/register $BK2 &&
		sysfs_write $RB/register $CA && uncongested $SET &&
		sysfs_write $B/attach "$CSET" && sysfs_write $B/cache_mode writeback &&
		sysfs_write $SET/flash_vol_create 16M && wait_for 10 test "$(nvolumes)" = 1 &&
		wait_for 10 bk_dev $B >/dev/null || { echo "# $RB_ERR"; return 1; }
	SWAP=$(bk_dev $B)
	VOL=$(volumes)
}
check "a backing device in writeback mode, a second one, and a flash volume" up
[ -d $SET ] || die "setup failed"

swap_on() { mkswap "$SWAP" >/dev/null 2>&1 && swapon "$SWAP" && [ -n "$(swap_kib "$SWAP")" ]; }
check "swap on the cached device" swap_on

# The memory hog, in the background until $STOP: pins all but 128 MiB of what is available
# in ramfs (never swapped), then writes text (not zeroes: zero pages are not written to swap)
# to tmpfs, 1 MiB every 50 ms, until 24 MiB are on swap or 256 MiB are written; then it keeps
# reading its files back, 1 MiB every 100 ms (pages in from swap, others out). Paced, so that
# kswapd, swapping out through rbcache, keeps up (see Documentation/testing.md).
hog() {
	local avail f n=0
	avail=$(awk '$1 == "MemAvailable:" { print int($2 / 1024) }' /proc/meminfo)
	mount -t ramfs ramfs $PIN &&
		dd if=/dev/zero of=$PIN/pin bs=1M count=$((avail - 128)) 2>/dev/null || return 1
	while [ $n -lt 256 ] && [ ! -e $STOP ] && [ "$(swap_kib "$SWAP")" -lt 24576 ]; do
		yes "rbcache reclaim $n" | head -c $((1 << 20)) >$HOG/$n || return 1
		n=$((n + 1))
		usleep 50000
	done
	echo "$n" >/tmp/hog.n
	while [ ! -e $STOP ]; do
		for f in $HOG/*; do
			[ -e $STOP ] && break
			cat "$f" >/dev/null
			usleep 100000
		done
	done
}
rm -f $STOP /tmp/hog.n
hog &
# Until the hog has pushed pages out: at least 4 MiB on swap.
swap_ge() { [ "$(swap_kib "$SWAP")" -ge "$1" ]; }
check "a memory hog pushes pages out to swap on /dev/bcacheN" wait_for 120 swap_ge 4096

# Writes and reads on the flash volume, in the background until $STOP.
dd if=/dev/urandom of=/tmp/pat bs=64k count=4 2>/dev/null
(
	while [ ! -e $STOP ]; do
		dd if=/tmp/pat of="$VOL" bs=64k seek=$((RANDOM % 250)) oflag=direct conv=notrunc \
			2>/dev/null
		dd if="$VOL" of=/dev/null bs=64k skip=$((RANDOM % 250)) count=4 iflag=direct 2>/dev/null
	done
) &

vol2() {
	sysfs_write $SET/flash_vol_create 4M && wait_for 10 test "$(nvolumes)" = 2 || return 1
	VOL2=$(volumes | grep -vx "$VOL")
	V2=/sys/block/$(basename "$VOL2")/bcache
	[ -b "$VOL2" ] && [ -d "$V2" ]
}
check "flash_vol_create" vol2
check "a volume's label" sh -c "echo reclaim >$V2/label && test \"\$(cat $V2/label)\" = reclaim"
check "a backing device's label" sh -c "echo swap >$B/label && test \"\$(cat $B/label)\" = swap"
policy() {
	sysfs_write $CDIR/cache_replacement_policy fifo &&
		sysfs_write $CDIR/cache_replacement_policy lru &&
		[ "$(cat $CDIR/cache_replacement_policy)" = "[lru] fifo random" ]
}
check "cache_replacement_policy" policy
sync01() {
	sysfs_write $SET/synchronous 0 && sysfs_write $SET/synchronous 1 &&
		[ "$(cat $SET/synchronous)" = 1 ]
}
check "synchronous" sync01
limit() {
	local was
	was=$(cat $I/btree_cache_limit) && sysfs_write $I/btree_cache_limit 65536 &&
		sysfs_write $I/btree_cache_limit "$was" && [ "$(cat $I/btree_cache_limit)" = "$was" ]
}
check "btree_cache_limit" limit
gccheck() {
	case $(cat $I/gc_check) in
	"checked "[0-9]*" mismatches "[0-9]*) return 0 ;;
	*) return 1 ;;
	esac
}
check "gc_check" gccheck
modes() {
	sysfs_write $B/cache_mode writethrough && sysfs_write $B/cache_mode writeback &&
		[ "$(cat $B/cache_mode)" = "writethrough [writeback] writearound none" ]
}
check "cache_mode" modes
gcpass() {
	local p
	p=$(cat $I/gc_passes) && sysfs_write $I/trigger_gc 1 && wait_for 60 file_gt $I/gc_passes "$p"
}
check "trigger_gc: a GC pass" gcpass
attach2() {
	sysfs_write $B2/attach "$CSET" && wait_for 10 bk_dev $B2 >/dev/null &&
		sysfs_write $B2/cache_mode writeback &&
		dd if=/dev/urandom of=/tmp/d2 bs=64k count=16 2>/dev/null &&
		dd if=/tmp/d2 of="$(bk_dev $B2)" bs=64k oflag=direct conv=fsync 2>/dev/null &&
		state_is $B2 dirty
}
check "a second backing device attaches; 1 MiB written back later (dirty)" attach2
detach2() {
	sysfs_write $B2/detach 1 && wait_for 60 state_is $B2 "no cache" &&
		[ "$(dd if="$(bk_dev $B2)" bs=64k count=16 iflag=direct 2>/dev/null | md5sum)" = \
			"$(md5sum </tmp/d2)" ]
}
check "... and detaches: written back, no cache, the same data" detach2
unreg2() {
	sysfs_write $V2/unregister 1 && wait_for 20 test "$(nvolumes)" = 1 &&
		wait_for 10 test ! -b "$VOL2"
}
check "a volume's unregister" unreg2

touch $STOP
wait
rm -f $STOP
hog_back() {
	local n f
	echo "# $(cat /tmp/hog.n 2>/dev/null) MiB written to tmpfs, $(swap_kib "$SWAP") KiB on swap"
	swapoff "$SWAP" || return 1
	for f in $HOG/*; do
		n=$(basename "$f")
		[ "$(md5sum <"$f")" = "$(yes "rbcache reclaim $n" | head -c $((1 << 20)) | md5sum)" ] ||
			{ echo "# $f changed"; return 1; }
	done
}
check "swapoff: every page of the hog reads back unchanged" hog_back
release() { rm -rf $HOG/* && umount $PIN; }
check "the hog and the pinned memory released" release
bk_data() {
	dd if=/tmp/pat of="$SWAP" bs=64k oflag=direct conv=fsync 2>/dev/null &&
		echo 3 >/proc/sys/vm/drop_caches &&
		[ "$(dd if="$SWAP" bs=64k count=4 iflag=direct 2>/dev/null | md5sum)" = \
			"$(md5sum </tmp/pat)" ]
}
check "the swap device still reads back what is written" bk_data
down() { sysfs_write $SET/unregister 1 && wait_for 60 test ! -e $SET; }
check "unregister the set" down
check "rmmod" rb_unload
ktap_finished
