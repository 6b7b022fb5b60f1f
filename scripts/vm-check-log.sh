#!/usr/bin/env bash
# Judge a finished VM run in directory $1 (mode $2: test or demo): count the KTAP results of
# ttyS1 and scan the guest kernel log for splats. Last line: "vm: N passed, N failed".
set -uo pipefail
RUN=$1
mode=${2:-test}
ktap=$RUN/ktap.clean
cons=$RUN/console.clean
tr -d '\r' <"$RUN/ktap.log" >"$ktap" 2>/dev/null || : >"$ktap"
tr -d '\r' <"$RUN/console.log" >"$cons" 2>/dev/null || : >"$cons"

passed=0
failed=0
skipped=0
# Checks of tests that run only the C module ("# vm-only-c: yes"): reported apart.
only_c=0

if [ "$mode" = test ]; then
	while read -r name; do
		block=$(awk -v n="$name" '
			$0 == "# selftests: rbcache: " n { on = 1; next }
			on && /^(not )?ok [0-9]+ selftests: rbcache: / { print "OUTER " $0; exit }
			on { print }' "$ktap")
		inner_ok=$(printf '%s\n' "$block" | grep -cE '^# ok [0-9]+' | tr -d ' ')
		inner_skip=$(printf '%s\n' "$block" | grep -cE '^# ok [0-9]+ .*# SKIP' | tr -d ' ')
		# Known failures of the C module where it runs for comparison: neither passed nor failed.
		inner_xfail=$(printf '%s\n' "$block" | grep -cE '^# ok [0-9]+ .*# XFAIL' | tr -d ' ')
		inner_fail=$(printf '%s\n' "$block" | grep -cE '^# not ok [0-9]+' | tr -d ' ')
		outer=$(printf '%s\n' "$block" | sed -n 's/^OUTER //p')
		# The plan: every planned check must have run.
		plan=$(printf '%s\n' "$block" | sed -n 's/^# 1\.\.\([0-9]*\)$/\1/p' | tail -n1)
		ran=$((inner_ok + inner_fail))
		if [ -n "$outer" ] && [ -n "$plan" ] && [ "$plan" -ne "$ran" ]; then
			echo "FAIL $name: planned $plan checks, ran $ran"
			failed=$((failed + 1))
		fi
		if grep -q '^# vm-only-c: yes' "$RUN/overlay/tests/$name.sh" 2>/dev/null; then
			only_c=$((only_c + inner_ok - inner_skip - inner_xfail))
			inner_ok=$((inner_skip + inner_xfail))
		fi
		passed=$((passed + inner_ok - inner_skip - inner_xfail))
		skipped=$((skipped + inner_skip + inner_xfail))
		failed=$((failed + inner_fail))
		case "$outer" in
		"ok "*)
			echo "ok   $name ($((inner_ok - inner_skip - inner_xfail)) passed, $inner_skip skipped$(
				[ "$inner_xfail" -eq 0 ] || echo ", $inner_xfail known C failure"))"
			printf '%s\n' "$block" | grep -E '^# ok [0-9]+ .*# XFAIL' | sed 's/^/     | /'
			;;
		*)
			[ "$inner_fail" -gt 0 ] || failed=$((failed + 1))
			if [ -z "$outer" ]; then
				echo "FAIL $name: did not finish (guest crash or timeout)"
			else
				echo "FAIL $name: $outer"
			fi
			printf '%s\n' "$block" | grep -v '^OUTER ' | sed 's/^/     | /' | tail -n 60
			;;
		esac
	done <"$RUN/overlay/tests.list"
fi

# The boots of a power-cut test that ended in their cut (scripts/vm.sh crash): their checks
# count too. Each must have asked for its cut.
for f in "$RUN"/ktap.cut*.log; do
	[ -f "$f" ] || continue
	b=$(basename "$f" .log)
	c=$(tr -d '\r' <"$f")
	p=$(printf '%s\n' "$c" | grep -cE '^# ok [0-9]+' | tr -d ' ')
	s=$(printf '%s\n' "$c" | grep -cE '^# ok [0-9]+ .*# (SKIP|XFAIL)' | tr -d ' ')
	x=$(printf '%s\n' "$c" | grep -cE '^# not ok [0-9]+' | tr -d ' ')
	passed=$((passed + p - s))
	skipped=$((skipped + s))
	failed=$((failed + x))
	if ! printf '%s\n' "$c" | grep -q 'RBCACHE-POWER-CUT'; then
		echo "FAIL ${b#ktap.}: the boot ended before its power cut"
		failed=$((failed + 1))
	elif [ "$x" -gt 0 ]; then
		echo "FAIL ${b#ktap.}: $x check(s) failed before the cut"
		printf '%s\n' "$c" | grep -v '^RBCACHE' | sed 's/^/     | /' | tail -n 40
	else
		echo "ok   ${b#ktap.}: $((p - s)) check(s) passed before the cut"
	fi
done

if ! grep -q '^RBCACHE-VM-DONE' "$ktap"; then
	echo "FAIL guest did not reach the end of its run (crash, panic or timeout); console tail:"
	tail -n 40 "$cons" | sed 's/^/     | /'
	failed=$((failed + 1))
fi

# Splats: anything here fails the run, whatever the tests said. One thing is expected: while a
# test forces allocations to fail (between its kernel log lines "rbcache-test: forced allocation
# failures on" and "... off"), the allocator reports a failed vmalloc or page allocation of a
# caller that did not ask for silence (warn_alloc: a "vmalloc error:" or "page allocation
# failure:" line, then a stack). The "Call Trace:" line of such a report, within 6 lines of it,
# is not a splat; every other line is scanned as usual.
pat=$(cat "$(dirname "$0")/splat.pattern")
awk '
	/rbcache-test: forced allocation failures on/ { win = 1 }
	/rbcache-test: forced allocation failures off/ { win = 0 }
	win && /(vmalloc error: |page allocation failure: )/ { report = 6 }
	report > 0 && /Call Trace:/ { report = 0; forced++; print "(stack of a forced allocation failure)"; next }
	{ if (report > 0) report--; print }
	END { print forced + 0 >"/dev/stderr" }' "$cons" >"$RUN/console.scan" 2>"$RUN/forced.count"
forced=$(cat "$RUN/forced.count" 2>/dev/null || echo 0)
if grep -nE "$pat" "$RUN/console.scan" >"$RUN/splats.txt"; then
	echo "FAIL guest kernel log has $(wc -l <"$RUN/splats.txt") problem line(s); first report:"
	first=$(head -n1 "$RUN/splats.txt" | cut -d: -f1)
	sed -n "$((first > 5 ? first - 5 : 1)),$((first + 60))p" "$cons" | sed 's/^/     | /'
	echo "     (full guest log: $RUN/console.log)"
	failed=$((failed + 1))
else
	echo "ok   guest kernel log clean (no BUG/WARNING/Oops/KASAN/lockdep/hung task/leak)$(
		[ "$forced" = 0 ] || echo "; $forced report(s) of allocation failures the tests forced")"
	passed=$((passed + 1))
fi

[ "$only_c" -eq 0 ] || echo "     ($only_c checks of the C module alone passed: not counted as rbcache's)"
echo "vm: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
