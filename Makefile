# SPDX-License-Identifier: GPL-2.0
#
# rbcache top-level Makefile. Kbuild reads ./Kbuild; this file is for people.
#
#   make              build rbcache.ko against the cached VM kernel (built on first use)
#   make check        host tests, build with warnings as errors + clippy + rustfmt, VM kselftests
#   make check T=gc   the same, VM tests limited to tests/gc.sh (comma-separated list)
#   make demo         boot the VM and show rbcache at work
#   make bench        rbcache against the C bcache.ko, as ratios (build/bench/)
#   make profile      where the guest's CPUs spend a bench job, per function (build/profile/)
#   make torture      the power-cut loop many times, rbcache and C (CYCLES=N; build/torture/)
#   make soak         10 minutes of verified IO under GC, mode switches and detach (SOAK_SECONDS=N)
#   make fuzz         cargo-fuzz every src/format parser, FUZZ_SECONDS each (default 60);
#                     FUZZ_TARGETS=superblock,bset limits it, FUZZ_KEEP=1 keeps new coverage
#   make -s kdir      print the kernel build directory
#   make host-test    host unit tests only
#   make vm-test      VM kselftests only (T= as for check)
#   make fmt          rustfmt the sources

T ?=
export T
FUZZ_TARGETS ?=
comma := ,

.PHONY: all modules kdir check demo bench profile torture soak fuzz host-test vm-test fmt clean

all: modules

modules:
	@scripts/build.sh

kdir:
	@scripts/kernel.sh

check:
	@scripts/check.sh

demo:
	@scripts/vm.sh demo

bench:
	scripts/bench.sh

profile:
	scripts/profile.sh

torture: modules
	scripts/torture.sh

SOAK_SECONDS ?= 600
soak: modules
	RBCACHE_GUEST_ENV="SOAK_SECONDS=$(SOAK_SECONDS)" RBCACHE_VM_TIMEOUT=$$(($(SOAK_SECONDS) + 900)) \
		RBCACHE_RUN_DIR=$(CURDIR)/build/soak scripts/vm.sh script tests/vm/soak.sh
fuzz:
	@scripts/fuzz.sh run $(subst $(comma), ,$(FUZZ_TARGETS))

host-test:
	@cd tests/host && cargo test --offline

vm-test: modules
	@scripts/vm.sh test $(T)

fmt:
	@rustfmt --edition 2021 $$(find src tests/host/src tests/fuzz/src tests/fuzz/fuzz_targets -name '*.rs')

clean:
	@kdir=$$(scripts/kernel.sh --dir 2>/dev/null) && [ -d "$$kdir" ] && \
		$(MAKE) -C "$$kdir" M=$(CURDIR) LLVM=1 clean || true
	@rm -rf build tests/host/target tests/fuzz/target
