#!/usr/bin/env bash
# Build rbcache.ko against the cached kernel, with warnings as errors (Kbuild) and clippy.
# CLIPPY=0 skips clippy.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
KDIR=$(scripts/kernel.sh)
make -s -C "$KDIR" M="$PWD" LLVM=1 CLIPPY="${CLIPPY:-1}" modules
