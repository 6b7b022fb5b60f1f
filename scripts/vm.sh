#!/usr/bin/env bash
# Boot the VM kernel under QEMU (TCG) and run the kselftests in tests/, or the demo.
#
#   scripts/vm.sh test [name[,name...]]   run tests/<name>.sh (default: every test in tests/ but
#                                         those with a line "# vm-opt-in", which run only by name)
#   scripts/vm.sh demo                    run tests/vm/demo.sh
#   scripts/vm.sh script FILE             run one guest script (for tools such as fixture makers);
#                                         the disks stay in build/vm/disk*.img afterwards
#   scripts/vm.sh crash NAME              run tests/NAME.sh in two boots on the same disks: with
#                                         PHASE=1 (it ends by resetting the machine: a power
#                                         cut), then with PHASE=2, which reports the results
#
# Each run gets fresh sparse disk images (virtio disks vda..vdd; and vde when a test run asks for
# a big disk with a line "# vm-big-disk-mb: N" in its script), an initramfs made of a cached
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
cp "$MODULE" "$RUN/overlay/modules/rbcache.ko"
cp "$KDIR/drivers/md/bcache/bcache.ko" "$RUN/overlay/modules/"
cp "$KDIR/drivers/block/null_blk/null_blk.ko" "$RUN/overlay/modules/" 2>/dev/null || true
python3 tests/vm/mkimages.py "$RUN/overlay/images"

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
(cd "$RUN/overlay" && find . | cpio -o -H newc --quiet) >"$RUN/overlay.cpio"
cat "$BASE" "$RUN/overlay.cpio" >"$RUN/initrd.cpio"

# One more sparse disk, /dev/vde, of the largest size a selected script asks for (a line
# "# vm-big-disk-mb: N"): the other disks, and so the other tests, stay as they are. Sparse, it
# costs the host only what the guest writes to it.
BIG_MB=0
for f in ${files[@]+"${files[@]}"}; do
	mb=$(sed -n 's/^# vm-big-disk-mb: *\([0-9][0-9]*\)$/\1/p' "$f" | head -n 1)
	[ -z "$mb" ] || [ "$mb" -le "$BIG_MB" ] || BIG_MB=$mb
done
drives=()
for i in $(seq 0 $((NDISKS - 1))); do
	truncate -s "${DISK_MB}M" "$RUN/disk$i.img"
	drives+=(-drive "file=$RUN/disk$i.img,if=virtio,format=raw,cache=unsafe")
done
if [ "$BIG_MB" -gt 0 ]; then
	truncate -s "${BIG_MB}M" "$RUN/big.img"
	drives+=(-drive "file=$RUN/big.img,if=virtio,format=raw,cache=unsafe")
fi

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
	local fresh=$1 attempt i boot_lines
	for attempt in 1 2 3; do
		if [ "$fresh" = 1 ]; then
			for i in $(seq 0 $((NDISKS - 1))); do
				rm -f "$RUN/disk$i.img"
				truncate -s "${DISK_MB}M" "$RUN/disk$i.img"
			done
			if [ "$BIG_MB" -gt 0 ]; then
				rm -f "$RUN/big.img"
				truncate -s "${BIG_MB}M" "$RUN/big.img"
			fi
		fi
		log "booting $(basename "$KDIR") under TCG${RBCACHE_VM_ICOUNT:+ with icount shift=$RBCACHE_VM_ICOUNT} (timeout ${timeout_s}s)"
		start=$(date +%s)
		set +e
		timeout --foreground -k 10 "$timeout_s" qemu-system-x86_64 \
			-machine pc -cpu max -smp 2 -m 2048 "${accel[@]}" \
			-kernel "$KDIR/arch/x86/boot/bzImage" -initrd "$RUN/initrd.cpio" \
			-append "console=ttyS0 loglevel=7 panic=-1 oops=panic kmemleak=on tsc=reliable no5lvl rdinit=/init" \
			-display none -monitor "$monitor" -no-reboot \
			-serial "file:$RUN/console.log" -serial "file:$RUN/ktap.log" \
			"${drives[@]}" </dev/null
		qrc=$?
		set -e
		log "guest finished in $(($(date +%s) - start)) s (qemu rc $qrc)"
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
	boot 1
	mv "$RUN/console.log" "$RUN/console.phase1.log"
	mv "$RUN/ktap.log" "$RUN/ktap.phase1.log"
	echo 2 >"$RUN/overlay/phase"
	(cd "$RUN/overlay" && find . | cpio -o -H newc --quiet) >"$RUN/overlay.cpio"
	cat "$BASE" "$RUN/overlay.cpio" >"$RUN/initrd.cpio"
	boot 0
	# Judge both boots' kernel logs; the results come from the second.
	cat "$RUN/console.phase1.log" "$RUN/console.log" >"$RUN/console.both.log"
	mv "$RUN/console.both.log" "$RUN/console.log"
	exec scripts/vm-check-log.sh "$RUN" test
fi
boot 1

if [ "$mode" = demo ]; then
	sed -n 's/^# \{0,1\}//p' "$RUN/ktap.log"
	exec scripts/vm-check-log.sh "$RUN" demo
fi
[ "$mode" = script ] && sed -n 's/^# \{0,1\}//p' "$RUN/ktap.log"
exec scripts/vm-check-log.sh "$RUN" test
