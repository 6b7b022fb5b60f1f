#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Power cut during a write burst (run in two boots by `scripts/vm.sh crash crash_replay`):
# phase 1 writes and fsyncs (durable once fsync returns) — 4 MiB sequentially, and
# 16 MiB of random 4 KiB O_SYNC blocks with fio crc32c headers: one journal entry each, so the
# journal is reclaimed and the btree written, with enough keys to split it —
# starts a burst of buffered writes and resets the machine; phase 2 registers the set again,
# finds the fsync'd data intact, and so does the C module.
. ./lib.sh

# 16 MiB at 8 MiB in random 4 KiB blocks with crc32c headers (the same blocks every time).
region() { fio_region /dev/bcache0 8M 16M 11 "$@"; }

if [ "${PHASE:-1}" = 1 ]; then
	fmt_cache /dev/vda
	rb_load || exit 1
	echo /dev/vda >$RB/register || exit 1
	echo 32M >"$RB/$(cset_uuid /dev/vda)/flash_vol_create" || exit 1
	wait_for 5 test -b /dev/bcache0 || exit 1
	region --do_verify=0 --sync=1 || exit 1
	dd if=/dev/urandom of=/tmp/a bs=1M count=4 2>/dev/null
	dd if=/tmp/a of=/dev/bcache0 bs=1M oflag=direct conv=fsync 2>/dev/null || exit 1
	# Remember the checksum on another disk, durably.
	md5sum </tmp/a | cut -d' ' -f1 | dd of=/dev/vdd bs=512 count=1 conv=sync,fsync 2>/dev/null
	dd if=/dev/urandom of=/dev/bcache0 bs=64k seek=100 count=64 2>/dev/null &
	power_cut 300000
fi

ktap_print_header
ktap_set_plan 10
SAVED=$(dd if=/dev/vdd bs=512 count=1 2>/dev/null | tr -d '\0' | head -n1)
SET=$RB/$(cset_uuid /dev/vda)
check "the checksum from before the power cut was kept" test ${#SAVED} -eq 32
up() { rb_load && sysfs_write $RB/register /dev/vda && wait_for 5 test -b /dev/bcache0; }
check "rbcache registers the set after the power cut and its volume comes back" up
synced() { [ "$(dd if=/dev/bcache0 bs=1M count=4 2>/dev/null | md5sum | cut -d' ' -f1)" = "$SAVED" ]; }
check "the data fsync'd before the cut is intact (md5)" synced
check "the region of the interrupted burst reads without error" \
	dd if=/dev/bcache0 of=/dev/null bs=64k skip=100 count=64
depth() { [ "$(cat $SET/tree_depth)" -ge 1 ] || { echo "# tree_depth $(cat $SET/tree_depth)"; return 1; }; }
check "the btree on disk had split (tree_depth >= 1)" depth
check "every block of the 16 MiB random region verifies (crc32c)" region --verify_only
down() { sysfs_write "$SET/unregister" 1 && wait_for 10 test ! -e "$SET" && rb_unload; }
check "unregister and rmmod" down
c_synced() { wait_for 10 test -b /dev/bcache0 && synced; }
check "the C module registers it too and reads the same data (md5)" with_c_module /dev/vda c_synced
c_region() { wait_for 10 test -b /dev/bcache0 && region --verify_only; }
check "the C module verifies every block of the random region too" with_c_module /dev/vda c_region
check "no bcache_gc thread is left" no_gc_threads
ktap_finished
