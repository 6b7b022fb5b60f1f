#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Generation safety. Part 1, on a tiny cache (525 buckets of 8 KiB) made by make-bcache: the
# same 1 MiB is rewritten until buckets were invalidated 110 times each on average, past the
# 96 generations a bucket may run ahead of its last GC before GC must catch up
# (BUCKET_GC_GEN_MAX). Part 2, on a generated clean set (tests/vm/mkbigset.py: 513 buckets of
# 512 KiB, every generation 255, 64 extents in a 1 MiB flash volume): the volume is rewritten
# until 32 generations wrapped from 255 to 0 (internal/gen_wraps; the allocator cycles a few
# dozen buckets here), then 200 times more, so keys written before a wrap (generation 255)
# meet buckets whose generation is numerically smaller and must be seen as stale, while keys
# written after it carry generations 0, 1, ... In both parts the data must never come back
# stale: md5 after the writes, after re-registering, under the C bcache.ko and under rbcache
# again.
# vm-fixture: bigset 64 7 --nbuckets 513 --gen-base 255 --gen-spread 1 --leaf-keys 10 40 --journal-keys 16
. ./lib.sh

ktap_print_header
ktap_set_plan 14

truncate -s 4200K /tmp/tiny.img
LOOP=$(losetup -f)
losetup "$LOOP" /tmp/tiny.img || die "losetup"
DEV=$LOOP
make-bcache -b 8k -C "$LOOP" >/dev/null 2>&1 || die "make-bcache"
CSET=$(cset_uuid "$LOOP")
SET=$RB/$CSET
I=$SET/internal
up() {
	rb_load && sysfs_write $RB/register "$LOOP" && sysfs_write $SET/flash_vol_create 2M &&
		wait_for 10 test -b /dev/bcache0
}
check "a 525-bucket cache with a 2 MiB flash volume" up
dd if=/dev/urandom of=/tmp/a bs=1M count=1 2>/dev/null
dd if=/dev/urandom of=/tmp/b bs=1M count=1 2>/dev/null
NB=$(cat /sys/block/$(basename "$LOOP")/bcache/nbuckets)
rewrite() {
	i=0
	exec 4<>/dev/bcache0 || return 1
	while [ "$(cat $I/buckets_invalidated)" -lt $((NB * 110)) ]; do
		i=$((i + 1))
		[ $i -le 2000 ] || { echo "# still $(cat $I/buckets_invalidated) invalidations"; return 1; }
		if [ $((i % 2)) = 0 ]; then f=/tmp/a; else f=/tmp/b; fi
		dd if=$f of=/proc/self/fd/4 bs=64k oflag=direct conv=notrunc 2>/dev/null || return 1
		LAST=$f
	done
	exec 4<&-
	echo "# $i rewrites, $(cat $I/buckets_invalidated) invalidations of $NB buckets"
}
check "rewrite 1 MiB until buckets were invalidated 110 times each on average" rewrite
same() { [ "$(dd if=/dev/bcache0 bs=1M count=1 2>/dev/null | md5sum)" = "$(md5sum <$LAST)" ]; }
check "the volume holds the last data written (md5)" same
# For the cache device $DEV of set $SET (part 1, then part 2):
rereg() {
	sysfs_write $SET/stop 1 && wait_for 20 test ! -e $SET && sysfs_write $RB/register "$DEV" &&
		wait_for 10 test -b /dev/bcache0 && same
}
check "after re-registering: the last data, nothing older (md5)" rereg
to_c() { sysfs_write $SET/stop 1 && wait_for 20 test ! -e $SET && rb_unload && with_c_module "$DEV" c_same; }
c_same() { wait_for 10 test -b /dev/bcache0 && same; }
check "the C bcache.ko reads the last data too (md5)" to_c
back() { rb_load && sysfs_write $RB/register "$DEV" && wait_for 10 test -b /dev/bcache0 && same; }
check "and rbcache again after the C module (md5)" back
down() { sysfs_write $SET/stop 1 && wait_for 20 test ! -e $SET && rb_unload && losetup -d "$LOOP"; }
check "stop, rmmod, detach the loop device" down

W=/images/fixtures/bigset-64-7.info
[ -f $W ] || die "no $W: scripts/vm.sh writes it for a script with a vm-fixture line"
WDEV=$(awk '$1 == "dev" { print $2 }' $W)
DEV=$WDEV
WMD5=$(awk '$1 == "md5" { print $2 }' $W)
SET=$RB/$(cset_uuid "$WDEV")
I=$SET/internal
wup() {
	rb_load && sysfs_write $RB/register "$WDEV" && volume_md5_is "$WMD5" &&
		echo "# $(cat $I/gen_wraps) wraps at registration"
}
check "part 2: a generated set with generation 255 everywhere registers with the generator's md5" wup
wrap() {
	i=0
	at=0
	exec 4<>/dev/bcache0 || return 1
	# Until 32 generations wrapped, then 200 rewrites more: the wrapped buckets are reused
	# again and again, under keys of generation 255 that must stay stale.
	while [ $at = 0 ] || [ $i -lt $((at + 200)) ]; do
		i=$((i + 1))
		[ $at != 0 ] || [ "$(cat $I/gen_wraps)" -lt 32 ] || at=$i
		[ $i -le 1000 ] || {
			echo "# still $(cat $I/gen_wraps) wraps after $(cat $I/buckets_invalidated) invalidations"
			exec 4<&-
			return 1
		}
		if [ $((i % 2)) = 0 ]; then f=/tmp/a; else f=/tmp/b; fi
		dd if=$f of=/proc/self/fd/4 bs=64k oflag=direct conv=notrunc 2>/dev/null ||
			{ exec 4<&-; return 1; }
		LAST=$f
	done
	exec 4<&-
	echo "# 32 wraps after $at rewrites; $i rewrites, $(cat $I/buckets_invalidated) invalidations, $(cat $I/gen_wraps) wraps"
}
check "rewrite the volume until 32 generations wrapped past 255, then 200 times more" wrap
check "the volume holds the last data written (md5)" same
check "after re-registering: the last data, nothing older (md5)" rereg
check "the C bcache.ko reads the last data too (md5)" to_c
check "and rbcache again after the C module (md5)" back
wdown() { sysfs_write $SET/stop 1 && wait_for 20 test ! -e $SET && rb_unload; }
check "stop, rmmod" wdown
ktap_finished
