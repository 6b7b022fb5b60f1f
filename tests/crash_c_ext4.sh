#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# crash_ext4 with the C bcache.ko in both boots, for comparison (two boots, `scripts/vm.sh
# crash crash_c_ext4`). Only the C module runs here: its checks are reported apart, not as
# rbcache's passes.
# vm-only-c: yes
SYS=c . ./crash_ext4.sh
