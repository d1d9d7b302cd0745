#!/usr/bin/env bash
# Quick start: installs the dependencies, builds Cradle in release mode,
# installs cradled, cradle-shim and cradle-oci into /usr/local/bin and runs
# the daemon in the foreground with its built-in defaults
# (CRI socket /run/cradle/cradle.sock). Extra arguments go to cradled.
#
#   sudo hack/quickstart.sh [--log-level debug] …
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
  echo "quickstart.sh: run as root (sudo hack/quickstart.sh)" >&2
  exit 1
fi
hack/install-deps.sh
cargo build --release -p cradle-daemon -p cradle-shim
for bin in cradled cradle-shim cradle-oci; do
  install -m 0755 "target/release/$bin" "/usr/local/bin/$bin"
done
echo "quickstart.sh: starting cradled; try: crictl --runtime-endpoint unix:///run/cradle/cradle.sock version" >&2
exec /usr/local/bin/cradled "$@"
