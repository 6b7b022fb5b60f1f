#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# crash_writeback the other way round (two boots, `scripts/vm.sh crash crash_c_writeback`): the
# C bcache.ko writes the dirty data before the power cut; rbcache replays its journal, finds
# the device dirty with every synced block intact, and drains it with its own writeback.
SYS=c . ./crash_writeback.sh
