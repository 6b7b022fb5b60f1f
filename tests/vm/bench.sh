#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest side of `make bench`: the same fio jobs on a flash volume under rbcache ("rb") and under
# the C bcache.ko ("c"), in the same boot, interleaved A/B/A/B. Moving GC is on in both (the C
# one's copy_gc_enabled is set to 1). Prints "BENCH <sys> <rep> <key> <value>" lines and, for
# the GC-latency job, "BENCHLAT <sys> <rep> <window_ms> <p99_us> <gc>" per 10 ms window.
# Numbers are only compared with each other; scripts/bench.sh turns them into ratios.
#
# The bk_* jobs run on a backing device instead: /dev/vdb behind dm-delay (every read, write
# and flush delayed by DELAY_MS, a disk-like latency, so that caching matters), formatted with
# make-bcache -B and attached to a fresh cache on /dev/vda. Both modules' congestion bypass is
# switched off (congested_*_threshold_us 0): TCG latency spikes would otherwise send some IO
# around the cache at random.
#
# Every job runs on a freshly formatted cache and writes less than the cache holds: the C
# module hangs under TCG when a near-full, fragmented cache is overwritten, which would end the
# comparison. A job that does not finish in time is reported as "hung" and ends the run.
. ./lib.sh

REPS=${REPS:-2}
RUNTIME=${RUNTIME:-6}
DEV=/dev/vda
BK_RAW=/dev/vdb
DELAY_MS=5
# Region the backing jobs use: written (with what the fills add) well under the 64 MiB cache.
BK_REGION=16M

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

# fio_terse ARGS...: one fio run on /dev/bcache0; its terse line is kept in /tmp/fio.terse.
fio_terse() {
	fio --minimal --filename=/dev/bcache0 --direct=1 --ioengine=psync --thread "$@" \
		2>/dev/null | head -n1 >/tmp/fio.terse
}

# tf N: field N of the last fio_terse run (6 read KiB, 7 read KiB/s, 8 read IOPS; 47 write KiB,
# 48 write KiB/s, 49 write IOPS).
tf() {
	awk -F';' -v f="$1" '{ print $f }' /tmp/fio.terse
}

# Busy jiffies of all CPUs (user, nice, system, irq, softirq, steal) from /proc/stat.
busy_jiffies() {
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# cache_counter FILE: the cache device's FILE (btree_written, metadata_written) in bytes.
cache_counter() {
	bytes <"/sys/block/$(basename $DEV)/bcache/$1"
}

# internal_counter NAME: rbcache's internal/NAME (0 under the C module, which lacks it).
internal_counter() {
	cat $RB/$CSET/internal/$1 2>/dev/null || echo 0
}
fast_writes() { internal_counter fast_writes; }

# cache_stat N: field N of the cache device's /sys/block/<dev>/stat (5 writes, 7 sectors
# written, 16 flushes completed).
cache_stat() {
	awk -v f="$1" '{ print $f }' /sys/block/$(basename $DEV)/stat
}

# Sectors written to the cache device so far (/sys/block/vda/stat field 7).
cache_sectors_written() {
	awk '{ print $7 }' /sys/block/$(basename $DEV)/stat
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

# --- Backing device jobs ---

# Once per boot: the slow backing disk, /dev/vdb behind dm-delay.
slow_setup() {
	sectors=$(cat /sys/block/$(basename $BK_RAW)/size)
	SLOW=$(dm_create slow "0 $sectors delay $BK_RAW 0 $DELAY_MS") || return 1
	BS=/sys/block/$(basename $SLOW)/bcache
	echo "# backing device: $SLOW ($BK_RAW, $sectors sectors, ${DELAY_MS} ms delay)"
}

# bk_up MODE: a fresh cache and backing device, attached, /dev/bcache0 in cache mode MODE.
bk_up() {
	fmt_cache $DEV
	fmt_backing $SLOW
	CSET=$(cset_uuid $DEV)
	if [ "$SYS" = rb ]; then rb_load || return 1; else insmod $MODDIR/bcache.ko || return 1; fi
	echo $DEV >$RB/register || return 1
	wait_for 10 test -e $RB/$CSET || return 1
	echo $SLOW >$RB/register || return 1
	wait_for 10 test -e $BS/attach || return 1
	echo $CSET >$BS/attach || return 1
	wait_for 10 test -b /dev/bcache0 || return 1
	wait_for 10 grep -q clean $BS/state || return 1
	echo 0 >$RB/$CSET/congested_read_threshold_us || return 1
	echo 0 >$RB/$CSET/congested_write_threshold_us || return 1
	echo "$1" >$BS/cache_mode
}

bk_down() {
	echo 0 >$BS/writeback_running
	echo 1 >$BS/stop
	wait_for 30 test ! -e $BS
	echo 1 >$RB/$CSET/stop
	wait_for 30 test ! -e $RB/$CSET
	if [ "$SYS" = rb ]; then rb_unload; else wait_for 10 rmmod bcache 2>/dev/null; fi
}

# Writes the region into the cache in writeback mode (sequential_cutoff 0, so nothing bypasses
# it), then sets sequential_cutoff back to its default (4 MiB) and the cache mode to MODE.
# Writethrough would not do: the C module's writethrough inserts do not wait for free buckets,
# and under TCG most of a 1 MiB-write fill then never reaches its cache.
bk_fill() {
	echo writeback >$BS/cache_mode
	echo 0 >$BS/sequential_cutoff
	fio --name=fill --filename=/dev/bcache0 --direct=1 --ioengine=psync --rw=write --bs=1M \
		--size=$BK_REGION >/dev/null 2>&1
	echo 4194304 >$BS/sequential_cutoff
	echo "$1" >$BS/cache_mode
}

# Sectors read from (field 3) or written to (field 7) the backing device so far.
slow_sectors() {
	awk -v f="$1" '{ print $f }' /sys/block/$(basename $SLOW)/stat
}

# 4 KiB zipf(1.2) random reads of a region written into the cache first: read hits. The hit
# rate comes from the backing device's reads (the C module's stats_total lags by up to 14 s).
bk_zipf_read() {
	bk_fill writeback
	zr() {
		fio_terse --name=bzr --rw=randread --bs=4k --size=$BK_REGION \
			--random_distribution=zipf:1.2 --time_based --runtime="$1"
	}
	zr 2
	r0=$(slow_sectors 3)
	zr $RUNTIME
	out bk_zipf_read_iops "$(tf 8)"
	out bk_zipf_hit_pct "$(awk -v s=$(($(slow_sectors 3) - r0)) -v kb="$(tf 6)" \
		'BEGIN { if (kb > 0) printf "%.1f\n", 100 - s * 512 * 100 / (kb * 1024) }')"
}

# 4 KiB random writes in writeback mode; also the CPU time per IO (every CPU's busy time over
# the job, from /proc/stat in 10 ms jiffies, so the module's threads count too) and the bytes
# the cache device wrote per byte fio wrote (data, journal, btree; counted 1 s after the job).
bk_randwrite() {
	j0=$(busy_jiffies)
	w0=$(slow_sectors 7)
	s0=$(cache_sectors_written)
	b0=$(cache_counter btree_written)
	m0=$(cache_counter metadata_written)
	f0=$(fast_writes)
	cw0=$(cache_stat 5)
	cf0=$(cache_stat 16)
	mv0=$(internal_counter moving_gc_sectors)
	gp0=$(internal_counter gc_passes)
	fio_terse --name=brw --rw=randwrite --bs=4k --size=$BK_REGION --io_size=24M --runtime=$RUNTIME
	j1=$(busy_jiffies)
	# Writes and flushes the cache device completed, per user write.
	cw1=$(cache_stat 5)
	cf1=$(cache_stat 16)
	n=$(tf 47)
	out bk_randwrite_cache_writes_per_io "$(awk -v d=$((cw1 - cw0)) -v kb="$n" \
		'BEGIN { if (kb > 0) printf "%.3f\n", d / (kb / 4) }')"
	out bk_randwrite_cache_flushes_per_io "$(awk -v d=$((cf1 - cf0)) -v kb="$n" \
		'BEGIN { if (kb > 0) printf "%.4f\n", d / (kb / 4) }')"
	# rbcache only: the share of the writes sent on from submit_bio (the fast path).
	[ $SYS = rb ] && out bk_randwrite_fast_pct "$(awk -v f=$(($(fast_writes) - f0)) -v kb="$(tf 47)" \
		'BEGIN { if (kb > 0) printf "%.1f\n", f * 100 / (kb / 4) }')"
	# rbcache only: what its GC did meanwhile (moving GC is on by default in rbcache only).
	[ $SYS = rb ] && out bk_randwrite_gc_passes "$(($(internal_counter gc_passes) - gp0))"
	[ $SYS = rb ] && out bk_randwrite_moved_kb "$((($(internal_counter moving_gc_sectors) - mv0) / 2))"
	sleep 1
	s1=$(cache_sectors_written)
	kb=$(tf 47)
	out bk_randwrite_iops "$(tf 49)"
	# Completion latency (fio's terse fields, µs): median, p99 and the worst write.
	out bk_randwrite_clat_p50_us "$(tf 65 | cut -d= -f2)"
	out bk_randwrite_clat_p99_us "$(tf 71 | cut -d= -f2)"
	out bk_randwrite_clat_max_us "$(tf 56)"
	# What writeback wrote to the backing device meanwhile (KiB).
	out bk_randwrite_writeback_kb "$((($(slow_sectors 7) - w0) / 2))"
	out bk_randwrite_cpu_us_per_io "$(awk -v j=$((j1 - j0)) -v kb="$kb" \
		'BEGIN { if (kb > 0) printf "%.1f\n", j * 10000 / (kb / 4) }')"
	out bk_cache_bytes_per_user_byte "$(awk -v s=$((s1 - s0)) -v kb="$kb" \
		'BEGIN { if (kb > 0) printf "%.3f\n", s * 512 / (kb * 1024) }')"
	# Of which btree nodes and other metadata (journal, prios, uuids), per user byte (the
	# counters are rounded: hprint).
	for f in btree_written metadata_written; do
		c1=$(cache_counter $f)
		[ $f = btree_written ] && c0=$b0 || c0=$m0
		out "bk_${f%_written}_bytes_per_user_byte" "$(awk -v d=$((c1 - c0)) -v kb="$kb" \
			'BEGIN { if (kb > 0) printf "%.3f\n", d / (kb * 1024) }')"
	done
}

# 70/30 random read/write mix (4 KiB) in writeback mode on a region written into the cache
# first; IOPS are reads plus writes.
bk_randrw() {
	bk_fill writeback
	fio_terse --name=bmix --rw=randrw --rwmixread=70 --bs=4k --size=$BK_REGION --io_size=24M \
		--runtime=$RUNTIME
	out bk_randrw_iops "$(awk -v r="$(tf 8)" -v w="$(tf 49)" 'BEGIN { print r + w }')"
}

# 4 KiB random writes at queue depth 1, each followed by fsync (a flush), in writeback mode.
bk_fsync() {
	fio_terse --name=bfs --rw=randwrite --bs=4k --fsync=1 --size=$BK_REGION --io_size=8M \
		--runtime=$RUNTIME
	out bk_fsync_iops "$(tf 49)"
}

# Sequential 1 MiB writes, bypassing the cache past the default sequential_cutoff (4 MiB):
# throughput in MiB/s, and how much of it the cache device wrote (data and metadata).
bk_seqwrite() {
	s0=$(cache_sectors_written)
	fio_terse --name=bsw --rw=write --bs=1M --size=48M --runtime=$RUNTIME
	out bk_seqwrite_mibs "$(awk -v b="$(tf 48)" 'BEGIN { printf "%.1f\n", b / 1024 }')"
	out bk_seqwrite_cache_mib "$((($(cache_sectors_written) - s0) / 2048))"
}

# up/down for JOB: the backing jobs (bk_*) and their cache mode, or the flash volume.
job_up() {
	case $1 in
	bk_*) bk_up writeback ;;
	*) up ;;
	esac
}

job_down() {
	case $1 in
	bk_*) bk_down ;;
	*) down ;;
	esac
}

JOBS="randwrite zipf_read gc_latency"
if slow_setup; then
	JOBS="$JOBS bk_zipf_read bk_randwrite bk_randrw bk_fsync bk_seqwrite"
else
	echo "# dm-delay setup failed: no backing device jobs"
fi
# ONLY (set by scripts/bench.sh): just these jobs.
ONLY=
[ -n "$ONLY" ] && JOBS=$ONLY
# SYSTEMS (set by scripts/bench.sh): the modules compared.
SYSTEMS="rb c"
# A job's time limit: its runtime and fill, with room for TCG.
LIMIT=$((RUNTIME * 4 + 100))

# Each job runs under both modules back to back, the first of them alternating from rep to rep,
# so the two runs a ratio compares are seconds apart and neither always goes first: the host's
# speed drifts over minutes (and by more than the modules differ).
REP=0
while [ $REP -lt "$REPS" ]; do
	REP=$((REP + 1))
	order=$SYSTEMS
	[ $((REP % 2)) = 0 ] && order=$(echo $SYSTEMS | awk '{ for (i = NF; i > 0; i--) printf "%s ", $i }')
	for job in $JOBS; do
		for SYS in $order; do
			job_up $job || { echo "# setup of $SYS for $job failed"; out hung 1; echo "BENCH done"; exit 0; }
			# Where the module's code is (scripts/profile.sh).
			m=rbcache
			[ $SYS = c ] && m=bcache
			echo "# modtext $m $(cat /sys/module/$m/sections/.text 2>/dev/null)"
			limited $LIMIT $job
			[ $job = gc_latency ] && moving_gc
			limited 60 job_down $job
		done
	done
done
# The guest's clocksource at the end: under a loaded host the watchdog may mark the TSC unstable
# and fall back to jiffies (4 ms steps), which spoils the latency numbers (not the IOPS).
echo "BENCH clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
echo "BENCH done"
