#!/usr/bin/env bash
# make check: host unit tests, the module build (warnings as errors, clippy) and rustfmt, then
# the kselftests in the VM. Ends with one line "N passed, N failed, N skipped"; exits non-zero on
# failure.
# T=name[,name] limits the VM tests.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

passed=0
failed=0
skipped=0
step() { echo "== $*"; }

step "dependencies"
if ! scripts/deps.sh; then
	echo "deps: installation failed"
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi

step "host unit tests (cargo test)"
out=$(cd tests/host && cargo test --offline 2>&1)
rc=$?
echo "$out" | grep -E '^test |test result:|panicked|error' | grep -v ' ok$' || true
p=$(echo "$out" | sed -n 's/^test result: .* \([0-9]\+\) passed; \([0-9]\+\) failed.*/\1/p' | awk '{s+=$1} END {print s+0}')
f=$(echo "$out" | sed -n 's/^test result: .* \([0-9]\+\) passed; \([0-9]\+\) failed.*/\2/p' | awk '{s+=$1} END {print s+0}')
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
	echo "$out" | tail -n 30
	f=1
fi
echo "host: $p passed, $f failed"
passed=$((passed + p))
failed=$((failed + f))

step "rustfmt --check"
if rustfmt --edition 2021 --check $(find src tests/host/src tests/fuzz/src tests/fuzz/fuzz_targets -name '*.rs'); then
	echo "ok   rustfmt clean"
	passed=$((passed + 1))
else
	echo "FAIL rustfmt would change the files above (run make fmt)"
	failed=$((failed + 1))
fi

step "kernel (cached build)"
if ! KDIR=$(scripts/kernel.sh); then
	echo "FAIL kernel build"
	echo "$passed passed, $((failed + 1)) failed, $skipped skipped"
	exit 1
fi
echo "kernel: $KDIR"

step "module build: warnings as errors, CLIPPY=1"
# Rebuild the Rust object so clippy really runs on every check.
rm -f rbcache.ko src/rbcache_main.o
if CLIPPY=1 scripts/build.sh && [ -f rbcache.ko ]; then
	echo "ok   rbcache.ko built clean with clippy"
	passed=$((passed + 1))
else
	echo "FAIL module build"
	echo "$passed passed, $((failed + 1)) failed, $skipped skipped"
	exit 1
fi

# vm_run ARGS...: one scripts/vm.sh run, its "vm: N passed, N failed" line added to the totals.
vm_run() {
	local vmout line p f
	vmout=$(mktemp)
	scripts/vm.sh "$@" 2>&1 | tee "$vmout"
	line=$(grep -E '^vm: [0-9]+ passed, [0-9]+ failed' "$vmout" | tail -n1)
	rm -f "$vmout"
	if [ -z "$line" ]; then
		echo "FAIL VM run ($*) produced no result"
		failed=$((failed + 1))
		return
	fi
	p=$(echo "$line" | sed 's/^vm: \([0-9]*\) passed.*/\1/')
	f=$(echo "$line" | sed 's/^vm: [0-9]* passed, \([0-9]*\) failed.*/\1/')
	s=$(echo "$line" | sed -n 's/^vm: .*, \([0-9]*\) skipped.*/\1/p')
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + ${s:-0}))
}

# Tests named crash_* run in two boots (a power cut between them); the others share one boot.
if [ -n "${T:-}" ]; then
	sel=$(echo "$T" | tr ',' ' ')
else
	sel=$(cd tests && ls -1 *.sh | grep -v '^lib.sh$' | sed 's/\.sh$//')
	# Tests with a line "# vm-opt-in" (long ones) run only when named in T.
	sel=$(for n in $sel; do grep -q '^# vm-opt-in$' "tests/$n.sh" || echo "$n"; done)
fi
plain=$(for n in $sel; do case $n in crash_*) ;; *) echo "$n" ;; esac; done | paste -sd, -)
crash=$(for n in $sel; do case $n in crash_*) echo "$n" ;; esac; done)

step "VM kselftests"
[ -z "$plain" ] || vm_run test "$plain"
for n in $crash; do
	step "VM two-boot test $n (power cut between the boots)"
	vm_run crash "$n"
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
