# Shared by hack/vm/*.sh (sourced, not run): where the cache lives, which
# image a build script's contents name, and how qemu is started.

# The cache of unpacked qemu and built images; outside the tree, rebuildable.
CRADLE_VM_CACHE=${CRADLE_VM_CACHE:-/var/cache/cradle-vm}
VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The image directory for the current image recipe: a hash of the files that
# decide the image's contents, so editing them builds a new image.
vm_image_dir() {
  local key
  key=$(cat "$VM_DIR/image.sh" "$VM_DIR"/guest/* | sha256sum | cut -c1-16)
  echo "$CRADLE_VM_CACHE/image-$key"
}

# Prints the path of qemu-system-x86_64 (unpacking it first if needed).
vm_qemu_bin() {
  "$VM_DIR/qemu.sh"
}

# Sets QEMU to the command that starts qemu-system-x86_64: with the private
# unpack's libraries and firmware (-L) when the binary comes from there.
vm_qemu_cmd() {
  local bin root
  bin=$(vm_qemu_bin) || return 1
  root=${bin%/usr/bin/qemu-system-x86_64}
  if [[ $root == "$CRADLE_VM_CACHE/qemu" ]]; then
    QEMU=(env "LD_LIBRARY_PATH=$(find "$root" -name '*.so*' -printf '%h\n' | sort -u | paste -sd:)"
      "$bin" -L "$root/usr/share/qemu" -L "$root/usr/share/seabios")
  else
    QEMU=("$bin")
  fi
}

# Whether KVM can boot the guest's kernel here. /dev/kvm opening is not
# proof: on some hosts (nested virtualisation) it exists and qemu starts,
# but the kernel never gets going. So the image's kernel is booted under KVM
# with an init that cannot exist, and KVM works if the kernel gets as far as
# looking for it within 10 seconds (a KVM boot takes about one).
vm_kvm_works() {
  local image=$1 out
  [[ -r /dev/kvm && -w /dev/kvm ]] || return 1
  vm_qemu_cmd || return 1
  out=$(timeout -k 5 "${CRADLE_VM_KVM_PROBE_SECONDS:-10}" "${QEMU[@]}" \
    -accel kvm -cpu host -m 512 -nodefaults -display none -nic none -no-reboot \
    -serial stdio -kernel "$image/vmlinuz" \
    -append "console=ttyS0 panic=-1 rdinit=/cradle-kvm-probe" 2>&1 </dev/null) || true
  grep -qE 'Run /cradle-kvm-probe|No working init found|Kernel panic' <<<"$out"
}
