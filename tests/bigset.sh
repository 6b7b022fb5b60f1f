#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# A big set registers again: rbcache writes 300,000 extents (4 KiB random writes to a flash
# volume), half of them flushed into btree leaves by a GC pass and half left in the live
# journal, stops the set cleanly, and registers it again; then the C module registers it. The
# volume reads back the same (md5) after the fill, under rbcache again and under the C module.
# The cache is a sparse 20 GiB disk (/dev/vde), large enough that no GC pass or journal
# reclaim runs during the fill on its own, so the second half's keys are all in the journal.
#
# Long under TCG with the debug kernel: the fill runs at about 170 extents/s whatever the
# queue depth (CPU-bound), and reading the volume back at about 300 extents/s, so about 70
# minutes in all. It runs only when named: make check T=bigset.
# vm-opt-in
# vm-timeout: 6000
# vm-big-disk-mb: 20480
. ./lib.sh

DEV=/dev/vde
# 1280 MiB: 327,680 blocks; each half of the writes goes to its own half of the volume, so
# the halves never overwrite each other and every write is an extent of its own.
VOL_MB=1280
HALF=150000

ktap_print_header
ktap_set_plan 11

[ -b $DEV ] || die "no $DEV: scripts/vm.sh adds it for a script with a vm-big-disk-mb line"
wipe_sb $DEV
make-bcache --wipe-bcache -b 512k -C $DEV >/dev/null 2>&1 || die "make-bcache -C $DEV"
CSET=$(cset_uuid $DEV)
SET=$RB/$CSET

rb_load || die "insmod rbcache"
sysfs_write $RB/register $DEV || die "register $DEV: $RB_ERR"
sysfs_write "$SET/flash_vol_create" ${VOL_MB}M || die "flash_vol_create: $RB_ERR"
wait_for 10 test -b /dev/bcache0 || die "no /dev/bcache0"

# fill HALF_NO: HALF random 4 KiB writes, iodepth 32, to half HALF_NO (0 or 1) of the volume.
fill() {
	local t s
	t=$(date +%s)
	fio --name=fill --filename=/dev/bcache0 --offset=$(($1 * VOL_MB / 2))M \
		--size=$((VOL_MB / 2))M --rw=randwrite --bs=4k --direct=1 --ioengine=libaio \
		--iodepth=32 --number_ios=$HALF --randseed=$((7 + $1)) --thread \
		--output=/tmp/fio.out >/dev/null 2>&1 || {
		tail -n 20 /tmp/fio.out
		return 1
	}
	s=$(($(date +%s) - t))
	echo "# $HALF writes in $s s ($((HALF / (s > 0 ? s : 1))) extents/s)"
}
# volume_md5: the md5 of the whole volume, read with O_DIRECT.
volume_md5() {
	dd if=/dev/bcache0 bs=1M iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1
}
# timed CMD...: runs CMD and reports its time.
timed() {
	local t r
	t=$(date +%s)
	"$@"
	r=$?
	echo "# $1: $(($(date +%s) - t)) s" >&2
	return $r
}
gc_pass() {
	local seen
	seen=$(cat "$SET/internal/gc_passes")
	sysfs_write "$SET/internal/trigger_gc" 1 &&
		wait_for 300 test "$(cat "$SET/internal/gc_passes")" -gt "$seen"
}

check "rbcache: $HALF random 4 KiB writes to the first half" fill 0
check "a GC pass writes them into btree leaves" gc_pass
check "rbcache: $HALF random 4 KiB writes to the second half (kept in the journal)" fill 1
timed volume_md5 >/tmp/bigset_md5
echo "# volume md5 $(cat /tmp/bigset_md5)"
stopped() {
	sysfs_write "$SET/stop" 1 && wait_for 60 test ! -e "$SET" && rb_unload
}
check "stop the set cleanly and rmmod" stopped

# keys_logged: the registration line counts at least 2 * HALF keys (leaf keys and live
# journal keys).
keys_logged() {
	local keys
	keys=$(dmesg_since | sed -n 's/.*registered cache device.* \([0-9][0-9]*\) keys,.*/\1/p' | tail -n 1)
	echo "# registered with ${keys:-no} keys"
	[ -n "$keys" ] && [ "$keys" -ge $((2 * HALF)) ]
}
same_md5() { [ "$(timed volume_md5)" = "$(cat /tmp/bigset_md5)" ]; }
rb_register() {
	rb_load && dmesg_mark && timed sysfs_write $RB/register $DEV || {
		echo "# $RB_ERR"
		dmesg_since | tail -n 5
		return 1
	}
}
check "rbcache registers the set again" rb_register
check "... having read all its keys" keys_logged
check "... and its volume appears" wait_for 10 test -b /dev/bcache0
check "... with the same data (md5)" same_md5
check "stop the set and rmmod" stopped

c_same() { volume_md5_is "$(cat /tmp/bigset_md5)"; }
check "the C module registers the set and reads the same data (md5)" with_c_module $DEV c_same
rb_again() {
	rb_register && wait_for 10 test -b /dev/bcache0 && same_md5 && stopped
}
check "rbcache registers the set after the C module, same data (md5)" rb_again
ktap_finished
