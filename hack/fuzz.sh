#!/usr/bin/env bash
# Builds the cargo-fuzz targets in fuzz/ and runs each for a bounded time,
# then prints the executions per target and any crash (docs/fuzzing.md).
#
#   hack/fuzz.sh                      # every target, 30 s each
#   FUZZ_SECONDS=300 hack/fuzz.sh spdy_frames websocket_channel
#
# Environment: FUZZ_SECONDS (per target, default 30); FUZZ_SANITIZER
# (address, the default, or none: faster, catches panics and hangs only);
# FUZZ_JOBS is not offered: unpack_layer uses one fixed sandbox directory.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); only a stable toolchain is
# required: RUSTC_BOOTSTRAP=1 lets it accept cargo-fuzz's -Z flags. Run as
# root, or unpack_layer refuses most entries (mknod, chown) and explores little.
#
# New inputs go to fuzz/work/<target>/ (ignored by git), seeded from the
# committed fuzz/corpus/<target>/; crashes to fuzz/artifacts/<target>/.
# Exits 1 if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${FUZZ_SECONDS:-30}"
sanitizer="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo-fuzz is not installed: cargo install cargo-fuzz" >&2
  exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "fuzz.sh: not root: unpack_layer will refuse devices and ownership and explore little" >&2
fi

if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

echo "== building ${#targets[@]} targets (sanitizer: $sanitizer)" >&2
# One build for all: the targets share every dependency.
cargo fuzz build -O -s "$sanitizer" >&2

bin_dir="target/$(rustc -vV | sed -n 's/^host: //p')/release"
logs="$PWD/work/logs"
mkdir -p "$logs"
status=0
results=()
for target in "${targets[@]}"; do
  work="work/$target"
  mkdir -p "$work" "artifacts/$target"
  echo "== $target: ${seconds}s" >&2
  log="$logs/$target.log"
  rc=0
  # The binary itself, not `cargo fuzz run`, which would rebuild whatever
  # changed in the tree since the build above, on the target's clock.
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_odr_violation=0}" "$bin_dir/$target" \
    -artifact_prefix="artifacts/$target/" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
    "$work" "corpus/$target" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [[ $rc -eq 0 ]]; then
    outcome="ok"
  else
    status=1
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    outcome="CRASH ${artifact:-see $log}"
  fi
  results+=("$(printf '%-18s %12s %8s  %s' "$target" "${execs:-?}" "${rate:-?}" "$outcome")")
done

printf '\n%-18s %12s %8s  %s\n' target executions exec/s result
printf '%s\n' "${results[@]}"
echo "(logs in fuzz/work/logs/, ${seconds}s per target, sanitizer $sanitizer)"
exit "$status"
