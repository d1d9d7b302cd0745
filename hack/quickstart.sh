#!/usr/bin/env bash
# Quick start: installs the dependencies, then hack/install.sh builds Cradle
# for size (the daemon and lean profiles) and installs cradled, cradlectl, cradle-shim and cradle-oci
# into /usr/local/bin, the cradle-bridge CNI plugin into /opt/cni/bin, a
# default /etc/cradle/config.toml and /etc/crictl.yaml when absent, and
# Cradle's default pod network (loopback + cradle-bridge + portmap,
# 10.88.0.0/16) when /etc/cni/net.d holds no network configuration yet; then
# it runs the daemon in the foreground (CRI socket /run/cradle/cradle.sock).
# No systemd unit: for a node that runs Cradle as a service, use
# `sudo hack/install.sh`. Extra arguments go to cradled;
# `sudo hack/install.sh --uninstall` removes what was installed.
#
#   sudo hack/quickstart.sh [--log-level debug] …
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
  echo "quickstart.sh: run as root (sudo hack/quickstart.sh)" >&2
  exit 1
fi
hack/install-deps.sh
if [[ -d /run/systemd/system ]] && systemctl is-active --quiet cradle.service; then
  echo "quickstart.sh: cradle.service runs already (systemctl status cradle); not starting another cradled" >&2
  exit 1
fi
hack/install.sh --no-systemd
echo "quickstart.sh: starting cradled; try: crictl --runtime-endpoint unix:///run/cradle/cradle.sock version" >&2
exec /usr/local/bin/cradled "$@"
