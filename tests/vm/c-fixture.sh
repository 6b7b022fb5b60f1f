#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest half of scripts/mkfixture.sh: let the C bcache.ko initialise a fresh cache on /dev/vda,
# create a flash volume, write known data through it, and stop the set cleanly, so the host can
# keep the image as a test vector of what 6.12 writes.
. ./lib.sh
echo "TAP version 13"; echo "1..1"
fmt_cache /dev/vda
CSET=$(cset_uuid /dev/vda)
insmod $MODDIR/bcache.ko || die "insmod bcache"
echo /dev/vda >$RB/register || die "register"
echo 16M >$RB/$CSET/flash_vol_create || die "flash_vol_create"
wait_for 10 test -b /dev/bcache0 || die "no /dev/bcache0"
# 64 writes of 64 KiB, each filled with its own index byte, then a few small ones out of order.
i=0
while [ $i -lt 64 ]; do
	printf "$(printf '\\%03o' $((i + 1)))%.0s" $(seq 1 4096) | dd of=/dev/bcache0 bs=4096 \
		seek=$((i * 16)) count=1 conv=notrunc 2>/dev/null
	i=$((i + 1))
done
dd if=/dev/zero of=/dev/bcache0 bs=4096 seek=3000 count=2 conv=notrunc 2>/dev/null
sync
echo 3 >/proc/sys/vm/drop_caches
md5sum /dev/bcache0
echo 1 >$RB/$CSET/stop
wait_for 20 test ! -e $RB/$CSET || die "set did not stop"
rmmod bcache
echo "ok 1 fixture written"
