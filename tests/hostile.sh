#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Hostile metadata with valid checksums: a small clean cache set generated on the host by
# tests/vm/mkbigset.py (a flash volume of 2000 extents, a btree of depth 2, a live journal), and
# one mutation of it per refusal reason of src/metadata.rs and src/format/bset.rs, each with
# every checksum over the changed bytes recomputed (tests/vm/mkhostile.py; the list is
# /images/hostile/cases). Each is registered from a loop device: a refused one fails with EINVAL
# and one log line "register DEV: REASON" naming the reason; one that is odd but safe registers
# and its set stops cleanly; one marked "any" may do either. The run's log check catches any
# oops, and a hang times the run out. The intact set registers with its volume's md5 and stops.
# vm-images: hostile
# vm-timeout: 300
. ./lib.sh

H=/images/hostile
SIZE=$(cat $H/size)
SET=$RB/$(cat $H/uuid)

plan=$(awk '$2 == "refuse" || $2 == "ok" { n += 2 } $2 == "any" { n += 1 } $1 == "clean" { n += 1 }
	END { print n + 1 }' $H/cases)
ktap_print_header
ktap_set_plan "$plan"

rb_load || die "insmod rbcache"
unxz -c $H/base.img.xz >/tmp/hbase.img || die "unxz base"

# hostile_dev NAME: a loop device over a fresh copy of the set with patch NAME applied.
hostile_dev() {
	rm -f /tmp/h.img
	cp /tmp/hbase.img /tmp/h.img && truncate -s "$SIZE" /tmp/h.img &&
		apply_patch /tmp/h.img "$H/$1.patch" || return 1
	l=$(losetup -f) && losetup "$l" /tmp/h.img && echo "$l"
}

stop_set() {
	sysfs_write "$SET/stop" 1 && wait_for 60 test ! -e "$SET"
}

# either DEV: refused with EINVAL and one log line naming DEV, or registered and stopped.
either() {
	if sysfs_write $RB/register "$1"; then
		ktap_print_msg "registered"
		stop_set
	else
		ktap_print_msg "refused: $RB_ERR; $(dmesg_since | grep -F "register $1: " | head -n 1)"
		case "$RB_ERR" in
		*"Invalid argument"*) log_once "register $1: " ;;
		*) return 1 ;;
		esac
	fi
}

while read -r name outcome reason <&3; do
	dev=$(hostile_dev "$name") || die "$name: image"
	dmesg_mark
	case $outcome in
	refuse)
		check "$name: refused with EINVAL" expect_errno $RB/register "$dev" "Invalid argument"
		check "$name: logged '$reason'" log_once "register $dev: $reason"
		;;
	ok)
		check "$name: registers" sysfs_write $RB/register "$dev"
		[ "$name" != clean ] ||
			check "$name: the flash volume reads the generator's md5" volume_md5_is "$(cat $H/md5)"
		check "$name: the set stops" stop_set
		;;
	any)
		check "$name: refused with a reason, or registers and stops" either "$dev"
		;;
	esac
	# Whatever happened, nothing stays registered.
	[ ! -e "$SET" ] || stop_set
	losetup -d "$dev"
done 3<$H/cases

check "rmmod" rb_unload

ktap_finished
