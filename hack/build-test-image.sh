#!/usr/bin/env bash
# Builds the end-to-end tests' busybox image WITHOUT Docker, as an OCI image
# layout in OUT_DIR (oci-layout, index.json, blobs/sha256/…), tagged "latest".
#
#   hack/build-test-image.sh OUT_DIR
#   skopeo copy oci:OUT_DIR:latest docker://127.0.0.1:5000/busybox:latest
#
# One gzip layer holding /bin/busybox (static, from the host) with a hard link
# per applet (as the busybox image has: masking one applet must not mask the
# others), /etc/passwd and /etc/group (root, nobody) and the usual empty
# directories. The layer is deterministic (sorted, mtime 0, owner 0:0, gzip
# without name/time), so the same host busybox always gives the same digests.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
out=$1
busybox=${BUSYBOX:-/usr/bin/busybox}
if [[ ! -x $busybox ]]; then
  echo "build-test-image.sh: $busybox not found (apt-get install busybox-static)" >&2
  exit 1
fi
if ! "$busybox" --list >/dev/null 2>&1; then
  echo "build-test-image.sh: $busybox is not a busybox binary (no --list)" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 022

# --- the root filesystem ---------------------------------------------------
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,etc,dev,proc,sys,root,run,var,tmp,home}
chmod 1777 "$rootfs/tmp"
chmod 0700 "$rootfs/root"
install -m 0755 "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
  [[ $applet == busybox ]] && continue
  ln -f "$rootfs/bin/busybox" "$rootfs/bin/$applet"
done
cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
nobody:x:65534:
GROUP
touch -h -d @0 "$rootfs"/{bin/*,etc/*,*} "$rootfs"

# --- the layer ---------------------------------------------------------------
tar --owner=0 --group=0 --numeric-owner --sort=name --mtime=@0 --format=gnu \
  -C "$rootfs" -cf "$work/layer.tar" .
gzip -n -9 -c "$work/layer.tar" >"$work/layer.tar.gz"
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)

mkdir -p "$out/blobs/sha256"
# put FILE: moves it into the blob store, prints "<hex> <size>".
put() {
  local hex size
  hex=$(sha256sum "$1" | cut -d' ' -f1)
  size=$(stat -c %s "$1")
  mv "$1" "$out/blobs/sha256/$hex"
  echo "$hex $size"
}
read -r layer_hex layer_size < <(put "$work/layer.tar.gz")

# --- config, manifest, index ------------------------------------------------
python3 - "$work" "$diff_id" "$layer_hex" "$layer_size" <<'PY'
import json, sys
work, diff_id, layer_hex, layer_size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
config = {
    "created": "1970-01-01T00:00:00Z",
    "architecture": "amd64",
    "os": "linux",
    "config": {
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": ["sh"],
    },
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]},
    "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "hack/build-test-image.sh"}],
}
with open(f"{work}/config.json", "w") as f:
    json.dump(config, f, separators=(",", ":"), sort_keys=True)
PY
read -r config_hex config_size < <(put "$work/config.json")

python3 - "$work" "$config_hex" "$config_size" "$layer_hex" "$layer_size" <<'PY'
import json, sys
work, config_hex, config_size, layer_hex, layer_size = sys.argv[1:]
manifest = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "digest": "sha256:" + config_hex,
        "size": int(config_size),
    },
    "layers": [{
        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
        "digest": "sha256:" + layer_hex,
        "size": int(layer_size),
    }],
}
with open(f"{work}/manifest.json", "w") as f:
    json.dump(manifest, f, separators=(",", ":"), sort_keys=True)
PY
read -r manifest_hex manifest_size < <(put "$work/manifest.json")

python3 - "$out" "$manifest_hex" "$manifest_size" <<'PY'
import json, sys
out, manifest_hex, manifest_size = sys.argv[1:]
index = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:" + manifest_hex,
        "size": int(manifest_size),
        "platform": {"architecture": "amd64", "os": "linux"},
        "annotations": {"org.opencontainers.image.ref.name": "latest"},
    }],
}
with open(f"{out}/index.json", "w") as f:
    json.dump(index, f, indent=2, sort_keys=True)
with open(f"{out}/oci-layout", "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
PY
echo "sha256:$manifest_hex"
