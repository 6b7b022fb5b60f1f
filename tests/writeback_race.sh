#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Writeback racing a foreground write, forced: the backing device sits behind dm-delay, so a
# writeback write of a dirty block stays in flight for 2 s; the block is overwritten (in
# writeback mode, into the cache) meanwhile. Writeback's compare-and-replace must then leave
# the newer key dirty (counted as a race in writeback_rate_debug), write it back on a later
# pass, and the backing device and /dev/bcache0 must both end with the newer data. Then the
# backing device's error accounting, up to the device stopping at its io_error_limit.
# Then races that dm-delay (under the cache device too) holds open: fast writeback writes
# against writeback setting the superblock CLEAN, a teardown waiting for a bio with a signal
# pending, and an attach against a stop of its set.
. ./lib.sh

ktap_print_header
ktap_set_plan 16

SECTORS=$(cat /sys/block/vdb/size)
BKD=$(dm_create bkd "0 $SECTORS delay /dev/vdb 0 0") || die "dm-delay on /dev/vdb"
CSECTORS=$(cat /sys/block/vdc/size)
CAD=$(dm_create cad "0 $CSECTORS delay /dev/vdc 0 0") || die "dm-delay on /dev/vdc"
backing_setup "$BKD" "$CAD"
# Writes (and flushes) of the backing device take MS more milliseconds; reads none.
wdelay() { dm_reload bkd "0 $SECTORS delay /dev/vdb 0 0 /dev/vdb 0 $1"; }
# The same for the cache device.
cdelay() { dm_reload cad "0 $CSECTORS delay /dev/vdc 0 0 /dev/vdc 0 $1"; }
# Block 100 (4 KiB) of a device, skipping OFFSET sectors first.
blk() {
	echo 3 >/proc/sys/vm/drop_caches
	dd if="$1" bs=4096 iflag=skip_bytes skip=$((${2:-0} * 512 + 409600)) count=1 2>/dev/null |
		md5sum | cut -d' ' -f1
}
races() { awk '/^races:/ { print $2 }' $B/writeback_rate_debug; }

up() {
	rb_load && sysfs_write $RB/register $BKD && sysfs_write $RB/register $CA &&
		uncongested $SET && sysfs_write $B/attach "$CSET" &&
		sysfs_write $B/cache_mode writeback && sysfs_write $B/writeback_running 0 &&
		sysfs_write $B/writeback_percent 0 && sysfs_write $B/writeback_delay 0 &&
		sysfs_write $B/sequential_cutoff 0 && wait_for 10 test -b /dev/bcache0
}
check "a backing device behind dm-delay, attached in writeback mode, writeback off" up
[ -d $SET ] || die "setup failed: $RB_ERR"

dd if=/dev/urandom of=/tmp/a bs=4k count=1 2>/dev/null
dd if=/dev/urandom of=/tmp/b bs=4k count=1 2>/dev/null
A=$(md5sum </tmp/a | cut -d' ' -f1)
W=$(md5sum </tmp/b | cut -d' ' -f1)
first() {
	dd if=/tmp/a of=/dev/bcache0 bs=4k seek=100 oflag=direct conv=fsync 2>/dev/null &&
		state_is $B dirty && [ "$(blk /dev/bcache0)" = "$A" ]
}
check "a 4 KiB block written: dirty in the cache" first

# Writeback's write of the block to the backing device, in flight: held by dm-delay (its
# status counts the reads, writes and flushes it holds).
wb_inflight() { [ "$(dmsetup status bkd | awk '{ print $5 }')" -gt 0 ]; }
overwrite() {
	r=$(races)
	wdelay 2000 && sysfs_write $B/writeback_running 1 || return 1
	wait_for 5 wb_inflight || {
		echo "# no write held: $(dmsetup status bkd)"
		return 1
	}
	# No fsync: a flush could wait for the delayed backing device.
	dd if=/tmp/b of=/dev/bcache0 bs=4k seek=100 oflag=direct 2>/dev/null || return 1
	# The overwrite went to the cache while writeback's backing write was still held.
	wb_inflight || { echo "# writeback's write completed before the overwrite"; return 1; }
	echo "# races before $r"
	wait_for 20 races_grew
}
races_grew() {
	[ "$(races)" -gt "$r" ] || return 1
	echo "# races now $(races), writeback_keys_failed $(cat $SET/internal/writeback_keys_failed)"
	# The set's count of the same (6.12's name; 6.12 itself never counts it).
	[ "$(cat $SET/internal/writeback_keys_failed)" -ge 1 ]
}
check "overwritten while writeback's backing write is in flight: counted as a race (and in writeback_keys_failed)" overwrite
clean_wait() { wdelay 0 && wait_for 60 state_is $B clean; }
check "writeback writes the newer data on a later pass: state clean" clean_wait
check "/dev/bcache0 reads the newer data" test "$(blk /dev/bcache0)" = "$W"
raw() {
	got=$(blk /dev/vdb "$(cat $B/data_offset)")
	echo "# backing block md5 $got, newer $W, older $A"
	[ "$got" = "$W" ]
}
check "the backing device holds the newer data" raw

# The backing device's error accounting (6.12's bch_count_backing_io_errors): io_errors,
# io_error_limit (64) and io_disable, then the device stopping at its limit.
bk_knobs() {
	[ "$(cat $B/io_errors)" = 0 ] && [ "$(cat $B/io_error_limit)" = 64 ] &&
		[ "$(cat $B/io_disable)" = 0 ] &&
		expect_errno $B/io_error_limit x "Invalid argument" &&
		expect_errno $B/io_disable junk "Invalid argument" &&
		sysfs_write $B/io_error_limit 99999999999 &&
		[ "$(cat $B/io_error_limit)" = 2147483647 ] &&
		sysfs_write $B/io_disable 5 && [ "$(cat $B/io_disable)" = 1 ] || return 1
	if dd if=/dev/bcache0 of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null; then
		echo "# a read went through with io_disable 1"
		return 1
	fi
	sysfs_write $B/io_disable 0 && dd if=/dev/bcache0 of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null
}
check "io_errors, io_error_limit (64) and io_disable: junk refused; io_disable fails IO" bk_knobs
bk_fail() {
	sysfs_write $B/io_error_limit 4 || return 1
	dmesg_mark
	dm_reload bkd "0 $SECTORS error" || return 1
	# Reads of blocks the cache does not hold: each fails on the backing device.
	for i in 1 2 3 4 5 6; do
		dd if=/dev/bcache0 of=/dev/null bs=4k skip=$((2000 + i * 10)) count=1 iflag=direct \
			2>/dev/null
	done
	echo "# io_errors $(cat $B/io_errors 2>/dev/null)"
	wait_for 10 sh -c "! test -b /dev/bcache0"
	gone=$?
	dm_reload bkd "0 $SECTORS delay /dev/vdb 0 0" || return 1
	[ $gone = 0 ] && [ ! -e $B ] && logged "4 IO errors: stopping it"
}
check "at the backing device's io_error_limit, /dev/bcache0 stops, with one log line" bk_fail

# The backing device, registered again: its superblock names the set, so it attaches (clean,
# in writeback mode, writeback with no rate limit), and its /dev/bcache0 appears.
again() {
	sysfs_write $RB/register $BKD && wait_for 10 test -b /dev/bcache0 && state_is $B clean &&
		sysfs_write $B/cache_mode writeback && sysfs_write $B/writeback_percent 0 &&
		sysfs_write $B/sequential_cutoff 0
}

# A fast-path writeback write (one that fits in room the cache has) reads the superblock state
# and, seeing DIRTY, adds its dirty keys once its data is in the cache. Writeback, after a pass
# that found nothing dirty, writes the journal and then sets the superblock CLEAN unless a
# write adding dirty data is in flight. With the cache's writes held 400 ms, that journal
# write holds the set's lock for as long; a write arriving then reads DIRTY and waits for the
# lock. It must count as in flight from before it read the state, or writeback writes CLEAN
# and the write then adds dirty data under a CLEAN superblock (a detach or a power cut then
# loses it). Writes of 4 KiB blocks one at a time; after each, writeback is asked for a pass
# at once (a write to writeback_delay), and the next write comes 100 ms later. Once the state
# reads clean after a write, no dirty data may be left: writeback rests writeback_delay (30 s)
# after a clean pass, so what a raced write added stays there to be seen.
wb_clean_race() {
	jd=$(cat $SET/journal_delay_ms)
	# The journal thread waits 10 s: the clean keys wait for writeback's own journal write.
	sysfs_write $SET/journal_delay_ms 10000 && sysfs_write $B/writeback_delay 30 &&
		sysfs_write $B/writeback_running 1 && cdelay 400 || return 1
	dd if=/dev/urandom of=/tmp/w bs=4k count=25 2>/dev/null
	n=0
	bad=0
	while [ $n -lt 25 ]; do
		dd if=/tmp/w of=/dev/bcache0 bs=4k skip=$n seek=$((4000 + n)) count=1 oflag=direct \
			2>/dev/null || return 1
		n=$((n + 1))
		if state_is $B clean; then
			d=$(cat $B/dirty_data)
			echo "# clean after write $n, dirty_data $d"
			[ "$d" = 0.0k ] || bad=1
			break
		fi
		# The next write comes 100 ms into the pass, while writeback writes the journal.
		sysfs_write $B/writeback_delay 30 && usleep 100000 || return 1
	done
	echo "# $n writes"
	cdelay 0 && sysfs_write $SET/journal_delay_ms "$jd" && sysfs_write $B/writeback_delay 30 &&
		wait_for 60 state_is $B clean && [ "$(cat $B/dirty_data)" = 0.0k ] && [ $bad = 0 ]
}
check "the device registered again and attached in writeback mode" again
check "writes racing writeback's CLEAN: once the state reads clean, no dirty data is left" \
	wb_clean_race
# The blocks written, as /dev/bcache0 reads them.
written() {
	echo 3 >/proc/sys/vm/drop_caches
	dd if=/dev/bcache0 bs=4k skip=4000 count=$n iflag=direct 2>/dev/null | md5sum
}
detached() {
	want=$(dd if=/tmp/w bs=4k count=$n 2>/dev/null | md5sum)
	sysfs_write $B/detach 1 && wait_for 60 state_is $B "no cache" || return 1
	# Now read straight from the backing device.
	[ "$(written)" = "$want" ]
}
check "detached: the backing device holds every block written" detached

# A teardown waiting for a bio must sleep uninterruptibly: with a signal pending, an
# interruptible wait returns at once, again and again, and spins. pendings_cleanup drops the
# device (no cache set names it), deleting its /dev/bcache0 and waiting for its bios, here a
# read the backing device holds 4 s; the writer of pendings_cleanup gets SIGTERM meanwhile.
# Over one second of that wait it must be asleep (D) and use (almost) no CPU.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# dm-delay's status: reads, writes and flushes it holds (fields 4, 5 and 6).
rd_held() { dmsetup status bkd | awk '{ exit !($4 > 0) }'; }
nap() {
	dm_reload bkd "0 $SECTORS delay /dev/vdb 0 4000" || return 1
	dd if=/dev/bcache0 of=/dev/null bs=4k skip=10 count=1 iflag=direct 2>/dev/null &
	rd=$!
	wait_for 5 rd_held || return 1
	sh -c "echo 1 >$RB/pendings_cleanup" &
	p=$!
	usleep 300000
	kill -TERM $p
	usleep 300000
	t0=$(ticks $p)
	usleep 1000000
	t1=$(ticks $p)
	st=$(cut -d' ' -f3 "/proc/$p/stat")
	echo "# the cleanup: state $st, $((t1 - t0)) ticks of CPU in one second"
	wait $p
	wait $rd
	dm_reload bkd "0 $SECTORS delay /dev/vdb 0 0" && [ "$st" = D ] && [ $((t1 - t0)) -lt 20 ]
}
check "a teardown waiting for a bio, its caller signalled, sleeps (D) instead of spinning" nap
check "... and the device goes once the bio has ended" wait_for 10 test ! -e $B

# An attach racing a stop of its set. The attach finds the set, then waits for the device's
# superblock lock (held 3 s by a cache_mode write the backing device holds); meanwhile the set
# starts stopping. The attach must then fail with EINVAL and one log line, not attach to a set
# being torn down (which would keep its cache device open, with no threads), and the stop
# must see every device attached to the set.
held() {
	dmsetup status bkd | awk '{ exit !($5 + $6 > 0) }'
}
race_stop() {
	sysfs_write $RB/register $BKD && wait_for 10 test -b /dev/bcache0 &&
		state_is $B "no cache" && wdelay 3000 || return 1
	dmesg_mark
	(echo writearound >$B/cache_mode) 2>/dev/null &
	x=$!
	wait_for 5 held || return 1
	(echo "$CSET" >$B/attach) 2>/tmp/attach.err &
	a=$!
	usleep 300000
	sysfs_write $SET/stop 1 || return 1
	wait $a
	rc=$?
	wait $x
	wdelay 0
	echo "# attach: exit $rc, $(cat /tmp/attach.err)"
	[ $rc != 0 ] && grep -q "Invalid argument" /tmp/attach.err &&
		log_once "cannot attach: cache set $CSET is stopping"
}
check "an attach whose set starts stopping meanwhile fails with EINVAL, logged once" race_stop
stopped() {
	wait_for 30 test ! -e $SET && wait_for 30 no_gc_threads && test -e $B &&
		state_is $B "no cache"
}
check "... the set stops; the device stays registered, not attached" stopped
reattach() {
	sysfs_write $RB/register $CA && sysfs_write $B/attach "$CSET" && state_is $B clean
}
check "... the cache device (closed) registers again, and the device attaches to it" reattach

sysfs_write $SET/unregister 1
wait_for 30 no_gc_threads
sysfs_write $B/stop 1
wait_for 10 sh -c "! test -b /dev/bcache0"
rb_unload
dmsetup remove bkd
dmsetup remove cad
ktap_finished
