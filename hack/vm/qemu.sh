#!/usr/bin/env bash
# Provides qemu-system-x86_64 for the guest test host without installing it:
# Debian's qemu-system-x86 conflicts with a newer qemu-utils some hosts carry,
# so its packages (and whichever of their libraries the host lacks) are
# fetched with `apt-get download` and unpacked with `dpkg -x` into a private
# directory. Idempotent: a complete unpack is reused.
#
#   hack/vm/qemu.sh            # prints the qemu binary's path
#
# The directory is $CRADLE_VM_CACHE/qemu (default /var/cache/cradle-vm/qemu);
# run qemu through hack/vm/lib.sh's qemu_cmd, which sets LD_LIBRARY_PATH and
# -L (the firmware directory) for it.
set -euo pipefail
cache=${CRADLE_VM_CACHE:-/var/cache/cradle-vm}
dir=$cache/qemu
bin=$dir/usr/bin/qemu-system-x86_64

if [[ -x $bin && -f $dir/.complete ]]; then
  echo "$bin"
  exit 0
fi
# A qemu-system-x86_64 already on PATH from the host's packages is used as is.
if command -v qemu-system-x86_64 >/dev/null 2>&1 && [[ -z ${CRADLE_VM_PRIVATE_QEMU:-} ]]; then
  command -v qemu-system-x86_64
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "qemu.sh: qemu is not unpacked at $dir and unpacking needs root" >&2
  exit 1
fi

rm -rf "$dir"
mkdir -p "$dir/debs"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# The packages to unpack: qemu's own, its firmware, and every package in its
# dependency closure that the host does not have installed.
wanted=(qemu-system-x86 qemu-system-common qemu-system-data seabios ipxe-qemu)
# A fresh host may have no package lists yet.
apt-cache show qemu-system-x86 >/dev/null 2>&1 || apt-get update -q >"$log" 2>&1 || true
mapfile -t closure < <(apt-cache depends --recurse --no-recommends --no-suggests \
  --no-conflicts --no-breaks --no-replaces --no-enhances "${wanted[@]}" \
  | awk '/^[a-z0-9]/ {print $1} /Depends:/ && $2 !~ /^</ {print $2}' | sort -u)
pkgs=()
for p in "${wanted[@]}" "${closure[@]}"; do
  [[ $p == *:* ]] && continue
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    continue
  fi
  # A virtual package has no candidate to download.
  apt-cache show "$p" >/dev/null 2>&1 || continue
  pkgs+=("$p")
done
mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
download() { (cd "$dir/debs" && apt-get download -q "${pkgs[@]}") >"$log" 2>&1; }
# Package lists may be missing or stale on a fresh host: refresh once.
if ! download && ! { apt-get update -q >>"$log" 2>&1 && download; }; then
  cat "$log" >&2
  echo "qemu.sh: apt-get download failed for: ${pkgs[*]}" >&2
  exit 1
fi
for deb in "$dir"/debs/*.deb; do
  dpkg -x "$deb" "$dir"
done
rm -rf "$dir/debs"

# Every library qemu links must now resolve, from the host or the unpack.
missing=$(LD_LIBRARY_PATH=$(find "$dir" -name '*.so*' -printf '%h\n' | sort -u | paste -sd:) \
  ldd "$bin" | grep 'not found' || true)
if [[ -n $missing ]]; then
  echo "qemu.sh: qemu-system-x86_64 still lacks libraries:" >&2
  echo "$missing" >&2
  exit 1
fi
touch "$dir/.complete"
echo "$bin"
