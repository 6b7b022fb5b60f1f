#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Caches written by the C bcache.ko: rbcache reads their metadata (journal, prios, uuids, whole
# btree) at registration, changes nothing (the C module reads the same data afterwards), and
# refuses each kind of corruption with a clear reason.
. ./lib.sh

ktap_print_header
ktap_set_plan 43

check "C bcache.ko initialises a cache, writes a flash volume, stops" c_bcache_flash /dev/vdc
check "the volume's md5 is the fixture's (the pattern is deterministic)" \
	test "$(cat /tmp/c_md5)" = 4798e1d9f241b2d1d3c1b01f3a613d07
CSET=$(cset_uuid /dev/vdc)
SET=$RB/$CSET

check "insmod rbcache" rb_load
dmesg_mark
check "rbcache registers the C-written cache" sysfs_write $RB/register /dev/vdc
check "synchronous is 1" test "$(cat $SET/synchronous)" = 1
check "tree_depth is 0" test "$(cat $SET/tree_depth)" = 0
check "internal/btree_nodes is 1" test "$(cat $SET/internal/btree_nodes)" -eq 1
check "internal/active_journal_entries is positive" test "$(cat $SET/internal/active_journal_entries)" -gt 0
check "the log reports the flash volume" logged "btree depth 0, 1 nodes"
check "... and 1 flash volumes" logged "1 flash volumes"
check "the flash volume appears as /dev/bcache0" wait_for 5 test -b /dev/bcache0
same_md5() { [ "$(md5sum </dev/bcache0 | cut -d' ' -f1)" = "$(cat /tmp/c_md5)" ]; }
check "rbcache reads back every byte the C module wrote (md5 of the volume)" same_md5
# Writes through rbcache, mirrored on a model file of the volume.
rb_writes() {
	dd if=/dev/bcache0 of=/tmp/model bs=1M 2>/dev/null || return 1
	for f in /dev/bcache0 /tmp/model; do
		printf '\252%.0s' $(seq 1 4096) | dd of=$f bs=4096 seek=80 count=1 conv=notrunc 2>/dev/null
		printf 'rbcache%.0s' $(seq 1 1024) | dd of=$f bs=4096 seek=2048 count=2 conv=notrunc 2>/dev/null
		dd if=/dev/urandom of=/tmp/rand bs=64k count=3 2>/dev/null
	done
	dd if=/tmp/rand of=/dev/bcache0 bs=64k seek=50 conv=notrunc oflag=direct 2>/dev/null &&
		dd if=/tmp/rand of=/tmp/model bs=64k seek=50 conv=notrunc 2>/dev/null || return 1
	blkdiscard -o $((7 * 65536)) -l 4096 /dev/bcache0 || return 1
	dd if=/dev/zero of=/tmp/model bs=4096 seek=$((7 * 16)) count=1 conv=notrunc 2>/dev/null
	sync
	md5sum </tmp/model | cut -d' ' -f1 >/tmp/model_md5
}
check "rbcache writes, overwrites and discards through /dev/bcache0" rb_writes
model_md5() {
	echo 3 >/proc/sys/vm/drop_caches
	[ "$(md5sum </dev/bcache0 | cut -d' ' -f1)" = "$(cat /tmp/model_md5)" ]
}
check "... and reads back exactly what was written (md5 against a model)" model_md5
rb_replays() {
	sysfs_write "$SET/unregister" 1 && wait_for 10 test ! -e "$SET" &&
		sysfs_write $RB/register /dev/vdc && wait_for 5 test -b /dev/bcache0 && model_md5
}
check "after unregister and register rbcache replays its journal: same data" rb_replays
unreg() { sysfs_write "$SET/unregister" 1 && wait_for 10 test ! -e "$SET"; }
check "unregister" unreg
check "/dev/bcache0 is gone" test ! -e /dev/bcache0
check "rmmod rbcache" rb_unload

model_volume() { volume_md5_is "$(cat /tmp/model_md5)"; }
check "the C module replays rbcache's journal and reads the same data (md5)" \
	with_c_module /dev/vdc model_volume

# rbcache initialises a fresh cache; the C module then uses it as an existing set.
fmt_cache /dev/vdd
D=$RB/$(cset_uuid /dev/vdd)
rb_init() {
	rb_load && dmesg_mark && sysfs_write $RB/register /dev/vdd && logged "as new set" &&
		test "$(cat "$D/synchronous")" = 1
}
check "rbcache initialises a fresh make-bcache cache" rb_init
rb_again() {
	sysfs_write "$D/unregister" 1 && wait_for 10 test ! -e "$D" && dmesg_mark &&
		sysfs_write $RB/register /dev/vdd && logged "as existing set" && logged "(journal seq 1, 1 live entries, btree depth 0, 1 nodes, 0 keys, 0 flash volumes)"
}
check "... and re-registers it as an existing set" rb_again
rb_vol() {
	sysfs_write "$D/flash_vol_create" 16M && wait_for 5 test -b /dev/bcache0 &&
		write_pattern /dev/bcache0 && sync && echo 3 >/proc/sys/vm/drop_caches &&
		[ "$(md5sum </dev/bcache0 | cut -d' ' -f1)" = 4798e1d9f241b2d1d3c1b01f3a613d07 ]
}
check "rbcache creates a 16 MiB flash volume and writes the pattern (md5)" rb_vol
check "its /sys/block/bcache0/bcache/size is 16.0M" test "$(cat /sys/block/bcache0/bcache/size)" = 16.0M
check "flash_vol_create refuses junk" expect_errno "$D/flash_vol_create" 12Q "Invalid argument"
rb_off() { sysfs_write "$D/unregister" 1 && wait_for 10 test ! -e "$D" && rb_unload; }
check "unregister and rmmod" rb_off
pattern_no_complaint() {
	volume_md5_is 4798e1d9f241b2d1d3c1b01f3a613d07 &&
		! dmesg_since | grep -E "invalidating existing data|error"
}
c_reads_rb() { dmesg_mark && with_c_module /dev/vdd pattern_no_complaint; }
check "the C module registers rbcache's set as existing and reads rbcache's volume (md5)" c_reads_rb
check "insmod rbcache" rb_load
rb_reads_c() {
	dmesg_mark && sysfs_write $RB/register /dev/vdd && logged "1 flash volumes" &&
		wait_for 5 test -b /dev/bcache0 && same_md5 &&
		sysfs_write "$D/unregister" 1 && wait_for 10 test ! -e "$D"
}
check "rbcache registers its set again after the C module, same data (md5)" rb_reads_c

# refuse_variant NAME REASON: the patched fixture is refused with EINVAL and REASON logged.
refuse_variant() {
	local dev r
	dev=$(fixture_variant "$1") || return 1
	dmesg_mark
	expect_errno $RB/register "$dev" "Invalid argument"
	r=$?
	log_once "register $dev: $2" || r=1
	losetup -d "$dev"
	rm -f /tmp/fixture.img
	return $r
}

fixture_registers() {
	local d
	d=$(fixture_variant none) || return 1
	echo "$d" >/tmp/fixture_dev
	sysfs_write $RB/register "$d"
}
check "the intact fixture (C-written) registers" fixture_registers
fixture_stop() {
	local d
	d=$(cat /tmp/fixture_dev)
	for s in $RB/*-*-*-*-*; do [ -e "$s/unregister" ] && echo 1 >"$s/unregister"; done
	wait_for 10 no_gc_threads && losetup -d "$d" && rm -f /tmp/fixture.img
}
check "... and unregisters" fixture_stop

torn_ok() {
	local dev r
	dev=$(fixture_variant jset_torn_newest) || return 1
	dmesg_mark
	sysfs_write $RB/register "$dev"
	r=$?
	logged "journal seq $(($(fixture_expect newest_seq) - 1))" || r=1
	for s in $RB/*-*-*-*-*; do [ -e "$s/unregister" ] && echo 1 >"$s/unregister"; done
	wait_for 10 no_gc_threads
	losetup -d "$dev"
	rm -f /tmp/fixture.img
	return $r
}
check "a torn newest journal entry is ignored: registers at the previous seq" torn_ok

m=$(fixture_expect missing_seq)
check "a journal entry missing mid-range is refused" refuse_variant jset_missing "journal entries $m-$m missing"
b=$(fixture_expect bad_csum_seq)
check "a journal entry with a bad checksum mid-range is refused" refuse_variant jset_bad_csum "journal entries $b-$b missing"
check "no journal at all is refused" refuse_variant journal_empty "No journal entries found"
p=$(fixture_expect prio_bucket)
check "a bad prio checksum is refused" refuse_variant prio_bad_csum "bad csum reading priorities (bucket $p)"
r=$(fixture_expect root_bucket)
check "a bad bset checksum in the root is refused" refuse_variant bset_bad_csum "btree node at bucket $r: bad checksum"
check "a root pointer past the end of the device is refused" refuse_variant root_past_end "invalid btree node pointer at level 0"
c=$(fixture_expect cycle_bucket)
check "a btree pointer leading back to an ancestor is refused" refuse_variant btree_cycle "btree node at bucket $c reached twice"
check "a btree node pointed at twice is refused" refuse_variant btree_shared "btree node at bucket $r reached twice"

check "no cache set is left registered" test "$(ls -d $RB/*-*-*-*-* 2>/dev/null | wc -l)" -eq 0
check "no bcache_gc thread is left" no_gc_threads
check "rmmod rbcache" rb_unload
no_fixture_loop() { ! losetup -a 2>/dev/null | grep -q fixture; }
check "no loop device is left attached" no_fixture_loop

ktap_finished
