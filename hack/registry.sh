#!/usr/bin/env bash
# A throw-away image registry on loopback for the end-to-end tests.
#
#   hack/registry.sh start DIR PORT   # serve on 127.0.0.1:PORT, storage in DIR
#   hack/registry.sh stop  DIR        # stop it (DIR is kept; remove it yourself)
#
# Debian's docker-registry (distribution), bound to 127.0.0.1 only, no auth,
# deletes enabled. DIR holds config.yml, registry.pid, registry.log, storage/.
# Push the test image with hack/push-test-image.sh.
set -euo pipefail

usage() {
  echo "usage: $0 start DIR PORT | stop DIR" >&2
  exit 2
}
[[ $# -ge 2 ]] || usage
cmd=$1
dir=$2
registry=${DOCKER_REGISTRY:-/usr/bin/docker-registry}

case $cmd in
start)
  [[ $# -eq 3 ]] || usage
  port=$3
  if [[ ! -x $registry ]]; then
    echo "registry.sh: $registry not found (hack/install-deps.sh)" >&2
    exit 1
  fi
  mkdir -p "$dir/storage"
  dir=$(cd "$dir" && pwd)
  if [[ -f $dir/registry.pid ]] && kill -0 "$(cat "$dir/registry.pid")" 2>/dev/null; then
    echo "registry.sh: already running in $dir (pid $(cat "$dir/registry.pid"))" >&2
    exit 1
  fi
  cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YAML
  # Own session: the registry outlives this script but not a kill of its pid.
  setsid "$registry" serve "$dir/config.yml" >"$dir/registry.log" 2>&1 </dev/null &
  echo $! >"$dir/registry.pid"
  for _ in $(seq 100); do
    if curl -sf -o /dev/null "http://127.0.0.1:$port/v2/"; then
      exit 0
    fi
    if ! kill -0 "$(cat "$dir/registry.pid")" 2>/dev/null; then
      echo "registry.sh: registry exited; its log:" >&2
      cat "$dir/registry.log" >&2
      rm -f "$dir/registry.pid"
      exit 1
    fi
    sleep 0.1
  done
  echo "registry.sh: registry did not answer on 127.0.0.1:$port within 10 s" >&2
  kill "$(cat "$dir/registry.pid")" 2>/dev/null || true
  rm -f "$dir/registry.pid"
  exit 1
  ;;
stop)
  pidfile=$dir/registry.pid
  [[ -f $pidfile ]] || exit 0
  pid=$(cat "$pidfile")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  ;;
*)
  usage
  ;;
esac
