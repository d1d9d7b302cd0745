#!/usr/bin/env bash
# Builds the per-container binaries that ship, cradle-oci and cradle-shim,
# with the `lean` profile (size-optimised, fat LTO, panic=abort), linked
# statically against glibc's libc.a and not position-independent:
#
#   hack/build-static.sh    # -> target/lean/cradle-oci, target/lean/cradle-shim
#
# Why: cradle-oci runs once per container operation and lives for
# milliseconds, and one cradle-shim lives as long as each container, so
# their peak RSS is mostly mapped code. A dynamic build maps ld.so,
# libc.so.6 and libgcc_s (about 1.4 MiB of touched pages, plus relocation
# work at every start); a static-pie one still relocates itself; code size
# does the rest (hack/bench measures it). Non-PIE gives up ASLR of the
# binaries' own code only (stack, heap and mmap stay randomised); nothing
# they link resolves users or hosts through NSS, so static glibc is safe.
#
# `cargo rustc` passes the flags to the final binary only: proc-macros
# (which cannot be static) are untouched. The `lean` profile's own target
# directory keeps these builds apart from `cargo build`'s.
set -euo pipefail
cd "$(dirname "$0")/.."

for bin in cradle-oci cradle-shim; do
  cargo rustc --profile lean -q -p cradle-shim --bin "$bin" -- \
    -C target-feature=+crt-static -C relocation-model=static
done
