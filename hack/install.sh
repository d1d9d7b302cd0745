#!/usr/bin/env bash
# Installs Cradle on a node, or (--uninstall) removes what it installed:
#
#   <bin-dir>/cradled, cradlectl      from target/daemon (the daemon profile)
#   <bin-dir>/cradle-shim, cradle-oci from target/lean (hack/build-static.sh)
#   /opt/cni/bin/cradle-bridge        Cradle's CNI bridge plugin
#   /etc/cradle/config.toml           only when absent: `cradled --print-default-config`
#   /etc/cni/net.d/10-cradle.conflist only when /etc/cni/net.d holds no network config
#   /etc/crictl.yaml                  only when absent: crictl talks to Cradle
#   /etc/systemd/system/cradle.service  (hack/systemd/cradle.service) on systemd hosts
#
# and records each file (with its sha256) and each directory it created in
# /var/lib/cradle/install-manifest. --uninstall removes exactly those: a
# file changed since (an operator's edit) is kept and named, a directory is
# removed only when empty, a file install.sh found in place (an operator's
# config.toml, conflist or crictl.yaml) is never touched. Container and image
# state in /var/lib/cradle and /run/cradle stays unless --purge.
#
#   sudo hack/install.sh [--no-build] [--bin-dir DIR] [--no-systemd]
#   sudo hack/install.sh --uninstall [--purge]
#   hack/install.sh --destdir /tmp/pkgroot --no-build     # packagers, tests
#
#   --destdir DIR   install under DIR as if it were / (no root needed); systemctl
#                   is never run, and the unit is installed (a package ships it)
#                   unless --no-systemd
#   --bin-dir DIR   where the binaries go [/usr/local/bin]; the unit's ExecStart follows
#   --no-build      install what is built; without it: cargo build --profile daemon
#                   -p cradle-daemon -p cradle-cni and hack/build-static.sh
#   --from DIR      take all five binaries from DIR (e.g. target/debug); implies --no-build
#   --systemd       install the unit even where systemd does not run
#   --no-systemd    never install the unit (hack/quickstart.sh runs cradled itself)
#   --uninstall     stop and disable the unit (when systemd runs), remove what was installed
#   --purge         with --uninstall: remove /var/lib/cradle and /run/cradle too;
#                   refused while a cradled or cradle-shim from <bin-dir> runs or a
#                   mount lies below them (remove the pods first: crictl rmp -fa)
#
# On a systemd host (/run/systemd/system exists) and without --destdir, it
# then runs systemctl daemon-reload, enable and restart cradle (a restart
# leaves the containers running: KillMode=process).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

log() { echo "install.sh: $*" >&2; }
die() {
  log "$*"
  exit 1
}
usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
  exit "${1:-2}"
}

destdir="" bin_dir=/usr/local/bin build=1 from="" systemd=auto uninstall=0 purge=0
while [[ $# -gt 0 ]]; do
  opt=$1
  shift
  case $opt in
  --destdir=* | --bin-dir=* | --from=*)
    set -- "${opt%%=*}" "${opt#*=}" "$@"
    continue
    ;;
  --destdir | --bin-dir | --from)
    [[ $# -gt 0 && -n $1 ]] || die "$opt needs a value"
    case $opt in
    --destdir) destdir=$1 ;;
    --bin-dir) bin_dir=$1 ;;
    --from) from=$1 build=0 ;;
    esac
    shift
    ;;
  --no-build) build=0 ;;
  --systemd) systemd=yes ;;
  --no-systemd) systemd=no ;;
  --uninstall) uninstall=1 ;;
  --purge) purge=1 ;;
  -h | --help) usage 0 ;;
  *)
    log "unknown argument: $opt"
    usage
    ;;
  esac
done
[[ $purge -eq 0 || $uninstall -eq 1 ]] || die "--purge goes with --uninstall"
[[ $bin_dir == /* ]] || die "--bin-dir must be absolute: $bin_dir"
bin_dir=${bin_dir%/}
if [[ -n $destdir ]]; then
  mkdir -p "$destdir"
  destdir=$(cd "$destdir" && pwd)
  [[ $destdir != / ]] || destdir=""
fi
if [[ -z $destdir && $(id -u) -ne 0 ]]; then
  die "run as root (sudo $0), or install into a tree with --destdir DIR"
fi

# Where things go, as paths on the target (without the destdir).
readonly CNI_BIN_DIR=/opt/cni/bin
readonly CNI_CONF_DIR=/etc/cni/net.d
readonly CONFIG=/etc/cradle/config.toml
readonly CRICTL_CONFIG=/etc/crictl.yaml
readonly UNIT=/etc/systemd/system/cradle.service
readonly ROOT_DIR=/var/lib/cradle
readonly STATE_DIR=/run/cradle
readonly MANIFEST=$ROOT_DIR/install-manifest
readonly ENDPOINT=unix:///run/cradle/cradle.sock
readonly BINARIES=(cradled cradlectl cradle-shim cradle-oci)

# A target path as a path on this host.
host() { printf '%s%s' "$destdir" "$1"; }

# Whether to run systemctl: systemd runs here and this is the real root.
manage_systemd() { [[ -z $destdir && -d /run/systemd/system ]]; }

sha() { sha256sum "$1" | cut -d' ' -f1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- the manifest: "f <sha256> <path>" for a file, "d - <path>" for a
# directory install.sh created; paths on the target.
declare -A kind=() sum=()
order=()
record() {
  [[ -n ${kind[$3]+set} ]] || order+=("$3")
  kind[$3]=$1 sum[$3]=$2
}
load_manifest() {
  local k s p
  [[ -f $(host "$MANIFEST") ]] || return 0
  while read -r k s p; do
    [[ -n $k && $k != \#* ]] || continue
    [[ ($k == f || $k == d) && $p == /* ]] || die "$MANIFEST: malformed line: $k $s $p"
    record "$k" "$s" "$p"
  done <"$(host "$MANIFEST")"
}
write_manifest() {
  local p out
  out=$(host "$MANIFEST")
  {
    echo "# written by hack/install.sh; hack/install.sh --uninstall removes what it lists"
    for p in "${order[@]}"; do
      printf '%s %s %s\n' "${kind[$p]}" "${sum[$p]}" "$p"
    done
  } >"$out.tmp"
  mv -f "$out.tmp" "$out"
}

# mkdir -p, recording each directory it creates.
make_dir() {
  local path="" part parts
  IFS=/ read -ra parts <<<"${1#/}"
  for part in "${parts[@]}"; do
    [[ -n $part ]] || continue
    path+=/$part
    if [[ ! -d $(host "$path") ]]; then
      mkdir -m 0755 "$(host "$path")"
      record d - "$path"
    fi
  done
}

# Installs SRC as the target path DEST with MODE, and records it.
put() {
  local src=$1 dest=$2 mode=$3
  make_dir "$(dirname "$dest")"
  install -m "$mode" "$src" "$(host "$dest")"
  record f "$(sha "$(host "$dest")")" "$dest"
  log "installed $dest"
}

# Like put, but leaves a file already there alone: one install.sh did not
# write is the operator's, and one it wrote may have been edited since.
put_if_absent() {
  local dest=$2
  if [[ -e $(host "$dest") || -L $(host "$dest") ]]; then
    if [[ ${kind[$dest]-} == f ]]; then
      log "kept $dest (installed earlier)"
    else
      log "kept $dest: it was there already"
    fi
    return 0
  fi
  put "$@"
}

# Like put, for a file install.sh owns (the unit): replaced when unchanged
# since the last install, kept when edited or not written by install.sh.
put_owned() {
  local dest=$2
  if [[ -e $(host "$dest") ]]; then
    if [[ ${kind[$dest]-} != f ]]; then
      log "kept $dest: not installed by install.sh (remove it to get Cradle's)"
      return 0
    fi
    if [[ $(sha "$(host "$dest")") != "${sum[$dest]}" ]]; then
      log "kept $dest: changed since it was installed (use a drop-in: systemctl edit cradle)"
      return 0
    fi
  fi
  put "$@"
}

# Whether a CNI conf dir (on this host) holds a network configuration.
has_network_config() {
  compgen -G "$1/*.conf" >/dev/null || compgen -G "$1/*.conflist" >/dev/null ||
    compgen -G "$1/*.json" >/dev/null
}

# Checks a config.toml already on the node with the cradled about to be
# installed, before anything is installed: a restart must not meet a file
# the new daemon refuses. A cradled without --validate-config (clap's exit
# code 2 for an unknown flag) cannot check it.
validate_existing_config() {
  local cradled=$1 config=$2 out rc=0
  [[ -e $config ]] || return 0
  out=$("$cradled" --validate-config "$config" 2>&1) || rc=$?
  case $rc in
    0) log "checked the existing $CONFIG: ok" ;;
    2) log "$cradled has no --validate-config: the existing $CONFIG is not checked" ;;
    *) die "the existing $CONFIG is refused by the cradled being installed (nothing installed):
$out" ;;
  esac
}

default_config() {
  local cradled=$1 out=$2
  if "$cradled" --print-default-config >"$out" 2>/dev/null && [[ -s $out ]]; then
    return 0
  fi
  log "$cradled has no --print-default-config: writing a commented minimal config.toml"
  cat >"$out" <<'EOF'
# Cradle's configuration: cradled reads /etc/cradle/config.toml at start
# (flags override it). Every key is optional; the commented values are the
# built-in defaults. README.md, "Configuration", lists every key and table
# ([registry], [streaming], [runtime_handlers.<name>]).

# socket = "/run/cradle/cradle.sock"        # the kubelet's --container-runtime-endpoint
# root = "/var/lib/cradle"
# state_dir = "/run/cradle"
# cni_conf_dir = "/etc/cni/net.d"
# cni_bin_dirs = ["/opt/cni/bin", "/usr/lib/cni"]
# log_level = "info"
# log_format = "text"
# default_cgroup_parent = "/cradle"
# cgroup_driver = "cgroupfs"                # or "systemd": must match the kubelet's cgroupDriver
# default_runtime_handler = "cradle-oci"
EOF
}

crictl_config() {
  cat <<EOF
# crictl talks to Cradle (written by hack/install.sh)
runtime-endpoint: $ENDPOINT
image-endpoint: $ENDPOINT
timeout: 10
EOF
}

# The path (on this host) each binary is installed from.
declare -A source=()
find_sources() {
  local target=${CARGO_TARGET_DIR:-$repo/target} bin missing=()
  if [[ -n $from ]]; then
    for bin in "${BINARIES[@]}" cradle-bridge; do source[$bin]=$from/$bin; done
  else
    if [[ $build -eq 1 ]]; then
      (cd "$repo" && cargo build --profile daemon -p cradle-daemon -p cradle-cni && hack/build-static.sh)
    fi
    for bin in cradled cradlectl cradle-bridge; do source[$bin]=$target/daemon/$bin; done
    for bin in cradle-shim cradle-oci; do source[$bin]=$target/lean/$bin; done
  fi
  for bin in "${!source[@]}"; do
    [[ -x ${source[$bin]} ]] || missing+=("${source[$bin]}")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    die "not built: ${missing[*]} (drop --no-build, or pass --from DIR)"
  fi
}

do_install() {
  local bin unit_wanted=0
  if [[ $systemd == yes || ($systemd == auto && (-n $destdir || -d /run/systemd/system)) ]]; then
    unit_wanted=1
  fi
  find_sources
  validate_existing_config "${source[cradled]}" "$(host "$CONFIG")"
  load_manifest
  make_dir "$ROOT_DIR"
  for bin in "${BINARIES[@]}"; do
    put "${source[$bin]}" "$bin_dir/$bin" 0755
  done
  put "${source[cradle-bridge]}" "$CNI_BIN_DIR/cradle-bridge" 0755

  if [[ ! -e $(host "$CONFIG") ]]; then
    default_config "${source[cradled]}" "$tmp/config.toml"
  fi
  put_if_absent "$tmp/config.toml" "$CONFIG" 0644

  # An operator's own network configuration always wins; ours is only the default.
  if has_network_config "$(host "$CNI_CONF_DIR")"; then
    log "kept the network configuration in $CNI_CONF_DIR"
  else
    put "$repo/cni/conf/10-cradle.conflist" "$CNI_CONF_DIR/10-cradle.conflist" 0644
  fi

  crictl_config >"$tmp/crictl.yaml"
  put_if_absent "$tmp/crictl.yaml" "$CRICTL_CONFIG" 0644

  if [[ $unit_wanted -eq 1 ]]; then
    sed "s|^ExecStart=/usr/local/bin/cradled|ExecStart=$bin_dir/cradled|" \
      "$repo/hack/systemd/cradle.service" >"$tmp/cradle.service"
    put_owned "$tmp/cradle.service" "$UNIT" 0644
  fi
  write_manifest
  log "recorded what it installed in $MANIFEST"

  if [[ $unit_wanted -eq 1 ]] && manage_systemd; then
    systemctl daemon-reload
    systemctl enable cradle.service
    systemctl restart cradle.service
    log "cradle.service is running: systemctl status cradle; journalctl -u cradle"
  fi
}

# Refuses --purge while anything still uses the state directories.
check_purge() {
  local dir p exe mount bin
  for p in /proc/[0-9]*; do
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    for bin in cradled cradle-shim; do
      if [[ $exe == "$(host "$bin_dir/$bin")" ]]; then
        die "--purge refused: $bin runs (pid ${p#/proc/}); stop the pods and cradled first"
      fi
    done
  done
  for dir in "$ROOT_DIR" "$STATE_DIR"; do
    dir=$(host "$dir")
    while read -r mount; do
      mount=$(printf '%b' "$mount") # mountinfo escapes spaces as \040
      if [[ $mount == "$dir" || $mount == "$dir"/* ]]; then
        die "--purge refused: $mount is mounted (remove the pods first: crictl rmp -fa)"
      fi
    done < <(cut -d' ' -f5 /proc/self/mountinfo)
  done
}

do_uninstall() {
  local p slashes dirs=()
  [[ -f $(host "$MANIFEST") ]] || die "no $(host "$MANIFEST"): nothing install.sh installed is recorded there"
  load_manifest
  [[ $purge -eq 0 ]] || check_purge
  if manage_systemd && [[ -n ${kind[$UNIT]+set} ]]; then
    # Stops cradled only (KillMode=process): running containers stay.
    systemctl disable --now cradle.service || log "could not stop or disable cradle.service"
  fi
  for p in "${order[@]}"; do
    if [[ ${kind[$p]} == d ]]; then
      dirs+=("$p")
      continue
    fi
    if [[ ! -e $(host "$p") ]]; then
      continue
    elif [[ $(sha "$(host "$p")") == "${sum[$p]}" ]]; then
      rm -f "$(host "$p")"
      log "removed $p"
    else
      log "kept $p: changed since it was installed"
    fi
  done
  rm -f "$(host "$MANIFEST")"
  if [[ $purge -eq 1 ]]; then
    for p in "$ROOT_DIR" "$STATE_DIR"; do
      if [[ -e $(host "$p") ]]; then
        rm -rf --one-file-system "$(host "$p")"
        log "purged $p"
      fi
    done
  fi
  # The directories it created, deepest first, as far as they are empty.
  while read -r p; do
    [[ -n $p && -d $(host "$p") ]] || continue
    rmdir "$(host "$p")" 2>/dev/null || log "kept $p: not empty"
  done < <(for p in "${dirs[@]}"; do
    slashes=${p//[^\/]/}
    printf '%d %s\n' "${#slashes}" "$p"
  done | sort -rn | cut -d' ' -f2-)
  if manage_systemd && [[ -n ${kind[$UNIT]+set} ]]; then
    systemctl daemon-reload
  fi
  log "uninstalled"
}

if [[ $uninstall -eq 1 ]]; then
  do_uninstall
else
  do_install
fi
