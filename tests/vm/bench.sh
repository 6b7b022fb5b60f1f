#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest side of `make bench`: the same fio jobs on a flash volume under rbcache ("rb") and under
# the C bcache.ko ("c"), in the same boot, interleaved A/B/A/B. Moving GC is on in both (the C
# one's copy_gc_enabled is set to 1). Prints "BENCH <sys> <rep> <key> <value>" lines and, for
# the GC-latency job, "BENCHLAT <sys> <rep> <window_ms> <p99_us> <gc>" per 10 ms window.
# Numbers are only compared with each other; scripts/bench.sh turns them into ratios.
#
# Every job runs on a freshly formatted cache and writes less than the cache holds: the C
# module hangs under TCG when a near-full, fragmented cache is overwritten, which would end the
# comparison. A job that does not finish in time is reported as "hung" and ends the run.
. ./lib.sh

REPS=${REPS:-2}
RUNTIME=${RUNTIME:-6}
DEV=/dev/vda

out() { echo "BENCH $SYS $REP $*"; }

up() {
	fmt_cache $DEV
	CSET=$(cset_uuid $DEV)
	if [ "$SYS" = rb ]; then rb_load || return 1; else insmod $MODDIR/bcache.ko || return 1; fi
	echo $DEV >$RB/register || return 1
	wait_for 10 test -e $RB/$CSET/flash_vol_create || return 1
	echo 1 >$RB/$CSET/internal/copy_gc_enabled || return 1
	echo 48M >$RB/$CSET/flash_vol_create || return 1
	wait_for 10 test -b /dev/bcache0
}

down() {
	echo 1 >$RB/$CSET/stop
	wait_for 30 test ! -e $RB/$CSET
	if [ "$SYS" = rb ]; then rb_unload; else wait_for 10 rmmod bcache 2>/dev/null; fi
}

# terse (--minimal) field: 8 is read IOPS, 49 write IOPS.
fio_field() {
	f=$1
	shift
	fio --minimal --filename=/dev/bcache0 --direct=1 --ioengine=psync --thread "$@" 2>/dev/null |
		awk -F';' -v f="$f" '{ print $f }'
}

# p99 of the numbers on stdin.
p99() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print 0; exit } i = int(NR * 0.99); if (i < 1) i = 1; print v[i] }'
}

# limited SECS CMD...: runs CMD in the background and waits at most SECS for it.
limited() {
	secs=$1
	shift
	"$@" &
	lpid=$!
	t=0
	while kill -0 $lpid 2>/dev/null; do
		sleep 1
		t=$((t + 1))
		if [ $t -ge "$secs" ]; then
			out hung 1
			echo "BENCH done"
			exit 0
		fi
	done
	wait $lpid
}

randwrite() {
	out randwrite_iops "$(fio_field 49 --name=rw --rw=randwrite --bs=4k --size=16M --io_size=24M)"
}

zipf_read() {
	fio --name=fill --filename=/dev/bcache0 --direct=1 --rw=write --bs=1M --size=16M \
		>/dev/null 2>&1
	out zipf_read_iops "$(fio_field 8 --name=zr --rw=randread --bs=4k --size=16M \
		--random_distribution=zipf:1.2 --ramp_time=2 --time_based --runtime=$RUNTIME)"
}

gc_latency() {
	I=$RB/$CSET/internal
	rm -f /tmp/lat_lat.1.log /tmp/gc_times
	t0=$(awk '{ print int($1 * 1000) }' /proc/uptime)
	# Rate-limited so the run writes about 24 MiB: GC works, the cache never fills.
	fio --name=gclat --filename=/dev/bcache0 --direct=1 --ioengine=psync --thread --rw=randwrite \
		--bs=4k --size=16M --rate_iops=400 --time_based --runtime=16 --write_lat_log=/tmp/lat \
		--log_avg_msec=0 >/dev/null 2>&1 &
	pid=$!
	n=0
	while [ $n -lt 5 ]; do
		sleep 3
		echo $(($(awk '{ print int($1 * 1000) }' /proc/uptime) - t0)) >>/tmp/gc_times
		echo 1 >$I/trigger_gc
		n=$((n + 1))
	done
	wait $pid
	dur=$(cat $I/btree_gc_max_duration_ms)
	[ "$dur" -ge 10 ] || dur=10
	out gc_max_duration_ms "$(cat $I/btree_gc_max_duration_ms)"
	out gc_avg_duration_ms "$(cat $I/btree_gc_average_duration_ms)"
	out btree_nodes "$(cat $I/btree_nodes 2>/dev/null || echo 0)"
	# Each IO: time ms, latency ns. A 10 ms window is a GC window if it overlaps
	# [trigger, trigger + the longest pass].
	awk -F', *' -v dur="$dur" -v sys="$SYS" -v rep="$REP" '
		FNR == NR { t[++n] = $1; next }
		{
			w = int($1 / 10) * 10; gc = 0
			for (i = 1; i <= n; i++) if (w + 10 > t[i] && w < t[i] + dur) gc = 1
			print w, $2 / 1000, gc
		}' /tmp/gc_times /tmp/lat_lat.1.log >/tmp/lat_all
	out p99_gc_us "$(awk '$3 == 1 { print $2 }' /tmp/lat_all | p99)"
	out p99_nogc_us "$(awk '$3 == 0 { print $2 }' /tmp/lat_all | p99)"
	out ios_gc "$(awk '$3 == 1' /tmp/lat_all | wc -l)"
	# Per window: its p99 (max of few IOs is close enough) and whether GC overlapped it.
	awk -v sys="$SYS" -v rep="$REP" '
		{ if ($2 > m[$1]) m[$1] = $2; g[$1] = $3 }
		END { for (w in m) print "BENCHLAT", sys, rep, w, m[w], g[w] }' /tmp/lat_all | sort -n -k4
}

moving_gc() {
	I=$RB/$CSET/internal
	if [ -e $I/moving_gc_sectors ]; then
		out moving_sectors "$(cat $I/moving_gc_sectors)"
		out moving_buckets_freed "$(cat $I/moving_gc_buckets_freed)"
		out bucket_kb 64
	fi
}

REP=0
while [ $REP -lt "$REPS" ]; do
	REP=$((REP + 1))
	for SYS in rb c; do
		for job in randwrite zipf_read gc_latency; do
			up || { echo "# setup of $SYS failed"; out hung 1; echo "BENCH done"; exit 0; }
			limited 120 $job
			[ $job = gc_latency ] && moving_gc
			limited 60 down
		done
	done
done
echo "BENCH done"
