#!/usr/bin/env bash
# Builds the cradle-oci that ships: statically linked (glibc's libc.a) and
# not position-independent.
#
#   hack/build-launcher.sh [--release]    # -> target/{debug,release}/cradle-oci
#
# Why: the launcher runs once per container operation and lives for
# milliseconds, so its peak RSS is mostly mapped code. A dynamic build maps
# ld.so, libc.so.6 and libgcc_s (about 1.4 MiB of touched pages, plus
# relocation work on every start); a static-pie one still relocates itself.
# Non-PIE gives up ASLR of the launcher's own code only (stack, heap and
# mmap stay randomised); nothing it links resolves users or hosts through
# NSS, so static glibc is safe here.
#
# `cargo rustc` passes the flags to the final binary only: dependencies
# are shared with the ordinary build, and proc-macros (which cannot be
# static) are untouched. A later `cargo build` relinks the dynamic binary
# over this one, so run this last.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=()
[[ ${1:-} == --release ]] && profile=(--release)
cargo rustc "${profile[@]}" -q -p cradle-shim --bin cradle-oci -- \
  -C target-feature=+crt-static -C relocation-model=static
