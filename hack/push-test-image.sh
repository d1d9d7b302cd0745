#!/usr/bin/env bash
# Pushes an OCI layout (from hack/build-test-image.sh) to a loopback registry.
#
#   hack/push-test-image.sh LAYOUT_DIR 127.0.0.1:PORT [NAME:TAG]   # default busybox:latest
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
  echo "usage: $0 LAYOUT_DIR HOST:PORT [NAME:TAG]" >&2
  exit 2
fi
layout=$1
registry=$2
name=${3:-busybox:latest}
case $registry in
127.0.0.1:* | localhost:* | "[::1]":*) ;;
*)
  echo "push-test-image.sh: only loopback registries, got $registry" >&2
  exit 2
  ;;
esac
# --insecure-policy: no signature policy for a local test push; plain HTTP.
skopeo --insecure-policy copy --quiet --dest-tls-verify=false \
  "oci:$layout:latest" "docker://$registry/$name"
