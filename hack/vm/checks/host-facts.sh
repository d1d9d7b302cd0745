#!/usr/bin/env bash
# Runs inside the guest: proves it is the host issue 14 asks for, so the
# tests after it run where they mean to. Each fact prints
# "test host_facts::<name> ... ok" or "... FAILED" (libtest's format, which
# hack/vm/test.sh counts); exits non-zero if any fact fails.
set -uo pipefail
failed=0
check() {
  local name=$1
  shift
  local out
  if out=$("$@" 2>&1); then
    echo "test host_facts::$name ... ok"
  else
    echo "test host_facts::$name ... FAILED"
    [[ -n $out ]] && sed 's/^/    /' <<<"$out"
    failed=1
  fi
}

cgroup2_at_root() {
  local fstype
  fstype=$(stat -f -c %T /sys/fs/cgroup)
  [[ $fstype == cgroup2fs ]] || { echo "/sys/fs/cgroup is $fstype, not cgroup2fs"; return 1; }
  # No v1 hierarchy anywhere: the unified mode, not hybrid.
  if grep -qE ' - cgroup ' /proc/self/mountinfo; then
    echo "a cgroup v1 hierarchy is mounted:"; grep -E ' - cgroup ' /proc/self/mountinfo; return 1
  fi
}

controllers_available() {
  local have want missing=()
  have=" $(cat /sys/fs/cgroup/cgroup.controllers) "
  for want in cpu cpuset memory io pids hugetlb; do
    [[ $have == *" $want "* ]] || missing+=("$want")
  done
  [[ ${#missing[@]} -eq 0 ]] || { echo "missing controllers: ${missing[*]} (have:$have)"; return 1; }
  # The root's cgroup.subtree_control is not checked: systemd enables cpu
  # and io there only for units that account them, and enabling what a
  # container's parents need is Cradle's job, which the tests after this
  # one check.
}

systemd_is_pid1_and_running() {
  local comm state
  comm=$(cat /proc/1/comm)
  [[ $comm == systemd ]] || { echo "pid 1 is $comm"; return 1; }
  state=$(systemctl is-system-running)
  # degraded: running, with some unit failed; still a running systemd.
  [[ $state == running || $state == degraded ]] || { echo "system state: $state"; return 1; }
  [[ -S /run/dbus/system_bus_socket ]] || { echo "no system D-Bus socket"; return 1; }
  busctl --system call org.freedesktop.systemd1 /org/freedesktop/systemd1 \
    org.freedesktop.DBus.Peer Ping >/dev/null
}

apparmor_is_enabled() {
  local enabled
  enabled=$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)
  [[ $enabled == Y ]] || { echo "/sys/module/apparmor/parameters/enabled: ${enabled:-absent}"; return 1; }
  grep -qw apparmor /sys/kernel/security/lsm || { echo "lsm: $(cat /sys/kernel/security/lsm)"; return 1; }
  # Profiles can be loaded (Cradle loads its RuntimeDefault one with it).
  command -v apparmor_parser >/dev/null || { echo "apparmor_parser is missing"; return 1; }
  [[ -w /sys/kernel/security/apparmor/.load ]] || { echo "AppArmor's .load is not writable"; return 1; }
}

check cgroup2_is_mounted_at_sys_fs_cgroup cgroup2_at_root
check cgroup2_offers_cpu_cpuset_memory_io_pids_hugetlb controllers_available
check systemd_is_pid1_and_running systemd_is_pid1_and_running
check apparmor_is_enabled apparmor_is_enabled
exit $failed
