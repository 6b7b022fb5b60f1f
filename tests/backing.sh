#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Backing devices: register, /dev/bcacheN in passthrough, attach (explicit and automatic),
# the cache modes with fio verification, read hits and misses, sequential bypass,
# detach, and the C bcache.ko reading (and writing back) what rbcache left, dirty data
# included.
. ./lib.sh

ktap_print_header
ktap_set_plan 53

backing_setup /dev/vdb /dev/vdc
S=$B/stats_total

up() { rb_load && sysfs_write $RB/register $BK && wait_for 10 test -b /dev/bcache0; }
check "a backing device without a cache runs at once as /dev/bcache0" up
check "its state is 'no cache'" test "$(cat $B/state)" = "no cache"
ident() {
	u=$(bcache-super-show $BK | awk '$1 == "dev.uuid" { print $2 }')
	# rbcache writes the superblock underneath the page cache: later reads must not see this.
	echo 3 >/proc/sys/vm/drop_caches
	n=$(cat $B/backing_dev_name)
	id=$(cat $B/backing_dev_uuid)
	echo "# backing_dev_name $n, backing_dev_uuid $id, dev.uuid $u"
	[ "${#u}" -eq 36 ] && [ "$id" = "$u" ] && [ "$n" = "$(basename $BK)" ]
}
check "backing_dev_name is vdb, backing_dev_uuid the superblock's dev.uuid" ident
# The links 6.12 makes while a backing device is attached: $B/cache to the set's directory and
# $SET/bdev<slot> back; and the cache device's: $SET/cache0 and its bcache/set.
blinks() {
	set -- $SET/bdev*
	[ $# -eq 1 ] || { echo "# bdev links: $*"; return 1; }
	linked "$1" $B && linked $B/cache $SET
}
nolinks() { [ ! -L $B/cache ] && ! ls -d $SET/bdev* >/dev/null 2>&1; }
check "not attached: no cache link" nolinks
links() {
	linked /sys/block/bcache0/bcache $B && linked $B/dev /sys/block/bcache0 &&
		[ "$(cat /sys/block/bcache0/bcache/state)" = "no cache" ] &&
		[ "$(cat $B/dev/size)" = "$(cat /sys/block/bcache0/size)" ] &&
		sysfs_write /sys/block/bcache0/bcache/sequential_cutoff 4M
}
check "/sys/block/bcache0/bcache and $B/dev link the two directories" links
size_ok() {
	want=$(($(cat /sys/block/vdb/size) - $(cat $B/data_offset)))
	[ "$(cat /sys/block/bcache0/size)" -eq "$want" ]
}
check "/dev/bcache0 is the backing device less data_offset" size_ok
check "cache_mode shows writethrough first" \
	test "$(cat $B/cache_mode)" = "[writethrough] writeback writearound none"

# Data written before any cache is there, directly on the backing device.
dd if=/dev/urandom of=/tmp/pre bs=1M count=4 2>/dev/null
pre() { dd if=/tmp/pre of=/dev/bcache0 bs=1M oflag=direct conv=fsync 2>/dev/null; }
check "4 MiB written without a cache" pre

bad() {
	expect_errno $B/attach junk "Invalid argument" &&
		expect_errno $B/attach 00000000-1111-2222-3333-444444444444 "No such file" &&
		expect_errno $B/cache_mode writesideways "Invalid argument" &&
		expect_errno $B/running 2 "Invalid argument" &&
		expect_errno $RB/register $BK "Device or resource busy"
}
check "junk to attach, cache_mode and running, and a second register, are refused" bad

att() {
	sysfs_write $RB/register $CA && uncongested $SET && sysfs_write $B/attach "$CSET" &&
		test "$(cat $B/state)" = clean || { echo "# $RB_ERR"; return 1; }
}
check "register the cache and attach: state clean" att
check "attached: $B/cache and $SET/bdevN link the two directories" blinks
clinks() { linked $SET/cache0 /sys/block/vdc/bcache && linked /sys/block/vdc/bcache/set $SET; }
check "the cache device: $SET/cache0 and /sys/block/vdc/bcache/set link its directories" clinks
sbset() { bcache-super-show $BK | grep -q "cset.uuid.*$CSET"; }
check "the backing superblock names the set" sbset
check "attaching again is refused" expect_errno $B/attach "$CSET" "Device or resource busy"

vfio() {
	fio --name=b --filename=/dev/bcache0 --bs=4k --size=4M --offset=8M --direct=1 \
		--ioengine=psync $(fio_gen "$(seed_of "$@")") --allow_file_create=0 --thread \
		--output=/tmp/fio.out "$@" || { tail -n 20 /tmp/fio.out; return 1; }
}
check "writethrough: random 4 KiB writes verify" vfio --rw=randwrite --randseed=1 --do_verify=1
hits() {
	h=$(cat $S/cache_hits)
	vfio --rw=randwrite --randseed=1 --verify_only || return 1
	echo "# hits $h -> $(cat $S/cache_hits), misses $(cat $S/cache_misses)"
	[ "$(cat $S/cache_hits)" -gt "$h" ]
}
check "reading the written data back hits the cache" hits
# md5 of a whole device, from sector $2 (default 0) to its end. rbcache writes the backing
# device underneath its page cache, and busybox dd's iflag=direct still read stale pages here:
# drop them first.
dmd5() {
	echo 3 >/proc/sys/vm/drop_caches
	dd if="$1" bs=1M iflag=skip_bytes skip="$((${2:-0} * 512))" 2>/dev/null |
		md5sum | cut -d' ' -f1
}
ondisk() {
	[ "$(dmd5 /dev/bcache0)" = "$(dmd5 $BK "$(cat $B/data_offset)")" ] ||
		{ echo "# backing device differs"; return 1; }
}
check "writethrough: the backing device holds every byte" ondisk

mode() { sysfs_write $B/cache_mode "$1" && cat $B/cache_mode | grep -q "\[$1\]"; }
# Writes that took the fast path (sent on from submit_bio, finished by a work item).
fastw() { cat $SET/internal/fast_writes; }
# fastw_grew BEFORE: some writes since took the fast path.
fastw_grew() { echo "# fast_writes $1 -> $(fastw)"; [ "$(fastw)" -gt "$1" ]; }
around() {
	f=$(fastw)
	mode writearound && vfio --rw=randwrite --randseed=2 --do_verify=0 && ondisk && fastw_grew "$f"
}
check "writearound: random writes reach the backing device, sent on from submit_bio" around
misses() {
	m=$(cat $S/cache_misses)
	vfio --rw=randwrite --randseed=2 --verify_only &&
		[ "$(cat $S/cache_misses)" -gt "$m" ] || return 1
	h=$(cat $S/cache_hits)
	vfio --rw=randwrite --randseed=2 --verify_only || return 1
	echo "# misses $m -> $(cat $S/cache_misses), then hits $h -> $(cat $S/cache_hits)"
	[ "$(cat $S/cache_hits)" -gt "$h" ]
}
check "written-around data misses, is filled, then hits" misses

# stats_five_minute/, stats_hour/, stats_day/: 6.12's decaying averages, updated every
# 300/22 s from what was counted since.
SPANS="total five_minute hour day"
STATS="cache_hits cache_misses cache_bypass_hits cache_bypass_misses cache_hit_ratio cache_miss_collisions bypassed"
dirs() {
	for d in $SPANS; do
		for f in $STATS; do
			v=$(cat ${1:-$B}/stats_$d/$f) || return 1
			case "$f:$v" in
			bypassed:[0-9]*) ;;
			bypassed:*) echo "# stats_$d/$f: $v"; return 1 ;;
			*:*[!0-9]* | *:) echo "# stats_$d/$f: $v"; return 1 ;;
			esac
		done
	done
}
check "stats_total, stats_five_minute, stats_hour and stats_day hold all seven files" dirs
# st SPAN FILE [DIR]: FILE of DIR/stats_SPAN/ (DIR: the device's directory, or the set's).
st() { cat ${3:-$B}/stats_$1/$2; }
# The hits and misses reach the intervals at the next tick; an interval that decays less often
# holds at least as much, and none holds more than the total.
avg() {
	[ "$(st five_minute cache_hits)" -gt 0 ] && [ "$(st five_minute cache_misses)" -gt 0 ] &&
		[ "$(st hour cache_hits)" -ge "$(st five_minute cache_hits)" ] &&
		[ "$(st day cache_hits)" -ge "$(st hour cache_hits)" ] &&
		[ "$(st total cache_hits)" -ge "$(st day cache_hits)" ] &&
		[ "$(st total cache_misses)" -ge "$(st day cache_misses)" ]
}
ratio() {
	h=$(st five_minute cache_hits) m=$(st five_minute cache_misses) r=$(st five_minute cache_hit_ratio)
	[ "$r" -eq $((h * 100 / (h + m))) ] || { echo "# hits $h misses $m ratio $r"; return 1; }
}
decaying() {
	wait_for 40 avg || {
		for d in $SPANS; do echo "# stats_$d: hits $(st $d cache_hits) misses $(st $d cache_misses)"; done
		return 1
	}
	wait_for 5 ratio
}
check "after an accounting tick the decaying averages count the hits and misses, consistently" decaying
# zeroed [DIR]: every stats directory of DIR (the device's by default) holds zeroes.
zeroed() {
	for d in $SPANS; do
		for f in cache_hits cache_misses cache_bypass_hits cache_bypass_misses cache_hit_ratio \
			cache_miss_collisions; do
			[ "$(st $d $f "$1")" = 0 ] || { echo "# stats_$d/$f: $(st $d $f "$1")"; return 1; }
		done
		[ "$(st $d bypassed "$1")" = 0.0k ] || { echo "# stats_$d/bypassed: $(st $d bypassed "$1")"; return 1; }
	done
}
# The cache set's directories count the IO of every device attached to it, as 6.12's do. This
# device is the set's only one, so their totals agree (a device counts nothing while it is not
# attached, as in 6.12).
setstats() {
	for f in cache_hits cache_misses cache_bypass_hits cache_bypass_misses cache_miss_collisions; do
		echo "# $f: device $(cat $B/stats_total/$f), set $(cat $SET/stats_total/$f)"
		[ "$(cat $B/stats_total/$f)" = "$(cat $SET/stats_total/$f)" ] || return 1
	done
	[ "$(cat $SET/stats_total/cache_hits)" -gt 0 ] &&
		[ "$(cat $SET/stats_total/bypassed)" = "$(cat $B/stats_total/bypassed)" ] &&
		dirs $SET
}
check "the cache set's stats_* directories count the device's hits and misses" setstats
cleared() { sysfs_write $B/clear_stats 1 && zeroed && sleep 15 && zeroed; }
check "clear_stats zeroes every interval, and a tick later they stay zero" cleared
check "the device's clear_stats leaves the set's statistics" \
	test "$(cat $SET/stats_total/cache_hits)" -gt 0
setcleared() { sysfs_write $SET/clear_stats 1 && zeroed $SET; }
check "the set's clear_stats zeroes every interval of the set's" setcleared
none() { mode none && vfio --rw=randwrite --randseed=3 --do_verify=1 && ondisk; }
check "none: random writes verify" none
switch() {
	mode writethrough || return 1
	vfio --rw=randrw --randseed=4 --do_verify=1 &
	pid=$!
	for m in writearound none writethrough writearound writethrough; do
		usleep 300000
		mode $m || return 1
	done
	wait $pid
}
check "mode switches during a random read/write job; it verifies" switch
check "and the backing device holds every byte" ondisk
written() {
	C=/sys/block/vdc/bcache
	w=$(bytes <$C/written)
	bt=$(bytes <$C/btree_written)
	m=$(bytes <$C/metadata_written)
	echo "# written $w, btree_written $bt, metadata_written $m"
	[ "$w" -ge $((4 << 20)) ] && [ "$bt" -gt 0 ] && [ "$m" -ge "$bt" ]
}
check "the cache device counts data, btree and metadata written" written
preok() { [ "$(dd if=/dev/bcache0 bs=1M count=4 iflag=direct 2>/dev/null | md5sum)" = "$(md5sum </tmp/pre)" ]; }
check "the data written before attaching is intact" preok

seqread() {
	b=$(($(cat $S/cache_bypass_misses) + $(cat $S/cache_bypass_hits)))
	dd if=/dev/bcache0 of=/dev/null bs=1M count=16 iflag=direct 2>/dev/null
	echo "# bypassed $(cat $S/bypassed), bypass hits+misses $b -> $(($(cat $S/cache_bypass_misses) + $(cat $S/cache_bypass_hits)))"
	[ $(($(cat $S/cache_bypass_misses) + $(cat $S/cache_bypass_hits))) -gt "$b" ]
}
check "a 16 MiB sequential read bypasses the cache past sequential_cutoff" seqread

det() {
	a=$(dmd5 /dev/bcache0)
	detach_wait $B && [ "$(dmd5 /dev/bcache0)" = "$a" ] &&
		! bcache-super-show $BK | grep -q "cset.uuid.*$CSET"
}
check "detach: state no cache, set_uuid cleared, same data" det
check "detach removes both links" wait_for 10 nolinks

wb() {
	sysfs_write $B/attach "$CSET" && mode writeback &&
		sysfs_write $B/writeback_running 0 && f=$(fastw) &&
		vfio --rw=randwrite --randseed=5 --do_verify=1 &&
		test "$(cat $B/state)" = dirty && fastw_grew "$f"
}
check "attach again, writeback: random writes verify, state dirty; most took the fast path" wb
# Mode none with dirty data in the cache: reads still find it there. 6.12 looks the cache up
# for every read and counts what it finds as bypass hits or misses. (An md5, not fio's
# verify_only: data an earlier fio run left on the backing device would verify too.)
nonedirty() {
	dd if=/dev/urandom of=/tmp/nd bs=64k count=16 2>/dev/null &&
		dd if=/tmp/nd of=/dev/bcache0 bs=64k seek=256 oflag=direct 2>/dev/null || return 1
	want=$(md5sum </tmp/nd | cut -d' ' -f1)
	bh=$(cat $S/cache_bypass_hits)
	mode none || return 1
	got=$(dd if=/dev/bcache0 bs=64k skip=256 count=16 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
	mode writeback || return 1
	echo "# md5 $got, want $want; cache_bypass_hits $bh -> $(cat $S/cache_bypass_hits)"
	[ "$got" = "$want" ] && [ "$(cat $S/cache_bypass_hits)" -gt "$bh" ]
}
check "mode none: reads of dirty data come from the cache, counted as bypass hits" nonedirty
check "attaching again links the directories again" blinks
dirty() { d=$(cat $B/dirty_data); echo "# dirty_data $d"; [ "$d" != "0.0k" ] && [ "$d" != 0 ]; }
check "dirty_data counts the dirty sectors" dirty
check "dirty data stays while writeback_running is 0" test "$(cat $B/state)" = dirty
# Writes around the cache to a range it holds nothing of journal nothing
# (internal/empty_invalidations). Then a read larger than the 256 KiB the mixed read path
# copies at a time: 4 MiB in one direct read, over 96 KiB runs written (dirty) into the cache
# and 96 KiB gaps read from the backing device, whose bounds fall inside its chunks.
mixed() {
	e=$(cat $SET/internal/empty_invalidations)
	dd if=/dev/urandom of=/tmp/mx bs=1M count=4 2>/dev/null && mode none &&
		dd if=/tmp/mx of=/dev/bcache0 bs=1M seek=32 oflag=direct 2>/dev/null &&
		mode writeback || return 1
	echo "# empty_invalidations $e -> $(cat $SET/internal/empty_invalidations)"
	[ "$(cat $SET/internal/empty_invalidations)" -gt "$e" ] || return 1
	i=0
	while [ $i -le 120 ]; do
		dd if=/dev/urandom of=/tmp/mx bs=32k seek=$i count=3 conv=notrunc 2>/dev/null &&
			dd if=/tmp/mx of=/dev/bcache0 bs=32k skip=$i seek=$((1024 + i)) count=3 \
				oflag=direct 2>/dev/null || return 1
		i=$((i + 6))
	done
	got=$(dd if=/dev/bcache0 bs=4M skip=8 count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
	echo "# md5 $got, want $(md5sum </tmp/mx | cut -d' ' -f1)"
	[ "$got" = "$(md5sum </tmp/mx | cut -d' ' -f1)" ]
}
check "writes around an uncached range journal nothing; a 4 MiB read over cached runs and gaps is correct" mixed
# A flush reaches the backing device only if a write reached it since the last flush (6.12
# always sends one): flushes completed by the backing device, /sys/block/<dev>/stat field 16.
bflush() { awk '{ print $16 }' /sys/block/$(basename $BK)/stat; }
wrflush() { dd if=/tmp/pre of=/dev/bcache0 bs=4k count=4 seek="$1" oflag=direct conv=fsync 2>/dev/null; }
flushes() {
	# Writeback: cached. The first fsync may flush for writes that came before.
	wrflush 5120 && f0=$(bflush) && wrflush 5124 && f1=$(bflush) || return 1
	# Around the cache (the mode switch writes the superblock: count from after it).
	mode writearound && f2=$(bflush) && wrflush 5128 && f3=$(bflush) && mode writeback || return 1
	echo "# backing flushes: $f0 -> $f1 (cached write, fsync), $f2 -> $f3 (written around, fsync)"
	[ "$f1" = "$f0" ] && [ "$f3" -gt "$f2" ]
}
check "fsync flushes the backing device only after writes that reached it" flushes
check "with the set's internal/io_disable 1 reads and writes fail; with 0 the data is unchanged" \
	io_disable_fails /dev/bcache0 $SET/internal
WB_MD5=
keep() { WB_MD5=$(dmd5 /dev/bcache0); }
check "record the volume's md5" keep

# Stop the set and unload; the C module reads the dirty data back, then writes it back.
set_gone() { sysfs_write $SET/$1 1 && wait_for 20 test ! -e $SET && [ ! -L $B/cache ]; }
check "stop the set: its directory and the backing device's cache link go" set_gone stop
# As 6.12's: the set's stop stops the backing devices attached to it. Left running without
# their cache, this dirty one would read older data from the backing device.
bk_gone() {
	wait_for 20 test ! -e $B && ! test -b /dev/bcache0 || return 1
	dmesg | grep -q "released: its cache set was stopped"
}
check "... and stops the attached backing device: /dev/bcache0 and its directory go" bk_gone
check "rmmod" rb_unload
down() { sysfs_write $B/stop 1 && wait_for 20 test ! -e $B && rb_unload; }
wb_same() { [ "$(dmd5 /dev/bcache0)" = "$WB_MD5" ]; }
check "the C bcache.ko reads rbcache's dirty data and writes it back" c_writeback $CA $BK wb_same
cleanraw() {
	off=$(bcache-super-show $BK | awk '$1 == "dev.data.first_sector" { print $2 }')
	[ -n "$off" ] || off=16
	[ "$(dmd5 $BK "$off")" = "$WB_MD5" ]
}
check "the backing device then holds the data" cleanraw

# rbcache's own writeback: dirty data, then detach writes it back first.
again() {
	rb_load && sysfs_write $RB/register $CA && uncongested $SET &&
		sysfs_write $RB/register $BK &&
		wait_for 10 test -b /dev/bcache0 && test "$(cat $B/state)" = clean &&
		mode writeback && sysfs_write $B/writeback_running 0 &&
		vfio --rw=randwrite --randseed=6 --do_verify=1 && test "$(cat $B/state)" = dirty
}
check "rbcache again: it attaches by itself; writeback writes leave it dirty" again
check "attaching by itself links the directories" blinks
wbdet() {
	m=$(dmd5 /dev/bcache0)
	detach_wait $B || return 1
	sed 's/^/# /' $B/writeback_rate_debug
	[ "$(dmd5 $BK "$(cat $B/data_offset)")" = "$m" ] &&
		vfio --rw=randwrite --randseed=6 --verify_only
}
check "detach writes the dirty data back first; the backing device holds it" wbdet
wb_again() { sysfs_write $B/attach "$CSET" && blinks; }
check "attach once more: linked" wb_again
check "unregister the set: its directory and the backing device's cache link go" set_gone unregister
check "stop the backing device, rmmod" down
ktap_finished
