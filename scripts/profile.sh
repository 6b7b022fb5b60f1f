#!/usr/bin/env bash
# make profile: where the guest's CPUs spend their time during bench jobs. A developer's tool,
# not part of `make check`: it runs tests/vm/bench.sh (via scripts/bench.sh, one rep) with
# QEMU's monitor on a socket, samples every vCPU's instruction pointer through it
# (scripts/profile.py) and prints the hottest functions. ONLY="job ..." (default bk_randwrite),
# SYSTEMS (default rb; both modules load at the same address, so profile one at a time) and
# RUNTIME (20) pass through. User-space samples (fio) show as "?".
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=build/profile
mkdir -p "$OUT"
SOCK=$(mktemp -u /tmp/rbcache-mon.XXXXXX)
export ONLY=${ONLY:-bk_randwrite} SYSTEMS=${SYSTEMS:-rb} RUNTIME=${RUNTIME:-20} REPS=1
export RBCACHE_QEMU_MONITOR=$SOCK
python3 scripts/profile.py sample "$SOCK" "$OUT/rips.txt" &
sampler=$!
scripts/bench.sh >"$OUT/bench.txt" 2>&1 || { tail -n 30 "$OUT/bench.txt"; exit 1; }
wait $sampler
rm -f "$SOCK"
KDIR=$(RBCACHE_KERNEL=bench scripts/kernel.sh)
grep -E '^BENCH [a-z]+ 1 ' build/bench/raw.txt || true
python3 scripts/profile.py report "$OUT/rips.txt" build/bench/raw.txt "$KDIR/System.map" \
	build/bench/module/rbcache.ko "$KDIR/drivers/md/bcache/bcache.ko" | tee "$OUT/report.txt"
