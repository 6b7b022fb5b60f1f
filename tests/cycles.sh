#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# 50 cycles of insmod, register, trigger_gc, unregister and rmmod. The run's log check makes
# lockdep, KASAN and kmemleak part of the verdict.
. ./lib.sh

CYCLES=${CYCLES:-50}
ktap_print_header
ktap_set_plan 2

fmt_cache /dev/vda
CSET=$(cset_uuid /dev/vda)

gc_passes_at_least() { [ "$(cat $RB/$CSET/internal/gc_passes)" -ge "$1" ]; }

one_cycle() {
	rb_load || { echo "# insmod failed"; return 1; }
	sysfs_write $RB/register /dev/vda || { echo "# register: $RB_ERR"; return 1; }
	sysfs_write $RB/$CSET/internal/trigger_gc 1 || return 1
	wait_for 10 gc_passes_at_least 1 || { echo "# no GC pass"; return 1; }
	sysfs_write $RB/$CSET/unregister 1 || return 1
	wait_for 10 test ! -e $RB/$CSET || { echo "# set dir stayed"; return 1; }
	[ "$(gc_threads)" -eq 0 ] || { echo "# a cache-set thread was left"; return 1; }
	rb_unload || { echo "# rmmod failed"; return 1; }
}

cycles() {
	i=0
	while [ $i -lt "$CYCLES" ]; do
		i=$((i + 1))
		one_cycle || { echo "# cycle $i failed"; return 1; }
	done
}
check "$CYCLES cycles of insmod, register, trigger_gc, unregister, rmmod" cycles
check "module is unloaded at the end" test ! -e /sys/module/rbcache

ktap_finished
