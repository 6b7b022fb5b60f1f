#!/usr/bin/env bash
# make bench: rbcache against the C bcache.ko in the same VM boot, on the non-debug benchmark
# kernel (RBCACHE_KERNEL=bench, built and cached like the test kernel). The guest side is
# tests/vm/bench.sh; scripts/bench-report.py turns its numbers into ratios, a JSON results file
# and a PNG plot in build/bench/. REPS and RUNTIME (seconds per job) pass through; ONLY="job ..."
# runs just those jobs and SYSTEMS="rb" just that module (a quick look while developing, not a
# full comparison).
#
# CLOCK=icount runs the guest on QEMU's instruction counter (RBCACHE_VM_ICOUNT, shift
# ICOUNT_SHIFT, default 0: 1 ns per guest instruction) instead of the host's clock: guest code
# then takes the same guest time however slow or busy the host is, so IOPS measure the
# instructions each IO costs plus the devices' latencies (dm-delay's in guest time, the host
# files' in real time), and the run-to-run noise of wall-clock TCG goes. Results go to
# build/bench-icount/ so that both kinds of run can be kept side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
export RBCACHE_KERNEL=bench
KDIR=$(scripts/kernel.sh)
CLOCK=${CLOCK:-wall}
case $CLOCK in
wall) OUT=build/bench ;;
icount)
	OUT=build/bench-icount
	export RBCACHE_VM_ICOUNT=${ICOUNT_SHIFT:-0}
	;;
*) echo "bench: CLOCK is wall or icount, not '$CLOCK'" >&2; exit 2 ;;
esac
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
# Under icount both vCPUs share one host thread: twice that.
TIMEOUT=$((600 + 400 * REPS))
[ "$CLOCK" = wall ] || TIMEOUT=$((TIMEOUT * 2))
echo "BENCH clock $CLOCK${RBCACHE_VM_ICOUNT:+-shift$RBCACHE_VM_ICOUNT}" >"$OUT/raw.txt"
RBCACHE_MODULE="$PWD/$MOD/rbcache.ko" RBCACHE_RUN_DIR="$PWD/$OUT/vm" RBCACHE_VM_TIMEOUT=$TIMEOUT \
	scripts/vm.sh script "$OUT/bench.sh" | tee -a "$OUT/raw.txt"
python3 scripts/bench-report.py "$OUT/raw.txt" "$OUT/results.json" "$OUT/latency.png"
