# SPDX-License-Identifier: GPL-2.0
# Shared helpers for rbcache kselftests (POSIX sh; runs under busybox in the VM).
#
# KTAP output follows tools/testing/selftests/kselftest/ktap_helpers.sh: ktap_print_header,
# ktap_set_plan, ktap_test_pass/fail/skip, ktap_print_msg, ktap_finished (exit 0 only if every
# planned test passed or was skipped).

KSFT_PASS=0
KSFT_FAIL=1
KTAP_TESTNO=0
KTAP_CNT_PASS=0
KTAP_CNT_FAIL=0
KTAP_CNT_SKIP=0
KTAP_CNT_XFAIL=0
KTAP_PLAN=0

ktap_print_header() { echo "TAP version 13"; }
ktap_set_plan() { KTAP_PLAN=$1; echo "1..$1"; }
ktap_print_msg() { echo "# $*"; }

ktap_test_pass() {
	KTAP_TESTNO=$((KTAP_TESTNO + 1))
	KTAP_CNT_PASS=$((KTAP_CNT_PASS + 1))
	echo "ok $KTAP_TESTNO $*"
}

ktap_test_fail() {
	KTAP_TESTNO=$((KTAP_TESTNO + 1))
	KTAP_CNT_FAIL=$((KTAP_CNT_FAIL + 1))
	echo "not ok $KTAP_TESTNO $*"
}

ktap_test_skip() {
	KTAP_TESTNO=$((KTAP_TESTNO + 1))
	KTAP_CNT_SKIP=$((KTAP_CNT_SKIP + 1))
	echo "ok $KTAP_TESTNO $* # SKIP"
}

# A known failure of the C module (only where a test runs it for comparison): the check ran
# and failed as documented, so it is reported, not counted as a failure.
ktap_test_xfail() {
	KTAP_TESTNO=$((KTAP_TESTNO + 1))
	KTAP_CNT_XFAIL=$((KTAP_CNT_XFAIL + 1))
	echo "ok $KTAP_TESTNO $* # XFAIL"
}

ktap_finished() {
	echo "# Totals: pass:$KTAP_CNT_PASS fail:$KTAP_CNT_FAIL xfail:$KTAP_CNT_XFAIL xpass:0 skip:$KTAP_CNT_SKIP error:0"
	if [ "$KTAP_CNT_FAIL" -eq 0 ] &&
		[ $((KTAP_CNT_PASS + KTAP_CNT_SKIP + KTAP_CNT_XFAIL)) -eq "$KTAP_PLAN" ]; then
		exit $KSFT_PASS
	fi
	[ "$KTAP_TESTNO" -eq "$KTAP_PLAN" ] || echo "# planned $KTAP_PLAN tests, ran $KTAP_TESTNO"
	exit $KSFT_FAIL
}

# check DESC CMD...: one test result from a command's exit status.
check() {
	local desc=$1
	shift
	if "$@"; then ktap_test_pass "$desc"; else ktap_test_fail "$desc"; fi
}

# --- rbcache helpers ---

RB=/sys/fs/bcache
MODDIR=/modules

# Fails the whole script early (after a KTAP bail out) when setup breaks.
die() {
	echo "Bail out! $*"
	exit $KSFT_FAIL
}

# sysfs_write FILE VALUE: writes VALUE (with echo's newline); the error text lands in $RB_ERR.
sysfs_write() {
	RB_ERR=$( (echo "$2" >"$1") 2>&1)
}

# expect_errno FILE VALUE "strerror text": the write must fail with that error.
expect_errno() {
	if sysfs_write "$1" "$2"; then
		echo "# write of '$2' to $1 succeeded, expected: $3"
		return 1
	fi
	case "$RB_ERR" in
	*"$3"*) return 0 ;;
	*)
		echo "# write of '$2' to $1 failed with '$RB_ERR', expected: $3"
		return 1
		;;
	esac
}

# wait_for SECONDS CMD...: polls CMD every 50 ms until it succeeds.
wait_for() {
	local tries=$(($1 * 20))
	shift
	while [ "$tries" -gt 0 ]; do
		"$@" && return 0
		usleep 50000
		tries=$((tries - 1))
	done
	"$@"
}

# dm_create NAME TABLE: creates the device-mapper device NAME with the one-line TABLE and prints
# its node (/dev/dm-N) once it exists. Fails, printing nothing, if either step fails.
dm_create() {
	local d dev=
	echo "$2" | dmsetup create "$1" >&2 || return 1
	for d in /sys/block/dm-*; do
		[ "$(cat $d/dm/name 2>/dev/null)" = "$1" ] && dev=/dev/$(basename $d)
	done
	[ -n "$dev" ] && wait_for 5 test -b "$dev" && echo "$dev"
}

# dm_reload NAME TABLE: replaces the live table of NAME (suspended for the swap).
dm_reload() {
	dmsetup suspend "$1" && echo "$2" | dmsetup reload "$1" && dmsetup resume "$1"
}

# Number of cache-set kernel threads: bcache_gc, bcache_allocator and bcache_journal.
gc_threads() {
	cat /proc/[0-9]*/comm 2>/dev/null | grep -c -e '^bcache_gc$' -e '^bcache_allocator$' -e '^bcache_journal$'
}

# No cache-set thread (GC, allocator, journal) is left (for wait_for: counted at each try).
no_gc_threads() {
	[ "$(gc_threads)" -eq 0 ]
}

# Zeroes the first 8 KiB (the superblock area): make-bcache 1.0.8 refuses to reformat a device
# on which libblkid finds an existing signature, even with --wipe-bcache.
wipe_sb() {
	dd if=/dev/zero of="$1" bs=4096 count=2 conv=notrunc 2>/dev/null
}

# Formats DEV as a cache with 64 KiB buckets (1024 buckets on a 64 MiB disk).
fmt_cache() {
	wipe_sb "$1"
	make-bcache --wipe-bcache -b 64k -C "$1" >/dev/null 2>&1 || die "make-bcache -C $1"
}

fmt_backing() {
	wipe_sb "$1"
	make-bcache --wipe-bcache -B "$1" >/dev/null 2>&1 || die "make-bcache -B $1"
}

# Cache-set UUID recorded in DEV's superblock.
cset_uuid() {
	bcache-super-show "$1" 2>/dev/null | awk '$1 == "cset.uuid" { print $2 }'
}

# backing_setup BK CA: formats BK as a backing device and CA as a cache (as fmt_backing and
# fmt_cache) and sets BK, CA, CSET (the set's UUID), SET (its sysfs directory) and B (BK's
# bcache sysfs directory).
# io_disable_fails DEV INTERNAL: with INTERNAL/io_disable 1 (6.12's CACHE_SET_IO_DISABLE), a
# read and a write of DEV fail; with 0 again its first 4 MiB read back unchanged.
io_disable_fails() {
	local dev=$1 i=$2 m
	m=$(dd if="$dev" bs=64k count=64 iflag=direct 2>/dev/null | md5sum) &&
		sysfs_write "$i/io_disable" 1 || return 1
	if dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null ||
		dd if=/dev/zero of="$dev" bs=4k count=1 oflag=direct 2>/dev/null; then
		sysfs_write "$i/io_disable" 0
		echo "# IO went through with io_disable 1"
		return 1
	fi
	sysfs_write "$i/io_disable" 0 &&
		[ "$(dd if="$dev" bs=64k count=64 iflag=direct 2>/dev/null | md5sum)" = "$m" ]
}

backing_setup() {
	BK=$1
	CA=$2
	fmt_backing "$BK"
	fmt_cache "$CA"
	CSET=$(cset_uuid "$CA")
	SET=$RB/$CSET
	B=/sys/block/$(basename "$BK")/bcache
}

# uncongested SETDIR: switches the set's congestion bypass off (both thresholds 0). Under TCG,
# and more so with KASAN, cache IO often takes longer than 6.12's default thresholds (2 ms for
# reads, 20 ms for writes), so with them some IO would go around the cache at random, and a
# check of hits, fills or dirty data would be flaky. congestion.sh tests the bypass itself.
uncongested() {
	sysfs_write "$1/congested_read_threshold_us" 0 &&
		sysfs_write "$1/congested_write_threshold_us" 0
}

# register_fresh BK CA CMD...: phase 1 of a power-cut test in writeback mode: formats BK as a
# backing device and CA as a cache, runs CMD to load the module under test, registers both and
# waits until BK can be attached. Exits the script on failure (phase 1 reports nothing).
register_fresh() {
	local bk=$1 ca=$2
	shift 2
	fmt_backing "$bk"
	fmt_cache "$ca"
	"$@" || exit 1
	echo "$bk" >$RB/register && echo "$ca" >$RB/register || exit 1
	wait_for 10 test -e "/sys/block/$(basename "$bk")/bcache/attach" || exit 1
}

# power_cut USEC: the end of a boot of a power-cut test: lets the writes started in the
# background run for USEC microseconds, then asks the host to cut the power (scripts/vm.sh
# crash kills QEMU, and each disk, scripts/pdisk.py, keeps only what was flushed or FUA and a
# random subset of the rest).
power_cut() {
	# The runner's sed holds back the last line it read (it looks ahead for the last line):
	# this one pushes the test's last result out before the cut.
	echo "# power cut in $(($1 / 1000)) ms"
	usleep "$1"
	echo RBCACHE-POWER-CUT >/dev/ttyS1
	sleep 60
	# No host cut the power (not under scripts/vm.sh crash): a reset is the nearest thing.
	echo b >/proc/sysrq-trigger
	sleep 10
	exit 1
}

# gc_check_ok SETDIR: a strict internal/gc_check: it read at least one bucket and found the
# marks equal to a recount ("checked N mismatches 0", N > 0).
gc_check_ok() {
	local out
	out=$(cat "$1/internal/gc_check") || { echo "# gc_check: read failed"; return 1; }
	echo "# gc_check: $out"
	case $out in
	"checked "[1-9]*" mismatches 0") return 0 ;;
	*) return 1 ;;
	esac
}

# fio_gen GEN: fio's verify options for data of generation GEN (a number): every byte of each
# block is checked against GEN and the block's own offset (verify=pattern with %o), so a check
# fails on a block that another run, or another offset, wrote. (fio 3.33's --verify_only checks
# a crc32c block only against itself, and a block an earlier run left behind passes that.)
fio_gen() { echo "--verify=pattern --verify_pattern=$(printf '0x%02x' $(($1 % 256)))%o"; }

# seed_of FIO OPTION...: the value of the last --randseed= among them, as fio takes it (0 if
# none), for fio_gen.
seed_of() {
	local a seed=0
	for a in "$@"; do
		case $a in --randseed=*) seed=${a#--randseed=} ;; esac
	done
	echo "$seed"
}

# fio_region DEV OFFSET SIZE SEED [FIO OPTION...]: random 4 KiB O_DIRECT writes of generation
# SEED (fio_gen) over SIZE bytes of DEV from OFFSET, the same blocks for the same SEED; the options
# choose the rest (--do_verify=0 --sync=1 to write durably, --verify_only to check them).
# fio's output goes to /tmp/fio.out, its last lines to the test log on failure.
fio_region() {
	local dev=$1 off=$2 size=$3 seed=$4
	shift 4
	fio --name=region --filename="$dev" --offset="$off" --size="$size" --bs=4k \
		--rw=randwrite --direct=1 --ioengine=psync $(fio_gen "$seed") --randseed="$seed" \
		--allow_file_create=0 --thread --output=/tmp/fio.out "$@" >/dev/null 2>&1 || {
		tail -n 20 /tmp/fio.out
		return 1
	}
}

# need_e2fsprogs: sets MKE2FS and E2FSCK to e2fsprogs' programs (not busybox's applets of the
# same names) and makes /mnt; bails out if they are missing from the initramfs.
need_e2fsprogs() {
	mkdir -p /mnt
	MKE2FS=$(ls /usr/sbin/mke2fs /sbin/mke2fs 2>/dev/null | head -n 1)
	E2FSCK=$(ls /usr/sbin/e2fsck /sbin/e2fsck 2>/dev/null | head -n 1)
	[ -n "$MKE2FS" ] && [ -n "$E2FSCK" ] || die "e2fsprogs missing from the initramfs"
}

# ext4_tree MNT: writes a tree of 40 files of random data (4 KiB to 256 KiB, in directories
# d0..d4) under the mounted filesystem MNT, and their md5sums (paths relative to MNT, sorted)
# to /tmp/sums.
ext4_tree() {
	local i=0
	while [ $i -lt 40 ]; do
		mkdir -p "$1/d$((i % 5))" || return 1
		dd if=/dev/urandom of="$1/d$((i % 5))/f$i" bs=4k count=$((1 + i * 7 % 64)) 2>/dev/null || return 1
		i=$((i + 1))
	done
	(cd "$1" && find . -type f -name 'f*' | sort | xargs md5sum) >/tmp/sums
}

rb_load() {
	insmod $MODDIR/rbcache.ko
}

rb_unload() {
	rmmod rbcache
}

# Marks the kernel log so dmesg_since shows only what follows.
dmesg_mark() {
	RB_MARK="rbcache-test-mark-$$-$(date +%s)-$RANDOM"
	echo "$RB_MARK" >/dev/kmsg
}

dmesg_since() {
	dmesg | sed -n "/$RB_MARK/,\$p" | sed 1d
}

# log_once TEXT: the kernel log since the mark contains TEXT exactly once.
log_once() {
	local count
	count=$(dmesg_since | grep -cF "$1")
	[ "$count" -eq 1 ] || { echo "# expected one log line '$1', found $count"; return 1; }
}

# logged TEXT: the kernel log since the mark contains TEXT.
logged() {
	dmesg_since | grep -qF "$1" || { echo "# no log line '$1'"; return 1; }
}

# write_pattern DEV: 64 blocks of 4 KiB, block i at 64 KiB * i filled with byte i + 1, and two
# zero blocks at 4 KiB * 3000 (the pattern of tests/fixtures/c-bcache-6.12-flash.img.xz).
write_pattern() {
	local i=0
	while [ $i -lt 64 ]; do
		printf "$(printf '\\%03o' $((i + 1)))%.0s" $(seq 1 4096) |
			dd of="$1" bs=4096 seek=$((i * 16)) count=1 conv=notrunc 2>/dev/null
		i=$((i + 1))
	done
	dd if=/dev/zero of="$1" bs=4096 seek=3000 count=2 conv=notrunc 2>/dev/null
}

# c_bcache_flash DEV: the C bcache.ko initialises cache DEV, creates a 16 MiB flash volume,
# writes the pattern, records the volume's md5 in /tmp/c_md5, stops the set and unloads.
c_bcache_flash() {
	fmt_cache "$1"
	c_flash_write "$1"
}

# c_flash_write DEV: as c_bcache_flash, on a cache that is already formatted (fresh or not).
c_flash_write() {
	local dev=$1 cset
	cset=$(cset_uuid "$dev")
	insmod $MODDIR/bcache.ko || return 1
	echo "$dev" >$RB/register || return 1
	echo 16M >"$RB/$cset/flash_vol_create" || return 1
	wait_for 10 test -b /dev/bcache0 || return 1
	write_pattern /dev/bcache0
	sync
	echo 3 >/proc/sys/vm/drop_caches
	md5sum </dev/bcache0 | cut -d' ' -f1 >/tmp/c_md5
	echo 1 >"$RB/$cset/stop"
	wait_for 20 test ! -e "$RB/$cset" || return 1
	wait_for 10 rmmod bcache 2>/dev/null
}

# with_c_module DEV CMD...: loads the C bcache.ko, registers cache DEV, runs CMD, then stops
# the set and unloads the module again. Fails if any step or CMD fails; always cleans up.
with_c_module() {
	local dev=$1 cset r=0
	shift
	cset=$RB/$(cset_uuid "$dev")
	insmod $MODDIR/bcache.ko || return 1
	echo "$dev" >$RB/register || r=1
	"$@" || r=1
	[ -e "$cset/stop" ] && echo 1 >"$cset/stop"
	wait_for 20 test ! -e "$cset" || r=1
	wait_for 10 rmmod bcache 2>/dev/null || r=1
	return $r
}

# volume_md5_is MD5: /dev/bcache0 appears and its contents have that md5.
volume_md5_is() {
	wait_for 10 test -b /dev/bcache0 || return 1
	[ "$(md5sum </dev/bcache0 | cut -d' ' -f1)" = "$1" ] || {
		echo "# /dev/bcache0 has other data"
		return 1
	}
}

# apply_patch IMG PATCH: applies "zero OFFSET LENGTH" and "bytes OFFSET HEX" lines.
apply_patch() {
	local kind off arg
	while read -r kind off arg; do
		case $kind in
		zero) dd if=/dev/zero of="$1" bs=512 seek=$((off / 512)) count=$((arg / 512)) conv=notrunc 2>/dev/null ;;
		bytes) echo "$arg" | xxd -r -p | dd of="$1" bs=1 seek="$off" conv=notrunc 2>/dev/null ;;
		*) return 1 ;;
		esac
	done <"$2"
}

# fixture_variant NAME: a loop device over a fresh copy of the C-written fixture cache with
# patch NAME applied ("none" for the intact image).
fixture_variant() {
	local loop
	unxz -c /images/fixture/cache.img.xz >/tmp/fixture.img || return 1
	if [ "$1" != none ]; then apply_patch /tmp/fixture.img "/images/fixture/$1.patch" || return 1; fi
	loop=$(losetup -f)
	losetup "$loop" /tmp/fixture.img || return 1
	echo "$loop"
}

# fixture_expect KEY: a value recorded by mkimages.py about the fixture.
fixture_expect() {
	awk -v k="$1" '$1 == k { print $2 }' /images/fixture/expect
}

# attach_image NAME: a loop device backed by tests image NAME, extended to its size.
attach_image() {
	local size loop
	size=$(awk -v n="$1" '$1 == n { print $2 }' /images/sizes)
	cp "/images/$1.img" "/tmp/$1.img"
	truncate -s "$size" "/tmp/$1.img"
	loop=$(losetup -f)
	losetup "$loop" "/tmp/$1.img" || die "losetup $1"
	echo "$loop"
}

# state_is B TEXT: B/state (B a backing device's bcache directory) reads TEXT; read at each
# try when polled with wait_for.
state_is() { [ "$(cat "$1/state")" = "$2" ]; }

# file_gt FILE N: the number in FILE is greater than N (read at each try under wait_for).
file_gt() { [ "$(cat "$1")" -gt "$2" ]; }

# linked LINK DIR: LINK is a symbolic link that resolves to the existing directory DIR.
linked() {
	[ -L "$1" ] && [ -d "$1" ] && [ "$(readlink -f "$1")" = "$(readlink -f "$2")" ] || {
		echo "# $1 -> $(readlink -f "$1" 2>/dev/null), expected $(readlink -f "$2" 2>/dev/null)"
		return 1
	}
}

# detach_wait B: writes B/detach and waits until the device has no cache: as in 6.12, the
# write only starts the detach.
detach_wait() {
	sysfs_write "$1/detach" 1 || { echo "# detach: $RB_ERR"; return 1; }
	wait_for 60 state_is "$1" "no cache" || { echo "# state: $(cat "$1/state")"; return 1; }
}

# Bytes of a value in bcache's hprint format ("72.0k", "4.0M").
bytes() {
	awk '{ v = $1 + 0; u = substr($1, length($1))
		if (u == "k") v *= 1024; if (u == "M") v *= 1048576; if (u == "G") v *= 1073741824
		if (u == "T") v *= 1099511627776
		printf "%.0f\n", v }'
}

# c_writeback CACHE BACKING CMD...: the C bcache.ko registers both devices, runs CMD (which
# checks what /dev/bcache0 reads), waits for its writeback to leave the backing device clean,
# then stops both and unloads. Fails if any step or CMD fails; always cleans up.
c_writeback() {
	local ca=$1 bk=$2 set r=0 b
	shift 2
	set=$RB/$(cset_uuid "$ca")
	b=/sys/block/$(basename "$bk")/bcache
	insmod $MODDIR/bcache.ko || return 1
	echo "$ca" >$RB/register && echo "$bk" >$RB/register && wait_for 10 test -b /dev/bcache0 || r=1
	[ $r = 0 ] && { "$@" || { echo "# C reads other data"; r=1; }; }
	echo 0 >"$b/writeback_delay" 2>/dev/null
	echo 0 >"$b/writeback_percent" 2>/dev/null
	wait_for 60 grep -q clean "$b/state" || { echo "# C state: $(cat "$b/state")"; r=1; }
	[ -e "$b/stop" ] && echo 1 >"$b/stop"
	[ -e "$set/stop" ] && echo 1 >"$set/stop"
	wait_for 20 test ! -e "$set" || r=1
	wait_for 10 rmmod bcache 2>/dev/null || r=1
	return $r
}

