#!/usr/bin/env bash
# make bench: rbcache against the C bcache.ko in the same VM boot, on the non-debug benchmark
# kernel (RBCACHE_KERNEL=bench, built and cached like the test kernel). The guest side is
# tests/vm/bench.sh; scripts/bench-report.py turns its numbers into ratios, a JSON results file
# and a PNG plot in build/bench/. REPS and RUNTIME (seconds per job) pass through; ONLY="job ..."
# runs just those jobs and SYSTEMS="rb" just that module (a quick look while developing, not a
# full comparison).
set -euo pipefail
cd "$(dirname "$0")/.."
export RBCACHE_KERNEL=bench
KDIR=$(scripts/kernel.sh)
OUT=build/bench
MOD=$OUT/module
mkdir -p "$MOD"
# The module for the bench kernel is built in its own directory, so the test build stays as is.
rm -rf "$MOD/src"
cp -r Kbuild src "$MOD/"
# Warnings are errors here too (objtool sees panic paths the debug kernel's build does not).
out=$(make -s -C "$KDIR" M="$PWD/$MOD" LLVM=1 modules 2>&1) || { printf '%s\n' "$out"; exit 1; }
if printf '%s\n' "$out" | grep -q 'warning:'; then
	printf '%s\n' "$out"
	echo "bench: warnings above are errors" >&2
	exit 1
fi
REPS=${REPS:-2}
RUNTIME=${RUNTIME:-6}
ONLY=${ONLY:-}
SYSTEMS=${SYSTEMS:-rb c}
sed -e "s/^REPS=.*/REPS=$REPS/" -e "s/^RUNTIME=.*/RUNTIME=$RUNTIME/" -e "s/^ONLY=.*/ONLY=\"$ONLY\"/" \
	-e "s/^SYSTEMS=.*/SYSTEMS=\"$SYSTEMS\"/" tests/vm/bench.sh >"$OUT/bench.sh"
# A full rep takes about 5 minutes here (both modules, every job); the guest gets that per rep
# and 10 minutes besides before it is killed.
TIMEOUT=$((600 + 400 * REPS))
RBCACHE_MODULE="$PWD/$MOD/rbcache.ko" RBCACHE_RUN_DIR="$PWD/$OUT/vm" RBCACHE_VM_TIMEOUT=$TIMEOUT \
	scripts/vm.sh script "$OUT/bench.sh" | tee "$OUT/raw.txt"
python3 scripts/bench-report.py "$OUT/raw.txt" "$OUT/results.json" "$OUT/latency.png"
