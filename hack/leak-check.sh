#!/usr/bin/env bash
# Lists what Cradle leaves on a node that should hold no pods any more:
# mounts under its root and state dir (overlay rootfs, namespace pins),
# shim processes, container cgroups under the default parent, and bundle,
# shim and namespace state directories. Exit 1 when anything is found.
#
#   sudo hack/leak-check.sh [ROOT [STATE_DIR [CGROUP_PARENT]]]
#   # defaults: /var/lib/cradle /run/cradle /cradle
set -euo pipefail

root=${1:-/var/lib/cradle}
state=${2:-/run/cradle}
parent=${3:-/cradle}
found=0

report() {
  found=1
  printf '%s\n' "$*"
}

while read -r point; do
  report "mount: $point"
done < <(awk -v r="$root/" -v s="$state/" 'index($5, r) == 1 || index($5, s) == 1 { print $5 }' /proc/self/mountinfo)

# Shims and launchers of this state dir (their command lines name it).
while read -r pid; do
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  [[ $cmdline == *"$state/"* ]] && report "process: $pid $cmdline"
done < <(pgrep -x cradle-shim || true; pgrep -x cradle-oci || true)

for hierarchy in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
  dir=${hierarchy%/}$parent
  [[ -d $dir ]] || continue
  while read -r cg; do
    report "cgroup: $cg"
  done < <(find "$dir" -mindepth 1 -type d 2>/dev/null)
done

for sub in "$root/containers" "$state/shims" "$state/ns"; do
  [[ -d $sub ]] || continue
  while read -r entry; do
    report "state: $entry"
  done < <(find "$sub" -mindepth 1 -maxdepth 1 2>/dev/null)
done

if [[ $found -eq 0 ]]; then
  echo "leak-check: clean ($root, $state, cgroup parent $parent)" >&2
fi
exit $found
