#!/usr/bin/env bash
# Builds the guest image of the test host: Debian bookworm by debootstrap,
# systemd as init, cgroup v2 unified, AppArmor enabled, linux-image-amd64
# booted directly (-kernel/-initrd) with an initramfs that has virtio, ext4
# and 9p. The image lives in $CRADLE_VM_CACHE (default /var/cache/cradle-vm)
# under a hash of this script and hack/vm/guest/, so a second run reuses it
# and editing the recipe builds a new one. Prints the image directory:
#   vmlinuz  initrd.img  root.raw  cmdline
#
#   sudo hack/vm/image.sh            # build if missing, print the directory
#   sudo hack/vm/image.sh --rebuild  # build again even if cached
#
# The mirror is the host's own Debian mirror (from its apt sources), or
# $CRADLE_VM_MIRROR.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

rebuild=0
[[ ${1:-} == --rebuild ]] && rebuild=1

dir=$(vm_image_dir)
if [[ $rebuild -eq 0 && -f $dir/.complete ]]; then
  echo "$dir"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "image.sh: building the guest image needs root" >&2
  exit 1
fi
command -v debootstrap >/dev/null || {
  echo "image.sh: debootstrap is missing (run hack/install-deps.sh)" >&2
  exit 1
}

# The Debian mirror the host's apt uses for bookworm (one-line or deb822).
host_mirror() {
  local f uri
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    uri=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' "$f")
    [[ -n $uri ]] && { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    uri=$(awk 'BEGIN {RS = ""; FS = "\n"}
      {
        uris = ""; bookworm = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, " "); uris = u[1] }
          if ($i ~ /^Suites:/ && $i ~ /[ \t]bookworm([ \t]|$)/) bookworm = 1
        }
        if (bookworm && uris != "") { print uris; exit }
      }' "$f")
    [[ -n $uri ]] && { echo "$uri"; return; }
  done
  echo http://deb.debian.org/debian
}
mirror=${CRADLE_VM_MIRROR:-$(host_mirror)}

# What the in-guest tests use: systemd and D-Bus (the systemd cgroup
# driver), AppArmor (its parser loads profiles), iproute2, util-linux,
# busybox-static (test images), the CNI plugins, runc and iptables; the
# end-to-end harness's loopback registry (docker-registry, skopeo, curl) and
# python3 for hack/build-test-image.sh.
packages=(
  systemd systemd-sysv udev dbus kmod procps
  apparmor iproute2 iptables util-linux busybox-static
  containernetworking-plugins runc e2fsprogs initramfs-tools
  docker-registry skopeo curl python3 ca-certificates
)
# The initramfs needs these to reach the root disk and the shares.
modules=(virtio virtio_pci virtio_ring virtio_blk virtio_net ext4 9p 9pnet 9pnet_virtio)
cmdline="root=/dev/vda rw console=ttyS0 panic=-1 systemd.unified_cgroup_hierarchy=1 apparmor=1 security=apparmor systemd.show_status=0 loglevel=4"

work=$dir.build
rm -rf "$work"
mkdir -p "$work"
root=$work/root
log=$work/build.log
trap 'echo "image.sh: failed; the log is $log" >&2' ERR

start=$(date +%s)
echo "image.sh: debootstrap bookworm from $mirror" >&2
debootstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
  bookworm "$root" "$mirror" >>"$log" 2>&1

# The kernel, installed after the initramfs' module list is in place.
printf '%s\n' "${modules[@]}" >>"$root/etc/initramfs-tools/modules"
unshare --mount --fork bash -euo pipefail -c '
  root=$1
  mount -t proc proc "$root/proc"
  mount -t sysfs sys "$root/sys"
  mount --bind /dev "$root/dev"
  DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -q \
    --no-install-recommends linux-image-amd64
' _ "$root" >>"$log" 2>&1

# The system: root on the virtio disk, a quiet journal, no getty on the
# serial console (it would fight the console the host logs), nothing timed
# to run at boot but the runner.
echo cradle-guest >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 cradle-guest\n' >"$root/etc/hosts"
echo '/dev/vda / ext4 rw,relatime 0 1' >"$root/etc/fstab"
mkdir -p "$root/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' >"$root/etc/systemd/journald.conf.d/volatile.conf"
for unit in serial-getty@ttyS0.service getty@tty1.service console-getty.service \
  getty.target apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
  e2scrub_reap.service fstrim.timer systemd-timesyncd.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
install -m 0755 "$VM_DIR/guest/cradle-runner" "$root/usr/local/sbin/cradle-runner"
install -m 0644 "$VM_DIR/guest/cradle-runner.service" "$root/etc/systemd/system/cradle-runner.service"
chroot "$root" systemctl enable cradle-runner.service >>"$log" 2>&1
chroot "$root" systemctl set-default multi-user.target >>"$log" 2>&1

# The kernel and initramfs are booted directly, from outside the disk.
cp "$(readlink -f "$root/vmlinuz")" "$work/vmlinuz"
cp "$(readlink -f "$root/initrd.img")" "$work/initrd.img"
echo "$cmdline" >"$work/cmdline"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*_Packages

# An ext4 filesystem filled from the directory, without a loop device.
mkfs.ext4 -q -F -L cradle-root -d "$root" "$work/root.raw" 4G >>"$log" 2>&1
rm -rf "$root"
date +%s >"$work/.complete"
echo "$(( $(date +%s) - start ))" >"$work/build-seconds"

# The new image replaces any other built from an older recipe.
for old in "$CRADLE_VM_CACHE"/image-*; do
  [[ $old == "$dir" || $old == "$work" ]] && continue
  [[ -d $old ]] && rm -rf "$old"
done
rm -rf "$dir"
mv "$work" "$dir"
echo "image.sh: built $dir in $(cat "$dir/build-seconds")s" >&2
echo "$dir"
