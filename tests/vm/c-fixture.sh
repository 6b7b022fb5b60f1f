#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest half of scripts/mkfixture.sh: let the C bcache.ko initialise a fresh cache on /dev/vda,
# create a flash volume, write the known pattern through it, and stop the set cleanly, so the
# host can keep the image as a test vector of what 6.12 writes.
. ./lib.sh
ktap_print_header
ktap_set_plan 1
check "the C module wrote the fixture cache" c_bcache_flash /dev/vda
echo "# volume md5 $(cat /tmp/c_md5)"
ktap_finished
