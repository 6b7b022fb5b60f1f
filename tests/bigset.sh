#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# A big set registers again: a clean cache set of 300,000 extents, generated on the host by
# tests/vm/mkbigset.py (scripts/vm.sh caches the image and attaches it through a qcow2
# overlay), registers under rbcache with every key counted and the flash volume's data equal to
# the generator's (md5); then under the C module (same md5s), then under rbcache again.
# The set is what a clean stop leaves: a btree of depth 1 (29 leaves under the root), 150,000
# extents in the leaves and 150,000 in the live journal (replayed at registration), every
# extent 4 KiB of its own data in a data bucket.
# Reading the whole 2 GiB volume takes about 16 minutes under TCG with the debug kernel (about
# 310 extents/s), so each read covers 2 of its 33 64-MiB regions (the first and the middle
# one), compared with the generator's md5 of each region; BIGSET_READ=full in the guest
# environment (RBCACHE_GUEST_ENV) reads and compares the whole volume instead.
# vm-fixture: bigset 300000
# vm-timeout: 1800
. ./lib.sh

INFO=/images/fixtures/bigset-300000-1.info
info() { awk -v k="$1" '$1 == k { print $2 }' $INFO; }

ktap_print_header
ktap_set_plan 8

[ -f $INFO ] || die "no $INFO: scripts/vm.sh writes it for a script with a vm-fixture line"
DEV=$(info dev)
N=$(info extents)
MD5=$(info md5)
[ -b "$DEV" ] || die "no $DEV"
CSET=$(cset_uuid "$DEV")
[ -n "$CSET" ] || die "no cache superblock on $DEV"
SET=$RB/$CSET
REGION_MB=$(info region_mb)
REGIONS=$(grep -c '^region_md5_' $INFO)
# The first and the middle region: 2 of 33 (128 MiB of the 2 GiB volume).
READ_REGIONS="0 $((REGIONS / 2))"
[ "${BIGSET_READ:-}" = full ] && echo "# reading the whole volume" ||
	echo "# reading regions $READ_REGIONS of $REGIONS ($REGION_MB MiB each)"
echo "# $DEV: $N extents, $(info leaves) leaves, depth $(info depth), $(info journal_keys) journal keys, volume md5 $MD5"

# timed CMD...: runs CMD and reports its time.
timed() {
	local t r
	t=$(date +%s)
	"$@"
	r=$?
	echo "# $1: $(($(date +%s) - t)) s" >&2
	return $r
}
# region_md5 R: the md5 of region R (REGION_MB MiB at R * REGION_MB MiB), read with O_DIRECT.
region_md5() {
	dd if=/dev/bcache0 bs=1M iflag=direct skip=$(($1 * REGION_MB)) count=$REGION_MB 2>/dev/null |
		md5sum | cut -d' ' -f1
}
# volume_md5: the md5 of the whole volume, read with O_DIRECT.
volume_md5() {
	dd if=/dev/bcache0 bs=1M iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1
}
# read_back: BIGSET_READ=full reads the whole volume and compares its md5; otherwise the
# regions READ_REGIONS are read, each compared with the generator's md5 of that region.
read_back() {
	local r m
	if [ "${BIGSET_READ:-}" = full ]; then
		m=$(volume_md5)
		[ "$m" = "$MD5" ] || { echo "# volume md5 $m"; return 1; }
		return 0
	fi
	for r in $READ_REGIONS; do
		m=$(region_md5 $r)
		[ "$m" = "$(info region_md5_$r)" ] || { echo "# region $r: md5 $m"; return 1; }
	done
}
same_md5() {
	wait_for 10 test -b /dev/bcache0 || return 1
	timed read_back
}
rb_register() {
	rb_load && dmesg_mark && timed sysfs_write $RB/register "$DEV" || {
		echo "# $RB_ERR"
		dmesg_since | tail -n 5
		return 1
	}
}
# keys_logged: the registration line counts at least N keys (leaf keys and live journal keys).
keys_logged() {
	local keys
	dmesg_since | grep 'registered cache device' | sed 's/^/# /'
	keys=$(dmesg_since | sed -n 's/.*registered cache device.* \([0-9][0-9]*\) keys,.*/\1/p' | tail -n 1)
	[ -n "$keys" ] && [ "$keys" -ge "$N" ]
}
stopped() {
	sysfs_write "$SET/stop" 1 && wait_for 60 test ! -e "$SET" && rb_unload
}

check "rbcache registers the generated set" rb_register
check "... having read all its keys" keys_logged
check "... and its volume has the generator's data (md5)" same_md5
check "stop the set and rmmod" stopped

# c_same: the C module's registration may finish asynchronously: wait for the volume.
c_same() {
	local t=$(date +%s)
	wait_for 600 test -b /dev/bcache0 || return 1
	echo "# C module: volume there $(($(date +%s) - t)) s after the register write returned"
	same_md5
}
check "the C module registers the set and reads the same data (md5)" with_c_module "$DEV" c_same
check "rbcache registers the set after the C module" rb_register
check "... and reads the same data (md5)" same_md5
check "stop the set and rmmod" stopped
ktap_finished
