#!/usr/bin/env bash
# make torture: the power-cut loop, many times over (tests/crash_torture.sh, on the power-loss
# disks of scripts/pdisk.py): CYCLES cuts in writeback mode and CYCLES on a flash volume under
# rbcache, then the same under the C bcache.ko as the anchor (SYSTEMS="rb c" by default).
# Prints, per run: cuts, acknowledged writes logged, acknowledged blocks checked, blocks lost
# or holding foreign data, unflushed writes the disks dropped; and a summary in
# build/torture/summary.txt. Exits non-zero if rbcache lost anything (the C module's losses
# are recorded, not failed).
#
#   make torture [CYCLES=N] [VARIANTS="wb flash"] [SYSTEMS="rb c"] [PDISK_SEED=N]
#
# One cut takes about a minute under TCG with the debug kernel: the default, CYCLES=4 per
# variant and system, takes about 20 minutes.
set -uo pipefail
cd "$(dirname "$0")/.."
CYCLES=${CYCLES:-4}
VARIANTS=${VARIANTS:-wb flash}
SYSTEMS=${SYSTEMS:-rb c}
OUT=build/torture
mkdir -p "$OUT"
: >"$OUT/summary.txt"
rc=0
for sys in $SYSTEMS; do
	for v in $VARIANTS; do
		name=crash_torture
		[ "$v" = flash ] && name=crash_torture_flash
		run=$OUT/$sys-$v
		echo "== torture: $sys, $v, $CYCLES cut(s)"
		RBCACHE_RUN_DIR=$run RBCACHE_GUEST_ENV="SYS=$sys" CYCLES=$CYCLES \
			scripts/vm.sh crash "$name" >"$OUT/$sys-$v.log" 2>&1
		r=$?
		tail -n 25 "$OUT/$sys-$v.log"
		acks=$(cat "$run/overlay/acks" 2>/dev/null | wc -l)
		summary=$(cat "$run"/ktap.cut*.log "$run/ktap.log" 2>/dev/null | tr -d '\r' |
			sed -n 's/^# *checked \([0-9]*\) acked blocks.*: \([0-9]*\) lost, \([0-9]*\) foreign.*/\1 \2 \3/p' |
			awk '{ c += $1; n++; if ($2 > l) l = $2; if ($3 > f) f = $3 } END { printf "%d verifications, %d acked blocks checked, %d lost, %d foreign (most in one verification)", n, c, l, f }')
		dropped=$(python3 -c 'import json,sys
d=[json.loads(l) for l in open(sys.argv[1])]
print(sum(x.get("unflushed_lost",0) for x in d), sum(x.get("unflushed_kept",0) for x in d))' "$run/pdisk.jsonl" 2>/dev/null)
		line="$sys $v: $CYCLES cuts, $acks acknowledged writes logged, $summary; unflushed writes dropped/kept by the disks: ${dropped:-?} (rc $r)"
		echo "$line" | tee -a "$OUT/summary.txt"
		if [ "$sys" = rb ] && [ "$r" -ne 0 ]; then rc=1; fi
	done
done
cat "$OUT/summary.txt"
exit $rc
