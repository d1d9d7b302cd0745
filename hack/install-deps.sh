#!/usr/bin/env bash
# Installs the system packages Cradle's build, daemon and tests need.
# Idempotent: only missing packages are installed, and the package index is
# refreshed at most once per run. Quiet unless something fails. Run as root.
set -euo pipefail

PACKAGES=(
  protobuf-compiler          # protoc, for the CRI bindings (proto/build.rs)
  runc                       # the "runc" runtime handler
  crun                       # the "crun" runtime handler (tests/tests/runtime_handlers_e2e.rs runs each installed one)
  containerd                 # tests/tests/containerd_compat.rs: cradle-oci as containerd's runc
  docker-registry            # the local registry of the end-to-end tests
  skopeo                     # pushes the test image into it
  busybox-static             # the test image's only binary
  iproute2                   # ip, for netns and link inspection
  containernetworking-plugins # CNI plugins (bridge, host-local, loopback…)
  util-linux                 # unshare, nsenter, mount
  curl                       # registry readiness probe
  iptables                   # masquerade and hostPort rules of the default pod network
  python3                    # JSON in hack/build-test-image.sh
  python3-pip                # websocket-client and grpcio, the tests' Python clients
  golang-go golang-github-docker-spdystream-dev # the streaming tests' SPDY client (tests/clients/spdy)
  golang-github-gorilla-websocket-dev # …which also tunnels SPDY through a WebSocket, as client-go does
  strace                     # oci-shim/tests/oci_entry.rs: what cradle-oci does before its main
  dbus-daemon                # oci-shim cgroups::systemd: a private bus for the fake systemd the driver is tested against
  apparmor                   # apparmor_parser: cradled's default profile passes its syntax check (platform/apparmor.rs)
  debootstrap                # hack/vm/image.sh: the guest test host's image (issue 14)
  shellcheck                 # tests/tests/install_script.rs lints hack/install.sh and quickstart.sh
  gzip tar coreutils
)

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps.sh: must run as root" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# python3 may come from elsewhere (pyenv); only the command matters.
if command -v python3 >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do [[ $p == python3 ]] || filtered+=("$p"); done
  missing=("${filtered[@]}")
fi

# The tests' Python clients, from PyPI: websocket-client for the streaming
# tests (tests/clients/ws_client.py), grpcio for a grpc C-core CRI client
# (tests/clients/grpc_version.py).
install_python_clients() {
  local module package
  for pair in websocket:websocket-client grpc:grpcio; do
    module=${pair%%:*} package=${pair#*:}
    if ! python3 -c "import $module" 2>/dev/null; then
      python3 -m pip install -q "$package" 2>/dev/null \
        || python3 -m pip install -q --break-system-packages "$package"
    fi
  done
}

# qemu for the guest test host (hack/vm/), unpacked privately rather than
# installed: Debian's qemu-system-x86 can conflict with the host's qemu-utils.
provide_qemu() {
  "$(dirname "$0")/vm/qemu.sh" >/dev/null \
    || echo "install-deps.sh: no qemu for the guest suite; hack/vm/test.sh will say so" >&2
}

if [[ ${#missing[@]} -eq 0 ]]; then
  install_python_clients
  provide_qemu
  exit 0
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-deps.sh: failed to install: ${missing[*]}" >&2
  exit 1
fi
install_python_clients
provide_qemu
