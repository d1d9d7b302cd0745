#!/usr/bin/env bash
# Quick start: installs the dependencies, builds Cradle in release mode,
# installs cradled, cradle-shim and cradle-oci into /usr/local/bin and the
# cradle-bridge CNI plugin into /opt/cni/bin, gives the node Cradle's default
# pod network (loopback + cradle-bridge + portmap, 10.88.0.0/16) when
# /etc/cni/net.d holds no network configuration yet, and runs the daemon in
# the foreground with its built-in defaults (CRI socket
# /run/cradle/cradle.sock). Extra arguments go to cradled.
#
#   sudo hack/quickstart.sh [--log-level debug] …
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
  echo "quickstart.sh: run as root (sudo hack/quickstart.sh)" >&2
  exit 1
fi
hack/install-deps.sh
cargo build --release -p cradle-daemon -p cradle-cni
hack/build-static.sh # cradle-oci and cradle-shim, static and size-optimised
for bin in cradled cradlectl; do
  install -m 0755 "target/release/$bin" "/usr/local/bin/$bin"
done
for bin in cradle-shim cradle-oci; do
  install -m 0755 "target/lean/$bin" "/usr/local/bin/$bin"
done
install -D -m 0755 target/release/cradle-bridge /opt/cni/bin/cradle-bridge

# An operator's own network configuration always wins; ours is only the default.
mkdir -p /etc/cni/net.d
if ! compgen -G '/etc/cni/net.d/*.conf*' >/dev/null && ! compgen -G '/etc/cni/net.d/*.json' >/dev/null; then
  install -m 0644 cni/conf/10-cradle.conflist /etc/cni/net.d/10-cradle.conflist
  echo "quickstart.sh: installed the default pod network /etc/cni/net.d/10-cradle.conflist" >&2
fi
echo "quickstart.sh: starting cradled; try: crictl --runtime-endpoint unix:///run/cradle/cradle.sock version" >&2
exec /usr/local/bin/cradled "$@"
