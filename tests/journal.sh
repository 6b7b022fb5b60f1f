#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# More writes than the journal holds: when the journal enters its last free bucket, rbcache
# writes a new root leaf holding everything and releases the journal. The data must survive
# that, re-registration, and the C module.
. ./lib.sh

ktap_print_header
ktap_set_plan 8

fmt_cache /dev/vda
SET=$RB/$(cset_uuid /dev/vda)
up() {
	rb_load && sysfs_write $RB/register /dev/vda &&
		sysfs_write "$SET/flash_vol_create" 16M && wait_for 5 test -b /dev/bcache0
}
check "a fresh set with a 16 MiB flash volume" up

# 1300 separate 4 KiB writes: 1300 journal entries, more than the 8 x 128 blocks of journal.
dd if=/dev/urandom of=/tmp/j bs=4k count=1300 2>/dev/null
many() { dd if=/tmp/j of=/dev/bcache0 bs=4k oflag=direct 2>/dev/null; }
check "1300 synchronous 4 KiB writes succeed" many
check "the journal was released by writing a new root" test "$(cat $SET/internal/root_writes)" -ge 1
same() { [ "$(dd if=/dev/bcache0 bs=4k count=1300 2>/dev/null | md5sum)" = "$(md5sum </tmp/j)" ]; }
check "the data reads back (md5)" same
again() {
	sysfs_write "$SET/unregister" 1 && wait_for 10 test ! -e "$SET" &&
		sysfs_write $RB/register /dev/vda && wait_for 5 test -b /dev/bcache0
}
check "re-register: the new root and the journal after it are read" again
check "the data reads back after re-registering (md5)" same
down() { sysfs_write "$SET/unregister" 1 && wait_for 10 test ! -e "$SET" && rb_unload; }
check "unregister and rmmod" down
c_same() { wait_for 10 test -b /dev/bcache0 && same; }
check "the C module reads the same data from rbcache's root and journal (md5)" \
	with_c_module /dev/vda c_same
ktap_finished
