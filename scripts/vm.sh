#!/usr/bin/env bash
# Boot the VM kernel under QEMU (TCG) and run the kselftests in tests/, or the demo.
#
#   scripts/vm.sh test [name[,name...]]   run tests/<name>.sh (default: every test in tests/ but
#                                         those with a line "# vm-opt-in", which run only by name)
#   scripts/vm.sh demo                    run tests/vm/demo.sh
#   scripts/vm.sh script FILE             run one guest script (for tools such as fixture makers);
#                                         the disks stay in build/vm/disk*.img afterwards
#   scripts/vm.sh crash NAME [CYCLES]     run tests/NAME.sh in CYCLES+1 boots on the same disks
#                                         (CYCLES: the test's "# vm-cycles: N" line, else 1, or
#                                         $CYCLES): boots 1..CYCLES run with PHASE=1..CYCLES and
#                                         end in a power cut, the last one (PHASE=CYCLES+1,
#                                         LAST=1) reports the results
#
# Power cuts are real: in crash mode every disk is served by scripts/pdisk.py, an NBD server
# whose volatile write cache keeps only what was flushed or FUA (and a random subset of the
# rest) when QEMU dies. The guest asks for the cut by printing RBCACHE-POWER-CUT on ttyS1
# (lib.sh's power_cut); the host then kills QEMU with SIGKILL, so nothing is flushed on the
# way out. ttyS2 is the guest's record of acknowledged writes (tests/vm/stamp): it survives
# the cut, and every later boot gets all of it as /acks. pdisk's numbers per disk and boot
# are in $RUN/pdisk.jsonl.
#
# Each run gets fresh sparse disk images (virtio disks vda..vdd; and vde when a test run asks for
# a big disk with a line "# vm-big-disk-mb: N" in its script; then one disk per generated
# fixture a script asks for with "# vm-fixture: bigset N [SEED]", see below), an initramfs made of a cached
# base (busybox-static and the host tools the tests need, with their libraries) plus this run's
# tests and modules, and two serial ports: ttyS0 is the guest console (the kernel log),
# ttyS1 carries the tests' KTAP. The run fails on any failed test, a crash or timeout, or any
# BUG/WARNING/Oops/KASAN/lockdep/hung-task/soft-lockup/kmemleak report in the guest log.
# The last line of output is "vm: N passed, N failed".
#
# Environment: RBCACHE_KERNEL=bench boots the benchmark kernel (scripts/kernel.sh);
# RBCACHE_MODULE is the rbcache.ko to load (default ./rbcache.ko); RBCACHE_VM_TIMEOUT overrides
# the guest timeout in seconds for `script`; RBCACHE_QEMU_MONITOR=PATH puts QEMU's monitor on
# that unix socket (scripts/profile.sh samples the guest's instruction pointers through it);
# RBCACHE_VM_ICOUNT=N runs the guest on QEMU's instruction counter (`-icount shift=N`, one
# round-robin TCG thread for both vCPUs): guest time then advances 2^N ns per instruction
# executed, and in real time only while both vCPUs idle (`sleep=on`), so a slow or busy host
# no longer changes how long guest code takes in guest time (`make bench CLOCK=icount`).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mode=${1:-test}
sel=${2:-}
CACHE=${RBCACHE_CACHE:-$HOME/.cache/rbcache}
KDIR=$(scripts/kernel.sh)
RUN=${RBCACHE_RUN_DIR:-$root/build/vm}
TOOLS="make-bcache bcache-super-show fio mke2fs e2fsck dmsetup"
NDISKS=4
DISK_MB=64

log() { echo "vm: $*" >&2; }

MODULE=${RBCACHE_MODULE:-$root/rbcache.ko}
[ -n "${RBCACHE_MODULE:-}" ] || [ -f rbcache.ko ] || scripts/build.sh

# --- Base initramfs (cached): busybox and the tools with their shared libraries. ---
base_key=$( (cat "$0"; for t in $TOOLS busybox; do p=$(command -v "$t"); echo "$p"; stat -c '%s %Y' "$p"; done) | sha256sum | cut -c1-16)
BASE=$CACHE/initramfs-base-$base_key.cpio
if [ ! -f "$BASE" ]; then
	log "building base initramfs $BASE"
	stage=$(mktemp -d)
	mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,root,lib64}
	cp /bin/busybox "$stage/bin/busybox"
	for applet in $("$stage/bin/busybox" --list); do
		[ "$applet" = busybox ] && continue
		[ -e "$stage/bin/$applet" ] || ln -s busybox "$stage/bin/$applet"
	done
	for t in $TOOLS; do
		p=$(command -v "$t")
		mkdir -p "$stage$(dirname "$p")"
		cp -L "$p" "$stage$p"
		for lib in $(ldd "$p" | awk '/=>/ { print $3 } /^\t\// { print $1 }'); do
			[ -f "$lib" ] || continue
			mkdir -p "$stage$(dirname "$lib")"
			cp -Ln "$lib" "$stage$lib" 2>/dev/null || true
		done
	done
	# Debian's merged /usr: /lib -> usr/lib keeps the loader path valid.
	if [ -d "$stage/usr/lib" ] && [ ! -e "$stage/lib" ]; then ln -s usr/lib "$stage/lib"; fi
	(cd "$stage" && find . | cpio -o -H newc --quiet) >"$BASE.tmp"
	mv "$BASE.tmp" "$BASE"
	rm -rf "$stage"
fi

# --- This run's overlay: tests, modules, images. ---
rm -rf "$RUN"
mkdir -p "$RUN/overlay/tests" "$RUN/overlay/modules" "$RUN/overlay/images"
cp tests/*.sh tests/settings "$RUN/overlay/tests/"
cp tests/vm/init "$RUN/overlay/init"
chmod +x "$RUN/overlay/init" "$RUN"/overlay/tests/*.sh
mkdir -p "$RUN/overlay/usr/bin"
gcc -O2 -Wall -Werror -static -o "$RUN/overlay/usr/bin/stamp" tests/vm/stamp.c
cp "$MODULE" "$RUN/overlay/modules/rbcache.ko"
cp "$KDIR/drivers/md/bcache/bcache.ko" "$RUN/overlay/modules/"
cp "$KDIR/drivers/block/null_blk/null_blk.ko" "$RUN/overlay/modules/" 2>/dev/null || true
python3 tests/vm/mkimages.py "$RUN/overlay/images"
# RBCACHE_GUEST_ENV="NAME=VALUE ...": exported to the guest's tests (scripts/torture.sh sets SYS=c).
[ -z "${RBCACHE_GUEST_ENV:-}" ] || echo "$RBCACHE_GUEST_ENV" >"$RUN/overlay/env"

timeout_s=0
files=()
if [ "$mode" = demo ]; then
	cp tests/vm/demo.sh "$RUN/overlay/tests/demo.sh"
	echo "demo" >"$RUN/overlay/tests.list"
	timeout_s=300
elif [ "$mode" = crash ]; then
	cp "tests/$sel.sh" "$RUN/overlay/tests/$sel.sh"
	files+=("tests/$sel.sh")
	echo "$sel" >"$RUN/overlay/tests.list"
	echo 1 >"$RUN/overlay/phase"
	cycles=${3:-${CYCLES:-$(sed -n 's/^# vm-cycles: *\([0-9]*\).*/\1/p' "tests/$sel.sh")}}
	cycles=${cycles:-1}
	echo "$cycles" >"$RUN/overlay/cycles"
	: >"$RUN/overlay/acks"
	timeout_s=$(sed -n 's/^timeout=//p' tests/settings)
elif [ "$mode" = script ]; then
	name=$(basename "$sel" .sh)
	cp "$sel" "$RUN/overlay/tests/$name.sh"
	files+=("$sel")
	echo "$name" >"$RUN/overlay/tests.list"
	timeout_s=${RBCACHE_VM_TIMEOUT:-$(sed -n 's/^timeout=//p' tests/settings)}
	if [ -n "${RBCACHE_VM_TIMEOUT:-}" ]; then
		sed -i "s/^timeout=.*/timeout=$RBCACHE_VM_TIMEOUT/" "$RUN/overlay/tests/settings"
	fi
else
	if [ -n "$sel" ]; then
		names=$(echo "$sel" | tr ',' ' ')
	else
		names=$(cd tests && ls -1 *.sh | grep -v -e '^lib.sh$' -e '^crash_' | sed 's/\.sh$//')
		names=$(for n in $names; do grep -q '^# vm-opt-in$' "tests/$n.sh" || echo "$n"; done)
	fi
	: >"$RUN/overlay/tests.list"
	per=$(sed -n 's/^timeout=//p' tests/settings)
	for n in $names; do
		[ -f "tests/$n.sh" ] || { log "no such test: tests/$n.sh"; exit 2; }
		echo "$n" >>"$RUN/overlay/tests.list"
		files+=("tests/$n.sh")
		# A test may need longer than tests/settings gives: "# vm-timeout: SECONDS".
		t=$(sed -n 's/^# vm-timeout: *\([0-9][0-9]*\)$/\1/p' "tests/$n.sh" | head -n 1)
		timeout_s=$((timeout_s + ${t:-$per}))
	done
fi
timeout_s=$((timeout_s + 120))
# Hostile-metadata images (a line "# vm-images: hostile", tests/hostile.sh): one small generated
# set and one patch per mutation, from tests/vm/mkhostile.py, in /images/hostile.
for f in ${files[@]+"${files[@]}"}; do
	grep -q '^# vm-images: hostile$' "$f" || continue
	python3 tests/vm/mkhostile.py "$RUN/overlay/images/hostile" || { log "mkhostile.py failed"; exit 2; }
	break
done
(cd "$RUN/overlay" && find . | cpio -o -H newc --quiet) >"$RUN/overlay.cpio"
cat "$BASE" "$RUN/overlay.cpio" >"$RUN/initrd.cpio"

# A test may size its disks: "# vm-disks-mb: 64 256 64 64" (vda first).
disk_mb=()
sizes=""
[ "$mode" = crash ] && sizes=$(sed -n 's/^# vm-disks-mb: *//p' "tests/$sel.sh")
for i in $(seq 0 $((NDISKS - 1))); do
	mb=$(echo "$sizes" | awk -v i=$((i + 1)) '{ print $i }')
	disk_mb+=("${mb:-$DISK_MB}")
done
new_disks() {
	local i
	for i in $(seq 0 $((NDISKS - 1))); do
		rm -f "$RUN/disk$i.img"
		truncate -s "${disk_mb[$i]}M" "$RUN/disk$i.img"
	done
}
new_disks
# One more sparse disk, /dev/vde, of the largest size a selected script asks for (a line
# "# vm-big-disk-mb: N"): the other disks, and so the other tests, stay as they are. Sparse, it
# costs the host only what the guest writes to it.
BIG_MB=0
for f in ${files[@]+"${files[@]}"}; do
	mb=$(sed -n 's/^# vm-big-disk-mb: *\([0-9][0-9]*\)$/\1/p' "$f" | head -n 1)
	[ -z "$mb" ] || [ "$mb" -le "$BIG_MB" ] || BIG_MB=$mb
done
# Generated fixtures: a script line "# vm-fixture: bigset N [SEED [OPTION...]]" asks for a clean
# cache set of N extents from tests/vm/mkbigset.py (OPTIONs passed on: --nbuckets B, say) as one
# more disk (after vde when there is a big disk).
# The image is generated once and cached in $CACHE, keyed by a hash of the generator and its
# arguments, and read-only (see the drives below: the guest's writes go to a qcow2 overlay). The guest finds the disk and the generator's numbers (md5, extents, ...)
# in /images/fixtures/bigset-N-SEED.info, with a line "dev /dev/vdX".
fixture_specs=$(for f in ${files[@]+"${files[@]}"}; do sed -n 's/^# vm-fixture: *//p' "$f"; done | awk '!seen[$0]++')
fixture_img() {
	local kind=$1 n=$2 seed=${3:-1} key img
	shift 3
	[ "$kind" = bigset ] || { log "unknown fixture kind '$kind'"; return 1; }
	key=$( (cat tests/vm/mkbigset.py; echo "$n $seed $*") | sha256sum | cut -c1-16)
	img=$CACHE/fixture-$kind-$n-$seed-$key.img
	if [ ! -f "$img" ]; then
		rm -f "$CACHE/fixture-$kind-$n-$seed-"*
		log "generating fixture $kind $n $seed ($img)"
		t=$(date +%s)
		python3 tests/vm/mkbigset.py "$n" "$seed" "$img.tmp" "$@" >/dev/null || return 1
		mv "$img.tmp.info" "$img.info"
		chmod a-w "$img.tmp"
		mv "$img.tmp" "$img"
		log "fixture generated in $(($(date +%s) - t)) s"
	fi
	echo "$img"
}
fixture_imgs=()
fixture_letter=$((NDISKS + 1))
[ "$BIG_MB" -eq 0 ] || fixture_letter=$((fixture_letter + 1))
if [ -n "$fixture_specs" ]; then
	mkdir -p "$RUN/overlay/images/fixtures"
	while read -r kind n seed opts; do
		# shellcheck disable=SC2086 # the options are words
		img=$(fixture_img "$kind" "$n" "${seed:-1}" $opts) ||
			{ log "fixture '$kind $n $seed $opts' failed"; exit 2; }
		fixture_imgs+=("$img")
		info=$RUN/overlay/images/fixtures/$kind-$n-${seed:-1}.info
		cp "$img.info" "$info"
		echo "dev /dev/vd$(printf "\\$(printf %o $((96 + fixture_letter)))")" >>"$info"
		fixture_letter=$((fixture_letter + 1))
	done <<<"$fixture_specs"
	(cd "$RUN/overlay" && find . | cpio -o -H newc --quiet) >"$RUN/overlay.cpio"
	cat "$BASE" "$RUN/overlay.cpio" >"$RUN/initrd.cpio"
fi
drives=()
for i in $(seq 0 $((NDISKS - 1))); do
	if [ "$mode" = crash ]; then
		drives+=(-blockdev "driver=nbd,node-name=pd$i,server.type=unix,server.path=$RUN/pd$i.sock,export=pd"
			-device "virtio-blk-pci,drive=pd$i,write-cache=on")
	else
		drives+=(-drive "file=$RUN/disk$i.img,if=virtio,format=raw,cache=unsafe")
	fi
done
if [ "$BIG_MB" -gt 0 ]; then
	truncate -s "${BIG_MB}M" "$RUN/big.img"
	drives+=(-drive "file=$RUN/big.img,if=virtio,format=raw,cache=unsafe")
fi
# snapshot=on: QEMU opens the cached image read-only and sends the guest's writes to a
# temporary qcow2 overlay of its own, created in $TMPDIR (the run directory, see boot) and
# gone when QEMU exits; every boot starts from the cached image again.
for img in ${fixture_imgs[@]+"${fixture_imgs[@]}"}; do
	drives+=(-drive "file=$img,if=virtio,format=raw,cache=unsafe,snapshot=on")
done
# pdisk_start BOOT: one power-loss NBD server per disk (crash mode), seeded from $PDISK_SEED.
PDISK_SEED=${PDISK_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
pdisk_pids=()
pdisk_start() {
	local i
	pdisk_pids=()
	for i in $(seq 0 $((NDISKS - 1))); do
		rm -f "$RUN/pd$i.sock"
		python3 scripts/pdisk.py --socket "$RUN/pd$i.sock" --image "$RUN/disk$i.img" \
			--seed $((PDISK_SEED + 100 * $1 + i)) --stats "$RUN/pdisk.jsonl" \
			--name "boot$1 vd$(printf "\\$(printf %o $((97 + i)))")" &
		pdisk_pids+=($!)
	done
	for i in $(seq 0 $((NDISKS - 1))); do
		wait_sock "$RUN/pd$i.sock" || { log "pdisk $i did not start"; return 1; }
	done
}
wait_sock() {
	local n=0
	while [ ! -S "$1" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
	[ -S "$1" ]
}

# A kernel report while the guest boots, before the first test loads rbcache, is not ours:
# an early-boot flake of the debug kernel under TCG (seen: a KASAN wild-memory-access in
# handle_edge_irq during identify_cpu, at a 5-level-paging direct-map address; three boots in
# a row on one host). `-cpu max` offers LA57, so the guest runs with 4-level paging
# (`no5lvl`), the configuration KASAN is most used with. A boot that still reports something
# before the first test is shown and retried, at most twice; anything later counts.
# boot FRESH: boots the VM once (plus retries); FRESH=1 gives it new empty disks.
splat_pat=$(cat scripts/splat.pattern)
monitor=none
[ -z "${RBCACHE_QEMU_MONITOR:-}" ] || monitor="unix:$RBCACHE_QEMU_MONITOR,server,nowait"
accel=(-accel tcg,thread=multi)
if [ -n "${RBCACHE_VM_ICOUNT:-}" ]; then
	case $RBCACHE_VM_ICOUNT in
	[0-9]) ;;
	*) log "RBCACHE_VM_ICOUNT must be a shift from 0 to 9, not '$RBCACHE_VM_ICOUNT'"; exit 2 ;;
	esac
	accel=(-accel tcg,thread=single -icount "shift=$RBCACHE_VM_ICOUNT,align=off,sleep=on")
fi
boot() {
	local fresh=$1 attempt i boot_lines qpid cut
	for attempt in 1 2 3; do
		[ "$fresh" = 1 ] && new_disks
		[ "$mode" != crash ] || pdisk_start "${2:-1}"
		if [ "$fresh" = 1 ] && [ "$BIG_MB" -gt 0 ]; then
			rm -f "$RUN/big.img"
			truncate -s "${BIG_MB}M" "$RUN/big.img"
		fi
		log "booting $(basename "$KDIR") under TCG${RBCACHE_VM_ICOUNT:+ with icount shift=$RBCACHE_VM_ICOUNT} (timeout ${timeout_s}s)"
		start=$(date +%s)
		: >"$RUN/ktap.log"
		TMPDIR=$RUN qemu-system-x86_64 \
			-machine pc -cpu max -smp 2 -m 2048 "${accel[@]}" \
			-kernel "$KDIR/arch/x86/boot/bzImage" -initrd "$RUN/initrd.cpio" \
			-append "console=ttyS0 loglevel=7 panic=-1 oops=panic kmemleak=on tsc=reliable no5lvl rdinit=/init" \
			-display none -monitor "$monitor" -no-reboot \
			-serial "file:$RUN/console.log" -serial "file:$RUN/ktap.log" \
			-serial "file:$RUN/acks.log" \
			"${drives[@]}" </dev/null &
		qpid=$!
		# The guest's power-cut request, the timeout, or its own end.
		cut=0
		while kill -0 "$qpid" 2>/dev/null; do
			if [ "$mode" = crash ] && grep -q 'RBCACHE-POWER-CUT' "$RUN/ktap.log"; then
				kill -9 "$qpid" 2>/dev/null
				cut=1
				break
			fi
			if [ $(($(date +%s) - start)) -ge "$timeout_s" ]; then
				log "timeout after ${timeout_s}s: killing the guest"
				kill -9 "$qpid" 2>/dev/null
				break
			fi
			sleep 0.05
		done
		set +e
		wait "$qpid"
		qrc=$?
		set -e
		for i in "${pdisk_pids[@]}"; do wait "$i" || log "pdisk $i failed"; done
		pdisk_pids=()
		log "guest finished in $(($(date +%s) - start)) s (qemu rc $qrc$([ "$cut" = 0 ] || echo ", power cut"))"
		boot_lines=$(tr -d '\r' <"$RUN/console.log" | grep -n 'rbcache-vm: running' | head -n1 | cut -d: -f1)
		[ -n "$boot_lines" ] || return 0
		if head -n "$boot_lines" "$RUN/console.log" | tr -d '\r' | grep -qE "$splat_pat"; then
			log "kernel report during boot, before any test (attempt $attempt); the boot log:"
			head -n "$boot_lines" "$RUN/console.log" | tr -d '\r' | grep -E -A 12 "$splat_pat" | head -n 40 >&2
			# Only the first boot of a run may start over: later ones continue on used disks.
			if [ "$attempt" -lt 3 ] && [ "$fresh" = 1 ]; then
				log "retrying the boot"
				continue
			fi
		fi
		return 0
	done
}

if [ "$mode" = crash ]; then
	# Boots 1..cycles end in a power cut. Every kernel log is judged, and so are the checks each
	# cut boot made before its cut (vm-check-log.sh reads ktap.cut*.log) and the last boot's.
	: >"$RUN/console.all.log"
	: >"$RUN/pdisk.jsonl"
	log "power-loss disks seeded from PDISK_SEED=$PDISK_SEED; $cycles cut(s)"
	for k in $(seq 1 $((cycles + 1))); do
		echo "$k" >"$RUN/overlay/phase"
		[ "$k" -le "$cycles" ] || echo 1 >"$RUN/overlay/last"
		(cd "$RUN/overlay" && find . | cpio -o -H newc --quiet) >"$RUN/overlay.cpio"
		cat "$BASE" "$RUN/overlay.cpio" >"$RUN/initrd.cpio"
		: >"$RUN/acks.log"
		boot "$([ "$k" = 1 ] && echo 1 || echo 0)" "$k"
		cat "$RUN/console.log" >>"$RUN/console.all.log"
		[ "$k" -gt "$cycles" ] || cp "$RUN/ktap.log" "$RUN/ktap.cut$k.log"
		tr -d '\r' <"$RUN/acks.log" | grep '^A ' >>"$RUN/overlay/acks" || true
		if [ "$k" -le "$cycles" ] && ! grep -q 'RBCACHE-POWER-CUT' "$RUN/ktap.log"; then
			log "boot $k ended without its power cut; its output:"
			tr -d '\r' <"$RUN/ktap.log" | tail -n 30 >&2
			break
		fi
	done
	log "acknowledged writes recorded: $(wc -l <"$RUN/overlay/acks")"
	mv "$RUN/console.all.log" "$RUN/console.log"
	exec scripts/vm-check-log.sh "$RUN" test
fi
boot 1

if [ "$mode" = demo ]; then
	sed -n 's/^# \{0,1\}//p' "$RUN/ktap.log"
	exec scripts/vm-check-log.sh "$RUN" demo
fi
[ "$mode" = script ] && sed -n 's/^# \{0,1\}//p' "$RUN/ktap.log"
exec scripts/vm-check-log.sh "$RUN" test
