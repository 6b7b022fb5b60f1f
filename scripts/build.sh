#!/usr/bin/env bash
# Build rbcache.ko against the cached kernel, with warnings as errors (Kbuild) and clippy.
# CLIPPY=0 skips clippy.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
KDIR=$(scripts/kernel.sh)
# objtool only warns; an objtool warning (a panic path it cannot follow, say) is an error here.
out=$(make -s -C "$KDIR" M="$PWD" LLVM=1 CLIPPY="${CLIPPY:-1}" modules 2>&1) || {
	printf '%s\n' "$out"
	exit 1
}
printf '%s\n' "$out"
if printf '%s\n' "$out" | grep -q 'warning:'; then
	echo "build: warnings above are errors" >&2
	exit 1
fi
