#!/usr/bin/env bash
# Regenerate tests/fixtures/c-bcache-6.12-flash.img.xz: a 64 MiB cache initialised and written by
# the C bcache.ko of the cached kernel (see tests/vm/c-fixture.sh). Host tests decode it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/vm.sh script tests/vm/c-fixture.sh
xz -9 -T1 -c build/vm/disk0.img >tests/fixtures/c-bcache-6.12-flash.img.xz
ls -la tests/fixtures/c-bcache-6.12-flash.img.xz
