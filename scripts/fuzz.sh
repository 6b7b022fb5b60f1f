#!/usr/bin/env bash
# make fuzz: coverage-guided fuzzing of rbcache's on-disk parsers (src/format) with cargo-fuzz.
#
#   scripts/fuzz.sh [run] [TARGET...]   fuzz each target FUZZ_SECONDS (default 60) seconds
#   scripts/fuzz.sh seed                 (re)write the seeds cut from real images into the corpus
#   scripts/fuzz.sh cmin [TARGET...]     minimise the repository corpus (cargo fuzz cmin)
#   scripts/fuzz.sh list                 the targets
#
# The fuzz crate (tests/fuzz) needs nightly Rust and cargo-fuzz; both are installed when
# missing. The module and tests/host stay on stable: `make check` replays the corpus there.
#
# `run` fuzzes from the repository corpus (tests/fuzz/corpus/T and tests/fuzz/crashes/T, read
# only) and keeps what it finds in build/fuzz/corpus/T; FUZZ_KEEP=1 merges the new coverage
# into the repository corpus afterwards (minimised to the inputs that add an edge). A crash
# stops that target: its input is in build/fuzz/artifacts/T (copy it into tests/fuzz/crashes/T
# with the fix, so that `make check` replays it; cmin never touches that directory). The last
# line is "fuzz: N targets, N executions, N crashes"; exit status 1 if anything crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_KEEP=${FUZZ_KEEP:-0}
FUZZ_DIR=tests/fuzz
OUT=build/fuzz
# Largest input (the length parameters pad structures to up to 64 KiB with zeros).
MAX_LEN=${FUZZ_MAX_LEN:-8192}
CARGO_FUZZ_VERSION=0.13.2

deps() {
	if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
		echo "fuzz: rustup toolchain install nightly"
		rustup toolchain install nightly --profile minimal
	fi
	if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
		echo "fuzz: cargo install cargo-fuzz $CARGO_FUZZ_VERSION"
		cargo install --locked --quiet cargo-fuzz --version "$CARGO_FUZZ_VERSION"
	fi
}

targets() {
	ls "$FUZZ_DIR/fuzz_targets" | sed 's/\.rs$//'
}

# cargo fuzz with the build options every command shares: no sanitizer (src/format is safe
# Rust, and without ASan the fuzzer runs about twice as fast), debug assertions and overflow
# checks on.
cfuzz() {
	local cmd=$1
	shift
	cargo +nightly fuzz "$cmd" --fuzz-dir "$FUZZ_DIR" --sanitizer none --debug-assertions "$@"
}

cmd_seed() {
	local img="$OUT/seed-images" f
	rm -rf "$img"
	mkdir -p "$img/make-bcache" "$img/vm"
	# make-bcache on sparse files: caches of several block and bucket sizes, backing devices.
	for spec in "cache-512-64k -C -w 512 -b 64k" "cache-4k-512k -C -w 4k -b 512k" \
		"cache-2k-1m -C -w 2k -b 1M --discard --cache_replacement_policy=fifo" \
		"bdev -B" "bdev-offset -B -o 64 --writeback"; do
		set -- $spec
		f="$img/make-bcache/$1.img"
		shift
		truncate -s 2G "$f"
		make-bcache "$@" "$f" >/dev/null
	done
	# The VM tests' broken superblocks and the patched copies of the C-written fixture.
	python3 tests/vm/mkimages.py "$img/vm" >/dev/null
	for f in "$img"/vm/*.img; do
		truncate -s 8192 "$f"
	done
	FUZZ_SEED_IMAGES="$PWD/$img" FUZZ_SEED_OUT="$PWD/$FUZZ_DIR/corpus" \
		cargo test --offline --quiet --manifest-path tests/host/Cargo.toml \
		write_fuzz_seeds -- --ignored --nocapture | grep -E '^[a-z_]+: [0-9]+ seeds'
}

cmd_cmin() {
	local t
	for t in "$@"; do
		# -use_counters=0: keep the inputs that add an edge, not every new hit count.
		cfuzz cmin "$t" "$FUZZ_DIR/corpus/$t" -- -max_len="$MAX_LEN" -use_counters=0 2>&1 |
			grep -E 'MERGE-OUTER: [0-9]+ new files' || true
	done
}

cmd_run() {
	local t log runs extra total=0 crashes=0 n=0
	mkdir -p "$OUT"
	for t in "$@"; do
		mkdir -p "$OUT/corpus/$t" "$OUT/artifacts/$t"
		log="$OUT/$t.log"
		echo "== fuzz $t (${FUZZ_SECONDS}s)"
		n=$((n + 1))
		extra=""
		[ -d "$FUZZ_DIR/crashes/$t" ] && extra="$FUZZ_DIR/crashes/$t"
		if cfuzz run "$t" "$OUT/corpus/$t" "$FUZZ_DIR/corpus/$t" $extra -- \
			-max_total_time="$FUZZ_SECONDS" -max_len="$MAX_LEN" \
			-print_final_stats=1 -artifact_prefix="$OUT/artifacts/$t/" >"$log" 2>&1; then
			:
		else
			crashes=$((crashes + 1))
			grep -E 'panicked at|^SUMMARY|Test unit written to' "$log" || tail -n 20 "$log"
		fi
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
		runs=${runs:-0}
		total=$((total + runs))
		echo "$t: $runs executions, $(grep -Eo 'cov: [0-9]+' "$log" | tail -n1) edges," \
			"corpus $(ls "$FUZZ_DIR/corpus/$t" | wc -l) files kept + $(ls "$OUT/corpus/$t" | wc -l) in $OUT"
		if [ "$FUZZ_KEEP" = 1 ]; then
			cp -n "$OUT/corpus/$t"/* "$FUZZ_DIR/corpus/$t/" 2>/dev/null || true
			cmd_cmin "$t"
		fi
	done
	echo "fuzz: $n targets, $total executions, $crashes crashes"
	[ "$crashes" -eq 0 ]
}

cmd=${1:-run}
case $cmd in
run | seed | cmin | list) [ $# -eq 0 ] || shift ;;
*) cmd=run ;;
esac
case $cmd in
list) targets ;;
seed) cmd_seed ;;
cmin) deps; cmd_cmin ${@:-$(targets)} ;;
run) deps; cmd_run ${@:-$(targets)} ;;
esac
