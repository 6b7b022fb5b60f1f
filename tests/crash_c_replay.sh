#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The reverse of crash_replay (two boots, `scripts/vm.sh crash crash_c_replay`): phase 1 lets
# the C bcache.ko create a flash volume and write 16 MiB of random 4 KiB O_SYNC blocks with fio
# crc32c headers (enough keys for the C module to split its btree), plus 4 MiB fsync'd, then
# starts a buffered burst and cuts the power. Phase 2 registers the set with rbcache, which
# replays the C module's journal and reads back every synced block; then rbcache writes more
# and the C module reads everything again.
. ./lib.sh

# 16 MiB at 8 MiB in random 4 KiB blocks with crc32c headers (the same blocks every time), and
# the 4 MiB at 28 MiB that rbcache adds after the power cut.
region() { fio_region /dev/bcache0 8M 16M 13 "$@"; }
more_region() { fio_region /dev/bcache0 28M 4M 14 "$@"; }

if [ "${PHASE:-1}" = 1 ]; then
	fmt_cache /dev/vda
	insmod $MODDIR/bcache.ko || exit 1
	echo /dev/vda >$RB/register || exit 1
	echo 32M >"$RB/$(cset_uuid /dev/vda)/flash_vol_create" || exit 1
	wait_for 10 test -b /dev/bcache0 || exit 1
	region --do_verify=0 --sync=1 || exit 1
	dd if=/dev/urandom of=/tmp/a bs=1M count=4 2>/dev/null
	dd if=/tmp/a of=/dev/bcache0 bs=1M oflag=direct conv=fsync 2>/dev/null || exit 1
	md5sum </tmp/a | cut -d' ' -f1 | dd of=/dev/vdd bs=512 count=1 conv=sync,fsync 2>/dev/null
	dd if=/dev/urandom of=/dev/bcache0 bs=64k seek=400 count=64 2>/dev/null &
	power_cut 300000
fi

ktap_print_header
ktap_set_plan 9
SAVED=$(dd if=/dev/vdd bs=512 count=1 2>/dev/null | tr -d '\0' | head -n1)
SET=$RB/$(cset_uuid /dev/vda)
check "the checksum from before the power cut was kept" test ${#SAVED} -eq 32
up() { rb_load && sysfs_write $RB/register /dev/vda && wait_for 5 test -b /dev/bcache0; }
check "rbcache registers the C module's set after the power cut" up
synced() { [ "$(dd if=/dev/bcache0 bs=1M count=4 2>/dev/null | md5sum | cut -d' ' -f1)" = "$SAVED" ]; }
check "the 4 MiB fsync'd before the cut read back (md5)" synced
check "every O_SYNC block of the 16 MiB random region verifies (crc32c)" region --verify_only
depth() { [ "$(cat $SET/tree_depth)" -ge 1 ] || { echo "# tree_depth $(cat $SET/tree_depth)"; return 1; }; }
check "the C module's btree had split (tree_depth >= 1)" depth
more() { more_region --do_verify=1 --end_fsync=1; }
check "rbcache writes 4 MiB more into the set (verified)" more
down() { sysfs_write "$SET/stop" 1 && wait_for 10 test ! -e "$SET" && rb_unload; }
check "stop and rmmod" down
c_all() {
	wait_for 10 test -b /dev/bcache0 && synced && region --verify_only &&
		more_region --verify_only
}
check "the C module reads all of it back (md5 and crc32c)" with_c_module /dev/vda c_all
check "no cache-set thread is left" no_gc_threads
ktap_finished
