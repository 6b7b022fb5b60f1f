#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# A big set registers again: a clean cache set of 300,000 extents, generated on the host by
# tests/vm/mkbigset.py (scripts/vm.sh caches the image and attaches it through a qcow2
# overlay), registers under rbcache with every key counted and the flash volume's md5 equal to
# the generator's; then under the C module (same md5), then under rbcache again (same md5).
# The set is what a clean stop leaves: a btree of depth 1 (56 leaves under the root), 297,000
# extents in the leaves and 3,000 in the live journal (replayed at registration), every
# extent 4 KiB of its own data in a data bucket.
# vm-fixture: bigset 300000
# vm-timeout: 3600
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
# volume_md5: the md5 of the whole volume, read with O_DIRECT.
volume_md5() {
	dd if=/dev/bcache0 bs=1M iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1
}
same_md5() {
	local m
	wait_for 10 test -b /dev/bcache0 || return 1
	m=$(timed volume_md5)
	[ "$m" = "$MD5" ] || { echo "# volume md5 $m"; return 1; }
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

# c_same: the C module's registration may finish asynchronously: its time runs until the
# volume appears.
c_same() {
	local t=$(date +%s)
	wait_for 600 test -b /dev/bcache0 || return 1
	echo "# C registration: $(($(date +%s) - t)) s"
	same_md5
}
check "the C module registers the set and reads the same data (md5)" with_c_module "$DEV" c_same
check "rbcache registers the set after the C module" rb_register
check "... and reads the same data (md5)" same_md5
check "stop the set and rmmod" stopped
ktap_finished
