#!/usr/bin/env bash
# Build (once) the Rust-enabled 6.12 VM kernel and print its build directory.
#
# The build lives outside the repo in $RBCACHE_CACHE (default ~/.cache/rbcache), in a
# directory keyed by the kernel version, the config fragment, and the rustc, bindgen and
# clang versions. A warm machine finds the stamp and returns at once.
#
#   scripts/kernel.sh          build if needed, print the build dir on stdout
#   scripts/kernel.sh --key    print the cache key only
#   scripts/kernel.sh --dir    print the build directory without building
#
# RBCACHE_KERNEL=bench selects the benchmark kernel instead: the same fragment without its
# debugging part (everything from CONFIG_DEBUG_KERNEL on, and Rust's debug assertions and
# overflow checks), since lockdep, KASAN and kmemleak distort timing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
CACHE=${RBCACHE_CACHE:-$HOME/.cache/rbcache}
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
TARBALL=/usr/src/linux-source-6.12.tar.xz
FRAG=$here/kernel.config
PREFIX=build
if [ "${RBCACHE_KERNEL:-test}" = bench ]; then
	mkdir -p "$CACHE"
	sed -e '/^CONFIG_DEBUG_KERNEL=/,$d' -e '/^CONFIG_RUST_DEBUG_ASSERTIONS=/d' \
		-e '/^CONFIG_RUST_OVERFLOW_CHECKS=/d' "$here/kernel.config" >"$CACHE/bench.config.tmp"
	printf '%s\n' '# CONFIG_RUST_DEBUG_ASSERTIONS is not set' '# CONFIG_RUST_OVERFLOW_CHECKS is not set' \
		>>"$CACHE/bench.config.tmp"
	mv "$CACHE/bench.config.tmp" "$CACHE/bench.config"
	FRAG=$CACHE/bench.config
	PREFIX=bench
fi

log() { echo "kernel: $*" >&2; }

key() {
	local kver rustv bgv clangv fraghash
	kver=$(dpkg-query -W -f='${Version}' linux-source-6.12)
	rustv=$(rustc --version | awk '{print $2}')
	bgv=$(bindgen --version | awk '{print $2}')
	clangv=$(clang --version | head -n1 | sed 's/.*version \([0-9.]*\).*/\1/')
	fraghash=$(sha256sum "$FRAG" | cut -c1-12)
	echo "k${kver}-r${rustv}-b${bgv}-c${clangv}-f${fraghash}" | tr -c 'A-Za-z0-9.\n-' '_'
}

if [ "${1:-}" = "--key" ]; then
	key
	exit 0
fi

if [ "${1:-}" = "--dir" ]; then
	echo "$CACHE/$PREFIX-$(key)"
	exit 0
fi

"$here/deps.sh" >&2
KEY=$(key)
SRC=$CACHE/src-$(dpkg-query -W -f='${Version}' linux-source-6.12 | tr -c 'A-Za-z0-9.\n-' '_')
OUT=$CACHE/$PREFIX-$KEY
mkdir -p "$CACHE"

if [ -f "$OUT/.rbcache-done" ]; then
	echo "$OUT"
	exit 0
fi

exec 9>"$CACHE/.lock"
flock 9
if [ -f "$OUT/.rbcache-done" ]; then
	echo "$OUT"
	exit 0
fi

if [ ! -f "$SRC/.rbcache-unpacked" ]; then
	log "unpacking $TARBALL into $SRC"
	rm -rf "$SRC" "$SRC.tmp"
	mkdir -p "$SRC.tmp"
	tar -xf "$TARBALL" -C "$SRC.tmp" --strip-components=1
	mv "$SRC.tmp" "$SRC"
	touch "$SRC/.rbcache-unpacked"
fi

M="make -C $SRC O=$OUT LLVM=1 -j$(nproc)"
mkdir -p "$OUT"
log "configuring $OUT"
$M -s rustavailable >&2
$M -s tinyconfig >&2
"$SRC/scripts/kconfig/merge_config.sh" -m -O "$OUT" "$OUT/.config" "$FRAG" >/dev/null
$M -s olddefconfig >&2

# merge_config silently drops options whose dependencies are missing: check each one.
bad=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*)
		grep -qxF "$line" "$OUT/.config" || { log "option did not stick: $line"; bad=1; } ;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }; opt=${opt%% *}
		if grep -q "^$opt=" "$OUT/.config"; then log "option not unset: $opt"; bad=1; fi ;;
	esac
done <"$FRAG"
[ "$bad" -eq 0 ] || { log "config fragment did not apply"; exit 1; }

log "building bzImage and modules (about 16 minutes on 2 cores when cold)"
start=$(date +%s)
$M -s bzImage modules >&2
log "built in $(($(date +%s) - start)) s"
touch "$OUT/.rbcache-done"
echo "$OUT"
