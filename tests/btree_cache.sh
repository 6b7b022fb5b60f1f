#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The bounded btree node cache. A cache with 8 KiB buckets (8 KiB nodes, about 200 keys a leaf)
# gets 6000 random 4 KiB writes, so its index has some 30 leaves. With
# internal/btree_cache_limit at its minimum (64 KiB) the resident keys stay under the limit,
# leaves are evicted and read back from their nodes, and every byte verifies (fio),
# through a GC pass (which walks evicted leaves) and a re-register. Under memory pressure
# (drop_caches) the shrinker gives the cache back. Then the C bcache.ko appends its own bsets
# to the nodes, and rbcache reads those leaves back with a small cache too.
. ./lib.sh

ktap_print_header
ktap_set_plan 15

DEV=/dev/vdc
wipe_sb $DEV
make-bcache --wipe-bcache -b 8k -C $DEV >/dev/null 2>&1 || die "make-bcache"
CSET=$(cset_uuid $DEV)
SET=$RB/$CSET
I=$SET/internal
up() {
	rb_load && sysfs_write $RB/register $DEV && sysfs_write $SET/flash_vol_create 32M &&
		wait_for 10 test -b /dev/bcache0
}
check "a fresh 8 KiB-bucket cache and a 32 MiB flash volume" up

bad_limit() {
	expect_errno $I/btree_cache_limit 1000 "Invalid argument" &&
		expect_errno $I/btree_cache_limit junk "Invalid argument"
}
check "btree_cache_limit refuses junk and values below 64 KiB" bad_limit
check "btree_cache_limit set to 64 KiB" sysfs_write $I/btree_cache_limit 65536

wfio() {
	fio --name=bc --filename=/dev/bcache0 --rw=randwrite --bs=4k --size=24M --io_size=24000k \
		--direct=1 --ioengine=psync --randseed=7 $(fio_gen "$(seed_of --randseed=7 "$@")") --allow_file_create=0 \
		--thread --output=/tmp/fio.out "$@" || { tail -n 20 /tmp/fio.out; return 1; }
}
check "6000 random 4 KiB writes, read back and verified" wfio --do_verify=1

cache_size() { bytes <$SET/btree_cache_size; }
under() {
	s=$(cache_size)
	echo "# btree_cache_size $s, limit $(cat $I/btree_cache_limit), $(cat $I/btree_nodes) nodes"
	[ "$s" -le 65536 ]
}
check "btree_cache_size stays within the limit" under
reloads() {
	l=$(cat $I/btree_cache_loads)
	e=$(cat $I/btree_cache_evictions)
	echo "# leaves read back $l, evicted $e"
	[ "$l" -gt 0 ] && [ "$e" -gt 0 ]
}
check "leaves were evicted and read back from disk" reloads

passes_after() { [ "$(cat $I/gc_passes)" -gt "$1" ]; }
gcpass() {
	p=$(cat $I/gc_passes) && sysfs_write $I/trigger_gc 1 && wait_for 60 passes_after "$p" &&
		gc_check_ok $SET
}
check "a GC pass over evicted leaves; the marks agree with a recount" gcpass
check "still within the limit after GC" under
check "the data verifies after GC" wfio --verify_only

grow() {
	sysfs_write $I/btree_cache_limit 67108864 && wfio --verify_only &&
		B1=$(cache_size) && echo "# resident after reading all: $B1" &&
		[ "$B1" -gt 65536 ]
}
check "with a 64 MiB limit, reading everything makes the leaves resident" grow
shrunk() { [ "$(cache_size)" -lt $((B1 / 2)) ]; }
pressure() {
	sc=$(cat $I/shrinker_scans)
	echo 2 >/proc/sys/vm/drop_caches
	wait_for 10 shrunk || { echo "# btree_cache_size $(cat $SET/btree_cache_size)"; return 1; }
	echo "# shrinker scans $(($(cat $I/shrinker_scans) - sc)), cache now $(cat $SET/btree_cache_size)"
	[ "$(cat $I/shrinker_scans)" -gt "$sc" ]
}
check "memory pressure (drop_caches) shrinks the node cache" pressure
check "the data verifies after shrinking" wfio --verify_only

rereg() {
	sysfs_write $SET/unregister 1 && wait_for 20 test ! -e $SET && rb_unload && rb_load &&
		sysfs_write $RB/register $DEV && wait_for 10 test -b /dev/bcache0 &&
		sysfs_write $I/btree_cache_limit 65536 && wfio --verify_only && under
}
check "unregister, register, 64 KiB limit: the data verifies" rereg

# The C module appends bsets to rbcache's leaves; rbcache then reads them back one by one.
cwrite() {
	sysfs_write $SET/stop 1 && wait_for 20 test ! -e $SET && rb_unload || return 1
	with_c_module $DEV wfio --randseed=8 --io_size=4000k --do_verify=1
}
check "the C bcache.ko overwrites 1000 random blocks" cwrite
cread() {
	rb_load && sysfs_write $RB/register $DEV && wait_for 10 test -b /dev/bcache0 &&
		sysfs_write $I/btree_cache_limit 65536 || return 1
	# Blocks of the C run verify with its seed; fio's verify walks every block it wrote.
	wfio --randseed=8 --io_size=4000k --verify_only && under && reloads &&
		sysfs_write $SET/stop 1 && wait_for 20 test ! -e $SET && rb_unload
}
check "rbcache reads the C-written leaves back with a 64 KiB cache" cread
ktap_finished
