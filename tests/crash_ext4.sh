#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Power cut under ext4 in writeback mode (two boots, `scripts/vm.sh crash crash_ext4`):
# phase 1 makes an ext4 filesystem on /dev/bcache0 (rbcache, writeback mode, writeback
# running with no delay, so dirty data is being written back when the power goes), writes a
# tree of 40 files, syncs, records their md5sums on the filesystem and on the marker disk,
# then keeps writing and syncing more files and cuts the power. Phase 2: rbcache registers
# both devices, the mount replays the ext4 journal, e2fsck -fn is clean and every synced file
# matches its md5; then rbcache writes everything back, detaches, and the raw backing device
# at data_offset holds the same clean filesystem. `crash_c_ext4` runs this with SYS=c: the C
# bcache.ko in both boots, for comparison.
. ./lib.sh

SYS=${SYS:-rb}
if [ "$SYS" = rb ]; then
	NAME=rbcache
	load() { rb_load; }
	unload() { rb_unload; }
else
	NAME="the C module"
	load() { insmod $MODDIR/bcache.ko; }
	unload() { wait_for 10 rmmod bcache 2>/dev/null; }
fi
# The backing superblock's first data sector (the C module has no data_offset file).
data_off() { bcache-super-show $BK | awk '$1 == "dev.data.first_sector" { print $2 }'; }

BK=/dev/vdb
CA=/dev/vda
B=/sys/block/vdb/bcache
need_e2fsprogs

if [ "${PHASE:-1}" = 1 ]; then
	register_fresh $BK $CA load
	# Writeback running with no delay and no rate limit when the power goes.
	echo 0 >$B/writeback_delay && echo 0 >$B/writeback_percent || exit 1
	uncongested $RB/$(cset_uuid $CA) || exit 1
	echo "$(cset_uuid $CA)" >$B/attach || exit 1
	# Every write through the cache (no sequential bypass): more dirty data to write back.
	echo writeback >$B/cache_mode && echo 0 >$B/sequential_cutoff || exit 1
	wait_for 5 test -b /dev/bcache0 || exit 1
	$MKE2FS -q -t ext4 -F /dev/bcache0 || exit 1
	mount -t ext4 /dev/bcache0 /mnt || exit 1
	ext4_tree /mnt || exit 1
	cp /tmp/sums /mnt/sums
	sync
	{
		echo "sums $(wc -l </tmp/sums)"
		cat /tmp/sums
	} >/tmp/list
	dd if=/tmp/list of=/dev/vdd bs=8k count=1 conv=sync,fsync 2>/dev/null || exit 1
	cat $B/dirty_data $B/state >/dev/kmsg
	# Fast unsynced writes from a ready buffer (/dev/urandom is slow under TCG), some synced.
	dd if=/dev/urandom of=/tmp/r bs=64k count=32 2>/dev/null
	(
		i=0
		while :; do
			mkdir -p /mnt/u$((i % 3))
			dd if=/tmp/r of=/mnt/u$((i % 3))/g$i bs=64k skip=$((i % 16)) count=$((1 + i % 16)) 2>/dev/null
			[ $((i % 4)) = 3 ] && sync
			i=$((i + 1))
		done
	) &
	power_cut 1500000
fi

ktap_print_header
ktap_set_plan 12
SET=$RB/$(cset_uuid $CA)
dd if=/dev/vdd bs=8k count=1 2>/dev/null | tr -d '\0' >/tmp/list
sed 1d /tmp/list >/tmp/sums
listed() {
	n=$(wc -l </tmp/sums)
	[ "$(head -n 1 /tmp/list)" = "sums 40" ] && [ "$n" -eq 40 ] ||
		{ echo "# list header '$(head -n 1 /tmp/list)', $n lines"; return 1; }
}
check "the md5 list of the 40 synced files was kept on the marker disk" listed
echo "# backing superblock: $(bcache-super-show $BK | grep cache_state)"
dmesg_mark
# The backing device first, its writeback held (writeback_running 0, writeback_delay 0)
# before the cache comes and it attaches, until the checks through the cache are done.
up() {
	load && sysfs_write $RB/register $BK && wait_for 10 test -e $B/attach &&
		sysfs_write $B/writeback_running 0 && sysfs_write $RB/register $CA &&
		wait_for 10 test -b /dev/bcache0 && wait_for 10 test -e $SET || return 1
	echo "# state $(cat $B/state), dirty_data $(cat $B/dirty_data)"
}
check "$NAME registers both after the power cut; the device attaches by itself" up
# md5 of each MiB of DEV from sector OFF, as long as /dev/bcache0 (the last one short).
mib_sums() {
	echo 3 >/proc/sys/vm/drop_caches
	size=$(($(cat /sys/block/bcache0/size) * 512))
	i=0
	while [ $((i << 20)) -lt $size ]; do
		len=$((size - (i << 20)))
		[ $len -gt 1048576 ] && len=1048576
		dd if="$1" bs=64k iflag=skip_bytes,count_bytes skip=$(($2 * 512 + (i << 20))) \
			count=$len 2>/dev/null | md5sum | cut -d' ' -f1
		i=$((i + 1))
	done
}
# What a CLEAN backing superblock promises: the backing device alone holds the volume.
clean_means_clean() {
	mib_sums /dev/bcache0 0 >/tmp/vol.sums
	mib_sums $BK "$(data_off)" >/tmp/raw.sums
	d=$(diff /tmp/vol.sums /tmp/raw.sums | grep -c '^+[0-9a-f]')
	echo "# $d MiB of $(wc -l </tmp/vol.sums) differ between /dev/bcache0 and the raw backing device"
	[ "$d" -eq 0 ]
}
if [ "$(cat $B/state)" = clean ]; then
	desc="the backing superblock says clean: the raw backing device holds what /dev/bcache0 reads"
	if clean_means_clean; then
		ktap_test_pass "$desc"
	elif [ "$SYS" = c ]; then
		# 6.12 writes DIRTY to the backing superblock asynchronously, with no flush, when the
		# first dirty write arrives (bcache-6.12.md §2.10 item 8): a power cut can leave CLEAN on
		# disk under dirty cache data. rbcache writes DIRTY before the first dirty write.
		ktap_test_xfail "$desc (the C module: its DIRTY superblock write is asynchronous)"
	else
		ktap_test_fail "$desc"
	fi
else
	ktap_test_skip "the backing superblock says dirty: no promise about the raw backing device"
fi
replay() {
	mount -t ext4 /dev/bcache0 /mnt || return 1
	umount /mnt || return 1
	logged "recovery complete"
}
check "mount replays the ext4 journal (recovery complete), umount" replay
fsck() {
	$E2FSCK -fn "$1" >/tmp/fsck.out 2>&1 || {
		tail -n 20 /tmp/fsck.out | sed 's/^/# /'
		return 1
	}
}
check "e2fsck -fn /dev/bcache0 is clean" fsck /dev/bcache0
sums_kept() { mount -t ext4 /dev/bcache0 /mnt && cmp -s /mnt/sums /tmp/sums; }
check "remounted: the md5 list on the filesystem is the one on the marker disk" sums_kept
md5_ok() {
	(cd /mnt && md5sum -c /tmp/sums >/tmp/md5.out 2>&1) || {
		grep -v ': OK$' /tmp/md5.out | head -n 10 | sed 's/^/# /'
		return 1
	}
	umount /mnt
}
check "every synced file matches its md5" md5_ok
no_errors() {
	dmesg_since | grep -E 'EXT4-fs (error|warning)|I/O error|bcache.*(error|fail)' >/tmp/errs
	[ ! -s /tmp/errs ] || { head -n 10 /tmp/errs | sed 's/^/# /'; return 1; }
}
check "no ext4 error or I/O error in the kernel log" no_errors
is_clean() { [ "$(cat $B/state)" = clean ] && [ "$(cat $B/dirty_data)" = 0.0k ]; }
no_cache() { [ "$(cat $B/state)" = "no cache" ]; }
# writeback_percent 0: no rate limit. The detach may return before it is done (as 6.12).
drain() {
	sysfs_write $B/writeback_delay 0 && sysfs_write $B/writeback_percent 0 &&
		sysfs_write $B/writeback_running 1 || return 1
	wait_for 90 is_clean || { echo "# state $(cat $B/state), dirty_data $(cat $B/dirty_data)"; return 1; }
	sed 's/^/# /' $B/writeback_rate_debug
	sysfs_write $B/detach 1 && wait_for 60 no_cache || { echo "# detach: $RB_ERR, state $(cat $B/state)"; return 1; }
}
check "$NAME writes everything back (state clean) and detaches" drain
raw() {
	off=$(data_off)
	sysfs_write $B/stop 1 && wait_for 20 test ! -e $B || return 1
	echo 3 >/proc/sys/vm/drop_caches
	loop=$(losetup -f)
	losetup -o $((off * 512)) "$loop" $BK || return 1
	r=0
	fsck "$loop" || { echo "# e2fsck on the raw backing device"; r=1; }
	if mount -t ext4 -o ro "$loop" /mnt; then
		(cd /mnt && md5sum -c /tmp/sums >/dev/null 2>&1) || { echo "# md5 on the raw device"; r=1; }
		umount /mnt
	else
		r=1
	fi
	losetup -d "$loop"
	return $r
}
check "the raw backing device at data_offset: e2fsck -fn clean, every md5 matches" raw
down() { sysfs_write $SET/unregister 1 && wait_for 20 test ! -e $SET && unload; }
check "unregister the set, unload $NAME" down
check "no cache-set thread is left" no_gc_threads
ktap_finished
