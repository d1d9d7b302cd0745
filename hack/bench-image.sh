#!/usr/bin/env bash
# Builds the benchmark images as OCI layouts, without Docker, on top of
# hack/build-test-image.sh's busybox image:
#
#   hack/bench-image.sh big OUT_DIR [LAYERS [MIB_PER_LAYER]]   # default 8 x 26 MiB
#   hack/bench-image.sh pause OUT_DIR
#
# big:   busybox plus LAYERS gzip layers of incompressible random data (one
#        file each), >= 200 MiB compressed by default: the pull benchmark's
#        image (download, digest check and unpack all matter).
# pause: busybox whose command is `sleep 2147483647`: the sandbox image for
#        runtimes that need one (containerd's sandbox_image).
# Prints the total size in bytes of the blobs a pull downloads (manifest,
# config and layers) on its last line.
set -euo pipefail

usage() {
  echo "usage: $0 big OUT_DIR [LAYERS [MIB_PER_LAYER]] | pause OUT_DIR" >&2
  exit 2
}
[[ $# -ge 2 ]] || usage
kind=$1
out=$2
layers=${3:-8}
mib=${4:-26}
here=$(cd "$(dirname "$0")" && pwd)
case $kind in big | pause) ;; *) usage ;; esac

"$here/build-test-image.sh" "$out" >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ $kind == big ]]; then
  for i in $(seq "$layers"); do
    mkdir -p "$work/l$i/data"
    head -c "$((mib * 1024 * 1024))" /dev/urandom >"$work/l$i/data/random-$i.bin"
    tar --owner=0 --group=0 --numeric-owner --mtime=@0 --format=gnu \
      -C "$work/l$i" -cf "$work/layer$i.tar" data
    gzip -n -1 -c "$work/layer$i.tar" >"$work/layer$i.tar.gz"
    rm -rf "$work/l$i"
  done
fi

# Rewrites the config (extra diff_ids or the command), the manifest (extra
# layers) and the index, moving new blobs into the layout.
python3 - "$out" "$work" "$kind" "$layers" <<'PY'
import hashlib, json, os, sys
out, work, kind, layers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
blobs = os.path.join(out, "blobs", "sha256")

def blob_path(digest):
    return os.path.join(blobs, digest.split(":", 1)[1])

def put_bytes(data):
    hexd = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, hexd), "wb") as f:
        f.write(data)
    return "sha256:" + hexd, len(data)

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()

with open(os.path.join(out, "index.json")) as f:
    index = json.load(f)
old_manifest_digest = index["manifests"][0]["digest"]
with open(blob_path(old_manifest_digest)) as f:
    manifest = json.load(f)
old_config_digest = manifest["config"]["digest"]
with open(blob_path(old_config_digest)) as f:
    config = json.load(f)

if kind == "big":
    for i in range(1, layers + 1):
        tar = os.path.join(work, f"layer{i}.tar")
        gz = tar + ".gz"
        diff_id = "sha256:" + sha256_file(tar)
        hexd = sha256_file(gz)
        size = os.path.getsize(gz)
        os.replace(gz, os.path.join(blobs, hexd))
        os.remove(tar)
        config["rootfs"]["diff_ids"].append(diff_id)
        config["history"].append({"created": "1970-01-01T00:00:00Z", "created_by": f"hack/bench-image.sh random layer {i}"})
        manifest["layers"].append({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": "sha256:" + hexd, "size": size,
        })
else:
    config["config"]["Cmd"] = ["/bin/sleep", "2147483647"]

config_digest, config_size = put_bytes(json.dumps(config, separators=(",", ":"), sort_keys=True).encode())
manifest["config"]["digest"], manifest["config"]["size"] = config_digest, config_size
manifest_bytes = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
manifest_digest, manifest_size = put_bytes(manifest_bytes)
for old in (old_manifest_digest, old_config_digest):
    if old not in (manifest_digest, config_digest):
        os.remove(blob_path(old))
index["manifests"][0]["digest"], index["manifests"][0]["size"] = manifest_digest, manifest_size
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump(index, f, indent=2, sort_keys=True)
total = manifest_size + config_size + sum(l["size"] for l in manifest["layers"])
print(total)
PY
