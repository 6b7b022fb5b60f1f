#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# A cache whose newest journal entry is version 0 has a pre-version-1 uuid table (64-byte
# entries). rbcache converts it as 6.12's uuid_read() does and writes it back in the version-1
# layout before its first journal entry; a flash volume created afterwards then reads back under
# the C bcache.ko, which sees a version-1 table.
. ./lib.sh

ktap_print_header
ktap_set_plan 7

LOOP=$(fixture_variant uuid_v0) || die "fixture"
CSET=$(cset_uuid "$LOOP")
SET=$RB/$CSET
reg() { rb_load && dmesg_mark && sysfs_write $RB/register "$LOOP" && test -d $SET; }
check "a cache with a version-0 journal and uuid table registers" reg
novol() { usleep 500000; ! test -b /dev/bcache0; }
check "the converted entry is not a flash volume (v0 entries have no flags)" novol
create() {
	sysfs_write $SET/flash_vol_create 16M && wait_for 10 test -b /dev/bcache0 &&
		write_pattern /dev/bcache0 && sync && M=$(md5sum </dev/bcache0 | cut -d' ' -f1)
}
check "flash_vol_create works on the converted table" create
check "the conversion is logged once" log_once "converted a pre-version-1 uuid table"
down() { sysfs_write $SET/stop 1 && wait_for 20 test ! -e $SET && rb_unload; }
check "stop and rmmod" down
check "the C bcache.ko reads the volume back (md5)" with_c_module "$LOOP" volume_md5_is "$M"
rereg() {
	rb_load && dmesg_mark && sysfs_write $RB/register "$LOOP" && volume_md5_is "$M" &&
		! logged "converted a pre-version-1 uuid table" &&
		sysfs_write $SET/stop 1 && wait_for 20 test ! -e $SET && rb_unload
}
check "rbcache registers it again: no second conversion, the same volume" rereg
losetup -d "$LOOP"
ktap_finished
