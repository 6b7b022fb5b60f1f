#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# More writes than the journal holds: when the journal enters its last free bucket, rbcache
# writes a new root leaf holding everything and releases the journal. The data must survive
# that, re-registration, and the C module.
. ./lib.sh

ktap_print_header
ktap_set_plan 12

fmt_cache /dev/vda
SET=$RB/$(cset_uuid /dev/vda)
up() {
	rb_load && sysfs_write $RB/register /dev/vda &&
		sysfs_write "$SET/flash_vol_create" 16M && wait_for 5 test -b /dev/bcache0
}
check "a fresh set with a 16 MiB flash volume" up

# 1300 separate 4 KiB O_SYNC writes (each a REQ_FUA write, so each its own journal entry): more
# entries than the 8 x 128 blocks of journal hold. fio verifies the data (fio_gen).
jfio() {
	fio --name=j --filename=/dev/bcache0 --rw=write --bs=4k --size=5200k --direct=1 --sync=1 \
		--ioengine=psync $(fio_gen 1) --allow_file_create=0 --thread --output=/tmp/fio.out \
		"$@" >/dev/null 2>&1 || {
		tail -n 20 /tmp/fio.out
		return 1
	}
}
check "1300 synchronous (FUA) 4 KiB writes succeed and verify" jfio --do_verify=1
# (The journal thread may write an entry between a write's keys and its flush: "nearly".)
flushes() { [ "$(cat $SET/internal/journal_flushes)" -ge 1200 ] || { cat $SET/internal/journal_flushes; return 1; }; }
check "nearly every FUA write asked for its own journal write" flushes
# 6.12's journal counters: moving on to the next bucket (reclaim, reclaimed_journal_buckets)
# more than the 8 buckets, and flushing the tree to free the journal (flush_write).
released() {
	set -- "$(cat $SET/internal/reclaim)" "$(cat $SET/internal/reclaimed_journal_buckets)" \
		"$(cat $SET/internal/flush_write)"
	echo "# reclaim $1, reclaimed_journal_buckets $2, flush_write $3"
	[ "$(cat $SET/internal/root_writes)" -ge 1 ] && [ "$1" -ge 8 ] && [ "$2" -ge 8 ] &&
		[ "$1" -ge "$2" ] && [ "$3" -ge 1 ]
}
check "the journal was released by writing a new root (root_writes, reclaim, flush_write)" released
same() { wait_for 10 test -b /dev/bcache0 && jfio --verify_only; }
check "the data reads back" same
again() {
	sysfs_write "$SET/unregister" 1 && wait_for 10 test ! -e "$SET" &&
		sysfs_write $RB/register /dev/vda && wait_for 5 test -b /dev/bcache0
}
check "re-register: the new root and the journal after it are read" again
check "the data reads back after re-registering" same
delay() {
	[ "$(cat $SET/journal_delay_ms)" = 100 ] && sysfs_write $SET/journal_delay_ms 250 &&
		[ "$(cat $SET/journal_delay_ms)" = 250 ] && sysfs_write $SET/journal_delay_ms 100
}
check "journal_delay_ms is 100 by default and can be set" delay
delay_junk() {
	expect_errno $SET/journal_delay_ms junk "Invalid argument" &&
		expect_errno $SET/journal_delay_ms 10001 "Invalid argument" &&
		[ "$(cat $SET/journal_delay_ms)" = 100 ]
}
check "journal_delay_ms refuses junk and values past 10000" delay_junk
# 1024 plain O_DIRECT 4 KiB writes (no FUA): their keys are batched into few journal entries.
batched() {
	w0=$(cat $SET/internal/journal_writes)
	fio --name=b --filename=/dev/bcache0 --rw=write --bs=4k --size=4M --offset=8M --direct=1 \
		--ioengine=psync --allow_file_create=0 --thread >/dev/null 2>&1 || return 1
	w1=$(cat $SET/internal/journal_writes)
	echo "# 1024 writes, $((w1 - w0)) journal entries"
	[ $((w1 - w0)) -lt 256 ]
}
check "1024 writes without FUA share journal entries (fewer than 256)" batched
down() { sysfs_write "$SET/unregister" 1 && wait_for 10 test ! -e "$SET" && rb_unload; }
check "unregister and rmmod" down
c_same() { wait_for 10 test -b /dev/bcache0 && same; }
check "the C module reads the same data from rbcache's root and journal" \
	with_c_module /dev/vda c_same
ktap_finished
