#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# crash_replay the other way round (two boots, `scripts/vm.sh crash crash_c_replay`): the C
# bcache.ko writes the flash volume and splits its btree before the power cut; rbcache replays
# its journal, reads back every synced block and writes more; the C module reads it all again.
SYS=c . ./crash_replay.sh
