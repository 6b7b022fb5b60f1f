#!/usr/bin/env bash
# Install every host dependency rbcache needs on a fresh Debian 12 machine.
# Idempotent: a warm machine returns in about a second.
set -euo pipefail

BINDGEN_VERSION=${BINDGEN_VERSION:-0.73.2}
PKGS="clang lld llvm libclang-dev flex bison bc libelf-dev libssl-dev \
qemu-system-x86 busybox-static cpio kmod bcache-tools fio linux-source-6.12 \
xz-utils python3 e2fsprogs dmsetup gcc libc6-dev"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "deps: installing Debian packages:$missing"
	export DEBIAN_FRONTEND=noninteractive
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
	echo "deps: rustup component add rust-src"
	rustup component add rust-src
fi

CARGO_BIN=${CARGO_HOME:-$HOME/.cargo}/bin
if ! "$CARGO_BIN/bindgen" --version 2>/dev/null | grep -q "$BINDGEN_VERSION"; then
	echo "deps: cargo install bindgen-cli $BINDGEN_VERSION (about 3 minutes)"
	cargo install --locked --quiet bindgen-cli --version "$BINDGEN_VERSION"
fi
