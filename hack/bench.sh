#!/usr/bin/env bash
# Cradle vs containerd, cradle-oci vs runc vs crun, side by side in one run.
#
#   hack/bench.sh [--quick] [--json DIR]
#
# Builds release binaries; starts a loopback registry holding busybox, a
# pause image and a >= 200 MiB multi-layer image (hack/bench-image.sh);
# starts cradled and Debian's containerd (apt-get installs containerd and
# crun when missing), each on its own temp root/state/socket, both with the
# same CNI conflist; runs `cradle-bench cri`, `pull` (cold: RemoveImage
# first, checked on the runtime's root), `density` and `concurrency`
# against both sockets and `cradle-bench oci` for cradle-oci, runc and
# crun, without and with cradled's RuntimeDefault seccomp profile (launcher
# RSS through the cradle-bench-rss trampoline built beside cradle-bench:
# hack/bench/README.md); prints the reports and one side-by-side table with
# the goals of issue 17; stops and removes everything on exit. Nothing
# leaves loopback. Root only. Env: ITER (pod iterations, 30), CONC
# (parallel pods for the concurrent run, 4), PULLS (3), OCI_ITER (50),
# LAYERS (8), LAYER_MIB (26), DENSITY_LEVELS (running pods, 10,100,500),
# DENSITY_CALLS (calls per list/stats rpc and level, 200), CHURN (pods/s
# started and removed beside them, 1), CONC_LEVELS (parallel clients,
# 1,8,32), CONC_PODS (pods per client, 10), PARTS (any of
# cri,pull,oci,density,concurrency; all), RUNTIMES ("cradled containerd"),
# PORT (registry, 5099), BIN_DIR (use the cradled, cradle-shim, cradle-oci,
# cradle-bench and cradle-bench-rss found there instead of building release
# ones).
set -euo pipefail

quick=0
json_dir=
while [[ $# -gt 0 ]]; do
  case $1 in
  --quick) quick=1 ;;
  --json) json_dir=$2; shift ;;
  *) echo "usage: $0 [--quick] [--json DIR]" >&2; exit 2 ;;
  esac
  shift
done
if [[ $(id -u) -ne 0 ]]; then
  echo "bench.sh: must run as root" >&2
  exit 1
fi
ITER=${ITER:-30}
CONC=${CONC:-4}
PULLS=${PULLS:-3}
OCI_ITER=${OCI_ITER:-50}
LAYERS=${LAYERS:-8}
LAYER_MIB=${LAYER_MIB:-26}
PORT=${PORT:-5099}
PARTS=${PARTS:-cri,pull,oci,density,concurrency}
RUNTIMES=${RUNTIMES:-cradled containerd}
if [[ $quick == 1 ]]; then
  ITER=5 CONC=2 PULLS=1 OCI_ITER=5 LAYERS=2 LAYER_MIB=4
  DENSITY_LEVELS=${DENSITY_LEVELS:-10,20} DENSITY_CALLS=${DENSITY_CALLS:-20}
  CONC_LEVELS=${CONC_LEVELS:-1,4} CONC_PODS=${CONC_PODS:-3}
fi
DENSITY_LEVELS=${DENSITY_LEVELS:-10,100,500}
DENSITY_CALLS=${DENSITY_CALLS:-200}
CHURN=${CHURN:-1}
CONC_LEVELS=${CONC_LEVELS:-1,8,32}
CONC_PODS=${CONC_PODS:-10}
part() { [[ ,$PARTS, == *,$1,* ]]; }
runs() { [[ " $RUNTIMES " == *" $1 "* ]]; }
# Hundreds of pods: shims, logs and sockets for both daemons.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
rel=${BIN_DIR:-$repo/target/release}
lean=${BIN_DIR:-$repo/target/lean} # cradle-oci and cradle-shim as they ship
daemon=${BIN_DIR:-$repo/target/daemon} # cradled as it ships (the daemon profile)
log() { echo "== $*" >&2; }

# --- extra packages, only for the benchmark ---------------------------------
need=()
command -v containerd >/dev/null || need+=(containerd)
command -v crun >/dev/null || need+=(crun)
if [[ ${#need[@]} -gt 0 ]]; then
  log "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
fi

if [[ -z ${BIN_DIR:-} ]]; then
  log "building release binaries"
  (cd "$repo" && cargo build --release -q -p cradle-bench)
  # cradled as hack/install.sh installs it: built for size, with unwinding.
  (cd "$repo" && cargo build --profile daemon -q -p cradle-daemon --bin cradled)
  # The RSS trampoline of `cradle-bench oci`, relinked static and non-PIE:
  # its forked child's pre-exec peak is the floor under every launcher RSS
  # figure (about 0.3 MiB this way, 0.45 MiB as the dynamic PIE that
  # `cargo build` links).
  (cd "$repo" && cargo rustc --release -q -p cradle-bench --bin cradle-bench-rss -- \
    -C target-feature=+crt-static -C relocation-model=static)
  # cradle-oci and cradle-shim as they ship (static, lean), as the quick
  # start installs them.
  "$repo/hack/build-static.sh"
fi
for b in $daemon/cradled $rel/cradle-bench $lean/cradle-shim $lean/cradle-oci; do
  [[ -x $b ]] || { echo "bench.sh: $b missing" >&2; exit 1; }
done
bench=$rel/cradle-bench

# Short base path: cradled's shim sockets live under it (108-byte limit).
base=$(mktemp -d /tmp/cb-XXXXXX)
cradled_pid=
containerd_pid=
bridge=cbr$(($$ % 100000)) # the bench network's bridge (NET=bridge)
cleanup() {
  set +e
  for pid in $cradled_pid $containerd_pid; do
    kill "$pid" 2>/dev/null
  done
  for pid in $cradled_pid $containerd_pid; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  done
  # Shims of either runtime that outlived their pods (none if all went well).
  for pid in $(pgrep -f "$base/" 2>/dev/null); do
    [[ $pid != "$$" ]] && kill -9 "$pid" 2>/dev/null
  done
  "$here/registry.sh" stop "$base/reg" >/dev/null 2>&1
  ip link del "$bridge" 2>/dev/null
  # Leftover mounts under the base, deepest first.
  awk -v b="$base/" 'index($2, b) == 1 {print $2}' /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$base"
}
trap cleanup EXIT INT TERM

# --- registry and images ----------------------------------------------------
reg=127.0.0.1:$PORT
log "registry on $reg, images"
"$here/registry.sh" start "$base/reg" "$PORT"
"$here/build-test-image.sh" "$base/img-busybox" >/dev/null
"$here/push-test-image.sh" "$base/img-busybox" "$reg" busybox:latest
"$here/bench-image.sh" pause "$base/img-pause" >/dev/null
"$here/push-test-image.sh" "$base/img-pause" "$reg" pause:latest
if part pull; then
  big_bytes=$("$here/bench-image.sh" big "$base/img-big" "$LAYERS" "$LAYER_MIB" | tail -1)
  "$here/push-test-image.sh" "$base/img-big" "$reg" bench-big:latest
fi
rm -rf "$base"/img-*

# --- the same CNI network for both runtimes -----------------------------------
# NET=bridge (default): Debian's bridge + host-local on a private /16 (the
# density run holds 500+ pods), no gateway, no masquerade: pods get an eth0
# that reaches only the bridge (a
# loopback-only conflist is not enough: containerd refuses a sandbox whose
# CNI result has no eth0 address). NET=host: pods share the host network
# namespace and no CNI runs at all.
NET=${NET:-bridge}
host_net=()
mkdir -p "$base/cni"
if [[ $NET == host ]]; then
  host_net=(--host-network)
  cat >"$base/cni/10-loopback.conflist" <<'JSON'
{"cniVersion": "0.4.0", "name": "bench-lo", "plugins": [{"type": "loopback"}]}
JSON
else
  cat >"$base/cni/10-bench.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "bench", "plugins": [
  {"type": "bridge", "bridge": "$bridge", "isGateway": false, "ipMasq": false,
   "ipam": {"type": "host-local", "subnet": "10.$((200 + $$ % 50)).0.0/16", "dataDir": "$base/ipam"}}]}
JSON
fi
# One plugin dir for both (containerd 1.6 takes a single bin_dir): the first
# that holds the plugins the conflist names.
cni_bin=
for d in /opt/cni/bin /usr/lib/cni; do
  if [[ -x $d/loopback && -x $d/bridge && -x $d/host-local ]]; then cni_bin=$d; break; fi
done
[[ -n $cni_bin ]] || { echo "bench.sh: no CNI plugins (containernetworking-plugins)" >&2; exit 1; }

wait_socket() { # SOCKET PID NAME LOG
  for _ in $(seq 200); do
    [[ -S $1 ]] && return 0
    kill -0 "$2" 2>/dev/null || { echo "$3 exited:" >&2; tail -20 "$4" >&2; return 1; }
    sleep 0.1
  done
  echo "$3: no socket after 20 s" >&2; tail -20 "$4" >&2; return 1
}

# --- cradled ----------------------------------------------------------------
if runs cradled; then
log "starting cradled"
mkdir -p "$base/cr/r" "$base/cr/s"
printf 'shim_path = "%s"\noci_runtime_path = "%s"\n' "$lean/cradle-shim" "$lean/cradle-oci" >"$base/cr/config.toml"
setsid "$daemon/cradled" --config "$base/cr/config.toml" --socket "$base/cr/cri.sock" \
  --root "$base/cr/r" --state-dir "$base/cr/s" --cni-conf-dir "$base/cni" --cni-bin-dir "$cni_bin" \
  --insecure-registry "$reg" --log-level warn >"$base/cradled.log" 2>&1 </dev/null &
cradled_pid=$!
wait_socket "$base/cr/cri.sock" "$cradled_pid" cradled "$base/cradled.log"
fi

# --- containerd -------------------------------------------------------------
if runs containerd; then
log "starting containerd"
mkdir -p "$base/ctd/root" "$base/ctd/state" "$base/ctd/certs.d/$reg"
cat >"$base/ctd/certs.d/$reg/hosts.toml" <<TOML
server = "http://$reg"
[host."http://$reg"]
  capabilities = ["pull", "resolve"]
TOML
cat >"$base/ctd/config.toml" <<TOML
version = 2
root = "$base/ctd/root"
state = "$base/ctd/state"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$base/ctd/c.sock"
[ttrpc]
  address = "$base/ctd/c.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$reg/pause:latest"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # Root here lacks CAP_SYS_RESOURCE: never ask for a lower oom_score_adj.
  restrict_oom_score_adj = true
  # Pod netns pins under the state dir, so the cleanup's unmount of
  # everything under the base also catches any a failed sandbox left.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$cni_bin"
    conf_dir = "$base/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$base/ctd/certs.d"
TOML
setsid containerd --config "$base/ctd/config.toml" --log-level warn >"$base/containerd.log" 2>&1 </dev/null &
containerd_pid=$!
wait_socket "$base/ctd/c.sock" "$containerd_pid" containerd "$base/containerd.log"
fi

# --- the runs ---------------------------------------------------------------
reports=()
report() { # NAME CMD…: runs cradle-bench CMD, prints its table, keeps its JSON
  local name=$1; shift
  if "$bench" --json-out "$base/$name.json" "$@"; then
    reports+=("$base/$name.json")
    if [[ -n $json_dir ]]; then mkdir -p "$json_dir" && cp "$base/$name.json" "$json_dir/"; fi
  else
    echo "!! $name failed" >&2
  fi
}

declare -A sock=([cradled]="unix://$base/cr/cri.sock" [containerd]="unix://$base/ctd/c.sock")
declare -A pid=([cradled]=$cradled_pid [containerd]=$containerd_pid)
declare -A root=([cradled]="$base/cr/r" [containerd]="$base/ctd/root")
for rt in $RUNTIMES; do
  part cri || break
  log "cri $rt: $ITER pods one at a time"
  report "cri-$rt" cri --endpoint "${sock[$rt]}" --image "$reg/busybox:latest" --pull "${host_net[@]}" \
    --iterations "$ITER" --daemon-pid "${pid[$rt]}" --memory-pods 10
  log "cri $rt: $ITER pods, $CONC in parallel"
  report "cri-$rt-c$CONC" cri --endpoint "${sock[$rt]}" --image "$reg/busybox:latest" "${host_net[@]}" \
    --iterations "$ITER" --concurrency "$CONC" --daemon-pid "${pid[$rt]}" --memory-pods 0
done
for rt in $RUNTIMES; do
  part density || break
  log "density $rt: $DENSITY_LEVELS running pods, $DENSITY_CALLS calls per rpc, churn $CHURN/s"
  report "density-$rt" density --endpoint "${sock[$rt]}" --image "$reg/busybox:latest" "${host_net[@]}" \
    --levels "$DENSITY_LEVELS" --calls "$DENSITY_CALLS" --churn-per-sec "$CHURN" --daemon-pid "${pid[$rt]}"
done
for rt in $RUNTIMES; do
  part concurrency || break
  log "concurrency $rt: $CONC_LEVELS clients x $CONC_PODS pods"
  report "conc-$rt" concurrency --endpoint "${sock[$rt]}" --image "$reg/busybox:latest" "${host_net[@]}" \
    --levels "$CONC_LEVELS" --pods-per-client "$CONC_PODS"
done
# The pulls last: a 200 MiB pull may leave a daemon's heap larger, which
# would show in the density run's memory figures.
for rt in $RUNTIMES; do
  part pull || break
  log "pull $rt: $reg/bench-big:latest x $PULLS, cold"
  report "pull-$rt" pull --endpoint "${sock[$rt]}" --image "$reg/bench-big:latest" \
    --iterations "$PULLS" --bytes "$big_bytes" --root-dir "${root[$rt]}"
done
if part oci; then
  log "oci: cradle-oci, runc, crun x $OCI_ITER"
  launchers=(--runtime "$lean/cradle-oci")
  command -v runc >/dev/null && launchers+=(--runtime "$(command -v runc)")
  command -v crun >/dev/null && launchers+=(--runtime "$(command -v crun)")
  report oci oci "${launchers[@]}" --iterations "$OCI_ITER"
  # As RuntimeDefault pods run: cradled's default seccomp profile (x86_64, x86
  # and x32 here), compiled at create and installed in the init.
  log "oci, RuntimeDefault seccomp: cradle-oci, runc, crun x $OCI_ITER"
  report oci-seccomp oci --seccomp "${launchers[@]}" --iterations "$OCI_ITER"
  # crun refuses this hybrid host; hidden cgroup2 (private mount ns), all three again.
  log "oci, cgroup v1 only: cradle-oci, runc, crun x $OCI_ITER"
  report oci-v1 oci --legacy-cgroups "${launchers[@]}" --iterations "$OCI_ITER"
fi

log "side by side"
[[ ${#reports[@]} -gt 0 ]] && "$bench" compare "${reports[@]}"
