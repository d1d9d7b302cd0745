#!/usr/bin/env bash
# Boots the guest test host (hack/vm/image.sh's image) under qemu, runs a
# command in it as root once systemd is up, and returns the command's
# stdout, stderr and exit code. The cached image stays clean: the guest
# writes to a throw-away qcow2 overlay.
#
#   sudo hack/vm/run.sh [--timeout SECONDS] [--share DIR]... [--] CMD [ARG]...
#
# --share DIR   shares the host directory DIR into the guest over 9p, at the
#               same path (so paths baked into test binaries resolve), read
#               and write.
# --timeout S   kills qemu after S seconds (default 900); the exit code is
#               then 124.
#
# The command runs under bash in the guest; its output streams back as it
# comes. Timings go to stderr: which accelerator ran (KVM when it can boot
# the kernel here, TCG otherwise; CRADLE_VM_ACCEL=kvm|tcg forces one), the
# time to the first command and the command's own time. No network: the
# guest has no NIC. The guest's console log is kept at $CRADLE_VM_CONSOLE
# when set, and printed when the command never ran.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

timeout_s=900
shares=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --timeout) timeout_s=$2; shift 2 ;;
    --share) shares+=("$(cd "$2" && pwd)"); shift 2 ;;
    --) shift; break ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [[ $# -eq 0 ]]; then
  echo "usage: run.sh [--timeout SECONDS] [--share DIR]... [--] CMD [ARG]..." >&2
  exit 2
fi

image=$("$VM_DIR/image.sh")
vm_qemu_cmd

case ${CRADLE_VM_ACCEL:-auto} in
  kvm) accel=(-accel kvm -cpu host) name=kvm ;;
  tcg) accel=(-accel tcg,thread=multi -cpu max) name=tcg ;;
  auto)
    if vm_kvm_works "$image"; then
      accel=(-accel kvm -cpu host) name=kvm
    else
      accel=(-accel tcg,thread=multi -cpu max) name=tcg
    fi ;;
  *) echo "run.sh: CRADLE_VM_ACCEL must be kvm, tcg or auto" >&2; exit 2 ;;
esac

tmp=$(mktemp -d /tmp/cradle-vm.XXXXXX)
qemu_pid=
cleanup() {
  [[ -n $qemu_pid ]] && kill -9 "$qemu_pid" 2>/dev/null
  if [[ -n ${CRADLE_VM_CONSOLE:-} && -f $tmp/console.log ]]; then
    cp "$tmp/console.log" "$CRADLE_VM_CONSOLE"
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
ctl=$tmp/ctl
mkdir -p "$ctl/out"
: >"$ctl/out/stdout"
: >"$ctl/out/stderr"
printf '%q ' "$@" >"$ctl/cmd"
echo >>"$ctl/cmd"
qemu-img create -q -f qcow2 -F raw -b "$image/root.raw" "$tmp/overlay.qcow2"

share_args=()
: >"$ctl/shares"
for i in "${!shares[@]}"; do
  share_args+=(-virtfs "local,path=${shares[$i]},mount_tag=share$i,security_model=passthrough,id=share$i")
  echo "share$i ${shares[$i]}" >>"$ctl/shares"
done

start=$(date +%s.%N)
"${QEMU[@]}" "${accel[@]}" -M q35 -smp "${CRADLE_VM_CPUS:-$(nproc)}" -m "${CRADLE_VM_MEMORY:-2048}" \
  -nodefaults -display none -nic none -no-reboot \
  -serial "file:$tmp/console.log" \
  -kernel "$image/vmlinuz" -initrd "$image/initrd.img" -append "$(cat "$image/cmdline")" \
  -drive "file=$tmp/overlay.qcow2,if=virtio,format=qcow2,cache=unsafe" \
  -virtfs "local,path=$ctl,mount_tag=cradle-ctl,security_model=passthrough,id=ctl" \
  "${share_args[@]}" </dev/null >"$tmp/qemu.log" 2>&1 &
qemu_pid=$!
echo "run.sh: guest booting under $name (qemu pid $qemu_pid)" >&2

# The command's output, as it comes.
tail -n +1 -F --pid="$qemu_pid" "$ctl/out/stdout" 2>/dev/null &
tail_out=$!
tail -n +1 -F --pid="$qemu_pid" "$ctl/out/stderr" >&2 2>/dev/null &
tail_err=$!

timed_out=0
deadline=$(( $(date +%s) + timeout_s ))
while kill -0 "$qemu_pid" 2>/dev/null; do
  if [[ $(date +%s) -ge $deadline ]]; then
    timed_out=1
    kill -9 "$qemu_pid" 2>/dev/null || true
    break
  fi
  sleep 1
done
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=
wait "$tail_out" "$tail_err" 2>/dev/null || true
end=$(date +%s.%N)

seconds() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", b - a}'; }
if [[ -f $ctl/out/started ]]; then
  started=$(cat "$ctl/out/started")
  # The guest's clock starts from the host's (qemu's RTC); the skew is
  # under a second, which the figures' precision absorbs.
  echo "run.sh: $name: first command $(seconds "$start" "$started")s after qemu started" \
    "(system state: $(cat "$ctl/out/system-state" 2>/dev/null || echo unknown))," \
    "total $(seconds "$start" "$end")s" >&2
fi
if [[ $timed_out -eq 1 ]]; then
  echo "run.sh: timed out after ${timeout_s}s; the console's end:" >&2
  tail -n 40 "$tmp/console.log" >&2 || true
  exit 124
fi
if [[ ! -f $ctl/out/rc ]]; then
  echo "run.sh: the command did not run to its end in the guest; qemu said:" >&2
  cat "$tmp/qemu.log" >&2
  echo "run.sh: the console's end:" >&2
  tail -n 60 "$tmp/console.log" >&2 || true
  exit 125
fi
exit "$(cat "$ctl/out/rc")"
