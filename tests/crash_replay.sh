#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Power cut during a write burst (run in two boots by `scripts/vm.sh crash crash_replay`):
# phase 1 creates a flash volume and writes and fsyncs (durable once fsync returns) 16 MiB of
# random 4 KiB O_SYNC blocks verified by fio (one journal entry each, so the journal is
# reclaimed and the btree written, with enough keys to split it) and 4 MiB sequentially, then
# starts a burst of buffered writes and resets the machine. Phase 2 registers the set with
# rbcache, which finds the fsync'd data intact and the btree split. With SYS=rb (this test)
# rbcache wrote it, and the C module reads it all back too. `crash_c_replay` runs this with
# SYS=c, the reverse: the C bcache.ko writes in phase 1 (and splits its btree); rbcache replays
# its journal, reads back every synced block, writes 4 MiB more, and the C module reads
# everything again.
. ./lib.sh

SYS=${SYS:-rb}
if [ "$SYS" = rb ]; then
	load() { rb_load; }
	SEED=11
	BURST=384
else
	load() { insmod $MODDIR/bcache.ko; }
	SEED=13
	BURST=400
fi
# 16 MiB at 8 MiB in random 4 KiB blocks of one generation (fio_gen) (the same blocks every time), and
# the 4 MiB at 28 MiB that rbcache adds after the power cut with SYS=c. The unsynced burst at
# the cut (4 MiB at BURST * 64 KiB) lies outside what is verified: 24 MiB for rbcache, 25 MiB
# for the C module (rbcache writes 28 MiB and up only after the cut).
region() { fio_region /dev/bcache0 8M 16M $SEED "$@"; }
more_region() { fio_region /dev/bcache0 28M 4M 14 "$@"; }

if [ "${PHASE:-1}" = 1 ]; then
	fmt_cache /dev/vda
	load || exit 1
	echo /dev/vda >$RB/register || exit 1
	echo 32M >"$RB/$(cset_uuid /dev/vda)/flash_vol_create" || exit 1
	wait_for 10 test -b /dev/bcache0 || exit 1
	region --do_verify=0 --sync=1 || exit 1
	dd if=/dev/urandom of=/tmp/a bs=1M count=4 2>/dev/null
	dd if=/tmp/a of=/dev/bcache0 bs=1M oflag=direct conv=fsync 2>/dev/null || exit 1
	# Remember the checksum on another disk, durably.
	md5sum </tmp/a | cut -d' ' -f1 | dd of=/dev/vdd bs=512 count=1 conv=sync,fsync 2>/dev/null
	dd if=/dev/urandom of=/dev/bcache0 bs=64k seek=$BURST count=64 2>/dev/null &
	power_cut 300000
fi

ktap_print_header
ktap_set_plan 10
SAVED=$(dd if=/dev/vdd bs=512 count=1 2>/dev/null | tr -d '\0' | head -n1)
SET=$RB/$(cset_uuid /dev/vda)
if [ "$SYS" = rb ]; then WRITER=rbcache; else WRITER="the C module"; fi
check "the checksum from before the power cut was kept" test ${#SAVED} -eq 32
up() { rb_load && sysfs_write $RB/register /dev/vda && wait_for 5 test -b /dev/bcache0; }
check "rbcache registers the set after the power cut ($WRITER wrote it); its volume comes back" up
synced() { [ "$(dd if=/dev/bcache0 bs=1M count=4 2>/dev/null | md5sum | cut -d' ' -f1)" = "$SAVED" ]; }
check "the 4 MiB fsync'd before the cut are intact (md5)" synced
check "the region of the interrupted burst reads without error" \
	dd if=/dev/bcache0 of=/dev/null bs=64k skip=$BURST count=64
depth() { [ "$(cat $SET/tree_depth)" -ge 1 ] || { echo "# tree_depth $(cat $SET/tree_depth)"; return 1; }; }
check "the btree $WRITER wrote had split (tree_depth >= 1)" depth
check "every O_SYNC block of the 16 MiB random region verifies" region --verify_only
if [ "$SYS" = rb ]; then
	down() { sysfs_write "$SET/unregister" 1 && wait_for 10 test ! -e "$SET" && rb_unload; }
	check "unregister and rmmod" down
	c_synced() { wait_for 10 test -b /dev/bcache0 && synced; }
	check "the C module registers it too and reads the same data (md5)" with_c_module /dev/vda c_synced
	c_region() { wait_for 10 test -b /dev/bcache0 && region --verify_only; }
	check "the C module verifies every block of the random region too" with_c_module /dev/vda c_region
else
	more() { more_region --do_verify=1 --end_fsync=1; }
	check "rbcache writes 4 MiB more into the set (verified)" more
	down() { sysfs_write "$SET/stop" 1 && wait_for 10 test ! -e "$SET" && rb_unload; }
	check "stop and rmmod" down
	c_all() {
		wait_for 10 test -b /dev/bcache0 && synced && region --verify_only &&
			more_region --verify_only
	}
	check "the C module reads all of it back (md5 and fio)" with_c_module /dev/vda c_all
fi
check "no cache-set thread is left" no_gc_threads
ktap_finished
