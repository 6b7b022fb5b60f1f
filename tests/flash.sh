#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Read-only flash volumes under load: reads in flight while the set is unregistered or stopped,
# and rmmod refused while a volume is still open. Limits: more than 64 volumes, a
# flash_vol_create failing at each allocation in turn, and a set with a volume that cannot start.
. ./lib.sh

ktap_print_header
ktap_set_plan 39

save_first_mib() {
	wait_for 10 test -b /dev/bcache0 &&
		dd if=/dev/bcache0 bs=1M count=1 2>/dev/null | md5sum >/tmp/first_mib
}
first_mib() {
	# The writer below stays between 4 MiB and 14 MiB: the first MiB keeps its data.
	c_bcache_flash /dev/vdc && with_c_module /dev/vdc save_first_mib
}
check "C bcache.ko writes a flash volume" first_mib
CSET=$(cset_uuid /dev/vdc)
SET=$RB/$CSET

# A reader and a writer looping over the volume until an IO fails; their pids go to $READERS.
readers() {
	(while dd if=/dev/bcache0 of=/dev/null bs=64k iflag=direct 2>/dev/null; do :; done) &
	READERS=$!
	# The writer holds the device open on fd 4 and writes through /proc/self/fd/4: when the
	# device goes away its writes fail, and it can never create a regular file in its place.
	(
		exec 4<>/dev/bcache0 || exit 0
		while dd if=/dev/urandom of=/proc/self/fd/4 bs=64k count=4 seek=$((64 + RANDOM % 150)) \
			oflag=direct conv=notrunc 2>/dev/null; do :; done
	) &
	READERS="$READERS $!"
}
readers_gone() {
	for p in $READERS; do
		! kill -0 "$p" 2>/dev/null || return 1
	done
}

up() { rb_load && sysfs_write $RB/register /dev/vdc && wait_for 5 test -b /dev/bcache0; }
check "register; /dev/bcache0 appears" up
readers
sleep 1
gone() { sysfs_write "$SET/$1" 1 && wait_for 20 test ! -e "$SET" && wait_for 5 test ! -e /dev/bcache0; }
check "unregister with reads and writes in flight" gone unregister
check "the reader and the writer end once the device is gone" wait_for 10 readers_gone
check "no bcache_gc thread left" no_gc_threads

check "register again" sh -c "echo /dev/vdc > $RB/register"
check "/dev/bcache0 is back" wait_for 5 test -b /dev/bcache0
readers
sleep 1
check "stop with reads and writes in flight" gone stop
wait_for 10 readers_gone
rereg_md5() {
	sysfs_write $RB/register /dev/vdc && wait_for 5 test -b /dev/bcache0 &&
		[ "$(dd if=/dev/bcache0 bs=1M count=1 2>/dev/null | md5sum)" = "$(cat /tmp/first_mib)" ]
}
check "after all that the untouched data still reads back (md5 of the first MiB)" rereg_md5

# Writes: more than 1/16 of the cache wakes GC through the write path.
I=$SET/internal
big_write() {
	dd if=/dev/urandom of=/tmp/big bs=1M count=5 2>/dev/null &&
		dd if=/tmp/big of=/dev/bcache0 bs=1M seek=8 oflag=direct 2>/dev/null &&
		echo 3 >/proc/sys/vm/drop_caches &&
		[ "$(dd if=/dev/bcache0 bs=1M skip=8 count=5 2>/dev/null | md5sum)" = "$(md5sum </tmp/big)" ]
}
check "5 MiB written through the volume read back exactly (md5)" big_write
wakes() { [ "$(cat $I/gc_wakeups_write)" -ge 1 ] && [ "$(cat $I/gc_passes)" -ge 1 ]; }
check "writing more than 1/16 of the cache woke GC through the write path" wait_for 10 wakes
# Also: some of the writes took the fast path (sent on from submit_bio, keys added by a work
# item once they completed).
fio_verify() {
	f=$(cat $I/fast_writes)
	fio --name=verify --filename=/dev/bcache0 --rw=randwrite --bs=64k --size=4M \
		--direct=1 --ioengine=psync $(fio_gen 1) --do_verify=1 --thread \
		--output=/tmp/fio.out >/dev/null 2>&1 || { tail -n 20 /tmp/fio.out; return 1; }
	echo "# fast_writes $f -> $(cat $I/fast_writes)"
	[ "$(cat $I/fast_writes)" -gt "$f" ]
}
check "fio random writes verify, sent on from submit_bio" fio_verify
check "with internal/io_disable 1 reads and writes fail; with 0 the data is unchanged" \
	io_disable_fails /dev/bcache0 $I

exec 3</dev/bcache0
busy_rmmod() { ! rmmod rbcache 2>/dev/null; }
check "rmmod is refused while /dev/bcache0 is open" busy_rmmod
exec 3<&-
check "rmmod once it is closed" rb_unload

# The volume's own sysfs, and unregistering it: its uuid slot is invalidated for good.
vol_up() { rb_load && sysfs_write $RB/register /dev/vdc && wait_for 5 test -b /dev/bcache0; }
check "register again" vol_up
vlinks() {
	set -- $SET/volume*
	[ $# -eq 1 ] || { echo "# volume links: $*"; return 1; }
	linked "$1" /sys/block/bcache0/bcache && linked /sys/block/bcache0/bcache/cache $SET &&
		linked $SET/cache0 /sys/block/vdc/bcache && linked /sys/block/vdc/bcache/set $SET
}
check "links: $SET/volumeN and bcache0's cache, $SET/cache0 and vdc's set" vlinks
check "/sys/block/bcache0/bcache/size is 16.0M" test "$(cat /sys/block/bcache0/bcache/size)" = 16.0M
L=/sys/block/bcache0/bcache/label
set_label() { sysfs_write $L scratch && [ "$(cat $L)" = scratch ]; }
check "a flash volume's label can be set" set_label
check "a 33-byte label gets EINVAL" expect_errno $L 123456789012345678901234567890123 "Invalid argument"
P=/sys/block/vdc/bcache/cache_replacement_policy
check "cache_replacement_policy shows lru by default" test "$(cat $P)" = "[lru] fifo random"
to_fifo() { sysfs_write $P fifo && [ "$(cat $P)" = "lru [fifo] random" ]; }
check "cache_replacement_policy can be set to fifo" to_fifo
check "junk to cache_replacement_policy gets EINVAL" expect_errno $P clock "Invalid argument"
label_kept() {
	sysfs_write $SET/stop 1 && wait_for 10 test ! -e $SET && sysfs_write $RB/register /dev/vdc &&
		wait_for 5 test -b /dev/bcache0 && [ "$(cat $L)" = scratch ] &&
		[ "$(cat $P)" = "lru [fifo] random" ]
}
check "the label and the policy (in the superblock) are kept across re-registration" label_kept
vol_unreg() { sysfs_write /sys/block/bcache0/bcache/unregister 1 && wait_for 10 test ! -e /dev/bcache0; }
check "unregistering the volume removes /dev/bcache0" vol_unreg
check "and the set's volume link" sh -c "! ls -d $SET/volume* 2>/dev/null"
vol_gone() {
	sysfs_write "$SET/unregister" 1 && wait_for 10 test ! -e "$SET" && dmesg_mark &&
		sysfs_write $RB/register /dev/vdc && logged "0 flash volumes" && test ! -e /dev/bcache0 &&
		sysfs_write "$SET/unregister" 1 && wait_for 10 test ! -e "$SET" && rb_unload
}
check "after re-registering the set the volume stays gone" vol_gone
no_vol() { sleep 1 && test ! -e /dev/bcache0; }
check "the C module agrees: the set has no volume" with_c_module /dev/vdc no_vol

# --- Limits ---
# More than 64 volumes: the numbers of /dev/bcacheN go up to 8191, as in 6.12.
fmt_cache /dev/vda
A=$RB/$(cset_uuid /dev/vda)
all_nodes() {
	local i=0
	while [ $i -lt "$1" ]; do
		wait_for 5 test -b /dev/bcache$i || { echo "# no /dev/bcache$i"; return 1; }
		i=$((i + 1))
	done
}
seventy() {
	local i=0
	rb_load && sysfs_write $RB/register /dev/vda || return 1
	while [ $i -lt 70 ]; do
		sysfs_write $A/flash_vol_create 1M || { echo "# volume $i: $RB_ERR"; return 1; }
		i=$((i + 1))
	done
	all_nodes 70
}
check "70 flash volumes: /dev/bcache0 to /dev/bcache69 appear" seventy
md5_69() { [ "$(dd if=/dev/bcache69 bs=64k count=16 iflag=direct 2>/dev/null | md5sum)" = "$(md5sum </tmp/v69)" ]; }
last_vol() {
	dd if=/dev/urandom of=/tmp/v69 bs=64k count=16 2>/dev/null &&
		dd if=/tmp/v69 of=/dev/bcache69 bs=64k oflag=direct 2>/dev/null && md5_69
}
check "1 MiB written to /dev/bcache69 reads back (md5)" last_vol
seventy_again() {
	dmesg_mark
	sysfs_write $A/stop 1 && wait_for 30 test ! -e $A && wait_for 10 test ! -e /dev/bcache0 &&
		sysfs_write $RB/register /dev/vda && logged ", 70 flash volumes)" && all_nodes 70 && md5_69
}
check "the set registers again with its 70 volumes; /dev/bcache69 reads back (md5)" seventy_again
sysfs_write $A/stop 1 && wait_for 30 test ! -e $A || die "stopping the set of 70 volumes"

# A flash_vol_create that fails after writing its uuid slot gives the slot back.
fmt_cache /dev/vdb
S=$RB/$(cset_uuid /dev/vdb)
FS=/sys/kernel/debug/failslab
one_vol() {
	sysfs_write $RB/register /dev/vdb && sysfs_write $S/flash_vol_create 4M &&
		wait_for 10 test -b /dev/bcache0 && dd if=/dev/urandom of=/tmp/v0 bs=64k count=16 2>/dev/null &&
		dd if=/tmp/v0 of=/dev/bcache0 bs=64k oflag=direct 2>/dev/null
}
check "a fresh set with one flash volume holding 1 MiB" one_vol
check "flash_vol_create refuses 9E, more than a block device can hold" \
	expect_errno $S/flash_vol_create 9E "Invalid argument"
# With failslab failing sleeping allocations too, /proc/self/fail-nth N fails the Nth slab
# allocation this shell makes from then on. flash_vol_create is written with N = 1, 2, ... until
# a write succeeds with its fault not yet injected: every allocation of the write has failed
# once. CREATED counts the writes that succeeded (a failure some caller survives, and the last).
sweep_create() {
	local n=0 left wrote
	CREATED=0
	echo N >$FS/ignore-gfp-wait && echo 0 >$FS/verbose || return 1
	exec 3>"$S/flash_vol_create" || return 1
	while [ $n -lt 5000 ]; do
		n=$((n + 1))
		exec 4</proc/self/fail-nth
		echo $n >/proc/self/fail-nth
		if echo 1M >&3; then wrote=1; else wrote=0; fi
		read -r left <&4 || left=
		exec 4<&-
		echo 0 >/proc/self/fail-nth
		CREATED=$((CREATED + wrote))
		[ "$left" = 0 ] && continue
		[ $wrote = 1 ] && break
		echo "# write $n failed with no fault injected ($left left)"
		n=5000
	done
	exec 3>&-
	echo Y >$FS/ignore-gfp-wait
	echo "# $n allocation points, $CREATED writes succeeded"
	[ $n -lt 5000 ]
}
# (The writes that fail say so on stderr. The kernel's own reports of allocations failed on
# purpose, a vmalloc of the partition scan among them, are expected between the two lines to
# /dev/kmsg: see scripts/vm-check-log.sh.)
sweep() {
	local r
	dmesg_mark
	echo "rbcache-test: forced allocation failures on" >/dev/kmsg
	sweep_create 2>/dev/null
	r=$?
	echo "rbcache-test: forced allocation failures off" >/dev/kmsg
	return $r
}
check "flash_vol_create with each of its allocations failing in turn" sweep
gave_back() {
	local n
	n=$(dmesg_since | grep -c "cannot start (-12); its uuid slot is")
	echo "# $n volumes gave their uuid slot back"
	[ "$n" -ge 1 ]
}
check "volumes that could not start after their uuid slot was written gave it back (logged)" gave_back
slots_kept() {
	local k=$((1 + CREATED))
	dmesg_mark
	sysfs_write $S/stop 1 && wait_for 30 test ! -e $S && wait_for 10 test ! -e /dev/bcache0 &&
		sysfs_write $RB/register /dev/vdb && logged ", $k flash volumes)" &&
		[ "$(ls -d $S/volume* | wc -l)" -eq $k ] && wait_for 10 test -b /dev/bcache0 &&
		[ "$(dd if=/dev/bcache0 bs=64k count=16 iflag=direct 2>/dev/null | md5sum)" = "$(md5sum </tmp/v0)" ]
}
check "re-registered, the set has one volume per successful write, and the first reads back (md5)" slots_kept
sysfs_write $S/stop 1 && wait_for 30 test ! -e $S && rb_unload || die "stopping the swept set"

# A set whose volume cannot start still registers: 6.12 writes the uuid slot of
# flash_vol_create 0, then refuses to start a volume of 0 sectors, and the slot stays.
fmt_cache /dev/vdd
ZU=$(cset_uuid /dev/vdd)
Z=$RB/$ZU
c_zero_slot() {
	local r=0
	insmod $MODDIR/bcache.ko || return 1
	echo /dev/vdd >$RB/register || r=1
	if sysfs_write $Z/flash_vol_create 0; then
		echo "# the C module started a 0-sector volume"
		r=1
	fi
	if sysfs_write $Z/flash_vol_create 16M && wait_for 10 test -b /dev/bcache0; then
		write_pattern /dev/bcache0
		sync
		md5sum </dev/bcache0 | cut -d' ' -f1 >/tmp/c_md5
	else
		r=1
	fi
	echo 1 >$Z/stop
	wait_for 20 test ! -e $Z || r=1
	wait_for 10 rmmod bcache 2>/dev/null || r=1
	return $r
}
check "the C bcache.ko fails flash_vol_create 0 (its slot stays), then writes a 16 MiB volume" c_zero_slot
skip_zero() {
	dmesg_mark
	rb_load && sysfs_write $RB/register /dev/vdd && test -d $Z &&
		logged "vdd: flash volume 0 of set $ZU not started: its size, 0 sectors"
}
check "rbcache registers the set, leaving out the 0-sector volume (logged)" skip_zero
good_vol() {
	volume_md5_is "$(cat /tmp/c_md5)" || return 1
	set -- $Z/volume*
	[ $# -eq 1 ] || { echo "# volume links: $*"; return 1; }
	linked "$1" /sys/block/bcache0/bcache
}
check "the 16 MiB volume is /dev/bcache0 with the C module's data (md5)" good_vol
sysfs_write $Z/stop 1 && wait_for 20 test ! -e $Z && rb_unload || die "stopping the last set"

ktap_finished
