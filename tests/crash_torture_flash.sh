#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# vm-cycles: 1
# vm-disks-mb: 256 64 64 64
# crash_torture.sh on a flash volume: a 192 MiB volume on a 256 MiB cache, no backing device.
VARIANT=flash
. ./crash_torture.sh
