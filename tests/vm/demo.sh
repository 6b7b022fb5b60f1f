#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# make demo: format two disks, load rbcache, register them, trigger GC, show what a user sees,
# and tear down.
. ./lib.sh

say() { echo ">>> $*"; }
show() { echo "\$ $*"; sh -c "$*" 2>&1 | sed 's/^/    /'; }

say "Formatting /dev/vda as a cache (64 KiB buckets) and /dev/vdb as a backing device"
show "make-bcache --wipe-bcache -b 64k -C /dev/vda | head -n 12"
show "make-bcache --wipe-bcache -B /dev/vdb | head -n 8"
CSET=$(cset_uuid /dev/vda)

say "Loading rbcache"
show "insmod /modules/rbcache.ko && ls /sys/fs/bcache"
say "Registering both devices"
show "echo /dev/vda > /sys/fs/bcache/register && echo /dev/vdb > /sys/fs/bcache/register"
show "ls /sys/fs/bcache; ls /sys/fs/bcache/$CSET /sys/fs/bcache/$CSET/internal"
show "cd /sys/fs/bcache/$CSET && grep . block_size bucket_size"
say "The GC thread"
show "for p in /proc/[0-9]*; do [ \"\$(cat \$p/comm)\" = bcache_gc ] && echo \"pid \${p#/proc/}: bcache_gc\"; done"
say "Triggering GC three times"
show "cd /sys/fs/bcache/$CSET/internal && for i in 1 2 3; do echo 1 > trigger_gc; usleep 300000; done; grep . gc_passes gc_wakeups_* gc_running btree_gc_*"
say "Creating a 16 MiB flash-only volume and writing to it"
show "echo 16M > /sys/fs/bcache/$CSET/flash_vol_create; usleep 300000; ls -l /dev/bcache*; grep . /sys/block/bcache0/bcache/size"
show "dd if=/dev/urandom of=/tmp/data bs=1M count=4 2>/dev/null; dd if=/tmp/data of=/dev/bcache0 bs=1M oflag=direct 2>&1 | tail -n1; md5sum /tmp/data"
say "Re-registering the set: the journal is replayed and the data reads back"
show "echo 1 > /sys/fs/bcache/$CSET/unregister; usleep 500000; echo /dev/vda > /sys/fs/bcache/register; usleep 300000"
show "dd if=/dev/bcache0 bs=1M count=4 2>/dev/null | md5sum; cd /sys/fs/bcache/$CSET && grep . cache_available_percent tree_depth internal/active_journal_entries internal/gc_wakeups_write"
show "grep . /sys/block/vda/bcache/*"
say "Unregistering the set, then unloading"
show "echo 1 > /sys/fs/bcache/$CSET/unregister; usleep 500000; ls /sys/fs/bcache"
show "rmmod rbcache && ls /sys/fs/bcache 2>&1"
show "dmesg | grep rbcache"
